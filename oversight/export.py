"""``oversight export RUN --format sft|dpo|csv``: a run's games as training data, or as one flat table.

- ``sft``: JSON lines of chat rows, ``{"messages": [system, user, assistant], ...}``, the conversational layout
  that TRL's ``SFTTrainer`` reads; the assistant message is one turn as its model wrote it, the two before it the
  prompt rebuilt for it. ``--role`` keeps one role's turns, ``--keep`` the turns by how they came out (below).
- ``dpo``: JSON lines of preference pairs, ``{"prompt": [system, user], "chosen": [assistant], "rejected":
  [assistant], ...}``, the conversational layout of TRL's ``DPOTrainer``: one prompt answered twice, the reply a
  judge preferred and the one it rejected (in the debate family: two debaters' arguments of one round).
- ``csv``: one row per game (failed ones too), the columns of :func:`oversight.load_run`
  (:mod:`oversight.dataframe`): protocol, item, seating, verdict and its probabilities, correct, tokens, models
  and players.

Which rows a game gives is its protocol's to say (:meth:`~oversight.protocol.Protocol.sft_rows`,
:meth:`~oversight.protocol.Protocol.preference_pairs`): only the family knows what each role saw. ``--keep``:

=========== ===================================================================================================
``all``     every turn (the default)
``winner``  turns of the speakers whose answer the judge picked (debate family)
``loser``   turns of the speakers whose answer the judge did not pick (a game without a valid verdict has neither)
``correct`` turns that argued for or gave the correct answer: a speaker defending it, a judge whose verdict named it,
            a tree node (``ida``) whose answer matched the exact one; for ``dpo``, pairs whose chosen side is right
=========== ===================================================================================================

**Prompt layout.** Turns are stored without the prompts that produced them (those live in the response cache,
which may be gone), so an exported prompt is rebuilt from the record in one neutral layout that no template
change alters (:func:`chat_prompt`): a system message saying who the role is and what it can see, then one user
message with these sections, each left out when empty, separated by blank lines::

    Question: <the question>

    Choices:
    A. <choice, in the order the game showed them>
    B. <choice>

    Passage:
    <the passage, only for roles that read it>

    <Title>:
    <any other section the family adds, e.g. an ida node's sub-answers>

    Transcript so far:
    <one line per earlier turn, as the role saw it>

    <what to do now, e.g. "You argue for B: The attic trunk. Round 2 of 2: write your argument.">

Records do not keep passages either: they are read again from the run's task (``run.json``), and when the task
cannot be loaded any more the rows leave the passage out and the command says so. Every row also carries flat
fields to filter or split by (``protocol``, ``game_id``, ``item_id``, ``role``, ``correct``, …), which the trainers
leave unused. Only complete games give rows.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from oversight.dataframe import game_columns, game_row
from oversight.errors import UserError
from oversight.protocol import PROTOCOLS, ExportUnsupported, Protocol
from oversight.records import GameRecord
from oversight.runfolder import RunFolder, write_whole
from oversight.secrets import redact_json
from oversight.tasks import load_task
from oversight.verdicts import choice_labels

FORMATS = ("sft", "dpo", "csv")
KEEPS = ("winner", "loser", "correct", "all")
#: the file each format writes in the run folder when no ``--out`` is given
DEFAULT_FILES = {"sft": "export-sft.jsonl", "dpo": "export-dpo.jsonl", "csv": "export-games.csv"}
#: what a row of each format is, as the command counts them
UNITS = {"sft": ("chat row", "chat rows"), "dpo": ("preference pair", "preference pairs"), "csv": ("game", "games")}
#: how many ``source_run`` links of re-judged runs are followed to find the task and the settings
_SOURCE_LINKS = 5


# -- the layout, for the families ------------------------------------------------------------------------------
def chat_prompt(
    system: str,
    question: str,
    *,
    choices: Sequence[str] = (),
    passage: str | None = None,
    sections: Sequence[tuple[str, str]] = (),
    transcript: Sequence[str] = (),
    instruction: str = "",
) -> list[dict[str, str]]:
    """The system and user messages of an exported prompt, in the layout of the module's docstring."""
    parts = [f"Question: {question}"]
    if choices:
        labels = choice_labels(len(choices))
        listed = (f"{label}. {choice}" for label, choice in zip(labels, choices, strict=True))
        parts.append("Choices:\n" + "\n".join(listed))
    if passage is not None:
        parts.append(f"Passage:\n{passage}")
    parts.extend(f"{title}:\n{body}" for title, body in sections)
    if transcript:
        parts.append("Transcript so far:\n" + "\n".join(transcript))
    if instruction:
        parts.append(instruction)
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def assistant(content: str) -> dict[str, str]:
    """A reply as the assistant message of a row."""
    return {"role": "assistant", "content": content}


