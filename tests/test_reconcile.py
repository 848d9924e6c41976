"""Reconcile findings on small hand-made MIS and portal exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from builders import (
    compared,
    findings_of,
    permanent,
    reconcile_folder,
    record,
    upn,
    write_config,
    write_portal_csv,
    write_portal_json,
    write_sims_csv,
)
from sync_agent.pipeline import RunOutcome

OTHER_UPN = upn("801999924099")


def run(tmp_path: Path, mis: list[dict], portal: list[dict], *, as_of: str = "2024-06-01",
        academic_year: str | None = None, period: str = 'academic_year = "2023-24"') -> RunOutcome:
    write_sims_csv(tmp_path / "exclusions.csv", mis)
    write_portal_csv(tmp_path / "portal.csv", portal)
    write_config(tmp_path, period=period)
    return reconcile_folder(tmp_path, as_of=as_of, academic_year=academic_year)


def kinds(outcome: RunOutcome) -> list[str]:
    return [f.kind for f in compared(outcome.result.findings)]


def test_identical_records_no_findings(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record(), permanent()], [record(), permanent()])

    assert compared(outcome.result.findings) == []
    assert outcome.exit_code == 0


def test_missing_on_portal_age(tmp_path: Path) -> None:
    # From Friday 24 May 2024 to Thursday 30 May, across the spring bank holiday on Monday 27 May.
    mis = [record(start="24/05/2024", end="24/05/2024", sessions="2")]

    outcome = run(tmp_path, mis, [], as_of="2024-05-30")

    [finding] = outcome.result.findings
    assert finding.kind == "missing_on_portal"
    assert finding.severity == "error"
    assert finding.age_school_days == 3
    assert "3 school days old" in finding.message
    assert finding.pupil == "Ashworth, Milo"
    assert outcome.exit_code == 1


def test_missing_in_mis(tmp_path: Path) -> None:
    outcome = run(tmp_path, [], [permanent(portal_id="EX-77")])

    [finding] = outcome.result.findings
    assert finding.kind == "missing_in_mis"
    assert finding.severity == "error"
    assert finding.upn == "K801999924005"
    assert "portal id EX-77" in finding.message


@pytest.mark.parametrize(
    ("field", "mis_changes", "portal_changes", "mis_value", "portal_value", "severity"),
    [
        ("category", {}, {"category": "Lunchtime"}, "suspension", "lunchtime", "error"),
        ("start_date", {}, {"start": "05/03/2024"}, "2024-03-04", "2024-03-05", "error"),
        ("start_session", {}, {"start_session": "PM"}, "AM", "PM", "error"),
        ("end_date", {}, {"end": "06/03/2024"}, "2024-03-05", "2024-03-06", "error"),
        ("end_session", {}, {"end_session": "AM"}, "PM", "AM", "error"),
        ("sessions", {}, {"sessions": "3"}, "4", "3", "error"),
        ("main_reason", {}, {"reason_1": "VA"}, "DB", "VA", "error"),
        ("reasons", {"reason_2": "PP"}, {"reason_2": "VA"}, "DB, PP", "DB, VA", "warning"),
        ("status", {"status": "Active"}, {"status": "Withdrawn"}, "active", "withdrawn", "error"),
        ("upn", {}, {"upn": OTHER_UPN}, "D801999924001", OTHER_UPN, "error"),
    ],
)
def test_one_field_mismatch(tmp_path: Path, field: str, mis_changes: dict, portal_changes: dict,
                            mis_value: str, portal_value: str, severity: str) -> None:
    outcome = run(tmp_path, [record(**mis_changes)], [record(**portal_changes)])

    [finding] = outcome.result.findings
    assert finding.kind == "field_mismatch"
    assert finding.field == field
    assert finding.mis_value == mis_value
    assert finding.portal_value == portal_value
    assert finding.severity == severity
    assert outcome.exit_code == (1 if severity == "error" else 0)


def test_reason_order_ignored(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record(reason_2="PP", reason_3="VA")], [record(reason_2="VA", reason_3="PP")])

    assert outcome.result.findings == []


def test_blank_both_sides_matches(tmp_path: Path) -> None:
    outcome = run(tmp_path, [permanent(dob="")], [permanent(dob="", surname="", forename="")])

    assert compared(outcome.result.findings) == []


def test_start_three_school_days_out(tmp_path: Path) -> None:
    # Friday 24 May and Thursday 30 May are three school days apart across the bank holiday.
    mis = [record(start="24/05/2024", end="31/05/2024", sessions="10")]
    portal = [record(start="30/05/2024", end="31/05/2024", sessions="10")]

    outcome = run(tmp_path, mis, portal)

    assert kinds(outcome) == ["field_mismatch"]
    assert outcome.result.findings[0].field == "start_date"


def test_start_four_school_days_out(tmp_path: Path) -> None:
    mis = [record(start="04/03/2024", end="08/03/2024", sessions="10")]
    portal = [record(start="08/03/2024", end="14/03/2024", sessions="10")]

    outcome = run(tmp_path, mis, portal)

    assert sorted(kinds(outcome)) == ["missing_in_mis", "missing_on_portal"]


def test_corrected_upn_needs_identity(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record()], [record(upn=OTHER_UPN, dob="15/02/2012")])

    assert sorted(kinds(outcome)) == ["missing_in_mis", "missing_on_portal"]


def test_duplicate_on_portal(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record()], [record(), record(portal_id="P-DUP")])

    [finding] = outcome.result.findings
    assert finding.kind == "duplicate_record"
    assert finding.severity == "warning"
    assert finding.field is None
    assert "more than once in the portal (copy at portal id P-DUP)" in finding.message
    assert outcome.exit_code == 0


def test_duplicate_in_mis(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record(), record(sessions="4")], [record()])

    [finding] = outcome.result.findings
    assert finding.kind == "duplicate_record"
    assert finding.field is None
    assert "more than once in the MIS export (copy at line 3 of exclusions.csv)" in finding.message


def test_duplicate_on_both_sides(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record(), record()], [record(), record()])

    duplicates = findings_of(outcome, "duplicate_record")
    assert len(duplicates) == 2
    assert len({f.id for f in duplicates}) == 2
    assert kinds(outcome) == ["duplicate_record", "duplicate_record"]


def test_temporary_upn_warned(tmp_path: Path) -> None:
    temporary = record(upn="V94040011200A")

    outcome = run(tmp_path, [temporary], [temporary])

    [finding] = outcome.result.findings
    assert finding.kind == "temporary_upn"
    assert finding.severity == "warning"
    assert finding.upn == "V94040011200A"
    assert outcome.exit_code == 0


def test_outside_period_ignored(tmp_path: Path) -> None:
    mis = [record(start="10/07/2023", end="10/07/2023", sessions="2")]
    portal = [permanent(start="10/09/2024")]

    outcome = run(tmp_path, mis, portal)

    assert outcome.result.findings == []
    assert outcome.result.period.from_.isoformat() == "2023-08-01"


def test_period_from_and_to(tmp_path: Path) -> None:
    mis = [record(), record(upn="T801999924002", start="13/05/2024", end="13/05/2024", sessions="2")]

    outcome = run(tmp_path, mis, [], period="from = 2024-05-01\nto = 2024-05-31")

    assert [f.upn for f in outcome.result.findings] == ["T801999924002"]


def test_academic_year_overrides_period(tmp_path: Path) -> None:
    mis = [record(start="10/07/2023", end="10/07/2023", sessions="2"), record(upn="T801999924002")]

    outcome = run(tmp_path, mis, [], academic_year="2022-23")

    assert [f.upn for f in outcome.result.findings] == ["D801999924001"]
    assert outcome.result.period.to.isoformat() == "2023-07-31"


def test_finding_ids_stable(tmp_path: Path) -> None:
    first = run(tmp_path, [record()], [record(sessions="3")])
    second = reconcile_folder(tmp_path)

    [finding] = first.result.findings
    assert [f.id for f in second.result.findings] == [finding.id]
    text = "field_mismatch|8019999|D801999924001|suspension|2024-03-04|sessions"
    assert finding.id == "f-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def test_missing_finding_id(tmp_path: Path) -> None:
    [finding] = compared(run(tmp_path, [permanent()], []).result.findings)

    text = "missing_on_portal|8019999|K801999924005|permanent|2024-02-05|"
    assert finding.id == "f-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def test_withdrawn_not_missing_on_portal(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record(status="Withdrawn")], [])

    assert outcome.result.findings == []
    assert outcome.exit_code == 0


def test_refused_portal_skips_comparison(tmp_path: Path) -> None:
    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    (tmp_path / "portal.csv").write_bytes(b"")
    write_config(tmp_path)

    outcome = reconcile_folder(tmp_path)

    assert outcome.exit_code == 2
    assert not findings_of(outcome, "missing_on_portal")
    assert [i.status for i in outcome.result.inputs] == ["read", "refused"]


def test_other_schools_portal_records_ignored(tmp_path: Path) -> None:
    outcome = run(tmp_path, [record()], [record(), permanent(laestab="9402001")])

    assert outcome.result.findings == []
    assert outcome.result.inputs[1].records == 2


def test_empty_portal_page(tmp_path: Path) -> None:
    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    write_portal_json(tmp_path / "portal.json", [])
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    outcome = reconcile_folder(tmp_path)

    assert kinds(outcome) == ["missing_on_portal"]
    assert outcome.result.inputs[1].status == "read"


def test_start_outside_calendar_is_rejected_not_fatal(tmp_path):
    """A record starting after the last term in the calendar file becomes a reject; the run goes on."""
    import shutil

    from sync_agent.cli import main

    sample = Path(__file__).resolve().parents[1] / "sample_data"
    folder = tmp_path / "school"
    shutil.copytree(sample, folder, ignore=shutil.ignore_patterns("reports", "state.db*", "logs"))
    terms = (folder / "term-dates.toml").read_text(encoding="utf-8")
    # Cut the calendar short: drop the last term (autumn 2025) and end the summer term on 15 July.
    cut = terms[: terms.rindex("[[terms]]")]
    (folder / "term-dates.toml").write_text(cut.replace("end = 2025-07-22", "end = 2025-07-15"), encoding="utf-8")

    code = main(["reconcile", "--config", str(folder / "agent.toml"), "--as-of", "2025-07-23", "--out", str(tmp_path / "out")])

    report = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8-sig")
    assert code == 1
    assert "outside the dates the calendar" in report
    assert "2025-07-17" in report


def test_rejected_mis_row_not_missing_in_mis(tmp_path: Path) -> None:
    """A portal record whose MIS row was rejected is not reported missing from the MIS."""
    bad = record(dob="31/02/2012")

    outcome = run(tmp_path, [bad], [record()])

    assert kinds(outcome) == []
    assert len(outcome.result.rejects) == 1


def test_portal_of_another_school_refused(tmp_path: Path) -> None:
    """A portal export with none of this school's records is refused, not read as 'nothing logged'."""
    from builders import write_config, write_portal_csv, write_sims_csv

    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    write_portal_csv(tmp_path / "portal.csv", [record()])
    text = (tmp_path / "portal.csv").read_text(encoding="utf-8").replace(",8019999,", ",8010001,")
    (tmp_path / "portal.csv").write_text(text, encoding="utf-8")
    write_config(tmp_path)

    outcome = reconcile_folder(tmp_path)

    portal = [i for i in outcome.result.inputs if i.kind == "portal"][0]
    assert portal.status == "refused"
    assert "none for LAESTAB 8019999" in portal.reason
    assert "missing_on_portal" not in kinds(outcome)
    assert outcome.exit_code == 2


