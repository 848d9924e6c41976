"""The Excel report, ``reconciliation.xlsx``: a Summary sheet, then one sheet per finding kind.

Every cell is written with ``write_string``, so Excel never reads a value as a formula, number or
date: a name such as ``=HYPERLINK(...)`` shows as text and ``000123`` keeps its zeros. Values are
not prefixed with ``'`` (unlike the CSV report), because a string cell is already inert.
The workbook is written in xlsxwriter's constant_memory mode, which flushes each row to a
temporary file in the report's folder, so memory stays flat however many findings there are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from sync_agent.reports.grouping import group_by_kind, summary_counts
from sync_agent.reports.rows import FINDING_COLUMNS, cell_text, finding_row
from sync_agent.reports.safety import open_private
from sync_agent.reports.sheet_names import unique_sheet_name
from sync_agent.result import Result

logger = logging.getLogger(__name__)

SUMMARY_SHEET = "Summary"
DEFAULT_WIDTH = 16
COLUMN_WIDTHS = {
    "id": 20, "kind": 24, "severity": 9, "laestab": 9, "upn": 15, "pupil": 26, "category": 11,
    "start_date": 11, "field": 14, "mis_value": 24, "portal_value": 24, "expected": 12,
    "actual": 12, "sessions": 28, "due_date": 11, "age_school_days": 8, "schools": 18,
    "extra": 30, "message": 60, "action": 50, "status": 9,
}  # fmt: skip
# Summary sheet columns: labels and input files, school name and kind, then input counts and reasons.
SUMMARY_WIDTHS = (30, 40, 10, 10, 10, 16, 40)
INPUT_COLUMNS = ("path", "kind", "status", "records", "rejects", "skipped_rows", "reason")
# Counts and ages are text on purpose, so Excel's "number stored as text" markers are switched off.
ALL_CELLS = "A1:XFD1048576"
CUT_RETURN_CODE = -2  # what write_string returns when it cut a string to Excel's limit


def write_xlsx(result: Result, path: Path) -> None:
    """Write ``result`` to ``path`` as an Excel workbook of text cells.

    Sheet names are the finding kinds, cut to Excel's 31-character limit and made unique.
    A value longer than Excel's 32,767-character cell limit is cut, and a logged warning gives the
    number of cut cells. ``reconciliation.csv`` keeps the whole text.
    """
    groups = group_by_kind(result.findings)
    # The temporary row files hold pupil data, so they stay in the report's private folder.
    options = {"constant_memory": True, "tmpdir": str(Path(path).parent)}
    with open_private(path, "wb") as handle:
        workbook = xlsxwriter.Workbook(handle, options)
        bold = workbook.add_format({"bold": True})
        used_names: set[str] = set()

        summary_sheet = workbook.add_worksheet(unique_sheet_name(SUMMARY_SHEET, used_names))
        cut_cells = _write_summary(summary_sheet, result, summary_counts(result.summary, groups), bold)

        for kind, findings in groups.items():
            sheet = workbook.add_worksheet(unique_sheet_name(kind, used_names))
            for column, name in enumerate(FINDING_COLUMNS):
                sheet.set_column(column, column, COLUMN_WIDTHS.get(name, DEFAULT_WIDTH))
            sheet.freeze_panes(1, 0)
            sheet.ignore_errors({"number_stored_as_text": ALL_CELLS})
            sheet.autofilter(0, 0, len(findings), len(FINDING_COLUMNS) - 1)
            _, cut = _write_table(sheet, 0, FINDING_COLUMNS, map(finding_row, findings), bold)
            cut_cells += cut
        workbook.close()

    if cut_cells:
        logger.warning(
            "%d cells of %s were longer than Excel's limit of 32,767 characters and were cut; "
            "reconciliation.csv has the whole text",
            cut_cells,
            path,
        )


def _write_summary(
    sheet: Worksheet, result: Result, counts: list[tuple[str, str, int]], bold: Format
) -> int:
    sheet.ignore_errors({"number_stored_as_text": ALL_CELLS})
    for column, width in enumerate(SUMMARY_WIDTHS):
        sheet.set_column(column, column, width)
    facts = [
        ["School", result.school.name or ""],
        ["LAESTAB", result.school.laestab],
        ["As of", cell_text(result.as_of)],
        ["Period from", cell_text(result.period.from_)],
        ["Period to", cell_text(result.period.to)],
        ["Generated at", cell_text(result.generated_at)],
    ]
    cut_cells = 0
    for row, (label, value) in enumerate(facts):
        sheet.write_string(row, 0, label, bold)
        cut_cells += _write_row(sheet, row, [value], first_column=1)

    input_header = ["File", "Kind", "Status", "Records", "Rejects", "Rows skipped", "Reason refused"]
    input_rows = ([cell_text(getattr(item, name)) for name in INPUT_COLUMNS] for item in result.inputs)
    next_row, cut = _write_table(sheet, len(facts) + 1, input_header, input_rows, bold)
    cut_cells += cut

    count_rows = ([kind, severity, str(count)] for kind, severity, count in counts)
    _, cut = _write_table(sheet, next_row + 1, ["Finding kind", "Severity", "Count"], count_rows, bold)
    return cut_cells + cut


def _write_table(
    sheet: Worksheet, first_row: int, header: Sequence[str], rows: Iterable[list[str]], bold: Format
) -> tuple[int, int]:
    """Write a bold header and the rows below it; return the next free row and the cut-cell count."""
    cut_cells = _write_row(sheet, first_row, header, cell_format=bold)
    row = first_row + 1
    for cells in rows:
        cut_cells += _write_row(sheet, row, cells)
        row += 1
    return row, cut_cells


def _write_row(
    sheet: Worksheet, row: int, cells: Sequence[str], *, first_column: int = 0, cell_format: Format | None = None
) -> int:
    cut_cells = 0
    for offset, text in enumerate(cells):
        if not text:
            continue  # an empty string cell would only add bulk
        if sheet.write_string(row, first_column + offset, text, cell_format) == CUT_RETURN_CODE:
            cut_cells += 1
    return cut_cells
