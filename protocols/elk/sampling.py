"""Drawing episodes of a world at random: the ordinary nights a human labels, the schemes a predictor must also
forecast, and the family of episodes a breaker's counterexample stands for.

Every draw is a random walk over the actions valid at each step, so every episode it returns runs without error.
The truth never decides which episodes are drawn: tampering is made common by weighting the actions that set a
tampering variable, not by keeping the episodes whose truth is bad.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
from oversight.protocols.elk.world import Episode, World, apply, run

#: the longest episode the predictor is trained on and a family draws
HORIZON = 12
#: how much likelier a tampering action is than any other in a scheme
TAMPER_WEIGHT = 4.0
#: attempts per wanted episode before a family is declared unsatisfiable
ATTEMPTS = 20


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream ``name`` of ``seed``: each draw of the experiment (predictor training, a recipe's
    episodes, the test set, a family) has its own, so no two draws share episodes by accident, within a seed or
    across seeds."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def tampering_actions(world: World) -> list[str]:
    """The actions that can set a variable some sensor is spoofed by: the tricks that fool the human."""
    spoofers = {v for sensor in world.sensors.values() for v in sensor.spoofed_by}
    return [
        name for name, action in world.actions.items() if any(case.set.get(v) for case in action.cases for v in spoofers)
    ]


def _valid(world: World, state: dict[str, bool], names: Sequence[str]) -> list[str]:
    return [name for name in names if apply(world, dict(state), name)[1] is None]


def _walk(world: World, rng: np.random.Generator, allowed: Sequence[str], weights: dict[str, float]) -> Episode:
    state, actions = dict(world.initial), []
    for _ in range(int(rng.integers(1, HORIZON + 1))):
        options = _valid(world, state, allowed)
        if not options:
            break
        p = np.array([weights.get(name, 1.0) for name in options])
        name = options[int(rng.choice(len(options), p=p / p.sum()))]
        apply(world, state, name)
        actions.append(name)
    return run(world, actions)


def ordinary(world: World, rng: np.random.Generator, n: int) -> list[Episode]:
    """``n`` episodes that use no tampering action: the nights on which the human's view is the truth."""
    tricks = set(tampering_actions(world))
    allowed = [name for name in world.actions if name not in tricks]
    return [_walk(world, rng, allowed, {}) for _ in range(n)]


def schemes(world: World, rng: np.random.Generator, n: int, tricks: Sequence[str] | None = None) -> list[Episode]:
    """``n`` episodes in which tampering is common: every action may happen, the tricks (all tampering actions
    unless given) ``TAMPER_WEIGHT`` times likelier; on half of them the defenders stay idle."""
    tricks = tampering_actions(world) if tricks is None else list(tricks)
    every_trick = set(tampering_actions(world))
    allowed_all = [name for name in world.actions if name not in every_trick or name in tricks]
    defenders = {name for name, a in world.actions.items() if not any(a.actor == world.actions[t].actor for t in tricks)}
    weights = dict.fromkeys(tricks, TAMPER_WEIGHT)
    return [
        _walk(world, rng, allowed_all if i % 2 else [a for a in allowed_all if a not in defenders], weights)
        for i in range(n)
    ]


def family(world: World, skeleton: Sequence[str], rng: np.random.Generator, n: int) -> tuple[list[Episode], int]:
    """Up to ``n`` distinct-draw episodes that contain ``skeleton`` in order with random valid actions between its
    steps (at most ``HORIZON`` actions in all), and how many draws were tried.

    A draw that cannot continue the skeleton (a step's precondition fails after an inserted action) is thrown
    away, so every episode returned is valid; fewer than ``n`` come back when the skeleton is rarely satisfiable.
    """
    spare = max(HORIZON - len(skeleton), 0)
    episodes: list[Episode] = []
    tried = 0
    while len(episodes) < n and tried < ATTEMPTS * n:
        tried += 1
        state, actions = dict(world.initial), []
        budget = int(rng.integers(0, spare + 1))
        gaps = np.sort(rng.integers(0, len(skeleton) + 1, size=budget))
        ok = True
        for position in range(len(skeleton) + 1):
            for _ in range(int(np.sum(gaps == position))):
                options = _valid(world, state, list(world.actions))
                if options:
                    name = options[int(rng.integers(len(options)))]
                    apply(world, state, name)
                    actions.append(name)
            if position < len(skeleton):
                if apply(world, state, skeleton[position])[1] is not None:
                    ok = False
                    break
                actions.append(skeleton[position])
        if ok:
            episodes.append(run(world, actions))
    return episodes, tried
