"""``oversight compare``: is one side's judge accuracy really different from another's, on the same items?

Two *sides* are compared: two runs (``RUN_A RUN_B``, each optionally narrowed to one protocol as ``RUN:PROTOCOL``),
or two groups of games within one run (by protocol, by judge or by player). Their games are paired, and each
comparison reports both accuracies over the pairs, the difference with a 95% paired bootstrap interval, the
discordant pairs and McNemar's exact test on them.

**Pairing unit.** A comparison pairs *games* when the two sides played the same games, and *items* otherwise:

- a re-judged game (``meta.source_game``) pairs with the game it judged again;
- otherwise a game's key is its task, item, phase, seating, choice order and sample, plus the player of every role
  whose players are the same on both sides (so the role being compared — a judge, a debater — is left out, and a
  tournament's other players still tell its matchups apart). When every key is unique within its side and, for
  every item both sides played, one side's keys of it are among the other's, games with equal keys are pairs;
- otherwise (e.g. debate against consultancy, whose seatings differ) an item's outcome on a side is the mean of its
  games' correctness, and items are pairs.

Accuracy is over the pairs (at the item unit each item weighs the same). The bootstrap resamples items with all
their pairs, so games of one item are never treated as independent. McNemar's test needs a right/wrong outcome per
pair: at the item unit that is the item's majority, and items tied on either side are left out of the test and
counted as ``ties``. Failed games and games without a score are never paired, and are counted.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from oversight.errors import UserError
from oversight.ratings import player_of
from oversight.records import GameRecord, Interval
from oversight.runfolder import RunFolder
from oversight.scoring import group_name

COMPARE_SCHEMA_VERSION = 1
#: how one run's games are split into groups to compare with each other
GroupBy = Literal["protocol", "judge", "player"]
Unit = Literal["game", "item"]
#: resampled indices held at once by the bootstrap (the resamples are drawn in chunks of about this size)
_BOOTSTRAP_CHUNK = 2_000_000


@dataclass(frozen=True, slots=True)
class ComparedGame:
    """What pairing reads from one game, so that a long run's games are held without their transcripts."""

    game_id: str
    #: the game a re-judged game judged again
    source_game: str | None
    #: the protocol, and the kind of game within it (``ida/direct``)
    protocol: str
    #: (task, item id)
    item: tuple[str, str]
    #: phase, seating, choice order and sample: which game of the item this is
    shape: tuple[Hashable, ...]
    #: (role, player) for every role: the tournament player's name, else the model spec
    players: tuple[tuple[str, str], ...]
    status: str
    correct: bool | None

    @property
    def scored(self) -> bool:
        """Complete, with a right or wrong outcome: only such games are paired."""
        return self.status == "complete" and self.correct is not None

    @property
    def judge(self) -> str | None:
        """The judge's player, or None when the game has no judge."""
        return dict(self.players).get("judge")

    @property
    def player_label(self) -> str:
        """Who played the roles other than the judge, as ``role=player, …`` (empty for judge-only games)."""
        return ", ".join(f"{role}={player}" for role, player in self.players if role != "judge")


def compared_game(record: GameRecord) -> ComparedGame:
    """The fields of a record that pairing and scoring read."""
    source = record.meta.get("source_game")
    return ComparedGame(
        game_id=record.game_id,
        source_game=source if isinstance(source, str) else None,
        protocol=group_name(record),
        item=(record.task, record.item_id),
        shape=(record.phase, tuple(sorted(record.seating.items())), tuple(record.choice_order), record.sample),
        players=tuple((role, player_of(record, role)) for role in record.roles),
        status=record.status,
        correct=record.correct,
    )


class CompareSide(BaseModel):
    """One side of a comparison: which run, which protocol, and the judge or player it is narrowed to."""

    run: str
    protocol: str
    #: with ``--by judge``: the judge of this side's games
    judge: str | None = None
    #: with ``--by player``: who played the other roles, ``role=player, …``
    player: str | None = None


