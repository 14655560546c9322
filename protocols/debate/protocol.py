"""The debate family: one game loop, configured by a small rules object per protocol.

Speakers (debaters or a consultant) see the hidden passage and argue for an answer, quoting the passage; the
judge sees only what the rules allow — the question, the choices and the arguments with every quote marked
verified or unverified — and decides. Turns are kept by truth side (``meta.side``: correct / incorrect) and
shown by seat (A, B, …), so swapping seats is a change of view, not another code path.

=================== ================================================================================
``debate``          two or more debaters assigned different answers; every item in every seating
``interactive-debate`` the same, and the judge may ask a question between rounds
``open-debate``     the first debater picks the answer it defends; the other takes the alternative
``consultancy``     one consultant, assigned the correct answer in half the games
``open-consultancy`` one consultant that picks the answer it defends
``blind``           the judge answers from the question alone
``expert``          the judge reads the passage itself
=================== ================================================================================
"""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from oversight.protocols.debate.metrics import DebateMetrics, debate_metrics
from pydantic import Field

from oversight.draws import balanced, draw, permutation
from oversight.errors import UserError
from oversight.judges import JudgeTurn, JudgeView
from oversight.judges.llm import VERDICT_SETTINGS
from oversight.models.base import GenerationSettings, Usage
from oversight.plots import PlotSpec
from oversight.protocol import GameContext, GameOutcome, GameSetup, PlayStyle, Protocol, ProtocolOptions, RejudgeView
from oversight.quotes import QuoteSettings, mark_quotes, numbered_passage
from oversight.records import GameRecord, Turn
from oversight.tasks.items import TaskItem
from oversight.verdicts import choice_labels, parse_verdict

CHOOSE_SETTINGS = GenerationSettings(max_tokens=24, temperature=0.0)
#: kinds of turns that belong to the game rather than to its judge's verdict: what a new judge is shown again
KEPT_TURNS = ("argument", "question", "choice")


class DebateOptions(ProtocolOptions):
    turns: Literal["sequential", "simultaneous"] = "sequential"
    #: debaters in ``debate`` and ``interactive-debate`` (each item needs at least as many choices)
    debaters: int = Field(default=2, ge=2, le=6)
    quote_mode: Literal["exact", "normalised", "fuzzy"] = "normalised"
    quote_threshold: float = Field(default=90.0, ge=0, le=100)
    #: characters of verified quotes each speaker may reveal over a game
    quote_budget: int | None = Field(default=None, ge=0)
    #: the same cap as a share of the passage (the smaller of the two applies): with two debaters at a quarter
    #: each, the judge sees at most half the passage, so debate cannot turn into the expert baseline
    quote_share: float | None = Field(default=0.25, ge=0, le=1)
    #: a shorter quote is verified only when it is a whole sentence of the passage
    quote_min_words: int = Field(default=4, ge=1)
    #: let speakers quote by word offsets, ``<<start-end>>``
    quote_spans: bool = False
    #: characters kept of each turn; the rest is cut before the judge sees it
    char_limit: int | None = Field(default=1200, ge=20)

    @property
    def quotes(self) -> QuoteSettings:
        """The ``quote_*`` options gathered into the settings that speakers' quotes are checked against."""
        return QuoteSettings(
            mode=self.quote_mode, fuzzy_threshold=self.quote_threshold, budget=self.quote_budget,
            share=self.quote_share, min_words=self.quote_min_words, spans=self.quote_spans,
        )


@dataclass(frozen=True)
class Rules:
    #: "debater", "consultant" or None (no one argues)
    speaker: Literal["debater", "consultant"] | None
    #: speakers pick the answer they defend
    open: bool = False
    #: the judge may ask a question between rounds
    interactive: bool = False
    judge_sees_passage: bool = False


