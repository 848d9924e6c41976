"""UPN check letters and shapes, checked a column at a time."""

from __future__ import annotations

import pandas as pd
import pytest

from sync_agent.upn import check_letter, check_upns


@pytest.mark.parametrize(
    ("body", "letter"),
    [("801200005001", "B"), ("940400112001", "J"), ("94040011200A", "V")],
)
def test_check_letter_worked_examples(body: str, letter: str) -> None:
    assert check_letter(body) == letter


def test_valid_upns_accepted() -> None:
    valid, temporary, messages = check_upns(pd.Series(["B801200005001", "J940400112001", "V94040011200A"]))

    assert valid.tolist() == [True, True, True]
    assert temporary.tolist() == [False, False, True]
    assert messages.tolist() == ["", "", ""]


def test_wrong_letter_names_expected() -> None:
    valid, temporary, messages = check_upns(pd.Series(["A801999924004"]))

    assert not valid[0]
    assert not temporary[0]
    assert messages[0] == "UPN A801999924004 fails the DfE check letter (expected W)"


def test_temporary_upn_wrong_letter_rejected() -> None:
    valid, temporary, messages = check_upns(pd.Series(["A94040011200A"]))

    assert not valid[0]
    assert not temporary[0]
    assert "expected V" in messages[0]


@pytest.mark.parametrize(
    "value",
    [
        "J94040011200",  # 12 characters
        "J9404001120011",  # 14 characters
        "940400112001J",  # letter at the end, not the front
        "JJ40400112001",  # letter inside the number
        "J940400112001 ",  # trailing space left by an uncleaned export
        "j940400112001",  # lower case: the mapper upper-cases before the check
        "",
    ],
)
def test_bad_shapes_rejected(value: str) -> None:
    valid, temporary, messages = check_upns(pd.Series([value]))

    assert not valid[0]
    assert not temporary[0]
    assert "is not 13 characters" in messages[0]


@pytest.mark.parametrize("last", ["I", "O", "S"])
def test_temporary_letter_outside_table(last: str) -> None:
    valid, temporary, messages = check_upns(pd.Series([f"A94040011200{last}"]))

    assert not valid[0]
    assert not temporary[0]
    assert "ends in a letter the DfE table does not use" in messages[0]


def test_missing_values_not_valid() -> None:
    valid, _, messages = check_upns(pd.Series([None, "J940400112001"], dtype=object))

    assert valid.tolist() == [False, True]
    assert messages[1] == ""


def test_mixed_column_keeps_alignment() -> None:
    upns = pd.Series(["A801999924004", "J940400112001", "bad", "V94040011200A"], index=[10, 11, 12, 13])

    valid, temporary, messages = check_upns(upns)

    assert valid.tolist() == [False, True, False, True]
    assert temporary.tolist() == [False, False, False, True]
    assert list(messages.index) == [10, 11, 12, 13]
    assert messages[10].endswith("(expected W)")


def test_mapper_cleans_before_check() -> None:
    """The map step trims, removes invisible characters and upper-cases, so the check sees clean text."""
    from pathlib import Path

    from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
    from sync_agent.mapper import map_records
    from sync_agent.mapping import load_mapping

    from builders import SIMS_COLUMNS

    frame = pd.DataFrame({column: ["", "", ""] for column in SIMS_COLUMNS})
    frame["UPN"] = [" j940400112001", "\u00a0B801200005001\u200b", "v94040011200a "]
    frame[LINE_COLUMN] = [2, 3, 4]
    mapped = map_records(RawTable(Path("exclusions.csv"), frame), load_mapping("sims-csv"))

    valid, temporary, messages = check_upns(mapped.frame["upn"])

    assert mapped.frame["upn"].tolist() == ["J940400112001", "B801200005001", "V94040011200A"]
    assert valid.tolist() == [True, True, True]
    assert temporary.tolist() == [False, False, True]
