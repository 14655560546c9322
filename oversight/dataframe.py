"""A run's games as one pandas DataFrame, a row per game with flat columns (``oversight.load_run``).

pandas is the ``analysis`` extra, imported only when a run is loaded. The columns, in order:

- ``game_id``, ``protocol``, ``variant``, ``task``, ``item_id``, ``phase``, ``sample``, ``status``, ``correct``
  (nullable boolean), ``answer``, ``question``, ``n_choices``, ``choice_order`` (the record's list as ``"1,0"``;
  empty when the choices were shown in the task's order);
- ``verdict_choice`` (nullable integer), ``verdict_source``, ``verdict_tie_broken``, ``verdict_belief_disagrees``,
  ``verdict_p0``, ``verdict_p1``, … (the judge's probability of each shown choice; NaN where it gave none);
- ``seat_<seat>``: the choice the seat defends (``seat_A``, ``seat_consultant``, …);
- ``role_<role>``: the model spec of each role; ``player_<role>``: its tournament player, where there are players;
- ``turns``, ``calls``, ``cached_calls``, ``prompt_tokens``, ``completion_tokens``: counts summed over the game;
  ``computed_prompt_tokens``: of the prompt tokens of the calls sent to a backend, those it computed rather than
  reused from its prompt cache (missing unless every such call's backend said);
- ``error``, ``started_at``, ``finished_at`` (UTC timestamps);
- ``item_meta_<key>`` and ``meta_<key>``: every scalar value of the item's metadata and of the record's ``meta``
  (a re-judged game's ``meta_source_game``, ``ida``'s ``meta_mode``, …); nested values stay in the JSONL.

A column that only some games have is missing (``pd.isna``) in the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oversight.models.base import Usage
from oversight.records import GameRecord
from oversight.runfolder import RunFolder

if TYPE_CHECKING:
    import pandas as pd

#: what to install when pandas is missing
PANDAS_MISSING = "oversight.load_run needs pandas: pip install 'oversight-sim[analysis]'"

_SCALARS = (str, int, float, bool)
#: the columns every frame has, before and after the ones that depend on the games
_HEAD = ("game_id", "protocol", "variant", "task", "item_id", "phase", "sample", "status", "correct", "answer",
         "question", "n_choices", "choice_order", "verdict_choice", "verdict_source", "verdict_tie_broken",
         "verdict_belief_disagrees")
_TAIL = ("turns", "calls", "cached_calls", "prompt_tokens", "computed_prompt_tokens", "completion_tokens", "error",
         "started_at", "finished_at")
_NULLABLE_INTEGERS = ("phase", "sample", "n_choices", "verdict_choice", "turns", "calls", "cached_calls",
                      "prompt_tokens", "computed_prompt_tokens", "completion_tokens")
_NULLABLE_BOOLEANS = ("correct", "verdict_tie_broken", "verdict_belief_disagrees")


def game_row(record: GameRecord) -> dict[str, Any]:
    """One game as a flat dict of the columns described in the module's docstring."""
    verdict = record.verdict
    row: dict[str, Any] = {
        "game_id": record.game_id,
        "protocol": record.protocol,
        "variant": record.variant,
        "task": record.task,
        "item_id": record.item_id,
        "phase": record.phase,
        "sample": record.sample,
        "status": record.status,
        "correct": record.correct,
        "answer": record.answer,
        "question": record.question,
        "n_choices": len(record.choices),
        "choice_order": ",".join(map(str, record.choice_order)),
        "verdict_choice": verdict.choice if verdict else None,
        "verdict_source": verdict.source if verdict else None,
        "verdict_tie_broken": verdict.tie_broken if verdict else None,
        "verdict_belief_disagrees": verdict.belief_disagrees if verdict else None,
    }
    for position, probability in enumerate((verdict.probabilities if verdict else None) or []):
        row[f"verdict_p{position}"] = probability
    row.update({f"seat_{seat}": choice for seat, choice in record.seating.items()})
    row.update({f"role_{role}": spec for role, spec in record.roles.items()})
    row.update({f"player_{role}": player for role, player in record.players.items()})
    # a sum of usages knows its reuse only when every part said (Usage.__add__); replayed calls sent nothing
    sent = sum((call.usage for call in record.calls if not call.cached), Usage())
    row.update(
        turns=len(record.turns),
        calls=len(record.calls),
        cached_calls=sum(call.cached for call in record.calls),
        prompt_tokens=sum(call.usage.prompt_tokens for call in record.calls),
        computed_prompt_tokens=sent.computed_prompt_tokens,
        completion_tokens=sum(call.usage.completion_tokens for call in record.calls),
        error=record.error,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )
    row.update({f"item_meta_{k}": v for k, v in record.item_meta.items() if isinstance(v, _SCALARS)})
    row.update({f"meta_{k}": v for k, v in record.meta.items() if isinstance(v, _SCALARS)})
    return row


def game_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The columns of these :func:`game_row` rows in the documented order (those that depend on the games in the
    order first met); ``oversight export --format csv`` writes the same."""
    seen = [c for c in dict.fromkeys(key for row in rows for key in row) if c not in _HEAD and c not in _TAIL]
    probabilities = sorted((c for c in seen if c.startswith("verdict_p")), key=lambda c: int(c[len("verdict_p"):]))

    def prefixed(prefix: str) -> list[str]:
        return [c for c in seen if c.startswith(prefix)]

    return [*_HEAD, *probabilities, *prefixed("seat_"), *prefixed("role_"), *prefixed("player_"), *_TAIL,
            *prefixed("item_meta_"), *prefixed("meta_")]


def load_run(path: str | Path) -> pd.DataFrame:
    """The games of the run folder at ``path`` as a DataFrame, one row per game in the log's order (see the module's
    docstring for the columns). ImportError when pandas is not installed; UserError when ``path`` is no run."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(PANDAS_MISSING) from None
    folder = RunFolder.open_existing(Path(path))
    # rows are flat dicts: the records themselves are never all held at once
    rows = [game_row(record) for record in folder.iter_records()]
    frame = pd.DataFrame(rows, columns=game_columns(rows))
    for column in _NULLABLE_BOOLEANS:
        frame[column] = frame[column].astype("boolean")
    for column in (*_NULLABLE_INTEGERS, *(c for c in frame.columns if c.startswith("seat_"))):
        frame[column] = frame[column].astype("Int64")
    for column in ("started_at", "finished_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
