"""Policies that fit any protocol: echo what was asked, say a constant, pick first or at random."""

from __future__ import annotations

from oversight.models.base import ChatMessage, Completion, GenerationSettings
from oversight.policies import POLICIES, Policy
from oversight.policies.text import choices_in, outside, plain, prompt_text, unit_hash, verdict_completion


def echo(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Repeats the last message: shows exactly what a role was shown."""
    return plain(messages[-1].content if messages else "", prompt_text(messages))


def constant(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Always says ``?text=...`` (default: ``Answer: A``)."""
    return plain(params.get("text", "Answer: A"), prompt_text(messages))


def first(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Always picks the first choice with certainty: a judge with a position bias."""
    prompt = prompt_text(messages)
    labels = list(choices_in(prompt)) or ["A", "B"]
    return verdict_completion(labels[0], {lab: float(i == 0) for i, lab in enumerate(labels)}, prompt)


def random_choice(
    messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]
) -> Completion:
    """A coin flip fixed by the prompt, the sample index and ``?seed=``: same question, same answer."""
    prompt = prompt_text(messages)
    labels = list(choices_in(prompt)) or ["A", "B"]
    label = labels[int(unit_hash(prompt, sample, params.get("seed", "0")) * len(labels))]
    confidence = 0.5 + 0.5 * unit_hash(prompt, sample, "confidence")
    rest = (1.0 - confidence) / (len(labels) - 1)
    return verdict_completion(label, {lab: confidence if lab == label else rest for lab in labels}, prompt)


def auto(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Whichever built-in agent the prompt is written for: one spec that plays every role of every protocol."""
    prompt = prompt_text(messages)
    # a transcript holds whatever the speakers wrote, tags included: only the template's own text decides
    own = outside(prompt, "transcript")
    if "<scenario>" in own:
        target = "elk"
    elif "<question>" in own:
        target = "oracle"
    elif any(tag in own for tag in ("<assigned>", "<choose>")):
        target = "debater"
    else:
        target = "judge"
    policy: Policy = POLICIES.get(target)
    return policy(messages, settings, sample, params)
