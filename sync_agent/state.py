"""The state file: run history, the inputs of each run and reviewer decisions, in SQLite.

The file is shared with the push journal, which keeps its own tables and its own schema version
in the same ``meta`` table. This module only ever creates or changes the tables it owns
(``runs``, ``run_inputs``, ``decisions``, ``decision_events``) and its own key,
``state_schema_version``.

Schema changes are an ordered list of migrations: ``MIGRATIONS[i]`` turns a version ``i`` file
into version ``i + 1``. Opening a file runs the missing ones in one transaction, so a newer
release upgrades an older file in place, and an older release refuses a newer file.

Timestamps are stored as ISO 8601 text in UTC (``2025-03-14T07:00:02+00:00``), so text order is
time order. Writers are expected to hold the run lock (``sync_agent.lock.RunLock``); readers such
as ``history`` need not, because the file runs in WAL mode.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from sync_agent.errors import ConfigError, StateError
from sync_agent.reports.safety import make_private_dir

logger = logging.getLogger(__name__)

VERSION_KEY = "state_schema_version"
BUSY_TIMEOUT_SECONDS = 10.0
KEEP_LAST_RUNS = 10
UNDONE_DECISION_DAYS = 365
OUTCOMES = ("ok", "action_needed", "could_not_run", "interrupted")
FINDING_ID = re.compile(r"f-[0-9a-f]{16}")

_P = ParamSpec("_P")
_R = TypeVar("_R")

# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class InputRecord:
    """One input file of a run and what became of it."""

    path: str
    kind: str
    sha256: str | None
    status: str
    records: int
    rejects: int
    reason: str | None


@dataclass(frozen=True)
class RunRecord:
    """One run as the state file records it; ``outcome`` is None while the run has not finished."""

    run_id: str
    command: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    outcome: str | None
    exit_code: int | None
    config_hash: str | None
    fingerprint: str | None
    counts_by_kind: dict[str, int]
    pushes: dict[str, int]
    report_dir: str | None
    inputs: list[InputRecord] = field(default_factory=list)

    @property
    def duration(self) -> dt.timedelta | None:
        """Time from start to end, or None for a run that has not finished."""
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True)
class Decision:
    """A reviewer's latest decision on one finding; ``active`` is False once it was undone."""

    finding_id: str
    values_hash: str
    reason: str
    accepted_by: str
    accepted_at: dt.datetime
    undone_by: str | None = None
    undone_at: dt.datetime | None = None
    undo_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.undone_at is None


@dataclass(frozen=True)
class DecisionEvent:
    """One entry of the audit trail: an acceptance or an undo, with the user, the time and the reason."""

    finding_id: str
    action: str
    values_hash: str | None
    reason: str | None
    user: str
    at: dt.datetime


@dataclass(frozen=True)
class PruneCounts:
    """Counts of the rows one ``prune`` deleted, and whether it compacted the file."""

    runs: int
    inputs: int
    decisions: int
    decision_events: int
    vacuumed: bool


# ---------------------------------------------------------------------------------------------
# Schema and migrations

