"""The language-model judge: reads the view through a template, answers with a label and probabilities.

Probabilities come from the label token's logprobs where the backend gives them, otherwise from a stated
confidence. An unreadable answer is asked again once (as a fresh sample, so a cached reply is not replayed),
then recorded as an invalid verdict.
"""

from __future__ import annotations

from oversight.judges.base import JudgeContext, JudgeView
from oversight.models.base import GenerationSettings
from oversight.records import Verdict
from oversight.verdicts import parse_verdict

VERDICT_SETTINGS = GenerationSettings(max_tokens=24, temperature=0.0, logprobs=True, top_logprobs=5)
QUESTION_SETTINGS = GenerationSettings(max_tokens=60, temperature=0.0)


class LLMJudge:
    """A judge that is one model, asked through the protocol's ``judge`` template."""

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def describe(self) -> str:
        """The model spec, as records name the judge."""
        return self.spec

    def model_specs(self) -> list[str]:
        """The one model this judge calls."""
        return [self.spec]

    async def decide(self, view: JudgeView, ctx: JudgeContext) -> Verdict:
        """The model's verdict on the view; asked again once when unreadable, then recorded as invalid."""
        verdict, _ = await ctx.generate_readable(
            "judge",
            view.model_dump(),
            lambda completion: parse_verdict(completion, view.choices),
            lambda verdict: verdict.valid,
            settings=VERDICT_SETTINGS,
            spec=self.spec,
        )
        return verdict

    async def ask(self, view: JudgeView, ctx: JudgeContext) -> str | None:
        """The model's question for the debaters, or None when it has none."""
        completion = await ctx.generate(
            "judge", view.model_dump(), template="judge_question", settings=QUESTION_SETTINGS, spec=self.spec
        )
        return completion.text.strip() or None
