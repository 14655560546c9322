"""A question with known answer: what every protocol plays on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from oversight.errors import UserError


class TaskItem(BaseModel):
    """One question a game is played on, with its correct answer and, for reading tasks, the passage the agents argue
    from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    #: the options for a multiple-choice item; empty for an open-ended one
    choices: list[str] = Field(default_factory=list)
    #: index into ``choices`` of the correct answer, or the exact answer of an open-ended item
    answer: int | str
    #: evidence the agents can read and the judge cannot (except in protocols that say otherwise)
    passage: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("choices")
    @classmethod
    def _not_one_choice(cls, choices: list[str]) -> list[str]:
        if len(choices) == 1:
            raise ValueError("a multiple-choice item needs at least two choices")
        return choices

    @field_validator("answer")
    @classmethod
    def _answer_fits_choices(cls, answer: int | str, info: ValidationInfo) -> int | str:
        choices = info.data.get("choices") or []
        if choices and not (isinstance(answer, int) and 0 <= answer < len(choices)):
            raise ValueError(f"{answer!r} is not an index into {len(choices)} choices")
        return answer

    @property
    def multiple_choice(self) -> bool:
        """Whether the item has choices to pick from rather than an exact answer to write."""
        return bool(self.choices)


def json_objects(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON-lines file; anything else is a one-line error."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            # some of json's messages end in "at" ("Unterminated string starting at")
            at = "" if exc.msg.endswith(" at") else " at"
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg}{at} column {exc.colno})") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


@dataclass
class TaskSet:
    """The items a run plays on, with where they came from and what was left out while loading them."""

    name: str
    items: list[TaskItem]
    description: str = ""
    source: str = "built-in"
    #: questions of the source left out while loading, by reason (e.g. {"no gold label": 3})
    skipped: dict[str, int] = field(default_factory=dict)
