"""The scheduled sync: skipping unchanged work, refused inputs, the run lock and a killed run."""

from __future__ import annotations

import shutil

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from builders import AS_OF, permanent, record, write_config, write_sims_csv
from sync_agent.state import StateStore
from sync_support import (
    SAMPLE_AS_OF,
    latest_report,
    run_command,
    run_folders,
    run_sync,
    sample_school,
    small_school,
)

WAIT_SECONDS = 30
MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"

# Takes the run lock, says so on one line, then holds it until standard input closes.
LOCK_HOLDER = """
import sys
from pathlib import Path
from sync_agent.lock import RunLock
with RunLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def set_settle_seconds(folder: Path, seconds: int) -> None:
    config = folder / "agent.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("settle_seconds = 0", f"settle_seconds = {seconds}"),
                      encoding="utf-8")


def make_old(path: Path) -> None:
    """Set the file's modification time an hour back, so the settle wait is over at once."""
    past = time.time() - 3600
    os.utime(path, (past, past))


def sync_runs(folder: Path) -> list:
    with StateStore(folder / "state.db") as store:
        return store.list_runs()


def test_sample_school_full_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample_school(tmp_path)

    assert run_sync(tmp_path, as_of=SAMPLE_AS_OF) == 1

    report = latest_report(tmp_path)
    assert report["summary"]["missing_on_portal"] == 3
    assert len(run_folders(tmp_path)) == 1
    [run] = sync_runs(tmp_path)
    assert run.exit_code == 1
    assert run.counts_by_kind == report["summary"]
    assert [i.status for i in run.inputs] == ["read"] * 4
    assert run.report_dir == str(tmp_path / "reports" / run_folders(tmp_path)[0])
    assert "Findings:" in capsys.readouterr().out


def test_unchanged_inputs_skip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    assert run_sync(tmp_path) == 1
    first = sync_runs(tmp_path)[0].run_id
    capsys.readouterr()

    assert run_sync(tmp_path, as_of="2024-06-02") == 1

    out = capsys.readouterr().out
    assert f"unchanged since run {first}; nothing to do" in out
    assert len(run_folders(tmp_path)) == 1
    assert len(sync_runs(tmp_path)) == 1


def test_deleted_reports_rerun(tmp_path: Path) -> None:
    small_school(tmp_path)
    assert run_sync(tmp_path) == 1
    shutil.rmtree(tmp_path / "reports")

    assert run_sync(tmp_path) == 1

    assert len(sync_runs(tmp_path)) == 2
    assert len(run_folders(tmp_path)) == 1


def test_changed_mapping_alone_reruns(tmp_path: Path) -> None:
    small_school(tmp_path)
    mapping = tmp_path / "school-sims.toml"
    mapping.write_bytes((MAPPINGS / "sims-csv.toml").read_bytes())
    write_config(tmp_path, mapping="school-sims.toml")
    assert run_sync(tmp_path) == 1

    mapping.write_bytes(mapping.read_bytes() + b"\n# checked by the data manager\n")

    assert run_sync(tmp_path) == 1
    assert len(sync_runs(tmp_path)) == 2
    assert len(run_folders(tmp_path)) == 2


def test_force_reruns(tmp_path: Path) -> None:
    small_school(tmp_path)
    assert run_sync(tmp_path) == 1

    assert run_sync(tmp_path, "--force") == 1

    assert len(sync_runs(tmp_path)) == 2
    assert len(run_folders(tmp_path)) == 2


def test_changed_export_reruns(tmp_path: Path) -> None:
    small_school(tmp_path)
    assert run_sync(tmp_path) == 1

    write_sims_csv(tmp_path / "exclusions.csv", [permanent()])

    assert run_sync(tmp_path) == 0
    # The permanent exclusion always asks for a governing board review (a warning).
    assert latest_report(tmp_path)["summary"] == {"board_review_required": 1}


