"""Push journal in a real SQLite state file."""

from __future__ import annotations

import sqlite3

import pytest

from sync_agent.connectors.portal_rest import PostOutcome
from sync_agent.errors import ConfigError, StateError
from sync_agent.journal import JOURNAL_SCHEMA_VERSION, PushJournal

PAYLOAD = {"laestab": "9402001", "upn": "D801999924001", "category": "FIXD",
           "start_date": "2024-03-04", "start_session": "AM", "end_date": "2024-03-05",
           "end_session": "PM", "sessions": 4, "reasons": ["DB"]}


@pytest.fixture
def state_db(tmp_path):
    return tmp_path / "state.db"


def test_journal_uses_wal_and_own_version(state_db):
    with sqlite3.connect(state_db) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('state_schema_version', '4')")
    PushJournal(state_db).close()
    with sqlite3.connect(state_db) as db:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert meta == {"state_schema_version": "4", "journal_schema_version": str(JOURNAL_SCHEMA_VERSION)}
    assert mode == "wal"


def test_new_state_file_is_owner_only(state_db):
    PushJournal(state_db).close()
    assert state_db.stat().st_mode & 0o077 == 0


def test_newer_journal_schema_raises(state_db):
    PushJournal(state_db).close()
    with sqlite3.connect(state_db) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'journal_schema_version'")
    with pytest.raises(StateError, match="upgrade sync-agent"):
        PushJournal(state_db)


def test_unreadable_state_file_raises(state_db):
    state_db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match=str(state_db)):
        PushJournal(state_db)


def test_transitions_are_recorded(state_db):
    with PushJournal(state_db) as journal:
        record = journal.begin(PAYLOAD)
        assert record.status == "pending"
        journal.mark_sent(record.journal_id)
        assert journal.get(record.journal_id).status == "sent"
        journal.mark_outcome(record.journal_id, PostOutcome("delivered", portal_id="EX-1", attempts=2))
    with PushJournal(state_db) as reopened:
        stored = reopened.get(record.journal_id)
    assert stored.status == "delivered"
    assert stored.portal_id == "EX-1"
    assert stored.attempts == 2
    assert stored.payload == PAYLOAD


def test_begin_keeps_existing_record(state_db):
    with PushJournal(state_db) as journal:
        first = journal.begin(PAYLOAD)
        journal.mark_sent(first.journal_id)
        again = journal.begin({**PAYLOAD, "category": "SUSP"})
    assert again.journal_id == first.journal_id
    assert again.status == "sent"


def test_corrected_rejected_record_is_pending(state_db):
    with PushJournal(state_db) as journal:
        record = journal.begin({**PAYLOAD, "reasons": ["XX"]})
        journal.mark_outcome(record.journal_id, PostOutcome("rejected", errors=["reasons: unknown"], attempts=1))
        assert journal.get(record.journal_id).portal_errors == ["reasons: unknown"]
        corrected = journal.begin(PAYLOAD)
    assert corrected.status == "pending"
    assert corrected.payload["reasons"] == ["DB"]


def test_failed_records_keep_payload(state_db):
    with PushJournal(state_db) as journal:
        record = journal.begin(PAYLOAD)
        journal.mark_outcome(record.journal_id, PostOutcome("failed", attempts=6, last_error="HTTP 503"))
        [failed] = journal.failed()
    assert failed.payload == PAYLOAD
    assert failed.last_error == "HTTP 503"


def test_dismiss_only_failed_records(state_db):
    with PushJournal(state_db) as journal:
        record = journal.begin(PAYLOAD)
        with pytest.raises(ConfigError, match="only failed or rejected"):
            journal.dismiss(record.journal_id)
        with pytest.raises(ConfigError, match="no such journal id"):
            journal.dismiss("J-000000000000")
        journal.mark_outcome(record.journal_id, PostOutcome("failed", attempts=1, last_error="timeout"))
        dismissed = journal.dismiss(record.journal_id)
    assert dismissed.status == "dismissed"
    assert dismissed.payload is None


def test_written_records_name_their_file(state_db):
    with PushJournal(state_db) as journal:
        record = journal.begin(PAYLOAD)
        journal.mark_written([record.journal_id], "exclusions-9402001-x.xml", "9402001")
        stored = journal.get(record.journal_id)
    assert stored.status == "written"
    assert stored.b2b_file == "exclusions-9402001-x.xml"


def test_batch_transitions_are_recorded(state_db):
    second = {**PAYLOAD, "start_date": "2024-03-11", "end_date": "2024-03-12"}
    with PushJournal(state_db) as journal:
        ids = [record.journal_id for record in journal.begin_many([PAYLOAD, second])]
        journal.mark_sent_many(ids)
        assert [journal.get(journal_id).status for journal_id in ids] == ["sent", "sent"]
        journal.mark_outcomes([
            (ids[0], PostOutcome("delivered", portal_id="EX-1", attempts=1)),
            (ids[1], PostOutcome("failed", attempts=6, last_error="HTTP 503")),
        ])
    with PushJournal(state_db) as reopened:
        delivered, failed = (reopened.get(journal_id) for journal_id in ids)
    assert delivered.status == "delivered"
    assert delivered.portal_id == "EX-1"
    assert failed.status == "failed"
    assert failed.last_error == "HTTP 503"


def test_batch_with_unknown_id_marks_none(state_db):
    with PushJournal(state_db) as journal:
        record = journal.begin(PAYLOAD)
        with pytest.raises(StateError, match="J-000000000000"):
            journal.mark_sent_many([record.journal_id, "J-000000000000"])
        assert journal.get(record.journal_id).status == "pending"
