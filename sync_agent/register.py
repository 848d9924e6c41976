"""The register check: which sessions each exclusion covers, and whether the marks agree.

Each exclusion is turned into a span of session indexes (``sync_agent.sessions``); only those spans
are expanded into sessions, never the marks, so a year of marks for an LA costs a few array passes.
The rules:

- A suspension covers its ``sessions`` count of school sessions from its start session, or, without
  a count, the sessions up to its end date and session. When the count and the dates disagree, a
  ``field_mismatch`` on ``sessions`` says so, and the count wins.
- A permanent exclusion covers every session from its start until the pupil leaves the roll
  (``on_roll_to``) or the pupil's marks end. A lunchtime exclusion covers no register session.
- Sessions 1 to 10 of a run of consecutive exclusions are days 1 to 5; from the 11th session on it
  is day 6, also when the run starts in the PM. An exclusion that starts on the session right after
  another ends continues that run.
- On a covered session ``E`` is expected; ``B`` and ``D`` are accepted at any time and ``K`` from 19
  August 2024, since they show provision was made. With ``provision_type`` set, the sessions from
  ``provision_from`` (without it, from day 6) expect that provision's code (school ``B``, dual
  ``D``, LA ``K``). ``E`` from day 6 without provision raises one ``no_provision_from_day_6`` per
  exclusion; any other mark, or none, is one ``wrong_attendance_code`` per exclusion.
- An ``E`` on a session no exclusion covers is ``exclusion_code_without_exclusion``, one finding per
  run of consecutive school sessions of a pupil.

Only sessions inside a pupil's marks (from the first to the last marked session, and not after
``as_of``) are checked, so a register export that ends early raises nothing beyond its end.
Withdrawn and reinstated exclusions cover no session.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.register_frames import empty_findings, finding_rows, session_labels
from sync_agent.register_rules import judge_sessions
from sync_agent.sessions import last_session_on_or_before, session_dates, session_indexes

logger = logging.getLogger(__name__)

# Records that agree on these are one exclusion keyed twice: reconcile reports the copy as a
# duplicate_record, and the checks here count it once, so a copy never inflates a total.
SAME_EXCLUSION = ["laestab", "upn", "category", "start_date", "start_session"]


def check_register(
    exclusions: pd.DataFrame,
    marks: pd.DataFrame | None,
    pupils: pd.DataFrame | None,
    calendar: SchoolCalendar,
    as_of: dt.date,
) -> pd.DataFrame:
    """Run every register, threshold, roll and notification check; return one findings frame.

    ``exclusions`` are validated MIS records (``validate.RECORD_COLUMNS``) inside the period, of
    which repeated copies of one exclusion (``SAME_EXCLUSION``) are checked once;
    ``marks`` the frame of ``attendance.validate_marks`` (or None: no register checks); ``pupils``
    the frame of ``pupils.validate_pupils`` (or None: no roll or pupil-details checks). The result
    has ``register_frames.REGISTER_FINDING_COLUMNS`` (plus ``id_field`` on some rows) and goes to
    ``reconcile.finalise``.
    """
    from sync_agent.pupils import pupil_details_findings
    from sync_agent.roll import late_notifications, removed_from_roll_early
    from sync_agent.thresholds import threshold_findings

    exclusions = _in_calendar(exclusions, calendar).drop_duplicates(SAME_EXCLUSION).reset_index(drop=True)
    spans = exclusion_spans(exclusions, calendar)
    parts = [threshold_findings(exclusions, calendar, as_of, spans), late_notifications(exclusions, calendar)]
    if pupils is not None:
        parts += [removed_from_roll_early(exclusions, pupils, calendar), pupil_details_findings(exclusions, pupils)]
    if marks is not None:
        parts.append(register_findings(exclusions, marks, pupils, calendar, as_of, spans))
    else:
        parts.append(sessions_vs_dates(exclusions, calendar, spans))
    parts = [part for part in parts if len(part)]
    if not parts:
        return empty_findings()
    return pd.concat(parts, ignore_index=True)


def _in_calendar(exclusions: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    """Keep the records whose start the calendar covers; the others cannot be placed in sessions."""
    starts = exclusions["start_date"]
    first, last = pd.Timestamp(calendar.first_day), pd.Timestamp(calendar.last_day)
    inside = starts.notna() & (starts >= first) & (starts <= last)
    if (~inside).any():
        logger.info("%d exclusions start outside the calendar and are left out of the register checks", int((~inside).sum()))
    return exclusions[inside].reset_index(drop=True)


# --- spans ----------------------------------------------------------------------------------


def exclusion_spans(exclusions: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    """Return, per active suspension or permanent exclusion, its first and last session index.

    Columns: ``row`` (position in ``exclusions``), ``start`` and ``end`` (inclusive; a permanent
    exclusion's ``end`` is open, -1), ``dates_end`` (from the end date and session, -1 without),
    ``stated`` (the sessions count, -1 without).
    """
    active = exclusions["status"].fillna("active").eq("active")
    chosen = exclusions[active & exclusions["category"].isin(["suspension", "permanent"])]
    if chosen.empty:
        return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ("row", "start", "end", "dates_end", "stated")})
    start = session_indexes(calendar, chosen["start_date"].to_numpy(), chosen["start_session"].fillna("AM"))
    has_end = chosen["end_date"].notna().to_numpy()
    dates_end = np.full(len(chosen), -1, dtype=np.int64)
    if has_end.any():
        ends = chosen.loc[has_end, "end_date"].clip(upper=pd.Timestamp(calendar.last_day))
        dates_end[has_end] = session_indexes(calendar, ends.to_numpy(), chosen.loc[has_end, "end_session"].fillna("PM"))
    stated = chosen["sessions"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64)
    end = np.where(stated > 0, start + stated - 1, dates_end)
    end = np.where(chosen["category"].eq("permanent").to_numpy(), -1, end)
    return pd.DataFrame({"row": np.flatnonzero(active & exclusions["category"].isin(["suspension", "permanent"])),
                         "start": start, "end": end, "dates_end": dates_end, "stated": stated})


def sessions_vs_dates(exclusions: pd.DataFrame, calendar: SchoolCalendar, spans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return a ``field_mismatch`` on ``sessions`` for each suspension whose count and dates disagree."""
    spans = exclusion_spans(exclusions, calendar) if spans is None else spans
    both = (spans["stated"] > 0) & (spans["dates_end"] >= 0) & (spans["end"] >= 0)
    from_dates = spans["dates_end"] - spans["start"] + 1
    disagree = spans[both & (from_dates != spans["stated"])]
    if disagree.empty:
        return empty_findings()
    records = exclusions.iloc[disagree["row"].to_numpy()].reset_index(drop=True)
    counted = (disagree["dates_end"] - disagree["start"] + 1).to_numpy()
    stated = disagree["stated"].to_numpy()
    messages = [f"The record gives {s} sessions, but its start and end cover {c} school sessions in the calendar"
                for s, c in zip(stated, counted)]
    return finding_rows(records, "field_mismatch", field="sessions", mis_value=[str(s) for s in stated],
                        expected=[str(c) for c in counted], actual=[str(s) for s in stated], message=messages,
                        id_field="sessions_vs_dates")


# --- pupils as integer keys -------------------------------------------------------------------


class _PupilKeys:
    """Integer keys for (LAESTAB, UPN) pairs, taken from the marks' categories."""

    def __init__(self, marks: pd.DataFrame) -> None:
        self.laestab = marks["laestab"].astype("category")
        self.upn = marks["upn"].astype("category")
        self.width = max(len(self.upn.cat.categories), 1)

    def of_marks(self) -> np.ndarray:
        return self.laestab.cat.codes.to_numpy().astype(np.int64) * self.width + self.upn.cat.codes.to_numpy()

    def of(self, records: pd.DataFrame) -> np.ndarray:
        """Return each record's key, or -1 when the marks hold no mark for that pupil."""
        lae = self.laestab.cat.categories.get_indexer(records["laestab"].astype(str))
        upn = self.upn.cat.categories.get_indexer(records["upn"].astype(str))
        return np.where((lae >= 0) & (upn >= 0), lae.astype(np.int64) * self.width + upn, -1)

    @property
    def count(self) -> int:
        return max(len(self.laestab.cat.categories), 1) * self.width


# --- the register check ----------------------------------------------------------------------


def register_findings(
    exclusions: pd.DataFrame, marks: pd.DataFrame, pupils: pd.DataFrame | None, calendar: SchoolCalendar,
    as_of: dt.date, spans: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compare covered sessions with the marks; return register findings and count mismatches.

    ``spans`` are the records' ``exclusion_spans``, when the caller has them already.
    """
    spans = exclusion_spans(exclusions, calendar) if spans is None else spans
    parts = [sessions_vs_dates(exclusions, calendar, spans)]
    if marks.empty:
        return pd.concat(parts, ignore_index=True)
    keys = _PupilKeys(marks)
    mark_keys = keys.of_marks()
    code = marks["code"].astype("category")
    e_code = code.cat.categories.get_indexer(["E"])[0]
    is_e = code.cat.codes.to_numpy() == e_code if e_code >= 0 else np.zeros(len(marks), dtype=bool)

    excluded = np.zeros(keys.count, dtype=bool)
    span_keys = keys.of(exclusions.iloc[spans["row"].to_numpy()]) if len(spans) else np.zeros(0, dtype=np.int64)
    excluded[span_keys[span_keys >= 0]] = True
    relevant = excluded[mark_keys] | is_e
    subset = pd.DataFrame({
        "key": mark_keys[relevant],
        "index": session_indexes(calendar, marks["date"].to_numpy()[relevant], marks["session"][relevant]),
        "code": code[relevant].astype(str).to_numpy(),
        "laestab": marks["laestab"][relevant].astype(str).to_numpy(),
        "upn": marks["upn"][relevant].astype(str).to_numpy(),
    }).sort_values(["key", "index"], kind="stable").drop_duplicates(["key", "index"]).reset_index(drop=True)
    # NOTE: a pupil marked twice for one session keeps the first mark in file order; conflicting
    # duplicate marks are not reported.
    as_of_index = _as_of_index(calendar, as_of)
    sessions = _covered_sessions(exclusions, spans, span_keys, subset, pupils, calendar, as_of_index)
    parts.append(judge_sessions(exclusions, sessions, calendar))
    parts.append(_unexplained_e(subset[subset["code"] == "E"], sessions, exclusions, pupils, calendar, as_of_index))
    parts = [part for part in parts if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else empty_findings()


def _as_of_index(calendar: SchoolCalendar, as_of: dt.date) -> int:
    """Return the last session on or before ``as_of`` (-1 when ``as_of`` precedes the calendar)."""
    if as_of < calendar.first_day:
        return -1
    return int(last_session_on_or_before(calendar, [np.datetime64(min(as_of, calendar.last_day), "D")])[0])


def _covered_sessions(exclusions, spans, span_keys, subset, pupils, calendar, as_of_index) -> pd.DataFrame:
    """Expand every span into its sessions, with the run's day numbering and the mark found."""
    extent = subset[subset["key"].isin(span_keys)].groupby("key")["index"].agg(["min", "max"])
    first_marked = extent["min"].reindex(span_keys).fillna(-1).to_numpy(dtype=np.int64)
    last_marked = extent["max"].reindex(span_keys).fillna(-2).to_numpy(dtype=np.int64)
    start = spans["start"].to_numpy()
    end = spans["end"].to_numpy().copy()
    open_ended = end < 0
    roll_end = _roll_end(exclusions.iloc[spans["row"].to_numpy()], pupils, calendar)
    end[open_ended] = np.minimum(last_marked[open_ended], roll_end[open_ended])
    chain_start = _run_starts(span_keys, start, end)

    count = np.clip(end - start + 1, 0, None)
    span_of = np.repeat(np.arange(len(spans)), count)
    offsets = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    index = start[span_of] + offsets
    frame = pd.DataFrame({"span": span_of, "row": spans["row"].to_numpy()[span_of], "key": span_keys[span_of], "index": index,
                          "position": index - chain_start[span_of]})
    frame["covered_by_data"] = ((frame["key"] >= 0) & (index >= first_marked[span_of]) & (index <= last_marked[span_of])
                                & (index <= as_of_index))
    lookup = subset.set_index(["key", "index"])["code"]
    found = lookup.reindex(pd.MultiIndex.from_arrays([frame["key"], frame["index"]]))
    frame["code"] = found.to_numpy()
    return frame


def _roll_end(records: pd.DataFrame, pupils: pd.DataFrame | None, calendar: SchoolCalendar) -> np.ndarray:
    """Return, per record, the last session the pupil is on roll (a large number when unknown)."""
    unknown = np.full(len(records), np.iinfo(np.int64).max // 4, dtype=np.int64)
    if pupils is None or pupils.empty or records.empty:
        return unknown
    leaving = pupils.dropna(subset=["on_roll_to"]).drop_duplicates(["laestab", "upn"]).set_index(["laestab", "upn"])["on_roll_to"]
    found = leaving.reindex(pd.MultiIndex.from_arrays([records["laestab"].astype(str), records["upn"].astype(str)]))
    known = found.notna().to_numpy()
    if known.any():
        days = found[known].clip(upper=pd.Timestamp(calendar.last_day)).to_numpy()
        unknown[known] = last_session_on_or_before(calendar, days)
    return unknown


def _run_starts(keys: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Return, per span, the first session of its run of consecutive exclusions."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((start, keys))
    k, s, e = keys[order], start[order], end[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (k[1:] != k[:-1]) | (s[1:] != e[:-1] + 1)
    run_id = np.cumsum(new_run) - 1
    firsts = s[new_run][run_id]
    result = np.empty(len(order), dtype=np.int64)
    result[order] = firsts
    return result


def _unexplained_e(e_marks, sessions, exclusions, pupils, calendar, as_of_index) -> pd.DataFrame:
    """Group E marks on sessions no exclusion covers into runs of consecutive sessions per pupil."""
    covered = pd.MultiIndex.from_arrays([sessions["key"], sessions["index"]])
    marks = e_marks[(e_marks["index"] <= as_of_index)]
    marks = marks[~pd.MultiIndex.from_arrays([marks["key"], marks["index"]]).isin(covered)].reset_index(drop=True)
    if marks.empty:
        return empty_findings()
    new_run = np.ones(len(marks), dtype=bool)
    key, index = marks["key"].to_numpy(), marks["index"].to_numpy()
    new_run[1:] = (key[1:] != key[:-1]) | (index[1:] != index[:-1] + 1)
    marks["run"] = np.cumsum(new_run)
    days, labels = session_dates(calendar, index)
    marks["label"] = session_labels(days, labels)
    marks["day"] = days
    runs = marks.groupby("run", sort=True).agg(laestab=("laestab", "first"), upn=("upn", "first"),
                                               start_date=("day", "first"), sessions=("label", list))
    names = _names(runs, exclusions, pupils)
    messages = [f"{len(s)} session{'s' if len(s) > 1 else ''} marked E (excluded) from {s[0]} with no exclusion recorded"
                for s in runs["sessions"]]
    runs = runs.reset_index(drop=True)
    runs["category"] = None
    return finding_rows(runs, "exclusion_code_without_exclusion", pupil=names,
                        start_date=pd.to_datetime(runs["start_date"]).to_numpy(), sessions=list(runs["sessions"]),
                        expected="no E without an exclusion", actual="E", message=messages)


def _names(rows: pd.DataFrame, exclusions: pd.DataFrame, pupils: pd.DataFrame | None) -> list[str]:
    """Return "Surname, Forename" per row from the pupil list, else the exclusions, else ""."""
    from sync_agent.register_frames import pupil_label

    sources = [frame for frame in (pupils, exclusions) if frame is not None and len(frame)]
    lookup: dict[tuple[str, str], str] = {}
    for frame in reversed(sources):
        labels = pupil_label(frame)
        lookup.update({(str(l), str(u)): name for l, u, name in zip(frame["laestab"], frame["upn"], labels)})
    return [lookup.get((str(l), str(u)), "") for l, u in zip(rows["laestab"], rows["upn"])]
