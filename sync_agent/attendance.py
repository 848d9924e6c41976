"""Attendance marks: validate register exports a column at a time, and read large ones fast.

``validate_marks`` checks mapped marks: the LAESTAB, the UPN and its check letter, the date, the
session (AM or PM), the code against the attendance code set in force on the session's date, and
that the date is a school day of the calendar. A mark with any problem is a reject naming the file,
the physical line, the column, the value and the fix. A blank mark is a session with no mark and is
left out without a reject, but counted in the log. A row that ends before its mark field reads the
same, because the delimited connector pads missing trailing cells as empty. The checks work on the
distinct values of each column (categorical columns), so a year of marks for a whole LA, some 23
million rows, is checked in seconds.

``read_marks`` reads a one-row-per-mark CSV with pyarrow, every column dictionary-encoded, and
hands it to the same mapping and checks; it falls back to the delimited connector when line
numbers cannot be derived from row positions.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from sync_agent.attendance_codes import attendance_codes
from sync_agent.calendar import SchoolCalendar
from sync_agent.connectors.rawtable import LINE_COLUMN
from sync_agent.mapper import MappedRecords
from sync_agent.mapping import Mapping
from sync_agent.rejects import combine, reject_rows
from sync_agent.upn import check_upns

logger = logging.getLogger(__name__)

MARK_COLUMNS = ["laestab", "upn", "date", "session", "code", "source_file", "source_line"]
_FORMAT_NAMES = {"%d/%m/%Y": "dd/mm/yyyy", "%Y-%m-%d": "yyyy-mm-dd"}


def empty_marks() -> pd.DataFrame:
    """Return a marks frame with no rows and the columns ``MARK_COLUMNS``."""
    return pd.DataFrame({
        "laestab": pd.Series(dtype=object), "upn": pd.Series(dtype=object),
        "date": pd.Series(dtype="datetime64[s]"), "session": pd.Series(dtype=object),
        "code": pd.Series(dtype=object), "source_file": pd.Series(dtype=object),
        "source_line": pd.Series(dtype="int64"),
    })


class _MarkChecker:
    """Collects rejected rows while the mark columns are checked one after another."""

    def __init__(self, mapped: MappedRecords) -> None:
        self.mapped = mapped
        self.lines = mapped.frame[LINE_COLUMN]
        self.bad = np.zeros(len(mapped.frame), dtype=bool)
        self.rejects: list[pd.DataFrame] = [mapped.rejects]
        if len(mapped.rejects):
            self.bad |= self.lines.isin(set(mapped.rejects["line"])).to_numpy()

    def label(self, field: str) -> str:
        return self.mapped.source_columns.get(field, field)

    def column(self, field: str) -> pd.Series:
        frame = self.mapped.frame
        if field not in frame:
            return pd.Series(pd.Categorical([""] * len(frame)), index=frame.index)
        values = frame[field]
        if not isinstance(values.dtype, pd.CategoricalDtype):
            values = values.fillna("").astype(str).astype("category")
        return values

    def add(self, mask: np.ndarray, field: str, messages: pd.Series | str, values: pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        chosen = messages[mask] if isinstance(messages, pd.Series) else messages
        self.rejects.append(
            reject_rows(self.mapped.file, self.lines[mask], self.label(field), values[mask].astype(object), chosen)
        )
        self.bad |= mask


def _per_category(values: pd.Series, function) -> np.ndarray:
    """Apply ``function`` to a categorical column's categories and broadcast the result to rows."""
    categories = pd.Series(values.cat.categories.astype(str))
    per_category = np.asarray(function(categories))
    codes = values.cat.codes.to_numpy()
    return per_category[codes] if len(per_category) else np.zeros(len(codes), dtype=per_category.dtype)


