"""Builders for register tests: a term-dates file, exclusion records and marks frames."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.validate import RECORD_COLUMNS

LAESTAB = "9404123"
UPN = "J940400112001"
OTHER_UPN = "B801200005001"

TERM_DATES = """
closures = [2025-01-06]

[[terms]]
name = "Summer 2"
start = 2024-06-03
end = 2024-07-19

[[terms]]
name = "Autumn"
start = 2024-09-02
end = 2024-12-20

[[terms]]
name = "Spring"
start = 2025-01-06
end = 2025-04-04

[[terms]]
name = "Summer"
start = 2025-04-22
end = 2025-07-18
"""


def make_calendar(tmp_path: Path) -> SchoolCalendar:
    path = tmp_path / "term-dates.toml"
    path.write_text(TERM_DATES, encoding="utf-8")
    return SchoolCalendar.from_file(path)


def exclusion(category="suspension", start="2025-03-03", start_session="AM", end=None, end_session=None,
              sessions=None, upn=UPN, **more) -> dict:
    record = {column: None for column in RECORD_COLUMNS}
    record.update(source_file="exclusions.csv", source_line=5, laestab=LAESTAB, upn=upn, upn_temporary=False,
                  surname="Smith", forename="Alex", category=category, reason_1="DB", start_date=start,
                  start_session=start_session, end_date=end, end_session=end_session, sessions=sessions,
                  status="active")
    record.update(more)
    return record


def exclusions_frame(*records: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(records), columns=RECORD_COLUMNS)
    for column in ("start_date", "end_date", "date_of_birth", "parents_notified_on", "la_notified_on", "provision_from"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[s]")
    frame["sessions"] = frame["sessions"].astype("Int64")
    return frame


def marks_frame(calendar: SchoolCalendar, first: str, last: str, code="/", upn=UPN, overrides=None) -> pd.DataFrame:
    """Mark every school session from ``first`` to ``last`` with ``code``; ``overrides`` maps "date AM" to a code or None."""
    overrides = overrides or {}
    rows = []
    day = dt.date.fromisoformat(first)
    end = dt.date.fromisoformat(last)
    while day <= end:
        if calendar.covers(day) and calendar.is_school_day(day):
            for session in ("AM", "PM"):
                label = f"{day} {session}"
                mark = overrides.get(label, code if session == "AM" or code != "/" else "\\")
                if mark is not None:
                    rows.append((LAESTAB, upn, day, session, mark))
        day += dt.timedelta(days=1)
    frame = pd.DataFrame(rows, columns=["laestab", "upn", "date", "session", "code"])
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[s]")
    frame["source_file"] = "attendance.csv"
    frame["source_line"] = np.arange(2, len(frame) + 2)
    return frame


def of_kind(findings: pd.DataFrame, kind: str) -> pd.DataFrame:
    return findings[findings["kind"] == kind].reset_index(drop=True)
