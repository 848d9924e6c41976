"""Pushes killed with SIGKILL at random points still leave every record on the portal exactly once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reference_portal import ReferencePortal

from sync_agent.journal import PushJournal
from sync_agent.push_keys import natural_key

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only")

WORKER = Path(__file__).with_name("push_worker.py")
RECORDS = 500
KILLS = 6
RUN_TIMEOUT_SECONDS = 60


def make_payloads(count: int) -> list[dict]:
    rng = random.Random(23)
    categories = ["FIXD", "FIXD", "LNCH", "PERM"]
    records = []
    for index in range(count):
        category = rng.choice(categories)
        day = f"2024-{rng.randint(9, 12):02d}-{rng.randint(1, 28):02d}"
        permanent = category == "PERM"
        records.append({
            "laestab": "9402001", "upn": f"B94020010{index:04d}", "surname": "Pupil",
            "forename": f"N{index}", "category": category, "start_date": day,
            "start_session": rng.choice(["AM", "PM"]),
            "end_date": None if permanent else day, "end_session": None if permanent else "PM",
            "sessions": None if permanent else rng.randint(1, 2),
            "reasons": rng.sample(["DB", "PP", "VA", "DM"], rng.randint(1, 3)),
        })
    return records


def start_worker(portal: ReferencePortal, state_db: Path, payloads_file: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), portal.url, portal.token, str(state_db), str(payloads_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def still_running_after_requests(portal: ReferencePortal, worker: subprocess.Popen, count: int) -> bool:
    """Wait until the portal has replied to ``count`` more requests or the worker has exited.

    Returns whether the worker is still running. Counting requests, not seconds, lands each kill
    in the middle of a push however fast the push runs.
    """
    target = len(portal.requests) + count
    give_up = time.monotonic() + RUN_TIMEOUT_SECONDS
    while worker.poll() is None and len(portal.requests) < target and time.monotonic() < give_up:
        time.sleep(0.002)
    return worker.poll() is None


def test_killed_pushes_deliver_each_once(tmp_path):
    payloads = make_payloads(RECORDS)
    payloads_file = tmp_path / "payloads.json"
    payloads_file.write_text(json.dumps(payloads), encoding="utf-8")
    state_db = tmp_path / "state.db"
    rng = random.Random(7)
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS

    with ReferencePortal(state_file=tmp_path / "portal.json") as portal:
        portal.chaos(0.1, seed=11)
        kills = 0
        for _ in range(KILLS):
            worker = start_worker(portal, state_db, payloads_file)
            if still_running_after_requests(portal, worker, rng.randint(5, 60)):
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait(timeout=10)
            worker.stderr.close()
        assert kills >= 3

        final = start_worker(portal, state_db, payloads_file)
        try:
            _, stderr = final.communicate(timeout=max(deadline - time.monotonic(), 5))
        except subprocess.TimeoutExpired:
            final.kill()
            final.communicate()
            pytest.fail(f"the last push run did not finish within {RUN_TIMEOUT_SECONDS} seconds")
        assert final.returncode == 0, stderr.decode("utf-8", "replace")

        stored = json.loads((tmp_path / "portal.json").read_text(encoding="utf-8"))["records"]
    on_portal = [natural_key(record) for record in stored.values()]
    assert len(on_portal) == RECORDS
    assert set(on_portal) == {natural_key(payload) for payload in payloads}

    with PushJournal(state_db) as journal:
        records = journal.records()
    assert len(records) == RECORDS
    assert {record.status for record in records} <= {"delivered", "already_there"}
    assert {record.portal_id for record in records} == set(stored)
