"""``sync-agent push`` end to end: the sample school against the reference portal on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from portal_support import SAMPLE_AS_OF, TOKEN_ENV, sample_school_on_portal

from sync_agent.cli import main


@pytest.fixture
def school(tmp_path, monkeypatch):
    """A copy of the sample school whose portal is the reference portal."""
    folder = tmp_path / "school"
    with sample_school_on_portal(folder, monkeypatch) as portal:
        yield folder, portal


def run(folder: Path, *extra: str) -> int:
    return main(["push", "--config", str(folder / "agent.toml"), "--as-of", SAMPLE_AS_OF, *extra])


def test_push_without_yes_sends_nothing(school, capsys):
    folder, portal = school
    before = len(portal.records)

    code = run(folder, "--out", str(folder / "plan"))

    assert code == 0
    assert len(portal.records) == before
    assert not (folder / "state.db").exists()
    assert (folder / "plan" / "push-plan.csv").exists()
    assert (folder / "plan" / "push-plan.xlsx").exists()
    assert "nothing was sent" in capsys.readouterr().out


def test_push_yes_delivers_missing_once(school, capsys):
    folder, portal = school
    before = len(portal.records)

    first = run(folder, "--yes")
    first_output = capsys.readouterr().out
    second = run(folder, "--yes")
    second_output = capsys.readouterr().out

    assert first == 0
    assert "delivered: 3" in first_output
    assert len(portal.records) == before + 3
    assert second == 0
    assert "delivered: 0" in second_output
    assert len(portal.records) == before + 3


def test_push_skips_accepted_finding(school, capsys):
    folder, portal = school
    before = set(portal.records)
    assert main(["reconcile", "--config", str(folder / "agent.toml"), "--as-of", SAMPLE_AS_OF]) in (0, 1)
    report = json.loads((folder / "reports" / "latest" / "reconciliation.json").read_text(encoding="utf-8"))
    accepted = next(f for f in report["findings"] if f["kind"] == "missing_on_portal")
    assert main(["accept", accepted["id"], "--reason", "the LA asked us not to log it",
                 "--config", str(folder / "agent.toml")]) == 0
    capsys.readouterr()

    code = run(folder, "--yes")

    assert code == 0
    assert "delivered: 2" in capsys.readouterr().out
    added = [record for key, record in portal.records.items() if key not in before]
    assert len(added) == 2
    assert accepted["upn"] not in {record["upn"] for record in added}


def test_push_exits_1_with_rejected_rows(school, capsys):
    folder, portal = school
    record = next(r for r in portal.records.values() if "2024-08-01" <= r["start_date"] <= "2025-07-31")
    portal.records["EX-BAD"] = {**record, "id": "EX-BAD", "category": "ZZZZ"}

    code = run(folder, "--yes")

    captured = capsys.readouterr()
    assert code == 1
    assert "delivered: 3" in captured.out
    assert "1 rejected input row(s) need correcting" in captured.err


def test_portal_check_reports_bad_token(school, monkeypatch, capsys):
    folder, _ = school
    monkeypatch.setenv(TOKEN_ENV, "wrong-token")

    code = main(["portal-check", "--config", str(folder / "agent.toml")])

    assert code == 2
    assert "token" in capsys.readouterr().out.lower()


def test_portal_check_passes_with_good_token(school, capsys):
    folder, _ = school

    code = main(["portal-check", "--config", str(folder / "agent.toml")])

    assert code == 0
