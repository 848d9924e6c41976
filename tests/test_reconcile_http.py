"""``sync-agent reconcile`` with ``[portal] mode = "http"``: the portal read through its REST API."""

from __future__ import annotations

import json
from pathlib import Path

from portal_support import (
    SAMPLE,
    SAMPLE_AS_OF,
    TOKEN_ENV,
    sample_portal_payloads,
    sample_school_on_portal,
    use_fast_retries,
)

from sync_agent.cli import main


def finding_key(entry: dict) -> tuple:
    return (entry["kind"], entry["upn"], entry["category"], entry["start_date"], entry["field"])


def reconcile(folder: Path, out: Path) -> int:
    return main(["reconcile", "--config", str(folder / "agent.toml"), "--as-of", SAMPLE_AS_OF, "--out", str(out)])


def test_http_reconcile_finds_sample_findings(tmp_path, monkeypatch):
    with sample_school_on_portal(tmp_path / "school", monkeypatch):
        code = reconcile(tmp_path / "school", tmp_path / "out")

    report = json.loads((tmp_path / "out" / "reconciliation.json").read_text(encoding="utf-8"))
    expected = json.loads((SAMPLE / "expected_findings.json").read_text(encoding="utf-8"))
    expected += json.loads((SAMPLE / "expected_register_findings.json").read_text(encoding="utf-8"))
    found = sorted(finding_key(f) for f in report["findings"])
    wanted = sorted({finding_key(e) for e in expected})
    assert found == wanted
    assert code == 1


def test_http_reconcile_reads_portal_year(tmp_path, monkeypatch):
    # The API is asked for the 2024-25 academic year only, so the two June 2024 records of the
    # portal export are not read.
    in_year = [p for p in sample_portal_payloads() if "2024-08-01" <= p["start_date"] <= "2025-07-31"]
    with sample_school_on_portal(tmp_path / "school", monkeypatch) as portal:
        reconcile(tmp_path / "school", tmp_path / "out")
        posts = [request for request in portal.requests if request[0] == "POST"]

    report = json.loads((tmp_path / "out" / "reconciliation.json").read_text(encoding="utf-8"))
    by_kind = {item["kind"]: item for item in report["inputs"]}
    assert len(in_year) == 54
    assert by_kind["portal"]["records"] == len(in_year)
    assert by_kind["portal"]["rejects"] == 0
    assert "(portal API)" in by_kind["portal"]["path"]
    assert posts == []


def test_http_reconcile_wrong_token_exits_2(tmp_path, monkeypatch, capsys):
    with sample_school_on_portal(tmp_path / "school", monkeypatch):
        monkeypatch.setenv(TOKEN_ENV, "wrong-token")
        code = reconcile(tmp_path / "school", tmp_path / "out")

    error = capsys.readouterr().err
    assert code == 2
    assert "refused the token" in error
    assert TOKEN_ENV in error
    assert "wrong-token" not in error
    assert not (tmp_path / "out" / "reconciliation.json").exists()


def test_http_reconcile_unset_token_exits_2(tmp_path, monkeypatch, capsys):
    with sample_school_on_portal(tmp_path / "school", monkeypatch):
        monkeypatch.delenv(TOKEN_ENV)
        code = reconcile(tmp_path / "school", tmp_path / "out")

    error = capsys.readouterr().err
    assert code == 2
    assert f"{TOKEN_ENV} (named by [portal] token_env) is not set" in error


def test_http_reconcile_stopped_portal_exits_2(tmp_path, monkeypatch, capsys):
    use_fast_retries(monkeypatch)
    with sample_school_on_portal(tmp_path / "school", monkeypatch) as portal:
        portal.stop()
        code = reconcile(tmp_path / "school", tmp_path / "out")

    error = capsys.readouterr().err
    assert code == 2
    assert "unreachable" in error
    assert "check [portal] url" in error
    assert not (tmp_path / "out" / "reconciliation.json").exists()


def test_http_reject_names_portal_url(tmp_path, monkeypatch):
    import csv

    with sample_school_on_portal(tmp_path / "school", monkeypatch) as portal:
        record = next(r for r in portal.records.values() if "2024-08-01" <= r["start_date"] <= "2025-07-31")
        portal.records["EX-BAD"] = {**record, "id": "EX-BAD", "category": "ZZZZ"}
        reconcile(tmp_path / "school", tmp_path / "out")

    with (tmp_path / "out" / "rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        [reject] = list(csv.DictReader(handle))
    assert reject["file"].startswith("http://127.0.0.1:")
    assert reject["file"].endswith("(portal API)")
