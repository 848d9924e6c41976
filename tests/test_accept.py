"""Reviewer decisions from the command line: accept, undo, and how later runs show them."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import permanent, record, write_portal_csv
from sync_agent.state import StateStore
from sync_support import latest_report, run_command, run_sync, small_school


def accept(folder: Path, *args: str) -> int:
    return run_command("accept", *args, "--config", str(folder / "agent.toml"))


def missing_finding(folder: Path) -> dict:
    [finding] = [f for f in latest_report(folder)["findings"] if f["kind"] == "missing_on_portal"]
    return finding


def test_accepted_finding_stays_accepted(tmp_path: Path) -> None:
    small_school(tmp_path)
    assert run_sync(tmp_path) == 1
    finding_id = missing_finding(tmp_path)["id"]

    assert accept(tmp_path, finding_id, "--reason", "LA logged it by phone") == 0
    assert run_sync(tmp_path) == 0
    assert run_sync(tmp_path, "--force") == 0

    finding = missing_finding(tmp_path)
    assert finding["status"] == "accepted"
    assert "LA logged it by phone" in finding["message"]
    with StateStore(tmp_path / "state.db") as store:
        [event] = store.decision_events(finding_id)
    assert event.reason == "LA logged it by phone"
    assert event.user


def test_accepted_finding_reopens_on_change(tmp_path: Path) -> None:
    small_school(tmp_path, mis=[record(), permanent()], portal=[record(reason_1="PA"), permanent()])
    assert run_sync(tmp_path) == 1
    [mismatch] = [f for f in latest_report(tmp_path)["findings"] if f["kind"] == "field_mismatch"]
    accept(tmp_path, mismatch["id"], "--reason", "the LA corrects the portal this week")
    assert run_sync(tmp_path) == 0

    write_portal_csv(tmp_path / "portal.csv", [record(reason_1="DA"), permanent()])

    assert run_sync(tmp_path) == 1
    [finding] = [f for f in latest_report(tmp_path)["findings"] if f["kind"] == "field_mismatch"]
    assert finding["id"] == mismatch["id"]
    assert finding["portal_value"] != mismatch["portal_value"]
    assert finding["status"] == "open"
    assert "no longer applies" in finding["message"]


def test_undo_reopens_finding(tmp_path: Path) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)
    finding_id = missing_finding(tmp_path)["id"]
    accept(tmp_path, finding_id, "--reason", "LA logged it by phone")
    assert run_sync(tmp_path) == 0

    assert accept(tmp_path, finding_id, "--undo", "--reason", "the LA has no record after all") == 0

    assert run_sync(tmp_path) == 1
    assert missing_finding(tmp_path)["status"] == "open"


def test_undo_without_acceptance_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)
    finding_id = missing_finding(tmp_path)["id"]

    assert accept(tmp_path, finding_id, "--undo") == 2

    assert "has no active acceptance" in capsys.readouterr().err


def test_accept_unknown_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)

    assert accept(tmp_path, "f-0123456789abcdef", "--reason", "checked") == 2

    assert "is not in the latest report" in capsys.readouterr().err


def test_accept_before_any_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)

    assert accept(tmp_path, "f-0123456789abcdef", "--reason", "checked") == 2

    assert "run `sync-agent sync` or `sync-agent reconcile` first" in capsys.readouterr().err


def test_accept_needs_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)

    assert accept(tmp_path, missing_finding(tmp_path)["id"]) == 2

    assert "needs a reason" in capsys.readouterr().err


def test_reconcile_applies_decisions(tmp_path: Path) -> None:
    small_school(tmp_path)
    run_sync(tmp_path)
    accept(tmp_path, missing_finding(tmp_path)["id"], "--reason", "LA logged it by phone")

    code = run_command("reconcile", "--config", str(tmp_path / "agent.toml"), "--as-of", "2024-06-01")

    assert code == 0
    assert missing_finding(tmp_path)["status"] == "accepted"


def test_reconcile_creates_no_state(tmp_path: Path) -> None:
    small_school(tmp_path)

    code = run_command("reconcile", "--config", str(tmp_path / "agent.toml"), "--as-of", "2024-06-01")

    assert code == 1
    assert not (tmp_path / "state.db").exists()
