"""Seeded draws: breaking ties and assigning seats and choice orders without favouring the first.

Anything that must pick between equals picks by a draw fixed by its inputs (a seed and what is being decided),
so a rerun makes the same pick and no position is preferred. Assignments over a run are balanced: every value
is given to as many items as every other (up to one), in an order shuffled by the seed.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def _rng(*key: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def draw(options: Sequence[T], *key: object) -> T:
    """One of ``options``, fixed by ``key``."""
    if not options:
        raise ValueError("nothing to draw from")
    return options[_rng(*key).randrange(len(options))]


def balanced(index: int, values: int, *seed: object) -> int:
    """A value in ``range(values)`` for the ``index``-th key of a sequence, so that over any prefix of the
    sequence every value is used equally often (±1): each block of ``values`` consecutive keys gets a seeded
    permutation of them. A longer run (a higher ``--limit``) keeps the assignments of the keys it shares."""
    block, within = divmod(index, values)
    return permutation(values, "balanced", *seed, block)[within]


def permutation(n: int, *key: object) -> list[int]:
    """A shuffled ``range(n)``, fixed by ``key``."""
    order = list(range(n))
    _rng("permutation", *key).shuffle(order)
    return order
