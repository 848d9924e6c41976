"""The state file: schema versions, runs, reviewer decisions and pruning, on real SQLite files."""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
from pathlib import Path

import pytest

from sync_agent import state
from sync_agent.errors import ConfigError, StateError
from sync_agent.state import StateStore, run_fingerprint

UTC = dt.timezone.utc
START = dt.datetime(2025, 3, 14, 7, 0, 2, tzinfo=UTC)
FINDING = "f-3a9c51d07e2b4f16"


def _version_in(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'state_schema_version'").fetchone()[0]


def _finished_run(store: StateStore, started: dt.datetime, exit_code: int = 0, fingerprint: str = "fp") -> str:
    run_id = store.start_run("sync", started, "cfg")
    store.record_input(run_id, "exports/exclusions.csv", "exclusions", "a" * 64, "read", 41, 1, None)
    store.record_input(run_id, "portal/portal-export.csv", "portal", "b" * 64, "read", 40, 0, None)
    store.finish_run(
        run_id,
        started + dt.timedelta(seconds=65),
        state.outcome_for_exit_code(exit_code),
        exit_code,
        {"missing_on_portal": 3, "field_mismatch": 2},
        {"sent": 3},
        f"reports/{run_id}",
        fingerprint=fingerprint,
    )
    return run_id


# ----- schema versions


def test_new_file_stores_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        assert store.schema_version == len(state.MIGRATIONS)
    assert _version_in(path) == str(len(state.MIGRATIONS))


def test_new_file_uses_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_new_file_readable_by_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    assert path.stat().st_mode & 0o077 == 0


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'state_schema_version'")

    with pytest.raises(StateError) as caught:
        StateStore(path)
    supported = len(state.MIGRATIONS)
    assert str(caught.value) == (
        f"{path} was written by a newer sync-agent (schema 99); this release reads up to {supported}: "
        "upgrade sync-agent"
    )


def test_older_schema_migrated_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        run_id = _finished_run(store, START)

    def add_note_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    monkeypatch.setattr(state, "MIGRATIONS", [*state.MIGRATIONS, add_note_column])
    with StateStore(path) as store:
        assert store.schema_version == 2
        assert [run.run_id for run in store.list_runs()] == [run_id]
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert "note" in columns
    assert _version_in(path) == "2"


def test_failed_migration_leaves_file_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT")
        conn.execute("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    monkeypatch.setattr(state, "MIGRATIONS", [*state.MIGRATIONS, broken])
    with pytest.raises(StateError, match="state.db"):
        StateStore(path)
    assert _version_in(path) == "1"
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    assert "note" not in columns


def test_journal_tables_and_keys_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('journal_schema_version', '3')")
        conn.execute("CREATE TABLE journal (id INTEGER PRIMARY KEY, status TEXT)")
        conn.execute("INSERT INTO journal (status) VALUES ('sent')")

    with StateStore(path) as store:
        _finished_run(store, START)
        store.prune(keep_days=0, now=START + dt.timedelta(days=400))

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'journal_schema_version'").fetchone() == ("3",)
        assert conn.execute("SELECT status FROM journal").fetchall() == [("sent",)]
    assert _version_in(path) == "1"


def test_corrupt_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not an SQLite database, just text that got here somehow" * 20)
    with pytest.raises(StateError) as caught:
        StateStore(path)
    assert str(path) in str(caught.value)
    assert "not a usable sync-agent state file" in str(caught.value)


def test_non_numeric_version_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = 'two' WHERE key = 'state_schema_version'")
    with pytest.raises(StateError, match="not a whole number"):
        StateStore(path)


# ----- runs


def test_runs_recorded_and_listed(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        first = _finished_run(store, START, exit_code=1)
        second = _finished_run(store, START + dt.timedelta(days=1), exit_code=0)
        runs = store.list_runs()

    assert [run.run_id for run in runs] == [second, first]
    newest = runs[0]
    assert newest.run_id == "20250315T070002Z"
    assert newest.command == "sync"
    assert newest.outcome == "ok"
    assert newest.exit_code == 0
    assert newest.duration == dt.timedelta(seconds=65)
    assert newest.counts_by_kind == {"missing_on_portal": 3, "field_mismatch": 2}
    assert newest.pushes == {"sent": 3}
    assert newest.report_dir == "reports/20250315T070002Z"
    assert [i.path for i in newest.inputs] == ["exports/exclusions.csv", "portal/portal-export.csv"]
    assert newest.inputs[0].records == 41
    assert newest.inputs[0].rejects == 1
    assert runs[1].outcome == "action_needed"


def test_list_runs_limit(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        for day in range(5):
            _finished_run(store, START + dt.timedelta(days=day))
        assert len(store.list_runs(limit=3)) == 3


def test_same_second_runs_distinct_ids(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        ids = [store.start_run("sync", START, None) for _ in range(3)]
    assert ids == ["20250314T070002Z", "20250314T070002Z-2", "20250314T070002Z-3"]


def test_unfinished_run_listed(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        store.start_run("sync", START, "cfg")
        run = store.list_runs()[0]
    assert run.outcome is None
    assert run.duration is None


def test_last_completed_run_by_fingerprint(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        old = _finished_run(store, START, exit_code=0, fingerprint="fp-a")
        needs_action = _finished_run(store, START + dt.timedelta(days=1), exit_code=1, fingerprint="fp-b")
        _finished_run(store, START + dt.timedelta(days=2), exit_code=2, fingerprint="fp-b")

        completed = store.last_completed_run()
        by_fingerprint = store.last_completed_run_with_fingerprint("fp-a")
        successful = store.last_successful_run()
        missing = store.last_completed_run_with_fingerprint("fp-unknown")

    assert completed is not None
    assert completed.run_id == needs_action
    assert completed.exit_code == 1
    assert completed.fingerprint == "fp-b"
    assert completed.report_dir == f"reports/{needs_action}"
    assert by_fingerprint is not None
    assert by_fingerprint.run_id == old
    assert successful is not None
    assert successful.run_id == old
    assert missing is None


def test_fingerprint_ignores_order() -> None:
    first = run_fingerprint({"exports/a.csv": "1" * 64, "config": "2" * 64})
    second = run_fingerprint({"config": "2" * 64, "exports/a.csv": "1" * 64})
    changed = run_fingerprint({"config": "3" * 64, "exports/a.csv": "1" * 64})
    assert first == second
    assert first != changed


def test_naive_timestamp_rejected(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store, pytest.raises(ValueError, match="time zone"):
        store.start_run("sync", dt.datetime(2025, 3, 14, 7, 0), None)


def test_unknown_outcome_rejected(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        run_id = store.start_run("sync", START, None)
        with pytest.raises(ValueError, match="outcome"):
            store.finish_run(run_id, START, "fine", 0, {}, {}, None)


# ----- decisions


def test_decisions_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        store.accept(FINDING, "h" * 64, "Portal record logged by phone", "jsmith", START)

    with StateStore(path) as store:
        decision = store.decisions()[FINDING]
    assert decision.active
    assert decision.values_hash == "h" * 64
    assert decision.reason == "Portal record logged by phone"
    assert decision.accepted_by == "jsmith"
    assert decision.accepted_at == START


def test_undo_keeps_audit_trail(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        store.accept(FINDING, "h1", "agreed with the LA", "jsmith", START)
        store.undo(FINDING, "akhan", START + dt.timedelta(hours=1), reason="accepted by mistake")
        store.accept(FINDING, "h2", "checked again", "akhan", START + dt.timedelta(hours=2))
        events = store.decision_events(FINDING)
        decision = store.decisions()[FINDING]

    assert [(e.action, e.user) for e in events] == [("accept", "jsmith"), ("undo", "akhan"), ("accept", "akhan")]
    assert events[1].reason == "accepted by mistake"
    assert events[1].at == START + dt.timedelta(hours=1)
    assert decision.active
    assert decision.values_hash == "h2"


def test_undo_marks_decision_inactive(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        store.accept(FINDING, "h1", "agreed with the LA", "jsmith", START)
        store.undo(FINDING, "akhan", START + dt.timedelta(hours=1))
        decision = store.decisions()[FINDING]
    assert not decision.active
    assert decision.undone_by == "akhan"


def test_undo_without_acceptance_rejected(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store, pytest.raises(ConfigError, match="no active acceptance"):
        store.undo(FINDING, "akhan", START)


def test_accept_rejects_bad_input(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        with pytest.raises(ConfigError, match="not a finding id"):
            store.accept("f-xyz", "h", "reason", "jsmith", START)
        with pytest.raises(ConfigError, match="--reason"):
            store.accept(FINDING, "h", "   ", "jsmith", START)
        assert store.decisions() == {}


# ----- pruning


def test_prune_keeps_recent_and_last_success(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.db") as store:
        success = _finished_run(store, START, exit_code=0)
        for day in range(1, 40):
            _finished_run(store, START + dt.timedelta(days=day), exit_code=2)
        counts = store.prune(keep_days=5, now=START + dt.timedelta(days=100))
        kept = [run.run_id for run in store.list_runs()]

    assert len(kept) == 11
    assert success in kept
    assert counts.runs == 29
    assert counts.inputs == 58


def test_prune_drops_old_undone_decisions(tmp_path: Path) -> None:
    other = "f-0000000000000001"
    with StateStore(tmp_path / "state.db") as store:
        store.accept(FINDING, "h1", "agreed with the LA", "jsmith", START)
        store.accept(other, "h2", "duplicate on the portal", "jsmith", START)
        store.undo(other, "jsmith", START + dt.timedelta(days=1))
        counts = store.prune(keep_days=30, now=START + dt.timedelta(days=500))
        decisions = store.decisions()
        events = store.decision_events()

    assert list(decisions) == [FINDING]
    assert counts.decisions == 1
    assert counts.decision_events == 2
    assert [e.finding_id for e in events] == [FINDING]


def test_year_of_nightly_runs_stays_small(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first_night = dt.datetime(2024, 9, 1, 2, 0, tzinfo=UTC)
    with StateStore(path) as store:
        for night in range(365):
            started = first_night + dt.timedelta(days=night)
            run_id = store.start_run("sync", started, "c" * 64)
            for number in range(20):
                store.record_input(run_id, f"exports/part-{number:02d}.csv", "attendance", "d" * 64,
                                   "read", 5000, 3, None)
            counts = {kind: night % 7 for kind in ("missing_on_portal", "field_mismatch", "wrong_attendance_code")}
            store.finish_run(run_id, started + dt.timedelta(minutes=4), "action_needed", 1, counts,
                             {"sent": 2, "failed": 0}, f"reports/{run_id}", fingerprint="e" * 64)
            store.prune(keep_days=30, now=started + dt.timedelta(minutes=5))
        runs = store.list_runs()

    assert len(runs) == 30
    size = sum(p.stat().st_size for p in tmp_path.glob("state.db*"))
    assert size < 1_000_000


def test_prune_compacts_sparse_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore(path) as store:
        for day in range(200):
            run_id = store.start_run("sync", START + dt.timedelta(days=day), None)
            for number in range(20):
                store.record_input(run_id, f"exports/part-{number:02d}.csv", "attendance", "d" * 64,
                                   "read", 5000, 3, None)
        size_before = path.stat().st_size
        counts = store.prune(keep_days=1, now=START + dt.timedelta(days=400))

    assert counts.vacuumed
    assert counts.runs == 190
    assert path.stat().st_size < size_before / 4
