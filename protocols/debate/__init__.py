"""Debate and its relatives: consultancy, open variants, interactive judging, and the blind and expert baselines.

``protocol`` holds the rules, ``metrics`` the family's figures, ``policies`` its scripted players.
"""

from oversight.protocols.debate.protocol import (
    Blind,
    Consultancy,
    Debate,
    DebateFamily,
    Expert,
    InteractiveDebate,
    OpenConsultancy,
    OpenDebate,
)

__all__ = [
    "Blind", "Consultancy", "Debate", "DebateFamily", "Expert", "InteractiveDebate", "OpenConsultancy", "OpenDebate",
]
