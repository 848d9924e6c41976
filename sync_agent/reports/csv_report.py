"""The CSV reports: ``reconciliation.csv`` (one row per finding) and ``rejects.csv``.

Both are UTF-8 with a byte order mark, so Excel detects the encoding, with CRLF line endings and
RFC 4180 quoting, so a value with line breaks or quotes reads back identically. Every cell passes
through :func:`neutralise_cell`, so no cell runs as a formula when a spreadsheet opens the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from sync_agent.reports.rows import FINDING_COLUMNS, REJECT_COLUMNS, finding_row, reject_row
from sync_agent.reports.safety import neutralise_cell, open_private
from sync_agent.result import Reject, Result


def write_findings_csv(result: Result, path: Path) -> None:
    """Write one row per finding of ``result`` to ``path``, columns in the Finding model's order.

    ``sessions`` and ``schools`` are joined with ``"; "``, ``extra`` becomes ``key: value`` pairs
    joined the same way, and dates are ISO dates.
    """
    _write_csv(path, FINDING_COLUMNS, (finding_row(finding) for finding in result.findings))


def write_rejects_csv(rejects: Iterable[Reject], path: Path) -> None:
    """Write every reject to ``path`` with the columns ``file, line, field, value, message``."""
    _write_csv(path, REJECT_COLUMNS, (reject_row(reject) for reject in rejects))


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[list[str]]) -> None:
    with open_private(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise_cell(cell) for cell in row])
