"""Register exports that are not one row per mark, unpacked into one row per pupil per session.

Two layouts are read here and both return a long ``RawTable`` whose columns the attendance
mappings name, so the map and validate steps treat them like the one-row-per-mark CSV:

- ``wide-week``: a delimited export with one row per pupil per week, ``UPN, Week Commencing,
  Mon AM, Mon PM, ..., Fri PM``. Each row becomes ten rows ``Date, Session, Mark`` (blank cells are
  sessions without a mark and are dropped); every row keeps the physical line of its week row.
- ``ctf-marks``: a Common Transfer File whose ``AttendSessions`` hold ``AttendanceStartDate`` and
  ``AttendanceMarks``, one character per session, AM then PM, for every calendar date from the
  start date, with ``#`` for each session of a day not in session. Each character becomes a row
  ``upn, date, session, code``; ``#`` sessions are dropped, since they are not register sessions.
  Every row keeps the physical line of its ``AttendSessions`` element.

A CTF marks string that cannot be lined up with dates (an odd length, a mark on a Saturday or
Sunday, or, when a calendar is given, a ``#`` on a school day or a mark on a day that is not one)
is rejected for that pupil as a whole, with a message naming the first date that disagrees; the
other pupils are read. Several enrolment spans joined with no filler cannot be told apart from a
misaligned string, so they are rejected the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import InputRefused, MappingError
from sync_agent.mapping import Mapping
from sync_agent.textnorm import normalise_key

logger = logging.getLogger(__name__)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")
WIDE_SESSION_COLUMNS = tuple(f"{day} {session}" for day in WEEKDAYS for session in ("AM", "PM"))
WEEK_COLUMN_NAMES = ("Week Commencing", "Week Beginning", "Week Starting")
NOT_IN_SESSION = "#"
_CTF_RECORD = "CTFpupilData/Pupil/Attendance/YearData/AttendSessions"
_CTF_FIELDS = {
    "upn": ["../../../UPN"],
    "lea": ["../../../../../Header/SourceSchool/LEA"],
    "estab": ["../../../../../Header/SourceSchool/Estab"],
    "start": ["AttendanceStartDate"],
    "marks": ["AttendanceMarks"],
}


def read_attendance_layout(path: Path, mapping: Mapping, calendar: SchoolCalendar | None = None) -> RawTable:
    """Read a register export of ``mapping``'s layout as one row per pupil per session.

    ``calendar``, when given, makes the CTF reader check each marks string against the school
    days as well as the weekends. Raises InputRefused for an unreadable file and MappingError for
    a layout this module does not read.
    """
    layout = mapping.spec.mapping.layout
    if layout == "wide-week":
        return read_wide_week(path, mapping)
    if layout == "ctf-marks":
        return read_ctf_marks(path, calendar)
    raise MappingError(f"{mapping.source}: layout {layout!r} is not a register layout (wide-week or ctf-marks)")


# --- one row per pupil per week --------------------------------------------------------------


def read_wide_week(path: Path, mapping: Mapping) -> RawTable:
    """Unpack a week-per-row register export into rows of ``Date``, ``Session`` and ``Mark``."""
    from sync_agent.connectors.delimited import DEFAULT_FOOTER_PATTERNS, read_delimited

    options = mapping.spec.delimited
    known = [*mapping.known_columns(), *WEEK_COLUMN_NAMES, *WIDE_SESSION_COLUMNS]
    raw = read_delimited(
        path,
        known_columns=known,
        footer_patterns=(options.footer_patterns if options and options.footer_patterns else DEFAULT_FOOTER_PATTERNS),
        delimiter=options.delimiter if options else None,
        encoding=options.encoding if options else None,
    )
    by_key = {normalise_key(column): column for column in raw.columns}
    week_column = next((by_key[normalise_key(c)] for c in WEEK_COLUMN_NAMES if normalise_key(c) in by_key), None)
    missing = [c for c in WIDE_SESSION_COLUMNS if normalise_key(c) not in by_key]
    if week_column is None or missing:
        wanted = "Week Commencing" if week_column is None else ", ".join(missing)
        raise MappingError(
            f"{path}: a weekly register export needs the columns Week Commencing and Mon AM to Fri PM; "
            f"missing: {wanted}. Re-export the weekly register report with those columns"
        )
    frame = raw.frame
    weeks = pd.to_datetime(frame[week_column].str.strip(), format="%d/%m/%Y", errors="coerce")
    rejects = list(raw.rejects)
    bad_week = weeks.isna() | (weeks.dt.day_of_week != 0)
    for line, value in zip(frame.loc[bad_week, LINE_COLUMN], frame.loc[bad_week, week_column]):
        rejects.append((int(line), week_column, value,
                        f"{week_column} {value!r} is not a Monday written as dd/mm/yyyy; correct the week's date"))
    frame, weeks = frame[~bad_week], weeks[~bad_week]

    keep = [c for c in raw.columns if c != week_column and normalise_key(c) not in {normalise_key(s) for s in WIDE_SESSION_COLUMNS}]
    parts = []
    for offset, column in enumerate(WIDE_SESSION_COLUMNS):
        cells = frame[by_key[normalise_key(column)]].fillna("")
        part = frame[keep].copy()
        part["Date"] = (weeks + pd.Timedelta(days=offset // 2)).dt.strftime("%d/%m/%Y")
        part["Session"] = column[-2:]
        part["Mark"] = cells
        part[LINE_COLUMN] = frame[LINE_COLUMN]
        part["_order"] = offset
        parts.append(part[cells.str.strip() != ""])
    long = pd.concat(parts, ignore_index=False) if parts else pd.DataFrame(columns=[*keep, "Date", "Session", "Mark", LINE_COLUMN])
    long = long.sort_values([LINE_COLUMN, "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)
    logger.info("unpacked %d week rows into %d session marks from %s", len(frame), len(long), path)
    return RawTable(path=path, frame=long, encoding=raw.encoding, skipped=raw.skipped,
                    footer_count=raw.footer_count, header_line=raw.header_line, rejects=rejects)


# --- CTF marks strings ----------------------------------------------------------------------


def read_ctf_marks(path: Path, calendar: SchoolCalendar | None = None) -> RawTable:
    """Unpack each CTF ``AttendanceMarks`` string into rows ``upn, date, session, code``.

    Dates are written ISO (``yyyy-mm-dd``), as in the CTF, and ``laestab`` comes from the
    header's ``SourceSchool`` LEA and Estab. A string that does not line up is a reject.
    """
    from sync_agent.connectors.xml_reader import read_xml

    raw = read_xml(path, record_path=_CTF_RECORD, fields=_CTF_FIELDS)
    pieces: list[pd.DataFrame] = []
    rejects: list[tuple[int, str | None, str | None, str]] = []
    frame = raw.frame
    for upn, lea, estab, start, marks, line in zip(frame["upn"], frame["lea"], frame["estab"], frame["start"],
                                                    frame["marks"], frame[LINE_COLUMN]):
        unpacked = _unpack_pupil(upn, start, marks, int(line), calendar, rejects)
        if unpacked is not None:
            unpacked["laestab"] = f"{lea}{estab}" if lea and estab else ""
            pieces.append(unpacked)
    columns = ["laestab", "upn", "date", "session", "code", LINE_COLUMN]
    frame = pd.concat(pieces, ignore_index=True)[columns] if pieces else pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame[LINE_COLUMN] = frame[LINE_COLUMN].astype("int64")
    logger.info("read %d session marks for %d pupils from %s", len(frame), len(raw.frame), path)
    return RawTable(path=path, frame=frame, encoding=raw.encoding, rejects=rejects)


def _unpack_pupil(upn, start_text, marks, line, calendar, rejects) -> pd.DataFrame | None:
    def reject(field: str, value: str, message: str) -> None:
        rejects.append((line, field, value, message))

    try:
        start = dt.date.fromisoformat(start_text.strip())
    except ValueError:
        reject("AttendanceStartDate", start_text, f"AttendanceStartDate {start_text!r} is not a date in the form yyyy-mm-dd")
        return None
    marks = marks.strip()
    if len(marks) % 2:
        reject("AttendanceMarks", f"{len(marks)} characters",
               f"the marks string has {len(marks)} characters, an odd number, so it cannot hold an AM and PM "
               f"mark for each day from {start}; the string cannot be lined up with dates, so this pupil's "
               "marks were not read. Export the CTF again, or export the register as CSV")
        return None
    codes = np.array(list(marks), dtype=object)
    days = np.datetime64(start, "D") + np.arange(len(codes)) // 2
    problem = _first_misaligned(codes, days, calendar)
    if problem is not None:
        reject("AttendanceMarks", f"{len(marks)} characters from {start}",
               f"the marks string does not line up with the calendar from {start}: {problem}; "
               "this pupil's marks were not read. Check AttendanceStartDate, or export the register as CSV")
        return None
    keep = codes != NOT_IN_SESSION
    return pd.DataFrame({
        "upn": upn,
        "date": pd.Series(days[keep]).dt.strftime("%Y-%m-%d").to_numpy(),
        "session": np.where(np.arange(len(codes))[keep] % 2 == 0, "AM", "PM"),
        "code": codes[keep],
        LINE_COLUMN: line,
    })


def _first_misaligned(codes: np.ndarray, days: np.ndarray, calendar: SchoolCalendar | None) -> str | None:
    """Describe the first session whose mark or '#' contradicts the dates, or return None."""
    marked = codes != NOT_IN_SESSION
    weekend = np.is_busday(days, weekmask="1111100") == False  # noqa: E712 (numpy array)
    bad = marked & weekend
    reason = "a mark on a Saturday or Sunday"
    if calendar is not None:
        first, last = np.datetime64(calendar.first_day, "D"), np.datetime64(calendar.last_day, "D")
        outside = (days < first) | (days > last)
        if outside[marked].any():
            day = days[marked & outside][0]
            return f"{day} has a mark but lies outside the calendar {calendar.source}"
        inside = ~outside
        school = np.zeros(len(days), dtype=bool)
        if inside.any():
            school[inside] = calendar.school_days_between(days[inside], days[inside] + 1) == 1
        bad_mark = marked & ~school
        bad_hash = ~marked & school
        if bad_mark.any() or bad_hash.any():
            first_bad = np.flatnonzero(bad_mark | bad_hash)[0]
            kind = "a mark on a day that is not a school day" if bad_mark[first_bad] else "'#' (not in session) on a school day"
            session = "AM" if first_bad % 2 == 0 else "PM"
            return f"{days[first_bad]} {session} has {kind} in {calendar.source}"
        return None
    if bad.any():
        first_bad = np.flatnonzero(bad)[0]
        return f"{days[first_bad]} {'AM' if first_bad % 2 == 0 else 'PM'} has {reason}"
    return None
