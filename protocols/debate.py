"""Debate: two debaters defend opposite answers about a passage the judge cannot see; the judge decides.

Rounds are sequential (A, then B, who has read A). Every item is played in both seatings, so a debater's
record never depends on which seat it sat in. Turns are keyed by seat for display and carry their truth
side ("correct" / "incorrect") in ``meta``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from oversight.models.base import GenerationSettings
from oversight.protocol import GameContext, GameOutcome, GameSetup, Protocol
from oversight.records import GameRecord, Turn, Verdict
from oversight.tasks.items import TaskItem
from oversight.verdicts import choice_labels, parse_verdict

SEATS = ("A", "B")


class Debate(Protocol):
    name: ClassVar[str] = "debate"
    roles: ClassVar[tuple[str, ...]] = ("debater_a", "debater_b", "judge")
    templates: ClassVar[tuple[str, ...]] = ("debater", "judge")
    needs_choices: ClassVar[bool] = True
    description: ClassVar[str] = "two debaters argue opposite answers for N rounds; the judge cannot see the passage"

    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = ()
    ) -> Iterable[GameSetup]:
        for item in items:
            wrong = next(i for i in range(len(item.choices)) if i != item.answer)
            seatings = [{"A": item.answer, "B": wrong}, {"A": wrong, "B": item.answer}]
            if not self.options.both_seatings:
                # one seating per item, chosen by the item so that reruns agree
                seatings = [seatings[hashlib.sha256(item.id.encode()).digest()[0] % 2]]
            for seating in seatings:
                yield GameSetup(protocol=self.name, task=task, item=item, seating=seating)

    def _shared(self, game: GameSetup, turns: list[Turn]) -> dict[str, Any]:
        item = game.item
        return {
            "question": item.question,
            "choices": item.choices,
            "labels": choice_labels(len(item.choices)),
            "transcript": [{"seat": t.seat, "round": t.round, "content": t.content} for t in turns],
            "rounds": self.options.rounds,
        }

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        item = game.item
        labels = choice_labels(len(item.choices))
        settings = GenerationSettings(max_tokens=self.options.max_tokens, temperature=self.options.temperature)
        turns: list[Turn] = []
        for round_number in range(1, self.options.rounds + 1):
            for seat in SEATS:
                defended = game.seating[seat]
                completion = await ctx.generate(
                    f"debater_{seat.lower()}",
                    {
                        **self._shared(game, turns),
                        "passage": item.passage or "",
                        "seat": seat,
                        "assigned": labels[defended],
                        "assigned_text": item.choices[defended],
                        "round": round_number,
                    },
                    template="debater",
                    settings=settings,
                )
                side = "correct" if defended == item.answer else "incorrect"
                turns.append(
                    Turn(
                        role=f"debater_{seat.lower()}",
                        seat=seat,
                        round=round_number,
                        content=completion.text,
                        usage=completion.usage,
                        meta={"side": side, "defends": defended},
                    )
                )
        verdict, judge_turns = await self._judge(game, turns, ctx)
        return GameOutcome(turns=turns + judge_turns, verdict=verdict)

    async def _judge(self, game: GameSetup, turns: list[Turn], ctx: GameContext) -> tuple[Verdict, list[Turn]]:
        settings = GenerationSettings(max_tokens=20, temperature=0.0, logprobs=True, top_logprobs=5)
        judge_turns: list[Turn] = []
        verdict = Verdict(choice=None)
        # an unparseable answer is asked once more (as a fresh sample, so a cached reply is not replayed)
        for attempt in range(2):
            completion = await ctx.generate(
                "judge", {**self._shared(game, turns), "retry": attempt > 0}, settings=settings, sample=attempt
            )
            judge_turns.append(Turn(role="judge", content=completion.text, usage=completion.usage))
            verdict = parse_verdict(completion, len(game.item.choices))
            if verdict.valid:
                break
        return verdict, judge_turns
