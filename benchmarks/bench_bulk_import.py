"""Benchmark the whole bulk import, reports included, on local workers and on a local Dask cluster.

Each run is ``sync-agent bulk-import`` in a child process with a fresh ``--out`` folder, so no
checkpoint is reused. While it runs, the resident set size (RSS) of the command and of every worker
process is sampled every 0.1 s. The report gives the wall time and the peak RSS of the parent and
of the largest worker. The Dask runs start a ``distributed.LocalCluster`` of worker processes here,
one thread each, and pass its scheduler address to ``--scheduler``.

    python benchmarks/generate_la.py --out benchmarks/data/la
    python benchmarks/bench_bulk_import.py --data benchmarks/data/la --workers 1 2 4 --dask 2 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024


def measure(command: list[str], worker_pids: set[int] | None = None) -> dict:
    """Run ``command``; return wall seconds, exit code and peak RSS of it and of its workers in MiB."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(child.pid)
    parent_peak = worker_peak = 0
    while child.poll() is None:
        try:
            parent_peak = max(parent_peak, watched.memory_info().rss)
            workers = watched.children(recursive=True)
            workers += [psutil.Process(pid) for pid in (worker_pids or ())]
            for process in workers:
                try:
                    worker_peak = max(worker_peak, process.memory_info().rss)
                except psutil.NoSuchProcess:
                    continue
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    return {"seconds": time.perf_counter() - started, "exit": child.returncode,
            "parent_mib": parent_peak / MIB, "worker_mib": worker_peak / MIB}


def bulk_command(data: Path, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "sync_agent", "-q", "bulk-import", str(data), "--as-of", "2025-07-23", "--out", str(out),
            *extra]


def run_local(data: Path, workers: int, runs: int) -> list[dict]:
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            results.append(measure(bulk_command(data, Path(folder) / "out", ["--workers", str(workers)])))
    return results


def run_dask(data: Path, workers: int, runs: int) -> list[dict]:
    import distributed

    results = []
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        pids = set()
        with distributed.Client(cluster.scheduler_address) as client:
            pids = set(client.run(lambda: __import__("os").getpid()).values())
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as folder:
                command = bulk_command(data, Path(folder) / "out", ["--scheduler", cluster.scheduler_address])
                results.append(measure(command, pids))
    return results


def report(label: str, results: list[dict]) -> str:
    seconds = statistics.median(r["seconds"] for r in results)
    parent = max(r["parent_mib"] for r in results)
    worker = max(r["worker_mib"] for r in results)
    exits = sorted({r["exit"] for r in results})
    return f"| {label} | {seconds:.1f} | {parent:.0f} | {worker:.0f} | {', '.join(map(str, exits))} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "la")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--dask", type=int, nargs="*", default=[2], help="Dask worker processes for each Dask run")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    print("| executor | wall time (s, median) | parent peak RSS (MiB) | largest worker peak RSS (MiB) | exit |")
    print("|---|---|---|---|---|")
    for workers in args.workers:
        print(report(f"{workers} local worker(s)", run_local(args.data, workers, args.runs)), flush=True)
    for workers in args.dask:
        print(report(f"Dask LocalCluster, {workers} worker process(es)", run_dask(args.data, workers, args.runs)),
              flush=True)


if __name__ == "__main__":
    main()
