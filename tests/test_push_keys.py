"""Idempotency keys and journal ids of wire payloads."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from sync_agent.errors import PortalError
from sync_agent.push_keys import academic_year_of, idempotency_key, journal_id_for

PAYLOAD = {"laestab": "9402001", "upn": "d801999924001", "category": "FIXD",
           "start_date": "2024-03-04", "start_session": "am", "reasons": ["DB"]}


def test_key_uses_canonical_fields():
    expected = hashlib.sha256(b"9402001|D801999924001|suspension|2024-03-04|AM").hexdigest()
    assert idempotency_key(PAYLOAD) == expected


def test_key_survives_category_code_change():
    assert idempotency_key({**PAYLOAD, "category": "SUSP"}) == idempotency_key(PAYLOAD)


def test_key_accepts_date_objects():
    assert idempotency_key({**PAYLOAD, "start_date": dt.date(2024, 3, 4)}) == idempotency_key(PAYLOAD)


def test_key_ignores_non_key_fields():
    assert idempotency_key({**PAYLOAD, "reasons": ["PP"], "surname": "X"}) == idempotency_key(PAYLOAD)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"category": "INTERNAL"}, "invalid exclusion category"),
     ({"start_date": "04/03/2024"}, "ISO date"),
     ({"upn": ""}, "lacks upn")],
    ids=["category", "date", "upn"],
)
def test_key_rejects_bad_payload(change, message):
    with pytest.raises(PortalError, match=message):
        idempotency_key({**PAYLOAD, **change})


def test_journal_id_is_short_and_stable():
    key = idempotency_key(PAYLOAD)
    assert journal_id_for(key) == "J-" + key[:12]


@pytest.mark.parametrize(
    ("day", "year"), [("2024-03-04", "2023-24"), ("2024-09-01", "2024-25"), ("2024-08-31", "2023-24")]
)
def test_academic_year_starts_in_september(day, year):
    assert academic_year_of(day) == year
