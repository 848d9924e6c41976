"""The validate step: canonical text columns become typed, checked exclusion records.

Checks run a column at a time (a 200,000-row export is checked in well under a second); a row with
any problem goes to the rejects with the file, the physical line, the column, the value and a
message that says how to fix it, and the other rows carry on. Types are strict: a date must match
the mapping's date format exactly (``0`` or ``1710201600`` is not a date), and a session count must
be a whole number written as digits (``2.0`` is read as 2, ``1.5`` and ``true`` are rejected).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sync_agent.codelists import ReasonCodes
from sync_agent.connectors.rawtable import LINE_COLUMN
from sync_agent.mapper import EXTRA_PREFIX, MappedRecords
from sync_agent.mapping import DATE_FIELDS, Mapping
from sync_agent.rejects import combine, reject_rows
from sync_agent.textnorm import factorize_text
from sync_agent.upn import check_upns

_FORMAT_NAMES = {"%d/%m/%Y": "dd/mm/yyyy", "%Y-%m-%d": "yyyy-mm-dd", "%d-%m-%Y": "dd-mm-yyyy", "%d.%m.%Y": "dd.mm.yyyy"}
_EARLIEST = pd.Timestamp("1900-01-01")
_LATEST = pd.Timestamp("2100-12-31")
_WHOLE_NUMBER = re.compile(r"^\d+(\.0+)?$")
_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
_LAESTAB = re.compile(r"[0-9]{7}")

RECORD_COLUMNS = [
    "source_file", "source_line", "portal_id", "laestab", "upn", "upn_temporary", "surname", "forename",
    "date_of_birth", "category", "reason_1", "reason_2", "reason_3", "start_date", "start_session",
    "end_date", "end_session", "sessions", "status", "parents_notified_on", "la_notified_on",
    "provision_from", "provision_type",
]


@dataclass
class ValidatedRecords:
    """Accepted records of one input (columns ``RECORD_COLUMNS`` plus extras) and its rejects."""

    file: str
    records: pd.DataFrame
    rejects: pd.DataFrame
    read: int  # records the input held, accepted or not
    # LAESTAB, UPN, names, start date, start session and line of the rejected rows, as far as they
    # could be read. A record on the other side that matches one is not reported missing, because
    # the rejected row is in rejects.csv waiting to be corrected.
    rejected_keys: pd.DataFrame | None = None


def _bool_array(mask: pd.Series | np.ndarray) -> np.ndarray:
    """Return ``mask`` as a numpy bool array, missing values as False."""
    if isinstance(mask, np.ndarray) and mask.dtype == bool:
        return mask
    if isinstance(mask, pd.Series) and mask.dtype == bool:
        return mask.to_numpy()
    return pd.Series(mask).fillna(False).astype(bool).to_numpy()


def _matches(values: pd.Series, pattern: re.Pattern, *, full: bool = False) -> np.ndarray:
    """Return which rows of a text column match ``pattern`` from their start (or as a whole).

    Each distinct text is matched once.
    """
    codes, uniques = factorize_text(values)
    test = pattern.fullmatch if full else pattern.match
    matched = np.array([test(u) is not None for u in uniques] + [False], dtype=bool)
    return matched[codes]


def _blank_to_none(values: pd.Series, present: np.ndarray) -> pd.Series:
    """Return a copy of a text column with "" as None."""
    return pd.Series(np.where(present, values.to_numpy(), None), index=values.index, dtype=object)


class _Checker:
    """Collects problems per row while the columns are checked one after another."""

    def __init__(self, mapped: MappedRecords) -> None:
        self.mapped = mapped
        self.frame = mapped.frame
        self.lines = self.frame[LINE_COLUMN]
        self.bad = np.zeros(len(self.frame), dtype=bool)
        self.rejects: list[pd.DataFrame] = [mapped.rejects]
        self._unmapped: dict[str, np.ndarray] = {}
        self._text: dict[str, pd.Series] = {}
        self._present: dict[str, np.ndarray] = {}
        if len(mapped.rejects):
            self.bad |= self.lines.isin(set(mapped.rejects["line"])).to_numpy()

    def label(self, field: str) -> str:
        return self.mapped.source_columns.get(field, field)

    def unmapped(self, field: str) -> np.ndarray:
        """Rows whose ``field`` held a value no table maps: the map step has rejected them already."""
        if field not in self._unmapped:
            rejected = self.mapped.rejects
            if not len(rejected):
                self._unmapped[field] = np.zeros(len(self.frame), dtype=bool)
            else:
                lines = set(rejected.loc[rejected["field"] == self.label(field), "line"])
                self._unmapped[field] = self.lines.isin(lines).to_numpy()
        return self._unmapped[field]

    def add(self, mask: pd.Series | np.ndarray, field: str, messages: pd.Series | str,
            values: pd.Series | None = None) -> None:
        """Reject the rows of ``mask`` (missing counts as False) with ``messages`` for ``field``."""
        # An unmapped value reaches this step as blank; its row needs no second, "is blank" message.
        mask = _bool_array(mask) & ~self.unmapped(field)
        if not mask.any():
            return
        source = values if values is not None else self.frame[field] if field in self.frame else pd.Series("", index=self.frame.index)
        chosen = messages[mask] if isinstance(messages, pd.Series) else messages
        self.rejects.append(reject_rows(self.mapped.file, self.lines[mask], self.label(field), source[mask], chosen))
        self.bad |= mask

    def text(self, field: str) -> pd.Series:
        """Return ``field`` as an object column of str, missing values as ""."""
        if field not in self._text:
            if field not in self.frame:
                self._text[field] = pd.Series("", index=self.frame.index, dtype=object)
            else:
                column = self.frame[field]
                # The map step's columns contain only str, so the copy that fills missing values is
                # needed only for frames built some other way.
                str_only = column.dtype == object and (
                    field in self.mapped.blank or pd.api.types.infer_dtype(column.to_numpy(), skipna=False) == "string")
                if not str_only:
                    column = column.fillna("").astype(object)
                self._text[field] = column
        return self._text[field]

    def present(self, field: str) -> np.ndarray:
        """Return which rows of ``field`` are not blank."""
        if field not in self._present:
            if field in self.mapped.blank and field in self.frame:
                self._present[field] = ~self.mapped.blank[field]
            else:
                # An object array of str converts to bool as Python's truth test does: False for "" only.
                self._present[field] = self.text(field).to_numpy().astype(bool)
        return self._present[field]

    def date(self, field: str, formats: list[str]) -> pd.Series:
        """Parse a date column with the mapping's explicit formats, tried in order, never guessed."""
        values = self.text(field)
        # Each distinct text is parsed and checked once: an export has far fewer dates than rows.
        codes, uniques = factorize_text(values)
        distinct = pd.Series(uniques, dtype=object)
        parsed_distinct = pd.Series(pd.NaT, index=distinct.index, dtype="datetime64[s]")
        for fmt in formats:
            todo = parsed_distinct.isna() & (distinct != "")
            if not todo.any():
                break
            attempt = pd.to_datetime(distinct[todo], format=fmt, errors="coerce")
            parsed_distinct[todo] = attempt.astype("datetime64[s]")
        invalid_distinct = (distinct != "") & parsed_distinct.isna()
        zero_distinct = invalid_distinct & (distinct == "0")
        out_of_range_distinct = parsed_distinct.notna() & ((parsed_distinct < _EARLIEST) | (parsed_distinct > _LATEST))
        kept_distinct = parsed_distinct.where(~(invalid_distinct | out_of_range_distinct))
        invalid = invalid_distinct.to_numpy()[codes]
        forms = " or ".join(_FORMAT_NAMES.get(f, f) for f in formats)
        zero = zero_distinct.to_numpy()[codes]
        self.add(zero, field, f"{self.label(field)} is 0, which is not a date; leave it blank when there is none "
                              f"(a custom mapping may list blank_values = [\"0\"] for this field)")
        self.add(invalid & ~zero, field, f"{self.label(field)} is not a valid date in the form {forms}")
        out_of_range = out_of_range_distinct.to_numpy()[codes]
        self.add(out_of_range, field, f"{self.label(field)} is outside 1900-2100; check the year")
        return pd.Series(kept_distinct.to_numpy()[codes], index=values.index, dtype="datetime64[s]")


