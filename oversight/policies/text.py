"""Reading prompts and writing completions the way the built-in templates and verdict parser expect."""

from __future__ import annotations

import hashlib
import math
import re

from oversight.models.base import ChatMessage, Completion, TokenLogprob, TopLogprob, Usage

_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset(
    "a an the of to in on at and or but is was were be been it its this that with for as by from he she they "
    "his her their them there here not no yes did does do had has have what which who whom why how when where".split()
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CHOICE_LINE = re.compile(r"^\s*\(?([A-Z])[.)]\s+(.+?)\s*$", re.MULTILINE)


def count_tokens(text: str) -> int:
    """A scripted policy's token count: the number of whitespace-separated words."""
    return len(text.split())


def prompt_text(messages: list[ChatMessage]) -> str:
    """The messages' contents joined into one text, one message after another, for a policy to read."""
    return "\n".join(m.content for m in messages)


def section(text: str, tag: str) -> str | None:
    """The text between ``<tag>`` and ``</tag>``, if the prompt has it."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    return match.group(1).strip() if match else None


def outside(text: str, tag: str) -> str:
    """The text with its ``<tag>`` sections cut out: what a template says, without what speakers wrote in it."""
    return re.sub(rf"<{tag}>.*?</{tag}>", "", text, flags=re.DOTALL)


def content_words(text: str) -> set[str]:
    """The distinct lower-case words of the text, without the commonest function words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def sentences(passage: str) -> list[str]:
    """The passage split after every full stop, question or exclamation mark."""
    return [s.strip() for s in _SENTENCE.split(passage) if s.strip()]


def choices_in(text: str) -> dict[str, str]:
    """Label → choice text, from the prompt's ``<choices>`` block."""
    return dict(_CHOICE_LINE.findall(section(text, "choices") or ""))


def unit_hash(*parts: object) -> float:
    """A number in [0, 1) fixed by its inputs: the policies' only source of randomness."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def plain(text: str, prompt: str) -> Completion:
    """A completion holding just this text, with its usage counted in words against the prompt."""
    return Completion(
        text=text, usage=Usage(prompt_tokens=count_tokens(prompt), completion_tokens=count_tokens(text)), finish_reason="stop"
    )


def verdict_completion(label: str, probabilities: dict[str, float], prompt: str) -> Completion:
    """``Answer: X`` / ``Confidence: NN%``, with logprobs carrying the probabilities as a real server's would."""
    text = f"Answer: {label}\nConfidence: {round(probabilities[label] * 100)}%"
    tops = sorted(
        (TopLogprob(token=f" {lab}", logprob=math.log(max(p, 1e-9))) for lab, p in probabilities.items()),
        key=lambda t: -t.logprob,
    )
    logprobs = [
        TokenLogprob(token="Answer", logprob=0.0),
        TokenLogprob(token=":", logprob=0.0),
        TokenLogprob(token=f" {label}", logprob=math.log(max(probabilities[label], 1e-9)), top_logprobs=tops),
    ]
    return Completion(
        text=text,
        usage=Usage(prompt_tokens=count_tokens(prompt), completion_tokens=count_tokens(text)),
        logprobs=logprobs,
        finish_reason="stop",
    )
