"""Time the register check on the LA-sized register from ``generate_register.py``.

Measures, side by side in one run, (a) pyarrow alone reading the marks file with every column as a
dictionary-encoded string and (b) the whole register check: reading and validating the marks
(``marks_reader.read_marks``), reading the exclusions, and ``register.check_register``. Each
measurement runs in a fresh child process, so its peak resident memory (``ru_maxrss``) is its own;
the two alternate, and the report gives the median of ``--runs`` runs of each.
Usage: ``python benchmarks/bench_register.py [--runs 3]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "register"
AS_OF = "2025-07-23"


def run_pyarrow() -> dict:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    path = DATA / "attendance.csv"
    started = time.perf_counter()
    names = path.open("rb").readline().decode().strip().split(",")
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.dictionary(pa.int32(), pa.string()) for n in names}))
    return {"seconds": time.perf_counter() - started, "rows": table.num_rows}


def run_register() -> dict:
    import datetime as dt

    from sync_agent.calendar import SchoolCalendar
    from sync_agent.codelists import reason_codes
    from sync_agent.extract import extract
    from sync_agent.mapper import map_records
    from sync_agent.mapping import load_mapping
    from sync_agent.marks_reader import read_marks
    from sync_agent.register import check_register
    from sync_agent.validate import validate_records

    started = time.perf_counter()
    calendar = SchoolCalendar.from_file(ROOT / "sample_data" / "term-dates.toml")
    defaults = {"laestab": "9404123"}
    marks, rejects, _count = read_marks(DATA / "attendance.csv", load_mapping("sims-attendance-csv"), calendar,
                                        defaults=defaults)
    read_done = time.perf_counter()
    mapping = load_mapping("sims-csv")
    records = validate_records(map_records(extract(DATA / "exclusions.csv", mapping), mapping, defaults=defaults),
                               mapping, reason_codes()).records
    findings = check_register(records, marks, None, calendar, dt.date.fromisoformat(AS_OF))
    finished = time.perf_counter()
    counts = findings["kind"].value_counts().to_dict()
    return {"seconds": finished - started, "read_seconds": read_done - started, "rows": len(marks),
            "rejects": len(rejects), "findings": counts}


def child(which: str) -> None:
    result = run_pyarrow() if which == "pyarrow" else run_register()
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=["pyarrow", "register"])
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    results: dict[str, list[dict]] = {"pyarrow": [], "register": []}
    for _ in range(args.runs):
        for which in results:
            output = subprocess.run([sys.executable, __file__, "--child", which], check=True, capture_output=True, text=True)
            results[which].append(json.loads(output.stdout))
    for which, runs in results.items():
        seconds = [r["seconds"] for r in runs]
        print(f"{which}: median {statistics.median(seconds):.2f} s (runs {', '.join(f'{s:.2f}' for s in seconds)}), "
              f"peak RSS {max(r['peak_rss_mib'] for r in runs):.0f} MiB")
    print("register details:", json.dumps(results["register"][-1]))
    ratio = statistics.median(r["seconds"] for r in results["register"]) / statistics.median(r["seconds"] for r in results["pyarrow"])
    print(f"register check / pyarrow read: {ratio:.2f}x")


if __name__ == "__main__":
    main()