def validate_records(mapped: MappedRecords, mapping: Mapping, reasons: ReasonCodes) -> ValidatedRecords:
    """Check exclusion or portal records a column at a time; return accepted rows and rejects."""
    check = _Checker(mapped)
    frame = mapped.frame
    out: dict[str, pd.Series] = {
        "source_file": pd.Series(mapped.file, index=frame.index, dtype=object),
        "source_line": check.lines.astype("int64"),
    }

    if mapping.kind == "portal":
        portal_id = check.text("portal_id")
        check.add(~check.present("portal_id"), "portal_id", f"{check.label('portal_id')} is blank; every portal record needs its id")
        out["portal_id"] = portal_id
    else:
        out["portal_id"] = pd.Series(None, index=frame.index, dtype=object)

    laestab = check.text("laestab")
    check.add(~_matches(laestab, _LAESTAB, full=True), "laestab",
              f"{check.label('laestab')} must be 7 digits (3-digit LA code and 4-digit establishment number)")
    out["laestab"] = laestab

    upn = check.text("upn")
    valid, temporary, upn_messages = check_upns(upn)
    check.add(~check.present("upn"), "upn", f"{check.label('upn')} is blank; every record needs the pupil's UPN")
    check.add(check.present("upn") & ~valid.to_numpy(), "upn", upn_messages)
    out["upn"] = upn
    out["upn_temporary"] = temporary

    for field in ("surname", "forename"):
        out[field] = check.text(field)
    for field in sorted(DATE_FIELDS & set(frame.columns) - {"date", "on_roll_from", "on_roll_to"}):
        out[field] = check.date(field, mapping.date_formats(field))
    for field in ("date_of_birth", "end_date", "parents_notified_on", "la_notified_on", "provision_from"):
        out.setdefault(field, pd.Series(pd.NaT, index=frame.index, dtype="datetime64[s]"))
    start_date = out.get("start_date", pd.Series(pd.NaT, index=frame.index, dtype="datetime64[s]"))
    out["start_date"] = start_date
    check.add(~check.present("start_date"), "start_date", f"{check.label('start_date')} is blank")

    category = check.text("category")
    check.add(~check.present("category"), "category", f"{check.label('category')} is blank; give the exclusion's category")
    out["category"] = category

    _check_reasons(check, out, reasons)
    _check_sessions(check, out, mapping)
    status = check.text("status")
    out["status"] = pd.Series(np.where(check.present("status"), status.to_numpy(), "active"), index=frame.index,
                              dtype=object)
    out["provision_type"] = _blank_to_none(check.text("provision_type"), check.present("provision_type"))

    records = pd.DataFrame(out, index=frame.index)[RECORD_COLUMNS]
    for column in frame.columns:
        if column.startswith(EXTRA_PREFIX):
            records[column] = frame[column]
    accepted = records[~check.bad].reset_index(drop=True)
    rejected_keys = records.loc[check.bad, ["laestab", "upn", "surname", "forename", "start_date", "start_session",
                                            "source_line"]]
    rejected_keys = rejected_keys.reset_index(drop=True)
    return ValidatedRecords(mapped.file, accepted, combine(check.rejects), len(frame), rejected_keys)


