"""The language-model judge: reads the view through a template, answers with a label and probabilities.

Probabilities come from the label token's logprobs where the backend gives them, otherwise from a stated
confidence. An unreadable answer is asked again once (as a fresh sample, so a cached reply is not replayed),
then recorded as an invalid verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oversight.judges.base import JudgeView
from oversight.models.base import GenerationSettings
from oversight.records import Verdict
from oversight.verdicts import parse_verdict

if TYPE_CHECKING:
    from oversight.protocol import GameContext

VERDICT_SETTINGS = GenerationSettings(max_tokens=24, temperature=0.0, logprobs=True, top_logprobs=5)
QUESTION_SETTINGS = GenerationSettings(max_tokens=60, temperature=0.0)


class LLMJudge:
    def __init__(self, spec: str) -> None:
        self.spec = spec

    def describe(self) -> str:
        return self.spec

    def model_specs(self) -> list[str]:
        return [self.spec]

    async def decide(self, view: JudgeView, ctx: GameContext) -> Verdict:
        verdict = Verdict(choice=None)
        for attempt in range(2):
            completion = await ctx.generate(
                "judge",
                {**view.model_dump(), "retry": attempt > 0},
                settings=VERDICT_SETTINGS,
                sample=attempt,
                spec=self.spec,
            )
            verdict = parse_verdict(completion, view.choices)
            if verdict.valid:
                break
        return verdict

    async def ask(self, view: JudgeView, ctx: GameContext) -> str | None:
        completion = await ctx.generate(
            "judge", view.model_dump(), template="judge_question", settings=QUESTION_SETTINGS, spec=self.spec
        )
        return completion.text.strip() or None
