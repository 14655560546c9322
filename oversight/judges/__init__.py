"""Judges: the LLM judge, a human in the terminal, ensembles, and your own (see :mod:`oversight.judges.base`)."""

from oversight.judges.base import Judge, JudgeContext, JudgeTurn, JudgeView
from oversight.judges.ensemble import EnsembleJudge
from oversight.judges.llm import LLMJudge
from oversight.judges.loading import JUDGES, load_judge
from oversight.records import Verdict

__all__ = [
    "JUDGES", "EnsembleJudge", "Judge", "JudgeContext", "JudgeTurn", "JudgeView", "LLMJudge", "Verdict", "load_judge",
]