# -- the command -----------------------------------------------------------------------------------------------
@dataclass
class ExportResult:
    """What ``oversight export`` wrote."""

    path: Path
    #: rows written (games for csv)
    rows: int
    #: lines for the user beside the count: protocols left out and why, passages that could not be found
    notes: list[str] = field(default_factory=list)


@dataclass
class _Survey:
    """One pass over the log: how many records, and the protocols, roles and tasks among them."""

    records: int = 0
    protocols: dict[str, None] = field(default_factory=dict)
    roles: dict[str, None] = field(default_factory=dict)
    tasks: dict[str, None] = field(default_factory=dict)

    @classmethod
    def of(cls, folder: RunFolder) -> _Survey:
        survey = cls()
        for record in folder.iter_records():
            survey.records += 1
            survey.protocols.setdefault(record.protocol)
            survey.tasks.setdefault(record.task)
            survey.roles.update(dict.fromkeys(record.roles))
        return survey


class _Passages(Mapping[str, str]):
    """Item id → passage, read from the run's task the first time a family asks; remembers the items it lacked."""

    def __init__(self, config: Mapping[str, Any], tasks: Iterable[str]) -> None:
        self._names = [str(config["task"])] if config.get("task") else list(tasks)
        self._seed = int(config.get("seed") or 0)
        self._passages: dict[str, str] | None = None
        self.unloadable: list[str] = []
        self.missing: set[str] = set()

    def _load(self) -> dict[str, str]:
        if self._passages is None:
            self._passages = {}
            for name in self._names:
                try:
                    task = load_task(name, seed=self._seed)
                except (UserError, ValueError, OSError):
                    self.unloadable.append(name)
                    continue
                self._passages.update({item.id: item.passage for item in task.items if item.passage})
        return self._passages

    def __getitem__(self, item_id: str) -> str:
        try:
            return self._load()[item_id]
        except KeyError:
            self.missing.add(item_id)
            raise

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def note(self) -> str | None:
        """What to tell the user when some rows had to leave their passage out."""
        if not self.missing:
            return None
        n = len(self.missing)
        why = f"task {', '.join(self.unloadable)} could not be loaded" if self.unloadable else "not in the run's task"
        return f"passages of {n} item{'' if n == 1 else 's'} not found ({why}): their prompts leave the passage out"