def validate_marks(mapped: MappedRecords, mapping: Mapping, calendar: SchoolCalendar) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check mapped attendance marks; return (marks, rejects).

    ``marks`` has the columns ``MARK_COLUMNS``: ``date`` is datetime64, ``session`` "AM" or "PM",
    ``source_line`` the physical line. Columns are categorical when the input's were. ``rejects``
    has the columns of ``sync_agent.rejects``.
    """
    check = _MarkChecker(mapped)
    laestab = check.column("laestab")
    check.add(~_per_category(laestab, lambda c: c.str.fullmatch(r"[0-9]{7}")), "laestab",
              f"{check.label('laestab')} must be 7 digits (3-digit LA code and 4-digit establishment number); "
              "add the column or set [school] laestab", laestab)

    upn = check.column("upn")
    upn_valid = _per_category(upn, lambda c: check_upns(c)[0].to_numpy())
    if not upn_valid.all():
        upn_messages = _per_category(upn, lambda c: check_upns(c)[2].to_numpy())
        blank = _per_category(upn, lambda c: (c == "").to_numpy())
        messages = pd.Series(upn_messages, index=upn.index, dtype=object)
        messages[blank] = f"{check.label('upn')} is blank; every mark needs the pupil's UPN"
        check.add(~upn_valid, "upn", messages, upn)

    dates = _parse_dates(check, mapping)
    session = check.column("session")
    check.add(~_per_category(session, lambda c: c.isin(["AM", "PM"]).to_numpy()), "session",
              f"{check.label('session')} must be AM or PM", session)

    code = check.column("code")
    blank_code = _per_category(code, lambda c: (c == "").to_numpy())
    dated = ~check.bad & ~blank_code
    _check_school_days(check, dates, dated, calendar)
    dated = ~check.bad & ~blank_code
    invalid = attendance_codes().invalid(code, dates) & dated
    if invalid.any():
        messages = pd.Series("", index=code.index, dtype=object)
        messages[invalid] = attendance_codes().messages(code[invalid], dates[invalid]).to_numpy()
        check.add(invalid, "code", messages, code)

    keep = ~check.bad & ~blank_code
    columns = {"laestab": laestab, "upn": upn, "date": dates, "session": session, "code": code,
               "source_line": check.lines.astype("int64")}
    if not keep.all():
        rows = np.flatnonzero(keep)
        columns = {name: values.iloc[rows] for name, values in columns.items()}
    # copy=False: the columns are this step's own arrays, and a copy of a year of marks is costly.
    marks = pd.DataFrame(columns, copy=False).reset_index(drop=True)
    marks.insert(5, "source_file", pd.Categorical.from_codes(np.zeros(len(marks), dtype=np.int8), [mapped.file]))
    logger.info("validated %d attendance marks from %s, %d rejected, %d left out as sessions with no mark",
                len(marks), mapped.file, int(check.bad.sum()), int((blank_code & ~check.bad).sum()))
    return marks, combine(check.rejects)


def _parse_dates(check: _MarkChecker, mapping: Mapping) -> pd.Series:
    values = check.column("date")
    formats = mapping.date_formats("date")
    categories = pd.Series(values.cat.categories.astype(str))
    parsed = pd.Series(pd.NaT, index=categories.index, dtype="datetime64[s]")
    for fmt in formats:
        todo = parsed.isna() & (categories != "")
        if todo.any():
            parsed[todo] = pd.to_datetime(categories[todo], format=fmt, errors="coerce").astype("datetime64[s]")
    codes = values.cat.codes.to_numpy()
    dates = pd.Series(parsed.to_numpy()[codes], index=values.index, dtype="datetime64[s]", copy=False)
    forms = " or ".join(_FORMAT_NAMES.get(f, f) for f in formats)
    check.add(dates.isna().to_numpy(), "date", f"{check.label('date')} is not a valid date in the form {forms}", values)
    return dates


def _check_school_days(check: _MarkChecker, dates: pd.Series, rows: np.ndarray, calendar: SchoolCalendar) -> None:
    """Reject marks dated outside the calendar or on a day that is not a school day."""
    uniques = pd.unique(dates[rows].to_numpy().astype("datetime64[D]"))
    if not len(uniques):
        return
    first, last = np.datetime64(calendar.first_day, "D"), np.datetime64(calendar.last_day, "D")
    covered = (uniques >= first) & (uniques <= last)
    school = np.zeros(len(uniques), dtype=bool)
    if covered.any():
        school[covered] = calendar.school_days_between(uniques[covered], uniques[covered] + 1) == 1
    day_values = dates.to_numpy().astype("datetime64[D]")
    outside_days = uniques[~covered]
    closed_days = uniques[covered & ~school]
    label = check.label("date")
    outside_text = (f" is outside the calendar {calendar.source} ({calendar.first_day} to {calendar.last_day}); "
                    "add that year's terms to the term-dates file")
    closed_text = (f" is not a school day in {calendar.source}, so it has no register session; correct the date, "
                   "or the term dates if the school was open")
    for days, text in ((outside_days, outside_text), (closed_days, closed_text)):
        if not len(days):
            continue
        mask = rows & np.isin(day_values, days)
        messages = pd.Series("", index=dates.index, dtype=object)
        messages[mask] = label + " " + dates[mask].dt.strftime("%Y-%m-%d") + text
        check.add(mask, "date", messages, check.column("date"))
