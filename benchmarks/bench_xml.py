"""Time the XML connector against a bare lxml loop, and measure peak memory on two B2B files.

Each measurement runs in a fresh Python process, so its peak resident set size (``ru_maxrss``)
belongs to that run alone. The process also reports its RSS after imports and before reading, so
the growth from reading the file is shown apart from the interpreter and libraries.

- ``bare``: ``lxml.etree.iterparse`` over the file, keeping the fields the ``b2b-xml`` mapping reads
  as tuples of strings, clearing each pupil when it ends and deleting earlier pupils. No safety
  checks, no mapping, no validation: the floor for reading these fields with lxml.
- ``ours``: the project's extract step (the hardened streaming reader) with the ``b2b-xml``
  mapping, then ``map_records`` and ``validate_records``: typed, checked exclusion records.

    python benchmarks/generate_b2b_xml.py --out benchmarks/data/xml
    python benchmarks/bench_xml.py --data benchmarks/data/xml --repeat 3
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

FILES = ("b2b.xml", "b2b-detail.xml")
MODES = ("bare", "bare-every-element", "ours")
# Elements a later record still reads: the same set the b2b-xml mapping's paths name.
_KEPT = frozenset({"Header", "LAESTAB", "UPN", "Surname", "Forename", "DOB", "Category", "Reasons", "Reason",
                   "StartDate", "StartTime", "EndDate", "EndTime", "SchoolDays"})


def rss_mib() -> float:
    """Return this process's current resident set size in MiB (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def run_bare(path: Path) -> int:
    """Read the mapped fields with a plain iterparse loop; return the number of exclusions."""
    from lxml import etree

    rows = []
    laestab = None
    for _event, element in etree.iterparse(str(path), events=("end",), tag=("Exclusion", "Pupil", "LAESTAB")):
        tag = element.tag
        if tag == "Exclusion":
            rows.append(_exclusion_row(element, laestab))
        elif tag == "Pupil":
            element.clear()
            while element.getprevious() is not None:
                del element.getparent()[0]
        else:
            laestab = element.text
    return len(rows)


def run_bare_every_element(path: Path) -> int:
    """Read the same fields handling every end event, as the project's reader did before.

    (The reader now lets libxml2 filter the events.) Each finished element is cleared and its
    previous sibling deleted, unless a later record still needs it (the pupil's details, an
    exclusion's children). This keeps memory flat without knowing the wrapper, and shows what
    waking Python for every element costs.
    """
    from lxml import etree

    rows = []
    laestab = None
    for _event, element in etree.iterparse(str(path), events=("end",)):
        tag = element.tag
        if tag == "Exclusion":
            rows.append(_exclusion_row(element, laestab))
        elif tag == "LAESTAB":
            laestab = element.text
        if tag not in _KEPT:
            element.clear()
        previous = element.getprevious()
        if previous is not None and previous.tag not in _KEPT:
            element.getparent().remove(previous)
    return len(rows)


def _exclusion_row(element, laestab: str | None) -> tuple:
    pupil = element.getparent().getparent()
    values = {child.tag: child.text for child in element}
    reasons = element.find("Reasons")
    listed = [r.text for r in reasons] if reasons is not None else [values.get("Reason")]
    listed += [None, None, None]
    return (
        laestab, pupil.findtext("UPN"), pupil.findtext("Surname"), pupil.findtext("Forename"),
        pupil.findtext("DOB"), values.get("Category"), listed[0], listed[1], listed[2],
        values.get("StartDate"), values.get("StartTime"), values.get("EndDate"), values.get("EndTime"),
        values.get("SchoolDays"),
    )


def run_ours(path: Path) -> int:
    """Read, map and validate the file as a reconcile does; return the number of accepted records."""
    from sync_agent.codelists import reason_codes
    from sync_agent.extract import extract
    from sync_agent.mapper import map_records
    from sync_agent.mapping import load_mapping
    from sync_agent.validate import validate_records

    mapping = load_mapping("b2b-xml")
    raw = extract(path, mapping)
    mapped = map_records(raw, mapping, defaults={"laestab": "9404123"})
    validated = validate_records(mapped, mapping, reason_codes())
    if len(validated.rejects):
        raise SystemExit(f"{path}: {len(validated.rejects)} rejects; regenerate the data")
    return len(validated.records)


def run_one(mode: str, path: Path) -> dict:
    """Run one measurement in this process and return its figures."""
    if mode == "ours":
        # Import the project before measuring, as the bare loop imports lxml only.
        import sync_agent.validate  # noqa: F401
    from lxml import etree  # noqa: F401

    before = rss_mib()
    started = time.perf_counter()
    cpu_started = time.process_time()
    runner = {"bare": run_bare, "bare-every-element": run_bare_every_element, "ours": run_ours}[mode]
    records = runner(path)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "file": path.name, "records": records, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "rss_before_mib": before, "peak_rss_mib": peak}


def measure(mode: str, path: Path) -> dict:
    output = subprocess.run([sys.executable, __file__, "--one", mode, str(path)],
                            check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as handle:
        total_kib = int(handle.readline().split()[1])
    import os

    import lxml.etree

    return (f"{os.cpu_count()} CPUs ({cpu}), {total_kib / 2**20:.0f} GiB memory, Python {platform.python_version()}, "
            f"lxml {'.'.join(map(str, lxml.etree.LXML_VERSION[:3]))}, libxml2 "
            f"{'.'.join(map(str, lxml.etree.LIBXML_VERSION))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data/xml"), help="folder of the generated files")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode and file; the median is reported")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], Path(args.one[1]))))
        return

    print(machine())
    for name in FILES:
        path = args.data / name
        size = path.stat().st_size / 2**20
        results = {}
        for mode in MODES:
            runs = [measure(mode, path) for _ in range(args.repeat)]
            results[mode] = runs
            seconds = statistics.median(r["seconds"] for r in runs)
            cpu = statistics.median(r["cpu_seconds"] for r in runs)
            peak = statistics.median(r["peak_rss_mib"] for r in runs)
            before = statistics.median(r["rss_before_mib"] for r in runs)
            each = ", ".join(f"{r['seconds']:.2f}" for r in runs)
            print(f"{name} ({size:.0f} MiB, {runs[0]['records']} exclusions) {mode}: median {seconds:.2f} s "
                  f"(runs {each}), CPU {cpu:.2f} s, {runs[0]['records'] / cpu:,.0f} records per CPU second, "
                  f"peak RSS {peak:.0f} MiB "
                  f"({peak - before:.0f} MiB above the {before:.0f} MiB after imports)")
        for measure_name in ("seconds", "cpu_seconds"):
            ratio = statistics.median(r[measure_name] for r in results["ours"]) / statistics.median(
                r[measure_name] for r in results["bare"])
            print(f"{name}: ours takes {ratio:.2f}x the bare loop's {measure_name.replace('_', ' ')}")


if __name__ == "__main__":
    main()
