"""Benchmark the push: records per second from the push journal to the reference portal.

Each run starts a fresh reference portal (``tests/reference_portal.py``) on 127.0.0.1 and a fresh
state file, then times ``sync_agent.push.send`` over ``--records`` new exclusions. The push runs as
shipped. Each batch of ``BATCH_SIZE`` records is committed ``sent`` before its POSTs and its
outcomes after, ``MAX_POSTS_IN_FLIGHT`` POSTs run at once, and each record counts as delivered
only on its confirmed reply.
The figures printed include both settings. There are no faults, and the client's rate limit is raised out of the way
(``rate_limit_per_second`` 1,000,000). The journal runs as shipped (WAL, ``synchronous=FULL``);
``--synchronous NORMAL`` switches the open connection to NORMAL for comparison only, since the
journal offers no setting for it.

The portal runs in a child process by default, as a real portal never shares the agent's
interpreter. ``--portal-in-process`` runs it on a thread of the benchmark process instead, where
its request handling competes with the client for the GIL.

    python benchmarks/bench_push.py --records 5000 --runs 3
    python benchmarks/bench_push.py --records 5000 --runs 3 --synchronous NORMAL
    python benchmarks/bench_push.py --records 5000 --runs 3 --portal-in-process
    python benchmarks/bench_push.py --records 5000 --runs 1 --profile push.prof
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reference_portal import ReferencePortal  # noqa: E402

from sync_agent.connectors.portal_rest import PortalClient  # noqa: E402
from sync_agent.journal import PushJournal  # noqa: E402
from sync_agent.push import BATCH_SIZE, MAX_POSTS_IN_FLIGHT, build_plan, send  # noqa: E402
from sync_agent.upn import check_letter  # noqa: E402

LAESTAB = "9404123"
FIRST_DAY = dt.date(2024, 9, 2)


def payloads(count: int) -> list[dict]:
    """Return ``count`` distinct two-session suspensions on the wire, one pupil each."""
    records = []
    for index in range(count):
        body = f"940412{index:06d}"
        start = FIRST_DAY + dt.timedelta(days=index % 300)
        records.append({
            "laestab": LAESTAB, "upn": check_letter(body) + body, "surname": "Pupil",
            "forename": f"Number{index}", "category": "FIXD", "start_date": start.isoformat(),
            "start_session": "AM", "end_date": start.isoformat(), "end_session": "PM",
            "sessions": 2, "reasons": ["DB"],
        })
    return records


def serve_portal(connection) -> None:
    """Run a reference portal in this process: send its URL and token, then its record count when told to stop."""
    with ReferencePortal() as portal:
        connection.send((portal.url, portal.token))
        connection.recv()
        connection.send(len(portal.records))


@contextmanager
def portal_in_child() -> Iterator[tuple[str, str, list[int]]]:
    """Start a reference portal in a child process; yield its URL, token and, after the block, its record count."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve_portal, args=(child,), daemon=True)
    process.start()
    url, token = parent.recv()
    stored: list[int] = []
    try:
        yield url, token, stored
    finally:
        parent.send("stop")
        stored.append(parent.recv())
        process.join(timeout=10)


@contextmanager
def portal_in_thread() -> Iterator[tuple[str, str, list[int]]]:
    """Start a reference portal on a thread of this process; yield as ``portal_in_child`` does."""
    stored: list[int] = []
    with ReferencePortal() as portal:
        try:
            yield portal.url, portal.token, stored
        finally:
            stored.append(len(portal.records))


def one_run(records: list[dict], synchronous: str, in_process: bool, profile: Path | None) -> float:
    """Push ``records`` to a fresh portal from a fresh journal; return the seconds ``send`` took."""
    start_portal = portal_in_thread if in_process else portal_in_child
    with tempfile.TemporaryDirectory() as folder, start_portal() as (url, token, stored):
        journal = PushJournal(Path(folder) / "state.db")
        if synchronous != "FULL":
            # For comparison only: the journal itself always opens with synchronous=FULL.
            journal._db.execute(f"PRAGMA synchronous={synchronous}")
        client = PortalClient(url, token=token, ca_bundle=None, rate_limit_per_second=1_000_000)
        with journal, client:
            plan = build_plan(records, journal)
            profiler = cProfile.Profile() if profile else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            summary = send(plan, client, journal)
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
            if profiler:
                profiler.dump_stats(str(profile))
    if len(summary.delivered) != len(records) or stored != [len(records)]:
        raise SystemExit(f"push incomplete: {len(summary.delivered)} delivered, {stored} stored")
    return elapsed


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    return {"cpu": model, "nproc": os.cpu_count(), "memory_gib": round(memory_kib / 2**20, 1),
            "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000, help="records pushed in each run")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL",
                        help="SQLite synchronous setting of the journal connection")
    parser.add_argument("--portal-in-process", action="store_true",
                        help="run the portal on a thread of this process instead of a child process")
    parser.add_argument("--profile", type=Path, help="write cProfile statistics of the last run here")
    args = parser.parse_args()

    records = payloads(args.records)
    seconds = []
    for run in range(args.runs):
        profile = args.profile if run == args.runs - 1 else None
        seconds.append(one_run(records, args.synchronous, args.portal_in_process, profile))
    rates = [args.records / value for value in seconds]
    print(json.dumps({
        "records": args.records, "runs": args.runs, "synchronous": args.synchronous,
        "batch_size": BATCH_SIZE, "posts_in_flight": MAX_POSTS_IN_FLIGHT,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "portal": "thread of this process" if args.portal_in_process else "child process",
        "seconds": [round(value, 2) for value in seconds],
        "records_per_second": [round(rate) for rate in rates],
        "median_records_per_second": round(statistics.median(rates)),
        "machine": machine(),
    }, indent=2))


if __name__ == "__main__":
    main()