def test_same_day_am_pm_both_reported(tmp_path: Path) -> None:
    morning = record(start="04/03/2024", start_session="AM", end="04/03/2024", end_session="AM", sessions="1")
    afternoon = record(start="04/03/2024", start_session="PM", end="04/03/2024", end_session="PM", sessions="1")

    findings = compared(run(tmp_path, [morning, afternoon], []).result.findings)

    assert [f.kind for f in findings] == ["missing_on_portal", "missing_on_portal"]
    assert ["AM" in findings[0].message, "PM" in findings[1].message] == [True, True]
    # The morning's id is the usual one; the afternoon's, which would repeat it, adds its session.
    text = "missing_on_portal|8019999|D801999924001|suspension|2024-03-04|"
    assert findings[0].id == "f-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    pm_text = "missing_on_portal|8019999|D801999924001|suspension|2024-03-04 PM|"
    assert findings[1].id == "f-" + hashlib.sha256(pm_text.encode()).hexdigest()[:16]


def test_same_day_am_pm_mismatches_kept(tmp_path: Path) -> None:
    morning = record(start="04/03/2024", start_session="AM", end="04/03/2024", end_session="AM", sessions="1")
    afternoon = record(start="04/03/2024", start_session="PM", end="04/03/2024", end_session="PM", sessions="1")
    portal = [{**morning, "reason_1": "VA"}, {**afternoon, "reason_1": "VA"}]

    findings = compared(run(tmp_path, [morning, afternoon], portal).result.findings)

    assert [(f.kind, f.field) for f in findings] == [("field_mismatch", "main_reason")] * 2
    assert len({f.id for f in findings}) == 2


