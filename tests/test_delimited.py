"""Tests of the delimited-text reader on real export files: encodings, structure, truncation."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd
import pytest

from builders import permanent, read_report, record, run_cli, write_config, write_portal_csv, write_sims_csv
from sync_agent.connectors.delimited import DEFAULT_FOOTER_PATTERNS, read_delimited
from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import InputRefused, MappingError

CASES = Path(__file__).resolve().parent / "data" / "cases"

KNOWN_COLUMNS = [
    "UPN",
    "Legal Surname",
    "Legal Forename",
    "DOB",
    "Exclusion Type",
    "Start Date",
    "Start Session",
    "End Date",
    "End Session",
    "Sessions",
    "Reason",
    "Reason 2",
    "Reason 3",
]
HEADER = ",".join(KNOWN_COLUMNS)
RECORD_1 = "D801999924001,Ashworth,Milo,14/02/2012,Suspension,04/03/2024,AM,05/03/2024,PM,4,DB,,"
RECORD_2 = "T801999924002,Okafor-Reid,Tamsin,03/09/2011,Suspension,12/03/2024,PM,13/03/2024,PM,3,VA,PP,"
RECORD_3 = "K801999924005,Halloway,Jude,22/11/2012,Permanent,05/02/2024,AM,,,,PA,DA,"


def read(path: Path, **options) -> RawTable:
    return read_delimited(path, known_columns=KNOWN_COLUMNS, **options)


def write_export(tmp_path: Path, lines: list[str], *, encoding: str = "utf-8", end: str = "\r\n") -> Path:
    """Write ``lines`` joined by CRLF, as a Windows MIS does, followed by ``end``."""
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + end).encode(encoding))
    return path


def lines_of(table: RawTable) -> list[int]:
    return table.frame[LINE_COLUMN].tolist()


# --- Files exported by MIS report writers -----------------------------------------------------


@pytest.mark.parametrize("name", ["exclusions_bom_plain.csv", "exclusions_bom_quoted.csv"])
def test_bom_header_reads_cleanly(name: str) -> None:
    table = read(CASES / "01-utf8-bom-header" / name)

    assert len(table) == 3
    assert table.rejects == []
    assert table.encoding == "utf-8-sig"
    assert table.columns[0] == "UPN"
    assert table.frame["UPN"].iloc[0] == "D801999924001"
    for column in table.columns:
        assert "\ufeff" not in column
        assert '"' not in column
        for value in table.frame[column]:
            assert "\ufeff" not in value
            assert '"' not in value


def test_report_preamble_and_footer_skipped() -> None:
    table = read(CASES / "10-report-preamble-footer-blank-rows" / "exclusions_report_export.csv")

    assert table.header_line == 4
    assert len(table) == 3
    assert lines_of(table) == [5, 6, 7]
    assert table.skipped == {"title": 2, "blank": 2, "empty": 2, "footer": 2}
    assert table.footer_count == 3
    assert table.rejects == []
    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002", "K801999924005"]


def test_footer_count_mismatch_refused() -> None:
    path = CASES / "10-report-preamble-footer-blank-rows" / "exclusions_footer_count_mismatch.csv"

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert caught.value.path == str(path)
    assert "states 5 records" in caught.value.reason
    assert "3 were read" in caught.value.reason
    assert "export it again" in caught.value.reason


def test_embedded_newlines_keep_physical_lines() -> None:
    table = read(CASES / "12-embedded-newlines-quoted" / "exclusions_with_comments.csv")

    assert len(table) == 3
    assert lines_of(table) == [2, 3, 6]
    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002", "W801999924004"]
    comment = table.frame["Comments"].iloc[1]
    assert comment == 'Incident in canteen.\r\nWitness statements: 2\r\nPupil said "it wasn\'t me".'
    assert comment.count("\r\n") == 2
    assert '"it wasn\'t me"' in comment
    # Dates are not checked here: the mapping step rejects 31/02/2024.
    assert table.frame["Start Date"].iloc[2] == "31/02/2024"


def test_truncated_export_refused_at_line() -> None:
    path = CASES / "28-partial-or-empty-input" / "exclusions_truncated_mid_write.csv"

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert caught.value.path == str(path)
    assert "cut off mid-record at line 4" in caught.value.reason


def test_zero_byte_export_refused() -> None:
    path = CASES / "28-partial-or-empty-input" / "exclusions_zero_bytes.csv"

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert caught.value.path == str(path)
    assert "empty export (0 bytes)" in caught.value.reason


def test_header_only_export_has_no_records() -> None:
    table = read(CASES / "28-partial-or-empty-input" / "exclusions_header_only.csv")

    assert len(table) == 0
    assert table.columns == KNOWN_COLUMNS
    assert table.rejects == []
    assert table.header_line == 1


def test_complete_control_export_reads_three() -> None:
    table = read(CASES / "28-partial-or-empty-input" / "exclusions_complete_control.csv")

    assert len(table) == 3
    assert lines_of(table) == [2, 3, 4]
    assert table.rejects == []
    assert table.skipped == {}


def test_leading_zeros_kept_as_text() -> None:
    table = read(CASES / "06-leading-zeros-ids" / "exclusions_with_adno.csv")

    assert table.frame["Adno"].tolist() == ["000123", "004567", "010000"]
    assert table.frame["Sessions"].tolist() == ["4", "3", ""]
    assert all(isinstance(value, str) for value in table.frame["Adno"])


def test_header_spaces_trimmed_values_untouched() -> None:
    table = read(CASES / "22-key-whitespace-case-invisible" / "mis_exclusions_messy_keys.csv")

    assert table.columns[0] == "UPN"
    assert table.columns[1] == "Legal Surname"
    assert table.columns[5] == "Start Date"
    assert table.frame["UPN"].tolist() == [
        "D801999924001 ",
        "t801999924002",
        "\u00a0K801999924005",
        "G801999924003\u200b",
        "A801999924004",
    ]
    assert table.frame["Exclusion Type"].iloc[3] == "Suspension\u00a0"
    assert table.frame["Reason"].iloc[1] == "VA "


# --- Encodings --------------------------------------------------------------------------------


def test_utf8_without_bom_decoded(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1.replace("Milo", "Zoë")])

    table = read(path)

    assert table.encoding == "utf-8"
    assert table.frame["Legal Forename"].iloc[0] == "Zoë"


def test_utf8_bom_decoded(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\n{RECORD_1}\r\n".encode())

    table = read(path)

    assert table.encoding == "utf-8-sig"
    assert table.columns[0] == "UPN"
    assert table.frame["UPN"].iloc[0] == "D801999924001"


def test_utf16_le_bom_tab_separated(tmp_path: Path) -> None:
    lines = [line.replace(",", "\t") for line in (HEADER, RECORD_1, RECORD_2.replace("Tamsin", "Zoë"))]
    path = tmp_path / "export.txt"
    path.write_bytes(b"\xff\xfe" + ("\r\n".join(lines) + "\r\n").encode("utf-16-le"))

    table = read(path)

    assert table.encoding == "utf-16-le"
    assert table.columns == KNOWN_COLUMNS
    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002"]
    assert table.frame["Legal Forename"].iloc[1] == "Zoë"
    assert lines_of(table) == [2, 3]


def test_utf16_be_bom_decoded(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xfe\xff" + f"{HEADER}\r\n{RECORD_1}\r\n".encode("utf-16-be"))

    table = read(path)

    assert table.encoding == "utf-16-be"
    assert table.columns[0] == "UPN"
    assert table.frame["Legal Surname"].iloc[0] == "Ashworth"


def test_windows_1252_pound_and_apostrophe(tmp_path: Path) -> None:
    header = HEADER + ",Cost"
    record = RECORD_1.replace("Ashworth", "O’Rourke") + ",£12.50"
    path = write_export(tmp_path, [header, record], encoding="cp1252")

    table = read(path)

    assert table.encoding == "cp1252"
    assert table.frame["Legal Surname"].iloc[0] == "O\u2019Rourke"
    assert table.frame["Cost"].iloc[0] == "\u00a312.50"


def test_undecodable_bytes_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    # 0xE9 alone is not UTF-8, and 0x81 is undefined in Windows-1252.
    path.write_bytes(f"{HEADER}\r\n".encode() + b"D801999924001,Ren\xe9\x81,Milo,,,,,,,,,,\r\n")

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert caught.value.path == str(path)
    assert "UTF-8" in caught.value.reason
    assert "UTF-16" in caught.value.reason
    assert "Windows-1252" in caught.value.reason
    assert "0x81" in caught.value.reason
    assert "export it again as UTF-8" in caught.value.reason


def test_undecodable_byte_names_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    junk = bytes(byte for byte in range(256) if byte not in b"\r\n")
    path.write_bytes(f"{HEADER}\r\n{RECORD_1}\r\n".encode() + junk + f"\r\n{RECORD_3}\r\n".encode())

    with pytest.raises(InputRefused) as caught:
        read(path)

    # 0x81 comes after the bytes 0x00-0x80 less CR and LF, so it is the 128th character.
    assert "byte 0x81 on line 3, column 128" in caught.value.reason


def test_bad_utf16_byte_names_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    # A lone low surrogate (DC00) is invalid UTF-16.
    body = f"{HEADER}\r\n{RECORD_1}\r\nab".encode("utf-16-le") + b"\x00\xdc"
    path.write_bytes(b"\xff\xfe" + body + "\r\n".encode("utf-16-le"))

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "on line 3, column 3" in caught.value.reason


def test_named_encoding_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"{HEADER}\r\n".encode() + b"D801999924001,Ren\xe9,Milo\r\n")

    with pytest.raises(InputRefused) as caught:
        read(path, encoding="utf-8")

    assert "byte 0xE9 on line 2, column 18" in caught.value.reason


def test_nul_characters_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"{HEADER}\r\n".encode("utf-16-le"))

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "NUL" in caught.value.reason
    assert "the first on line 1, column 2" in caught.value.reason


def test_nul_on_later_line_located(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(f"{HEADER}\r\n{RECORD_1}\r\nT80199\x0092400\r\n".encode())

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "the first on line 3, column 7" in caught.value.reason


# --- Delimiters and header --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "name"), [(",", "comma"), ("\t", "tab"), (";", "semicolon"), ("|", "pipe")]
)
def test_delimiter_detected_from_header(tmp_path: Path, delimiter: str, name: str, caplog) -> None:
    cells = RECORD_1.split(",")
    if delimiter != ",":
        # A comma inside a value must not make the detection pick comma.
        cells[1] = "Ashworth, Jr"
    path = write_export(tmp_path, [delimiter.join(KNOWN_COLUMNS), delimiter.join(cells)])

    with caplog.at_level(logging.INFO, logger="sync_agent.connectors.delimited"):
        table = read(path)

    assert table.columns == KNOWN_COLUMNS
    assert table.frame["UPN"].iloc[0] == "D801999924001"
    assert table.frame["Legal Surname"].iloc[0] == cells[1]
    assert table.frame["Reason"].iloc[0] == "DB"
    assert f"{name}-separated" in caplog.text


def test_explicit_delimiter_used(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER.replace(",", ";"), RECORD_1.replace(",", ";")])

    table = read(path, delimiter=";")

    assert table.frame["Legal Surname"].iloc[0] == "Ashworth"


def test_invalid_delimiter_raises_mapping_error(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1])

    with pytest.raises(MappingError, match="invalid delimiter"):
        read(path, delimiter="\\t")


def test_no_header_raises_mapping_error(tmp_path: Path) -> None:
    path = write_export(tmp_path, ["Pupil ID,Name,Start", "1,Ashworth,04/03/2024"])

    with pytest.raises(MappingError) as caught:
        read(path)

    message = str(caught.value)
    assert str(path) in message
    assert "no header row found" in message
    assert "UPN, Legal Surname" in message


def test_header_tie_goes_to_earliest(tmp_path: Path) -> None:
    path = write_export(tmp_path, ["UPN,Notes", "UPN,Comments", "D801999924001,first"])

    table = read(path)

    assert table.header_line == 1
    assert table.columns == ["UPN", "Notes"]
    assert table.frame["UPN"].tolist() == ["UPN", "D801999924001"]
    assert table.frame["Notes"].tolist() == ["Comments", "first"]


def test_header_with_most_columns_wins(tmp_path: Path) -> None:
    path = write_export(tmp_path, ["UPN report", "UPN", "", HEADER, RECORD_1])

    table = read(path)

    assert table.header_line == 4
    assert table.skipped == {"title": 2, "blank": 1}
    assert lines_of(table) == [5]


def test_comma_only_title_rows_not_header(tmp_path: Path) -> None:
    path = write_export(tmp_path, [",,,,,,,,,,,,", "Exclusions Report,,,,,,,,,,,,", HEADER, RECORD_1])

    table = read(path)

    assert table.header_line == 3
    assert table.skipped == {"empty": 1, "title": 1}


def test_blank_and_repeated_header_names(tmp_path: Path) -> None:
    path = write_export(tmp_path, ["UPN,,Reason,Reason,", "D801999924001,x,DB,VA,"])

    table = read(path)

    assert table.columns == ["UPN", "Column 2", "Reason", "Reason (column 4)"]
    assert table.frame["Reason (column 4)"].iloc[0] == "VA"


# --- Rows that are not records ----------------------------------------------------------------


def test_repeated_header_rows_skipped(tmp_path: Path) -> None:
    lines = [HEADER, RECORD_1, "Page 1 of 2", "", " " + HEADER.upper(), RECORD_2, "Page 2 of 2"]
    path = write_export(tmp_path, lines)

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002"]
    assert lines_of(table) == [2, 6]
    assert table.skipped == {"repeated_header": 1, "footer": 2, "blank": 1}
    assert table.footer_count is None


@pytest.mark.parametrize(
    ("footer", "count"),
    [
        ("Total records: 3", 3),
        ("Total: 3", 3),
        ("Record count: 3", 3),
        ("3 records", 3),
        ("Grand Total 3", 3),
        ('"Total records: 1,234"', 1234),
        ("Page 1 of 1", None),
        ("Page -1 of 1", None),
        ("End of report", None),
        ("END OF REPORT", None),
    ],
)
def test_default_footers_recognised(tmp_path: Path, footer: str, count: int | None) -> None:
    lines = [HEADER, RECORD_1, RECORD_2, RECORD_3, footer + ",,,,"]
    path = write_export(tmp_path, lines)

    if count not in (None, 3):
        with pytest.raises(InputRefused, match=f"states {count} records but 3 were read"):
            read(path)
        return
    table = read(path)

    assert len(table) == 3
    assert table.skipped == {"footer": 1}
    assert table.footer_count == count


def test_footer_text_with_other_cells_is_record(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1, "Total: 3,x"])

    table = read(path)

    assert len(table) == 2
    assert table.frame["UPN"].iloc[1] == "Total: 3"
    assert table.footer_count is None


def test_custom_footer_pattern(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1, "Exclusions listed: 1"])

    table = read(path, footer_patterns=[*DEFAULT_FOOTER_PATTERNS, r"exclusions listed:\s*(?P<count>\d+)"])

    assert len(table) == 1
    assert table.footer_count == 1


def test_footer_count_includes_rejects(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1, RECORD_2 + ",extra", RECORD_3, "Total records: 3"])

    table = read(path)

    assert len(table) == 2
    assert len(table.rejects) == 1
    assert table.footer_count == 3


def test_not_available_words_kept_as_text(tmp_path: Path) -> None:
    surnames = ["NA", "NULL", "N/A", "None", "nan", "#N/A"]
    records = [RECORD_1.replace("Ashworth", surname) for surname in surnames]
    path = write_export(tmp_path, [HEADER, *records])

    table = read(path)

    assert table.frame["Legal Surname"].tolist() == surnames
    assert table.frame["Reason 2"].tolist() == [""] * len(surnames)
    assert not table.frame.drop(columns=LINE_COLUMN).isna().any().any()


def test_values_not_trimmed(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1.replace("Ashworth", "  Ashworth ")])

    table = read(path)

    assert table.frame["Legal Surname"].iloc[0] == "  Ashworth "


# --- Field counts -----------------------------------------------------------------------------


def test_too_many_cells_rejected_with_line(tmp_path: Path) -> None:
    shifted = RECORD_2.replace("Okafor-Reid", "Okafor,Reid") + "DM"
    path = write_export(tmp_path, [HEADER, RECORD_1, shifted, RECORD_3])

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "K801999924005"]
    assert lines_of(table) == [2, 4]
    assert len(table.rejects) == 1
    line, field, value, message = table.rejects[0]
    assert line == 3
    assert field is None
    assert value is None
    assert message.startswith("record has 14 fields but the header has 13")
    assert "unquoted comma" in message


def test_extra_empty_cells_dropped(tmp_path: Path) -> None:
    # Excel pads the header as far as the widest row, and a cell of spaces counts as empty.
    path = write_export(tmp_path, [HEADER + ",,,", RECORD_1 + ",,,", RECORD_2 + ", ,"])

    table = read(path)

    assert len(table) == 2
    assert table.rejects == []
    assert table.columns == KNOWN_COLUMNS


def test_stray_comma_blank_last_column_rejected(tmp_path: Path) -> None:
    # RECORD_2's last column (Reason 3) is blank, so the stray comma leaves an empty extra cell.
    stray = RECORD_2.replace("Okafor-Reid", "Okafor-Reid, Jr")
    lines = ["Exclusions Report,,,,,,,,,,,,", "", HEADER, RECORD_1, stray, RECORD_3, "Total records: 3"]
    path = write_export(tmp_path, lines)

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "K801999924005"]
    assert lines_of(table) == [4, 6]
    assert table.frame["Legal Forename"].tolist() == ["Milo", "Jude"]
    assert table.frame["DOB"].tolist() == ["14/02/2012", "22/11/2012"]
    assert table.frame["Reason 2"].tolist() == ["", "DA"]
    assert len(table.rejects) == 1
    line, field, value, message = table.rejects[0]
    assert line == 5
    assert field is None
    assert value is None
    assert message.startswith("record has 14 fields but the header has 13")
    assert "unquoted comma inside a value" in message
    assert "must be in double quotes" in message


def test_excel_padded_header_and_rows_accepted(tmp_path: Path) -> None:
    lines = ["Exclusions Report,,,,,,,,,,,,,,", HEADER + ",,", RECORD_1 + ",,", RECORD_2 + ",,", RECORD_3 + ","]
    path = write_export(tmp_path, lines)

    table = read(path)

    assert table.columns == KNOWN_COLUMNS
    assert table.rejects == []
    assert lines_of(table) == [3, 4, 5]
    assert table.frame["Legal Surname"].tolist() == ["Ashworth", "Okafor-Reid", "Halloway"]
    assert table.frame["Reason 3"].tolist() == ["", "", ""]


def test_stray_comma_in_padded_export_rejected(tmp_path: Path) -> None:
    stray = RECORD_2.replace("Okafor-Reid", "Okafor-Reid, Jr") + ",,"
    path = write_export(tmp_path, [HEADER + ",,", RECORD_1 + ",,", stray, RECORD_3 + ",,"])

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "K801999924005"]
    assert lines_of(table) == [2, 4]
    assert [reject[0] for reject in table.rejects] == [3]
    assert table.rejects[0][3].startswith("record has 16 fields but the header has 13")


def test_trailing_delimiter_every_row_accepted(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1 + ",", RECORD_2 + ",", RECORD_3 + ","])

    table = read(path)

    assert table.columns == KNOWN_COLUMNS
    assert table.rejects == []
    assert lines_of(table) == [2, 3, 4]
    assert table.frame["Legal Forename"].tolist() == ["Milo", "Tamsin", "Jude"]
    assert table.frame["Reason 2"].tolist() == ["", "PP", "DA"]


def test_stray_comma_despite_trailing_delimiters(tmp_path: Path) -> None:
    stray = RECORD_2.replace("Okafor-Reid", "Okafor-Reid, Jr") + ","
    path = write_export(tmp_path, [HEADER, RECORD_1 + ",", stray, RECORD_3 + ","])

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "K801999924005"]
    assert lines_of(table) == [2, 4]
    assert [reject[0] for reject in table.rejects] == [3]
    assert table.rejects[0][3].startswith("record has 15 fields but the header has 13")


def test_row_padded_past_most_rejected(tmp_path: Path) -> None:
    # Most records end with one delimiter. A record with two more empty cells than that cannot be
    # distinguished from a stray delimiter, so it is rejected, while a record without the padding
    # is read.
    lines = [HEADER, RECORD_1 + ",", RECORD_2 + ",", RECORD_3 + ",,,", RECORD_1, RECORD_3 + ","]
    path = write_export(tmp_path, lines)

    table = read(path)

    assert lines_of(table) == [2, 3, 5, 6]
    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002", "D801999924001", "K801999924005"]
    assert [reject[0] for reject in table.rejects] == [4]
    assert table.rejects[0][3].startswith("record has 16 fields but the header has 13")


def test_field_count_rejects_keep_file_order(tmp_path: Path) -> None:
    stray = RECORD_2.replace("Okafor-Reid", "Okafor-Reid, Jr")
    broken = RECORD_1.replace("Ashworth", '"Ash"worth')
    numbered = [RECORD_3.replace("K801999924005", f"K8019999240{n:02d}") for n in range(10, 40)]
    records = [stray, RECORD_1, stray, broken, *numbered[:15], stray, *numbered[15:], stray]
    path = write_export(tmp_path, [HEADER, *records, f"Total records: {len(records)}"])

    table = read(path)

    assert [reject[0] for reject in table.rejects] == [2, 4, 5, 21, 37]
    assert "invalid quoting" in table.rejects[2][3]
    assert lines_of(table) == [3, *range(6, 21), *range(22, 37)]
    assert table.frame["UPN"].tolist() == ["D801999924001", *(row.split(",")[0] for row in numbered)]
    assert table.frame["Legal Forename"].tolist() == ["Milo"] + ["Jude"] * 30


def test_missing_trailing_cells_padded(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, "K801999924005,Halloway,Jude,22/11/2012,Permanent,05/02/2024,AM"])

    table = read(path)

    assert len(table) == 1
    assert table.frame["End Date"].iloc[0] == ""
    assert table.frame["Reason 3"].iloc[0] == ""


def test_invalid_quoting_rejected_with_line(tmp_path: Path) -> None:
    broken = RECORD_2.replace("Okafor-Reid", '"Okafor"-Reid')
    path = write_export(tmp_path, [HEADER, RECORD_1, broken, RECORD_3])

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "K801999924005"]
    assert [reject[0] for reject in table.rejects] == [3]
    assert "invalid quoting" in table.rejects[0][3]


# --- Line breaks and incomplete exports -------------------------------------------------------


def test_alt_enter_line_feed_kept(tmp_path: Path) -> None:
    header = HEADER + ",Comments"
    lines = [header, RECORD_1 + ',"first\nsecond"', RECORD_2 + ",plain"]
    path = write_export(tmp_path, lines)

    table = read(path)

    assert table.frame["Comments"].tolist() == ["first\nsecond", "plain"]
    assert lines_of(table) == [2, 4]


def test_complete_file_without_final_newline(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1, RECORD_3], end="")

    table = read(path)

    assert lines_of(table) == [2, 3]
    assert table.frame["Reason 2"].iloc[1] == "DA"


def test_footer_without_final_newline_accepted(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1, "Page 1 of 1"], end="")

    table = read(path)

    assert len(table) == 1
    assert table.skipped == {"footer": 1}


def test_open_quote_at_end_refused(tmp_path: Path) -> None:
    header = HEADER + ",Comments"
    path = write_export(tmp_path, [header, RECORD_1 + ",ok", RECORD_2 + ',"started', "and never closed"])

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "cut off mid-record at line 3" in caught.value.reason


def test_unbalanced_quote_mid_file_refused(tmp_path: Path) -> None:
    header = HEADER + ",Comments"
    filler = [RECORD_3 + ",a comment long enough to fill the file" for _ in range(4000)]
    path = write_export(tmp_path, [header, RECORD_1 + ',"never closed', *filler])

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "cut off mid-record at line 2" in caught.value.reason
    assert "a double quote on that line is unbalanced" in caught.value.reason


@pytest.fixture
def small_field_limit():
    previous = csv.field_size_limit(1000)
    yield
    csv.field_size_limit(previous)


def test_value_past_field_limit_refused(tmp_path: Path, small_field_limit: None) -> None:
    header = HEADER + ",Comments"
    path = write_export(tmp_path, [header, RECORD_1 + ',"never closed' + "x" * 2000 + '"', RECORD_3 + ",ok"])

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "a value in the record starting on line 2 runs past 1,000 characters" in caught.value.reason
    assert "the closing quote is probably missing" in caught.value.reason


def test_long_unquoted_value_read(tmp_path: Path) -> None:
    header = HEADER + ",Comments"
    long_row = RECORD_2 + "," + "x" * 200_000
    path = write_export(tmp_path, [header, RECORD_1 + ",ok", long_row, RECORD_3 + ",ok"])

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002", "K801999924005"]
    assert len(table.frame["Comments"].iloc[1]) == 200_000
    assert table.rejects == []


def test_long_cell_rejects_only_its_record(tmp_path: Path) -> None:
    mis = [record(), record(upn="T801999924002", reason_1="x" * 200_000), permanent()]
    write_sims_csv(tmp_path / "exclusions.csv", mis)
    write_portal_csv(tmp_path / "portal.csv", [record(), permanent()])
    write_config(tmp_path)

    assert run_cli(tmp_path) == 1

    [exclusions, _] = read_report(tmp_path)["inputs"]
    assert exclusions["status"] == "read"
    assert exclusions["records"] == 2
    assert exclusions["rejects"] == 1
    with (tmp_path / "out" / "rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        [reject] = list(csv.DictReader(handle))
    assert (reject["line"], reject["field"]) == ("3", "Reason")
    # The report keeps the start of a runaway value and its length, not all 200,000 characters.
    assert reject["value"] == "x" * 200 + "… (200,000 characters in all)"

def test_partial_header_truncated_refused(tmp_path: Path) -> None:
    header = "UPN,Legal Surname,Legal Forename"
    path = write_export(tmp_path, ["Report,,", header, "D801999924001,Ashworth,Milo", "T801999924002,Oka"], end="")

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert "cut off mid-record at line 4" in caught.value.reason


def test_blank_only_export_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf\r\n  \r\n")

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert caught.value.reason.startswith("empty export")


def test_missing_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"

    with pytest.raises(InputRefused) as caught:
        read(path)

    assert caught.value.path == str(path)
    assert "cannot be read" in caught.value.reason


# --- Logging ----------------------------------------------------------------------------------


def test_log_has_counts_not_values(tmp_path: Path, caplog) -> None:
    path = write_export(tmp_path, ["Exclusions Report", "", HEADER, RECORD_1, ",,,,", "Total records: 1"])

    with caplog.at_level(logging.INFO, logger="sync_agent.connectors.delimited"):
        read(path)

    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "1 records" in message
    assert "'blank': 1" in message
    assert "'empty': 1" in message
    assert "'footer': 1" in message
    assert "'title': 1" in message
    assert "encoding utf-8" in message
    assert "D801999924001" not in caplog.text
    assert "Ashworth" not in caplog.text



def test_plain_export_reads_same_as_general_reader(tmp_path, monkeypatch):
    """A plain export read through pyarrow gives exactly the frame the general reader gives."""
    import sync_agent.connectors.delimited as delimited

    lines = [",".join(KNOWN_COLUMNS)] + [
        f"D80199992400{n},Ashworth,NA,14/02/2012,Suspension,04/03/2024,AM,05/03/2024,PM,4,DB,,"
        for n in range(1, 8)
    ]
    path = tmp_path / "plain.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))

    fast = delimited.read_delimited(path, known_columns=KNOWN_COLUMNS)
    monkeypatch.setattr(delimited, "_read_plain", lambda *args: None)
    general = delimited.read_delimited(path, known_columns=KNOWN_COLUMNS)

    pd.testing.assert_frame_equal(fast.frame, general.frame)
    assert list(fast.frame["__line__"]) == list(range(2, 9))
    assert fast.frame.loc[0, "Legal Forename"] == "NA"
    assert fast.header_line == 1


def test_plain_reader_leaves_structured_files(tmp_path):
    """Files with quotes, titles, footers or short rows go to the general reader."""
    from sync_agent.connectors.delimited import _read_plain

    header = ",".join(KNOWN_COLUMNS)
    record = "D801999924001,Ashworth,Milo,14/02/2012,Suspension,04/03/2024,AM,05/03/2024,PM,4,DB,,"
    texts = {
        "quoted": f'{header}\n"D801999924001",Ashworth,Milo,14/02/2012,Suspension,04/03/2024,AM,05/03/2024,PM,4,DB,,\n',
        "title": f"Exclusions Report,,,,,,,,,,,,\n{header}\n{record}\n",
        "footer": f"{header}\n{record}\nTotal records: 1,,,,,,,,,,,,\n",
        "short row": f"{header}\n{record}\nD801999924001,Ashworth\n",
        "blank line": f"{header}\n\n{record}\n",
        "repeated header": f"{header}\n{record}\n{header}\n{record}\n",
        "no final newline": f"{header}\n{record}",
    }
    for name, text in texts.items():
        assert _read_plain(tmp_path / "x.csv", text, ",", KNOWN_COLUMNS, "utf-8") is None, name


# --- Stray carriage returns and rows of another width in plain exports -------------------------

PORTAL_HEADER = ("Portal ID,LAESTAB,UPN,Surname,Forename,Date of Birth,Category,Start Date,Start Session,"
                 "End Date,End Session,Sessions,Reason 1,Reason 2,Reason 3")
PORTAL_RECORDS = [
    f"EX-{n},8019999,D80199992400{n},Ashworth,Milo,14/02/2012,FIXD,04/03/2024,AM,05/03/2024,PM,4,DB,,"
    for n in range(1, 6)
]


def test_stray_cr_rejects_only_its_line(tmp_path: Path) -> None:
    path = write_export(tmp_path, [HEADER, RECORD_1, RECORD_2 + "\r,extra,fields", RECORD_3])

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "K801999924005"]
    assert lines_of(table) == [2, 4]
    assert [reject[0] for reject in table.rejects] == [3]
    assert "carriage return (CR)" in table.rejects[0][3]
    assert "remove the CR" in table.rejects[0][3]


def test_cr_line_endings_still_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("\r".join([HEADER, RECORD_1, RECORD_2, RECORD_3, ""]).encode())

    table = read(path)

    assert table.frame["UPN"].tolist() == ["D801999924001", "T801999924002", "K801999924005"]
    assert lines_of(table) == [2, 3, 4]
    assert table.rejects == []


def test_portal_stray_cr_rejected_on_line(tmp_path: Path) -> None:
    from sync_agent.extract import extract
    from sync_agent.mapping import load_mapping

    lines = [PORTAL_HEADER, *PORTAL_RECORDS]
    lines[4] += "\r,extra,fields"
    path = write_export(tmp_path, lines)

    table = extract(path, load_mapping("portal-csv"))

    assert table.frame["Portal ID"].tolist() == ["EX-1", "EX-2", "EX-3", "EX-5"]
    assert lines_of(table) == [2, 3, 4, 6]
    assert [reject[0] for reject in table.rejects] == [5]
    assert "carriage return (CR)" in table.rejects[0][3]


@pytest.mark.parametrize("kind", ["exclusions", "portal"])
def test_plain_export_wide_row_rejected(tmp_path: Path, kind: str) -> None:
    from sync_agent.extract import extract
    from sync_agent.mapping import load_mapping

    header, records = (HEADER, [RECORD_1, RECORD_2, RECORD_3]) if kind == "exclusions" else (PORTAL_HEADER, PORTAL_RECORDS[:3])
    width = header.count(",") + 1
    lines = [header, *records]
    lines[2] += ",extra,fields"
    path = write_export(tmp_path, lines)

    table = extract(path, load_mapping("sims-csv" if kind == "exclusions" else "portal-csv"))

    assert lines_of(table) == [2, 4]
    assert [reject[0] for reject in table.rejects] == [3]
    assert table.rejects[0][3].startswith(f"record has {width + 2} fields but the header has {width}")


@pytest.mark.parametrize("kind", ["exclusions", "portal"])
def test_plain_export_short_row_padded(tmp_path: Path, kind: str) -> None:
    from sync_agent.extract import extract
    from sync_agent.mapping import load_mapping

    header, records = (HEADER, [RECORD_1, RECORD_2, RECORD_3]) if kind == "exclusions" else (PORTAL_HEADER, PORTAL_RECORDS[:3])
    lines = [header, *records]
    lines[2] = ",".join(lines[2].split(",")[:4])
    path = write_export(tmp_path, lines)

    table = extract(path, load_mapping("sims-csv" if kind == "exclusions" else "portal-csv"))

    assert lines_of(table) == [2, 3, 4]
    assert table.rejects == []
    last_column = header.split(",")[-1]
    assert table.frame[last_column].iloc[1] == ""
    assert table.frame.iloc[2, 0] == records[2].split(",")[0]
