"""Run history as a table and as JSON, from runs recorded in a real state file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sync_agent.history import format_history, history_json
from sync_agent.state import RunRecord, StateStore

UTC = dt.timezone.utc
START = dt.datetime(2025, 3, 14, 7, 0, 2, tzinfo=UTC)


@pytest.fixture
def runs(tmp_path: Path) -> list[RunRecord]:
    with StateStore(tmp_path / "state.db") as store:
        finished = store.start_run("sync", START, "cfg")
        store.record_input(finished, "exports/exclusions.csv", "exclusions", "a" * 64, "read", 41, 1, None)
        store.record_input(finished, "exports/attendance.csv", "attendance", None, "refused", 0, 0, "empty file")
        store.finish_run(finished, START + dt.timedelta(seconds=65), "could_not_run", 2,
                         {"missing_on_portal": 3, "field_mismatch": 2}, {"sent": 3, "failed": 1},
                         f"reports/{finished}")
        store.start_run("reconcile", START + dt.timedelta(days=1), "cfg")
        return store.list_runs()


def test_table_shows_each_run(runs: list[RunRecord]) -> None:
    lines = format_history(runs).splitlines()

    assert lines[0].split()[:3] == ["run", "id", "started"]
    assert len(lines) == 4
    unfinished, finished = lines[2], lines[3]
    assert unfinished.startswith("20250315T070002Z")
    assert "unfinished" in unfinished
    assert finished.startswith("20250314T070002Z")
    assert "2025-03-14 07:00:02" in finished
    assert "1m 05s" in finished
    assert "could not run" in finished
    assert "read 1, refused 1" in finished
    assert "field_mismatch 2, missing_on_portal 3" in finished
    assert "failed 1, sent 3" in finished


def test_table_without_runs() -> None:
    assert format_history([]) == "No runs recorded yet."


def test_json_lists_fields(runs: list[RunRecord]) -> None:
    data = json.loads(history_json(runs))

    assert [run["run_id"] for run in data["runs"]] == ["20250315T070002Z", "20250314T070002Z"]
    finished = data["runs"][1]
    assert finished["command"] == "sync"
    assert finished["started_at"] == "2025-03-14T07:00:02+00:00"
    assert finished["ended_at"] == "2025-03-14T07:01:07+00:00"
    assert finished["duration_seconds"] == 65
    assert finished["outcome"] == "could_not_run"
    assert finished["exit_code"] == 2
    assert finished["counts_by_kind"] == {"field_mismatch": 2, "missing_on_portal": 3}
    assert finished["pushes"] == {"failed": 1, "sent": 3}
    assert finished["report_dir"] == "reports/20250314T070002Z"
    assert finished["inputs"][1]["status"] == "refused"
    assert finished["inputs"][1]["reason"] == "empty file"
    assert data["runs"][0]["duration_seconds"] is None
