"""Suspension totals per pupil: the 45-day yearly limit and the 15-day termly board review.

Each session of a suspension is half a school day, counted in the term and academic year the
session falls in; each lunchtime of a lunchtime exclusion is half a school day on its own day.
More than 45 days in an academic year is ``suspension_limit_exceeded`` (one per pupil and year);
more than 15 days in a term is ``board_review_required`` with ``due_date`` 15 school days after the
day the total passed 15. Every permanent exclusion is ``board_review_required`` with ``due_date``
15 school days after its start. Withdrawn and reinstated exclusions do not count.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.register_frames import empty_findings, finding_rows
from sync_agent.school_days import add_school_days_or_nat
from sync_agent.sessions import day_ordinals, last_index, session_dates

YEAR_LIMIT_DAYS = 45
TERM_REVIEW_DAYS = 15
BOARD_MEETING_SCHOOL_DAYS = 15


def threshold_findings(exclusions: pd.DataFrame, calendar: SchoolCalendar, as_of: dt.date,
                       spans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the yearly-limit and board-review findings for validated exclusion records.

    ``spans`` are the records' ``register.exclusion_spans``, when the caller has them already.
    """
    if exclusions.empty:
        return empty_findings()
    halves = suspension_half_days(exclusions, calendar, spans)
    parts = [_year_limit(halves, calendar), _term_reviews(halves, calendar), permanent_reviews(exclusions, calendar)]
    parts = [part for part in parts if len(part)]
    return pd.concat(parts, ignore_index=True) if parts else empty_findings()