class Comparison(BaseModel):
    """Side A against side B over their paired games or items."""

    label: str
    a: CompareSide
    b: CompareSide
    #: what was paired: ``game`` (the same game on both sides) or ``item`` (an item's games on each side)
    unit: Unit
    #: pairs compared (games or items)
    pairs: int
    accuracy_a: float | None
    accuracy_b: float | None
    #: accuracy_a − accuracy_b
    difference: float | None
    #: 95% paired bootstrap interval of the difference, resampling items
    ci95: Interval | None
    #: discordant pairs (McNemar's b and c): A right and B wrong, A wrong and B right
    a_right_b_wrong: int
    a_wrong_b_right: int
    #: item pairs left out of McNemar's test because the item's games were tied on a side (item unit only)
    ties: int
    #: McNemar's exact test: two-sided binomial test of b out of b + c at 1/2 (1.0 when no pair is discordant)
    mcnemar_p: float | None
    #: games that failed, on each side: never paired
    failed_a: int
    failed_b: int
    #: complete games without a right or wrong outcome, on each side: never paired
    unscored_a: int
    unscored_b: int
    #: scored games (game unit) or items (item unit) of one side with no scored partner on the other
    unpaired_a: int
    unpaired_b: int
    #: ids of items played on one side only
    only_in_a: list[str]
    only_in_b: list[str]


class CompareReport(BaseModel):
    """Everything ``oversight compare`` prints, as ``--json`` writes it."""

    schema_version: int = COMPARE_SCHEMA_VERSION
    #: how one run was split into groups (``protocol`` when two runs are compared)
    by: GroupBy
    seed: int
    resamples: int
    comparisons: list[Comparison]


@dataclass(frozen=True)
class RunSelection:
    """A ``RUN`` or ``RUN:PROTOCOL`` argument: a run folder and, optionally, the one protocol to take from it."""

    name: str
    folder: RunFolder
    protocol: str | None


def parse_selection(argument: str) -> RunSelection:
    """Read ``RUN`` or ``RUN:PROTOCOL``; a folder whose own name holds a colon is taken whole."""
    path, protocol = Path(argument), None
    if not path.is_dir() and ":" in argument:
        head, _, protocol = argument.rpartition(":")
        path = Path(head)
        if not protocol:
            raise UserError(f"{argument!r}: expected RUN or RUN:PROTOCOL")
    return RunSelection(name=str(path), folder=RunFolder.open_existing(path), protocol=protocol)


def _read(selection: RunSelection) -> list[ComparedGame]:
    """The selected games of a run, read one record at a time; UserError when the protocol filter matches none."""
    games = [compared_game(record) for record in selection.folder.iter_records()]
    if not games:
        raise UserError(f"{selection.name}: no games in the run")
    if selection.protocol is None:
        return games
    chosen = [g for g in games if selection.protocol in (g.protocol, g.protocol.split("/")[0])]
    if not chosen:
        have = ", ".join(sorted({g.protocol for g in games}))
        raise UserError(f"{selection.name}: no games of protocol {selection.protocol!r} (it has {have})")
    return chosen


def _by_group(
    games: Iterable[ComparedGame], label: Callable[[ComparedGame], str | None]
) -> dict[str, list[ComparedGame]]:
    groups: dict[str, list[ComparedGame]] = defaultdict(list)
    for game in games:
        name = label(game)
        if name:
            groups[name].append(game)
    return dict(sorted(groups.items()))


@dataclass
class Pairing:
    """The pairs of a comparison, and what found no partner."""

    unit: Unit
    #: (item, outcome on A, outcome on B): 0/1 per game pair, the mean of the item's games per item pair
    pairs: list[tuple[tuple[str, str], float, float]]
    unpaired_a: int
    unpaired_b: int


def _unique(
    games: Sequence[ComparedGame], key: Callable[[ComparedGame], Hashable]
) -> dict[Hashable, ComparedGame] | None:
    """Games by key, or None when two games share one (the key does not tell them apart)."""
    index: dict[Hashable, ComparedGame] = {}
    for game in games:
        k = key(game)
        if k in index:
            return None
        index[k] = game
    return index


def _same_game_keys(
    a: Sequence[ComparedGame], b: Sequence[ComparedGame]
) -> tuple[Callable[[ComparedGame], Hashable], Callable[[ComparedGame], Hashable]]:
    """How games of A and B are matched as the same game: by ``source_game`` when one side judged the other's games
    again, else by item, seating, choice order, sample and the players of the roles both sides agree on."""
    ids_a, ids_b = {g.game_id for g in a}, {g.game_id for g in b}
    if any(g.source_game in ids_a for g in b):
        return (lambda g: g.game_id), (lambda g: g.source_game)
    if any(g.source_game in ids_b for g in a):
        return (lambda g: g.source_game), (lambda g: g.game_id)
    players_a: dict[str, set[str]] = defaultdict(set)
    players_b: dict[str, set[str]] = defaultdict(set)
    for games, players in ((a, players_a), (b, players_b)):
        for game in games:
            for role, player in game.players:
                players[role].add(player)
    # a role whose players differ between the sides is what is compared; the others tell matchups apart
    kept = {role for role, names in players_a.items() if players_b.get(role) == names}

    def key(game: ComparedGame) -> Hashable:
        return game.item, game.shape, tuple(p for p in game.players if p[0] in kept)

    return key, key