_SCHEMA_V1 = (
    """CREATE TABLE runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL UNIQUE,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT,
        exit_code INTEGER,
        config_hash TEXT,
        fingerprint TEXT,
        counts_json TEXT NOT NULL DEFAULT '{}',
        pushes_json TEXT NOT NULL DEFAULT '{}',
        report_dir TEXT
    )""",
    "CREATE INDEX runs_started_at ON runs (started_at)",
    """CREATE TABLE run_inputs (
        run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
        path TEXT NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT,
        status TEXT NOT NULL,
        records INTEGER NOT NULL,
        rejects INTEGER NOT NULL,
        reason TEXT
    )""",
    "CREATE INDEX run_inputs_run_seq ON run_inputs (run_seq)",
    """CREATE TABLE decisions (
        finding_id TEXT PRIMARY KEY,
        values_hash TEXT NOT NULL,
        reason TEXT NOT NULL,
        accepted_by TEXT NOT NULL,
        accepted_at TEXT NOT NULL,
        undone_by TEXT,
        undone_at TEXT,
        undo_reason TEXT
    )""",
    """CREATE TABLE decision_events (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT,
        finding_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'undo')),
        values_hash TEXT,
        reason TEXT,
        user_name TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX decision_events_finding ON decision_events (finding_id)",
)


# Named, never "SELECT *", so a later migration that adds a column cannot shift the values.
_RUN_COLUMNS = (
    "seq",
    "run_id",
    "command",
    "started_at",
    "ended_at",
    "outcome",
    "exit_code",
    "config_hash",
    "fingerprint",
    "counts_json",
    "pushes_json",
    "report_dir",
)
_RUN_SELECT = ", ".join(_RUN_COLUMNS)


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    # Plain CREATE TABLE, not IF NOT EXISTS: a table of the same name from elsewhere must stop the
    # migration rather than be adopted with the wrong columns.
    for statement in _SCHEMA_V1:
        conn.execute(statement)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_to_1]


def _schema_version(conn: sqlite3.Connection) -> int:
    """Return the state schema version: 0 for a new file, -1 when the stored value is not a number."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (VERSION_KEY,)).fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError):
        return -1


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to ``len(MIGRATIONS)``, or raise StateError for a newer or unknown version."""
    if _checked_version(conn, path) == len(MIGRATIONS):
        return
    with _transaction(conn):
        # Read again under the write lock, in case another process migrated the file meanwhile.
        version = _checked_version(conn, path)
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        for target in range(version + 1, len(MIGRATIONS) + 1):
            MIGRATIONS[target - 1](conn)
            logger.info("state file %s migrated to schema %d", path, target)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (VERSION_KEY, str(len(MIGRATIONS))),
        )


def _checked_version(conn: sqlite3.Connection, path: Path) -> int:
    version = _schema_version(conn)
    supported = len(MIGRATIONS)
    if version < 0:
        raise StateError(
            f"{path}: the {VERSION_KEY} in table meta is not a whole number. Restore the file "
            "from a backup, or move it aside to start a new state file."
        )
    if version > supported:
        raise StateError(
            f"{path} was written by a newer sync-agent (schema {version}); this release "
            f"reads up to {supported}: upgrade sync-agent"
        )
    return version


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            # SQLite has already rolled back after some errors (a full disk, for one).
            self.conn.execute("ROLLBACK")


# ---------------------------------------------------------------------------------------------
# Helpers


def run_fingerprint(parts: Mapping[str, str]) -> str:
    """Combine named content hashes into one fingerprint of a run's work.

    ``parts`` maps a name (an input path, "mapping:sims-csv", "calendar", "config", …) to the
    SHA-256 of its content. The order of the mapping does not matter.
    """
    text = "\n".join(f"{name}\t{digest}" for name, digest in sorted(parts.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def outcome_for_exit_code(exit_code: int) -> str:
    """Return the run outcome that goes with a command's exit code."""
    return {0: "ok", 1: "action_needed", 130: "interrupted"}.get(exit_code, "could_not_run")


def _to_text(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment} has no time zone; pass an aware datetime")
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _from_text(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _translating_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn SQLite errors raised inside a StateStore method into StateError naming the file."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            store = args[0]
            raise _state_error(getattr(store, "path", Path("state file")), exc) from exc

    return wrapper


def _state_error(path: Path, exc: sqlite3.Error) -> StateError:
    if isinstance(exc, sqlite3.OperationalError):
        return StateError(
            f"could not read or write the state file {path}: {exc}. Check that the file and its "
            "folder are writable and that no other program holds the file open, then try again."
        )
    return StateError(
        f"{path} is not a usable sync-agent state file ({exc}). Restore it from a backup, or move "
        "it aside to start a new one; the run history, reviewer decisions and push journal in it "
        "would then be lost."
    )


# ---------------------------------------------------------------------------------------------
# The store


class StateStore:
    """Runs, their inputs and reviewer decisions in one SQLite file.

    Opening creates the file (readable by its owner only) or migrates it. It raises StateError
    for a file from a newer release, a corrupt file or one that cannot be written.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = self._open()
        try:
            _migrate(self._conn, self.path)
        except sqlite3.Error as exc:
            self._conn.close()
            raise _state_error(self.path, exc) from exc
        except StateError:
            self._conn.close()
            raise

    def _open(self) -> sqlite3.Connection:
        try:
            make_private_dir(self.path.parent)
            # SQLite creates a new file with the umask's mode, usually readable by every user.
            # Creating it first sets owner-only access, and SQLite gives the -wal and -shm files
            # the mode of the database file.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StateError(
                f"could not create or open the state file {self.path}: {exc}. Check that the "
                "folder exists and is writable, or change [state] path."
            ) from exc
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL still keeps the file consistent after a crash. A power cut may
            # lose the last commits, so at worst a history row or a decision to enter again.
            # The setting is per connection, so the push journal chooses its own.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise _state_error(self.path, exc) from exc
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return _schema_version(self._conn)

    # ----- runs

    @_translating_errors
    def start_run(self, command: str, started_at: dt.datetime, config_hash: str | None) -> str:
        """Record the start of a run and return its run id.

        The run id is the UTC start time, ``20250314T070002Z``, with ``-2``, ``-3`` … appended when
        another run started in the same second, so it also serves as the run's report folder name.
        """
        started_text = _to_text(started_at)
        base = started_at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        with _transaction(self._conn) as conn:
            run_id = base
            suffix = 1
            while conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                suffix += 1
                run_id = f"{base}-{suffix}"
            conn.execute(
                "INSERT INTO runs (run_id, command, started_at, config_hash) VALUES (?, ?, ?, ?)",
                (run_id, command, started_text, config_hash),
            )
        logger.debug("run %s started (%s)", run_id, command)
        return run_id

    @_translating_errors
    def finish_run(
        self,
        run_id: str,
        ended_at: dt.datetime,
        outcome: str,
        exit_code: int,
        counts_by_kind: Mapping[str, int],
        pushes: Mapping[str, int],
        report_dir: str | os.PathLike[str] | None,
        *,
        fingerprint: str | None = None,
    ) -> None:
        """Record how a run ended.

        - ``outcome``: one of ``OUTCOMES``, as ``outcome_for_exit_code`` returns it.
        - ``pushes``: push results counted by status, for example ``{"sent": 3, "failed": 1}``.
        - ``fingerprint``: the ``run_fingerprint`` of the run's inputs and configuration, which
          a later run compares to skip unchanged work.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
        with _transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE runs SET ended_at = ?, outcome = ?, exit_code = ?, counts_json = ?, "
                "pushes_json = ?, report_dir = ?, fingerprint = ? WHERE run_id = ?",
                (
                    _to_text(ended_at),
                    outcome,
                    exit_code,
                    json.dumps(dict(counts_by_kind), sort_keys=True),
                    json.dumps(dict(pushes), sort_keys=True),
                    None if report_dir is None else os.fspath(report_dir),
                    fingerprint,
                    run_id,
                ),
            )
            if cursor.rowcount != 1:
                raise ValueError(f"run {run_id} is not recorded in {self.path}")
        logger.debug("run %s finished: %s, exit code %d", run_id, outcome, exit_code)

    @_translating_errors
    def record_input(
        self,
        run_id: str,
        path: str | os.PathLike[str],
        kind: str,
        sha256: str | None,
        status: str,
        records: int,
        rejects: int,
        reason: str | None,
    ) -> None:
        """Record one input file of a run: its hash, whether it was read or refused, and counts."""
        with _transaction(self._conn) as conn:
            seq = self._seq_of(run_id)
            conn.execute(
                "INSERT INTO run_inputs (run_seq, path, kind, sha256, status, records, rejects, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, os.fspath(path), kind, sha256, status, records, rejects, reason),
            )

    def _seq_of(self, run_id: str) -> int:
        row = self._conn.execute("SELECT seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise ValueError(f"run {run_id} is not recorded in {self.path}")
        return int(row[0])

    @_translating_errors
    def list_runs(self, limit: int | None = None) -> list[RunRecord]:
        """Return recorded runs, newest first, each with its inputs."""
        sql = f"SELECT {_RUN_SELECT} FROM runs ORDER BY seq DESC"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        return self._runs_from(self._conn.execute(sql, params).fetchall())

    @_translating_errors
    def last_completed_run(self, command: str | None = None) -> RunRecord | None:
        """Return the newest run that ran to the end (exit code 0 or 1), or None.

        Its ``report_dir`` may since have been deleted by the report folders' own pruning.
        """
        return self._last_run("exit_code IN (0, 1)", (), command)

    @_translating_errors
    def last_completed_run_with_fingerprint(
        self, fingerprint: str, command: str | None = None
    ) -> RunRecord | None:
        """Return the newest completed run (exit code 0 or 1) with this fingerprint, or None."""
        return self._last_run("exit_code IN (0, 1) AND fingerprint = ?", (fingerprint,), command)

    @_translating_errors
    def last_successful_run(self, command: str | None = None) -> RunRecord | None:
        """Return the newest run that exited 0 (nothing needed action), or None."""
        return self._last_run("exit_code = 0", (), command)

    def _last_run(self, where: str, params: tuple[str, ...], command: str | None) -> RunRecord | None:
        if command is not None:
            where += " AND command = ?"
            params = (*params, command)
        rows = self._conn.execute(
            f"SELECT {_RUN_SELECT} FROM runs WHERE {where} ORDER BY seq DESC LIMIT 1", params
        ).fetchall()
        runs = self._runs_from(rows)
        return runs[0] if runs else None

    def _runs_from(self, rows: list[tuple]) -> list[RunRecord]:
        named = [dict(zip(_RUN_COLUMNS, row, strict=True)) for row in rows]
        inputs = self._inputs_of([row["seq"] for row in named])
        return [
            RunRecord(
                run_id=row["run_id"],
                command=row["command"],
                started_at=_from_text(row["started_at"]),
                ended_at=_from_text(row["ended_at"]),
                outcome=row["outcome"],
                exit_code=row["exit_code"],
                config_hash=row["config_hash"],
                fingerprint=row["fingerprint"],
                counts_by_kind=json.loads(row["counts_json"]),
                pushes=json.loads(row["pushes_json"]),
                report_dir=row["report_dir"],
                inputs=inputs.get(row["seq"], []),
            )
            for row in named
        ]

    def _inputs_of(self, seqs: list[int]) -> dict[int, list[InputRecord]]:
        found: dict[int, list[InputRecord]] = {}
        if not seqs:
            return found
        placeholders = ", ".join("?" for _ in seqs)
        rows = self._conn.execute(
            "SELECT run_seq, path, kind, sha256, status, records, rejects, reason FROM run_inputs "
            f"WHERE run_seq IN ({placeholders}) ORDER BY rowid",
            seqs,
        )
        for seq, *values in rows:
            found.setdefault(seq, []).append(InputRecord(*values))
        return found

    # ----- decisions

    @_translating_errors
    def accept(self, finding_id: str, values_hash: str, reason: str, user: str, at: dt.datetime) -> None:
        """Record that ``user`` accepts the finding as shown (``values_hash``), and why.

        A later acceptance of the same finding replaces the earlier one; both stay in the audit
        trail. Raises ConfigError for a malformed finding id or an empty reason.
        """
        _check_finding_id(finding_id)
        if not reason.strip():
            raise ConfigError(f"accepting {finding_id} needs a reason: give --reason TEXT")
        when = _to_text(at)
        with _transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO decisions (finding_id, values_hash, reason, accepted_by, accepted_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (finding_id) DO UPDATE SET "
                "values_hash = excluded.values_hash, reason = excluded.reason, "
                "accepted_by = excluded.accepted_by, accepted_at = excluded.accepted_at, "
                "undone_by = NULL, undone_at = NULL, undo_reason = NULL",
                (finding_id, values_hash, reason.strip(), user, when),
            )
            self._add_event(finding_id, "accept", values_hash, reason.strip(), user, when)
        logger.info("finding %s accepted by %s", finding_id, user)

    @_translating_errors
    def undo(self, finding_id: str, user: str, at: dt.datetime, reason: str | None = None) -> None:
        """Reverse the active acceptance of a finding, so it shows as open again.

        Raises ConfigError when the finding has no active acceptance.
        """
        _check_finding_id(finding_id)
        when = _to_text(at)
        with _transaction(self._conn) as conn:
            cursor = conn.execute(
                "UPDATE decisions SET undone_by = ?, undone_at = ?, undo_reason = ? "
                "WHERE finding_id = ? AND undone_at IS NULL",
                (user, when, reason, finding_id),
            )
            if cursor.rowcount != 1:
                raise ConfigError(
                    f"finding {finding_id} has no active acceptance to undo; "
                    "check the finding id in the latest report"
                )
            self._add_event(finding_id, "undo", None, reason, user, when)
        logger.info("acceptance of finding %s undone by %s", finding_id, user)

    def _add_event(
        self, finding_id: str, action: str, values_hash: str | None, reason: str | None, user: str, at: str
    ) -> None:
        self._conn.execute(
            "INSERT INTO decision_events (finding_id, action, values_hash, reason, user_name, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (finding_id, action, values_hash, reason, user, at),
        )

    @_translating_errors
    def decisions(self) -> dict[str, Decision]:
        """Return the latest decision on each finding, active or undone, by finding id."""
        rows = self._conn.execute(
            "SELECT finding_id, values_hash, reason, accepted_by, accepted_at, undone_by, undone_at, "
            "undo_reason FROM decisions"
        )
        return {
            row[0]: Decision(
                finding_id=row[0],
                values_hash=row[1],
                reason=row[2],
                accepted_by=row[3],
                accepted_at=_from_text(row[4]),
                undone_by=row[5],
                undone_at=_from_text(row[6]),
                undo_reason=row[7],
            )
            for row in rows
        }

    @_translating_errors
    def decision_events(self, finding_id: str | None = None) -> list[DecisionEvent]:
        """Return the audit trail, oldest first, for one finding or for all."""
        sql = "SELECT finding_id, action, values_hash, reason, user_name, at FROM decision_events"
        params: tuple[str, ...] = ()
        if finding_id is not None:
            sql += " WHERE finding_id = ?"
            params = (finding_id,)
        rows = self._conn.execute(sql + " ORDER BY event_id", params)
        return [DecisionEvent(r[0], r[1], r[2], r[3], r[4], _from_text(r[5])) for r in rows]

    # ----- pruning

    @_translating_errors
    def prune(self, keep_days: int, now: dt.datetime) -> PruneCounts:
        """Delete old runs and old undone decisions; return what was deleted.

        Runs that started more than ``keep_days`` days before ``now`` are deleted with their
        inputs. Kept whatever their age:

        - the last ``KEEP_LAST_RUNS`` runs;
        - the last successful run (exit code 0);
        - the last completed run (exit code 0 or 1), which skipping unchanged work compares with;
        - every active decision, with its whole audit trail;
        - undone decisions, for ``UNDONE_DECISION_DAYS`` days after the undo.

        The file is compacted (``VACUUM``) when more than a quarter of its pages are free. The
        push journal's tables are not touched.
        """
        if keep_days < 0:
            raise ValueError(f"keep_days must be 0 or more, not {keep_days}")
        run_cutoff = _to_text(now - dt.timedelta(days=keep_days))
        decision_cutoff = _to_text(now - dt.timedelta(days=UNDONE_DECISION_DAYS))
        with _transaction(self._conn) as conn:
            runs, inputs = self._prune_runs(conn, run_cutoff)
            decisions, events = self._prune_decisions(conn, decision_cutoff)
        vacuumed = self._vacuum_if_sparse()
        counts = PruneCounts(runs, inputs, decisions, events, vacuumed)
        logger.info(
            "pruned the state file: %d runs, %d inputs, %d undone decisions deleted",
            runs,
            inputs,
            decisions,
        )
        return counts

    @staticmethod
    def _prune_runs(conn: sqlite3.Connection, cutoff: str) -> tuple[int, int]:
        doomed = (
            "SELECT seq FROM runs WHERE started_at < :cutoff "
            "AND seq NOT IN (SELECT seq FROM runs ORDER BY seq DESC LIMIT :keep) "
            "AND seq IS NOT (SELECT max(seq) FROM runs WHERE exit_code = 0) "
            "AND seq IS NOT (SELECT max(seq) FROM runs WHERE exit_code IN (0, 1))"
        )
        params = {"cutoff": cutoff, "keep": KEEP_LAST_RUNS}
        inputs = conn.execute(f"DELETE FROM run_inputs WHERE run_seq IN ({doomed})", params).rowcount
        runs = conn.execute(f"DELETE FROM runs WHERE seq IN ({doomed})", params).rowcount
        return runs, inputs

    @staticmethod
    def _prune_decisions(conn: sqlite3.Connection, cutoff: str) -> tuple[int, int]:
        doomed = "SELECT finding_id FROM decisions WHERE undone_at IS NOT NULL AND undone_at < ?"
        events = conn.execute(
            f"DELETE FROM decision_events WHERE finding_id IN ({doomed})", (cutoff,)
        ).rowcount
        decisions = conn.execute(f"DELETE FROM decisions WHERE finding_id IN ({doomed})", (cutoff,)).rowcount
        return decisions, events

    def _vacuum_if_sparse(self) -> bool:
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        total = self._conn.execute("PRAGMA page_count").fetchone()[0]
        if free * 4 <= total:
            return False
        try:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            # A reader such as a concurrent history command can block VACUUM; the next prune tries again.
            logger.warning("could not compact the state file %s: %s", self.path, exc)
            return False
        logger.debug("compacted the state file %s (%d of %d pages were free)", self.path, free, total)
        return True


def _check_finding_id(finding_id: str) -> None:
    if not FINDING_ID.fullmatch(finding_id):
        raise ConfigError(
            f"{finding_id!r} is not a finding id: a finding id is 'f-' and 16 hexadecimal digits, "
            "as in the id column of the report"
        )