class DebateFamily(Protocol):
    rules: ClassVar[Rules]
    options_model: ClassVar[type[ProtocolOptions]] = DebateOptions
    needs_choices: ClassVar[bool] = True
    uses_judge: ClassVar[bool] = True
    template_dir: ClassVar[str | None] = "debate"
    templates: ClassVar[tuple[str, ...]] = ("judge",)
    headline: ClassVar[str] = "judge accuracy"
    metrics_model: ClassVar[type[DebateMetrics]] = DebateMetrics
    options: DebateOptions

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a stored game's new judge may question the debaters exactly when the game's own judge could
        cls.takes_questions = cls.rules.interactive if hasattr(cls, "rules") else False

    def __init__(self, options: ProtocolOptions) -> None:
        super().__init__(options)
        self.seats = self._seats()
        speaker_roles = tuple(self.seat_role(seat) for seat in self.seats)
        self.roles = (*speaker_roles, "judge")  # type: ignore[misc]

    # who sits where -------------------------------------------------------------------------------------------

    def _seats(self) -> tuple[str, ...]:
        if self.rules.speaker is None:
            return ()
        if self.rules.speaker == "consultant":
            return ("consultant",)
        return tuple(string.ascii_uppercase[: self.options.debaters])

    def _speaker_name(self, seat: str) -> str:
        return "Consultant" if seat == "consultant" else f"Debater {seat}"

    def _defended(self, item: TaskItem) -> list[int]:
        """The answers in play: the correct one, then distractors in the order shown."""
        distractors = [i for i in range(len(item.choices)) if i != item.answer]
        wanted = max(len(self.seats), 2)
        if len(item.choices) < wanted:
            raise UserError(f"item {item.id!r} has {len(item.choices)} choices; {self.name} needs {wanted}")
        return [item.answer, *distractors[: wanted - 1]]

    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = (), seed: int = 0
    ) -> Iterable[GameSetup]:
        one = not self.options.both_seatings
        for index, original in enumerate(items):
            order = _shown_order(original, index, seed)
            item = _reordered(original, order)
            defended = self._defended(item)
            plain = {"protocol": self.name, "task": task, "item": item, "order": tuple(order)}
            if not self.seats or (self.rules.open and self.rules.speaker == "consultant"):
                # one game: the correct answer's position is balanced over the run's items
                yield GameSetup(**plain)
            elif self.rules.open:
                # the debater who chooses sits in each seat once, or in one seat balanced over the run
                n = len(self.seats)
                for sample in [balanced(index, n, seed, "chooser")] if one else range(n):
                    yield GameSetup(**plain, sample=sample)
            elif self.rules.speaker == "consultant":
                # the consultant argues the correct answer in exactly half the games
                for side in [balanced(index, 2, seed, "consultant")] if one else range(2):
                    yield self._seated(plain, original, order, defended, side, one, lambda d: {"consultant": d[0]})
            else:
                n = len(self.seats)
                for shift in [balanced(index, n, seed, "seating")] if one else range(n):
                    yield self._seated(
                        plain, original, order, defended, shift, one,
                        lambda d: {seat: d[i] for i, seat in enumerate(self.seats)},
                    )

    def _seated(
        self,
        plain: dict[str, Any],
        original: TaskItem,
        order: list[int],
        defended: list[int],
        shift: int,
        one: bool,
        seating: Callable[[list[int]], dict[str, int]],
    ) -> GameSetup:
        """The game in which the defended answers are rotated by ``shift`` over the seats.

        Played in every seating, each rotation also rotates where the defended answers are shown, so the first
        seat always defends the answer shown in the same place: across an item's games every answer is shown in
        every defended position, and a judge that favours a position or a seat is even over the item (the
        order-averaged accuracy in the metrics reads it so)."""
        rotated = defended[shift:] + defended[:shift]
        if one or shift == 0:
            return GameSetup(**plain, seating=seating(rotated))
        # the task's indices of the defended answers, moved into the positions the first rotation showed them in
        shown = list(order)
        for position, answer in zip(defended, rotated, strict=True):
            shown[position] = order[answer]
        item = _reordered(original, shown)
        return GameSetup(**{**plain, "item": item, "order": tuple(shown)}, seating=seating(defended))

    # playing --------------------------------------------------------------------------------------------------

    def _common(self, item: TaskItem) -> dict[str, Any]:
        return {
            "protocol": self.name,
            "question": item.question,
            "choices": item.choices,
            "labels": choice_labels(len(item.choices)),
            "rounds": self.options.rounds,
        }

    def _transcript(self, turns: list[Turn]) -> list[dict[str, Any]]:
        return [
            {"speaker": t.meta.get("speaker", t.role), "seat": t.seat, "round": t.round, "defends": t.meta.get("defends"),
             "kind": t.meta.get("kind", "argument"), "content": t.meta.get("shown", t.content)}
            for t in turns
            if t.meta.get("kind") in ("argument", "question")
        ]

    def _for_speakers(self, item: TaskItem) -> dict[str, Any]:
        """What every speaker's prompt of a game shares, the choosing one's included: the passage and the rules, in
        the same words for each, so their prompts start with one prefix a server computes once."""
        passage = item.passage or ""
        return {
            **self._common(item),
            "passage": numbered_passage(passage) if self.options.quote_spans else passage,
            "spans": self.options.quote_spans,
            "quote_allowance": self.options.quotes.allowance(passage),
            "quote_min_words": self.options.quote_min_words,
            "char_limit": self.options.char_limit,
        }

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        if ctx.judge is None:
            raise RuntimeError(f"{self.name} needs a judge")
        item = game.item
        turns = ctx.turns
        seating = dict(game.seating)
        if self.rules.open:
            seating = await self._choose(game, ctx, turns)
        for round_number in range(1, self.options.rounds + 1 if self.seats else 1):
            await self._round(item, ctx, seating, round_number, turns)
            if self.rules.interactive and round_number < self.options.rounds:
                question = await ctx.judge.ask(self.judge_view(item, turns, round_number), ctx)
                if question:
                    turns.append(
                        Turn(role="judge", content=question, round=round_number, meta={"kind": "question", "speaker": "Judge"})
                    )
        verdict = await ctx.judge.decide(self.judge_view(item, turns, self.options.rounds), ctx)
        turns.append(Turn(role="judge", content=verdict.raw, meta={"kind": "verdict"}))
        return GameOutcome(turns=turns, verdict=verdict, seating=seating, meta={"quote_stats": _quote_stats(turns)})

    async def _round(
        self, item: TaskItem, ctx: GameContext, seating: dict[str, int], round_number: int, turns: list[Turn],
        rounds: int | None = None,
    ) -> None:
        """Every speaker's argument of one round, appended to ``turns`` as each is made (so a failed game keeps
        them): in turn, each seeing the ones before it, or all at once, seeing only the earlier rounds."""
        if self.options.turns == "sequential":
            for seat in self.seats:
                turns.append(await self._argue(item, ctx, seating, seat, round_number, turns, rounds))
        else:
            seen = list(turns)
            turns.extend(
                await asyncio.gather(
                    *(self._argue(item, ctx, seating, seat, round_number, seen, rounds) for seat in self.seats)
                )
            )

    async def _argue(
        self, item: TaskItem, ctx: GameContext, seating: dict[str, int], seat: str, round_number: int,
        seen: list[Turn], rounds: int | None = None,
    ) -> Turn:
        labels = choice_labels(len(item.choices))
        defended = seating[seat]
        role = self.seat_role(seat)
        style = ctx.styles.get(role, PlayStyle())
        variables = {
            **self._for_speakers(item),
            "seat": seat,
            "speaker": self._speaker_name(seat),
            "assigned": labels[defended],
            "assigned_text": item.choices[defended],
            "round": round_number,
            # a round played after the game's last one (a new judge's question) is the last so far
            "rounds": rounds or self.options.rounds,
            "simultaneous": self.options.turns == "simultaneous",
            "transcript": self._transcript(seen),
        }
        settings = GenerationSettings(max_tokens=self.options.max_tokens, temperature=self.options.temperature)
        meta: dict[str, Any] = {}
        if style.best_of > 1:
            content, usage = await self._best_of(item, ctx, role, style, variables, settings, seen, seat, defended, meta)
        else:
            completion = await ctx.generate(role, variables, template=self.rules.speaker, settings=settings)
            content, usage = completion.text.strip(), completion.usage
            if completion.finish_reason == "length":
                meta["cut"] = True
        if style.critique_refine:
            content, extra = await self._critique_refine(ctx, role, style, variables, content, meta)
            usage = usage + extra
        return self._turn(item, seat, round_number, defended, content, usage, meta, seen)

    def _turn(
        self, item: TaskItem, seat: str, round_number: int, defended: int, content: str, usage: Usage,
        meta: dict[str, Any], seen: list[Turn],
    ) -> Turn:
        limit = self.options.char_limit
        if limit is not None and len(content) > limit:
            content = content[:limit]
            meta = {**meta, "cut": True}
        if meta.get("cut"):
            content = _cut(content)
        # the quote budget is per speaker and game: what this speaker's earlier turns revealed is spent
        spent = sum(
            len(q["shown"]) for t in seen if t.role == self.seat_role(seat) and t.meta.get("kind") == "argument"
            for q in t.meta["quotes"] if q["verified"]
        )
        shown, checks, _ = mark_quotes(content, item.passage or "", self.options.quotes, spent)
        return Turn(
            role=self.seat_role(seat),
            seat=None if seat == "consultant" else seat,
            round=round_number,
            content=content,
            usage=usage,
            meta={
                "kind": "argument",
                "speaker": self._speaker_name(seat),
                "side": "correct" if defended == item.answer else "incorrect",
                "defends": defended,
                "shown": shown,
                "quotes": [check.model_dump() for check in checks],
                **meta,
            },
        )

    async def _best_of(
        self, item: TaskItem, ctx: GameContext, role: str, style: PlayStyle, variables: dict[str, Any],
        settings: GenerationSettings, seen: list[Turn], seat: str, defended: int, meta: dict[str, Any],
    ) -> tuple[str, Usage]:
        """Sample candidates and keep the one a judge model thinks most likely to win for our answer."""
        sampling = settings.model_copy(update={"temperature": style.temperature})
        drafts = await asyncio.gather(
            *(ctx.generate(role, variables, template=self.rules.speaker, settings=sampling, sample=i)
              for i in range(style.best_of))
        )
        usage = sum((d.usage for d in drafts), Usage())
        scores: list[float] = []
        for draft in drafts:
            candidate = self._turn(item, seat, variables["round"], defended, draft.text.strip(), draft.usage, {}, seen)
            view = self.judge_view(item, [*seen, candidate], variables["round"])
            judged = await ctx.generate(
                role, {**view.model_dump(), "retry": False}, template="judge", settings=VERDICT_SETTINGS,
                spec=style.scorer,
            )
            usage = usage + judged.usage
            verdict = parse_verdict(judged, item.choices)
            scores.append(verdict.probabilities[defended] if verdict.probabilities else float(verdict.choice == defended))
        best = max(range(len(drafts)), key=lambda i: (scores[i], -i))
        meta["candidates"] = [{"text": d.text.strip(), "score": score} for d, score in zip(drafts, scores, strict=True)]
        meta["chosen_candidate"] = best
        return drafts[best].text.strip(), usage

    async def _critique_refine(
        self, ctx: GameContext, role: str, style: PlayStyle, variables: dict[str, Any], draft: str,
        meta: dict[str, Any],
    ) -> tuple[str, Usage]:
        settings = GenerationSettings(max_tokens=self.options.max_tokens, temperature=self.options.temperature)
        critique = await ctx.generate(role, {**variables, "draft": draft}, template="critic", settings=settings,
                                      spec=style.critic)
        revised = await ctx.generate(
            role, {**variables, "draft": draft, "critique": critique.text.strip()}, template="refine", settings=settings
        )
        meta["draft"], meta["critique"] = draft, critique.text.strip()
        return revised.text.strip(), critique.usage + revised.usage

    async def _choose(self, game: GameSetup, ctx: GameContext, turns: list[Turn]) -> dict[str, int]:
        """Open protocols: the chooser picks its answer; in open debate the others take the remaining ones."""
        item = game.item
        chooser = self.seats[game.sample % len(self.seats)]
        completion = await ctx.generate(
            self.seat_role(chooser),
            {**self._for_speakers(item), "speaker": self._speaker_name(chooser)},
            template="chooser",
            settings=CHOOSE_SETTINGS,
        )
        picked = parse_verdict(completion, item.choices).choice
        # an unreadable pick is replaced by a drawn one, and the record says so (chose is null, drawn is set)
        first = picked if picked is not None else draw(range(len(item.choices)), "unreadable pick", game.game_id)
        turns.append(
            Turn(
                role=self.seat_role(chooser),
                seat=None if chooser == "consultant" else chooser,
                content=completion.text.strip(),
                usage=completion.usage,
                meta={"kind": "choice", "chose": picked, "chose_correct": picked == item.answer,
                      **({"drawn": first} if picked is None else {})},
            )
        )
        others = [c for c in self._defended(item) if c != first]
        seating = {chooser: first}
        for seat in self.seats:
            if seat != chooser:
                seating[seat] = others.pop(0)
        return seating

    def judge_view(self, item: TaskItem, turns: list[Turn], round_number: int) -> JudgeView:
        """Exactly what the judge may see of a game so far."""
        shown = [
            JudgeTurn(
                speaker=t.meta.get("speaker", "Judge"),
                seat=t.seat,
                round=t.round,
                kind="question" if t.meta.get("kind") == "question" else "argument",
                defends=t.meta.get("defends"),
                content=t.meta.get("shown", t.content),
            )
            for t in turns
            if t.meta.get("kind") in ("argument", "question")
        ]
        return JudgeView(
            protocol=self.name,
            question=item.question,
            choices=item.choices,
            labels=choice_labels(len(item.choices)),
            turns=shown,
            passage=item.passage if self.rules.judge_sees_passage else None,
            round=round_number,
            rounds=self.options.rounds if self.seats else 0,
        )

    def metrics(self, records: Iterable[GameRecord]) -> DebateMetrics:
        """Calibration, win rates by seat and by truth side, quote verification (see :class:`DebateMetrics`)."""
        return debate_metrics(records)

    @classmethod
    def plots(cls, metrics: Mapping[str, Any]) -> list[PlotSpec]:
        """Win rate by seat and by truth side (see :mod:`.plots`)."""
        from oversight.protocols.debate.plots import debate_plots  # scipy's intervals only when a report is drawn

        return debate_plots(metrics, cls.seat_name)

    @classmethod
    def seat_role(cls, seat: str) -> str:
        """``consultant`` for the consultant's seat, ``debater_<seat>`` for a debater's."""
        return "consultant" if seat == "consultant" else f"debater_{seat.lower()}"

    @classmethod
    def seat_name(cls, seat: str) -> str:
        """``Consultant``, or ``Debater 1``, ``Debater 2``, … for seats A, B, …: numbered, since the answers are
        lettered."""
        if seat == "consultant":
            return "Consultant"
        if len(seat) == 1 and seat in string.ascii_uppercase:
            return f"Debater {string.ascii_uppercase.index(seat) + 1}"
        return super().seat_name(seat)

    def rejudge_view(self, record: GameRecord, item: TaskItem) -> RejudgeView:
        """The judge's view of the finished game, rebuilt from its arguments, questions and picks."""
        kept = [t for t in record.turns if t.meta.get("kind") in KEPT_TURNS]
        return RejudgeView(view=self.judge_view(item, kept, self.options.rounds), turns=kept)

    @property
    def rejudge_needs_passage(self) -> bool:
        """The expert baseline's judge reads the passage; every other judge of the family never does."""
        return self.rules.judge_sees_passage

    async def answer_question(
        self, record: GameRecord, item: TaskItem, turns: list[Turn], question: str, ctx: GameContext
    ) -> list[Turn]:
        """The new judge's question after the game's last round, and one more round in which every debater
        answers it: argued as any round (the same prompt, with the question last in the transcript) and checked
        for quotes as any argument, against the passage and what the speaker's earlier quotes spent."""
        if not self.takes_questions:
            return await super().answer_question(record, item, turns, question, ctx)
        last = max((t.round for t in turns if t.round is not None), default=0)
        asked = Turn(role="judge", content=question, round=last, meta={"kind": "question", "speaker": "Judge"})
        seen = [*turns, asked]
        await self._round(item, ctx, record.seating, last + 1, seen, rounds=last + 1)
        for turn in seen[len(turns):]:
            turn.meta["follow_up"] = True  # played after the stored game, for its new judge
        return seen[len(turns):]

    def _visibility(self) -> Any:
        from oversight.protocols.debate.export import Visibility  # only when a run is exported

        return Visibility(
            protocol=self.name, speakers=len(self.seats), judge_sees_passage=self.rules.judge_sees_passage,
            simultaneous=self.options.turns == "simultaneous", numbered=self.options.quote_spans,
        )

    def sft_rows(
        self, records: Iterable[GameRecord], *, role: str | None, keep: str, passages: Mapping[str, str]
    ) -> Iterable[dict[str, Any]]:
        """Every role's turns (or ``role``'s), each with the prompt its role could see (see :mod:`.export`)."""
        from oversight.protocols.debate.export import sft_rows

        return sft_rows(records, self._visibility(), role=role, keep=keep, passages=passages)

    def preference_pairs(
        self, records: Iterable[GameRecord], *, keep: str, passages: Mapping[str, str]
    ) -> Iterable[dict[str, Any]]:
        """The argument of the debater the judge sided with against each other's, round by round (see
        :mod:`.export`); none in consultancy and the baselines."""
        from oversight.protocols.debate.export import preference_pairs

        return preference_pairs(records, self._visibility(), keep=keep, passages=passages)


