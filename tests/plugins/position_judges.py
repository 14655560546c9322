# Judges with a fixed bias, used to check that no seat and no choice position carries the truth.
from oversight.judges import JudgeView, Verdict


def first_label(view: JudgeView) -> Verdict:
    """Always answers the first choice shown."""
    return Verdict(choice=0, raw="A")


def first_speaker(view: JudgeView) -> Verdict:
    """Believes whoever spoke first; with nobody speaking, the first choice shown."""
    speakers = [t for t in view.turns if t.defends is not None]
    return Verdict(choice=speakers[0].defends if speakers else 0, raw="first speaker")
