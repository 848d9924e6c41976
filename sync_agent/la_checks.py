"""LA-wide checks: what only the LA sees, across the schools of one bulk import.

Each check takes columnar frames gathered from every school and returns Finding models whose
``schools`` are the LAESTABs involved and whose ids come from ``la_finding_id``, so the same fact
keeps its id across imports:

- ``suspension_total_across_schools`` (warning): a pupil suspended at two or more schools for more
  than 45 school days in one academic year all told. Each session of a suspension is half a day,
  and so is each lunchtime of a lunchtime exclusion. A pupil over 45 days at one school alone is
  that school's ``suspension_limit_exceeded``, so a single school is not reported again here.
- ``overlapping_exclusions`` (error): the same UPN excluded at two schools over overlapping
  sessions; a permanent exclusion runs open-ended from its start.
- ``dual_registration_conflict`` (error): the same UPN marked ``E`` at one school and present
  (``/``, ``\\``, ``L``) at another on the same session.
- ``unknown_school`` (warning): LA portal records whose LAESTAB matches no school of the import.

Withdrawn and reinstated exclusions count toward none of these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from sync_agent.findings import KINDS, la_finding_id
from sync_agent.result import Finding

YEAR_LIMIT_DAYS = 45
PRESENT_CODES = ("/", "\\", "L")
EXCLUDED_CODE = "E"

# Columns the exclusion checks read; the bulk import keeps these for every school.
EXCLUSION_COLUMNS = ["laestab", "upn", "surname", "forename", "category", "start_date", "start_session",
                     "end_date", "end_session", "sessions", "status"]
MARK_COLUMNS = ["laestab", "upn", "date", "session", "code"]

_OPEN_END = np.iinfo(np.int64).max
_MAX_PAIRS_LISTED = 3


def run_la_checks(
    exclusions: pd.DataFrame,
    marks: pd.DataFrame | None,
    portal: pd.DataFrame | None,
    known_schools: Iterable[str],
) -> list[Finding]:
    """Run every LA-wide check and return the findings, errors first, then by kind and UPN."""
    findings = suspension_total_across_schools(exclusions) + overlapping_exclusions(exclusions)
    if marks is not None:
        # Marks carry no names, so the pupil's name comes from an exclusion record when there is one.
        names = _pupil_names(exclusions)
        findings += [f.model_copy(update={"pupil": names.get(f.upn)}) for f in dual_registration_conflict(marks)]
    if portal is not None:
        findings += unknown_school(portal, known_schools)
    order = {name: position for position, name in enumerate(KINDS)}
    return sorted(findings, key=lambda f: (f.severity != "error", order.get(f.kind, 99), f.upn or "", f.schools))


def suspension_total_across_schools(exclusions: pd.DataFrame) -> list[Finding]:
    """Return one warning per pupil and academic year over 45 days of suspension across schools."""
    frame = _active(exclusions)
    # NOTE: a suspension without a sessions count is left out of the total; the school's own
    # validation and register checks report such a record.
    frame = frame[frame["category"].isin(["suspension", "lunchtime"]) & frame["sessions"].notna()]
    if frame.empty:
        return []
    frame = frame.assign(days=frame["sessions"].astype("float64") / 2, year=_academic_years(frame["start_date"]))
    per_school = frame.groupby(["upn", "year", "laestab"], sort=True)["days"].sum().reset_index()
    per_pupil = per_school.groupby(["upn", "year"], sort=True).agg(total=("days", "sum"), schools=("laestab", "size"))
    over = per_pupil[(per_pupil["total"] > YEAR_LIMIT_DAYS) & (per_pupil["schools"] >= 2)]
    names = _pupil_names(frame)
    findings = []
    for (upn, year), row in over.iterrows():
        parts = per_school[(per_school["upn"] == upn) & (per_school["year"] == year)]
        schools = list(parts["laestab"])
        split = ", ".join(f"{laestab}: {days:g}" for laestab, days in zip(parts["laestab"], parts["days"]))
        findings.append(_finding(
            "suspension_total_across_schools", upn, schools, pupil=names.get(upn), category="suspension",
            start_date=_year_start(year), expected=f"at most {YEAR_LIMIT_DAYS} days", actual=f"{row['total']:g} days",
            message=(f"{row['total']:g} school days of suspension in {year} across {len(schools)} schools "
                     f"({split}), over the limit of {YEAR_LIMIT_DAYS} days; no school alone is over it"),
            extra={"academic_year": year},
        ))
    return findings


def overlapping_exclusions(exclusions: pd.DataFrame) -> list[Finding]:
    """Return one error per pupil and pair of schools whose exclusions overlap in time."""
    frame = _active(exclusions)
    if frame.empty:
        return []
    frame = frame.assign(first=_positions(frame["start_date"], frame["start_session"], default_pm=False),
                         last=_last_positions(frame))
    repeated = frame[frame.duplicated("upn", keep=False)]
    pairs = repeated.merge(repeated, on="upn", suffixes=("_a", "_b"))
    pairs = pairs[(pairs["laestab_a"] < pairs["laestab_b"])
                  & (pairs["first_a"] <= pairs["last_b"]) & (pairs["first_b"] <= pairs["last_a"])]
    if pairs.empty:
        return []
    names = _pupil_names(frame)
    findings = []
    for (upn, school_a, school_b), group in pairs.groupby(["upn", "laestab_a", "laestab_b"], sort=True):
        group = group.sort_values(["start_date_a", "start_date_b"])
        overlap_start = max(group["start_date_a"].iloc[0], group["start_date_b"].iloc[0])
        listed = "; ".join(f"{_describe(row, 'a')} and {_describe(row, 'b')}"
                           for _, row in group.head(_MAX_PAIRS_LISTED).iterrows())
        more = f" (and {len(group) - _MAX_PAIRS_LISTED} more pairs)" if len(group) > _MAX_PAIRS_LISTED else ""
        findings.append(_finding(
            "overlapping_exclusions", upn, [school_a, school_b], pupil=names.get(upn),
            start_date=pd.Timestamp(overlap_start).date(),
            message=f"Excluded at two schools at the same time: {listed}{more}",
        ))
    return findings


def dual_registration_conflict(marks: pd.DataFrame) -> list[Finding]:
    """Return one error per pupil and pair of schools with ``E`` at one and present at the other.

    ``marks`` has the columns ``laestab, upn, date, session, code``; only ``E`` and present marks
    are looked at, and present marks only of pupils with an ``E`` somewhere.
    """
    codes = marks["code"].astype(str).str.upper()
    excluded = marks.loc[codes == EXCLUDED_CODE, ["laestab", "upn", "date", "session"]]
    if excluded.empty:
        return []
    present = marks.loc[codes.isin(PRESENT_CODES) & marks["upn"].isin(excluded["upn"].unique()),
                        ["laestab", "upn", "date", "session"]]
    clashes = excluded.merge(present, on=["upn", "date", "session"], suffixes=("_e", "_p"))
    clashes = clashes[clashes["laestab_e"] != clashes["laestab_p"]]
    if clashes.empty:
        return []
    clashes = clashes.assign(
        first=np.minimum(clashes["laestab_e"], clashes["laestab_p"]),
        second=np.maximum(clashes["laestab_e"], clashes["laestab_p"]),
        label=pd.to_datetime(clashes["date"]).dt.strftime("%Y-%m-%d") + " " + clashes["session"].astype(str),
    )
    findings = []
    for (upn, first, second), group in clashes.groupby(["upn", "first", "second"], sort=True):
        group = group.sort_values(["date", "session"])
        parts = [f"marked E at {e} and present at {p} on {len(sub)} session{'s' if len(sub) != 1 else ''}"
                 for (e, p), sub in group.groupby(["laestab_e", "laestab_p"], sort=True)]
        findings.append(_finding(
            "dual_registration_conflict", upn, [first, second], start_date=pd.Timestamp(group["date"].iloc[0]).date(),
            sessions=list(dict.fromkeys(group["label"])), expected="E at one school means absent at every school",
            message=f"The pupil is {'; and '.join(parts)}: a pupil cannot be excluded and present at once",
        ))
    return findings


def unknown_school(portal: pd.DataFrame, known_schools: Iterable[str]) -> list[Finding]:
    """Return one warning per LAESTAB on the portal that matches no school of the import."""
    known = set(known_schools)
    counts = portal["laestab"].astype(str).value_counts().sort_index()
    findings = []
    for laestab, count in counts.items():
        if laestab in known:
            continue
        findings.append(_finding(
            "unknown_school", None, [laestab], laestab=laestab, actual=f"{count} records",
            message=(f"The LA portal holds {count} record{'s' if count != 1 else ''} with LAESTAB {laestab}, "
                     "which matches no school folder in the import"),
        ))
    return findings


def _finding(kind: str, upn: str | None, schools: list[str], **fields) -> Finding:
    schools = sorted(schools)
    return Finding(id=la_finding_id(kind, upn, schools), kind=kind, severity=KINDS[kind].severity, upn=upn,
                   schools=schools, action=KINDS[kind].action, **fields)


def _active(exclusions: pd.DataFrame) -> pd.DataFrame:
    status = exclusions["status"].fillna("active") if "status" in exclusions else "active"
    return exclusions[np.asarray(status == "active")].reset_index(drop=True)


def _academic_years(starts: pd.Series) -> pd.Series:
    """Return the academic year (1 August to 31 July) of each date, such as ``2024-25``."""
    starts = pd.to_datetime(starts)
    first = starts.dt.year - (starts.dt.month < 8).astype("int64")
    return first.astype(str) + "-" + ((first + 1) % 100).astype(str).str.zfill(2)


def _year_start(year: str) -> dt.date:
    return dt.date(int(year[:4]), 8, 1)


def _positions(dates: pd.Series, sessions: pd.Series, *, default_pm: bool) -> np.ndarray:
    """Return half-day positions: twice the day number, plus one for a PM session."""
    days = pd.to_datetime(dates).to_numpy().astype("datetime64[D]").astype(np.int64)
    labels = sessions.fillna("PM" if default_pm else "AM").astype(str).str.upper().to_numpy()
    return 2 * days + (labels == "PM")


def _last_positions(frame: pd.DataFrame) -> np.ndarray:
    """Return each exclusion's last half-day; a permanent one never ends, a missing end is its start day."""
    ends = frame["end_date"].where(frame["end_date"].notna(), frame["start_date"])
    last = _positions(ends, frame["end_session"], default_pm=True)
    return np.where(frame["category"].eq("permanent").to_numpy(), _OPEN_END, last)


def _describe(row: pd.Series, side: str) -> str:
    start = pd.Timestamp(row[f"start_date_{side}"]).date()
    if row[f"category_{side}"] == "permanent":
        span = f"from {start} (permanent)"
    else:
        end = row[f"end_date_{side}"]
        span = f"{start} to {pd.Timestamp(end).date() if pd.notna(end) else start}"
    return f"{row[f'category_{side}']} at {row[f'laestab_{side}']} {span}"


def _pupil_names(frame: pd.DataFrame) -> Mapping[str, str]:
    """Return "Surname, Forename" per UPN from the first record that carries a name."""
    if "surname" not in frame or frame.empty:
        return {}
    named = frame[frame["surname"].notna()].drop_duplicates("upn")
    forenames = named["forename"].fillna("") if "forename" in named else pd.Series("", index=named.index)
    return {upn: f"{surname}, {forename}".rstrip(", ") for upn, surname, forename
            in zip(named["upn"], named["surname"], forenames)}
