"""The marks a covered session may carry, and the findings for the sessions that break the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.register_frames import empty_findings, finding_rows, session_labels
from sync_agent.sessions import session_indexes

NEW_CODES_FROM = np.datetime64("2024-08-19", "D")  # K (LA-arranged provision) exists from this date
DAY_6_POSITION = 10  # sessions 0-9 of a run are days 1-5
PROVISION_CODES = {"school": "B", "dual": "D", "la": "K"}
NO_MARK = "no mark"


def judge_sessions(exclusions: pd.DataFrame, sessions: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    """Return ``wrong_attendance_code`` and ``no_provision_from_day_6`` findings, one per exclusion each.

    ``sessions`` has one row per covered session: ``row`` (the exclusion's position), ``index``,
    ``position`` (sessions since its run of consecutive exclusions began), ``covered_by_data`` and
    ``code`` (the mark, NaN for none).
    """
    checked = sessions[sessions["covered_by_data"]].reset_index(drop=True)
    if checked.empty:
        return empty_findings()
    from sync_agent.sessions import session_dates

    days, halves = session_dates(calendar, checked["index"].to_numpy())
    checked["day"], checked["half"] = days, halves
    code = checked["code"].fillna("").astype(str).to_numpy()
    records = exclusions.iloc[checked["row"].to_numpy()]
    provision_code = records["provision_type"].map(PROVISION_CODES).fillna("").to_numpy()
    provision_start = _provision_start(records, checked, calendar)
    with_provision = (provision_code != "") & (checked["index"].to_numpy() >= provision_start)
    k_allowed = days >= NEW_CODES_FROM

    accepted = np.isin(code, ["E", "B", "D"]) | ((code == "K") & k_allowed)
    ok = np.where(with_provision, code == provision_code, accepted)
    checked["expected"] = np.where(with_provision, provision_code, np.where(k_allowed, "E, B, D or K", "E, B or D"))
    checked["actual"] = np.where(code == "", NO_MARK, code)
    day_6_e = ~with_provision & (code == "E") & (checked["position"].to_numpy() >= DAY_6_POSITION)
    checked["label"] = session_labels(days, halves)
    return pd.concat([_group(exclusions, checked[~ok], "wrong_attendance_code"),
                      _group(exclusions, checked[day_6_e], "no_provision_from_day_6")], ignore_index=True)


def _provision_start(records: pd.DataFrame, checked: pd.DataFrame, calendar: SchoolCalendar) -> np.ndarray:
    """Return the session from which each session's exclusion expects its provision code."""
    day_6 = (checked["index"] - checked["position"] + DAY_6_POSITION).to_numpy()
    given = records["provision_from"].notna().to_numpy()
    start = day_6.copy()
    if given.any():
        start[given] = session_indexes(calendar, records.loc[records["provision_from"].notna(), "provision_from"].to_numpy(),
                                       np.full(int(given.sum()), "AM"))
    return start


def _group(exclusions: pd.DataFrame, rows: pd.DataFrame, kind: str) -> pd.DataFrame:
    if rows.empty:
        return empty_findings()
    # Grouped by hand: the sessions that break a rule are few, and a pandas groupby with list
    # aggregations cost more than the whole rule.
    row = rows["row"].to_numpy()
    order = np.argsort(row, kind="stable")
    row = row[order]
    labels = rows["label"].to_numpy()[order]
    expected_codes = rows["expected"].to_numpy()[order]
    actual_codes = rows["actual"].to_numpy()[order]
    firsts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    bounds = zip(firsts, np.r_[firsts[1:], len(row)])
    sessions, expected, actual = [], [], []
    for start, stop in bounds:
        sessions.append(list(labels[start:stop]))
        expected.append(_distinct(expected_codes[start:stop]))
        actual.append(_distinct(actual_codes[start:stop]))
    records = exclusions.iloc[row[firsts]].reset_index(drop=True)
    if kind == "wrong_attendance_code":
        messages = [f"{len(s)} covered session{'s' if len(s) > 1 else ''} from {s[0]} marked {a}, where the register "
                    f"should show {e}" for s, a, e in zip(sessions, actual, expected)]
        return finding_rows(records, kind, expected=expected, actual=actual, sessions=sessions, message=messages)
    messages = [f"{len(s)} session{'s' if len(s) > 1 else ''} from day 6 on ({s[0]} onwards) still marked E, so no "
                "alternative provision is recorded" for s in sessions]
    return finding_rows(records, kind, expected="B, D or K", actual="E", sessions=sessions, message=messages)


def _distinct(values: np.ndarray) -> str:
    return ", ".join(dict.fromkeys(values))