def _pair_games(a: dict[Hashable, ComparedGame], b: dict[Hashable, ComparedGame]) -> Pairing:
    pairs = []
    unpaired_a = 0
    for key, game in a.items():
        if not game.scored:
            continue
        partner = b.get(key)
        if partner is not None and partner.scored:
            pairs.append((game.item, float(bool(game.correct)), float(bool(partner.correct))))
        else:
            unpaired_a += 1
    unpaired_b = sum(1 for key, game in b.items() if game.scored and not (key in a and a[key].scored))
    return Pairing("game", pairs, unpaired_a, unpaired_b)


def _pair_items(a: Sequence[ComparedGame], b: Sequence[ComparedGame]) -> Pairing:
    outcomes: list[dict[tuple[str, str], list[float]]] = [defaultdict(list), defaultdict(list)]
    for games, by_item in zip((a, b), outcomes, strict=True):
        for game in games:
            if game.scored:
                by_item[game.item].append(float(bool(game.correct)))
    on_a, on_b = outcomes
    pairs = [(item, float(np.mean(on_a[item])), float(np.mean(on_b[item]))) for item in on_a if item in on_b]
    return Pairing("item", pairs, sum(item not in on_b for item in on_a), sum(item not in on_a for item in on_b))


def _same_games(a: dict[Hashable, ComparedGame], b: dict[Hashable, ComparedGame]) -> bool:
    """Whether, for every item both sides played, one side's games of it are among the other side's (one side may
    have played fewer seatings, or been stopped early), and there is such an item."""
    keys: list[dict[tuple[str, str], set[Hashable]]] = [defaultdict(set), defaultdict(set)]
    for index, by_item in zip((a, b), keys, strict=True):
        for key, game in index.items():
            by_item[game.item].add(key)
    on_a, on_b = keys
    shared = on_a.keys() & on_b.keys()
    return bool(shared) and all(on_a[item] <= on_b[item] or on_b[item] <= on_a[item] for item in shared)


def pair(a: Sequence[ComparedGame], b: Sequence[ComparedGame]) -> Pairing:
    """Pair A's games with B's: game by game when both sides played the same games, else item by item."""
    key_a, key_b = _same_game_keys(a, b)
    index_a, index_b = _unique(a, key_a), _unique(b, key_b)
    if index_a is not None and index_b is not None and _same_games(index_a, index_b):
        return _pair_games(index_a, index_b)
    return _pair_items(a, b)


