"""Reason code lists by date, and labels mapped to codes through the mapping's reason table."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sync_agent.codelists import categories, reason_codes
from sync_agent.errors import ConfigError
from sync_agent.mapper import lookup_values
from sync_agent.mapping import load_mapping


def _check(codes: list[str], starts: list[str], newer_from: dt.date | None = None) -> list[str]:
    reasons = reason_codes(newer_from)
    return reasons.check(pd.Series(codes, dtype=object), pd.Series(pd.to_datetime(starts))).tolist()


def test_ot_valid_before_2020() -> None:
    assert _check(["OT"], ["2020-08-31"]) == [""]


def test_ot_rejected_from_2020() -> None:
    [message] = _check(["OT"], ["2020-09-01"])

    assert "reason OT is not valid for exclusions starting on or after 2020-09-01" in message
    assert "use the 2020 reason that fits best" in message


def test_2020_code_rejected_before_2020() -> None:
    [message] = _check(["MT"], ["2019-10-01"])

    assert "reason MT belongs to the 2020 code list, which starts on 2020-09-01" in message
    assert "newer_cbds_from" not in message


def test_ot_withdrawal_date_under_newer_list() -> None:
    [message] = _check(["OT"], ["2026-10-05"], dt.date(2026, 9, 1))

    assert "on or after 2020-09-01" in message


def test_newer_code_needs_setting() -> None:
    [message] = _check(["BW"], ["2024-03-04"])

    assert "reason BW belongs to the newer-cbds code list" in message
    assert "set [codes] newer_cbds_from" in message


def test_newer_code_by_start_date() -> None:
    switch = dt.date(2026, 9, 1)

    messages = _check(["BW", "BW", "DB", "DB"], ["2026-08-31", "2026-09-01", "2026-08-31", "2026-09-01"], switch)

    assert messages[0] != ""
    assert "newer-cbds" in messages[0]
    assert messages[1] == ""
    assert messages[2] == ""
    assert messages[3] == ""


def test_one_record_against_two_versions() -> None:
    """The same code is judged by the version in force on each record's start date."""
    switch = dt.date(2026, 9, 1)

    before, after = _check(["OS", "OS"], ["2025-11-03", "2026-11-02"], switch)

    assert "not in force on this start date" in before
    assert after == ""


def test_blank_code_never_rejected() -> None:
    assert _check([""], ["2024-03-04"]) == [""]


def test_start_before_first_list() -> None:
    [message] = _check(["DB"], ["2001-01-08"])

    assert "before the first exclusion reason code list" in message


def test_newer_start_must_follow_2020() -> None:
    with pytest.raises(ConfigError, match="newer_cbds_from = 2019-09-01 must be after 2020-09-01"):
        reason_codes(dt.date(2019, 9, 1))


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("Damage to property", "DM"),
        ("Damage", "DM"),
        ("Persistent or general disruptive behaviour", "DB"),
        ("persistent or general  disruptive behaviour.", "DB"),
        ("Verbal abuse/threatening behaviour against an adult", "VA"),
        ("Racist abuse including bullying", "RA"),
        ("db", "DB"),
        ("Other", "OT"),
    ],
)
def test_reason_labels_map_to_codes(label: str, code: str) -> None:
    table = load_mapping("sims-csv").lookups["reason"]

    assert lookup_values(pd.Series([label]), table).tolist() == [code]


def test_pd_not_guessed() -> None:
    table = load_mapping("sims-csv").lookups["reason"]

    assert lookup_values(pd.Series(["PD"]), table).isna().tolist() == [True]


def test_categories_codes_and_labels() -> None:
    table = load_mapping("sims-csv").lookups["category"]
    values = ["FIXD", "SUSP", "Fixed Term", "fixed-period", "PERM", "Permanent", "LNCH", "Lunch time"]

    mapped = lookup_values(pd.Series(values), table).tolist()

    assert mapped == ["suspension"] * 4 + ["permanent"] * 2 + ["lunchtime"] * 2


def test_category_wire_codes() -> None:
    wire = {name: c.wire_code for name, c in categories().items()}

    assert wire == {"suspension": "FIXD", "permanent": "PERM", "lunchtime": "LNCH"}
