"""One school of a bulk import, run inside a worker process (or a Dask worker).

``run_school`` runs the ordinary reconcile pipeline on the school's exports with its slice of the
LA portal, writes the school's reports into its own folder and writes its checkpoint. It returns a
``SchoolRun`` carrying that checkpoint without its marks, which is exactly what reading the
checkpoint back gives, so a school finished in an earlier, interrupted import and a school finished
now look the same to the LA-wide steps. Those steps read the marks from the checkpoint files, so
the report and checkpoint folders must be on a file system the parent can read, which a Dask
cluster on other machines must share.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sync_agent.config import AgentConfig
from sync_agent.errors import SyncAgentError
from sync_agent.la_checkpoint import Checkpoint, write_checkpoint
from sync_agent.la_checks import EXCLUDED_CODE, EXCLUSION_COLUMNS, MARK_COLUMNS, PRESENT_CODES
from sync_agent.pipeline import LoadedInput, RunOutcome, run_reconcile
from sync_agent.push_step import missing_keys, record_key
from sync_agent.register import SAME_EXCLUSION
from sync_agent.reports import write_report_set

logger = logging.getLogger(__name__)

PUSH_COLUMNS = ["laestab", "upn", "surname", "forename", "date_of_birth", "category", "start_date", "start_session",
                "end_date", "end_session", "sessions", "reason_1", "reason_2", "reason_3"]


@dataclass
class SchoolTask:
    """Everything a worker needs to run one school; picklable, so it crosses process boundaries."""

    laestab: str
    config: AgentConfig
    portal: LoadedInput | None
    as_of: dt.date
    academic_year: str | None
    now: dt.datetime
    report_dir: Path
    checkpoint_dir: Path
    key: str


@dataclass
class SchoolRun:
    """The outcome of one school; ``reason`` is why it failed, when it did.

    ``checkpoint`` is the checkpoint just written, without its marks. It travels back with the
    result, so the parent need not read a few hundred small files back. It is None when the run failed.
    """

    laestab: str
    ok: bool
    exit_code: int
    records: int = 0
    reason: str | None = None
    checkpoint: Checkpoint | None = None


def run_school(task: SchoolTask) -> SchoolRun:
    """Reconcile one school and write its reports and checkpoint.

    A project error (bad configuration, refused export) or an OS error is returned as a failed
    ``SchoolRun`` rather than raised, so it fails only this school.
    """
    try:
        outcome = run_reconcile(task.config, as_of=task.as_of, academic_year=task.academic_year, now=task.now,
                                portal_reader=_portal_reader(task.portal))
        marks = school_marks(task.config, outcome)
        write_report_set(outcome.result, task.report_dir, latest_dir=None)
        checkpoint = Checkpoint(outcome.result, exclusion_frame(outcome.mis), pushable_records(outcome),
                                outcome.exit_code, marks)
        write_checkpoint(task.checkpoint_dir, task.key, checkpoint)
    except SyncAgentError as exc:
        logger.error("school %s failed: %s", task.laestab, exc)
        return SchoolRun(task.laestab, ok=False, exit_code=exc.exit_code, reason=str(exc))
    except OSError as exc:
        logger.error("school %s failed: %s", task.laestab, exc)
        return SchoolRun(task.laestab, ok=False, exit_code=2, reason=f"{exc.filename or ''}: {exc.strerror or exc}")
    records = sum(item.records for item in outcome.result.inputs if item.kind == "exclusions")
    checkpoint.marks = None  # the LA-wide check reads only the marks it needs, from the file
    return SchoolRun(task.laestab, ok=True, exit_code=outcome.exit_code, records=records, checkpoint=checkpoint)


def _portal_reader(portal: LoadedInput | None):
    if portal is None:
        return None
    return lambda _config: portal


def exclusion_frame(mis: pd.DataFrame) -> pd.DataFrame:
    """Return the columns of the MIS records that the LA-wide checks read, in Parquet-friendly types.

    Repeated copies of one exclusion, which the school's report lists as duplicates, are kept once.
    """
    frame = mis.reindex(columns=EXCLUSION_COLUMNS).drop_duplicates(SAME_EXCLUSION)
    for column in ("start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column])
    frame["sessions"] = pd.to_numeric(frame["sessions"], errors="coerce").astype("float64")
    frame["status"] = frame["status"].fillna("active")
    for column in ("laestab", "upn", "surname", "forename", "category", "start_session", "end_session", "status"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.reset_index(drop=True)


def pushable_records(outcome: RunOutcome) -> pd.DataFrame:
    """Return the MIS records behind open ``missing_on_portal`` findings: what a push would send."""
    missing = missing_keys(outcome.result)
    mis = outcome.mis.reindex(columns=PUSH_COLUMNS)
    if not missing or mis.empty:
        return mis.iloc[0:0].astype({"sessions": "float64"})
    keys = zip(mis["laestab"], mis["upn"], mis["category"], mis["start_date"], mis["start_session"])
    chosen = mis[[record_key(*key) in missing for key in keys]].copy()
    chosen["sessions"] = pd.to_numeric(chosen["sessions"], errors="coerce").astype("float64")
    for column in ("date_of_birth", "start_date", "end_date"):
        chosen[column] = pd.to_datetime(chosen[column])
    return chosen.reset_index(drop=True)


def school_marks(config: AgentConfig, outcome: RunOutcome) -> pd.DataFrame | None:
    """Return the school's ``E`` and present marks (``MARK_COLUMNS``), or None without a usable register.

    The marks are those the pipeline read for the register check (``outcome.marks``).
    """
    if outcome.marks is None:
        return None
    return compact_marks(outcome.marks, outcome.result.period.from_, outcome.result.period.to)


def compact_marks(marks: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    """Return only the ``E`` and present marks inside the period, with categorical text columns."""
    # A school's year runs to some 76,000 marks, so the work is done on each column's distinct
    # values and row codes, never on one Python string per mark.
    code_rows, code_values = pd.factorize(marks["code"])
    codes = pd.Index(np.asarray(code_values, dtype=object).astype(str)).str.upper()
    kept_codes = np.append(codes.isin([EXCLUDED_CODE, *PRESENT_CODES]), False)  # code -1 (no code) is never kept
    dates = pd.to_datetime(marks["date"]).astype("datetime64[s]")
    keep = kept_codes[code_rows] & ((dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last))).to_numpy()
    rows = np.flatnonzero(keep)
    upper_rows, upper_values = pd.factorize(codes)
    frame = pd.DataFrame({
        "laestab": _text_category(marks["laestab"].iloc[rows]),
        "upn": _text_category(marks["upn"].iloc[rows]),
        "date": dates.to_numpy()[rows],
        "session": _text_category(marks["session"].iloc[rows]),
        "code": pd.Categorical.from_codes(upper_rows[code_rows[rows]], categories=pd.Index(upper_values)),
    })
    return frame[MARK_COLUMNS].reset_index(drop=True)


def _text_category(values: pd.Series) -> pd.Categorical:
    """Return ``values`` as a categorical of text (unused categories may stay)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        if not pd.api.types.is_string_dtype(values.cat.categories):
            values = values.cat.rename_categories(values.cat.categories.astype(str))
        return values.array
    return values.astype(str).astype("category").array
