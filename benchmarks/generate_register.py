"""Generate an LA-sized register for the register-check benchmark.

Writes ``benchmarks/data/register/attendance.csv`` in the ``sims-attendance-csv`` shape (one row
per pupil per school session: 60,000 pupils by the 380 sessions of 2024-25 in the sample school's
term dates, about 23 million rows) and ``exclusions.csv`` in the ``sims-csv`` shape (6,000
suspensions of 1 to 10 sessions). Covered sessions are marked ``E``; about 1% of suspensions carry
a wrong mark and 1,000 pupils have an ``E`` no exclusion explains. The output is the same on every
run (fixed seed). Usage: ``python benchmarks/generate_register.py [--pupils N] [--suspensions N]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sync_agent.calendar import SchoolCalendar
from sync_agent.upn import check_letter

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "data" / "register"
TERM_DATES = ROOT / "sample_data" / "term-dates.toml"
FIRST_DAY = np.datetime64("2024-09-04")
LAST_DAY = np.datetime64("2025-07-22")
SEED = 380


def upns(count: int) -> list[str]:
    """Return ``count`` distinct valid UPNs (at most 90,000): 300 schools, year and serial from the index."""
    bodies = [f"940{4000 + i // 200:04d}{(i % 90) + 10:02d}{i // 90 % 1000:03d}" for i in range(count)]
    return [check_letter(b) + b for b in bodies]


def school_sessions(calendar: SchoolCalendar) -> tuple[np.ndarray, np.ndarray]:
    days = np.arange(FIRST_DAY, LAST_DAY + 1)
    school = days[calendar.school_days_between(days, days + 1) == 1]
    return np.repeat(school, 2), np.tile(np.array(["AM", "PM"]), len(school))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=60_000)
    parser.add_argument("--suspensions", type=int, default=6_000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    calendar = SchoolCalendar.from_file(TERM_DATES)
    rng = np.random.default_rng(SEED)
    pupils = upns(args.pupils)
    days, halves = school_sessions(calendar)
    session_count = len(days)

    codes = np.full((session_count, args.pupils), "/", dtype="<U1")
    codes[1::2] = "\\"
    absent = rng.random(codes.shape) < 0.03
    codes[absent] = rng.choice(np.array(["I", "M", "O", "C"]), size=int(absent.sum()))

    suspended = rng.integers(0, args.pupils, args.suspensions)
    starts = rng.integers(0, session_count - 12, args.suspensions)
    lengths = rng.integers(1, 11, args.suspensions)
    exclusion_rows = []
    dmy = [str(d.astype("datetime64[D]").item().strftime("%d/%m/%Y")) for d in days]
    for pupil, start, length in zip(suspended, starts, lengths):
        codes[start:start + length, pupil] = "E"
        if rng.random() < 0.01:
            codes[start + length - 1, pupil] = "O"
        end = start + length - 1
        exclusion_rows.append(f"{pupils[pupil]},Bench,Pupil,01/01/2012,Suspension,{dmy[start]},{halves[start]},"
                              f"{dmy[end]},{halves[end]},{length},DB,,")
    stray = rng.integers(0, args.pupils, 1000)
    codes[rng.integers(0, session_count, 1000), stray] = "E"

    with (OUT / "exclusions.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write("UPN,Legal Surname,Legal Forename,DOB,Exclusion Type,Start Date,Start Session,End Date,"
                     "End Session,Sessions,Reason,Reason 2,Reason 3\r\n")
        handle.write("\r\n".join(exclusion_rows) + "\r\n")

    prefixes = [p + "," for p in pupils]
    with (OUT / "attendance.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write("UPN,Date,Session,Mark\n")
        for index in range(session_count):
            suffix = f"{dmy[index]},{halves[index]},"
            handle.write("".join(p + suffix + c + "\n" for p, c in zip(prefixes, codes[index].tolist())))
    print(f"wrote {session_count * args.pupils} marks and {args.suspensions} suspensions to {OUT}")


if __name__ == "__main__":
    main()
