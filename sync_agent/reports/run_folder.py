"""Report folders: one folder per run, named by its UTC start time, plus a ``latest/`` copy."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable
from pathlib import Path

from sync_agent.errors import ConfigError
from sync_agent.reports.csv_report import write_findings_csv, write_rejects_csv
from sync_agent.reports.html_report import write_html
from sync_agent.reports.json_report import write_json
from sync_agent.reports.latest import refresh_latest
from sync_agent.reports.safety import make_private_dir
from sync_agent.reports.xlsx_report import write_xlsx
from sync_agent.result import Result

logger = logging.getLogger(__name__)

LATEST_FOLDER = "latest"

# The report files of a run, in the order they are written; JSON first, as the record of the run.
REPORT_WRITERS: dict[str, Callable[[Result, Path], None]] = {
    "reconciliation.json": write_json,
    "reconciliation.csv": write_findings_csv,
    "reconciliation.html": write_html,
    "reconciliation.xlsx": write_xlsx,
    "rejects.csv": lambda result, path: write_rejects_csv(result.rejects, path),
}


def new_run_id(now: dt.datetime) -> str:
    """Return the run id for a run started at ``now``: its UTC time, such as ``20250314T070002Z``.

    ``now`` must be timezone-aware. :func:`create_run_folder` adds ``-2``, ``-3`` ... when a
    folder of that name already exists.
    """
    if now.utcoffset() is None:
        raise ValueError(f"the run start time must be timezone-aware, not {now!r}")
    return now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def create_run_folder(output_root: Path, now: dt.datetime) -> Path:
    """Create and return a new owner-only folder ``output_root/<run id>``, unique within the root."""
    run_id = new_run_id(now)
    make_private_dir(output_root)
    for number in itertools.count(1):
        name = run_id if number == 1 else f"{run_id}-{number}"
        try:
            return make_private_dir(output_root / name, exist_ok=False)
        except FileExistsError:
            continue
    raise AssertionError("unreachable: itertools.count never ends")


def write_report_set(result: Result, out_dir: Path, *, latest_dir: Path | None) -> dict[str, Path]:
    """Write every report of ``result`` into ``out_dir`` and return the paths by file name.

    ``out_dir`` is created owner-only if missing. When ``latest_dir`` is given it is refreshed to
    hold copies of exactly these files (see :func:`refresh_latest`).
    """
    make_private_dir(out_dir)
    written: dict[str, Path] = {}
    for name, write in REPORT_WRITERS.items():
        path = out_dir / name
        write(result, path)
        written[name] = path
    if latest_dir is not None:
        refresh_latest(written.values(), latest_dir)
    return written


def write_reports(result: Result, output_root: Path, *, out: Path | None, now: dt.datetime) -> Path:
    """Write the reports of one run and return the folder written.

    With ``out`` the reports go exactly there, and no run folder or ``latest/`` is touched.
    Otherwise they go to a new ``output_root/<run id>/`` and ``output_root/latest/`` is refreshed.
    Raises ConfigError naming the folder when it cannot be written.
    """
    target = out if out is not None else output_root
    try:
        if out is not None:
            folder = out
            write_report_set(result, folder, latest_dir=None)
        else:
            folder = create_run_folder(output_root, now)
            write_report_set(result, folder, latest_dir=output_root / LATEST_FOLDER)
    except OSError as exc:
        raise ConfigError(
            f"Could not write the reports to {target}: {exc.strerror or exc}. "
            "Choose a folder you can write to, with free space, in [output] dir or with --out."
        ) from exc
    logger.info("Wrote reports to %s", folder)
    return folder
