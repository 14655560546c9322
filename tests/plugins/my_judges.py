# The judge plug-in example from the README, kept verbatim: a test runs it from outside the package.
import random

from oversight.judges import JudgeView, Verdict


class VerifiedQuoteJudge:
    """Sides with whoever backed their answer with the most verified quotes."""

    async def decide(self, view: JudgeView, ctx) -> Verdict:
        score = [1.0] * len(view.choices)
        for turn in view.turns:
            if turn.defends is not None:
                score[turn.defends] += turn.content.count("<quote verified>")
        total = sum(score)
        tied = [i for i, s in enumerate(score) if s == max(score)]
        # a tie is settled by a draw fixed by the question, never in favour of the first choice
        best = random.Random(view.question).choice(tied)
        return Verdict(choice=best, probabilities=[s / total for s in score], raw=f"scores {score}")


def always_first(view: JudgeView) -> Verdict:
    return Verdict(choice=0, raw="first")
