"""One writer per run folder: an exclusive ``flock`` on ``run.lock`` inside it, held for as long as a command
plays into the folder or repairs it.

The kernel lets go of the lock when its holder exits, however it exits, so a lock file left behind by a dead
process never blocks: only a live holder does. The file's contents (pid, host, start time) serve only to name
the holder when another process is refused. The file is never deleted: a process could still be holding the
old file open, and deleting it would let two processes lock two different files.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ValidationError

from oversight.errors import UserError
from oversight.records import SCHEMA_VERSION, utc_now

LOCK = "run.lock"


class LockHolder(BaseModel):
    """Who holds a run folder, as written into its lock file."""

    schema_version: int = SCHEMA_VERSION
    pid: int
    host: str
    since: datetime

    def describe(self) -> str:
        """The holder as a refusal names it: pid, host and since when (UTC)."""
        return f"pid {self.pid} on host {self.host} since {self.since:%Y-%m-%d %H:%M:%S} UTC"

    def may_be_alive(self) -> bool:
        """Whether the holder may still be playing: a process on this host must be alive; one on another host is
        taken at its word (its pid cannot be checked from here)."""
        return self.host != socket.gethostname() or _alive(self.pid)


class RunLock:
    """This process's hold on a run folder, from :meth:`acquire` until :meth:`release` or the end of a ``with``
    block."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, hint: str = "wait for it or use another --out") -> RunLock:
        """Take ``folder`` (created if need be) for this process, or refuse at once naming its holder."""
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder}: is a file, not a run folder")
        path = folder / LOCK
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UserError(f"{folder}: cannot write a run folder here ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UserError(f"{folder} is in use by {holder}; {hint}") from None
        except OSError as exc:  # a file system without locks
            os.close(fd)
            raise UserError(f"{path}: cannot lock the run folder ({exc.strerror})") from None
        holder_json = LockHolder(pid=os.getpid(), host=socket.gethostname(), since=utc_now()).model_dump_json()
        lock = cls(path, fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_json.encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            lock.release()
            raise UserError(f"{path}: cannot write the run folder ({exc.strerror})") from None
        return lock

    def release(self) -> None:
        """Let go of the folder, first emptying the lock file so it names no holder; releasing twice does nothing."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # a free folder names no holder
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """The holder as its lock file names it. A holder writes its name just after taking the lock, so until
    then the file is empty or still names a dead predecessor: read again, briefly, before giving up."""
    for _ in range(50):
        try:
            holder = LockHolder.model_validate_json(os.pread(fd, 4096, 0))
        except (OSError, ValidationError):
            holder = None
        if holder is not None and holder.may_be_alive():
            return holder.describe()
        time.sleep(0.01)
    return "another process"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
