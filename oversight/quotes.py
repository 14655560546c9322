"""Quotes from the hidden passage: find them in a turn, check them, and mark them for the judge.

Debaters quote with ``<quote>words</quote>``; the judge sees each quote as ``<quote verified>`` or
``<quote unverified>``. Checking is ``exact`` (a substring), ``normalised`` (also ignoring case, punctuation and
spacing) or ``fuzzy`` (also near matches at or above a threshold). Span quotes ``<<start-end>>`` name word
offsets into the passage; the engine fills in the words, so they cannot be faked.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz

QUOTE = re.compile(r"<quote>(.*?)</quote>", re.DOTALL | re.IGNORECASE)
_QUOTE_OR_SPAN = re.compile(r"<quote>(.*?)</quote>|<<\s*(\d+)\s*-\s*(\d+)\s*>>", re.DOTALL | re.IGNORECASE)
#: a speaker's own ``<quote verified>`` (or any attribute) must not pass for the engine's mark
_SPEAKER_MARK = re.compile(r"<quote\b[^>]*>", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")
_CURLY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})

Match = Literal["exact", "normalised", "fuzzy", "span", "none", "over_budget", "bad_span"]


class QuoteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["exact", "normalised", "fuzzy"] = "normalised"
    #: rapidfuzz partial-ratio (0–100) a fuzzy quote must reach
    fuzzy_threshold: float = Field(default=90.0, ge=0, le=100)
    #: quoted characters allowed per turn; quotes past the budget are shown unverified
    budget: int | None = Field(default=None, ge=0)
    #: allow ``<<start-end>>`` word-offset quotes (the passage is shown to debaters with word numbers)
    spans: bool = False


class QuoteCheck(BaseModel):
    text: str
    verified: bool
    match: Match
    score: float | None = None


def normalise(text: str) -> str:
    text = _PUNCT.sub(" ", text.translate(_CURLY).lower())
    return _SPACE.sub(" ", text).strip()


def numbered_passage(passage: str) -> str:
    """The passage with each word prefixed by its offset, for span quotes."""
    return " ".join(f"{i}:{word}" for i, word in enumerate(passage.split()))


def check_quote(quote: str, passage: str, settings: QuoteSettings) -> QuoteCheck:
    quote = quote.strip()
    if not quote:
        return QuoteCheck(text=quote, verified=False, match="none")
    if quote in passage:
        return QuoteCheck(text=quote, verified=True, match="exact", score=100.0)
    if settings.mode != "exact" and (needle := normalise(quote)) and needle in normalise(passage):
        return QuoteCheck(text=quote, verified=True, match="normalised", score=100.0)
    if settings.mode == "fuzzy":
        score = fuzz.partial_ratio(normalise(quote), normalise(passage))
        if score >= settings.fuzzy_threshold:
            return QuoteCheck(text=quote, verified=True, match="fuzzy", score=score)
        return QuoteCheck(text=quote, verified=False, match="none", score=score)
    return QuoteCheck(text=quote, verified=False, match="none")


def mark_quotes(content: str, passage: str, settings: QuoteSettings) -> tuple[str, list[QuoteCheck]]:
    """The turn as the judge sees it (quotes marked), and the check of every quote in it."""
    words = passage.split()
    content = _SPEAKER_MARK.sub("<quote>", content)
    pattern = _QUOTE_OR_SPAN if settings.spans else QUOTE
    checks: list[QuoteCheck] = []
    spent = 0

    def mark(match: re.Match[str]) -> str:
        nonlocal spent
        if match.group(1) is not None:
            quote = match.group(1)
            check = check_quote(quote, passage, settings)
        else:
            start, end = int(match.group(2)), int(match.group(3))
            if start <= end < len(words):
                quote = " ".join(words[start : end + 1])
                check = QuoteCheck(text=quote, verified=True, match="span", score=100.0)
            else:
                quote = f"words {start}-{end}"
                check = QuoteCheck(text=quote, verified=False, match="bad_span")
        if settings.budget is not None and spent + len(quote) > settings.budget:
            check = QuoteCheck(text=quote, verified=False, match="over_budget")
        spent += len(quote)
        checks.append(check)
        return f"<quote {'verified' if check.verified else 'unverified'}>{quote}</quote>"

    return pattern.sub(mark, content), checks