def test_same_day_push_sends_only_missing(tmp_path: Path) -> None:
    from sync_agent.push_step import push_candidates

    morning = record(start="04/03/2024", start_session="AM", end="04/03/2024", end_session="AM", sessions="1")
    afternoon = record(start="04/03/2024", start_session="PM", end="04/03/2024", end_session="PM", sessions="1")

    outcome = run(tmp_path, [morning, afternoon], [morning])

    [finding] = compared(outcome.result.findings)
    assert (finding.kind, finding.start_session) == ("missing_on_portal", "PM")
    assert [p["start_session"] for p in push_candidates(outcome)] == ["PM"]


def test_rejected_portal_row_not_missing(tmp_path: Path) -> None:
    # The portal has this suspension, but its row there has an unreadable start date.
    outcome = run(tmp_path, [record(), permanent()], [record(start="2024-03-04"), permanent()])

    assert [r.field for r in outcome.result.rejects] == ["Start Date"]
    assert [f.kind for f in compared(outcome.result.findings)] == []
    assert outcome.exit_code == 1


def test_unopenable_export_refused_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_agent import pipeline

    def denied(path, *args):
        raise PermissionError(13, "Permission denied", str(path))

    # Tests run as root, where file permissions do not stop a read, so the reader fails as it would.
    monkeypatch.setattr(pipeline, "_read_and_validate", denied)
    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    write_portal_csv(tmp_path / "portal.csv", [record()])
    write_config(tmp_path)

    outcome = reconcile_folder(tmp_path)

    refused = [i for i in outcome.result.inputs if i.status == "refused"]
    assert [i.reason for i in refused] == ["cannot be read (Permission denied); check that the file exists and its permissions"] * 2
    assert outcome.exit_code == 2


