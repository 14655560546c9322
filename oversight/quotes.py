"""Quotes from the hidden passage: find them in a turn, check them, and mark them for the judge.

Debaters quote with ``<quote>words</quote>`` (or, with span quotes on, ``<<start-end>>`` word offsets, which the
engine fills in); the judge sees each quote as ``<quote verified>`` or ``<quote unverified>``. A verified quote
always shows the passage's own words, cut out of the passage, so a speaker cannot slip altered words past the judge.

A quote is found on whole words of the passage: ``exact`` (as written), ``normalised`` (the same words, whatever the
case, punctuation and spacing) or ``fuzzy`` (stopwords may also differ, within a similarity threshold; a changed
content word never passes). It must be at least ``min_words`` words long or a whole sentence of the passage. Each
speaker may reveal a limited number of verified characters per game (``budget``, capped at ``share`` of the passage);
quotes past it are shown unverified. Before any of this, :func:`neutralise` removes every look-alike of the engine's
marks from the turn.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz

from oversight.policies.text import content_words, sentences

if TYPE_CHECKING:
    from rich.text import Text

_QUOTE = re.compile(r"<quote>(.*?)</quote>", re.DOTALL)
_QUOTE_OR_SPAN = re.compile(r"<quote>(.*?)</quote>|<<\s*(\d+)\s*-\s*(\d+)\s*>>", re.DOTALL)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SPAN_WORD = re.compile(r"\S+")  # the words numbered_passage counts
#: a tag: ``<``s, anything but letters (spaces, a slash), its first word, the rest, and ``>`` unless left open
_TAG = re.compile(r"<+([^\w<>]*)([^\s<>]+)([^<>]*)(>?)")
#: a plain speaker tag (kept as it is), or a word and the ``>`` after it
_CLOSER = re.compile(r"</?quote>|([^\s<>]+\s*)>")
_BRACKETS = str.maketrans("‹〈⟨❬❮❰⟪《«⧼˂ᐸ›〉⟩❭❯❱⟫》»⧽˃ᐳ", "<" * 12 + ">" * 12)
#: Greek, Cyrillic and Armenian letters that pass for the Latin ones in "quote" and "verified"
_LATIN = str.maketrans("оοօеҽԛυսтτνѵіιӏԁ", "oooeeqquttvviiid")

Match = Literal["exact", "normalised", "fuzzy", "span", "none", "too_short", "over_budget", "bad_span"]


class QuoteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["exact", "normalised", "fuzzy"] = "normalised"
    #: rapidfuzz ratio (0–100) between a fuzzy quote and the passage words it is matched to
    fuzzy_threshold: float = Field(default=90.0, ge=0, le=100)
    #: verified characters one speaker may reveal over a whole game
    budget: int | None = Field(default=None, ge=0)
    #: the same as a fraction of the passage's characters; with both set, the smaller applies
    share: float | None = Field(default=0.25, ge=0, le=1)
    #: words a verified quote needs, unless it is a whole sentence of the passage
    min_words: int = Field(default=4, ge=1)
    #: allow ``<<start-end>>`` word-offset quotes (the passage is shown to debaters with word numbers)
    spans: bool = False

    def allowance(self, passage: str) -> int | None:
        """Verified characters a speaker may reveal over a game on this passage; None for no limit."""
        share = None if self.share is None else int(self.share * len(passage))
        return min((limit for limit in (self.budget, share) if limit is not None), default=None)


class QuoteCheck(BaseModel):
    #: the quote as the speaker wrote it (``words a-b`` for a span quote)
    text: str
    #: what the judge sees: the passage's own words when verified, the speaker's otherwise
    shown: str
    verified: bool
    match: Match
    score: float | None = None


def neutralise(text: str) -> str:
    """Speaker text as the judge may see it: nothing in it can pass for the engine's quote marks.

    Escapes are undone, look-alike brackets become ``<``/``>``, invisible characters go (NFKC does full-width and
    small forms); then every tag naming quote (or verified) becomes the plain speaker tag ``<quote>``/``</quote>``,
    to be checked like any quote, a tag left open loses its ``<``, and no word naming them is followed by ``>``.
    """
    # repeated to a fixed point: undoing one escape can reveal another (``&amp;lt;``) and dropping a character can
    # complete one; a round that changes the text uses up an escape, a character or a tag of the original, so
    # twice its length is a safe bound
    for _ in range(2 * len(text) + 2):
        previous = text
        text = unicodedata.normalize("NFKC", html.unescape(text))
        text = "".join(c for c in text if unicodedata.category(c) != "Cf").translate(_BRACKETS)
        if text == previous:  # tags are read only once every escape is undone
            text = _CLOSER.sub(_drop_closer, _TAG.sub(_plain_tag, text))
            if text == previous:
                break
    return text


def numbered_passage(passage: str) -> str:
    """The passage with each word prefixed by its offset, for span quotes."""
    return " ".join(f"{i}:{word}" for i, word in enumerate(passage.split()))


def check_quote(quote: str, passage: str, settings: QuoteSettings) -> QuoteCheck:
    """One ``<quote>``: verified if it stands for whole words of the passage, enough of them (budget aside)."""
    quote = quote.strip()
    match, start, end, score = _locate(quote, passage, settings)
    if match == "none":
        return QuoteCheck(text=quote, shown=quote, verified=False, match="none", score=score)
    if not _long_enough(passage[start:end], passage, settings):
        return QuoteCheck(text=quote, shown=quote, verified=False, match="too_short", score=score)
    return QuoteCheck(text=quote, shown=passage[start:end], verified=True, match=match, score=score)


def check_span(start: int, end: int, passage: str, settings: QuoteSettings) -> QuoteCheck:
    """One ``<<start-end>>``: the passage's words by construction, if the offsets exist and are enough words."""
    text = f"words {start}-{end}"
    words = list(_SPAN_WORD.finditer(passage))
    if not start <= end < len(words):
        return QuoteCheck(text=text, shown=text, verified=False, match="bad_span")
    shown = passage[words[start].start() : words[end].end()]
    if not _long_enough(shown, passage, settings):
        return QuoteCheck(text=text, shown=text, verified=False, match="too_short")
    return QuoteCheck(text=text, shown=shown, verified=True, match="span", score=100.0)


