"""The plan of ``oversight judge RUN --judge web``: a re-judging run of the games the balancing rule assigns
(:mod:`oversight.web.assignment`), each judged on the web page by the judge it is assigned to.

``--judges N`` is the number of judges' places (N invite links; also the most people who may sign in by name);
``--per-judge K`` the most games each judge gets (default: as many as the rule can give). The run plans the N × K
games (or fewer, when the stored run has fewer that fit the rule), each judged once, and records each with who
judged it and how long it took (``meta.web_judging``). Which games, and who gets them, is fixed by the stored run
and its seed, so the same command resumes the same session.

A game whose protocol takes questions (:attr:`~oversight.protocol.Protocol.takes_questions`) lets its judge
question the stored game's players: each question is answered by the players' models as the stored record names
them, through the run's pool, and the record keeps the question, the answers and their calls.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from oversight.errors import UserError
from oversight.fingerprint import digest, fingerprint
from oversight.judges.base import JudgeView
from oversight.judges.web import Answerer, WebJudge
from oversight.protocol import GameContext, GameOutcome, GameSetup
from oversight.records import GameRecord
from oversight.rejudge import Rejudge, plan_rejudge
from oversight.runfolder import RunFolder
from oversight.runner import RunPlan, make_protocol
from oversight.tasks import TaskItem
from oversight.web.assignment import Candidate, assign
from oversight.web.sessions import JudgePanel

#: every game of a session waits for its verdict at once, and the run plays at most twice its connection limit
#: (4,096) at once
MAX_GAMES = 8192


class WebRejudge(Rejudge):
    """Stored games judged on the web page: each game's judge is the person it is assigned to."""

    def __init__(self, stored: Rejudge, records: list[GameRecord], judge: WebJudge) -> None:
        super().__init__(records, stored.passages, stored.settings, stored.template_dir)
        self.web_judge = judge

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        """Judge the stored game as :class:`Rejudge` does, by its web judge, and record who judged it and how."""
        record: GameRecord = game.context["record"]
        game_id = record.game_id
        judge = self.web_judge.for_game(game_id, self._answerer(record, game.item, ctx))
        ctx.judge = judge
        try:
            outcome = await super().play(game, ctx)
        except Exception:
            self.web_judge.desk.ended.add(game_id)  # failed before its verdict: nobody waits for it any more
            raise
        if judge.judgement is not None:
            outcome.meta = {**outcome.meta, "web_judging": judge.judgement.meta()}
        return outcome

    def _answerer(self, record: GameRecord, item: TaskItem, ctx: GameContext) -> Answerer | None:
        """How the stored game's players answer its judge's questions; None when its protocol takes none, or when
        the passage they argue from (and their quotes are checked against) is not available."""
        original = make_protocol(record.protocol, self.settings)
        stored = original.rejudge_view(record, item) if original.takes_questions and item.passage else None
        if stored is None:
            return None
        # the stored game's models, over this run's pool and cache; their calls are this game's
        players = ctx.for_roles(record.roles, original.template_dir or original.name)

        async def answer(question: str) -> JudgeView:
            before = [*stored.turns, *ctx.turns]
            asked = await original.answer_question(record, item, before, question, players)
            # kept only once every player has answered: the record holds what the judge was shown
            ctx.turns.extend(asked)
            shown = original.rejudge_view(record.model_copy(update={"turns": [*before, *asked]}), item)
            assert shown is not None  # it rebuilt the stored game's view above
            return shown.view

        return answer


@dataclass
class WebJudgingPlan:
    """A web judging session, planned: the run, its judges' places and where it writes."""

    run: RunPlan
    judge: WebJudge
    panel: JudgePanel
    out: Path


def layout(record: GameRecord) -> Hashable:
    """Which seats defend the correct answer, and where the correct answer is shown."""
    seats = tuple(sorted((seat, choice == record.answer) for seat, choice in record.seating.items()))
    return seats, record.answer


def plan_web_judging(run_dir: Path, judges: int, per_judge: int | None, out: Path | None) -> WebJudgingPlan:
    """The session that has ``judges`` people judge up to ``per_judge`` stored games of ``run_dir`` each."""
    run = plan_rejudge(run_dir, ["web"])
    judge = run.matchups[0].judge
    if not isinstance(judge, WebJudge):
        raise UserError("--judge web: the web judge is overridden by a plug-in of that name")
    stored = {r.game_id: r for m in run.matchups for r in m.protocol.records}  # type: ignore[attr-defined]
    candidates = [Candidate(r.game_id, r.protocol, (r.task, r.item_id), layout(r)) for r in stored.values()]
    assignments = assign(candidates, judges, per_judge, run.seed)
    chosen = {game for games in assignments for game in games}
    if len(chosen) > MAX_GAMES:
        raise UserError(f"--judges × --per-judge: at most {MAX_GAMES} games in one session, not {len(chosen)}")
    matchups = []
    for matchup in run.matchups:
        records = [r for r in matchup.protocol.records if r.game_id in chosen]  # type: ignore[attr-defined]
        if records:
            matchup.protocol = WebRejudge(matchup.protocol, records, judge)  # type: ignore[arg-type]
            matchups.append(matchup)
    run.matchups = matchups
    run.fingerprint_parts = {
        **run.fingerprint_parts,
        "web judging": digest({"judges": judges, "per judge": per_judge, "games": assignments}),
    }
    run.default_out = run.default_out.with_name(f"{run_dir.name}-judged-{fingerprint(run.fingerprint_parts)[:8]}")
    run.config = {**run.config, "judges": judges, "per_judge": per_judge}
    folder = out or run.default_out
    panel = JudgePanel.for_games(assignments, JudgePanel.read(folder))
    log = RunFolder(folder)
    if log.transcripts_path.exists():
        # judged by an earlier attempt: the pages count them as done
        judge.desk.judged.update(
            r.meta["source_game"] for r in log.iter_records() if r.status == "complete" and "source_game" in r.meta
        )
    return WebJudgingPlan(run=run, judge=judge, panel=panel, out=folder)
