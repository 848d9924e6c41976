"""The shipped sample school: reconciling it finds exactly the differences its README lists."""

from __future__ import annotations

import json
from pathlib import Path

from sync_agent.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def _key(entry: dict) -> tuple:
    return (entry["kind"], entry["upn"], entry["category"], entry["start_date"], entry["field"])


def test_sample_reconcile_finds_planted_differences(tmp_path):
    code = main(["reconcile", "--config", str(SAMPLE / "agent.toml"), "--as-of", "2025-07-23", "--out", str(tmp_path)])

    report = json.loads((tmp_path / "reconciliation.json").read_text(encoding="utf-8"))
    expected = json.loads((SAMPLE / "expected_findings.json").read_text(encoding="utf-8"))
    expected += json.loads((SAMPLE / "expected_register_findings.json").read_text(encoding="utf-8"))
    found = sorted(_key(f) for f in report["findings"])
    wanted = sorted(set(_key(e) for e in expected))
    assert found == wanted
    assert code == 1


def test_sample_reconcile_reads_every_record(tmp_path):
    main(["reconcile", "--config", str(SAMPLE / "agent.toml"), "--as-of", "2025-07-23", "--out", str(tmp_path)])

    report = json.loads((tmp_path / "reconciliation.json").read_text(encoding="utf-8"))
    by_kind = {i["kind"]: i for i in report["inputs"]}
    assert by_kind["exclusions"]["records"] == 56
    assert by_kind["exclusions"]["rejects"] == 0
    assert by_kind["portal"]["records"] == 56
    assert (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig").splitlines() == ["file,line,field,value,message"]
