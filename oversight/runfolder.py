"""A run folder on disk: ``run.json``, ``transcripts.jsonl`` (append-only, fsynced) and ``summary.json``.

A crash can leave at most a torn last line; opening the folder repairs it. Resuming drops failed games
(they are played again) by rewriting the log atomically, so each game id appears at most once.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oversight.errors import UserError
from oversight.records import GameRecord, RunManifest, RunSummary

MANIFEST = "run.json"
TRANSCRIPTS = "transcripts.jsonl"
SUMMARY = "summary.json"


def write_json_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_records(path: Path) -> list[GameRecord]:
    """Every whole record in a transcript log; a torn final line (from a crash) is ignored."""
    if not path.exists():
        return []
    records = []
    lines = path.read_bytes().split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            records.append(GameRecord.model_validate_json(raw))
        except ValidationError as exc:
            if number == len(lines):  # no newline after it: the write was cut short
                break
            raise UserError(f"{path}:{number}: not a game record ({exc.errors()[0]['msg']})") from None
    return records


class RunFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest_path = path / MANIFEST
        self.transcripts_path = path / TRANSCRIPTS
        self.summary_path = path / SUMMARY

    @classmethod
    def open_existing(cls, path: Path) -> RunFolder:
        folder = cls(path)
        if not folder.manifest_path.is_file():
            raise UserError(f"{path}: not a run folder (no {MANIFEST})")
        return folder

    def read_manifest(self) -> RunManifest:
        try:
            return RunManifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValidationError, ValueError) as exc:
            raise UserError(f"{self.manifest_path}: unreadable run manifest ({exc.__class__.__name__})") from None

    def write_manifest(self, manifest: RunManifest) -> None:
        write_json_atomic(self.manifest_path, manifest.model_dump_json(indent=2))

    def read_summary(self) -> RunSummary | None:
        if not self.summary_path.is_file():
            return None
        return RunSummary.model_validate_json(self.summary_path.read_text(encoding="utf-8"))

    def write_summary(self, summary: RunSummary) -> None:
        write_json_atomic(self.summary_path, summary.model_dump_json(indent=2))

    def write_artifact(self, name: str, rows: list[dict[str, Any]]) -> None:
        """A protocol's extra JSONL file (``name`` is a bare file name chosen by the protocol)."""
        if Path(name).name != name or not name.endswith(".jsonl"):
            raise ValueError(f"artifact name {name!r} must be a bare *.jsonl file name")
        write_json_atomic(self.path / name, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))

    def records(self) -> list[GameRecord]:
        return read_records(self.transcripts_path)

    def prepare_resume(self) -> list[GameRecord]:
        """Keep the complete games (first copy of each), drop failed ones and any torn line; return the kept."""
        self.path.mkdir(parents=True, exist_ok=True)
        records = self.records()
        kept: dict[str, GameRecord] = {}
        for record in records:
            if record.status == "complete":
                kept.setdefault(record.game_id, record)
        if len(kept) != len(records) or self._has_torn_tail():
            lines = "".join(r.model_dump_json() + "\n" for r in kept.values())
            write_json_atomic(self.transcripts_path, lines)
        return list(kept.values())

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
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record.model_dump_json().encode() + b"\n", future))
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
        self._closing = True
        self._wakeup.set()
        try:
            await asyncio.shield(self._task)
        finally:
            self._handle.close()

