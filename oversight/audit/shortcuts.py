"""Rule shortcut judges: each scores every choice of an item from its surface and picks the highest (or lowest).

None of them reads the passage's reasoning. A rule that cannot decide an item (a tie, or too few choices it can
score) settles it by a draw seeded from the item's question and choices and the audit seed, so an undecided item
counts as chance, never as a vote for the first choice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from oversight.draws import draw
from oversight.policies.text import content_words, sentences
from oversight.tasks import TaskItem

#: the first number written in a choice: an optional sign, thousands separators, decimals
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:,\d{3})*(?:\.\d+)?")

#: one score per choice; None for a choice the rule cannot score
Scores = Sequence[float | None]


def seeded_draw(item: TaskItem, candidates: Sequence[int], seed: int) -> int:
    """A draw fixed by what a shortcut sees of the item (its question and choices) and the audit seed: a shortcut
    is a function of what it reads, so two items that look alike to it get the same pick."""
    return draw(candidates, "audit", seed, item.question, *item.choices)


def pick_by_score(item: TaskItem, scores: Scores, seed: int) -> int:
    """The choice with the highest score; ties, or fewer than two scored choices, go to the seeded draw."""
    scored = [i for i, score in enumerate(scores) if score is not None]
    if len(scored) < 2:
        return seeded_draw(item, range(len(item.choices)), seed)
    best = max(score for score in scores if score is not None)
    return seeded_draw(item, [i for i in scored if scores[i] == best], seed)


@lru_cache(maxsize=64)  # items of one article share its passage: split it once
def sentence_words(passage: str) -> tuple[frozenset[str], ...]:
    """The content words of each sentence of the passage, in order."""
    return tuple(frozenset(content_words(s)) for s in sentences(passage))


def best_supporting_sentence(choice: str, passage: str | None) -> int | None:
    """Index of the passage sentence sharing the most content words with the choice (the earliest on a tie)."""
    if not passage or not (per_sentence := sentence_words(passage)):
        return None
    words = content_words(choice)
    overlaps = [len(words & sentence) for sentence in per_sentence]
    return overlaps.index(max(overlaps))


def _position(item: TaskItem) -> Scores:
    return list(range(len(item.choices)))


def _length(item: TaskItem) -> Scores:
    return [len(choice) for choice in item.choices]


def _number(item: TaskItem) -> Scores:
    matches = [_NUMBER.search(choice) for choice in item.choices]
    return [float(m.group().replace(",", "")) if m else None for m in matches]


def _question_overlap(item: TaskItem) -> Scores:
    question = content_words(item.question)
    return [len(content_words(choice) & question) for choice in item.choices]


def _support_position(item: TaskItem) -> Scores:
    return [best_supporting_sentence(choice, item.passage) for choice in item.choices]


@dataclass(frozen=True)
class Rule:
    """One rule shortcut judge: its name and what it looks at, as the report shows them, how it scores each choice,
    and whether it picks the highest score or the lowest."""

    name: str
    looks_at: str
    score: Callable[[TaskItem], Scores]
    prefer: Literal["highest", "lowest"]

    def pick(self, item: TaskItem, seed: int) -> int:
        """The choice this rule picks for an item, a seeded draw when its scores do not decide."""
        scores = self.score(item)
        if self.prefer == "lowest":
            scores = [None if s is None else -s for s in scores]
        return pick_by_score(item, scores, seed)


_POSITION = "choice order"
_LENGTH = "characters per choice"
_NUMBERS = "first number in each choice"
_OVERLAP = "words shared with the question"
_SUPPORT = "position of its best sentence"

RULES: tuple[Rule, ...] = (
    Rule("first choice", _POSITION, _position, "lowest"),
    Rule("last choice", _POSITION, _position, "highest"),
    Rule("longer choice", _LENGTH, _length, "highest"),
    Rule("shorter choice", _LENGTH, _length, "lowest"),
    Rule("larger number", _NUMBERS, _number, "highest"),
    Rule("smaller number", _NUMBERS, _number, "lowest"),
    Rule("most question overlap", _OVERLAP, _question_overlap, "highest"),
    Rule("least question overlap", _OVERLAP, _question_overlap, "lowest"),
    Rule("latest support", _SUPPORT, _support_position, "highest"),
    Rule("earliest support", _SUPPORT, _support_position, "lowest"),
)
