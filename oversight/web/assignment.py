"""Which stored games each judge of a web judging session gets: the documented balancing rule.

Every game is judged once, by one judge, and no judge gets two games of the same item (seeing one seating of an
item would give away the other). Within those rules the games are balanced over protocols and *layouts* (which
seats defend the correct answer, and where the correct answer is shown), for the session as a whole and for each
judge. The rule, deterministic for a stored run and a seed (the stored run's own):

1. **Each protocol's queue.** Its items in a seeded order; its layouts in a seeded order. Round ``r`` takes, for
   the ``k``-th item, its game in layout ``(k + r) mod L``: the first round shows every item once with the layouts
   in turn, the next round the items' other layouts, and so on (an item played several times in one layout gives
   one game per round through it).
2. **The session's order.** The protocols' queues taken in turn (by name), one game each, skipping a protocol whose
   queue is spent: the games chosen split evenly over the protocols as far as each has games.
3. **Dealing.** Each game in that order goes to a judge with room (fewer than ``per_judge`` games) and no game of
   its item, choosing the one with the fewest games of its protocol, then of its protocol and layout, then the
   fewest games, then the lowest number. A game no judge can take is left out; dealing stops when every judge is
   full.
4. **Each judge's order.** A judge's games in a seeded order of their own, so that no two judges meet the protocols
   in the same sequence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from oversight.draws import permutation


@dataclass(frozen=True)
class Candidate:
    """A stored game that may be judged, as the rule reads it."""

    game_id: str
    protocol: str
    #: (task, item id): a judge gets one game of an item at most
    item: tuple[str, str]
    #: which seats defend the correct answer and where it is shown
    layout: Hashable


def _seeded(values: Sequence[Hashable], seed: int, *key: object) -> list[Hashable]:
    ordered = sorted(values, key=repr)
    return [ordered[i] for i in permutation(len(ordered), seed, "web judging", *key)]


def protocol_queue(games: Sequence[Candidate], seed: int) -> list[Candidate]:
    """One protocol's games in the order of step 1: items in turn, each round in the next layout of each item."""
    if not games:
        return []
    protocol = games[0].protocol
    by_item: dict[tuple[str, str], dict[Hashable, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for game in sorted(games, key=lambda g: g.game_id):
        by_item[game.item][game.layout].append(game)
    items = _seeded(list(by_item), seed, protocol, "items")
    layouts = _seeded(list({g.layout for g in games}), seed, protocol, "layouts")
    deepest = max(len(same) for layouts_of in by_item.values() for same in layouts_of.values())
    queue: list[Candidate] = []
    for round_ in range(len(layouts) * deepest):
        depth, turn = divmod(round_, len(layouts))
        for k, item in enumerate(items):
            same = by_item[item].get(layouts[(k + turn) % len(layouts)], [])  # type: ignore[index]
            if depth < len(same):
                queue.append(same[depth])
    return queue


def session_order(games: Sequence[Candidate], seed: int) -> list[Candidate]:
    """Every game in the order of step 2: the protocols' queues taken in turn."""
    by_protocol: dict[str, list[Candidate]] = defaultdict(list)
    for game in games:
        by_protocol[game.protocol].append(game)
    queues = [protocol_queue(by_protocol[name], seed) for name in sorted(by_protocol)]
    longest = max((len(q) for q in queues), default=0)
    return [queue[i] for i in range(longest) for queue in queues if i < len(queue)]


def assign(games: Sequence[Candidate], judges: int, per_judge: int | None, seed: int) -> list[list[str]]:
    """Each judge's game ids, in the order they are shown (steps 1–4); ``per_judge`` None: no cap."""
    cap = per_judge if per_judge is not None else len(games)
    dealt: list[list[Candidate]] = [[] for _ in range(judges)]
    items: list[set[tuple[str, str]]] = [set() for _ in range(judges)]
    by_protocol: list[Counter[str]] = [Counter() for _ in range(judges)]
    by_layout: list[Counter[tuple[str, Hashable]]] = [Counter() for _ in range(judges)]
    for game in session_order(games, seed):
        open_ = [j for j in range(judges) if len(dealt[j]) < cap and game.item not in items[j]]
        if not open_:
            if all(len(d) >= cap for d in dealt):
                break
            continue
        layout = (game.protocol, game.layout)
        chosen = min(open_, key=lambda j: (by_protocol[j][game.protocol], by_layout[j][layout], len(dealt[j]), j))
        dealt[chosen].append(game)
        items[chosen].add(game.item)
        by_protocol[chosen][game.protocol] += 1
        by_layout[chosen][layout] += 1
    return [
        [mine[i].game_id for i in permutation(len(mine), seed, "web judging", "judge order", j)]
        for j, mine in enumerate(dealt)
    ]
