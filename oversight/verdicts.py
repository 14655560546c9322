"""Reading a judge's answer: a choice label and, where possible, probabilities over the choices.

Token logprobs are preferred (the probability mass the model put on each label right after ``Answer:``);
otherwise a stated ``Confidence: NN%`` is spread as probabilities; otherwise the verdict has a choice only.
"""

from __future__ import annotations

import math
import re
import string

from oversight.models.base import Completion, TokenLogprob
from oversight.records import Verdict

_ANSWER = re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*[\(\[*\"']*([A-Z])\b", re.IGNORECASE)
_CONFIDENCE = re.compile(r"confidence\s*[:\-]?\s*(\d+(?:\.\d+)?)\s*(%?)", re.IGNORECASE)
_LEAD = re.compile(r"answer\s*(?:is)?\s*[:\-]?\s*[\(\[*\"']*$", re.IGNORECASE)


def choice_labels(n: int) -> list[str]:
    return list(string.ascii_uppercase[:n])


def _label_of(token: str, labels: list[str]) -> str | None:
    stripped = token.strip().strip("()[]*.\"'").upper()
    return stripped if stripped in labels else None


def _from_logprobs(tokens: list[TokenLogprob], labels: list[str]) -> list[float] | None:
    prefix = ""
    for token in tokens:
        if _label_of(token.token, labels) and (not prefix.strip() or _LEAD.search(prefix)):
            mass = dict.fromkeys(labels, 0.0)
            candidates = token.top_logprobs or []
            if not any(_label_of(t.token, labels) == _label_of(token.token, labels) for t in candidates):
                candidates = [*candidates, token]
            for cand in candidates:
                if (label := _label_of(cand.token, labels)) is not None:
                    mass[label] += math.exp(cand.logprob)
            total = sum(mass.values())
            return [mass[label] / total for label in labels] if total > 0 else None
        prefix += token.token
    return None


def _stated(text: str, chosen: int, n: int) -> list[float] | None:
    match = _CONFIDENCE.search(text)
    if not match:
        return None
    value = float(match.group(1))
    if match.group(2) or value > 1:
        value /= 100
    value = min(max(value, 0.0), 1.0)
    rest = (1.0 - value) / (n - 1)
    return [value if i == chosen else rest for i in range(n)]


def parse_verdict(completion: Completion, n_choices: int) -> Verdict:
    labels = choice_labels(n_choices)
    text = completion.text
    if completion.logprobs and (probabilities := _from_logprobs(completion.logprobs, labels)):
        choice = max(range(n_choices), key=lambda i: probabilities[i])
        return Verdict(choice=choice, probabilities=probabilities, source="logprobs", raw=text)
    match = _ANSWER.search(text)
    label = match.group(1).upper() if match else _label_of(text, labels)
    if label is None or label not in labels:
        return Verdict(choice=None, raw=text)
    choice = labels.index(label)
    probabilities = _stated(text, choice, n_choices)
    return Verdict(choice=choice, probabilities=probabilities, source="stated" if probabilities else None, raw=text)