def _shown_order(item: TaskItem, index: int, seed: int) -> list[int]:
    """Shown position → the task's choice index: the correct answer's position is balanced over the run (so a
    judge that favours a position scores chance), the other choices are shuffled around it."""
    n = len(item.choices)
    position = balanced(index, n, seed, "answer position")
    others = [i for i in range(n) if i != item.answer]
    shuffled = [others[i] for i in permutation(len(others), seed, "distractor order", item.id)]
    return [*shuffled[:position], int(item.answer), *shuffled[position:]]


_PARTIAL_TAG = re.compile(r"<(/?q?u?o?t?e?)?$")


def _cut(content: str) -> str:
    """A turn that stopped at a length limit, marked as cut; a quote it stopped inside is shown as cut, in plain
    quotation marks, so it is never checked (or passed) as a whole quote."""
    content = _PARTIAL_TAG.sub("", content.rstrip())
    opened, closed = content.rfind("<quote>"), content.rfind("</quote>")
    if opened > closed:
        content = f"{content[:opened]}“{content[opened + len('<quote>'):].rstrip()}…”"
    return f"{content} [cut]"


def _reordered(item: TaskItem, order: list[int]) -> TaskItem:
    return item.model_copy(update={"choices": [item.choices[i] for i in order], "answer": order.index(int(item.answer))})


