"""The ELK scenario library: one TOML file per setting in ``scenarios/`` beside this module.

A scenario says what the predictor knows, what the human sees and which question the reporter answers, lists the
well-known proposals with their counterexamples (``moves``: few-shot material, scripted agents' lines and test
fixtures) and may carry an executable ``world`` (see :mod:`oversight.protocols.elk.world`).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from oversight.protocols.elk.recipes import parse_recipe
from oversight.protocols.elk.world import World, canonical_action
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oversight.errors import UserError, first_error

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class Move(BaseModel):
    """A proposal for training the reporter, and the counterexample that breaks it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    proposal: str = Field(min_length=1)
    why: str = Field(min_length=1)
    counterexample: str = Field(min_length=1)
    bad_reporter: str = Field(min_length=1)
    #: an episode of the scenario's world that shows the counterexample's failure (sensors fine, truth bad); a
    #: breaker may offer it as a family's skeleton
    actions: list[str] = Field(default_factory=list)
    #: the executable recipe the proposal maps to (see :mod:`oversight.protocols.elk.recipes`)
    recipe: str | None = None


class Scenario(BaseModel):
    """One ELK setting: what the predictor knows, what the human sees, the question the reporter answers, the
    well-known proposals with their counterexamples, and optionally a world to run episodes in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1)
    #: the reporter's question; "yes" is the good answer (the world's ``truth`` variable is True)
    question: str = Field(min_length=1)
    setting: str = Field(min_length=1)
    predictor: str = Field(min_length=1)
    human: str = Field(min_length=1)
    moves: list[Move] = Field(min_length=1)
    world: World | None = None

    @model_validator(mode="after")
    def _move_actions_exist(self) -> Scenario:
        for i, move in enumerate(self.moves):
            if move.actions and self.world is None:
                raise ValueError(f"moves.{i}.actions: the scenario has no world to run them in")
            unknown = [a for a in move.actions if self.world and canonical_action(a) not in self.world.actions]
            if unknown:
                raise ValueError(f"moves.{i}.actions: unknown action {unknown[0]!r}")
            if move.recipe is not None:
                recipe, error = parse_recipe(move.recipe, self.world)
                if recipe is None:
                    raise ValueError(f"moves.{i}.recipe: {error or 'names no recipe'}")
        return self


def load_scenario_file(path: Path) -> Scenario:
    """The scenario in a TOML file, whose ``id`` must match the file name; UserError naming the file and field for
    anything wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: cannot read scenario ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: {first_error(exc, quoted=True)}") from None
    if scenario.id != path.stem:
        raise UserError(f"{path}: field 'id': {scenario.id!r} should match the file name {path.stem!r}")
    return scenario


@cache
def library() -> tuple[Scenario, ...]:
    """Every built-in scenario: SmartVault (the running example) first, then the rest by file name."""
    paths = sorted(SCENARIO_DIR.glob("*.toml"), key=lambda path: (path.stem != "smartvault", path.stem))
    return tuple(load_scenario_file(path) for path in paths)


def scenario_of(task: str, item_id: str, meta: dict[str, Any]) -> Scenario:
    """The scenario an ELK task item carries in ``meta.scenario``."""
    data = meta.get("scenario")
    if not isinstance(data, dict):
        raise UserError(
            f"task {task!r} item {item_id!r}: elk plays ELK scenarios and this item has none in meta.scenario "
            "(use --task elk-scenarios)"
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"task {task!r} item {item_id!r}: meta.scenario {first_error(exc, quoted=True)}") from None
