"""``index.json``: where each game's line starts in a run's transcript log, and its game id and protocol.

With it, ``oversight show RUN GAME``, the report's sample and the run's per-protocol summary read single games
by seeking, instead of parsing a log of hundreds of MB. It records the log's size and modification time: an index
that no longer matches the log (grown, or rewritten on resume) or cannot be read is rebuilt, from the first bytes
of each line, and written again where the folder allows.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection, Container
from pathlib import Path

from pydantic import BaseModel

from oversight.errors import unreadable_record
from oversight.records import SCHEMA_VERSION, GameRecord

INDEX = "index.json"
#: a line as ``GameRecord.model_dump_json`` starts it (ids and names without escapes); other lines are parsed whole
_HEAD_PREFIX = b'{"schema_version":'
_GAME_KEY = b',"game_id":"'
_PROTOCOL_KEY = b'","protocol":"'


class LogIndex(BaseModel):
    """What ``index.json`` holds: the game id, protocol and starting byte of every line of a transcript log, and the
    size and modification time of the log they were read from."""

    schema_version: int = SCHEMA_VERSION
    #: the log's size and modification time when it was indexed; a log that differs makes the index stale
    log_size: int = 0
    log_mtime_ns: int = 0
    #: one entry per whole line of the log, in log order: its game id, protocol and the byte offset it starts at
    games: list[str] = []
    protocols: list[str] = []
    offsets: list[int] = []

    def matches(self, log: Path) -> bool:
        """Whether the log still has the size and modification time it was indexed at, so the offsets hold."""
        stat = log.stat()
        return (stat.st_size, stat.st_mtime_ns) == (self.log_size, self.log_mtime_ns)

    def with_prefix(self, prefix: str) -> list[str]:
        """The distinct game ids that start with ``prefix``, in log order."""
        return list(dict.fromkeys(game for game in self.games if game.startswith(prefix)))

    def last_offset(self, game: str) -> int:
        """Where the game's latest line starts (a log not yet resumed may hold a failed try before it)."""
        return max(offset for g, offset in zip(self.games, self.offsets, strict=True) if g == game)

    def offsets_of(self, protocols: Collection[str] | None = None, games: Container[str] | None = None) -> list[int]:
        """Offsets of the lines of these protocols and games (every line by default), in log order."""
        return [
            offset
            for game, protocol, offset in zip(self.games, self.protocols, self.offsets, strict=True)
            if (protocols is None or protocol in protocols) and (games is None or game in games)
        ]


def _head(raw: bytes) -> tuple[str, str] | None:
    """Game id and protocol from the start of a line written by this package, without parsing the rest."""
    if not raw.startswith(_HEAD_PREFIX):
        return None
    game_at = raw.find(_GAME_KEY, len(_HEAD_PREFIX), 40)
    if game_at < 0:
        return None
    game_end = raw.find(b'"', game_at + len(_GAME_KEY))
    if raw[game_end : game_end + len(_PROTOCOL_KEY)] != _PROTOCOL_KEY:
        return None
    protocol_end = raw.find(b'"', game_end + len(_PROTOCOL_KEY))
    if protocol_end < 0:
        return None
    game, protocol = raw[game_at + len(_GAME_KEY) : game_end], raw[game_end + len(_PROTOCOL_KEY) : protocol_end]
    if b"\\" in game or b"\\" in protocol:
        return None
    return game.decode(), protocol.decode()


def _line_head(raw: bytes) -> tuple[str, str]:
    """Game id and protocol of a line; ValueError, KeyError or TypeError when it is not a game record."""
    head = _head(raw)
    if head is None:
        data = json.loads(raw)
        head = str(data["game_id"]), str(data["protocol"])
    return head


def build_index(log: Path) -> LogIndex:
    """Index every whole line of ``log``; a torn last line (a crash, or a game being written) is left out."""
    stat = log.stat()
    index = LogIndex(log_size=stat.st_size, log_mtime_ns=stat.st_mtime_ns)
    offset = 0
    with open(log, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            whole = raw.endswith(b"\n")
            try:
                if not whole:  # a last line without its newline is a game only if all of it is there
                    GameRecord.model_validate_json(raw)
                game, protocol = _line_head(raw)
            except (ValueError, KeyError, TypeError):
                if not whole:
                    break
                raise unreadable_record(f"{log}:{number}", log.parent) from None
            index.games.append(game)
            index.protocols.append(sys.intern(protocol))  # a handful of names, repeated on every line
            index.offsets.append(start)
    return index
