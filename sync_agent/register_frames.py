"""The findings frame the register, threshold and roll checks return, ready for ``reconcile.finalise``."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGISTER_FINDING_COLUMNS = [
    "kind", "laestab", "upn", "pupil", "category", "start_date", "start_session", "field", "mis_value",
    "portal_value", "expected", "actual", "sessions", "due_date", "age_school_days", "message", "extra",
]


def _empty_template() -> pd.DataFrame:
    frame = pd.DataFrame({column: pd.Series(dtype=object) for column in REGISTER_FINDING_COLUMNS})
    frame["start_date"] = pd.Series(dtype="datetime64[s]")
    frame["due_date"] = pd.Series(dtype="datetime64[s]")
    frame["age_school_days"] = pd.Series(dtype="Int64")
    return frame


_EMPTY = _empty_template()


def empty_findings() -> pd.DataFrame:
    """Return a findings frame with no rows."""
    # Copied from one prepared frame: most rules find nothing, and building the frame afresh each
    # time cost more than the rules themselves.
    return _EMPTY.copy()


def pupil_label(records: pd.DataFrame) -> np.ndarray:
    """Return "Surname, Forename" per record (the one name present, or "" without names).

    Each name's text is kept as it is. A plain loop: the frames are a school's few records, where
    a chain of column operations costs more than the loop.
    """
    if "surname" not in records or "forename" not in records:
        return np.full(len(records), "", dtype=object)
    surnames = records["surname"].to_numpy(dtype=object, na_value="")
    forenames = records["forename"].to_numpy(dtype=object, na_value="")
    labels = [f"{surname}, {forename}" if surname and forename else f"{surname}{forename}"
              for surname, forename in zip(surnames, forenames)]
    return np.array(labels, dtype=object) if labels else np.empty(0, dtype=object)


def finding_rows(records: pd.DataFrame, kind: str, **columns) -> pd.DataFrame:
    """Build one finding per row of ``records`` (laestab, upn, names, category, start_date).

    Keyword arguments set other finding columns, as a scalar or one value per row; ``id_field``
    is passed through for ``reconcile.finalise``.
    """
    count = len(records)
    if count == 0:
        return empty_findings()

    def value(name, default=None):
        given = columns.get(name, default)
        if isinstance(given, (list, np.ndarray, pd.Series)):
            return list(given)
        return [given] * count

    frame = pd.DataFrame({
        "kind": kind,
        "laestab": records["laestab"].astype(object).to_numpy(),
        "upn": records["upn"].astype(object).to_numpy(),
        "pupil": value("pupil") if "pupil" in columns else pupil_label(records),
        "category": value("category") if "category" in columns else records["category"].astype(object).to_numpy(),
        "start_date": (pd.to_datetime(pd.Series(value("start_date"))) if "start_date" in columns
                       else records["start_date"].to_numpy()),
        # A finding about one record carries its start session, which distinguishes a pupil's
        # morning and afternoon exclusions of one day. A finding dated some other way has none.
        "start_session": (records["start_session"].to_numpy(dtype=object)
                          if "start_date" not in columns and "start_session" in records else value("start_session")),
        "field": value("field"),
        "mis_value": value("mis_value"),
        "portal_value": value("portal_value"),
        "expected": value("expected"),
        "actual": value("actual"),
        "sessions": value("sessions") if "sessions" in columns else [[] for _ in range(count)],
        "due_date": pd.to_datetime(pd.Series(value("due_date"), dtype=object)).to_numpy(),
        "age_school_days": pd.array(value("age_school_days"), dtype="Int64"),
        "message": value("message", ""),
        "extra": value("extra") if "extra" in columns else [{} for _ in range(count)],
    })
    frame["start_date"] = frame["start_date"].astype("datetime64[s]")
    frame["due_date"] = frame["due_date"].astype("datetime64[s]")
    if "id_field" in columns:
        frame["id_field"] = value("id_field")
    return frame


def session_labels(days: np.ndarray, sessions: np.ndarray) -> list[str]:
    """Return "YYYY-MM-DD AM" labels for aligned arrays of dates and "AM"/"PM"."""
    return [f"{day} {session}" for day, session in zip(np.asarray(days, dtype="datetime64[D]").astype(str), sessions)]
