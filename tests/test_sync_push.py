"""``sync-agent sync`` with ``[push] enabled``: the sample school against the reference portal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from portal_support import SAMPLE, SAMPLE_AS_OF, sample_school_on_portal, set_push, use_fast_retries
from sync_support import run_sync

from sync_agent.journal import PushJournal
from sync_agent.state import StateStore


def planted_missing() -> set[tuple[str, str]]:
    """Return (UPN, start date) of the sample school's exclusions that are missing on its portal."""
    expected = json.loads((SAMPLE / "expected_findings.json").read_text(encoding="utf-8"))
    return {(e["upn"], e["start_date"]) for e in expected if e["kind"] == "missing_on_portal"}


MISSING = planted_missing()


@pytest.fixture
def school(tmp_path, monkeypatch):
    """The sample school on the reference portal, with push enabled and target http."""
    folder = tmp_path / "school"
    with sample_school_on_portal(folder, monkeypatch) as portal:
        set_push(folder, enabled=True)
        yield folder, portal


def sync(folder: Path, *extra: str) -> int:
    return run_sync(folder, *extra, as_of=SAMPLE_AS_OF)


def posts(portal) -> list:
    return [request for request in portal.requests if request[0] == "POST"]


def copies_of_missing(portal) -> dict[tuple[str, str], int]:
    """Return how many times the portal stores each of the missing exclusions."""
    counts = dict.fromkeys(MISSING, 0)
    for record in portal.records.values():
        key = (record["upn"], record["start_date"])
        if key in counts:
            counts[key] += 1
    return counts


def pushed_pupils(portal, before: set[str]) -> set[tuple[str, str]]:
    return {(r["upn"], r["start_date"]) for rid, r in portal.records.items() if rid not in before}


def sync_runs(folder: Path) -> list:
    with StateStore(folder / "state.db") as store:
        return store.list_runs()


def test_first_sync_delivers_missing_once(school, capsys):
    folder, portal = school
    before = set(portal.records)

    code = sync(folder)

    assert code == 1  # the sample school's other planted findings still need action
    assert pushed_pupils(portal, before) == MISSING
    assert copies_of_missing(portal) == dict.fromkeys(MISSING, 1)
    assert len(portal.records) == len(before) + 3
    assert len(posts(portal)) == 3
    assert "delivered: 3" in capsys.readouterr().out
    [run] = sync_runs(folder)
    assert run.pushes["delivered"] == 3


def test_second_sync_skips_and_sends_nothing(school, capsys):
    folder, portal = school
    sync(folder)
    first_posts = len(posts(portal))
    capsys.readouterr()

    code = sync(folder)

    assert code == 1
    assert "nothing to do" in capsys.readouterr().out
    assert len(posts(portal)) == first_posts
    assert len(sync_runs(folder)) == 1


def test_forced_sync_sends_nothing_again(school):
    folder, portal = school
    sync(folder)
    first_posts = len(posts(portal))

    code = sync(folder, "--force")

    assert code == 1
    assert len(posts(portal)) == first_posts
    assert copies_of_missing(portal) == dict.fromkeys(MISSING, 1)
    [latest, _] = sync_runs(folder)
    assert latest.counts_by_kind.get("missing_on_portal", 0) == 0


def journal_statuses(folder: Path) -> list[str]:
    with PushJournal(folder / "state.db") as journal:
        return sorted(record.status for record in journal.records())


def test_dropped_replies_land_once(school, monkeypatch):
    folder, portal = school
    use_fast_retries(monkeypatch)
    portal.drop_after_store_next(1)  # stored, then the connection closes without a reply

    code = sync(folder)

    assert code == 1
    assert copies_of_missing(portal) == dict.fromkeys(MISSING, 1)
    assert journal_statuses(folder) == ["already_there", "delivered", "delivered"]


def fail_every_post_of(portal, monkeypatch, upn_and_start: tuple[str, str]) -> Callable[[], None]:
    """Make the portal return HTTP 500 for every POST of one exclusion, whichever order POSTs arrive in.

    Returns a function that ends the failures.
    """
    store = portal.store

    def failing_store(payload: dict, key: str | None) -> tuple[int, dict]:
        if (payload["upn"], payload["start_date"]) == upn_and_start:
            return 500, {"error": "injected server error"}
        return store(payload, key)

    monkeypatch.setattr(portal, "store", failing_store)
    return lambda: monkeypatch.setattr(portal, "store", store)


def test_failed_record_lands_next_sync(school, monkeypatch):
    folder, portal = school
    use_fast_retries(monkeypatch)
    # One record gets HTTP 500 on all its attempts, so the first run leaves it failed. A quarter
    # of the other POSTs get HTTP 500 and a quarter are stored and then dropped without a reply.
    end_failures = fail_every_post_of(portal, monkeypatch, sorted(MISSING)[0])
    portal.chaos(0.5, seed=4)
    first = sync(folder)
    after_first = journal_statuses(folder)
    portal.clear_faults()
    end_failures()

    second = sync(folder)
    posts_after_second = len(posts(portal))
    third = sync(folder)

    assert first == 1
    assert "failed" in after_first
    assert second == 1
    assert copies_of_missing(portal) == dict.fromkeys(MISSING, 1)
    assert "failed" not in journal_statuses(folder)
    assert third == 1
    assert len(posts(portal)) == posts_after_second
    assert len(sync_runs(folder)) == 2


def test_b2b_target_writes_missing_once(tmp_path, monkeypatch):
    folder = tmp_path / "school"
    with sample_school_on_portal(folder, monkeypatch) as portal:
        set_push(folder, enabled=True, target="b2b-file", b2b_dir="outbox")
        before = len(portal.records)

        first = sync(folder)
        files_after_first = sorted((folder / "outbox").glob("*.xml"))
        forced = sync(folder, "--force")
        files_after_forced = sorted((folder / "outbox").glob("*.xml"))

    assert first == 1
    assert forced == 1
    assert len(files_after_first) == 1
    assert files_after_forced == files_after_first
    assert len(portal.records) == before
    assert posts(portal) == []
    document = etree.parse(str(files_after_first[0]))
    written = {(pupil.findtext("UPN"), exclusion.findtext("StartDate"))
               for pupil in document.iter("Pupil") for exclusion in pupil.iter("Exclusion")}
    assert written == MISSING
    assert document.findtext("Header/RecordCount") == "3"
