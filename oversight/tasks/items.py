"""A question with known answer: what every protocol plays on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TaskItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    choices: list[str] = Field(min_length=2)
    #: index into ``choices`` of the correct answer
    answer: int
    #: evidence the agents can read and the judge cannot (except in protocols that say otherwise)
    passage: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _answer_in_range(self) -> TaskItem:
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"answer {self.answer} is not an index into {len(self.choices)} choices")
        return self


@dataclass
class TaskSet:
    name: str
    items: list[TaskItem]
    description: str = ""
    source: str = "built-in"
    extra: dict[str, Any] = field(default_factory=dict)
