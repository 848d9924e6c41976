"""Finding kinds: their severity, the action each names, and stable finding ids."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class FindingKind:
    name: str
    severity: str
    action: str


KINDS: dict[str, FindingKind] = {
    k.name: k
    for k in [
        FindingKind("missing_on_portal", "error", "Log this exclusion on the LA portal (sync-agent push can send it)."),
        FindingKind("missing_in_mis", "error", "Log this exclusion in the MIS, or ask the LA to correct the portal."),
        FindingKind("field_mismatch", "error", "Correct the side that is wrong, in the MIS or on the portal."),
        FindingKind("duplicate_record", "warning", "Remove the duplicate record from this source."),
        FindingKind("temporary_upn", "warning", "Replace the temporary UPN with the pupil's permanent UPN once issued."),
        FindingKind("pupil_details_mismatch", "warning", "Correct the pupil's name or date of birth in the MIS."),
        FindingKind("wrong_attendance_code", "error", "Mark the register with the expected code."),
        FindingKind("exclusion_code_without_exclusion", "error", "Record the exclusion in the MIS, or correct the register mark."),
        FindingKind("no_provision_from_day_6", "warning", "Arrange alternative provision from day 6, then mark B, D or K."),
        FindingKind("late_notification", "warning", "Notify parents and the LA without delay."),
        FindingKind("suspension_limit_exceeded", "error", "Review the pupil's suspensions with the LA."),
        FindingKind("board_review_required", "warning", "The governing board must meet by the due date."),
        FindingKind("removed_from_roll_early", "error", "Restore the pupil to the admission and attendance registers."),
        FindingKind("overlapping_exclusions", "error", "Check both schools' records for this pupil."),
        FindingKind("dual_registration_conflict", "error", "Correct the register at one of the schools."),
        FindingKind("suspension_total_across_schools", "warning", "Review the pupil's suspensions with the schools."),
        FindingKind("unknown_school", "warning", "Check the LAESTAB on these portal records."),
    ]
}

# field_mismatch is an error for these fields and a warning for any other (the secondary reasons).
ERROR_FIELDS = frozenset(
    {"category", "start_date", "start_session", "end_date", "end_session", "sessions", "main_reason", "status", "upn"}
)


def severity_of(kind: str, field: str | None = None) -> str:
    """Return the severity of a finding of ``kind`` (and ``field``, for field_mismatch)."""
    if kind == "field_mismatch":
        return "error" if field in ERROR_FIELDS else "warning"
    return KINDS[kind].severity


def finding_id(
    kind: str,
    laestab: str | None,
    upn: str | None,
    category: str | None,
    start_date: dt.date | str | None,
    field: str | None,
) -> str:
    """Return the stable id of a school finding: ``f-`` and 16 hex digits of a SHA-256.

    The same fact keeps its id across runs, so reviewer decisions can refer to it.
    """
    start = start_date.isoformat() if isinstance(start_date, dt.date) else (start_date or "")
    text = "|".join([kind, laestab or "", (upn or "").upper(), category or "", start, field or ""])
    return "f-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def la_finding_id(kind: str, upn: str | None, laestabs: list[str]) -> str:
    """Return the stable id of an LA-wide finding, from its kind, UPN and sorted LAESTABs."""
    text = "|".join([kind, (upn or "").upper(), *sorted(laestabs)])
    return "f-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
