"""Generate a synthetic LA for the bulk-import benchmark: 300 school folders and an LA portal export.

The defaults follow a mid-size LA: 300 schools, 60,000 pupils (200 per school), 6,000
suspensions, 70 permanent exclusions and 300 lunchtime exclusions in 2024-25. Even-numbered
schools save the SIMS exclusions report as CSV (``exclusions.csv``), odd-numbered ones as SIMS
"Unicode text" (tab-separated UTF-16, ``exclusions.txt``); both read with the built-in ``sims-csv``
mapping. The portal export contains about 97% of the records; the rest are missing on the portal. 40
pupils are suspended at two neighbouring schools, some over overlapping dates and some for more
than 45 days in all, so the LA-wide checks have work to do. With ``--marks`` every school also
gets a register export (``attendance.csv``, ``sims-attendance-csv``): every pupil on every school
session of the year, ``E`` on the sessions a suspension or permanent exclusion covers. The 40 pupils
suspended at a second school are dual registered there, so they are on both registers and marked
present at one school on sessions the other marks ``E``: the dual-registration check has conflicts
to find.

    python benchmarks/generate_la.py --out benchmarks/data/la [--marks]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import shutil
from pathlib import Path

import numpy as np

from sync_agent.calendar import SchoolCalendar
from sync_agent.upn import check_letter

HERE = Path(__file__).resolve().parent
TERM_DATES = HERE.parent / "sample_data" / "la" / "term-dates.toml"
SEED = 20250723
REASONS = ["PP", "PA", "VP", "VA", "BU", "DM", "DB", "TH"]
SURNAMES = ["Ashworth", "Okafor", "Nguyen", "Patel", "O'Brien", "Kowalski", "Smith", "Jones", "Ahmed", "Taylor"]
FORENAMES = ["Milo", "Tamsin", "Jude", "Niamh", "Zoe", "Oscar", "Amara", "Leo", "Isla", "Yusuf"]
SIMS_HEADER = ["UPN", "Legal Surname", "Legal Forename", "DOB", "Exclusion Type", "Start Date", "Start Session",
               "End Date", "End Session", "Sessions", "Reason", "Reason 2", "Reason 3"]
PORTAL_HEADER = ["Portal ID", "LAESTAB", "UPN", "Surname", "Forename", "Date of Birth", "Category", "Start Date",
                 "Start Session", "End Date", "End Session", "Sessions", "Reason 1", "Reason 2", "Reason 3"]
LABELS = {"suspension": "Suspension", "permanent": "Permanent", "lunchtime": "Lunchtime"}
CODES = {"suspension": "FIXD", "permanent": "PERM", "lunchtime": "LNCH"}
CROSS_SCHOOL_PUPILS = 40

LA_TOML = """\
[la]
code = "940"
name = "Benchmark LA"

[[sources]]
kind = "exclusions"
path = "exclusions.csv"
mapping = "sims-csv"
settle_seconds = 0

[[sources]]
kind = "exclusions"
path = "exclusions.txt"
mapping = "sims-csv"
settle_seconds = 0

[[sources]]
kind = "attendance"
path = "attendance.csv"
mapping = "sims-attendance-csv"
settle_seconds = 0

[portal]
mode = "export"
path = "portal/all-schools.csv"
mapping = "portal-csv"

[period]
academic_year = "2024-25"