def bootstrap_interval(
    pairs: Sequence[tuple[tuple[str, str], float, float]], seed: int, resamples: int
) -> Interval:
    """95% percentile interval of the accuracy difference, resampling items (each with all its pairs)."""
    by_item: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for item, on_a, on_b in pairs:
        totals = by_item[item]
        totals[0] += 1
        totals[1] += on_a - on_b
    counts, differences = (np.array(column) for column in zip(*by_item.values(), strict=True))
    rng = np.random.default_rng(seed)
    items = len(counts)
    draws = []
    chunk = max(1, _BOOTSTRAP_CHUNK // items)
    for start in range(0, resamples, chunk):
        picked = rng.integers(0, items, size=(min(chunk, resamples - start), items))
        draws.append(differences[picked].sum(axis=1) / counts[picked].sum(axis=1))
    low, high = np.percentile(np.concatenate(draws), [2.5, 97.5])
    return Interval(low=float(low), high=float(high))


def _majority(outcome: float) -> bool | None:
    """Right, wrong, or None for an item whose games split evenly."""
    return None if outcome == 0.5 else outcome > 0.5


def mcnemar_exact(right_wrong: int, wrong_right: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b out of b + c discordant pairs at 1/2."""
    if right_wrong + wrong_right == 0:
        return 1.0
    from scipy.stats import binomtest  # here, not above: scipy takes a second to import

    return float(binomtest(right_wrong, right_wrong + wrong_right, 0.5, alternative="two-sided").pvalue)


def compare_sides(
    label: str,
    side_a: CompareSide,
    games_a: Sequence[ComparedGame],
    side_b: CompareSide,
    games_b: Sequence[ComparedGame],
    *,
    seed: int,
    resamples: int,
) -> Comparison:
    """Pair A's games with B's and compute every figure of the comparison."""
    pairing = pair(games_a, games_b)
    pairs = pairing.pairs
    right_wrong = wrong_right = ties = 0
    for _, on_a, on_b in pairs:
        verdicts = (_majority(on_a), _majority(on_b))
        if None in verdicts:
            ties += 1
        elif verdicts == (True, False):
            right_wrong += 1
        elif verdicts == (False, True):
            wrong_right += 1
    accuracy_a = float(np.mean([p[1] for p in pairs])) if pairs else None
    accuracy_b = float(np.mean([p[2] for p in pairs])) if pairs else None
    items_a, items_b = {g.item for g in games_a}, {g.item for g in games_b}
    return Comparison(
        label=label,
        a=side_a,
        b=side_b,
        unit=pairing.unit,
        pairs=len(pairs),
        accuracy_a=accuracy_a,
        accuracy_b=accuracy_b,
        difference=None if accuracy_a is None or accuracy_b is None else accuracy_a - accuracy_b,
        ci95=bootstrap_interval(pairs, seed, resamples) if pairs else None,
        a_right_b_wrong=right_wrong,
        a_wrong_b_right=wrong_right,
        ties=ties,
        mcnemar_p=mcnemar_exact(right_wrong, wrong_right) if pairs else None,
        failed_a=sum(g.status == "failed" for g in games_a),
        failed_b=sum(g.status == "failed" for g in games_b),
        unscored_a=sum(g.status == "complete" and g.correct is None for g in games_a),
        unscored_b=sum(g.status == "complete" and g.correct is None for g in games_b),
        unpaired_a=pairing.unpaired_a,
        unpaired_b=pairing.unpaired_b,
        only_in_a=sorted(item_id for _, item_id in items_a - items_b),
        only_in_b=sorted(item_id for _, item_id in items_b - items_a),
    )


def _narrowed(run: str, protocol: str, by: GroupBy, group: str) -> CompareSide:
    return CompareSide(
        run=run, protocol=protocol, judge=group if by == "judge" else None, player=group if by == "player" else None
    )


def _within_run(
    selection: RunSelection, games: list[ComparedGame], by: GroupBy, seed: int, resamples: int
) -> list[Comparison]:
    """Every pair of groups of one run: protocols, or judges or players within each protocol."""
    comparisons = []
    if by == "protocol":
        protocols = _by_group(games, lambda g: g.protocol)
        for first, second in itertools.combinations(protocols, 2):
            comparisons.append(compare_sides(
                f"{first} vs {second}",
                CompareSide(run=selection.name, protocol=first), protocols[first],
                CompareSide(run=selection.name, protocol=second), protocols[second],
                seed=seed, resamples=resamples,
            ))
        if not comparisons:
            raise UserError(
                f"{selection.name}: one protocol ({next(iter(protocols))}), nothing to compare it with; give a "
                "second run (oversight compare RUN_A RUN_B) or split it with --by judge or --by player"
            )
        return comparisons
    label: Callable[[ComparedGame], str | None] = (lambda g: g.judge) if by == "judge" else (lambda g: g.player_label)
    for protocol, of_protocol in _by_group(games, lambda g: g.protocol).items():
        groups = _by_group(of_protocol, label)
        for first, second in itertools.combinations(groups, 2):
            comparisons.append(compare_sides(
                f"{protocol}: {first} vs {second}",
                _narrowed(selection.name, protocol, by, first), groups[first],
                _narrowed(selection.name, protocol, by, second), groups[second],
                seed=seed, resamples=resamples,
            ))
    if not comparisons:
        raise UserError(
            f"{selection.name}: no protocol has games of two different {by}s to compare; give a second run "
            "(oversight compare RUN_A RUN_B)"
        )
    return comparisons


def _between_runs(
    first: RunSelection, games_a: list[ComparedGame], second: RunSelection, games_b: list[ComparedGame],
    seed: int, resamples: int,
) -> list[Comparison]:
    """Run A against run B: as one pair when each side holds one protocol, else protocol by protocol."""
    groups_a = _by_group(games_a, lambda g: g.protocol)
    groups_b = _by_group(games_b, lambda g: g.protocol)
    if len(groups_a) == 1 and len(groups_b) == 1:
        (name_a, only_a), (name_b, only_b) = next(iter(groups_a.items())), next(iter(groups_b.items()))
        label = name_a if name_a == name_b else f"{name_a} vs {name_b}"
        return [compare_sides(
            label, CompareSide(run=first.name, protocol=name_a), only_a,
            CompareSide(run=second.name, protocol=name_b), only_b, seed=seed, resamples=resamples,
        )]
    shared = [name for name in groups_a if name in groups_b]
    if not shared:
        raise UserError(
            f"{first.name} and {second.name} share no protocol; name the two to compare, e.g. "
            f"{first.name}:{next(iter(groups_a))} {second.name}:{next(iter(groups_b))}"
        )
    return [
        compare_sides(
            name, CompareSide(run=first.name, protocol=name), groups_a[name],
            CompareSide(run=second.name, protocol=name), groups_b[name], seed=seed, resamples=resamples,
        )
        for name in shared
    ]


def compare_runs(
    arguments: Sequence[str], by: GroupBy = "protocol", seed: int = 0, resamples: int = 10_000
) -> CompareReport:
    """Compare the groups of one run (``by``), or two runs (each ``RUN`` or ``RUN:PROTOCOL``) side against side."""
    if not 1 <= len(arguments) <= 2:
        raise UserError(f"oversight compare: give one or two runs, not {len(arguments)}")
    selections = [parse_selection(argument) for argument in arguments]
    games = [_read(selection) for selection in selections]
    if len(selections) == 1:
        comparisons = _within_run(selections[0], games[0], by, seed, resamples)
    elif by != "protocol":
        raise UserError(f"--by {by} splits one run; with two runs, each run is one side")
    else:
        comparisons = _between_runs(selections[0], games[0], selections[1], games[1], seed, resamples)
    return CompareReport(by=by, seed=seed, resamples=resamples, comparisons=comparisons)


def _side_text(side: CompareSide) -> str:
    narrowed = side.judge or side.player
    return f"{side.run} · {side.protocol}" + (f" · {narrowed}" if narrowed else "")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ids(ids: list[str], shown: int = 10) -> str:
    more = f", … ({len(ids) - shown} more)" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def print_report(report: CompareReport) -> None:
    """One table per comparison (A and B side by side), then the difference, its interval and McNemar's test."""
    from rich.console import Console  # here, not above: only printing needs rich's tables
    from rich.table import Table
    from rich.text import Text

    # piped output has no terminal width; rich's 80 columns would wrap the figures' lines
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(highlight=False, width=120 if piped else None)
    for comparison in report.comparisons:
        unit = "games" if comparison.unit == "game" else "items"
        # run and player names are shown as written, never read as markup
        table = Table(title=Text(f"{comparison.label}: {comparison.pairs} paired {unit}"), title_justify="left")
        for column in ("", "A", "B"):
            table.add_column(column, justify="left" if not column else "right")
        table.add_row("side", Text(_side_text(comparison.a)), Text(_side_text(comparison.b)))
        table.add_row("accuracy", _share(comparison.accuracy_a), _share(comparison.accuracy_b))
        table.add_row("failed games", str(comparison.failed_a), str(comparison.failed_b))
        if comparison.unscored_a or comparison.unscored_b:
            table.add_row("unscored games", str(comparison.unscored_a), str(comparison.unscored_b))
        table.add_row(f"unpaired {unit}", str(comparison.unpaired_a), str(comparison.unpaired_b))
        table.add_row("items on this side only", str(len(comparison.only_in_a)), str(len(comparison.only_in_b)))
        console.print(table)
        if comparison.difference is not None and comparison.ci95 is not None:
            ci = comparison.ci95
            console.print(
                f"A − B: {comparison.difference:+.1%} [95% CI {ci.low:+.1%}, {ci.high:+.1%}] "
                f"(bootstrap over items, {report.resamples} resamples, seed {report.seed})", markup=False,
            )
            ties = f", {comparison.ties} tied items left out" if comparison.ties else ""
            console.print(
                f"discordant: A right B wrong {comparison.a_right_b_wrong}, A wrong B right "
                f"{comparison.a_wrong_b_right}{ties}; McNemar exact p = {comparison.mcnemar_p:.4g}", markup=False,
            )
        else:
            console.print("nothing paired: no item has scored games on both sides", markup=False)
        for side, ids in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
            if ids:
                console.print(f"items only in {side}: {_ids(ids)}", markup=False, soft_wrap=True)
        console.print()
