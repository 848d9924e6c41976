"""Generate a large MIS exclusions export and portal export for the reconcile benchmark.

Writes ``mis.csv`` (the sims-csv shape) and ``portal.csv`` (the portal-csv shape) plus an
``agent.toml`` into the output folder. About 97% of records appear on both sides; the rest are
planted differences of every kind the reconcile step reports: records missing on either side,
field mismatches on every compared field, starts one school day out, corrected UPNs, duplicates
and temporary UPNs.

    python benchmarks/generate_reconcile.py --records 200000 --out benchmarks/data/reconcile
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

import numpy as np

from sync_agent.calendar import SchoolCalendar
from sync_agent.upn import check_letter

LAESTAB = "9404123"
REASONS = ["PP", "PA", "VP", "VA", "OW", "BU", "RA", "LG", "DS", "SM", "DA", "DM", "TH", "DB", "MT"]
SURNAMES = ["Ashworth", "Okafor", "Nguyen", "Patel", "O'Brien", "Kowalski", "Smith", "Jones", "Ahmed", "Taylor",
            "Brown", "Williams", "Evans", "Khan", "Murphy", "Davies", "Hughes", "Clarke", "Walker", "Wright"]
FORENAMES = ["Milo", "Tamsin", "Jude", "Niamh", "Zoe", "Oscar", "Amara", "Leo", "Isla", "Yusuf", "Freya", "Kai"]
MIS_HEADER = ["UPN", "Legal Surname", "Legal Forename", "DOB", "Exclusion Type", "Start Date", "Start Session",
              "End Date", "End Session", "Sessions", "Reason", "Reason 2", "Reason 3"]
PORTAL_HEADER = ["Portal ID", "LAESTAB", "UPN", "Surname", "Forename", "Date of Birth", "Category", "Start Date",
                 "Start Session", "End Date", "End Session", "Sessions", "Reason 1", "Reason 2", "Reason 3"]
CATEGORY_CODES = {"suspension": "FIXD", "permanent": "PERM", "lunchtime": "LNCH"}
CATEGORY_LABELS = {"suspension": "Suspension", "permanent": "Permanent", "lunchtime": "Lunchtime"}


def make_upn(serial: int, temporary: bool = False) -> str:
    body = f"940{LAESTAB[3:]}{serial // 1000 % 100:02d}{serial % 1000:03d}"
    if temporary:
        body = body[:-1] + "A"
    return check_letter(body) + body


def school_days(calendar: SchoolCalendar, first: dt.date, last: dt.date) -> list[dt.date]:
    days, day = [], first
    while day <= last:
        if calendar.is_school_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def make_records(count: int, rng: random.Random, calendar: SchoolCalendar) -> list[dict]:
    days = school_days(calendar, dt.date(2024, 9, 4), dt.date(2025, 7, 18))
    pupils = max(count // 2, 1)
    records = []
    seen = set()
    while len(records) < count:
        serial = rng.randrange(pupils) + (len(records) // 100_000) * 100_000
        pupil = serial % pupils
        category = rng.choices(["suspension", "lunchtime", "permanent"], weights=[90, 9, 1])[0]
        start = rng.choice(days[:-12])
        session = rng.choice(["AM", "PM"])
        key = (serial, start, session)
        if key in seen:
            continue
        seen.add(key)
        record = {
            "upn": make_upn(serial),
            "surname": SURNAMES[pupil % len(SURNAMES)],
            "forename": FORENAMES[pupil // len(SURNAMES) % len(FORENAMES)],
            "dob": dt.date(2010, 1, 1) + dt.timedelta(days=pupil % 1500),
            "category": category,
            "start": start,
            "start_session": session,
            "reasons": rng.sample(REASONS, rng.choice([1, 1, 2, 3])),
        }
        if category == "permanent":
            record.update(end=None, end_session="", sessions="")
        elif category == "lunchtime":
            record.update(end=start, end_session="PM", sessions=1, start_session="PM")
        else:
            sessions = rng.choice([1, 2, 2, 3, 4, 4, 6, 10])
            end_date, end_session = calendar.nth_session(start, session, sessions - 1)
            record.update(end=end_date, end_session=end_session, sessions=sessions)
        records.append(record)
    return records


def plant_differences(records: list[dict], rng: random.Random, calendar: SchoolCalendar) -> tuple[list, list, dict]:
    """Return (mis, portal, counts): 97% shared, the rest planted differences of every kind."""
    mis = [dict(r) for r in records]
    portal = [dict(r) for r in records]
    indexes = list(range(len(records)))
    rng.shuffle(indexes)
    share = len(records) // 200  # 0.5% per kind of difference
    counts: dict[str, int] = {}
    cursor = 0

    def take() -> list[int]:
        nonlocal cursor
        chosen = indexes[cursor:cursor + share]
        cursor += share
        return chosen

    drop_portal = set(take())
    counts["missing_on_portal"] = len(drop_portal)
    drop_mis = set(take())
    counts["missing_in_mis"] = len(drop_mis)
    for i in take():
        if portal[i]["category"] == "suspension" and portal[i]["end"]:
            portal[i]["end"] = calendar.add_school_days(portal[i]["end"], 1)
    counts["field_mismatch:end_date"] = share
    for i in take():
        portal[i]["reasons"] = [r for r in REASONS if r not in portal[i]["reasons"]][:1] + portal[i]["reasons"][1:]
    counts["field_mismatch:main_reason"] = share
    for i in take():
        if portal[i]["category"] == "suspension":
            portal[i]["start"] = calendar.add_school_days(portal[i]["start"], 1)
    counts["field_mismatch:start_date"] = share
    for i in take():
        portal[i]["upn"] = make_upn(900_000 + i)
    counts["field_mismatch:upn"] = share
    duplicates = [dict(portal[i]) for i in take() if i not in drop_portal]
    counts["duplicate_record"] = len(duplicates)
    portal_rows = [p for i, p in enumerate(portal) if i not in drop_portal] + duplicates
    mis_rows = [m for i, m in enumerate(mis) if i not in drop_mis]
    rng.shuffle(portal_rows)
    return mis_rows, portal_rows, counts


def _date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def write_mis(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(MIS_HEADER)
        for r in rows:
            reasons = (r["reasons"] + ["", "", ""])[:3]
            writer.writerow([r["upn"], r["surname"], r["forename"], _date(r["dob"]), CATEGORY_LABELS[r["category"]],
                             _date(r["start"]), r["start_session"], _date(r["end"]), r["end_session"],
                             r["sessions"], *reasons])


def write_portal(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(PORTAL_HEADER)
        for n, r in enumerate(rows, start=1):
            reasons = (r["reasons"] + ["", "", ""])[:3]
            writer.writerow([f"EX-{n}", LAESTAB, r["upn"], r["surname"], r["forename"], _date(r["dob"]),
                             CATEGORY_CODES[r["category"]], _date(r["start"]), r["start_session"], _date(r["end"]),
                             r["end_session"], r["sessions"], *reasons])


CONFIG = """[school]
laestab = "9404123"
name = "Benchmark School"

[[sources]]
kind = "exclusions"
path = "mis.csv"
mapping = "sims-csv"
settle_seconds = 0

[portal]
mode = "export"
path = "portal.csv"
mapping = "portal-csv"

[period]
academic_year = "2024-25"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20241)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data/reconcile"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    np.random.seed(args.seed)
    calendar = SchoolCalendar.england()
    records = make_records(args.records, rng, calendar)
    mis, portal, counts = plant_differences(records, rng, calendar)
    args.out.mkdir(parents=True, exist_ok=True)
    write_mis(mis, args.out / "mis.csv")
    write_portal(portal, args.out / "portal.csv")
    (args.out / "agent.toml").write_text(CONFIG, encoding="utf-8")
    print(f"wrote {len(mis)} MIS and {len(portal)} portal records to {args.out}; planted: {counts}")


if __name__ == "__main__":
    main()
