"""The sample school's XML exports hold the CSV's exclusions, so a reconcile finds the same differences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_agent.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"


def findings(config: Path, out: Path) -> tuple[int, list[tuple]]:
    code = main(["reconcile", "--config", str(config), "--as-of", "2025-07-23", "--out", str(out)])
    report = json.loads((out / "reconciliation.json").read_text(encoding="utf-8"))
    keys = sorted(
        (f["kind"], f["upn"], f["category"], f["start_date"], f["field"], f["mis_value"], f["portal_value"])
        for f in report["findings"]
    )
    return code, keys


def test_sims_xml_same_findings_as_csv(tmp_path):
    csv_code, from_csv = findings(SAMPLE / "agent.toml", tmp_path / "csv")

    xml_code, from_xml = findings(SAMPLE / "agent-sims-xml.toml", tmp_path / "xml")

    assert from_xml == from_csv
    assert xml_code == csv_code


def test_b2b_xml_same_findings_except_notifications(tmp_path):
    # The B2B wrapper has no element for notification dates, so only the CSV can show late notices.
    csv_code, from_csv = findings(SAMPLE / "agent.toml", tmp_path / "csv")

    xml_code, from_xml = findings(SAMPLE / "agent-b2b.toml", tmp_path / "xml")

    late = [key for key in from_csv if key[0] == "late_notification"]
    assert len(late) == 2
    assert from_xml == [key for key in from_csv if key[0] != "late_notification"]
    assert xml_code == csv_code


@pytest.mark.parametrize("config_name", ["agent-b2b.toml", "agent-sims-xml.toml"])
def test_xml_export_reads_every_record(tmp_path, config_name):
    main(["reconcile", "--config", str(SAMPLE / config_name), "--as-of", "2025-07-23", "--out", str(tmp_path)])

    report = json.loads((tmp_path / "reconciliation.json").read_text(encoding="utf-8"))
    exclusions = next(i for i in report["inputs"] if i["kind"] == "exclusions")
    assert exclusions["path"].endswith(".xml")
    assert exclusions["records"] == 56
    assert exclusions["rejects"] == 0


@pytest.mark.parametrize(("config_name", "export"), [("agent-b2b.toml", "exclusions-b2b.xml"),
                                                     ("agent-sims-xml.toml", "exclusions-sims.xml")])
def test_config_copy_follows_agent_toml(config_name, export):
    original = (SAMPLE / "agent.toml").read_text(encoding="utf-8").splitlines()
    copy = (SAMPLE / config_name).read_text(encoding="utf-8").splitlines()

    differing = [line for line in copy if line not in original]
    assert len(copy) == len(original) + 1
    assert differing[0].startswith("# A copy of agent.toml")
    assert differing[1].startswith(f'path = "exports/{export}"')
    assert differing[2].startswith("mapping = ")
    assert len(differing) == 3
