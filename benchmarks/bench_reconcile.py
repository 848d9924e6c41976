"""Benchmark the reconcile path against datacompy on the same data.

Times, as medians of ``--runs`` runs in one process:

- ``compare``: our comparison step alone (duplicates, exact and near-miss matching, every field
  compare, missing records) on validated frames already in memory;
- ``datacompy``: datacompy's ``PandasCompare`` (called ``Compare`` before datacompy 1.1) on the
  same two frames, joined on the exact key;
- ``reconcile_to_json_csv``: the whole run from the CSV files to ``reconciliation.json`` and
  ``reconciliation.csv`` (extract, map, validate, reconcile, result model, both writers);
- ``html`` and ``xlsx``: those two writers alone.

Peak memory is the resident set size of a separate process that runs one whole reconcile with every
report. datacompy 1.1 needs pandas below 3.1 and sync-agent needs 3.1, so datacompy runs in a
second environment, started by this script on the same two frames (handed over as Parquet files and
loaded before its clock starts):

    python -m venv /tmp/venv-datacompy
    /tmp/venv-datacompy/bin/pip install "datacompy==1.1.0" "pandas>=3.0,<3.1" pyarrow
    python benchmarks/generate_reconcile.py --records 200000 --out benchmarks/data/reconcile
    python benchmarks/bench_reconcile.py --data benchmarks/data/reconcile --runs 5 \
        --datacompy-python /tmp/venv-datacompy/bin/python
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AS_OF = dt.date(2025, 7, 23)


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _median(function, runs: int) -> float:
    return statistics.median(_timed(function) for _ in range(runs))


def _datacompy_frames(mis, portal):
    columns = ["laestab", "upn", "start_date", "start_session", "category", "end_date", "end_session", "sessions",
               "reason_1", "reason_2", "reason_3", "status"]
    left = mis[columns].copy()
    right = portal[columns].copy()
    for frame in (left, right):
        frame["start_session"] = frame["start_session"].fillna("")
    return left, right


DATACOMPY_SCRIPT = """
import json, statistics, sys, time
import datacompy, pandas as pd
left = pd.read_parquet(sys.argv[1])
right = pd.read_parquet(sys.argv[2])
runs = int(sys.argv[3])
compare_class = getattr(datacompy, "PandasCompare", None) or datacompy.Compare
times = []
for _ in range(runs):
    start = time.perf_counter()
    comparison = compare_class(left, right, join_columns=["laestab", "upn", "start_date", "start_session"],
                               df1_name="mis", df2_name="portal")
    comparison.matches()
    comparison.all_mismatch()
    times.append(time.perf_counter() - start)
print(json.dumps({"median": statistics.median(times), "datacompy": datacompy.__version__,
                  "pandas": pd.__version__}))
"""


def run_datacompy(left, right, python: str, runs: int) -> dict:
    """Time datacompy's compare in the given interpreter on the same frames (Parquet hand-over)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-datacompy-"))
    left.to_parquet(folder / "mis.parquet")
    right.to_parquet(folder / "portal.parquet")
    output = subprocess.run([python, "-c", DATACOMPY_SCRIPT, str(folder / "mis.parquet"),
                             str(folder / "portal.parquet"), str(runs)], capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def measure(data: Path, runs: int, datacompy_python: str) -> dict:
    from sync_agent.config import load_config
    from sync_agent.pipeline import build_calendar, run_reconcile
    from sync_agent.reconcile import ReconcileInput, reconcile
    from sync_agent.reports.csv_report import write_findings_csv
    from sync_agent.reports.html_report import write_html
    from sync_agent.reports.json_report import write_json
    from sync_agent.reports.xlsx_report import write_xlsx

    config = load_config(data / "agent.toml")
    outcome = run_reconcile(config, as_of=AS_OF)
    calendar = build_calendar(config)
    out = Path(tempfile.mkdtemp(prefix="bench-reconcile-"))

    def whole() -> None:
        result = run_reconcile(config, as_of=AS_OF).result
        write_json(result, out / "reconciliation.json")
        write_findings_csv(result, out / "reconciliation.csv")

    def compare() -> None:
        reconcile(ReconcileInput(mis=outcome.mis, portal=outcome.portal, as_of=AS_OF, calendar=calendar))

    left, right = _datacompy_frames(outcome.mis, outcome.portal)
    figures = {
        "records": {"mis": len(outcome.mis), "portal": len(outcome.portal)},
        "findings": outcome.result.summary,
        "compare": _median(compare, runs),
        "datacompy_run": run_datacompy(left, right, datacompy_python, runs),
        "reconcile_to_json_csv": _median(whole, runs),
        "html": _median(lambda: write_html(outcome.result, out / "reconciliation.html"), runs),
        "xlsx": _median(lambda: write_xlsx(outcome.result, out / "reconciliation.xlsx"), runs),
    }
    return figures


def peak_memory(data: Path) -> float:
    """Return the peak resident set size in MiB of one whole reconcile with every report."""
    code = (
        "import datetime as dt, resource, tempfile\n"
        "from pathlib import Path\n"
        "from sync_agent.config import load_config\n"
        "from sync_agent.pipeline import run_reconcile\n"
        "from sync_agent.reports import write_reports\n"
        f"config = load_config(Path({str(data / 'agent.toml')!r}))\n"
        f"outcome = run_reconcile(config, as_of=dt.date({AS_OF.year}, {AS_OF.month}, {AS_OF.day}))\n"
        "write_reports(outcome.result, Path(tempfile.mkdtemp()), out=Path(tempfile.mkdtemp()), "
        "now=dt.datetime.now(dt.timezone.utc))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(output.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the reconcile path against datacompy.")
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data/reconcile"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--datacompy-python", default=sys.executable,
                        help="Python of an environment with datacompy 1.1 and pandas below 3.1.")
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    import pandas

    figures = measure(args.data, args.runs, args.datacompy_python)
    figures["datacompy"] = figures["datacompy_run"]["median"]
    figures["peak_rss_mib"] = peak_memory(args.data)
    figures["environment"] = {
        "python": platform.python_version(), "pandas": pandas.__version__,
        "datacompy": figures["datacompy_run"]["datacompy"], "datacompy_pandas": figures["datacompy_run"]["pandas"],
        "machine": platform.machine(), "cpus": __import__("os").cpu_count(),
    }
    figures["targets"] = {
        "compare_within_datacompy": figures["compare"] <= figures["datacompy"],
        "whole_within_5x_datacompy": figures["reconcile_to_json_csv"] <= 5 * figures["datacompy"],
        "peak_under_1_5_gb": figures["peak_rss_mib"] < 1536,
    }
    print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
