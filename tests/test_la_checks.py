"""LA-wide checks on small frames: totals across schools, overlaps, dual registration, unknown schools."""

from __future__ import annotations

import pandas as pd
import pytest

from sync_agent.findings import la_finding_id
from sync_agent.la_checks import (
    dual_registration_conflict,
    overlapping_exclusions,
    run_la_checks,
    suspension_total_across_schools,
    unknown_school,
)

SCHOOL_A, SCHOOL_B, SCHOOL_C = "9402001", "9402002", "9402003"
UPN = "B940200124902"
OTHER_UPN = "X940200121904"


def exclusion(laestab, start, *, upn=UPN, category="suspension", sessions=None, end=None, start_session="AM",
              end_session="PM", status="active"):
    return {"laestab": laestab, "upn": upn, "surname": "Novak", "forename": "Ella", "category": category,
            "start_date": pd.Timestamp(start), "start_session": start_session,
            "end_date": pd.Timestamp(end) if end else pd.NaT, "end_session": end_session if end else None,
            "sessions": float(sessions) if sessions is not None else float("nan"), "status": status}


def frame(*rows):
    return pd.DataFrame(list(rows))


def mark(laestab, date, session, code, upn=UPN):
    return {"laestab": laestab, "upn": upn, "date": pd.Timestamp(date), "session": session, "code": code}


# --- suspension_total_across_schools -------------------------------------------------------------


def test_total_over_45_across_two_schools():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=48), exclusion(SCHOOL_B, "2025-03-03", sessions=46))

    findings = suspension_total_across_schools(records)

    assert len(findings) == 1
    finding = findings[0]
    assert finding.kind == "suspension_total_across_schools"
    assert finding.severity == "warning"
    assert finding.upn == UPN
    assert finding.schools == [SCHOOL_A, SCHOOL_B]
    assert finding.actual == "47 days"
    assert finding.id == la_finding_id("suspension_total_across_schools", UPN, [SCHOOL_B, SCHOOL_A])
    assert str(finding.start_date) == "2024-08-01"
    assert "9402001: 24" in finding.message
    assert "9402002: 23" in finding.message


def test_total_of_exactly_45_is_not_reported():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=45), exclusion(SCHOOL_B, "2025-03-03", sessions=45))

    assert suspension_total_across_schools(records) == []


def test_total_lunchtimes_count_half_a_day():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=90),
                    exclusion(SCHOOL_B, "2025-03-03", category="lunchtime", sessions=1, start_session="PM"))

    findings = suspension_total_across_schools(records)

    assert [f.actual for f in findings] == ["45.5 days"]


def test_total_at_one_school_left_to_school():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=60), exclusion(SCHOOL_A, "2025-03-03", sessions=40))

    assert suspension_total_across_schools(records) == []


def test_total_ignores_withdrawn_records():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=48),
                    exclusion(SCHOOL_B, "2025-03-03", sessions=46, status="withdrawn"))

    assert suspension_total_across_schools(records) == []


def test_total_split_by_academic_year():
    records = frame(exclusion(SCHOOL_A, "2024-07-01", sessions=48), exclusion(SCHOOL_B, "2024-09-03", sessions=46))

    assert suspension_total_across_schools(records) == []


# --- overlapping_exclusions ----------------------------------------------------------------------


def test_overlap_on_shared_days():
    records = frame(exclusion(SCHOOL_A, "2025-03-10", sessions=6, end="2025-03-12"),
                    exclusion(SCHOOL_B, "2025-03-11", sessions=4, end="2025-03-13", start_session="PM",
                              end_session="AM"))

    findings = overlapping_exclusions(records)

    assert len(findings) == 1
    finding = findings[0]
    assert finding.kind == "overlapping_exclusions"
    assert finding.severity == "error"
    assert finding.schools == [SCHOOL_A, SCHOOL_B]
    assert str(finding.start_date) == "2025-03-11"
    assert finding.pupil == "Novak, Ella"
    assert finding.id == la_finding_id("overlapping_exclusions", UPN, [SCHOOL_A, SCHOOL_B])


def test_overlap_not_for_back_to_back():
    records = frame(exclusion(SCHOOL_A, "2025-03-10", sessions=4, end="2025-03-11"),
                    exclusion(SCHOOL_B, "2025-03-12", sessions=2, end="2025-03-12"))

    assert overlapping_exclusions(records) == []


def test_overlap_not_for_am_then_pm():
    records = frame(exclusion(SCHOOL_A, "2025-03-10", sessions=1, end="2025-03-10", end_session="AM"),
                    exclusion(SCHOOL_B, "2025-03-10", sessions=1, end="2025-03-10", start_session="PM"))

    assert overlapping_exclusions(records) == []


def test_overlap_permanent_runs_open_ended():
    records = frame(exclusion(SCHOOL_C, "2025-02-03", category="permanent"),
                    exclusion(SCHOOL_A, "2025-05-06", sessions=2, end="2025-05-06"))

    findings = overlapping_exclusions(records)

    assert [f.schools for f in findings] == [[SCHOOL_A, SCHOOL_C]]
    assert str(findings[0].start_date) == "2025-05-06"
    assert "permanent" in findings[0].message


def test_overlap_before_permanent_not_reported():
    records = frame(exclusion(SCHOOL_C, "2025-02-03", category="permanent"),
                    exclusion(SCHOOL_A, "2025-01-13", sessions=2, end="2025-01-13"))

    assert overlapping_exclusions(records) == []


def test_overlap_within_one_school_ignored():
    records = frame(exclusion(SCHOOL_A, "2025-03-10", sessions=6, end="2025-03-12"),
                    exclusion(SCHOOL_A, "2025-03-11", sessions=2, end="2025-03-11"))

    assert overlapping_exclusions(records) == []


