"""Write the sample school's exclusions export again as Capita ONE B2B XML and as SIMS report XML.

Both files hold exactly the exclusions of ``exports/exclusions.csv``, read through the project's own
extract, map and validate steps with the ``sims-csv`` mapping, so a reconcile of either finds the
same differences as the CSV:

- ``exports/exclusions-b2b.xml``: the B2B wrapper of ``sync_agent.connectors.b2b_writer`` (one
  ``Pupil`` per UPN, ``Reasons/Reason``, ISO dates, ``SchoolDays`` in decimal days), with the
  category as its CBDS code. The wrapper has no element for the notification dates, so a reconcile
  of this file finds no ``late_notification``;
- ``exports/exclusions-sims.xml``: ``SuperStarReport/Record`` with one child per report column,
  spaces encoded as ``_x0020_``, the cells as the CSV has them (labels included) and the dates as
  .NET date-times (``2024-09-18T00:00:00``), notification dates included;
- ``agent-b2b.toml`` and ``agent-sims-xml.toml``: copies of ``agent.toml`` whose exclusions source
  reads the XML file with the ``b2b-xml`` or ``sims-xml`` mapping.

Run from the repository root with the project's virtualenv::

    python sample_data/generate_xml.py

The output is the same on every run. The script ends by reading both files back through their
mappings and checking that they give the CSV's records.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from lxml import etree

from sync_agent.codelists import categories, reason_codes
from sync_agent.connectors.b2b_writer import build_document
from sync_agent.connectors.rawtable import LINE_COLUMN
from sync_agent.extract import extract
from sync_agent.mapper import map_records
from sync_agent.mapping import load_mapping
from sync_agent.validate import validate_records

HERE = Path(__file__).resolve().parent
CSV_PATH = HERE / "exports" / "exclusions.csv"
B2B_PATH = HERE / "exports" / "exclusions-b2b.xml"
SIMS_PATH = HERE / "exports" / "exclusions-sims.xml"
LAESTAB = "9404123"
# A fixed creation time keeps the B2B header, and so the file, the same on every run.
CREATED_AT = dt.datetime(2025, 7, 23, 7, 42, tzinfo=dt.timezone.utc)
COMPARED = ["laestab", "upn", "surname", "forename", "date_of_birth", "category", "reason_1", "reason_2",
            "reason_3", "start_date", "start_session", "end_date", "end_session", "sessions", "status"]
# Only the SIMS report XML carries the notification dates; the B2B wrapper has no element for them.
NOTIFIED = ["parents_notified_on", "la_notified_on"]


def read_records(path: Path, mapping_name: str) -> pd.DataFrame:
    """Return the accepted records of ``path``; raise AssertionError if any row is rejected."""
    mapping = load_mapping(mapping_name)
    mapped = map_records(extract(path, mapping), mapping, defaults={"laestab": LAESTAB})
    validated = validate_records(mapped, mapping, reason_codes())
    assert not len(validated.rejects), validated.rejects.to_string()
    return validated.records


def _iso(value) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def b2b_payloads(records: pd.DataFrame) -> list[dict]:
    """Return the B2B writer's payloads (wire category codes, ISO dates) for the records."""
    wire = {name: category.wire_code for name, category in categories().items()}
    payloads = []
    for row in records.to_dict("records"):
        payloads.append({
            "upn": row["upn"],
            "surname": row["surname"],
            "forename": row["forename"],
            "date_of_birth": _iso(row["date_of_birth"]),
            "category": wire[row["category"]],
            "reasons": [row[f"reason_{n}"] for n in (1, 2, 3) if row[f"reason_{n}"]],
            "start_date": _iso(row["start_date"]),
            "start_session": row["start_session"],
            "end_date": _iso(row["end_date"]),
            "sessions": None if pd.isna(row["sessions"]) else int(row["sessions"]),
        })
    return payloads


def write_b2b(records: pd.DataFrame) -> None:
    root = build_document(LAESTAB, b2b_payloads(records), CREATED_AT)
    B2B_PATH.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _dotnet_date(value: str) -> str:
    """Return a dd/mm/yyyy cell as a .NET date-time, 2024-09-18T00:00:00; keep a blank cell blank."""
    if not value:
        return ""
    return dt.datetime.strptime(value, "%d/%m/%Y").strftime("%Y-%m-%dT%H:%M:%S")


def write_sims() -> None:
    """Write the CSV's rows as SIMS report XML, one ``Record`` per row, in the CSV's order."""
    raw = extract(CSV_PATH, load_mapping("sims-csv")).frame
    date_columns = {"DOB", "Start Date", "End Date", "Parents Notified", "LA Notified"}
    root = etree.Element("SuperStarReport")
    for row in raw.to_dict("records"):
        record = etree.SubElement(root, "Record")
        for column, value in row.items():
            if column == LINE_COLUMN:
                continue
            text = _dotnet_date(value) if column in date_columns else value
            if text:
                # .NET's XmlConvert.EncodeName writes a space in a column name as _x0020_.
                etree.SubElement(record, column.replace(" ", "_x0020_")).text = text
    SIMS_PATH.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True))


CSV_SOURCE_LINES = (
    'path = "exports/exclusions.csv"  # where the MIS saves the export; may be a pattern such as *.csv\n'
    'mapping = "sims-csv"             # how to read its columns: a built-in mapping or a mapping file\n'
)
CONFIG_COPIES = (
    ("agent-b2b.toml", "exclusions-b2b.xml", "b2b-xml", "the Capita ONE B2B XML export"),
    ("agent-sims-xml.toml", "exclusions-sims.xml", "sims-xml", "the SIMS report XML export"),
)


def write_configs() -> None:
    """Write copies of agent.toml whose exclusions source is one of the XML exports."""
    text = (HERE / "agent.toml").read_text(encoding="utf-8")
    if CSV_SOURCE_LINES not in text:
        raise SystemExit("agent.toml no longer has the exclusions source lines this script replaces; update CSV_SOURCE_LINES")
    for name, export, mapping, described in CONFIG_COPIES:
        source = (f'path = "exports/{export}"  # where the MIS saves the export\n'
                  f'mapping = "{mapping}"  # how to read its elements: a built-in mapping or a mapping file\n')
        first, rest = text.split("\n", 1)
        copy = f"{first}\n# A copy of agent.toml that reads the same exclusions from {described}.\n{rest}"
        (HERE / name).write_text(copy.replace(CSV_SOURCE_LINES, source), encoding="utf-8")


def check_round_trip(expected: pd.DataFrame) -> None:
    """Raise AssertionError unless both XML files read back to the CSV's records."""
    for path, mapping_name, columns in ((B2B_PATH, "b2b-xml", COMPARED), (SIMS_PATH, "sims-xml", COMPARED + NOTIFIED)):
        wanted = expected[columns].astype(object).reset_index(drop=True)
        found = read_records(path, mapping_name)[columns].astype(object)
        # The B2B file groups a pupil's exclusions together, so compare in one order.
        order = ["upn", "start_date", "start_session", "category"]
        left = found.sort_values(order, kind="stable").reset_index(drop=True)
        right = wanted.sort_values(order, kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False)


def main() -> None:
    records = read_records(CSV_PATH, "sims-csv")
    write_b2b(records)
    write_sims()
    write_configs()
    check_round_trip(records)
    print(f"wrote {B2B_PATH.name} and {SIMS_PATH.name} with {len(records)} exclusions each")


if __name__ == "__main__":
    main()