def test_empty_export_refused_then_retried(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    (tmp_path / "exclusions.csv").write_bytes(b"")

    assert run_sync(tmp_path) == 2
    assert run_sync(tmp_path) == 2

    runs = sync_runs(tmp_path)
    assert [r.exit_code for r in runs] == [2, 2]
    assert runs[0].inputs[0].status == "refused"
    assert "nothing to do" not in capsys.readouterr().out
    report = latest_report(tmp_path)
    assert report["inputs"][0]["status"] == "refused"
    assert "missing_in_mis" not in report["summary"]

    write_sims_csv(tmp_path / "exclusions.csv", [record(), permanent()])

    assert run_sync(tmp_path) == 1
    assert latest_report(tmp_path)["summary"] == {"missing_on_portal": 1, "board_review_required": 1}
    assert len(sync_runs(tmp_path)) == 3


def test_refused_run_never_skipped_back(tmp_path: Path) -> None:
    # complete → refused → the same complete file again: the last run refused, so this one runs.
    small_school(tmp_path)
    export = tmp_path / "exclusions.csv"
    complete = export.read_bytes()
    assert run_sync(tmp_path) == 1
    export.write_bytes(b"")
    assert run_sync(tmp_path) == 2

    export.write_bytes(complete)

    assert run_sync(tmp_path) == 1
    assert len(sync_runs(tmp_path)) == 3
    assert latest_report(tmp_path)["inputs"][0]["status"] == "read"


def test_export_still_written_refused(tmp_path: Path) -> None:
    small_school(tmp_path)
    set_settle_seconds(tmp_path, 2)
    export = tmp_path / "exclusions.csv"

    def keep_writing() -> None:
        time.sleep(0.5)
        with export.open("a", encoding="utf-8", newline="") as handle:
            handle.write("K801999924005,Hallo")

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        code = run_sync(tmp_path)
    finally:
        writer.join()

    assert code == 2
    [mis, _portal] = latest_report(tmp_path)["inputs"]
    assert mis["status"] == "refused"
    assert "still being written" in mis["reason"]

    write_sims_csv(export, [record(), permanent()])
    make_old(export)

    assert run_sync(tmp_path) == 1
    assert latest_report(tmp_path)["inputs"][0]["records"] == 2


def test_lock_held_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path / "state.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"

        assert run_sync(tmp_path) == 3
    finally:
        holder.stdin.close()
        holder.wait(timeout=WAIT_SECONDS)
        holder.stdout.close()

    assert f"process {holder.pid}" in capsys.readouterr().err
    assert run_folders(tmp_path) == []
    assert run_sync(tmp_path) == 1


def wait_for_unfinished_run(state_path: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"the sync process ended early with exit code {child.returncode}")
        if state_path.is_file():
            with sqlite3.connect(state_path) as conn:
                try:
                    if conn.execute("SELECT 1 FROM runs WHERE ended_at IS NULL").fetchone():
                        return
                except sqlite3.OperationalError:
                    pass  # the tables are not created yet
        time.sleep(0.1)
    pytest.fail(f"the sync process did not start a run within {WAIT_SECONDS} s")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows")
def test_killed_run_taken_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    # The child waits for the export to settle, holding the lock with its run started.
    set_settle_seconds(tmp_path, 60)
    export = tmp_path / "exclusions.csv"
    os.utime(export)
    child = subprocess.Popen(
        [sys.executable, "-m", "sync_agent", "sync", "--config", str(tmp_path / "agent.toml"), "--as-of", AS_OF],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_unfinished_run(tmp_path / "state.db", child)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=WAIT_SECONDS)
    make_old(export)

    assert run_sync(tmp_path) == 1

    assert "taking over the lock left by process" in capsys.readouterr().err
    finished, killed = sync_runs(tmp_path)
    assert finished.exit_code == 1
    assert killed.outcome is None
    assert killed.ended_at is None


def test_history_json_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)
    (tmp_path / "exclusions.csv").write_bytes(b"")
    run_sync(tmp_path)
    capsys.readouterr()

    assert run_command("history", "--config", str(tmp_path / "agent.toml"), "--json") == 0

    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["exit_code"] for r in runs] == [2, 1]
    assert runs[0]["inputs"][0]["status"] == "refused"
    assert runs[1]["counts_by_kind"] == {"missing_on_portal": 1, "board_review_required": 1}


def test_history_limit_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)
    run_sync(tmp_path, "--force")
    capsys.readouterr()

    assert run_command("history", "--config", str(tmp_path / "agent.toml"), "--limit", "1") == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("run id")
    assert len(lines) == 3
    assert "action needed" in lines[2]


def test_history_without_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)

    assert run_command("history", "--config", str(tmp_path / "agent.toml")) == 0

    assert "No runs recorded yet." in capsys.readouterr().out
    assert not (tmp_path / "state.db").exists()