def export_run(
    run_dir: Path, fmt: str, *, out: Path | None = None, role: str | None = None, keep: str | None = None
) -> ExportResult:
    """Write RUN's games in ``fmt`` (``sft``, ``dpo`` or ``csv``) to ``out`` (default: ``RUN/export-…``, see
    :data:`DEFAULT_FILES`); a UserError, nothing written, for an unknown folder, format, role or filter."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}: choose sft, dpo or csv")
    keep = _check_filters(fmt, role, keep)
    folder = RunFolder.open_existing(run_dir)
    target = out or folder.path / DEFAULT_FILES[fmt]
    survey = _Survey.of(folder)
    if fmt == "csv":
        return ExportResult(target, _write(target, lambda handle: _write_csv(handle, folder, survey.records)))
    if role is not None and role not in survey.roles:
        known = ", ".join(survey.roles) or "none"
        raise UserError(f"{run_dir}: no role {role!r} in its games (roles: {known})")
    config = _config(folder)
    passages = _Passages(config, survey.tasks)
    sources: list[Iterable[dict[str, Any]]] = []
    notes: list[str] = []
    left_out: dict[str, None] = {}  # why protocols gave nothing, each reason once
    for name in survey.protocols:
        protocol = _protocol(name, config)
        if protocol is None:
            left_out.setdefault(f"{name} is not installed")
            continue
        complete = _complete_games(folder, survey.records, name)
        try:
            if fmt == "sft":
                rows = protocol.sft_rows(complete, role=role, keep=keep, passages=passages)
            else:
                rows = protocol.preference_pairs(complete, keep=keep, passages=passages)
            sources.append(_primed(rows))
        except ExportUnsupported as exc:
            left_out.setdefault(str(exc))
    if not sources:
        raise UserError(f"{run_dir}: nothing to export as {fmt}: " + "; ".join(left_out or ["no games"]))
    notes.extend(f"{reason}: its games are left out" for reason in left_out)
    count = _write(target, lambda handle: _write_jsonl(handle, itertools.chain.from_iterable(sources)))
    if note := passages.note():
        notes.append(note)
    return ExportResult(target, count, notes)


def _complete_games(folder: RunFolder, records: int, protocol: str) -> Iterator[GameRecord]:
    """The complete games of ``protocol`` among the first ``records`` of the log, read as they are asked for."""
    for record in itertools.islice(folder.iter_records(), records):
        if record.protocol == protocol and record.status == "complete":
            yield record


def _check_filters(fmt: str, role: str | None, keep: str | None) -> str:
    """The ``--keep`` to use, after refusing the filters the format has no use for."""
    if keep is not None and keep not in KEEPS:
        raise UserError(f"--keep {keep!r}: choose winner, loser, correct or all")
    if fmt == "csv" and (role is not None or keep is not None):
        raise UserError("--role and --keep choose the rows of sft and dpo exports; csv has one row per game")
    if fmt == "dpo" and role is not None:
        raise UserError("--role chooses sft rows; a dpo pair sets two speakers' turns against each other")
    if fmt == "dpo" and keep in ("winner", "loser"):
        raise UserError(f"--keep {keep}: a dpo pair is always the preferred turn against the rejected one; "
                        "use --keep correct or all")
    return keep or "all"


def _config(folder: RunFolder) -> dict[str, Any]:
    """The run's config, or for a re-judged run the config of the run it judged again (task and settings)."""
    config = dict(folder.read_manifest().config)
    for _ in range(_SOURCE_LINKS):
        source = config.get("source_run")
        if not source or not (Path(source) / "run.json").is_file():
            break
        config = dict(RunFolder(Path(source)).read_manifest().config)
    return config


def _protocol(name: str, config: Mapping[str, Any]) -> Protocol | None:
    """The protocol ``name`` with the run's settings that it accepts (its defaults where they no longer validate);
    None when it is not installed."""
    try:
        cls: type[Protocol] = PROTOCOLS.get(name)
    except UserError:
        return None
    settings = config.get("options") or config.get("settings") or {}
    fields = cls.options_model.model_fields
    try:
        options = cls.options_model.model_validate({k: v for k, v in settings.items() if k in fields})
    except ValidationError:
        options = cls.options_model()
    return cls(options)


_END = object()


def _primed(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows with the first one already asked for, so a family that refuses only when its generator starts
    refuses here, before anything is written."""
    iterator = iter(rows)
    first = next(iterator, _END)
    return iterator if first is _END else itertools.chain([first], iterator)  # type: ignore[list-item]


def _write(target: Path, write: Callable[[TextIO], int]) -> int:
    """Write the file beside ``target`` and move it into place whole; returns what ``write`` counted."""
    return write_whole(target, write, "export")


def _write_jsonl(handle: TextIO, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    for row in rows:
        handle.write(redact_json(json.dumps(row, ensure_ascii=False)) + "\n")
        count += 1
    return count


def _write_csv(handle: TextIO, folder: RunFolder, records: int) -> int:
    """Two passes over the log: the columns every game gives, then a row per game (the first ``records`` games,
    so a log still being written cannot add a column the header lacks)."""
    games = lambda: itertools.islice(folder.iter_records(), records)
    keys: dict[str, None] = {}
    for record in games():
        keys.update(dict.fromkeys(game_row(record)))
    writer = csv.DictWriter(handle, fieldnames=game_columns([keys]), restval="")
    writer.writeheader()
    count = 0
    for record in games():
        writer.writerow({key: _cell(value) for key, value in game_row(record).items()})
        count += 1
    return count


def _cell(value: Any) -> Any:
    """A value as a CSV cell: times in ISO 8601, missing values empty."""
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def describe(result: ExportResult, fmt: str) -> str:
    """The command's last line: how many rows went where."""
    one, many = UNITS[fmt]
    return f"wrote {result.rows} {one if result.rows == 1 else many} to {result.path}"
