"""Push plan: what it leaves out, and the files and text it writes."""

from __future__ import annotations

import csv
import os
import sys

import openpyxl
import pytest

from sync_agent.connectors.portal_rest import PostOutcome
from sync_agent.journal import PushJournal
from sync_agent.push import PLAN_COLUMNS, build_plan, render_plan, retry_plan, write_plan

BASE = {"laestab": "9402001", "category": "FIXD", "start_session": "AM", "end_session": "PM",
        "sessions": 2, "reasons": ["DB", "VA"]}


def record(upn: str, day: str, **extra) -> dict:
    return {**BASE, "upn": upn, "start_date": day, "end_date": day, **extra}


@pytest.fixture
def journal(tmp_path):
    with PushJournal(tmp_path / "state.db") as opened:
        yield opened


def test_plan_leaves_out_done_records(journal):
    delivered, failed, new = record("A1", "2024-09-09"), record("A2", "2024-09-10"), record("A3", "2024-09-11")
    for payload, outcome in ((delivered, PostOutcome("delivered", "EX-1")), (failed, PostOutcome("failed"))):
        journal.mark_outcome(journal.begin(payload).journal_id, outcome)
    plan = build_plan([delivered, failed, new, new], journal)
    assert [item.payload["upn"] for item in plan] == ["A2", "A3"]
    assert [item.earlier_status for item in plan] == ["failed", None]


def test_plan_changes_no_state(journal):
    build_plan([record("A1", "2024-09-09")], journal)
    assert journal.records() == []


def test_plan_leaves_out_filed_records(journal):
    filed = record("A1", "2024-09-09")
    journal.mark_written([journal.begin(filed).journal_id], "exclusions-1.xml", "9402001")
    assert build_plan([filed], journal, target="b2b-file") == []
    assert build_plan([filed], journal, target="http") == []


def test_retry_plan_holds_failed_payloads(journal):
    failed = record("A1", "2024-09-09")
    journal.mark_outcome(journal.begin(failed).journal_id, PostOutcome("failed", last_error="HTTP 503"))
    [item] = retry_plan(journal)
    assert item.payload == failed
    assert item.earlier_error == "HTTP 503"


def test_plan_files_neutralise_formulas(journal, tmp_path):
    hostile = record("A1", "2024-09-09", surname="=HYPERLINK(\"http://x\")", forename="Sam")
    csv_path, xlsx_path = write_plan(build_plan([hostile], journal), tmp_path / "out")

    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(PLAN_COLUMNS)
    assert rows[1][1].startswith("'=HYPERLINK")
    assert rows[1][9] == "DB VA"
    assert rows[1][10] == "in the MIS, not on the portal"

    sheet = openpyxl.load_workbook(xlsx_path).active
    cell = sheet.cell(row=2, column=2)
    assert cell.data_type == "s"
    assert cell.value.startswith("=HYPERLINK")
    assert csv_path.stat().st_mode & 0o077 == 0
    assert xlsx_path.stat().st_mode & 0o077 == 0


def test_plan_text_names_each_record(journal):
    plan = build_plan([record("A1", "2024-09-09", surname="Smith", forename="Alex")], journal)
    text = render_plan(plan)
    assert "Smith, Alex" in text
    assert "2024-09-09 AM to 2024-09-09 PM" in text
    assert "push --yes" in text
    assert render_plan([]).startswith("Nothing to push")


@pytest.mark.skipif(sys.platform == "win32", reason="Windows ignores POSIX permission bits")
def test_plan_folders_created_owner_only(journal, tmp_path):
    out = tmp_path / "plans" / "today"
    previous = os.umask(0o022)
    try:
        csv_path, _ = write_plan(build_plan([record("A1", "2024-09-09")], journal), out)
    finally:
        os.umask(previous)
    assert (tmp_path / "plans").stat().st_mode & 0o777 == 0o700
    assert out.stat().st_mode & 0o777 == 0o700
    assert csv_path.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(sys.platform == "win32", reason="Windows ignores POSIX permission bits")
def test_plan_keeps_existing_folder_permissions(journal, tmp_path):
    out = tmp_path / "chosen"
    out.mkdir()
    out.chmod(0o755)
    write_plan(build_plan([record("A1", "2024-09-09")], journal), out)
    assert out.stat().st_mode & 0o777 == 0o755
