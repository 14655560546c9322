"""Debate agents: a debater that quotes the passage for its side, a judge that weighs the quotes."""

from __future__ import annotations

import re

from oversight.models.base import ChatMessage, Completion, GenerationSettings
from oversight.policies.text import choices_in, content_words, plain, prompt_text, section, verdict_completion


def best_evidence(passage: str, claim: str) -> str | None:
    """The passage sentence sharing the most content words with the claim."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", passage) if s.strip()]
    claim_words = content_words(claim)
    scored = [(len(content_words(s) & claim_words), -i, s) for i, s in enumerate(sentences)]
    if not scored:
        return None
    overlap, _, sentence = max(scored)
    return sentence if overlap else None


def debater(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Argues for its assigned answer by quoting the passage sentence that best supports it."""
    prompt = prompt_text(messages)
    label = (section(prompt, "assigned") or "").strip()
    claim = choices_in(prompt).get(label, label)
    evidence = best_evidence(section(prompt, "passage") or "", claim)
    text = f"The answer is {label}: {claim}."
    if evidence:
        text += f" The story says so: <quote>{evidence}</quote>"
    return plain(text, prompt)


def judge(messages: list[ChatMessage], settings: GenerationSettings, sample: int, params: dict[str, str]) -> Completion:
    """Weighs the quoted evidence: each choice scores the content words the quotes share with it."""
    prompt = prompt_text(messages)
    choices = choices_in(prompt) or {"A": "", "B": ""}
    quotes = " ".join(re.findall(r"<quote>(.*?)</quote>", section(prompt, "transcript") or "", re.DOTALL))
    quoted = content_words(quotes)
    scores = {lab: 1.0 + len(content_words(body) & quoted) for lab, body in choices.items()}
    total = sum(scores.values())
    probabilities = {lab: s / total for lab, s in scores.items()}
    label = max(probabilities, key=lambda lab: (probabilities[lab], -ord(lab)))
    return verdict_completion(label, probabilities, prompt)
