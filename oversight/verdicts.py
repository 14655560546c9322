"""Reading a judge's answer: the choice it wrote and, where possible, its probabilities over the choices.

The recorded choice is always the answer the judge *wrote*: a label in any common wrapping (``B``, ``(B)``,
``**B**``, ``<B>``, ``B.``, ``Choice B``) or a choice's exact text after ``Answer:``. A reply that names two
different answers is ambiguous and recorded as invalid, never resolved in favour of either.

Probabilities are the judge's belief, kept beside the choice: token logprobs where the backend gives them (the
mass on each label at the written label's position), otherwise a stated ``Confidence: NN%`` (the rest spread
evenly over the other choices). When their argmax is another answer than the written one, the verdict says so
(``belief_disagrees``) and summaries count it; the choice is never replaced.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence

from oversight.models.base import Completion, TokenLogprob
from oversight.records import Verdict

#: what may wrap a label: brackets, emphasis, quotes, angle brackets copied from a template
_WRAP = r"[\s(\[<*\"'`“‘]*"
_AFTER = r"(?=$|[\s)\]>*\"'`”’.,:;!?])"
_ANSWER = re.compile(r"\banswer\b\s*(?:is\b)?\s*[:\-=]?(.*)", re.IGNORECASE)
_LABEL = re.compile(rf"^{_WRAP}(?:(?:choice|option)\s+)?([A-Z]){_AFTER}", re.IGNORECASE)
_CONFIDENCE = re.compile(r"confidence\s*[:\-]?\s*(\d+(?:\.\d+)?)\s*(%?)", re.IGNORECASE)
_LEAD = re.compile(r"answer\s*(?:is)?\s*[:\-=]?" + _WRAP + r"(?:(?:choice|option)\s+)?$", re.IGNORECASE)
_TEXT_EDGES = " \t*\"'`“”‘’.!,;:<>()[]"


def choice_labels(n: int) -> list[str]:
    """The labels of ``n`` choices as the judge sees them: ``A``, ``B``, and so on."""
    return list(string.ascii_uppercase[:n])


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.strip(_TEXT_EDGES).split()).casefold() == " ".join(b.strip(_TEXT_EDGES).split()).casefold()


def _named(answer: str, choices: Sequence[str]) -> set[int]:
    """The choices one answer names: by exact text first (a choice may itself begin like a label), else by label."""
    by_text = {i for i, choice in enumerate(choices) if _same_text(answer, choice)}
    if by_text:
        return by_text
    labels = choice_labels(len(choices))
    match = _LABEL.match(answer)
    if match is None or match.group(1).upper() not in labels:
        return set()
    index = labels.index(match.group(1).upper())
    rest = answer[match.end() :].strip(_TEXT_EDGES)
    # "B. In the boathouse" names B; if the words that follow are another choice's text, the reply is ambiguous
    return {index} | {i for i, choice in enumerate(choices) if rest and _same_text(rest, choice)}


def written_choice(text: str, choices: Sequence[str]) -> int | None:
    """The one answer the reply names, or None when it names none or several."""
    answers = [m.group(1) for line in text.splitlines() if (m := _ANSWER.search(line))]
    if not answers:
        answers = [text]  # a bare reply: "B", "(B)", or a choice's text
    named: set[int] = set()
    for answer in answers:
        named |= _named(answer, choices)
    return named.pop() if len(named) == 1 else None


def _label_of(token: str, labels: list[str]) -> str | None:
    stripped = token.strip().strip("()[]<>*.\"'").upper()
    return stripped if stripped in labels else None


def _from_logprobs(tokens: list[TokenLogprob], labels: list[str], written: str) -> list[float] | None:
    """The label mass at the position where the written label was generated."""
    prefix = ""
    for token in tokens:
        if _label_of(token.token, labels) == written and (not prefix.strip() or _LEAD.search(prefix)):
            mass = dict.fromkeys(labels, 0.0)
            candidates = token.top_logprobs or []
            if not any(_label_of(t.token, labels) == written for t in candidates):
                candidates = [*candidates, token]
            for cand in candidates:
                if (label := _label_of(cand.token, labels)) is not None:
                    mass[label] += math.exp(cand.logprob)
            total = sum(mass.values())
            return [mass[label] / total for label in labels] if total > 0 else None
        prefix += token.token
    return None


def stated_confidence(text: str) -> float | None:
    """The confidence a reply states (``Confidence: 70%`` or ``Confidence: 0.7``) as a share in [0, 1]; None when it
    states none."""
    match = _CONFIDENCE.search(text)
    if not match:
        return None
    value = float(match.group(1))
    if match.group(2) or value > 1:
        value /= 100
    return min(max(value, 0.0), 1.0)


def _stated(text: str, chosen: int, n: int) -> list[float] | None:
    value = stated_confidence(text)
    if value is None:
        return None
    rest = (1.0 - value) / (n - 1)
    return [value if i == chosen else rest for i in range(n)]


def parse_verdict(completion: Completion, choices: Sequence[str]) -> Verdict:
    """The verdict in a judge's reply: the one choice it wrote (None when it names none or several), with the
    judge's probabilities from logprobs or a stated confidence where either is there."""
    text = completion.text
    choice = written_choice(text, choices)
    if choice is None:
        return Verdict(choice=None, raw=text)
    labels = choice_labels(len(choices))
    source: str | None = None
    probabilities = _from_logprobs(completion.logprobs, labels, labels[choice]) if completion.logprobs else None
    if probabilities is not None:
        source = "logprobs"
    elif (probabilities := _stated(text, choice, len(choices))) is not None:
        source = "stated"
    return Verdict(choice=choice, probabilities=probabilities, source=source, raw=text)
