"""``oversight judge``: stored games judged again by another judge, without a single debater call.

Each complete game of a judged protocol is shown to the new judge exactly as its protocol shows it (the view its
:meth:`~oversight.protocol.Protocol.rejudge_view` rebuilds from the stored turns) and recorded in a new run folder
that names its source. The new run is resumable like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from oversight.errors import UserError
from oversight.fingerprint import common_parts, digest, fingerprint, judge_part, template_parts
from oversight.judges import load_judge
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, GameOutcome, GameSetup, Protocol, ProtocolOptions
from oversight.records import GameRecord, Turn
from oversight.runfolder import RunFolder
from oversight.runner import Matchup, RunPlan, make_protocol, own_prompts
from oversight.tasks import TaskItem, TaskSet, load_task


class Rejudge(Protocol):
    """Stored games of protocols that share one prompt folder, each shown to the new judge as its own protocol
    shows it."""

    name: ClassVar[str] = "rejudge"
    roles: ClassVar[tuple[str, ...]] = ("judge",)
    templates: ClassVar[tuple[str, ...]] = ("judge",)
    uses_judge: ClassVar[bool] = True
    description: ClassVar[str] = "stored games judged again"

    def __init__(
        self, records: list[GameRecord], passages: dict[str, str], settings: dict[str, Any], template_dir: str
    ) -> None:
        super().__init__(ProtocolOptions())
        self.records = records
        self.passages = passages
        self.settings = settings
        # the judge template is the stored games' own protocol's
        self.template_dir = template_dir  # type: ignore[misc]

    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = (), seed: int = 0
    ) -> Iterable[GameSetup]:
        """A game per stored record, named by the stored game's id so each is judged again once."""
        for record in self.records:
            item = TaskItem(
                id=record.item_id,
                question=record.question,
                choices=record.choices,
                answer=record.answer if record.answer is not None else 0,
                passage=self.passages.get(record.item_id),
                meta=record.item_meta,
            )
            yield GameSetup(
                protocol=record.protocol, task=record.task, item=item, seating=record.seating,
                sample=record.sample, order=tuple(record.choice_order), matchup=record.game_id,
                context={"record": record},
            )

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        """Show the stored game to the new judge as its protocol shows it, and record the new verdict."""
        record: GameRecord = game.context["record"]
        original = make_protocol(record.protocol, self.settings)
        if original.rejudge_needs_passage and game.item.passage is None:
            raise RuntimeError(f"the passage of item {record.item_id!r} is not available to show the judge")
        stored = original.rejudge_view(record, game.item)
        if ctx.judge is None or stored is None:
            raise RuntimeError(f"{record.protocol} games cannot be judged again")
        verdict = await ctx.judge.decide(stored.view, ctx)
        judge_name = ctx.judge.describe()
        return GameOutcome(
            # the turns the judging added, if any (a web judge's questions and their answers), come before its verdict
            turns=[*stored.turns, *ctx.turns, Turn(role="judge", content=verdict.raw, meta={"kind": "verdict"})],
            verdict=verdict,
            seating=record.seating,
            roles={**record.roles, "judge": judge_name},
            players={**record.players, "judge": judge_name} if record.players else {},
            meta={**record.meta, "source_game": record.game_id},
        )


def _source_task(config: dict[str, Any], played: str) -> TaskSet | None:
    # a run of its protocol's default task names none in its config: its games name the built-in task they played
    try:
        return load_task(str(config.get("task") or played), seed=int(config.get("seed", 0)))
    except (UserError, ValueError):
        return None  # passages are then unavailable; only games whose judge reads the passage need them


def _template_dirs(names: set[str]) -> dict[str, str]:
    """Protocol name → its prompt folder, for the installed protocols among ``names`` whose games have a judge."""
    folders: dict[str, str] = {}
    for name in names:
        try:
            protocol: type[Protocol] = PROTOCOLS.get(name)
        except UserError:
            continue  # games of a protocol no longer installed cannot be shown as it showed them
        if protocol.uses_judge:
            folders[name] = protocol.template_dir or protocol.name
    return folders


def plan_rejudge(run_dir: Path, judges: list[str]) -> RunPlan:
    """The plan that shows every complete judged game of ``run_dir`` to the judge ``judges`` make up."""
    if not judges:
        raise UserError("oversight judge: give --judge SPEC (a model spec, human, or a plug-in)")
    source = RunFolder.open_existing(run_dir)
    manifest = source.read_manifest()
    complete = [r for r in source.records() if r.status == "complete"]
    folders = _template_dirs({r.protocol for r in complete})
    by_folder: dict[str, list[GameRecord]] = {}
    for record in complete:
        if record.protocol in folders:
            by_folder.setdefault(folders[record.protocol], []).append(record)
    if not by_folder:
        raise UserError(f"{run_dir}: no complete games with a judge to judge again")
    spec = " + ".join(judges)
    judge = load_judge(spec)
    settings = dict(manifest.config.get("options") or manifest.config.get("settings") or {})
    task = _source_task(manifest.config, complete[0].task)
    passages = {item.id: item.passage for item in task.items if item.passage} if task else {}
    prompts = PromptLibrary(protocol_dirs=own_prompts(PROTOCOLS.get(name) for name in folders))
    matchups = [
        Matchup(protocol=Rejudge(records, passages, settings, folder), roles={"judge": spec}, judge=judge,
                prompts=prompts, players={"judge": judge.describe()})
        for folder, records in sorted(by_folder.items())
    ]
    for matchup in matchups:
        matchup.validate()
    task_set = task or TaskSet(name=str(manifest.config.get("task", "stored")), items=[])
    parts = {
        "source run": digest({"run": manifest.run_id, "config_hash": manifest.config_hash}),
        "judge": judge_part(spec),
        **common_parts(task_set, manifest.seed),
        **template_parts(prompts, sorted(by_folder)),
    }
    return RunPlan(
        matchups=matchups,
        task=task_set,
        items=[],
        fingerprint_parts=parts,
        default_out=run_dir.parent / f"{run_dir.name}-judged-{fingerprint(parts)[:8]}",
        config={"source_run": str(run_dir), "judge": spec},
        seed=manifest.seed,
    )
