"""The reconcile step: MIS exclusions against portal records, each difference a finding.

Both sides arrive validated and already limited to the period. Duplicates within a source are
flagged and set aside, the rest are paired (``sync_agent.matching``), paired records are compared
field by field a column at a time, and what is left unpaired is missing on one side.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sync_agent.findings import KINDS, finding_id, severity_of
from sync_agent.mapper import EXTRA_PREFIX
from sync_agent.matching import SchoolDayCounter, pair_records, record_keys
from sync_agent.register_frames import pupil_label

logger = logging.getLogger(__name__)

FINDING_COLUMNS = [
    "kind", "laestab", "upn", "pupil", "category", "start_date", "start_session", "field", "mis_value",
    "portal_value", "age_school_days", "message", "extra",
]
_FIELD_WORDS = {"reasons": "reasons beyond the main reason differ: the reasons are", "main_reason": "main reason is",
               "upn": "UPN is"}
_CATEGORY_WORDS = {"suspension": "Suspension", "permanent": "Permanent exclusion", "lunchtime": "Lunchtime exclusion"}

# Field compared -> the record columns holding it.
COMPARED_FIELDS = [
    "category", "start_date", "start_session", "end_date", "end_session", "sessions", "main_reason", "reasons",
    "status", "upn",
]


@dataclass
class ReconcileInput:
    mis: pd.DataFrame  # validated exclusion records inside the period
    portal: pd.DataFrame | None  # validated portal records inside the period; None when refused
    as_of: dt.date
    calendar: SchoolDayCounter
    # What could be read of the MIS rows rejected by validation (``ValidatedRecords.rejected_keys``):
    # portal records they may be are not reported missing (see _without_rejected_rows).
    rejected_mis: pd.DataFrame | None = None
    # The same of the portal rows rejected by validation.
    rejected_portal: pd.DataFrame | None = None


def _text(values: pd.Series) -> pd.Series:
    """Render a column for display and comparison: ISO dates, whole numbers, "" for blank."""
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime("%Y-%m-%d")
    elif isinstance(values.dtype, pd.Int64Dtype) or pd.api.types.is_integer_dtype(values):
        text = values.astype("Int64").astype("string")
    else:
        text = values.astype("string")
    return text.fillna("").astype(object)


def _all_reasons(frame: pd.DataFrame) -> pd.Series:
    """Every reason, main first, for showing a ``reasons`` mismatch in full."""
    joined = frame["reason_1"].fillna("").astype(str)
    for column in ("reason_2", "reason_3"):
        more = frame[column].fillna("").astype(str)
        joined = joined + np.where(more != "", ", " + more, "")
    return joined


_FIELD_COLUMNS = {"main_reason": "reason_1"}


def shown_values(frame: pd.DataFrame, field: str) -> pd.Series:
    """Return a compared field of ``frame`` as display text ("" for blank)."""
    if field == "reasons":
        return _all_reasons(frame)
    return _text(frame[_FIELD_COLUMNS.get(field, field)])


def _extras(frame: pd.DataFrame) -> list[dict[str, str]]:
    columns = [c for c in frame.columns if c.startswith(EXTRA_PREFIX)]
    if not columns:
        return [{} for _ in range(len(frame))]
    values = frame[columns].fillna("").astype(str)
    names = [c.removeprefix(EXTRA_PREFIX) for c in columns]
    return [{n: v for n, v in zip(names, row) if v != ""} for row in values.itertuples(index=False, name=None)]


def _describe(frame: pd.DataFrame) -> pd.Series:
    """'Suspension starting 2025-03-03 AM' for each record."""
    words = frame["category"].map(_CATEGORY_WORDS).fillna("Exclusion")
    session = frame["start_session"].fillna("").astype(str)
    return words + " starting " + _text(frame["start_date"]) + np.where(session != "", " " + session, "")


def _base(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    count = len(frame)
    return pd.DataFrame(
        {
            "kind": np.full(count, kind, dtype=object),
            "laestab": frame["laestab"].to_numpy(),
            "upn": frame["upn"].to_numpy(),
            "pupil": pupil_label(frame),
            "category": frame["category"].to_numpy(),
            "start_date": frame["start_date"].to_numpy(),
            "start_session": frame["start_session"].to_numpy(dtype=object),
            "field": np.full(count, None, dtype=object),
            "mis_value": np.full(count, None, dtype=object),
            "portal_value": np.full(count, None, dtype=object),
            "age_school_days": pd.arrays.IntegerArray(np.zeros(count, dtype=np.int64), np.ones(count, dtype=bool)),
            "message": np.full(count, "", dtype=object),
            "extra": [{} for _ in range(count)],
        }
    )


def split_duplicates(
    frame: pd.DataFrame, keyed: pd.DataFrame, side: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Set aside second and later copies of the same exclusion.

    ``keyed`` holds the frame's integer record keys (``matching.record_keys``). Returns the kept
    records, their keys (renumbered) and the duplicate findings.
    """
    repeated = keyed.duplicated(["key", "category"], keep="first").to_numpy()
    if not repeated.any():
        keyed = keyed.reset_index(drop=True).assign(row=np.arange(len(keyed)))
        return frame.reset_index(drop=True), keyed, _base(frame.iloc[0:0], "duplicate_record").assign(id_field=side)
    copies = frame[repeated]
    findings = _base(copies, "duplicate_record")
    # The side goes into the id (not the shown field), so a record duplicated in both sources
    # gives two findings with distinct ids.
    findings["id_field"] = side
    # The file is named because a source pattern may match several exports, a stale copy among them.
    files = [Path(str(file)).name for file in copies["source_file"]]
    where = "line " + copies["source_line"].astype(str).to_numpy() + " of " + np.array(files, dtype=object)
    if side == "portal":
        where = "portal id " + copies["portal_id"].fillna("").astype(str).to_numpy()
    label = "the MIS export" if side == "mis" else "the portal"
    findings["message"] = (
        _describe(copies).to_numpy() + f" is recorded more than once in {label} (copy at " + where + ")"
    )
    findings["extra"] = _extras(copies)
    kept_keys = keyed[~repeated].reset_index(drop=True)
    kept_keys["row"] = np.arange(len(kept_keys))
    return frame[~repeated].reset_index(drop=True), kept_keys, findings


