"""A run folder on disk: ``run.json``, ``transcripts.jsonl`` (append-only, fsynced), ``summary.json`` and
``index.json`` (where each game's line starts, rebuilt whenever it no longer matches the log).

A crash can leave at most a torn last line; opening the folder repairs it. Resuming drops failed games
(they are played again) by rewriting the log atomically, so each game id appears at most once. Both happen only
under the folder's lock (:mod:`oversight.runlock`), so no other process is appending to the log being rewritten.
Any other unreadable line is reported, and ``oversight repair`` drops it. Everything written passes through
:func:`oversight.secrets.redact_json`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import ValidationError

from oversight.errors import UserError, first_error, unreadable_record
from oversight.records import SCHEMA_VERSION, GameRecord, RunManifest, RunSummary
from oversight.secrets import redact_json
from oversight.transcript_index import INDEX, LogIndex, build_index

MANIFEST = "run.json"
TRANSCRIPTS = "transcripts.jsonl"
SUMMARY = "summary.json"


def write_json_atomic(path: Path, text: str) -> None:
    """Replace a file's contents at once (a temporary file, fsynced, then renamed over it), so a reader never sees it
    half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


T = TypeVar("T")


def write_whole(target: Path, write: Callable[[IO[Any]], T], what: str, *, binary: bool = False) -> T:
    """Write ``target`` through ``write`` into a file beside it, then move it into place whole, so a failure leaves
    no half-written file; returns what ``write`` returned. An OS error is one line: ``cannot write the <what>``."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "wb") if binary else open(partial, "w", encoding="utf-8", newline="") as handle:
            result = write(handle)
        os.replace(partial, target)
    except OSError as exc:
        raise UserError(f"{target}: cannot write the {what} ({exc.strerror})") from None
    finally:
        partial.unlink(missing_ok=True)
    return result


def iter_records(path: Path) -> Iterator[GameRecord]:
    """Every whole record in a transcript log, one at a time; a torn final line (from a crash) is ignored."""
    if not path.exists():
        return
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = GameRecord.model_validate_json(raw)
            except ValidationError as exc:
                if not raw.endswith(b"\n"):  # no newline after it: the write was cut short
                    return
                raise unreadable_record(f"{path}:{number}", path.parent, first_error(exc, quoted=True)) from None
            yield record


def read_at(path: Path, offsets: Iterable[int]) -> Iterator[GameRecord]:
    """The records whose lines start at these byte offsets (from the log's index), in the order given."""
    with open(path, "rb") as handle:
        for offset in offsets:
            handle.seek(offset)
            try:
                record = GameRecord.model_validate_json(handle.readline())
            except ValidationError as exc:
                raise unreadable_record(f"{path}: byte {offset}", path.parent, first_error(exc, quoted=True)) from None
            yield record


class RunFolder:
    """Where one run's files live, and how each is read and written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest_path = path / MANIFEST
        self.transcripts_path = path / TRANSCRIPTS
        self.summary_path = path / SUMMARY
        self.index_path = path / INDEX

    @classmethod
    def open_existing(cls, path: Path) -> RunFolder:
        """A run folder that already exists; UserError when the path has no ``run.json``."""
        folder = cls(path)
        if not folder.manifest_path.is_file():
            raise UserError(f"{path}: not a run folder (no {MANIFEST})")
        return folder

    def read_manifest(self) -> RunManifest:
        """The run's manifest; UserError when it is missing or unreadable."""
        try:
            return RunManifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            raise UserError(f"{self.manifest_path}: unreadable run manifest ({exc.__class__.__name__})") from None

    def write_manifest(self, manifest: RunManifest) -> None:
        """Write the manifest atomically, secrets redacted."""
        write_json_atomic(self.manifest_path, redact_json(manifest.model_dump_json(indent=2), indent=2))

    def read_summary(self) -> RunSummary | None:
        """The run's summary, or None when none has been written yet."""
        if not self.summary_path.is_file():
            return None
        return RunSummary.model_validate_json(self.summary_path.read_text(encoding="utf-8"))

    def write_summary(self, summary: RunSummary) -> None:
        """Write the summary atomically, secrets redacted."""
        write_json_atomic(self.summary_path, redact_json(summary.model_dump_json(indent=2), indent=2))

    def write_artifact(self, name: str, rows: list[dict[str, Any]]) -> None:
        """A protocol's extra JSONL file (``name`` is a bare file name chosen by the protocol)."""
        if Path(name).name != name or not name.endswith(".jsonl"):
            raise ValueError(f"artifact name {name!r} must be a bare *.jsonl file name")
        lines = (redact_json(json.dumps(row, ensure_ascii=False)) + "\n" for row in rows)
        write_json_atomic(self.path / name, "".join(lines))

    def iter_records(self) -> Iterator[GameRecord]:
        """Every whole record in the log, one at a time (see the module-level :func:`iter_records`)."""
        return iter_records(self.transcripts_path)

    def records(self) -> list[GameRecord]:
        """Every record at once, for the few callers that need them together; others stream ``iter_records``."""
        return list(self.iter_records())

    def index(self) -> LogIndex:
        """The log's index (:mod:`oversight.transcript_index`): read while it matches the log, else rebuilt."""
        if not self.transcripts_path.exists():
            return LogIndex()
        try:
            index = LogIndex.model_validate_json(self.index_path.read_bytes())
            if index.schema_version == SCHEMA_VERSION and index.matches(self.transcripts_path):
                return index
        except (OSError, ValidationError):
            pass  # missing, or half-written by another reader at the same moment: rebuilt below
        index = build_index(self.transcripts_path)
        try:
            write_json_atomic(self.index_path, index.model_dump_json())
        except OSError:
            pass  # a read-only run folder can still be read; its index then lives in memory only
        return index

    def records_at(self, offsets: Iterable[int]) -> Iterator[GameRecord]:
        """The records whose lines start at these byte offsets of the log, in the order given."""
        return read_at(self.transcripts_path, offsets)

    def prepare_resume(self) -> list[GameRecord]:
        """Keep the complete games (first copy of each), drop failed ones and any torn line; return the kept.

        Only under the folder's lock: the log is replaced, and a process appending to the old one would lose games.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        records = self.records()
        kept: dict[str, GameRecord] = {}
        for record in records:
            if record.status == "complete":
                kept.setdefault(record.game_id, record)
        if len(kept) != len(records) or self._has_torn_tail():
            lines = "".join(redact_json(r.model_dump_json()) + "\n" for r in kept.values())
            write_json_atomic(self.transcripts_path, lines)
        return list(kept.values())

    def repair(self) -> tuple[int, int]:
        """Drop every line of the log that is not a whole game record, keeping the others byte for byte; only
        under the folder's lock. Returns (records kept, lines dropped)."""
        if not self.transcripts_path.exists():
            return 0, 0
        kept = dropped = 0
        tmp = self.transcripts_path.with_name(f".{TRANSCRIPTS}.tmp")
        with open(self.transcripts_path, "rb") as source, open(tmp, "wb") as target:
            for raw in source:
                if not raw.strip():
                    continue
                try:
                    GameRecord.model_validate_json(raw)
                except ValidationError:
                    dropped += 1
                    continue
                target.write(raw if raw.endswith(b"\n") else raw + b"\n")
                kept += 1
            target.flush()
            os.fsync(target.fileno())
        if dropped:
            os.replace(tmp, self.transcripts_path)
        else:
            tmp.unlink()
        return kept, dropped

    def _has_torn_tail(self) -> bool:
        if not self.transcripts_path.exists() or self.transcripts_path.stat().st_size == 0:
            return False
        with open(self.transcripts_path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"


class TranscriptWriter:
    """Appends records as their games finish; a record is on disk (flushed, fsynced) when ``append`` returns.

    Records that finish together are written and fsynced together in a worker thread, so a thousand games
    finishing at once cost a few fsyncs and never stall the event loop.
    """

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._drain())

    async def append(self, record: GameRecord) -> None:
        """Write a finished game's record, secrets redacted, and return once it is on disk; the write goes ahead even
        if the waiting game is cancelled."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((redact_json(record.model_dump_json()).encode() + b"\n", future))
        self._wakeup.set()
        # shielded: a game cancelled now (Ctrl-C) still has its finished record written
        await asyncio.shield(future)

    def _write(self, lines: list[bytes]) -> None:
        self._handle.write(b"".join(lines))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    async def _drain(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await asyncio.to_thread(self._write, [line for line, _ in batch])
                except Exception as exc:  # a full disk must surface in every waiting game, not vanish
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            if self._closing and not self._pending:
                return

    async def close(self) -> None:
        """Write every record still pending, then close the log."""
        self._closing = True
        self._wakeup.set()
        try:
            await asyncio.shield(self._task)
        finally:
            self._handle.close()