[calendar]
path = "term-dates.toml"
"""


def school_days(calendar: SchoolCalendar) -> list[dt.date]:
    days, day = [], dt.date(2024, 9, 4)
    while day <= dt.date(2025, 7, 22):
        if calendar.is_school_day(day):
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def make_upn(laestab: str, serial: int) -> str:
    body = f"{laestab}{20 + serial // 1000 % 6:02d}{serial % 1000:03d}"
    return check_letter(body) + body


def uk(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def record(rng: random.Random, days: list[dt.date], laestab: str, upn: str, category: str, first: int,
           sessions: int | None) -> dict:
    """Return one exclusion starting on school day index ``first``."""
    start_session = "PM" if category == "lunchtime" else rng.choice(["AM", "PM"])
    start = days[first]
    end = end_session = None
    if category == "suspension":
        last = 2 * first + (start_session == "PM") + sessions - 1
        end, end_session = days[min(last // 2, len(days) - 1)], ("AM", "PM")[last % 2]
    elif category == "lunchtime":
        end, end_session = days[min(first + sessions - 1, len(days) - 1)], "PM"
    if category == "permanent":
        start_session = "AM"
    reasons = rng.sample(REASONS, rng.choice([1, 1, 2]))
    return {"laestab": laestab, "upn": upn, "surname": rng.choice(SURNAMES), "forename": rng.choice(FORENAMES),
            "dob": dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(2500)), "category": category,
            "start": start, "start_session": start_session, "end": end, "end_session": end_session,
            "sessions": sessions, "reasons": reasons, "first": first}


def plan_school(rng: random.Random, days: list[dt.date], index: int, args) -> list[dict]:
    laestab = f"940{3000 + index}"
    suspensions = args.suspensions // args.schools
    pupils = rng.sample(range(args.pupils // args.schools), suspensions + 2)
    records = []
    for serial in pupils[:suspensions]:
        first = rng.randrange(len(days) - 12)
        records.append(record(rng, days, laestab, make_upn(laestab, serial), "suspension", first,
                              rng.choice([1, 2, 2, 3, 4, 4, 6, 10])))
    if index < args.permanent:
        records.append(record(rng, days, laestab, make_upn(laestab, pupils[-1]), "permanent",
                              rng.randrange(len(days) // 2), None))
    records.append(record(rng, days, laestab, make_upn(laestab, pupils[-2]), "lunchtime",
                          rng.randrange(len(days) - 5), 1))
    return records


def cross_school(rng: random.Random, days: list[dt.date], plans: list[list[dict]]) -> None:
    """Suspend some pupils at the next school too: overlapping dates, or 24 + 24 days in the year."""
    for number in range(CROSS_SCHOOL_PUPILS):
        home = plans[number * 7 % len(plans)]
        other = plans[(number * 7 + 1) % len(plans)]
        pupil = home[0]
        if number % 2:
            copy = record(rng, days, other[0]["laestab"], pupil["upn"], "suspension", pupil["first"], 2)
            other.append(copy)
        else:
            for school, offset in ((home, 0), (other, 90)):
                school.append(record(rng, days, school[0]["laestab"], pupil["upn"], "suspension",
                                     offset + 20 + number % 20, 48))


def table(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def sims_row(r: dict) -> list[str]:
    reasons = (r["reasons"] + ["", "", ""])[:3]
    return [r["upn"], r["surname"], r["forename"], uk(r["dob"]), LABELS[r["category"]], uk(r["start"]),
            r["start_session"], uk(r["end"]), r["end_session"] or "",
            "" if r["sessions"] is None else str(r["sessions"]), *reasons]


def write_school(out: Path, index: int, records: list[dict]) -> None:
    folder = out / records[0]["laestab"]
    folder.mkdir(parents=True, exist_ok=True)
    rows = [sims_row(r) for r in records]
    if index % 2 == 0:
        (folder / "exclusions.csv").write_bytes(table(SIMS_HEADER, rows).encode("utf-8"))
    else:
        (folder / "exclusions.txt").write_bytes(table(SIMS_HEADER, rows, delimiter="\t").encode("utf-16"))


def write_portal(out: Path, rng: random.Random, plans: list[list[dict]]) -> int:
    rows, missing = [], 0
    for records in plans:
        for r in records:
            if rng.random() < 0.03:
                missing += 1
                continue
            row = sims_row(r)
            rows.append([f"EX-{len(rows) + 10000}", r["laestab"], row[0], row[1], row[2], row[3], CODES[r["category"]],
                         *row[5:]])
    rows.append(["EX-99999", "9409999", make_upn("9409999", 1), "Moreno", "Lucia", "12/02/2011", "FIXD",
                 "05/02/2025", "AM", "05/02/2025", "PM", "2", "VA", "", ""])
    (out / "portal").mkdir(parents=True, exist_ok=True)
    (out / "portal" / "all-schools.csv").write_bytes(table(PORTAL_HEADER, rows).encode("utf-8"))
    return missing


def write_marks(out: Path, days: list[dt.date], records: list[dict], pupils: int) -> int:
    """Write every pupil's mark on every school session, ``E`` where an exclusion covers it.

    The register lists the school's own pupils and the pupils of other schools it suspended, who
    are dual registered here.
    """
    laestab = records[0]["laestab"]
    own = [make_upn(laestab, serial) for serial in range(pupils)]
    guests = sorted({r["upn"] for r in records} - set(own))
    upns = np.array(own + guests, dtype=object)
    pupils = len(upns)
    sessions = 2 * len(days)
    codes = np.tile(np.array(["/", "\\"], dtype=object), (pupils, len(days)))
    row_of = {upn: row for row, upn in enumerate(upns)}
    for r in records:
        row = row_of.get(r["upn"])
        if row is None or r["category"] == "lunchtime":
            continue
        first = 2 * r["first"] + (r["start_session"] == "PM")
        last = sessions - 1 if r["category"] == "permanent" else first + r["sessions"] - 1
        codes[row, first:last + 1] = "E"
    day_text = np.array([uk(day) for day in days], dtype=object)
    frame_upn = np.repeat(upns, sessions)
    frame_day = np.tile(np.repeat(day_text, 2), pupils)
    frame_session = np.tile(np.array(["AM", "PM"], dtype=object), pupils * len(days))
    lines = "\r\n".join(",".join(parts) for parts in zip(frame_upn, frame_day, frame_session, codes.ravel()))
    path = out / laestab / "attendance.csv"
    path.write_bytes(("UPN,Date,Session,Mark\r\n" + lines + "\r\n").encode("utf-8"))
    return pupils * sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data" / "la")
    parser.add_argument("--schools", type=int, default=300)
    parser.add_argument("--pupils", type=int, default=60_000)
    parser.add_argument("--suspensions", type=int, default=6_000)
    parser.add_argument("--permanent", type=int, default=70)
    parser.add_argument("--marks", action="store_true", help="also write every school's register export")
    args = parser.parse_args()

    rng = random.Random(SEED)
    calendar = SchoolCalendar.from_file(TERM_DATES)
    days = school_days(calendar)
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    shutil.copy(TERM_DATES, args.out / "term-dates.toml")
    (args.out / "la.toml").write_text(LA_TOML, encoding="utf-8")
    plans = [plan_school(rng, days, index, args) for index in range(args.schools)]
    cross_school(rng, days, plans)
    marks = 0
    for index, records in enumerate(plans):
        write_school(args.out, index, records)
        if args.marks:
            marks += write_marks(args.out, days, records, args.pupils // args.schools)
    missing = write_portal(args.out, rng, plans)
    total = sum(len(records) for records in plans)
    print(f"wrote {args.schools} schools, {total} exclusions ({missing} missing on the portal), {marks} marks "
          f"to {args.out}")


if __name__ == "__main__":
    main()