def _field_arrays(frame: pd.DataFrame, field: str) -> np.ndarray:
    """Return one compared field as a numpy array in which equal values compare equal.

    Blanks become "" (text), NaT (dates) or -1 (session counts), so blank on both sides matches.
    """
    if field in ("start_date", "end_date"):
        return frame[field].to_numpy(dtype="datetime64[D]")
    if field == "sessions":
        return frame[field].astype("Int64").to_numpy(dtype="int64", na_value=-1)
    if field == "reasons":
        second, third = _blank_filled(frame, "reason_2"), _blank_filled(frame, "reason_3")
        return np.where(second <= third, second + "," + third, third + "," + second)
    column = "reason_1" if field == "main_reason" else field
    return _blank_filled(frame, column)


def _blank_filled(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column]
    return values.astype(object).where(values.notna(), "").to_numpy(dtype=object)


def _differs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    if left.dtype.kind == "M":
        return ~((left == right) | (np.isnat(left) & np.isnat(right)))
    return left != right


def compare_pairs(mis: pd.DataFrame, portal: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Return one field_mismatch finding per differing field of each pair (blank on both sides matches).

    Fields are compared as typed arrays; only the differing rows are rendered as text.
    """
    mis_rows = pairs["mis_row"].to_numpy()
    portal_rows = pairs["portal_row"].to_numpy()
    found = []
    for field in COMPARED_FIELDS:
        differs = _differs(_field_arrays(mis, field)[mis_rows], _field_arrays(portal, field)[portal_rows])
        if not differs.any():
            continue
        left = mis.iloc[mis_rows[differs]].reset_index(drop=True)
        right = portal.iloc[portal_rows[differs]].reset_index(drop=True)
        mis_value = shown_values(left, field)
        portal_value = shown_values(right, field)
        part = _base(left, "field_mismatch")
        part["field"] = field
        part["mis_value"] = mis_value.to_numpy()
        part["portal_value"] = portal_value.to_numpy()
        portal_ids = right["portal_id"].fillna("").astype(str)
        words = _FIELD_WORDS.get(field, field.replace("_", " ") + " is")
        part["message"] = (
            _describe(left) + f": {words} " + mis_value.replace("", "blank") + " in the MIS but "
            + portal_value.replace("", "blank") + " on the portal (portal id " + portal_ids + ")"
        ).to_numpy()
        part["extra"] = _extras(left)
        found.append(part)
    return pd.concat(found, ignore_index=True) if found else _base(mis.iloc[0:0], "field_mismatch")


def missing_on_portal(mis: pd.DataFrame, as_of: dt.date, calendar: SchoolDayCounter) -> pd.DataFrame:
    """Findings for MIS records the portal lacks, each with its age in school days on ``as_of``."""
    pushable = mis[mis["status"] != "withdrawn"]
    findings = _base(pushable, "missing_on_portal")
    if pushable.empty:
        return findings
    starts = pushable["start_date"].to_numpy(dtype="datetime64[D]")
    # Past the calendar's last day (a summer holiday beyond the last term in the file) no school
    # day can pass, so the count stops at the day after the last day the calendar covers.
    last_day = getattr(calendar, "last_day", None)
    counted_to = min(as_of, last_day + dt.timedelta(days=1)) if last_day else as_of
    today = np.full(len(starts), np.datetime64(counted_to, "D"))
    age = np.maximum(np.asarray(calendar.school_days_between(starts, today), dtype="int64"), 0) if len(starts) else np.array([], dtype="int64")
    findings["age_school_days"] = pd.array(age, dtype="Int64")
    findings["message"] = (
        _describe(pushable).to_numpy() + " is in the MIS but not on the LA portal; it is "
        + age.astype(str) + " school days old, and the LA must be told of every exclusion without delay"
    )
    findings["extra"] = _extras(pushable)
    return findings


def _without_rejected_rows(records: pd.DataFrame, rejected: pd.DataFrame | None, label: str) -> pd.DataFrame:
    """Leave out the records that a row rejected on the other side may be: that row is in rejects.csv.

    Reporting such a record as missing would ask the data manager to key it again, or have push send
    an exclusion the portal may hold already. A rejected row's start date, session or UPN may be the
    very value that failed. So a rejected row holds back the records of the same pupil (by UPN, or
    by surname and forename) that agree with it on the start date and session it has, and every
    record of that pupil where it has neither.
    """
    if rejected is None or rejected.empty or records.empty:
        return records
    held_keys = set()
    for pupils, start, session in zip(_pupil_keys(rejected), pd.to_datetime(rejected["start_date"]),
                                      _column(rejected, "start_session")):
        start = start if pd.notna(start) else None
        session = session if session in ("AM", "PM") else None
        held_keys.update((pupil, start, session) for pupil in pupils)
    held = np.zeros(len(records), dtype=bool)
    keys = zip(_pupil_keys(records), pd.to_datetime(records["start_date"]), _column(records, "start_session"))
    for position, (pupils, start, session) in enumerate(keys):
        held[position] = any((pupil, day, half) in held_keys
                             for pupil in pupils for day in (None, start) for half in (None, session))
    if held.any():
        logger.info("%d %s match rejected rows and are not reported missing", int(held.sum()), label)
    return records[~held]


def _column(frame: pd.DataFrame, name: str) -> list:
    return list(frame[name]) if name in frame else [None] * len(frame)


def _pupil_keys(frame: pd.DataFrame) -> list[tuple]:
    """Return, per row, the keys that name its pupil: LAESTAB with the UPN, and with both names."""
    keys = []
    for laestab, upn, surname, forename in zip(_column(frame, "laestab"), _column(frame, "upn"),
                                               _column(frame, "surname"), _column(frame, "forename")):
        laestab = str(laestab)
        own = [(laestab, "upn", str(upn))] if isinstance(upn, str) and upn else []
        if isinstance(surname, str) and surname.strip() and isinstance(forename, str) and forename.strip():
            own.append((laestab, "name", surname.strip().casefold(), forename.strip().casefold()))
        keys.append(own)
    return keys


def missing_in_mis(portal: pd.DataFrame) -> pd.DataFrame:
    findings = _base(portal, "missing_in_mis")
    if portal.empty:
        return findings
    findings["message"] = (
        _describe(portal).to_numpy() + " is on the LA portal (portal id "
        + portal["portal_id"].fillna("").astype(str).to_numpy() + ") but not in the MIS"
    )
    return findings


def temporary_upns(mis: pd.DataFrame, portal: pd.DataFrame | None) -> pd.DataFrame:
    # A boolean array, not the column itself: an empty object column would select columns instead of rows.
    frames = [mis[mis["upn_temporary"].fillna(False).astype(bool).to_numpy()]]
    if portal is not None:
        frames.append(portal[portal["upn_temporary"].fillna(False).astype(bool).to_numpy()])
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return _base(mis.iloc[0:0], "temporary_upn")
    records = pd.concat(frames, ignore_index=True).drop_duplicates(["laestab", "upn", "category", "start_date"])
    findings = _base(records, "temporary_upn")
    findings["message"] = (
        _describe(records).to_numpy() + " carries the temporary UPN " + records["upn"].astype(str).to_numpy()
    )
    return findings


def reconcile(data: ReconcileInput) -> pd.DataFrame:
    """Compare the MIS with the portal; return findings as a frame with ``FINDING_COLUMNS`` and ids."""
    return finalise(reconcile_findings(data))


def reconcile_findings(data: ReconcileInput) -> pd.DataFrame:
    """Compare the MIS with the portal; return the findings before ``finalise`` adds ids."""
    frames = [data.mis] if data.portal is None else [data.mis, data.portal]
    keyed = record_keys(frames)
    mis, mis_keys, mis_duplicates = split_duplicates(data.mis, keyed[0], "mis")
    parts = [mis_duplicates]
    if data.portal is not None:
        portal, portal_keys, portal_duplicates = split_duplicates(data.portal, keyed[1], "portal")
        pairs = pair_records(mis, portal, data.calendar, keys=(mis_keys, portal_keys))
        parts += [portal_duplicates, compare_pairs(mis, portal, pairs)]
        unpaired_mis = mis.drop(index=mis.index[pairs["mis_row"].to_numpy()])
        unpaired_portal = portal.drop(index=portal.index[pairs["portal_row"].to_numpy()])
        unpaired_portal = _without_rejected_rows(unpaired_portal, data.rejected_mis, "portal records")
        unpaired_mis = _without_rejected_rows(unpaired_mis, data.rejected_portal, "MIS records")
        parts += [missing_on_portal(unpaired_mis, data.as_of, data.calendar), missing_in_mis(unpaired_portal)]
    parts.append(temporary_upns(mis, data.portal))
    if any(len(p) for p in parts):
        return pd.concat([p for p in parts if len(p)], ignore_index=True)
    return _base(mis.iloc[0:0], "missing_on_portal")


def finalise(findings: pd.DataFrame) -> pd.DataFrame:
    """Add severity, action and id; sort by kind, school, pupil and date; drop repeated findings.

    ``start_session``, when present, orders a pupil's findings of one day and keeps their ids apart.
    """
    if findings.empty:
        return findings.drop(columns="id_field", errors="ignore").assign(severity=[], action=[], id=[])
    findings = findings.copy()
    findings["severity"] = [severity_of(k, f) for k, f in zip(findings["kind"], findings["field"])]
    findings["action"] = findings["kind"].map({k: v.action for k, v in KINDS.items()})
    starts = _text(findings["start_date"]) if pd.api.types.is_datetime64_any_dtype(findings["start_date"]) else findings["start_date"]
    id_fields = findings["field"]
    if "id_field" in findings:
        id_fields = findings["id_field"].where(findings["id_field"].notna(), findings["field"])
        findings = findings.drop(columns="id_field")
    id_fields = id_fields.astype(object).where(id_fields.notna(), None)
    findings["_start"], findings["_id_field"] = starts.to_numpy(), id_fields.to_numpy()
    findings["id"] = [
        finding_id(k, la, upn, cat, start or None, field)
        for k, la, upn, cat, start, field in zip(
            findings["kind"], findings["laestab"], findings["upn"], findings["category"], starts, id_fields
        )
    ]
    order = {name: position for position, name in enumerate(KINDS)}
    findings["_order"] = findings["kind"].map(order)
    sessions = findings["start_session"] if "start_session" in findings else pd.Series(None, index=findings.index)
    findings["_session"] = sessions.astype(object).where(sessions.notna(), "").astype(str)
    findings = findings.sort_values(["_order", "laestab", "upn", "start_date", "_session", "field"], kind="stable",
                                    na_position="first")
    findings = _distinct_ids(findings.drop_duplicates(["id", "_session"]))
    return findings.drop(columns=["_order", "_session", "_start", "_id_field"]).reset_index(drop=True)


def _distinct_ids(findings: pd.DataFrame) -> pd.DataFrame:
    """Give a finding whose id repeats an earlier one's, for another start session, an id with its session.

    The id leaves out the start session, so a pupil's morning and afternoon exclusions on one day
    would share one. The first (the morning) keeps the usual id, and only a clash changes an id.
    Findings that still share an id after that are the same fact found twice, and one is kept.
    """
    clash = findings.duplicated("id", keep="first").to_numpy()
    if clash.any():
        rows = findings[clash]
        # A frame column turns None into NaN, so blanks are read back as None.
        columns = [rows[name].astype(object).where(rows[name].notna(), None)
                   for name in ("kind", "laestab", "upn", "category", "_start", "_session", "_id_field")]
        findings.loc[clash, "id"] = [
            finding_id(kind, laestab, upn, category, f"{start or ''} {session or ''}".strip(), field)
            for kind, laestab, upn, category, start, session, field in zip(*columns)
        ]
    return findings.drop_duplicates("id")