def _check_reasons(check: _Checker, out: dict[str, pd.Series], reasons: ReasonCodes) -> None:
    r1, r2, r3 = (check.text(f"reason_{n}") for n in (1, 2, 3))
    p1, p2, p3 = (check.present(f"reason_{n}") for n in (1, 2, 3))
    a1, a2, a3 = (r.to_numpy() for r in (r1, r2, r3))
    check.add(~p1, "reason_1",
              f"{check.label('reason_1')} is blank; every exclusion needs its main reason (1 to 3 reasons)")
    check.add(~p2 & p3 & ~check.unmapped("reason_2"), "reason_3",
              f"{check.label('reason_3')} is set but {check.label('reason_2')} is blank; move it to "
              f"{check.label('reason_2')}")
    repeated = (p2 & (a2 == a1)) | (p3 & ((a3 == a1) | (a3 == a2)))
    check.add(repeated, "reason_2", "the same reason is given twice; give each reason once")
    starts = out["start_date"]
    dated = starts.notna()
    for n, codes, present in ((1, r1, p1), (2, r2, p2), (3, r3, p3)):
        messages = pd.Series("", index=codes.index, dtype=object)
        if dated.any():
            messages[dated] = _check_codes(reasons, codes[dated], starts[dated])
        check.add(messages.to_numpy() != "", f"reason_{n}", messages)
        out[f"reason_{n}"] = _blank_to_none(codes, present)


def _to_numbers(values: pd.Series, selected: np.ndarray) -> pd.Series:
    """Return ``pd.to_numeric`` of the ``selected`` rows of a text column, NaN elsewhere.

    Each distinct text is converted once; the rows that share a text share its number.
    """
    codes, uniques = factorize_text(values)
    chosen = np.zeros(len(uniques), dtype=bool)
    chosen[codes[selected]] = True
    numbers = pd.to_numeric(pd.Series(uniques, dtype=object).where(chosen), errors="coerce").to_numpy()
    return pd.Series(numbers[codes], index=values.index)


def _check_codes(reasons: ReasonCodes, codes: pd.Series, starts: pd.Series) -> np.ndarray:
    """Return ``reasons.check`` of each row, checking each distinct (code, start date) pair once.

    ``starts`` contains no NaT. A reason's message depends only on the code and the start date.
    """
    code_ids, _ = factorize_text(codes)
    date_ids, date_uniques = pd.factorize(starts.to_numpy())
    pair_ids, _ = pd.factorize(code_ids.astype(np.int64) * (len(date_uniques) + 1) + date_ids)
    _, first_rows = np.unique(pair_ids, return_index=True)
    distinct = reasons.check(codes.iloc[first_rows].reset_index(drop=True), starts.iloc[first_rows].reset_index(drop=True))
    return distinct.to_numpy(dtype=object)[pair_ids]