def suspension_half_days(exclusions: pd.DataFrame, calendar: SchoolCalendar,
                         spans: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return one row per half day of suspension: ``row`` (the record), ``day`` (datetime64[D])."""
    from sync_agent.register import exclusion_spans

    spans = exclusion_spans(exclusions, calendar) if spans is None else spans
    suspensions = spans[(spans["end"] >= spans["start"])]
    suspensions = suspensions[exclusions["category"].iloc[suspensions["row"]].eq("suspension").to_numpy()]
    count = (suspensions["end"] - suspensions["start"] + 1).to_numpy()
    rows = np.repeat(suspensions["row"].to_numpy(), count)
    index = np.repeat(suspensions["start"].to_numpy(), count) + _offsets(count)
    # Sessions past the calendar's last day cannot be dated; they fall in a term the file lacks.
    inside = index <= last_index(calendar)
    rows, index = rows[inside], index[inside]
    session_days, _ = session_dates(calendar, index)

    active = exclusions["status"].fillna("active").eq("active")
    lunch = exclusions[active & exclusions["category"].eq("lunchtime") & exclusions["sessions"].notna()]
    lunch_count = lunch["sessions"].astype("int64").to_numpy()
    lunch_rows = np.repeat(np.flatnonzero((active & exclusions["category"].eq("lunchtime") & exclusions["sessions"].notna()).to_numpy()), lunch_count)
    lunch_ordinals = np.repeat(day_ordinals(calendar, lunch["start_date"].to_numpy()), lunch_count) + _offsets(lunch_count)
    inside = lunch_ordinals <= last_index(calendar) // 2
    lunch_rows, lunch_ordinals = lunch_rows[inside], lunch_ordinals[inside]
    lunch_days = (calendar.add_school_days_array(np.datetime64(calendar.first_day, "D"), lunch_ordinals)
                  if len(lunch_ordinals) else np.zeros(0, dtype="datetime64[D]"))
    frame = pd.DataFrame({"row": np.concatenate([rows, lunch_rows]),
                          "day": np.concatenate([session_days, np.asarray(lunch_days, dtype="datetime64[D]")])})
    frame["laestab"] = exclusions["laestab"].to_numpy()[frame["row"]]
    frame["upn"] = exclusions["upn"].to_numpy()[frame["row"]]
    return frame.sort_values(["laestab", "upn", "day"], kind="stable").reset_index(drop=True)


def _offsets(count: np.ndarray) -> np.ndarray:
    return np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)


def _passing(halves: pd.DataFrame, group: list[str], limit_days: int) -> pd.DataFrame:
    """Return, per group over ``limit_days``, its total and the day the running total passed it."""
    # Every group is one pupil's or part of one. So when no pupil has more half days than the limit
    # allows, no group can pass it. That is most schools, and counting costs far less than grouping.
    _, pupils = np.unique(halves["upn"].to_numpy(dtype=object), return_inverse=True)
    if not len(halves) or np.bincount(pupils).max() <= 2 * limit_days:
        return halves.iloc[0:0]
    running = halves.groupby(group, sort=False).cumcount() + 1
    over = halves[running > 2 * limit_days]
    if over.empty:
        return over
    firsts = over.groupby(group, sort=False).head(1).set_index(group)
    totals = halves.groupby(group).size() / 2
    firsts["total"] = totals.reindex(firsts.index).to_numpy()
    return firsts.reset_index()


def _year_limit(halves: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    if halves.empty:
        return empty_findings()
    days = pd.to_datetime(halves["day"])
    # Academic years start on 1 August; name each distinct first year once ("2024-25").
    first_years = (days.dt.year - (days.dt.month < 8).astype(int)).to_numpy()
    names = {year: f"{year}-{(year + 1) % 100:02d}" for year in np.unique(first_years)}
    halves = halves.assign(year=pd.Series(first_years).map(names).to_numpy())
    over = _passing(halves, ["laestab", "upn", "year"], YEAR_LIMIT_DAYS)
    if over.empty:
        return empty_findings()
    starts = [SchoolCalendar.academic_year_bounds(y)[0] for y in over["year"]]
    messages = [f"{total:g} school days of suspension in {year}, over the limit of {YEAR_LIMIT_DAYS}; the total "
                f"passed {YEAR_LIMIT_DAYS} on {pd.Timestamp(day).date()}"
                for total, year, day in zip(over["total"], over["year"], over["day"])]
    return finding_rows(over.assign(category="suspension"), "suspension_limit_exceeded", pupil="", start_date=starts,
                        expected=f"at most {YEAR_LIMIT_DAYS} days", actual=[f"{t:g} days" for t in over["total"]],
                        message=messages, extra=[{"academic_year": y} for y in over["year"]])


def _term_reviews(halves: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    # NOTE: without a term-dates file the calendar has no terms, so the termly review is not checked.
    if halves.empty or not calendar.terms:
        return empty_findings()
    term_starts = np.array([t.start for t in calendar.terms], dtype="datetime64[D]")
    position = np.searchsorted(term_starts, halves["day"].to_numpy().astype("datetime64[D]"), side="right") - 1
    halves = halves.assign(term=position)
    over = _passing(halves, ["laestab", "upn", "term"], TERM_REVIEW_DAYS)
    if over.empty:
        return empty_findings()
    terms = [calendar.terms[t] for t in over["term"]]
    due = add_school_days_or_nat(calendar, pd.Series(pd.to_datetime(over["day"])), BOARD_MEETING_SCHOOL_DAYS)
    messages = [f"{total:g} school days of suspension in {term.name} {term.academic_year}, over {TERM_REVIEW_DAYS}; "
                f"the total passed {TERM_REVIEW_DAYS} on {pd.Timestamp(day).date()}, so the governing board must meet"
                for total, term, day in zip(over["total"], terms, over["day"])]
    return finding_rows(over.assign(category="suspension"), "board_review_required", pupil="",
                        start_date=[t.start for t in terms], due_date=list(due), actual=[f"{t:g} days" for t in over["total"]],
                        expected=f"at most {TERM_REVIEW_DAYS} days in a term without a board review", message=messages,
                        extra=[{"term": f"{t.name} {t.academic_year}"} for t in terms], id_field="term_total")


def permanent_reviews(exclusions: pd.DataFrame, calendar: SchoolCalendar) -> pd.DataFrame:
    """Return a ``board_review_required`` per active permanent exclusion, due 15 school days after its start."""
    active = exclusions["status"].fillna("active").eq("active")
    permanent = exclusions[active & exclusions["category"].eq("permanent")].reset_index(drop=True)
    if permanent.empty:
        return empty_findings()
    due = add_school_days_or_nat(calendar, permanent["start_date"], BOARD_MEETING_SCHOOL_DAYS)
    messages = [f"A permanent exclusion needs a governing board meeting within {BOARD_MEETING_SCHOOL_DAYS} school "
                f"days: by {d.date() if pd.notna(d) else 'a date beyond the calendar'}" for d in due]
    return finding_rows(permanent, "board_review_required", due_date=list(due), message=messages)