def mark_quotes(
    content: str, passage: str, settings: QuoteSettings, spent: int = 0
) -> tuple[str, list[QuoteCheck], int]:
    """The turn as the judge sees it, the check of every quote in it, and the verified characters the speaker has
    spent this game after it (``spent``: before it; the caller keeps it per speaker across the game)."""
    allowance = settings.allowance(passage)
    checks: list[QuoteCheck] = []

    def mark(found: re.Match[str]) -> str:
        nonlocal spent
        if found[1] is not None:
            check = check_quote(found[1], passage, settings)
        else:
            check = check_span(int(found[2]), int(found[3]), passage, settings)
        if check.verified and allowance is not None and spent + len(check.shown) > allowance:
            check = QuoteCheck(text=check.text, shown=check.text, verified=False, match="over_budget")
        spent += len(check.shown) if check.verified else 0
        checks.append(check)
        return f"<quote {'verified' if check.verified else 'unverified'}>{check.shown}</quote>"

    shown = (_QUOTE_OR_SPAN if settings.spans else _QUOTE).sub(mark, neutralise(content))
    return shown, checks, spent


def highlight_quotes(text: Text, *, unverified: str = "red") -> Text:
    """``text`` (a turn as the judge sees it) with verified quotes in green and unverified ones in ``unverified``,
    for the terminal; returns the same ``Text``."""
    text.highlight_regex(r"<quote verified>.*?</quote>", "green")
    text.highlight_regex(r"<quote unverified>.*?</quote>", unverified)
    return text


def _names_quote(word: str) -> bool:
    letters = unicodedata.normalize("NFKD", word.casefold()).translate(_LATIN)
    letters = "".join(c for c in letters if c.isalpha())
    return "quote" in letters or "verif" in letters


def _plain_tag(tag: re.Match[str]) -> str:
    if not _names_quote(tag[2]):
        return tag[0]
    if not tag[4]:
        return tag[0].lstrip("<")
    return "</quote>" if "/" in tag[1] else "<quote>"


def _drop_closer(closer: re.Match[str]) -> str:
    return closer[1] if closer[1] and _names_quote(closer[1]) else closer[0]


def _words(text: str) -> list[tuple[str, int, int]]:
    """Each word's comparison key and its character offsets in ``text``."""
    return [
        (unicodedata.normalize("NFKC", m[0]).casefold().replace("’", "'"), m.start(), m.end())
        for m in _WORD.finditer(text)
    ]


def _forgivable(key: str) -> bool:
    # content_words reads ASCII only, so a non-ASCII word is never taken for a stopword
    return key.isascii() and not content_words(key)


def _locate(quote: str, passage: str, settings: QuoteSettings) -> tuple[Match, int, int, float | None]:
    """How a quote was found and the passage characters it stands for (``none``: not found, with the best score)."""
    words = _words(passage)
    wanted = [key for key, _, _ in _words(quote)]
    if not wanted:
        return "none", 0, 0, None
    for found in re.finditer(f"(?={re.escape(quote)})", passage):
        start, end = found.start(), found.start() + len(quote)
        # whole words only: no passage word is cut at either end
        if not any(s < start < e or s < end < e for _, s, e in words):
            return "exact", start, end, 100.0
    if settings.mode == "exact":
        return "none", 0, 0, None
    keys = [key for key, _, _ in words]
    for first in range(len(keys) - len(wanted) + 1):
        if keys[first : first + len(wanted)] == wanted:
            return "normalised", words[first][1], words[first + len(wanted) - 1][2], 100.0
    if settings.mode == "fuzzy" and (closest := _closest(wanted, keys)) is not None:
        first, last, score = closest
        if score >= settings.fuzzy_threshold:
            return "fuzzy", words[first][1], words[last - 1][2], score
        return "none", 0, 0, score
    return "none", 0, 0, None


def _closest(wanted: list[str], keys: list[str]) -> tuple[int, int, float] | None:
    """The passage words ``[first, last)`` most like the quote among those with exactly its content words."""
    needed = [key for key in wanted if not _forgivable(key)]
    if not needed:
        return None
    content = [i for i, key in enumerate(keys) if not _forgivable(key)]
    quote = " ".join(wanted)
    best: tuple[int, int, float] | None = None
    for c in range(len(content) - len(needed) + 1):
        run = content[c : c + len(needed)]
        if [keys[i] for i in run] != needed:
            continue
        # the span may take in any of the stopwords around the run, up to the next content word
        before = content[c - 1] + 1 if c else 0
        after = content[c + len(needed)] if c + len(needed) < len(content) else len(keys)
        for first in range(before, run[0] + 1):
            for last in range(run[-1] + 1, after + 1):
                score = fuzz.ratio(" ".join(keys[first:last]), quote)
                if best is None or score > best[2]:
                    best = (first, last, score)
    return best


def _long_enough(shown: str, passage: str, settings: QuoteSettings) -> bool:
    keys = tuple(key for key, _, _ in _words(shown))
    return len(keys) >= settings.min_words or keys in {
        tuple(key for key, _, _ in _words(sentence)) for sentence in sentences(passage)
    }