def _quote_stats(turns: list[Turn]) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = {}
    for turn in turns:
        if turn.meta.get("kind") != "argument":
            continue
        entry = stats.setdefault(turn.meta["speaker"], {"quotes": 0, "verified": 0, "revealed_chars": 0})
        for quote in turn.meta["quotes"]:
            entry["quotes"] += 1
            entry["verified"] += int(quote["verified"])
            entry["revealed_chars"] += len(quote["shown"]) if quote["verified"] else 0
    return stats


class Debate(DebateFamily):
    name: ClassVar[str] = "debate"
    rules: ClassVar[Rules] = Rules(speaker="debater")
    display_order: ClassVar[int] = 40
    templates: ClassVar[tuple[str, ...]] = ("debater", "judge")
    description: ClassVar[str] = "debaters argue assigned answers for N rounds; the judge cannot see the passage"


class InteractiveDebate(DebateFamily):
    name: ClassVar[str] = "interactive-debate"
    rules: ClassVar[Rules] = Rules(speaker="debater", interactive=True)
    display_order: ClassVar[int] = 60
    templates: ClassVar[tuple[str, ...]] = ("debater", "judge", "judge_question")
    description: ClassVar[str] = "debate in which the judge may question the debaters between rounds"


class OpenDebate(DebateFamily):
    name: ClassVar[str] = "open-debate"
    rules: ClassVar[Rules] = Rules(speaker="debater", open=True)
    display_order: ClassVar[int] = 50
    templates: ClassVar[tuple[str, ...]] = ("chooser", "debater", "judge")
    description: ClassVar[str] = "one debater picks the answer it defends, the other argues against it"


