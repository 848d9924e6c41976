"""Generate large Capita ONE B2B-style exclusion XML files for the XML connector benchmark.

Writes two files in the wrapper of sync-agent's B2B writer (``B2BExclusions/Header``, then
``Pupils/Pupil`` with ``UPN``, names and ``DOB``, then ``Exclusions/Exclusion``):

- ``b2b.xml``: 200,000 pupils and about 280,000 exclusions, each pupil with an address, two
  contacts and an SEN block that the ``b2b-xml`` mapping skips (about 250 MB);
- ``b2b-detail.xml``: the same pupils and exclusions with twice the skipped pupil detail (two
  addresses, four contacts, two SEN blocks), to show that memory follows the records kept.

Both reason shapes occur (``Reasons/Reason`` and a single ``Reason``), and about one exclusion in
eight starts in the PM. The output is the same on every run (fixed random seed).

    python benchmarks/generate_b2b_xml.py --pupils 200000 --out benchmarks/data/xml
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path
from xml.sax.saxutils import escape

from sync_agent.upn import check_letter

LAESTAB = "9404123"
REASONS = ["PP", "PA", "VP", "VA", "OW", "BU", "RA", "LG", "DS", "SM", "DA", "DM", "TH", "DB", "MT"]
SURNAMES = ["Ashworth", "Okafor", "Nguyen", "Patel", "O'Brien", "Kowalski", "Smith", "Jones", "Ahmed", "Taylor",
            "Brown", "Williams", "Evans", "Khan", "Murphy", "Davies", "Hughes", "Clarke", "Walker", "Wright"]
FORENAMES = ["Milo", "Tamsin", "Jude", "Niamh", "Zoe", "Oscar", "Amara", "Leo", "Isla", "Yusuf", "Freya", "Kai"]
STREETS = ["Station Road", "Church Lane", "Victoria Street", "Mill Lane", "The Crescent", "Park Avenue"]
TOWNS = ["Kettering", "Corby", "Wellingborough", "Rushden", "Desborough", "Raunds"]
# Exclusions per pupil, with weights giving about 1.4 exclusions per pupil on average.
EXCLUSION_COUNTS = ([0] * 2) + ([1] * 4) + ([2] * 2) + ([3] * 2)
FIRST_DAY = dt.date(2024, 9, 4)


def upn(serial: int) -> str:
    """Return a distinct valid UPN for each serial below 10,000,000."""
    body = f"{LAESTAB[:3]}{serial // 1000 % 10000:04d}{24 + serial // 10_000_000:02d}{serial % 1000:03d}"
    return check_letter(body) + body


def school_day(rng: random.Random) -> dt.date:
    day = FIRST_DAY + dt.timedelta(days=rng.randrange(300))
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def add_school_days(day: dt.date, count: int) -> dt.date:
    while count > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def exclusion_xml(rng: random.Random) -> str:
    """Return one Exclusion element: a suspension (most), a lunchtime or a permanent exclusion."""
    start = school_day(rng)
    start_time = "PM" if rng.random() < 0.125 else "AM"
    reasons = rng.sample(REASONS, rng.choice([1, 1, 2, 3]))
    if rng.random() < 0.5:
        reason_xml = "<Reasons>" + "".join(f"<Reason>{r}</Reason>" for r in reasons) + "</Reasons>"
    else:
        reason_xml = f"<Reason>{reasons[0]}</Reason>"
    kind = rng.random()
    if kind < 0.01:
        return (f"<Exclusion><Category>PERM</Category>{reason_xml}<StartDate>{start}</StartDate>"
                f"<StartTime>{start_time}</StartTime></Exclusion>")
    if kind < 0.1:
        lunchtimes = rng.randint(1, 3)
        end = add_school_days(start, lunchtimes - 1)
        return (f"<Exclusion><Category>LNCH</Category>{reason_xml}<StartDate>{start}</StartDate>"
                f"<StartTime>PM</StartTime><EndDate>{end}</EndDate><SchoolDays>{lunchtimes / 2:.1f}</SchoolDays>"
                "</Exclusion>")
    sessions = rng.randint(1, 10)
    first_is_pm = start_time == "PM"
    end = add_school_days(start, (sessions + first_is_pm - 1) // 2)
    return (f"<Exclusion><Category>FIXD</Category>{reason_xml}<StartDate>{start}</StartDate>"
            f"<StartTime>{start_time}</StartTime><EndDate>{end}</EndDate>"
            f"<SchoolDays>{sessions / 2:.1f}</SchoolDays></Exclusion>")


def detail_xml(rng: random.Random, copies: int) -> str:
    """Return pupil detail the mapping skips: addresses, contacts and SEN, ``copies`` times over."""
    parts = []
    for copy in range(copies):
        house = rng.randint(1, 200)
        street, town = rng.choice(STREETS), rng.choice(TOWNS)
        parts.append(
            f"<Address><PAON>{house}</PAON><Street>{street}</Street><Town>{town}</Town><County>Northamptonshire</County><PostCode>NN{rng.randint(1, 18)} "
            f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}</PostCode>"
            "</Address>"
        )
        for order in (1, 2):
            surname = escape(rng.choice(SURNAMES))
            parts.append(
                f"<Contact><Order>{order + 2 * copy}</Order>"
                f"<Surname>{surname}</Surname><Forename>{rng.choice(FORENAMES)}</Forename>"
                f"<Relationship>{rng.choice(['Mother', 'Father', 'Carer', 'Grandparent'])}</Relationship>"
                f"<Phone><Type>Mobile</Type><Number>07{rng.randint(100000000, 999999999)}</Number></Phone>"
                f"<Email>{surname.lower().replace('&apos;', '')}{rng.randint(1, 999)}@example.org</Email>"
                "</Contact>"
            )
        parts.append(
            f"<SENHistory><SEN><StartDate>{school_day(rng)}</StartDate>"
            f"<SENprovision>{rng.choice(['N', 'K', 'E'])}</SENprovision>"
            f"<SENneeds><SENneed><Type>{rng.choice(['SEMH', 'SLCN', 'SPLD', 'ASD'])}</Type><Rank>1</Rank></SENneed>"
            "</SENneeds></SEN></SENHistory>"
        )
    return "".join(parts)


def write_file(path: Path, pupils: int, detail_copies: int, seed: int) -> int:
    """Write one file; return the number of exclusions written."""
    rng = random.Random(seed)
    detail_rng = random.Random(seed + detail_copies)
    exclusions = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<B2BExclusions version="1">\n')
        out.write(f"<Header><LAESTAB>{LAESTAB}</LAESTAB><CreatedAt>2025-07-23T07:00:00+00:00</CreatedAt>"
                  "<Software>benchmark generator</Software></Header>\n<Pupils>\n")
        for serial in range(pupils):
            count = rng.choice(EXCLUSION_COUNTS)
            dob = dt.date(2008, 9, 1) + dt.timedelta(days=rng.randrange(2900))
            surname = escape(rng.choice(SURNAMES))
            out.write(f"<Pupil><UPN>{upn(serial)}</UPN><Surname>{surname}</Surname>"
                      f"<Forename>{rng.choice(FORENAMES)}</Forename><DOB>{dob}</DOB>")
            out.write(detail_xml(detail_rng, detail_copies))
            out.write("<Exclusions>" + "".join(exclusion_xml(rng) for _ in range(count)) + "</Exclusions></Pupil>\n")
            exclusions += count
        out.write("</Pupils>\n</B2BExclusions>\n")
    return exclusions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pupils", type=int, default=200_000, help="number of pupils (default 200000)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data/xml"), help="output folder")
    parser.add_argument("--seed", type=int, default=20250723, help="random seed")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, copies in (("b2b.xml", 1), ("b2b-detail.xml", 2)):
        path = args.out / name
        count = write_file(path, args.pupils, copies, args.seed)
        print(f"{path}: {args.pupils} pupils, {count} exclusions, {path.stat().st_size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
