"""Small hand-made exports, a school folder with its agent.toml, and runs of the reconcile command.

Records are plain dicts with day-first dates, as a SIMS report writes them. The writers turn them
into a SIMS CSV export, a portal CSV export or a portal JSON page.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import shutil
from pathlib import Path

from sync_agent.cli import main as cli_main
from sync_agent.config import load_config
from sync_agent.pipeline import RunOutcome, run_reconcile
from sync_agent.upn import check_letter

CASES = Path(__file__).resolve().parent / "data" / "cases"
LAESTAB = "8019999"
AS_OF = "2024-06-01"

SIMS_COLUMNS = [
    "UPN", "Legal Surname", "Legal Forename", "DOB", "Exclusion Type", "Start Date", "Start Session",
    "End Date", "End Session", "Sessions", "Reason", "Reason 2", "Reason 3",
]
PORTAL_COLUMNS = [
    "Portal ID", "LAESTAB", "UPN", "Surname", "Forename", "Date of Birth", "Category", "Start Date",
    "Start Session", "End Date", "End Session", "Sessions", "Reason 1", "Reason 2", "Reason 3",
]
_WIRE_CATEGORY = {"Suspension": "FIXD", "Permanent": "PERM", "Lunchtime": "LNCH"}


def case_file(case: str, name: str) -> Path:
    """Return a hard-case input copied into tests/data/cases."""
    return CASES / case / name


def upn(body: str) -> str:
    """Return ``body`` (12 characters) with its DfE check letter in front."""
    return check_letter(body) + body


def record(**changes: str) -> dict[str, str]:
    """Return a valid suspension of 4 sessions from Monday 4 March 2024 AM, with ``changes`` applied."""
    base = {
        "upn": "D801999924001", "surname": "Ashworth", "forename": "Milo", "dob": "14/02/2012",
        "category": "Suspension", "start": "04/03/2024", "start_session": "AM", "end": "05/03/2024",
        "end_session": "PM", "sessions": "4", "reason_1": "DB", "reason_2": "", "reason_3": "",
    }
    base.update(changes)
    return base


def permanent(**changes: str) -> dict[str, str]:
    """Return a valid permanent exclusion from 5 February 2024 AM, with ``changes`` applied."""
    return record(**{"upn": "K801999924005", "surname": "Halloway", "forename": "Jude", "dob": "22/11/2012",
                     "category": "Permanent", "start": "05/02/2024", "end": "", "end_session": "",
                     "sessions": "", "reason_1": "PA", "reason_2": "DA", **changes})


def _sims_row(rec: dict[str, str]) -> dict[str, str]:
    row = {
        "UPN": rec["upn"], "Legal Surname": rec["surname"], "Legal Forename": rec["forename"], "DOB": rec["dob"],
        "Exclusion Type": rec["category"], "Start Date": rec["start"], "Start Session": rec["start_session"],
        "End Date": rec["end"], "End Session": rec["end_session"], "Sessions": rec["sessions"],
        "Reason": rec["reason_1"], "Reason 2": rec["reason_2"], "Reason 3": rec["reason_3"],
    }
    if "status" in rec:
        row["Status"] = rec["status"]
    row.update({k: v for k, v in rec.items() if k[0].isupper() and k not in row})
    return row


def _portal_row(rec: dict[str, str], number: int) -> dict[str, str]:
    row = {
        "Portal ID": rec.get("portal_id", f"P-{number}"), "LAESTAB": rec.get("laestab", LAESTAB), "UPN": rec["upn"],
        "Surname": rec["surname"], "Forename": rec["forename"], "Date of Birth": rec["dob"],
        "Category": rec["category"], "Start Date": rec["start"], "Start Session": rec["start_session"],
        "End Date": rec["end"], "End Session": rec["end_session"], "Sessions": rec["sessions"],
        "Reason 1": rec["reason_1"], "Reason 2": rec["reason_2"], "Reason 3": rec["reason_3"],
    }
    if "status" in rec:
        row["Status"] = rec["status"]
    return row


def _write_rows(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    header = list(columns)
    for row in rows:
        header += [k for k in row if k not in header]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_sims_csv(path: Path, records: list[dict[str, str]]) -> Path:
    """Write ``records`` as a SIMS exclusions report (columns of the sims-csv mapping)."""
    return _write_rows(path, [_sims_row(r) for r in records], SIMS_COLUMNS)


def write_portal_csv(path: Path, records: list[dict[str, str]]) -> Path:
    """Write ``records`` as a portal export (columns of the portal-csv mapping), ids P-1, P-2..."""
    return _write_rows(path, [_portal_row(r, n) for n, r in enumerate(records, start=1)], PORTAL_COLUMNS)


def _iso(day_first: str) -> str | None:
    return dt.datetime.strptime(day_first, "%d/%m/%Y").date().isoformat() if day_first else None


def write_portal_json(path: Path, records: list[dict[str, str]]) -> Path:
    """Write ``records`` as one page of the portal REST profile (ISO dates, wire category codes)."""
    items = []
    for number, rec in enumerate(records, start=1):
        items.append({
            "id": rec.get("portal_id", f"EX-{number}"), "laestab": rec.get("laestab", LAESTAB), "upn": rec["upn"],
            "surname": rec["surname"], "forename": rec["forename"], "date_of_birth": _iso(rec["dob"]),
            "category": _WIRE_CATEGORY.get(rec["category"], rec["category"]),
            "start_date": _iso(rec["start"]), "start_session": rec["start_session"],
            "end_date": _iso(rec["end"]), "end_session": rec["end_session"] or None,
            "sessions": int(rec["sessions"]) if rec["sessions"] else None,
            "reasons": [r for r in (rec["reason_1"], rec["reason_2"], rec["reason_3"]) if r],
        })
    path.write_text(json.dumps({"items": items, "next_page": None}, indent=1), encoding="utf-8")
    return path


def write_config(
    folder: Path,
    *,
    exclusions: str = "exclusions.csv",
    mapping: str = "sims-csv",
    portal: str | None = "portal.csv",
    portal_mapping: str = "portal-csv",
    period: str = 'academic_year = "2023-24"',
    extra: str = "",
) -> Path:
    """Write ``folder``/agent.toml naming one exclusions export and, unless None, a portal export."""
    text = (
        f'[school]\nlaestab = "{LAESTAB}"\nname = "Fernbrook Academy"\n\n'
        f'[[sources]]\nkind = "exclusions"\npath = "{exclusions}"\nmapping = "{mapping}"\nsettle_seconds = 0\n\n'
    )
    if portal is not None:
        text += f'[portal]\nmode = "export"\npath = "{portal}"\nmapping = "{portal_mapping}"\n\n'
    text += f"[period]\n{period}\n\n{extra}"
    path = folder / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def copy_case(case: str, name: str, folder: Path, as_name: str | None = None) -> Path:
    """Copy a hard-case input into ``folder`` (as ``as_name``) and return the copy's path."""
    target = folder / (as_name or name)
    shutil.copyfile(case_file(case, name), target)
    return target