def test_rejected_pm_row_holds_back_pm_only(tmp_path: Path) -> None:
    morning = record(start="04/03/2024", start_session="AM", end="04/03/2024", end_session="AM", sessions="1")
    afternoon = record(start="04/03/2024", start_session="PM", end="04/03/2024", end_session="PM", sessions="1")
    # The portal has the afternoon one only, and its row there has an unknown category.
    outcome = run(tmp_path, [morning, afternoon], [{**afternoon, "category": "ZZZZ"}])

    findings = compared(outcome.result.findings)
    assert [(f.kind, f.start_session) for f in findings] == [("missing_on_portal", "AM")]


def test_rejected_mis_row_not_missing_in_mis(tmp_path: Path) -> None:
    # The MIS row's start date is invalid, so it matches the portal record on the pupil alone.
    outcome = run(tmp_path, [record(start="31/02/2024"), permanent()], [record(), permanent()])

    assert [r.field for r in outcome.result.rejects] == ["Start Date"]
    assert compared(outcome.result.findings) == []


def test_stale_copy_never_overrides_current(tmp_path: Path) -> None:
    import os

    current = record(status="Withdrawn")
    write_sims_csv(tmp_path / "exclusions (1).csv", [record()])
    os.utime(tmp_path / "exclusions (1).csv", (1_600_000_000, 1_600_000_000))
    write_sims_csv(tmp_path / "exclusions.csv", [current])
    write_portal_csv(tmp_path / "portal.csv", [])
    write_config(tmp_path, exclusions="exclusions*.csv")

    findings = compared(reconcile_folder(tmp_path).result.findings)

    # The current export withdrew the suspension, so nothing is missing on the portal.
    assert [f.kind for f in findings] == ["duplicate_record"]


def test_rejected_row_with_bad_upn_held_by_name(tmp_path: Path) -> None:
    # The portal has this suspension, but its row there has a UPN with a wrong check letter.
    outcome = run(tmp_path, [record(), permanent()], [record(upn="Z801999924001"), permanent()])

    assert [r.field for r in outcome.result.rejects] == ["UPN"]
    assert compared(outcome.result.findings) == []


def test_as_of_after_terms_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    (tmp_path / "term-dates.toml").write_text(
        '[[terms]]\nname = "Spring"\nstart = 2024-01-08\nend = 2024-03-28\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="sync_agent.pipeline"):
        run(tmp_path, [record()], [record()], as_of="2024-06-01",
            period='academic_year = "2023-24"\n\n[calendar]\npath = "term-dates.toml"')

    assert "after the last term" in caplog.text
