"""The LA overview reports of a bulk import: ``la-overview.json``, ``.csv``, ``.html`` and ``.xlsx``.

``la-overview.json`` is the ``LaOverview`` model, the source of the others. ``la-overview.csv``
has one row per school, ``la-findings.csv`` one row per LA-wide finding and
``la-portal-rejects.csv`` one row per rejected field of the LA portal export. The HTML page and the
workbook list the schools needing a call first. Schools that failed come first. The others follow
by the number of exclusions missing on the portal, then the age in school days of the oldest
unreported one, then the number of open errors, each largest first. The same safety rules as a school's reports hold:
owner-only files, neutralised CSV cells, text-only XLSX cells and escaped HTML.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import xlsxwriter

from sync_agent.la_result import LaOverview, SchoolSummary
from sync_agent.reports.grouping import group_by_kind
from sync_agent.reports.html_report import html_environment, render_template
from sync_agent.reports.rows import FINDING_COLUMNS, REJECT_COLUMNS, cell_text, finding_row, reject_row
from sync_agent.reports.safety import make_private_dir, neutralise_cell, open_private, write_private_bytes
from sync_agent.reports.sheet_names import unique_sheet_name

TEMPLATE_NAME = "la-overview.html.j2"
SCHOOLS_SHEET = "Schools"

SCHOOL_COLUMNS: tuple[str, ...] = (
    "laestab", "name", "status", "reason", "records_read", "rejects", "missing_on_portal",
    "oldest_unreported_school_days", "errors", "open_findings", "push", "resumed", "report",
)
SCHOOL_HEADINGS = {
    "laestab": "LAESTAB", "name": "School", "status": "Status", "reason": "Reason",
    "records_read": "Records read", "rejects": "Rejects", "missing_on_portal": "Missing on portal",
    "oldest_unreported_school_days": "Oldest unreported (school days)", "errors": "Open errors",
    "open_findings": "Open findings by kind", "push": "Push", "resumed": "From checkpoint", "report": "Report folder",
}


def write_la_overview(overview: LaOverview, out_dir: Path) -> dict[str, Path]:
    """Write every LA overview file into ``out_dir`` (created owner-only) and return them by name."""
    make_private_dir(out_dir)
    schools = call_order(overview.schools)
    written = {
        "la-overview.json": out_dir / "la-overview.json",
        "la-overview.csv": out_dir / "la-overview.csv",
        "la-findings.csv": out_dir / "la-findings.csv",
        "la-portal-rejects.csv": out_dir / "la-portal-rejects.csv",
        "la-overview.html": out_dir / "la-overview.html",
        "la-overview.xlsx": out_dir / "la-overview.xlsx",
    }
    write_private_bytes(written["la-overview.json"], overview.to_json().encode("utf-8"))
    _write_csv(written["la-overview.csv"], [SCHOOL_HEADINGS[c] for c in SCHOOL_COLUMNS], map(school_row, schools))
    _write_csv(written["la-findings.csv"], FINDING_COLUMNS, map(finding_row, overview.findings))
    _write_csv(written["la-portal-rejects.csv"], REJECT_COLUMNS, map(reject_row, overview.portal_rejects))
    _write_html(overview, schools, written["la-overview.html"])
    _write_xlsx(overview, schools, written["la-overview.xlsx"])
    return written


def call_order(schools: Iterable[SchoolSummary]) -> list[SchoolSummary]:
    """Return the schools that most need a call first: failed, then most missing, oldest, most errors."""
    return sorted(schools, key=lambda s: (s.status != "failed", -s.missing_on_portal,
                                          -(s.oldest_unreported_school_days or 0), -s.errors, s.laestab))


def school_row(school: SchoolSummary) -> list[str]:
    """Return the text cells of one school in ``SCHOOL_COLUMNS`` order."""
    cells = []
    for column in SCHOOL_COLUMNS:
        value = getattr(school, column)
        if column == "push":
            value = push_text(school)
        elif column == "resumed":
            value = "yes" if value else "no"
        cells.append(cell_text(value))
    return cells


def push_text(school: SchoolSummary) -> str:
    """Return the school's push in words, empty when nothing was planned or sent."""
    push = school.push
    if push is None:
        return ""
    if not push.sent:
        return f"{push.planned} planned, not sent"
    text = f"{push.delivered} delivered, {push.already_there} already there, {push.rejected} rejected, {push.failed} failed"
    return text + (f"; file {Path(push.file).name}" if push.file else "")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[list[str]]) -> None:
    with open_private(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise_cell(cell) for cell in row])


def _write_html(overview: LaOverview, schools: list[SchoolSummary], path: Path) -> None:
    groups = group_by_kind(overview.findings)
    context = {
        "overview": overview,
        "schools": schools,
        "failed": sum(1 for s in schools if s.status == "failed"),
        "groups": [{"kind": kind, "severity": findings[0].severity, "findings": findings}
                   for kind, findings in groups.items()],
    }
    environment = html_environment()
    environment.filters.setdefault("push_text", push_text)
    render_template(TEMPLATE_NAME, context, path)


def _write_xlsx(overview: LaOverview, schools: list[SchoolSummary], path: Path) -> None:
    # The temporary row files hold pupil data, so they stay in the report's private folder.
    options = {"constant_memory": True, "tmpdir": str(path.parent)}
    with open_private(path, "wb") as handle:
        workbook = xlsxwriter.Workbook(handle, options)
        bold = workbook.add_format({"bold": True})
        used: set[str] = set()
        sheet = workbook.add_worksheet(unique_sheet_name(SCHOOLS_SHEET, used))
        _write_sheet(sheet, [SCHOOL_HEADINGS[c] for c in SCHOOL_COLUMNS], map(school_row, schools), bold)
        for kind, findings in group_by_kind(overview.findings).items():
            sheet = workbook.add_worksheet(unique_sheet_name(kind, used))
            _write_sheet(sheet, FINDING_COLUMNS, map(finding_row, findings), bold)
        workbook.close()


def _write_sheet(sheet, header: Sequence[str], rows: Iterable[list[str]], bold) -> None:
    """Write a header and rows of text cells; Excel never reads them as formulas, numbers or dates."""
    sheet.ignore_errors({"number_stored_as_text": "A1:XFD1048576"})
    sheet.freeze_panes(1, 0)
    for column, text in enumerate(header):
        sheet.set_column(column, column, 18)
        sheet.write_string(0, column, text, bold)
    for row_number, cells in enumerate(rows, start=1):
        for column, text in enumerate(cells):
            if text:
                sheet.write_string(row_number, column, text)
