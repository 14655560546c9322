"""``scripted/<policy>``: deterministic agents that run in-process behind the same interface as a real model.

They read the same prompts a language model reads (the built-in templates mark the passage, the choices and
the assigned answer with stable tags) and answer in the same formats, so a scripted run exercises the whole
pipeline: templating, parsing, verdicts, transcripts, scoring. Tests, dry runs and the loopback server use them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from typing import ClassVar

from oversight.models.base import (
    BackendOptions,
    ChatMessage,
    Completion,
    GenerationSettings,
    ModelBackend,
    ModelSpec,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from oversight.registry import Registry

Policy = Callable[[list[ChatMessage], GenerationSettings, int, dict[str, str]], Completion]

#: scripted policies by name; more can be added by entry point in the group ``oversight.scripted``
POLICIES = Registry("oversight.scripted", "scripted policy")

_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset(
    "a an the of to in on at and or but is was were be been it its this that with for as by from he she they "
    "his her their them there here not no yes did does do had has have what which who whom why how when where".split()
)
_CHOICE_LINE = re.compile(r"^\s*\(?([A-Z])[.)]\s+(.+?)\s*$", re.MULTILINE)


def policy(name: str) -> Callable[[Policy], Policy]:
    def register(fn: Policy) -> Policy:
        POLICIES.add(name, fn)
        return fn

    return register


def _tokens(text: str) -> int:
    return len(text.split())


def _prompt(messages: list[ChatMessage]) -> str:
    return "\n".join(m.content for m in messages)


def _section(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    return match.group(1).strip() if match else None


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def _choices(text: str) -> dict[str, str]:
    block = _section(text, "choices") or ""
    return {label: body for label, body in _CHOICE_LINE.findall(block)}


def _unit_hash(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _label_completion(text: str, label: str, probabilities: dict[str, float], prompt: str) -> Completion:
    """A verdict-style answer whose logprobs carry the probabilities, as a real server's would."""
    answer_token = f" {label}"
    tops = [TopLogprob(token=f" {lab}", logprob=math.log(max(p, 1e-9))) for lab, p in probabilities.items()]
    tops.sort(key=lambda t: -t.logprob)
    logprobs = [
        TokenLogprob(token="Answer", logprob=0.0),
        TokenLogprob(token=":", logprob=0.0),
        TokenLogprob(token=answer_token, logprob=math.log(max(probabilities[label], 1e-9)), top_logprobs=tops),
    ]
    return Completion(
        text=text,
        usage=Usage(prompt_tokens=_tokens(prompt), completion_tokens=_tokens(text)),
        logprobs=logprobs,
        finish_reason="stop",
    )


def _plain(text: str, prompt: str) -> Completion:
    return Completion(
        text=text, usage=Usage(prompt_tokens=_tokens(prompt), completion_tokens=_tokens(text)), finish_reason="stop"
    )


def _verdict_text(label: str, confidence: float) -> str:
    return f"Answer: {label}\nConfidence: {round(confidence * 100)}%"


@policy("echo")
def echo(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Repeats the last message: shows exactly what a role was shown."""
    prompt = _prompt(messages)
    return _plain(messages[-1].content if messages else "", prompt)


@policy("constant")
def constant(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Always says ``?text=...`` (default: ``Answer: A``)."""
    return _plain(params.get("text", "Answer: A"), _prompt(messages))


@policy("first")
def first(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Always picks the first choice with certainty: a judge with a position bias."""
    prompt = _prompt(messages)
    labels = list(_choices(prompt)) or ["A", "B"]
    probabilities = {lab: (1.0 if i == 0 else 0.0) for i, lab in enumerate(labels)}
    return _label_completion(_verdict_text(labels[0], 1.0), labels[0], probabilities, prompt)


@policy("random")
def random_choice(
    messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]
) -> Completion:
    """A coin flip fixed by the prompt, the sample index and ``?seed=``: same question, same answer."""
    prompt = _prompt(messages)
    labels = list(_choices(prompt)) or ["A", "B"]
    u = _unit_hash(prompt, sample, params.get("seed", "0"))
    label = labels[int(u * len(labels)) % len(labels)]
    confidence = 0.5 + 0.5 * _unit_hash(prompt, sample, "confidence")
    rest = (1.0 - confidence) / max(1, len(labels) - 1)
    probabilities = {lab: (confidence if lab == label else rest) for lab in labels}
    return _label_completion(_verdict_text(label, confidence), label, probabilities, prompt)


def best_evidence(passage: str, claim: str) -> str | None:
    """The passage sentence sharing the most content words with the claim."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", passage) if s.strip()]
    claim_words = _content_words(claim)
    scored = [(len(_content_words(s) & claim_words), -i, s) for i, s in enumerate(sentences)]
    if not scored:
        return None
    overlap, _, sentence = max(scored)
    return sentence if overlap else None


@policy("debater")
def debater(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Argues for its assigned answer by quoting the passage sentence that best supports it."""
    prompt = _prompt(messages)
    choices = _choices(prompt)
    label = _section(prompt, "assigned") or ""
    claim = choices.get(label.strip(), label)
    evidence = best_evidence(_section(prompt, "passage") or "", claim)
    text = f"The answer is {label}: {claim}."
    if evidence:
        text += f" The story says so: <quote>{evidence}</quote>"
    return _plain(text, prompt)


@policy("judge")
def judge(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Weighs the quoted evidence: each choice scores the content words its supporters' quotes share with it."""
    prompt = _prompt(messages)
    choices = _choices(prompt) or {"A": "", "B": ""}
    quotes = " ".join(re.findall(r"<quote>(.*?)</quote>", _section(prompt, "transcript") or "", re.DOTALL))
    quoted = _content_words(quotes)
    scores = {lab: 1.0 + len(_content_words(body) & quoted) for lab, body in choices.items()}
    total = sum(scores.values())
    probabilities = {lab: s / total for lab, s in scores.items()}
    label = max(probabilities, key=lambda lab: (probabilities[lab], -ord(lab)))
    return _label_completion(_verdict_text(label, probabilities[label]), label, probabilities, prompt)


class ScriptedBackend(ModelBackend):
    provider: ClassVar[str] = "scripted"
    cacheable: ClassVar[bool] = False
    known_params: ClassVar[frozenset[str]] = frozenset({"text", "seed"})

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        super().__init__(spec, options)
        self._policy: Policy = POLICIES.get(spec.name)

    async def complete(self, messages: list[ChatMessage], settings: GenerationSettings, sample: int) -> Completion:
        completion = self._policy(messages, settings, sample, self.spec.params)
        if not settings.logprobs:
            completion = completion.model_copy(update={"logprobs": None})
        return completion