def _parse_counts(check: _Checker, field: str, convert: str | None) -> pd.Series:
    values = check.text(field)
    present = check.present(field)
    if convert == "days_to_sessions":
        shaped = _matches(values, _DECIMAL)
        check.add(present & ~shaped, field, f"{check.label(field)} must be a number of school days such as 1.5")
        days = _to_numbers(values, present & shaped)
        halves = days * 2
        whole = (halves - np.floor(halves)).abs() < 1e-9
        check.add(present & shaped & ~whole.to_numpy(), field,
                  f"{check.label(field)} must be a whole number of half days (such as 0.5, 1 or 1.5)")
        return halves.where(whole).round().astype("Int64")
    shaped = _matches(values, _WHOLE_NUMBER)
    check.add(present & ~shaped, field,
              f"{check.label(field)} must be a whole number of half-day sessions written as digits")
    return _to_numbers(values, present & shaped).astype("Int64")


def _check_sessions(check: _Checker, out: dict[str, pd.Series], mapping: Mapping) -> None:
    category = out["category"].to_numpy()
    spec = mapping.spec.fields.get("sessions")
    sessions = _parse_counts(check, "sessions", spec.convert if spec else None)
    start_session = check.text("start_session")
    end_session = check.text("end_session")
    end_spec = mapping.spec.fields.get("end_session")
    if end_spec is not None and end_spec.convert == "end_session_from_sessions":
        end_session = _derived_end_session(end_session, start_session, sessions, out["category"])
    starts_am_pm = start_session.to_numpy()
    ends_am_pm = end_session.to_numpy()
    start_blank = ~check.present("start_session")
    end_present = ends_am_pm != ""
    end_date = out["end_date"]
    end_dated = end_date.notna().to_numpy()
    permanent = category == "permanent"
    suspension = category == "suspension"
    fixed = suspension | (category == "lunchtime")

    check.add(fixed & sessions.isna().to_numpy() & ~check.present("sessions"), "sessions",
              f"{check.label('sessions')} is blank; a suspension or lunchtime exclusion needs its number of sessions")
    check.add(fixed & _bool_array(sessions == 0), "sessions", f"{check.label('sessions')} is 0; give the number of sessions")
    check.add(fixed & ~end_dated & ~check.present("end_date"), "end_date",
              f"{check.label('end_date')} is blank; a suspension or lunchtime exclusion needs its end date")
    check.add(suspension & start_blank, "start_session",
              f"{check.label('start_session')} is blank; give AM or PM")
    check.add(permanent & start_blank, "start_session",
              f"{check.label('start_session')} is blank; give AM or PM")
    check.add(suspension & end_dated & ~end_present, "end_session",
              f"{check.label('end_session')} is blank; give AM or PM")
    for field, present in (("end_date", check.present("end_date")), ("end_session", end_present),
                           ("sessions", check.present("sessions"))):
        check.add(permanent & present, field,
                  f"{check.label(field)} is set on a permanent exclusion; a permanent exclusion has no "
                  f"{field.replace('_', ' ')}, so clear it or correct the category")
    starts = out["start_date"]
    backwards = end_date.notna() & starts.notna() & (end_date < starts)
    check.add(backwards, "end_date", f"{check.label('end_date')} is before the start date")
    same_day_backwards = (end_dated & (end_date == starts).to_numpy() & (starts_am_pm == "PM")
                          & (ends_am_pm == "AM"))
    check.add(same_day_backwards, "end_session", "the exclusion ends in the AM session of the day it starts in the PM")

    out["sessions"] = sessions.where(~permanent)
    out["start_session"] = _blank_to_none(start_session, ~start_blank)
    out["end_session"] = _blank_to_none(end_session, end_present)


def _derived_end_session(
    end_session: pd.Series, start_session: pd.Series, sessions: pd.Series, category: pd.Series
) -> pd.Series:
    """Fill blank end sessions that follow from the start session and the session count.

    A suspension of n sessions from AM ends in the PM when n is even and in the AM when n is odd
    (from PM the other way round). Each lunchtime falls at the same point of its day, so a lunchtime
    exclusion ends in the session it starts in. Other rows keep their value.
    """
    blank = (end_session == "") & start_session.isin(["AM", "PM"])
    odd = (sessions % 2 == 1).fillna(False).astype(bool)
    other = start_session.map({"AM": "PM", "PM": "AM"})
    suspension_end = start_session.where(odd, other)
    derived = end_session.copy()
    is_suspension = blank & (category == "suspension") & sessions.notna()
    derived[is_suspension] = suspension_end[is_suspension]
    is_lunchtime = blank & (category == "lunchtime")
    derived[is_lunchtime] = start_session[is_lunchtime]
    return derived


def as_date(value: object) -> dt.date | None:
    """Return a frame cell (Timestamp or NaT) as a date, or None."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).date()