class Consultancy(DebateFamily):
    name: ClassVar[str] = "consultancy"
    rules: ClassVar[Rules] = Rules(speaker="consultant")
    display_order: ClassVar[int] = 20
    templates: ClassVar[tuple[str, ...]] = ("consultant", "judge")
    description: ClassVar[str] = "one consultant argues an assigned answer, correct in half the games"


class OpenConsultancy(DebateFamily):
    name: ClassVar[str] = "open-consultancy"
    rules: ClassVar[Rules] = Rules(speaker="consultant", open=True)
    display_order: ClassVar[int] = 30
    templates: ClassVar[tuple[str, ...]] = ("chooser", "consultant", "judge")
    description: ClassVar[str] = "one consultant picks the answer it defends"


class Blind(DebateFamily):
    name: ClassVar[str] = "blind"
    rules: ClassVar[Rules] = Rules(speaker=None)
    display_order: ClassVar[int] = 10
    description: ClassVar[str] = "baseline: the judge answers from the question alone"


class Expert(DebateFamily):
    name: ClassVar[str] = "expert"
    rules: ClassVar[Rules] = Rules(speaker=None, judge_sees_passage=True)
    display_order: ClassVar[int] = 70
    description: ClassVar[str] = "baseline: the judge reads the passage itself"
