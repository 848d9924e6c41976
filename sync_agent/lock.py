"""The run lock: one process at a time writes a state file.

``RunLock(state_path)`` takes an operating-system file lock on ``<state file>.lock`` without
waiting, then writes the holder's process id, host name and start time (ISO 8601, UTC) to
``<state file>.lock.json``. A second process gets ``LockHeld`` (exit 3) naming that holder.

The OS drops the file lock when its process dies, so a crashed run does not block the next one.
Its details file stays behind, though, and the next holder logs that it is taking the lock over.

The lock file itself is never deleted, neither while held nor on release. Deleting it would let a
third process create a new file under the same name and lock that new file, while a process that
opened the old file could still lock the old one: two holders at once. An empty file left beside
the state file is the price of a lock that cannot be split.

NOTE: the lock has been tested on Linux only. On Windows filelock uses ``LockFileEx``, whose lock
also ends with its process. Two paths have not been run there: the takeover after a killed process,
and replacing the details file while another process reads it. In the second case ``os.replace``
fails, which is logged and leaves the lock held.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import filelock

from sync_agent.errors import LockHeld, StateError
from sync_agent.reports.safety import make_private_dir

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockHolder:
    """The process that holds (or last held) a run lock, as its details file records it."""

    pid: int
    host: str
    started_at: str


def lock_path_for(state_path: Path) -> Path:
    """Return the path of the lock file beside ``state_path``."""
    return state_path.with_name(state_path.name + ".lock")


def info_path_for(state_path: Path) -> Path:
    """Return the path of the holder's details file beside ``state_path``."""
    return state_path.with_name(state_path.name + ".lock.json")


class RunLock:
    """Exclusive, non-blocking lock on one state file, used as a context manager.

    ``__enter__`` raises ``LockHeld`` when another process holds the lock, and ``StateError`` when
    the lock file cannot be created. The lock is not reentrant: a second ``RunLock`` on the same
    state file in the same process also gets ``LockHeld``.
    """

    def __init__(self, state_path: Path) -> None:
        self.state_path = Path(state_path)
        self.lock_path = lock_path_for(self.state_path)
        self.info_path = info_path_for(self.state_path)
        self.holder: LockHolder | None = None
        self._lock = filelock.FileLock(
            self.lock_path,
            mode=0o600,
            blocking=False,
            thread_local=False,
            preserve_lock_file=True,
        )

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise ``LockHeld``, then record this process as the holder."""
        self._create_folder()
        try:
            self._lock.acquire()
        except filelock.Timeout as exc:
            raise LockHeld(self._held_message()) from exc
        except OSError as exc:
            raise StateError(
                f"could not create the lock file {self.lock_path}: {exc}. "
                "Check that its folder is writable, or change [state] path."
            ) from exc

        self._report_left_over_holder()
        self.holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )
        self._write_info(self.holder)
        logger.debug("took the run lock %s", self.lock_path)

    def release(self) -> None:
        """Remove the details file, then release the lock. Does nothing when not held."""
        if not self._lock.is_locked:
            return
        # The details file goes first, while the lock is still held. A later holder that finds one
        # can then tell that its writer ended without releasing the lock.
        try:
            self.info_path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not remove the lock details file %s: %s", self.info_path, exc)
        self._lock.release()
        self.holder = None
        logger.debug("released the run lock %s", self.lock_path)

    def _create_folder(self) -> None:
        try:
            make_private_dir(self.lock_path.parent)
        except OSError as exc:
            raise StateError(
                f"could not create the folder {self.lock_path.parent} for the state file: {exc}. "
                "Create it, or change [state] path."
            ) from exc

    def _held_message(self) -> str:
        holder = read_holder(self.info_path)
        if holder is None:
            return (
                f"another sync-agent run holds the lock on {self.state_path}, and it has not yet "
                f"written its details to {self.info_path}. Wait a moment and try again."
            )
        return (
            f"another sync-agent run holds the lock on {self.state_path}: process {holder.pid} on "
            f"{holder.host}, started at {holder.started_at}. Wait for that run to finish and try "
            f"again; if it seems stuck, stop process {holder.pid} on {holder.host}."
        )

    def _report_left_over_holder(self) -> None:
        if not self.info_path.exists():
            return
        holder = read_holder(self.info_path)
        if holder is None:
            logger.warning(
                "taking over the lock on %s; its details file %s is unreadable",
                self.state_path,
                self.info_path,
            )
            return
        if holder.pid == os.getpid() and holder.host == socket.gethostname():
            logger.debug("the lock details file %s names this process", self.info_path)
            return
        logger.warning(
            "taking over the lock left by process %s started at %s on %s (%s); that run ended "
            "without releasing it",
            holder.pid,
            holder.started_at,
            holder.host,
            self.state_path,
        )

    def _write_info(self, holder: LockHolder) -> None:
        # A reader must never see half a file, so the details go to a temporary file that then
        # replaces the old one in one step.
        text = json.dumps({"pid": holder.pid, "host": holder.host, "started_at": holder.started_at})
        temporary = self.info_path.with_name(f"{self.info_path.name}.{holder.pid}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, self.info_path)
        except OSError as exc:
            # The lock is held either way; only the message a competing run prints is poorer.
            logger.warning("could not write the lock details file %s: %s", self.info_path, exc)


def read_holder(info_path: Path) -> LockHolder | None:
    """Return the holder recorded in ``info_path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(info_path.read_text(encoding="utf-8"))
        return LockHolder(pid=int(data["pid"]), host=str(data["host"]), started_at=str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