def reconcile_folder(folder: Path, *, as_of: str = AS_OF, academic_year: str | None = None) -> RunOutcome:
    """Run the reconcile pipeline on ``folder``/agent.toml without writing reports."""
    config = load_config(folder / "agent.toml")
    return run_reconcile(config, as_of=dt.date.fromisoformat(as_of), academic_year=academic_year)


def run_cli(folder: Path, *extra: str, as_of: str = AS_OF, out: str = "out") -> int:
    """Run ``sync-agent reconcile`` on ``folder``/agent.toml, writing reports to ``folder``/``out``."""
    args = ["reconcile", "--config", str(folder / "agent.toml"), "--as-of", as_of, "--out", str(folder / out), *extra]
    try:
        return cli_main(args)
    finally:
        # The CLI attaches a console handler bound to this test's captured stderr; later tests
        # must not log into that closed stream.
        root = logging.getLogger("sync_agent")
        for handler in list(root.handlers):
            if getattr(handler, "_sync_agent_console", False):
                root.removeHandler(handler)


def read_report(folder: Path, out: str = "out") -> dict:
    """Return the parsed reconciliation.json of a run written to ``folder``/``out``."""
    return json.loads((folder / out / "reconciliation.json").read_text(encoding="utf-8"))


def findings_of(outcome: RunOutcome, kind: str) -> list:
    """Return the run's findings of ``kind``."""
    return [f for f in outcome.result.findings if f.kind == kind]


# Every permanent exclusion raises board_review_required (the governing board must meet), so
# tests of the MIS-portal comparison look at the comparison's own kinds only.
COMPARISON_KINDS = frozenset({"missing_on_portal", "missing_in_mis", "field_mismatch", "duplicate_record", "temporary_upn"})


def compared(findings: list) -> list:
    """Return the findings of the MIS-portal comparison (models or report dicts)."""
    return [f for f in findings if (f["kind"] if isinstance(f, dict) else f.kind) in COMPARISON_KINDS]
