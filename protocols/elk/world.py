"""Executable ELK worlds: a hidden truth, actions that change it, and sensors a human watches.

A world is data (the ``[world]`` table of a scenario file): boolean state variables, actions with
preconditions and first-match cases, and sensors that read the state honestly unless a tampering variable is
set. SmartVault is one such world; so is every other scenario that ships one. Running a list of actions gives an
:class:`Episode`: the latent truth, what the human sees, and whether the two disagree — a *fake positive* is an
episode whose sensors all say "fine" while the truth is not, the case the human simulator gets wrong.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

#: the longest episode a breaker may attach; longer lists are recorded as an error, not run
MAX_STEPS = 50

Category = Literal["fake-positive", "real-positive", "true-alarm", "false-alarm", "invalid"]
CATEGORIES: tuple[Category, ...] = ("fake-positive", "real-positive", "true-alarm", "false-alarm")


class _Strict(BaseModel):
    """The base of a world's parts: an unknown field in a scenario file is an error, and nothing changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Case(_Strict):
    """One outcome of an action: applies when every ``when`` variable has its value (an empty ``when`` always)."""

    when: dict[str, bool] = Field(default_factory=dict)
    set: dict[str, bool] = Field(default_factory=dict)
    note: str


class Action(_Strict):
    """Something an actor can do: when it may happen, and what it changes, by the first of its cases that
    applies."""

    actor: str
    description: str
    #: the action is invalid (an error in the record) unless every one of these holds
    requires: dict[str, bool] = Field(default_factory=dict)
    #: the first case whose ``when`` holds is what happens; the last case must have no ``when``
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _last_case_catches_all(self) -> Action:
        if self.cases[-1].when:
            raise ValueError("the last case must have no 'when', so that something always happens")
        return self


class Sensor(_Strict):
    """One reading the human sees: honest about the state unless a tampering variable is set, which makes it read
    "fine" whatever the truth."""

    description: str
    #: the sensor honestly reads "fine" when every one of these holds
    honest: dict[str, bool]
    #: any of these variables set makes the sensor read "fine" whatever the truth
    spoofed_by: list[str] = Field(default_factory=list)
    #: what the human sees when the sensor reads fine / not fine
    fine: str
    alarm: str


class World(_Strict):
    """A scenario's world: the variables and their initial values, the latent variable the reporter is asked about
    (with how the truth reads either way), and the actions and sensors."""

    initial: dict[str, bool]
    #: the latent variable the reporter's question is about; True is the good answer ("yes")
    truth: str
    truth_yes: str
    truth_no: str
    actions: dict[str, Action] = Field(min_length=1)
    sensors: dict[str, Sensor] = Field(min_length=1)
    #: the tampering actions a human operator knows to stage (the ``staged-cases`` recipe); None means every one
    staged: list[str] | None = None

    @model_validator(mode="after")
    def _variables_exist(self) -> World:
        known = set(self.initial)
        used: list[tuple[str, str]] = [("truth", self.truth)]
        for name, action in self.actions.items():
            used += [(f"actions.{name}.requires", v) for v in action.requires]
            for i, case in enumerate(action.cases):
                used += [(f"actions.{name}.cases.{i}", v) for v in (*case.when, *case.set)]
        for name, sensor in self.sensors.items():
            used += [(f"sensors.{name}", v) for v in (*sensor.honest, *sensor.spoofed_by)]
        for where, variable in used:
            if variable not in known:
                raise ValueError(f"{where}: unknown variable {variable!r} (not in 'initial')")
        unknown = [name for name in self.staged or [] if name not in self.actions]
        if unknown:
            raise ValueError(f"staged: unknown action {unknown[0]!r}")
        bad = [name for name in self.actions if canonical_action(name) != name]
        if bad:
            raise ValueError(f"action name {bad[0]!r}: use lower_case_with_underscores")
        return self


class Step(BaseModel):
    """One action that ran: its name, who did it, and the note of the case that happened."""

    action: str
    actor: str
    note: str


class Episode(BaseModel):
    """One run of an action list: every step's outcome, the final latent state and what the human sees."""

    actions: list[str]
    steps: list[Step] = Field(default_factory=list)
    #: why the episode stopped early (unknown action, precondition not met); None when every step ran
    error: str | None = None
    state: dict[str, bool]
    observations: dict[str, str]
    #: per sensor: does it read "fine"?
    sensors_fine: dict[str, bool]
    #: sensors with a tampering variable set
    spoofed: list[str]
    human_safe: bool
    truth_safe: bool

    @computed_field  # type: ignore[prop-decorator]
    @property
    def category(self) -> Category:
        """Which kind of episode this is, from what the human sees against the truth; ``invalid`` when it stopped on
        an error."""
        if self.error is not None:
            return "invalid"
        if self.human_safe:
            return "real-positive" if self.truth_safe else "fake-positive"
        return "false-alarm" if self.truth_safe else "true-alarm"

    @property
    def fake_positive(self) -> bool:
        """Whether every sensor reads fine while the truth is bad: the case the human simulator gets wrong."""
        return self.category == "fake-positive"


def canonical_action(name: str) -> str:
    """``Place Screen`` / ``place-screen`` / `` `place_screen` `` all name ``place_screen``."""
    return re.sub(r"[\s\-]+", "_", name.strip().strip("`'\".").strip().lower())


def _holds(state: dict[str, bool], conditions: dict[str, bool]) -> bool:
    return all(state[var] == value for var, value in conditions.items())


def apply(world: World, state: dict[str, bool], name: str) -> tuple[Step | None, str | None]:
    """Apply one action to ``state`` in place; return the step, or an error saying why it cannot happen."""
    action = world.actions.get(name)
    if action is None:
        return None, f"unknown action {name!r} (known: {', '.join(world.actions)})"
    unmet = [f"{var} is {str(state[var]).lower()}" for var, value in action.requires.items() if state[var] != value]
    if unmet:
        return None, f"{name} cannot happen now: {', '.join(unmet)}"
    case = next(c for c in action.cases if _holds(state, c.when))
    state.update(case.set)
    return Step(action=name, actor=action.actor, note=case.note), None


def _observe(world: World, actions: list[str], steps: list[Step], state: dict[str, bool], error: str | None) -> Episode:
    fine = {
        name: _holds(state, s.honest) or any(state[v] for v in s.spoofed_by) for name, s in world.sensors.items()
    }
    return Episode(
        actions=actions,
        steps=steps,
        error=error,
        state=dict(state),
        observations={name: (s.fine if fine[name] else s.alarm) for name, s in world.sensors.items()},
        sensors_fine=fine,
        spoofed=[name for name, s in world.sensors.items() if any(state[v] for v in s.spoofed_by)],
        human_safe=all(fine.values()),
        truth_safe=state[world.truth],
    )


def run(world: World, actions: list[str]) -> Episode:
    """Play ``actions`` from the initial state; the first invalid one stops the episode with an error."""
    names = [canonical_action(a) for a in actions]
    state = dict(world.initial)
    steps: list[Step] = []
    if len(names) > MAX_STEPS:
        return _observe(world, names, steps, state, f"{len(names)} actions; an episode has at most {MAX_STEPS}")
    for number, name in enumerate(names, start=1):
        step, error = apply(world, state, name)
        if error is not None:
            return _observe(world, names, steps, state, f"step {number}: {error}")
        assert step is not None
        steps.append(step)
    return _observe(world, names, steps, state, None)
