"""Roll and notification checks: a permanently excluded pupil removed too early, and late notices.

A permanently excluded pupil stays on the admission register until the review window closes. The
governing board has ``BOARD_MEETING_SCHOOL_DAYS`` to meet, and parents then have
``REVIEW_APPLICATION_SCHOOL_DAYS`` from the board's decision to apply for an independent review.
The real close therefore depends on the date of the board's decision, which the exports do not
carry, and on any review that follows. This check counts both periods from the exclusion's start,
which is when the window closes if the board decides on its last permitted day. A removal before
that date is flagged, because it may precede the real close.
"""

from __future__ import annotations

import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.register_frames import empty_findings, finding_rows
from sync_agent.school_days import add_school_days_or_nat

BOARD_MEETING_SCHOOL_DAYS = 15
REVIEW_APPLICATION_SCHOOL_DAYS = 15
REVIEW_WINDOW_SCHOOL_DAYS = BOARD_MEETING_SCHOOL_DAYS + REVIEW_APPLICATION_SCHOOL_DAYS
NOTIFICATION_SCHOOL_DAYS = 1
NOTIFICATION_FIELDS = {"parents_notified_on": "parents", "la_notified_on": "LA"}


def removed_from_roll_early(exclusions: pd.DataFrame, pupils: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    """Return ``removed_from_roll_early`` for each permanently excluded pupil off roll before the window closes."""
    active = exclusions["status"].fillna("active").eq("active")
    permanent = exclusions[active & exclusions["category"].eq("permanent")]
    if permanent.empty or pupils is None or pupils.empty:
        return empty_findings()
    leaving = pupils.dropna(subset=["on_roll_to"]).drop_duplicates(["laestab", "upn"])[["laestab", "upn", "on_roll_to"]]
    joined = permanent.merge(leaving, on=["laestab", "upn"], how="inner").reset_index(drop=True)
    if joined.empty:
        return empty_findings()
    closes = add_school_days_or_nat(calendar, joined["start_date"], REVIEW_WINDOW_SCHOOL_DAYS)
    early = closes.isna() | (joined["on_roll_to"] < closes)
    rows, closes = joined[early].reset_index(drop=True), closes[early].reset_index(drop=True)
    if rows.empty:
        return empty_findings()
    left = rows["on_roll_to"].dt.strftime("%Y-%m-%d")
    close_text = [d.date().isoformat() if pd.notna(d) else "a date beyond the calendar" for d in closes]
    messages = [f"The pupil left the roll on {l}, before the review window can close ({c}: "
                f"{BOARD_MEETING_SCHOOL_DAYS} school days for the board, then {REVIEW_APPLICATION_SCHOOL_DAYS} "
                "for a review application)" for l, c in zip(left, close_text)]
    return finding_rows(rows, "removed_from_roll_early", field="on_roll_to", mis_value=list(left),
                        expected=[f"on roll until at least {c}" for c in close_text], actual=list(left),
                        due_date=list(closes), message=messages)


def late_notifications(exclusions: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    """Return ``late_notification`` per record and field notified more than one school day after the start."""
    parts = []
    if exclusions.empty:
        return empty_findings()
    deadline = add_school_days_or_nat(calendar, exclusions["start_date"], NOTIFICATION_SCHOOL_DAYS)
    for field, recipient in NOTIFICATION_FIELDS.items():
        if field not in exclusions:
            continue
        notified = exclusions[field]
        late = notified.notna() & deadline.notna() & (notified > deadline)
        if not late.any():
            continue
        rows = exclusions[late].reset_index(drop=True)
        when = notified[late].dt.strftime("%Y-%m-%d").tolist()
        due = deadline[late].dt.strftime("%Y-%m-%d").tolist()
        subject = "Parents were" if recipient == "parents" else "The LA was"
        messages = [f"{subject} notified on {w}, more than one school day after the start (by {d})"
                    for w, d in zip(when, due)]
        parts.append(finding_rows(rows, "late_notification", field=field, mis_value=when, expected=[f"by {d}" for d in due],
                                  actual=when, due_date=list(deadline[late]), message=messages))
    return pd.concat(parts, ignore_index=True) if parts else empty_findings()
