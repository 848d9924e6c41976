"""Push runs end to end: the push engine, the journal in a real SQLite file and a real HTTP portal."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from reference_portal import ReferencePortal

from sync_agent.connectors.portal_rest import PortalClient
from sync_agent.errors import PortalError
from sync_agent.journal import PushJournal
from sync_agent.push import BATCH_SIZE, build_plan, send, send_b2b
from sync_agent.push_keys import idempotency_key

CASE_DIR = Path(__file__).parent / "data" / "cases" / "23-post-retry-duplicates"
LAESTAB = "8019999"


def case_payload() -> dict:
    """Return the one record of the lost-reply case as a wire payload."""
    with (CASE_DIR / "exclusions_one_record.csv").open(encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))

    def iso(text: str) -> str:
        return dt.datetime.strptime(text, "%d/%m/%Y").date().isoformat()

    return {
        "laestab": LAESTAB, "upn": row["UPN"], "surname": row["Legal Surname"],
        "forename": row["Legal Forename"], "date_of_birth": iso(row["DOB"]), "category": "FIXD",
        "start_date": iso(row["Start Date"]), "start_session": row["Start Session"],
        "end_date": iso(row["End Date"]), "end_session": row["End Session"],
        "sessions": int(row["Sessions"]), "reasons": [r for r in (row["Reason"], row["Reason 2"]) if r],
    }


def payloads(count: int) -> list[dict]:
    base = dt.date(2024, 9, 9)
    return [
        {"laestab": LAESTAB, "upn": f"A80199992{index:04d}", "category": "FIXD",
         "start_date": (base + dt.timedelta(days=index)).isoformat(), "start_session": "AM",
         "end_date": (base + dt.timedelta(days=index)).isoformat(), "end_session": "PM",
         "sessions": 2, "reasons": ["DB"]}
        for index in range(count)
    ]


def client_for(portal: ReferencePortal, **kwargs) -> PortalClient:
    options = {"token": portal.token, "ca_bundle": None, "rate_limit_per_second": 1000,
               "backoff_initial_seconds": 0.001, "backoff_max_seconds": 0.01}
    options.update(kwargs)
    return PortalClient(portal.url, **options)


@pytest.fixture
def portal():
    with ReferencePortal() as server:
        yield server


@pytest.fixture
def journal(tmp_path):
    with PushJournal(tmp_path / "state.db") as opened:
        yield opened


def test_lost_reply_leaves_one_record(portal, journal):
    portal.drop_after_store_next(1)
    payload = case_payload()
    with client_for(portal) as client:
        summary = send(build_plan([payload], journal), client, journal)
    assert len(portal.records) == 1
    assert len(summary.delivered) + len(summary.already_there) == 1
    assert summary.failed == {}
    assert summary.exit_code == 0
    record = journal.get_by_key(idempotency_key(payload))
    assert record.status == "already_there"
    assert record.portal_id == "EX-1001"
    assert record.attempts == 2


def test_lost_reply_without_keys_looks_up(tmp_path):
    with ReferencePortal(honour_keys=False) as portal, PushJournal(tmp_path / "state.db") as journal:
        portal.drop_after_store_next(1)
        with client_for(portal, honours_idempotency_keys=False) as client:
            summary = send(build_plan([case_payload()], journal), client, journal)
        assert len(portal.records) == 1
        assert summary.already_there == [journal.records()[0].journal_id]
        posts = [entry for entry in portal.requests if entry[0] == "POST"]
        assert len(posts) == 1


def test_interrupted_send_is_resolved_next_run(portal, journal):
    payload = case_payload()
    record = journal.begin(payload)
    journal.mark_sent(record.journal_id)
    with client_for(portal) as client:
        client.create_exclusion(LAESTAB, payload, key=record.key, journal_id=record.journal_id)
        summary = send(build_plan([payload], journal), client, journal)
    assert len(portal.records) == 1
    assert summary.already_there == [record.journal_id]
    assert journal.get(record.journal_id).status == "already_there"


def test_several_batches_deliver_each_once(portal, journal):
    records = payloads(2 * BATCH_SIZE + 7)
    with client_for(portal) as client:
        summary = send(build_plan(records, journal), client, journal)
    assert len(summary.delivered) == len(records)
    assert len(portal.records) == len(records)
    assert len(portal.requests) == len(records)
    assert {record.status for record in journal.records()} == {"delivered"}
    assert {record.portal_id for record in journal.records()} == set(portal.records)


def test_interrupted_batch_resolved_by_key(portal, journal):
    records = payloads(BATCH_SIZE + 10)
    begun = journal.begin_many(records)
    journal.mark_sent_many(record.journal_id for record in begun)
    with client_for(portal) as client:
        for record in begun[:7]:  # stored before the crash, their replies never recorded
            client.create_exclusion(LAESTAB, record.payload, key=record.key, journal_id=record.journal_id)
        summary = send(build_plan(records, journal), client, journal)
    assert len(portal.records) == len(records)
    assert sorted(summary.already_there) == sorted(record.journal_id for record in begun[:7])
    assert len(summary.delivered) == len(records) - 7
    assert summary.exit_code == 0


def test_interrupted_batch_without_keys_looks_up(tmp_path):
    records = payloads(8)
    with ReferencePortal(honour_keys=False) as portal, PushJournal(tmp_path / "state.db") as journal:
        begun = journal.begin_many(records)
        journal.mark_sent_many(record.journal_id for record in begun)
        with client_for(portal, honours_idempotency_keys=False) as client:
            for record in begun[:3]:
                client.create_exclusion(LAESTAB, record.payload, key=record.key, journal_id=record.journal_id)
            summary = send(build_plan(records, journal), client, journal)
        posts = [entry for entry in portal.requests if entry[0] == "POST"]
        assert len(portal.records) == len(records)
        assert len(posts) == len(records)
        assert sorted(summary.already_there) == sorted(record.journal_id for record in begun[:3])


def test_delivered_records_not_planned_again(portal, journal):
    records = payloads(3)
    with client_for(portal) as client:
        first = send(build_plan(records, journal), client, journal)
        again = build_plan(records, journal)
    assert len(first.delivered) == 3
    assert again == []
    assert len(portal.records) == 3


def test_rejected_record_reported_with_reason(portal, journal):
    record = {**payloads(1)[0], "reasons": ["XX"]}
    with client_for(portal) as client:
        summary = send(build_plan([record], journal), client, journal)
    assert summary.exit_code == 1
    [errors] = summary.rejected.values()
    assert errors == ["reasons: unknown reason code XX"]
    assert portal.keys == {}


def test_failed_record_needs_retry_flag(portal, journal):
    record = payloads(1)
    portal.fail_next(2)
    with client_for(portal, max_attempts=2) as client:
        first = send(build_plan(record, journal), client, journal)
        plain = send(build_plan(record, journal), client, journal)
        retried = send(build_plan(record, journal), client, journal, retry_failed=True)
    assert len(first.failed) == 1
    assert first.exit_code == 1
    assert list(plain.not_retried.values()) == ["failed"]
    assert plain.exit_code == 1
    assert len(retried.delivered) == 1
    assert retried.exit_code == 0
    assert len(portal.records) == 1


def test_dismissed_record_leaves_plan(portal, journal):
    record = payloads(1)
    portal.fail_next(1)
    with client_for(portal, max_attempts=1) as client:
        send(build_plan(record, journal), client, journal)
    [failed] = journal.failed()
    dismissed = journal.dismiss(failed.journal_id)
    assert dismissed.status == "dismissed"
    assert dismissed.payload is None
    assert build_plan(record, journal) == []


def test_body_trickle_hits_deadline(portal):
    portal.trickle_seconds = 0.05
    with client_for(portal, request_deadline_seconds=0.3, max_attempts=1) as client:
        with pytest.raises(PortalError, match="DeadlineExceeded"):
            client.list_exclusions(LAESTAB, "2024-25")


def test_header_trickle_hits_deadline(portal):
    portal.trickle_seconds = 0.05
    portal.trickle_headers = True
    with client_for(portal, request_deadline_seconds=0.3, max_attempts=1) as client:
        outcome = client.create_exclusion(LAESTAB, case_payload(), key="k" * 64, journal_id="J-1")
    assert outcome.status == "failed"
    assert "DeadlineExceeded" in outcome.last_error


def test_slow_reply_times_out(portal):
    portal.delay_seconds = 1.0
    with client_for(portal, request_deadline_seconds=0.2, max_attempts=1) as client:
        result = client.check(LAESTAB, "2024-25")
    assert not result.ok
    assert result.failed_part == "connection"


def test_expired_token_stops_then_resumes(portal, journal):
    records = payloads(5)
    portal.expire_token_after_posts = 2
    with client_for(portal) as client:
        first = send(build_plan(records, journal), client, journal)
    # POSTs in flight together may all pass the token check before the second record is
    # stored, so more than two can land before the token expires.
    assert first.exit_code == 2
    assert len(first.delivered) >= 2
    assert len(first.delivered) + len(first.left_pending) == 5
    assert "SYNC_AGENT_PORTAL_TOKEN" in first.stopped_by
    assert {journal.get(journal_id).status for journal_id in first.left_pending} == {"sent"}
    with client_for(portal, token="rotated-token") as client:
        second = send(build_plan(records, journal), client, journal)
    assert second.exit_code == 0
    assert sorted(second.delivered) == sorted(first.left_pending)
    assert len(portal.records) == 5
    assert {record.status for record in journal.records()} == {"delivered"}


def test_list_reads_every_page(portal):
    with client_for(portal) as client:
        for payload in payloads(120):
            client.create_exclusion(LAESTAB, payload, key=idempotency_key(payload), journal_id="J-x")
        items = client.list_exclusions(LAESTAB, "2024-25")
        check = client.check(LAESTAB, "2024-25")
    assert len(items) == 120
    assert len({item["id"] for item in items}) == 120
    assert check.ok


def test_check_rejects_wrong_token(portal):
    with client_for(portal, token="wrong") as client:
        result = client.check(LAESTAB, "2024-25")
    assert result.failed_part == "token"
    assert "wrong" not in result.message


def test_b2b_file_then_only_new_records(tmp_path, journal):
    outbox = tmp_path / "outbox"
    records = [case_payload(), *payloads(2)]
    first = send_b2b(build_plan(records, journal, target="b2b-file"), journal, outbox, laestab=LAESTAB)
    more = [*records, *payloads(3)[2:]]
    second = send_b2b(build_plan(more, journal, target="b2b-file"), journal, outbox, laestab=LAESTAB)
    nothing = send_b2b(build_plan(more, journal, target="b2b-file"), journal, outbox, laestab=LAESTAB)

    first_doc = etree.parse(str(first.b2b_file))
    assert first_doc.findtext("Header/LAESTAB") == LAESTAB
    assert first_doc.findtext("Header/RecordCount") == "3"
    milo = first_doc.xpath("//Pupil[UPN='D801999924001']")[0]
    assert milo.findtext("DOB") == "2012-02-14"
    exclusion = milo.find("Exclusions/Exclusion")
    assert exclusion.findtext("Category") == "FIXD"
    assert exclusion.xpath("Reasons/Reason/text()") == ["DB"]
    assert exclusion.findtext("StartDate") == "2024-03-04"
    assert exclusion.findtext("StartTime") == "AM"
    assert exclusion.findtext("EndDate") == "2024-03-05"
    assert exclusion.findtext("SchoolDays") == "2.0"

    second_doc = etree.parse(str(second.b2b_file))
    assert second_doc.xpath("//Pupil/UPN/text()") == ["A801999920002"]
    assert nothing.b2b_file is None
    assert sorted(p.name for p in outbox.iterdir()) == sorted([first.b2b_file.name, second.b2b_file.name])
    assert {record.status for record in journal.records()} == {"written"}