def test_overlap_pairs_merge_into_one_finding():
    records = frame(exclusion(SCHOOL_A, "2025-03-10", sessions=2, end="2025-03-10"),
                    exclusion(SCHOOL_A, "2025-05-12", sessions=2, end="2025-05-12"),
                    exclusion(SCHOOL_B, "2025-03-10", sessions=2, end="2025-03-10"),
                    exclusion(SCHOOL_B, "2025-05-12", sessions=2, end="2025-05-12"))

    findings = overlapping_exclusions(records)

    assert len(findings) == 1
    assert str(findings[0].start_date) == "2025-03-10"
    assert "2025-05-12" in findings[0].message


def test_overlap_ignores_withdrawn_records():
    records = frame(exclusion(SCHOOL_A, "2025-03-10", sessions=6, end="2025-03-12"),
                    exclusion(SCHOOL_B, "2025-03-11", sessions=2, end="2025-03-11", status="withdrawn"))

    assert overlapping_exclusions(records) == []


# --- dual_registration_conflict ------------------------------------------------------------------


def test_dual_registration_e_and_present():
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_A, "2025-03-17", "PM", "E"),
                  mark(SCHOOL_B, "2025-03-17", "AM", "/"), mark(SCHOOL_B, "2025-03-17", "PM", "\\"))

    findings = dual_registration_conflict(marks)

    assert len(findings) == 1
    finding = findings[0]
    assert finding.kind == "dual_registration_conflict"
    assert finding.severity == "error"
    assert finding.schools == [SCHOOL_A, SCHOOL_B]
    assert finding.sessions == ["2025-03-17 AM", "2025-03-17 PM"]
    assert "marked E at 9402001 and present at 9402002 on 2 sessions" in finding.message


@pytest.mark.parametrize("code", ["/", "\\", "L"])
def test_dual_registration_present_codes(code):
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_B, "2025-03-17", "AM", code))

    assert len(dual_registration_conflict(marks)) == 1


@pytest.mark.parametrize("code", ["B", "D", "O", "E"])
def test_dual_registration_other_codes_fine(code):
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_B, "2025-03-17", "AM", code))

    assert dual_registration_conflict(marks) == []


def test_dual_registration_needs_same_session():
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_B, "2025-03-17", "PM", "/"),
                  mark(SCHOOL_B, "2025-03-18", "AM", "/"))

    assert dual_registration_conflict(marks) == []


def test_dual_registration_needs_same_pupil():
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_B, "2025-03-17", "AM", "/", upn=OTHER_UPN))

    assert dual_registration_conflict(marks) == []


def test_dual_registration_both_directions_one_finding():
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_B, "2025-03-17", "AM", "/"),
                  mark(SCHOOL_B, "2025-03-18", "AM", "E"), mark(SCHOOL_A, "2025-03-18", "AM", "L"))

    findings = dual_registration_conflict(marks)

    assert len(findings) == 1
    assert findings[0].sessions == ["2025-03-17 AM", "2025-03-18 AM"]
    assert "present at 9402002" in findings[0].message
    assert "present at 9402001" in findings[0].message


# --- unknown_school ------------------------------------------------------------------------------


def test_unknown_school_counts_records():
    portal = pd.DataFrame({"laestab": [SCHOOL_A, "9402999", "9402999", "9402998"]})

    findings = unknown_school(portal, [SCHOOL_A, SCHOOL_B])

    assert [(f.schools, f.actual) for f in findings] == [(["9402998"], "1 records"), (["9402999"], "2 records")]
    assert all(f.severity == "warning" and f.upn is None for f in findings)
    assert findings[1].laestab == "9402999"
    assert "2 records with LAESTAB 9402999" in findings[1].message


def test_unknown_school_none_when_all_known():
    portal = pd.DataFrame({"laestab": [SCHOOL_A, SCHOOL_B]})

    assert unknown_school(portal, [SCHOOL_A, SCHOOL_B]) == []


# --- run_la_checks -------------------------------------------------------------------------------


def test_run_la_checks_errors_first():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=48, end="2024-09-30"),
                    exclusion(SCHOOL_B, "2024-09-20", sessions=46, end="2024-10-10"))
    portal = pd.DataFrame({"laestab": ["9402999"]})

    findings = run_la_checks(records, None, portal, [SCHOOL_A, SCHOOL_B])

    assert [f.kind for f in findings] == ["overlapping_exclusions", "suspension_total_across_schools",
                                          "unknown_school"]


def test_run_la_checks_names_marked_pupil():
    records = frame(exclusion(SCHOOL_A, "2025-03-17", sessions=2, end="2025-03-17"))
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "E"), mark(SCHOOL_B, "2025-03-17", "AM", "/"))

    findings = run_la_checks(records, marks, None, [SCHOOL_A, SCHOOL_B])

    assert [f.pupil for f in findings] == ["Novak, Ella"]


def test_run_la_checks_empty_inputs():
    records = frame(exclusion(SCHOOL_A, "2024-09-16", sessions=2)).iloc[0:0]
    marks = frame(mark(SCHOOL_A, "2025-03-17", "AM", "/")).iloc[0:0]

    assert run_la_checks(records, marks, None, []) == []


def test_repeated_record_counted_once_across_schools():
    from sync_agent.la_school import exclusion_frame

    at_a = exclusion(SCHOOL_A, "2025-01-06", sessions=48)
    at_b = exclusion(SCHOOL_B, "2025-03-03", sessions=44)
    # School A keyed its suspension twice: 24 + 22 days is the true total, not 24 + 24 + 22.
    school_a = exclusion_frame(frame(at_a, at_a))

    findings = suspension_total_across_schools(pd.concat([school_a, frame(at_b)], ignore_index=True))

    [finding] = findings
    assert finding.actual == "46 days"
