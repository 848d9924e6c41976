"""Generate the sample school: a SIMS exclusions export, an LA portal export and their config.

Hawthorn Lane Academy (fictional, LAESTAB 9404123, North Northamptonshire) for the academic year
2024-25. The portal export is the MIS export as the school keyed it on the LA portal, with a known
set of planted differences. ``expected_findings.json`` lists the findings a reconcile with
``--as-of 2025-07-23`` must produce, and the script writes the table in README.md from the same
data.

Run from the repository root with the project's virtualenv::

    python sample_data/generate.py

The output is the same on every run: pupil details come from a fixed random seed and every
exclusion date is written out below. The script ends with a self-check that reads the written
files back and fails loudly if they disagree with this plan.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

from sync_agent.findings import severity_of

HERE = Path(__file__).resolve().parent
SEED = 20240904

SCHOOL_NAME = "Hawthorn Lane Academy"
LA_CODE = "940"
ESTAB = "4123"
LAESTAB = LA_CODE + ESTAB
PERIOD = (date(2024, 8, 1), date(2025, 7, 31))
AS_OF = date(2025, 7, 23)
PRINTED = "Printed 23/07/2025 07:42 by DATAMGR"

MIS_HEADER = [
    "UPN", "Legal Surname", "Legal Forename", "DOB", "Exclusion Type", "Start Date",
    "Start Session", "End Date", "End Session", "Sessions", "Reason", "Reason 2", "Reason 3",
    "Parents Notified", "LA Notified",
]
PORTAL_HEADER = [
    "Portal ID", "LAESTAB", "UPN", "Surname", "Forename", "Date of Birth", "Category",
    "Start Date", "Start Session", "End Date", "End Session", "Sessions",
    "Reason 1", "Reason 2", "Reason 3",
]

# --- calendar --------------------------------------------------------------------------------

# The 2024-25 terms, plus the last term of 2023-24 and the first of 2025-26. The agent's calendar
# covers only the dates from its first term to its last, and the extra terms bring the records of
# June and July 2024 and --as-of dates in the 2025 summer holiday inside it.
TERMS = [
    ("Summer 2", date(2024, 6, 3), date(2024, 7, 19)),
    ("Autumn 1", date(2024, 9, 4), date(2024, 10, 25)),
    ("Autumn 2", date(2024, 11, 4), date(2024, 12, 20)),
    ("Spring 1", date(2025, 1, 6), date(2025, 2, 14)),
    ("Spring 2", date(2025, 2, 24), date(2025, 4, 4)),
    ("Summer 1", date(2025, 4, 22), date(2025, 5, 23)),
    ("Summer 2", date(2025, 6, 2), date(2025, 7, 22)),
    ("Autumn 1", date(2025, 9, 3), date(2025, 10, 24)),
]
INSET_DAYS = [date(2025, 1, 6), date(2025, 6, 27)]
BANK_HOLIDAYS = {
    date(2024, 5, 6), date(2024, 5, 27), date(2024, 8, 26), date(2024, 12, 25),
    date(2024, 12, 26), date(2025, 1, 1), date(2025, 4, 18), date(2025, 4, 21),
    date(2025, 5, 5), date(2025, 5, 26), date(2025, 8, 25),
}


def is_school_day(day: date) -> bool:
    """Return whether ``day`` is a weekday inside a term, not a bank holiday or INSET day."""
    in_term = any(start <= day <= end for _, start, end in TERMS)
    return in_term and day.weekday() < 5 and day not in BANK_HOLIDAYS and day not in INSET_DAYS


def academic_year(day: date) -> str:
    """Return the academic year of ``day`` as "2024-25"; academic years start on 1 August."""
    first = day.year if day.month >= 8 else day.year - 1
    return f"{first}-{(first + 1) % 100:02d}"


def next_school_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_school_day(day):
        day += timedelta(days=1)
    return day


def school_days_from(start: date, count: int) -> list[date]:
    """Return ``count`` school days, the first being ``start`` (which must be a school day)."""
    assert is_school_day(start), f"{start} is not a school day"
    days = [start]
    while len(days) < count:
        days.append(next_school_day(days[-1]))
    return days


def sessions_from(start: date, session: str, count: int) -> list[tuple[date, str]]:
    """Return ``count`` register sessions from ``start``/``session``, skipping non-school days."""
    covered = [(start, session)]
    while len(covered) < count:
        day, last = covered[-1]
        covered.append((day, "PM") if last == "AM" else (next_school_day(day), "AM"))
    return covered


def school_day_distance(first: date, second: date) -> int:
    """Return how many school days separate two school days (0 for the same day)."""
    low, high = sorted((first, second))
    steps = 0
    while low < high:
        low = next_school_day(low)
        steps += 1
    return steps


# --- UPNs ------------------------------------------------------------------------------------

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def check_letter(body: str) -> str:
    """Return the DfE check letter for the 12 characters of a UPN after the check letter.

    Characters 2 to 13 are weighted 2 to 13, and a letter in position 13 (a temporary UPN) counts
    as its index in ``CHECK_LETTERS``. The sum mod 23 indexes ``CHECK_LETTERS``.
    """
    values = [int(c) if c.isdigit() else CHECK_LETTERS.index(c) for c in body]
    return CHECK_LETTERS[sum(v * w for v, w in zip(values, range(2, 14))) % 23]


def is_valid_upn(upn: str) -> bool:
    shaped = re.fullmatch(r"[A-Z]\d{11}[0-9A-Z]", upn) is not None
    return shaped and check_letter(upn[1:]) == upn[0]


def is_temporary_upn(upn: str) -> bool:
    return upn[-1].isalpha()


# --- pupils ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pupil:
    key: str
    surname: str
    forename: str
    dob: date
    upn: str


# (key, legal surname, legal forename, year group in 2024-25). The leaver was in Year 11 in
# 2023-24 and so would be "Year 12" here. Yilmaz joined in January 2025 from abroad with no UPN,
# so the school issued a temporary one.
ROSTER = [
    ("adeyemi", "Adeyemi", "Tobi", 10), ("ali", "Ali", "Hamza", 8),
    ("begum", "Begum", "Rumana", 11), ("brown", "Brown", "Riley", 10),
    ("campbell", "Campbell", "Ellie-Mae", 8), ("clarke", "Clarke", "Leah", 11),
    ("dubois", "Dubois", "Chloé", 9), ("evans", "Evans", "Lacey", 7),
    ("gashi", "Gashi", "Arben", 8), ("hussain", "Hussain", "Zainab", 8),
    ("jones", "Jones", "Macy", 10), ("khan", "Khan", "Yusuf", 7),
    ("kowalski", "Kowalski", "Oliwia", 9), ("lewandowski", "Lewandowski", "Kacper", 7),
    ("mensah", "Mensah", "Kwame", 10), ("murphy", "Murphy", "Tyler", 9),
    ("nowak", "Nowak", "Bartosz", 9), ("oconnell", "O’Connell", "Ciarán", 10),
    ("osei", "Osei", "Nana", 9), ("patel", "Patel", "Aarav", 7),
    ("popescu", "Popescu", "Andrei", 11), ("rahman", "Rahman", "Ibrahim", 10),
    ("richards", "Richards", "Demi", 9), ("silva", "Silva", "Gabriel", 8),
    ("smith_okoro", "Smith-Okoro", "Jayden", 11), ("szabo", "Szabó", "Dominik", 11),
    ("thompson", "Thompson", "Kai", 11), ("walsh", "Walsh", "Connor", 8),
    ("wright", "Wright", "Harvey", 10), ("yilmaz", "Yilmaz", "Emre", 9),
    ("fletcher", "Fletcher", "Brandon", 12),
]
TEMPORARY_UPN_PUPIL = "yilmaz"


def birth_date(rng: random.Random, year_group: int) -> date:
    """Return a date of birth for ``year_group`` in 2024-25 (Year 7: 1 Sep 2012 to 31 Aug 2013)."""
    first = date(2024 - year_group - 5, 9, 1)
    return first + timedelta(days=rng.randrange(365))


def build_pupils(rng: random.Random) -> dict[str, Pupil]:
    """Give each pupil a date of birth and a UPN issued by this school on entry to Year 7.

    The UPN is the LA code, the establishment number, the 2-digit year of entry to Year 7 and a
    3-digit serial. The temporary UPN uses the year it was issued (2025) and the serial ``00A``.
    """
    used: set[str] = set()
    pupils = {}
    for key, surname, forename, year_group in ROSTER:
        dob = birth_date(rng, year_group)
        if key == TEMPORARY_UPN_PUPIL:
            body = f"{LA_CODE}{ESTAB}2500A"
        else:
            year = f"{(2024 - (year_group - 7)) % 100:02d}"
            body = f"{LA_CODE}{ESTAB}{year}{rng.randrange(1, 240):03d}"
            while body in used:
                body = body[:-3] + f"{rng.randrange(1, 240):03d}"
        used.add(body)
        pupils[key] = Pupil(key, surname, forename, dob, check_letter(body) + body)
    return pupils


# --- exclusions ------------------------------------------------------------------------------

CATEGORY_OF_TYPE = {
    "Suspension": "suspension", "Fixed Term": "suspension", "Fixed Period": "suspension",
    "Permanent": "permanent", "Lunchtime": "lunchtime",
}
PORTAL_CATEGORY = {"suspension": "FIXD", "permanent": "PERM", "lunchtime": "LNCH"}
REASON_LABELS = {
    "Persistent or general disruptive behaviour": "DB",
    "Verbal abuse/threatening behaviour against an adult": "VA",
    "Damage": "DM",
    "Physical assault against a pupil": "PP",
    "Bullying": "BU",
}
DB_LABEL = "Persistent or general disruptive behaviour"
VA_LABEL = "Verbal abuse/threatening behaviour against an adult"


@dataclass(frozen=True)
class Plant:
    """A planted difference between the MIS record and the portal.

    ``kind`` is ``missing_on_portal``, ``end_date``, ``main_reason``, ``reasons``, ``start_date``,
    ``duplicate``, ``temporary_upn``, ``previous_year`` or, for portal-only records,
    ``missing_in_mis``. ``portal_value`` is the value keyed on the portal where it differs.
    """

    kind: str
    portal_value: object = None
    note: str = ""


@dataclass(frozen=True)
class LateNotice:
    """A notification planted late: ``recipient`` (``parents`` or ``LA``) was told ``days_late``
    school days after the deadline, which is the school day after the start."""

    recipient: str
    days_late: int
    note: str


@dataclass(frozen=True)
class Exclusion:
    pupil: str
    type_label: str
    start: date
    start_session: str
    sessions: int | None
    reasons: tuple[str, ...]
    plant: Plant | None = None
    late: LateNotice | None = None
    end: date | None = field(default=None)
    end_session: str | None = field(default=None)

    @property
    def category(self) -> str:
        return CATEGORY_OF_TYPE[self.type_label]

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(REASON_LABELS.get(cell, cell) for cell in self.reasons)


def with_end(record: Exclusion) -> Exclusion:
    """Fill in the end date and session from the start and the number of sessions.

    A suspension ends on its last register session. A lunchtime exclusion covers one lunchtime on
    each of ``sessions`` consecutive school days and ends on the day of its last lunchtime. Its
    start and end session are both PM, because the lunch break leads into the afternoon session.
    A permanent exclusion has no end.
    """
    if record.category == "permanent":
        return record
    if record.category == "lunchtime":
        last_day = school_days_from(record.start, record.sessions)[-1]
        return replace(record, end=last_day, end_session="PM")
    last_day, last_session = sessions_from(record.start, record.start_session, record.sessions)[-1]
    return replace(record, end=last_day, end_session=last_session)


def iso_date(text: str) -> date:
    return date.fromisoformat(text)


def exclusion(pupil: str, type_label: str, start: str, session: str, sessions: int | None,
      *reasons: str, plant: Plant | None = None, late: LateNotice | None = None) -> Exclusion:
    return with_end(Exclusion(pupil, type_label, iso_date(start), session, sessions, reasons, plant, late))


SUSPENSION, FIXED_TERM, FIXED_PERIOD, LUNCHTIME = "Suspension", "Fixed Term", "Fixed Period", "Lunchtime"

# Every exclusion in the MIS export, in date order. Planted differences are marked with a Plant.
MIS_EXCLUSIONS = [
    exclusion("murphy", FIXED_TERM, "2024-07-09", "AM", 2, "DB",
      plant=Plant("previous_year", note="2023-24 record in the MIS only: outside the period")),
    # Autumn 1
    exclusion("thompson", SUSPENSION, "2024-09-12", "AM", 2, "DB"),
    exclusion("wright", SUSPENSION, "2024-09-17", "AM", 2, "DB",
      plant=Plant("missing_on_portal", note="early in the year, never keyed on the portal")),
    exclusion("adeyemi", FIXED_TERM, "2024-09-18", "AM", 4, "VA", "DB"),
    exclusion("walsh", LUNCHTIME, "2024-09-24", "PM", 1, "PP"),
    exclusion("smith_okoro", SUSPENSION, "2024-09-26", "PM", 4, "PP"),
    # Over 45 days in the year: Szabó, 14 + 14 + 14 + 6 school days, no term over 15.
    exclusion("szabo", SUSPENSION, "2024-09-30", "AM", 28, "DB", "MT"),
    exclusion("kowalski", SUSPENSION, "2024-10-02", "AM", 1, VA_LABEL),
    exclusion("mensah", FIXED_PERIOD, "2024-10-08", "AM", 6, "PP", "VP"),
    exclusion("oconnell", SUSPENSION, "2024-10-17", "AM", 2, "Damage"),
    exclusion("richards", LUNCHTIME, "2024-10-21", "PM", 1, "VP"),
    # Autumn 2
    exclusion("adeyemi", SUSPENSION, "2024-11-05", "AM", 6, "VA", DB_LABEL),
    exclusion("rahman", SUSPENSION, "2024-11-11", "AM", 10, "DA"),
    exclusion("begum", SUSPENSION, "2024-11-13", "PM", 2, "BU", "VP", "MT"),
    exclusion("szabo", SUSPENSION, "2024-11-18", "AM", 28, "Bullying"),
    exclusion("campbell", FIXED_TERM, "2024-11-19", "AM", 2, "DB"),
    exclusion("nowak", SUSPENSION, "2024-11-21", "AM", 3, "TH"),
    exclusion("dubois", SUSPENSION, "2024-11-27", "AM", 2, "VP", "MT"),
    exclusion("smith_okoro", SUSPENSION, "2024-12-03", "AM", 10, "PA", "VA"),
    exclusion("ali", LUNCHTIME, "2024-12-05", "PM", 3, DB_LABEL),
    exclusion("brown", SUSPENSION, "2024-12-10", "PM", 1, "VA"),
    # Spring 1 (6 January is an INSET day)
    # Over 15 days in a term: Lewandowski, 5 + 5 + 6 school days in Spring 1.
    exclusion("lewandowski", SUSPENSION, "2025-01-08", "AM", 10, "PP"),
    exclusion("mensah", SUSPENSION, "2025-01-14", "AM", 4, "VA",
      plant=Plant("end_date", iso_date("2025-01-16"),
                  "portal end date one day late, end session and sessions equal")),
    exclusion("kowalski", SUSPENSION, "2025-01-20", "AM", 3, DB_LABEL),
    exclusion("lewandowski", FIXED_PERIOD, "2025-01-21", "PM", 10, "Damage", "DB"),
    exclusion("patel", LUNCHTIME, "2025-01-22", "PM", 1, "Physical assault against a pupil"),
    exclusion("gashi", SUSPENSION, "2025-01-28", "AM", 2, "RA", "VP"),
    exclusion("lewandowski", SUSPENSION, "2025-02-04", "AM", 12, "DB", "VA"),
    exclusion("yilmaz", SUSPENSION, "2025-02-05", "PM", 2, "PP",
      plant=Plant("temporary_upn", note="same on both sides; the UPN is temporary")),
    exclusion("clarke", SUSPENSION, "2025-02-10", "AM", 2, "SM",
      late=LateNotice("LA", 4, "LA notified 4 school days after the deadline, over the February half term")),
    # Spring 2
    exclusion("smith_okoro", SUSPENSION, "2025-02-25", "AM", 16, "PA", "OW"),
    exclusion("khan", SUSPENSION, "2025-02-26", "PM", 1, "VP"),
    exclusion("jones", FIXED_TERM, "2025-03-03", "AM", 3, "VA",
      plant=Plant("main_reason", "VP", "main reason keyed as VP (against a pupil) on the portal")),
    exclusion("szabo", SUSPENSION, "2025-03-10", "AM", 28, "DM", "TH", "DB"),
    exclusion("nowak", SUSPENSION, "2025-03-11", "AM", 4, "TH", "DM"),
    exclusion("osei", SUSPENSION, "2025-03-13", "PM", 3, "BU"),
    exclusion("smith_okoro", "Permanent", "2025-03-18", "AM", None, "PA", "VA"),
    exclusion("campbell", LUNCHTIME, "2025-03-19", "PM", 1, VA_LABEL),
    exclusion("silva", SUSPENSION, "2025-03-24", "AM", 2, "DB",
      plant=Plant("duplicate", note="keyed twice on the portal: two Portal IDs, identical fields")),
    exclusion("popescu", SUSPENSION, "2025-03-26", "AM", 6, "VA", "PP",
      plant=Plant("reasons", ("VA", "PA"), "second reason keyed as PA on the portal")),
    # Summer 1 (5 May is a bank holiday)
    exclusion("begum", SUSPENSION, "2025-04-23", "AM", 4, "VP", "BU"),
    exclusion("evans", SUSPENSION, "2025-04-29", "PM", 2, "VA",
      late=LateNotice("parents", 3, "parents notified 3 school days after the deadline")),
    exclusion("rahman", SUSPENSION, "2025-05-06", "AM", 4, "DA", "DB"),
    exclusion("thompson", SUSPENSION, "2025-05-08", "PM", 2, "VA"),
    exclusion("adeyemi", SUSPENSION, "2025-05-12", "AM", 10, "PP", "VA",
      plant=Plant("start_date", iso_date("2025-05-13"), "portal start one school day late; end moved too")),
    exclusion("szabo", SUSPENSION, "2025-05-14", "AM", 12, "MT", "BU"),
    exclusion("richards", SUSPENSION, "2025-05-20", "PM", 3, "VA"),
    # Summer 2 (27 June is an INSET day)
    exclusion("lewandowski", SUSPENSION, "2025-06-04", "AM", 2, "DB"),
    exclusion("dubois", LUNCHTIME, "2025-06-10", "PM", 1, "VP",
      plant=Plant("missing_on_portal", note="a lunchtime exclusion never keyed on the portal")),
    exclusion("wright", SUSPENSION, "2025-06-12", "AM", 4, "DM"),
    exclusion("kowalski", SUSPENSION, "2025-06-18", "AM", 4, "VA", "DB"),
    exclusion("brown", SUSPENSION, "2025-07-01", "AM", 3, "PP"),
    exclusion("murphy", SUSPENSION, "2025-07-07", "AM", 15, "DB", "VA", "DM"),
    exclusion("hussain", SUSPENSION, "2025-07-10", "PM", 2, "BU"),
    exclusion("walsh", SUSPENSION, "2025-07-14", "AM", 1, "DB"),
    exclusion("patel", SUSPENSION, "2025-07-17", "AM", 2, "PP",
      plant=Plant("missing_on_portal", note="the latest exclusion, not yet keyed on the portal")),
]

# Portal records with no MIS record at all: one in the period, two from 2023-24.
PORTAL_ONLY = [
    exclusion("thompson", "Suspension", "2025-01-30", "AM", 2, "DB",
      plant=Plant("missing_in_mis", note="keyed on the portal only; no MIS record that day")),
    exclusion("fletcher", "Suspension", "2024-06-11", "AM", 4, "VA",
      plant=Plant("previous_year", note="2023-24 leaver, portal only: outside the period")),
    exclusion("thompson", "Suspension", "2024-06-18", "PM", 2, "DB",
      plant=Plant("previous_year", note="2023-24 record, portal only: outside the period")),
]


def in_period(record: Exclusion) -> bool:
    return PERIOD[0] <= record.start <= PERIOD[1]


# --- portal records --------------------------------------------------------------------------


def portal_version(record: Exclusion) -> list[Exclusion]:
    """Return the record as keyed on the portal: none, one or (a duplicate) two copies."""
    plant = record.plant
    if plant is None or plant.kind == "temporary_upn":
        return [record]
    if plant.kind in ("missing_on_portal", "previous_year"):
        return []
    if plant.kind == "duplicate":
        return [record, record]
    if plant.kind == "end_date":
        return [replace(record, end=plant.portal_value)]
    if plant.kind == "main_reason":
        return [replace(record, reasons=(plant.portal_value, *record.reasons[1:]))]
    if plant.kind == "reasons":
        return [replace(record, reasons=plant.portal_value)]
    if plant.kind == "start_date":
        return [with_end(replace(record, start=plant.portal_value))]
    raise ValueError(f"unknown plant kind {plant.kind!r}")


def portal_records() -> list[Exclusion]:
    """Return the portal's records in the order they were keyed (which fixes their Portal IDs)."""
    records = [copy for record in MIS_EXCLUSIONS for copy in portal_version(record)]
    records += PORTAL_ONLY
    # Schools key a record on the portal a day or two after the exclusion starts. Sorting by start
    # date keeps the two copies of the duplicate next to each other.
    return sorted(records, key=lambda r: (r.start, r.pupil))


def assign_portal_ids(rng: random.Random, records: list[Exclusion]) -> list[tuple[str, Exclusion]]:
    """Number the records as the LA portal does: ids rise, with gaps left by other schools."""
    number = 9412
    numbered = []
    for record in records:
        number += rng.randrange(8, 90)
        numbered.append((f"EX-{number:05d}", record))
    return numbered


# --- writers ---------------------------------------------------------------------------------


def dmy(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def notification_deadline(record: Exclusion) -> date:
    """Return the last day on which parents and the LA may be notified: the next school day."""
    return next_school_day(record.start)


def notified_dates(record: Exclusion) -> tuple[date | None, date | None]:
    """Return the days the school recorded notifying the parents and the LA, or None where blank.

    Parents hear on the day of a morning start and on the next school day after an afternoon start.
    The LA hears on the next school day. A planted ``LateNotice`` moves one of them past the
    deadline. The 2023-24 record has neither date, and the records the school has not keyed on the
    portal have no LA date, since keying a record is how the school notifies the LA.
    """
    if not in_period(record):
        return None, None
    deadline = notification_deadline(record)
    parents = record.start if record.start_session == "AM" else deadline
    la = None if record.plant and record.plant.kind == "missing_on_portal" else deadline
    if record.late:
        late_day = school_days_from(deadline, record.late.days_late + 1)[-1]
        if record.late.recipient == "parents":
            parents = late_day
        else:
            la = late_day
    return parents, la


def mis_row(pupils: dict[str, Pupil], record: Exclusion) -> list[str]:
    pupil = pupils[record.pupil]
    reasons = list(record.reasons) + [""] * (3 - len(record.reasons))
    parents, la = notified_dates(record)
    return [
        pupil.upn, pupil.surname, pupil.forename, dmy(pupil.dob), record.type_label,
        dmy(record.start), record.start_session, dmy(record.end), record.end_session or "",
        "" if record.sessions is None else str(record.sessions), *reasons, dmy(parents), dmy(la),
    ]


def portal_row(pupils: dict[str, Pupil], portal_id: str, record: Exclusion) -> list[str]:
    pupil = pupils[record.pupil]
    reasons = list(record.reason_codes) + [""] * (3 - len(record.reasons))
    return [
        portal_id, LAESTAB, pupil.upn, pupil.surname, pupil.forename, dmy(pupil.dob),
        PORTAL_CATEGORY[record.category], dmy(record.start), record.start_session,
        dmy(record.end), record.end_session or "",
        "" if record.sessions is None else str(record.sessions), *reasons,
    ]


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def mis_sort_key(pupils: dict[str, Pupil], record: Exclusion) -> tuple:
    pupil = pupils[record.pupil]
    return (pupil.surname.casefold(), pupil.forename.casefold(), record.start)


def write_mis_export(pupils: dict[str, Pupil], path: Path) -> None:
    """Write the SIMS report: title and printed-by lines padded with commas as Excel saves them,
    a blank line, the header, one row per exclusion by pupil name, a blank line and the footer."""
    records = sorted(MIS_EXCLUSIONS, key=lambda r: mis_sort_key(pupils, r))
    padding = "," * (len(MIS_HEADER) - 1)
    text = (
        f"Exclusions Report - {SCHOOL_NAME}{padding}\r\n"
        f"{PRINTED}{padding}\r\n"
        "\r\n"
        + csv_text([MIS_HEADER, *(mis_row(pupils, r) for r in records)])
        + "\r\n"
        + f"Total records: {len(records)}{padding}\r\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("cp1252"))


def write_portal_export(pupils: dict[str, Pupil], numbered: list[tuple[str, Exclusion]],
                        path: Path) -> None:
    rows = [PORTAL_HEADER, *(portal_row(pupils, pid, r) for pid, r in numbered)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_text(rows).encode("utf-8"))


def write_term_dates(path: Path) -> None:
    lines = [
        f"# {SCHOOL_NAME}: term dates. A school day is a weekday inside a term that is neither a",
        "# bank holiday in England (built in) nor listed under closures.",
        "# Summer 2 of 2023-24 and Autumn 1 of 2025-26 are here so that records from June and",
        "# July 2024 and --as-of dates in the 2025 summer holiday fall inside the calendar.",
        "",
        "# INSET days; no exclusion starts on or spans either of them.",
        "closures = [" + ", ".join(day.isoformat() for day in INSET_DAYS) + "]",
    ]
    for name, start, end in TERMS:
        lines += ["", "[[terms]]", f'name = "{name}"  # {academic_year(start)}',
                  f"start = {start}", f"end = {end}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


AGENT_TOML = """\
# sync-agent configuration for Hawthorn Lane Academy (a fictional sample school).
# Relative paths below are relative to this file. Secrets never go in this file.

[school]
laestab = "9404123"              # DfE number: 3-digit LA code (940) + 4-digit establishment number
name = "Hawthorn Lane Academy"   # shown at the top of every report

[[sources]]                      # one [[sources]] block per MIS export the agent reads
kind = "exclusions"              # what the export contains: exclusions, attendance or pupils
path = "exports/exclusions.csv"  # where the MIS saves the export; may be a pattern such as *.csv
mapping = "sims-csv"             # how to read its columns: a built-in mapping or a mapping file
settle_seconds = 0               # wait this many seconds for a file still being written; 0 reads
                                 # at once (use about 10 when the MIS saves on a schedule)

[[sources]]
kind = "attendance"              # the attendance register: one row per pupil per session
path = "exports/attendance.csv"
mapping = "sims-attendance-csv"
settle_seconds = 0

[[sources]]
kind = "pupils"                  # the pupil list with roll dates, to check names and removals
path = "exports/pupils.csv"
mapping = "sims-pupils-csv"
settle_seconds = 0

[portal]
mode = "export"                  # export: read a file downloaded from the LA portal; http: its API
path = "portal/portal-export.csv"  # the downloaded portal export
mapping = "portal-csv"           # the built-in mapping for the portal's CSV export columns

[period]
academic_year = "2024-25"        # compare exclusions starting 1 Aug 2024 to 31 Jul 2025 only

[calendar]
path = "term-dates.toml"         # term dates and INSET days; bank holidays in England are built in

[push]
enabled = false                  # true lets the scheduled sync send missing records to the portal
target = "http"                  # http: the portal's API; b2b-file: a Capita ONE B2B XML file

[state]
path = "state.db"                # SQLite file with run history, the push journal and reviews

[output]
dir = "reports"                  # each run writes reports/<run id>/ and refreshes reports/latest/
log_dir = "logs"                 # log files of each run
keep_days = 30                   # delete run folders older than this many days; latest/ is kept
"""


def write_agent_toml(path: Path) -> None:
    path.write_text(AGENT_TOML, encoding="utf-8")


# --- expected findings -----------------------------------------------------------------------


def finding(kind: str, pupil: Pupil, record: Exclusion, field_name: str | None = None,
            mis_value: object = None, portal_value: object = None, origin: str = "planted",
            note: str = "") -> dict:
    def text(value: object) -> object:
        return value.isoformat() if isinstance(value, date) else value

    return {
        "kind": kind, "severity": severity_of(kind, field_name), "upn": pupil.upn,
        "pupil": f"{pupil.surname}, {pupil.forename}", "category": record.category,
        "start_date": record.start.isoformat(), "field": field_name,
        "mis_value": text(mis_value), "portal_value": text(portal_value),
        "origin": origin, "note": note,
    }


def secondary_reasons(reasons: tuple[str, ...]) -> str:
    return ", ".join(sorted(reasons[1:]))


def findings_for_mis_record(pupil: Pupil, record: Exclusion) -> list[dict]:
    """Return the findings that the planted difference on one MIS record must produce."""
    plant = record.plant
    note = plant.note
    if plant.kind == "missing_on_portal":
        return [finding("missing_on_portal", pupil, record, note=note)]
    if plant.kind == "temporary_upn":
        return [finding("temporary_upn", pupil, record, note=note)]
    if plant.kind == "duplicate":
        return [finding("duplicate_record", pupil, record, note=note + " (portal side)")]
    if plant.kind == "end_date":
        return [finding("field_mismatch", pupil, record, "end_date", record.end, plant.portal_value,
                        note=note)]
    if plant.kind == "main_reason":
        return [finding("field_mismatch", pupil, record, "main_reason", record.reason_codes[0],
                        plant.portal_value, note=note)]
    if plant.kind == "reasons":
        return [finding("field_mismatch", pupil, record, "reasons", secondary_reasons(record.reason_codes),
                        secondary_reasons(plant.portal_value), note=note)]
    if plant.kind == "start_date":
        moved = portal_version(record)[0]
        return [
            finding("field_mismatch", pupil, record, "start_date", record.start, moved.start, note=note),
            finding("field_mismatch", pupil, record, "end_date", record.end, moved.end, note=note),
        ]
    raise ValueError(f"unknown plant kind {plant.kind!r}")


def board_review_due(start: date) -> date:
    """Return the 15th school day after ``start``: the day by which the governing board must meet,
    if the school gave notice of the permanent exclusion on the day it started."""
    return school_days_from(next_school_day(start), 15)[-1]


TERM_REVIEW_DAYS = 15
YEAR_LIMIT_DAYS = 45
# The pupils planted over the suspension limits; no other pupil may pass either.
TERM_REVIEW_PUPIL = "lewandowski"
YEAR_LIMIT_PUPIL = "szabo"


def half_days_by_pupil() -> dict[str, list[date]]:
    """Return, per pupil, the day of each half day of suspension in the period, in date order.

    Each session of a suspension is half a day on its own day, and so is each lunchtime of a
    lunchtime exclusion.
    """
    halves = defaultdict(list)
    for record in MIS_EXCLUSIONS:
        if not in_period(record) or record.category == "permanent":
            continue
        if record.category == "lunchtime":
            halves[record.pupil] += school_days_from(record.start, record.sessions)
        else:
            halves[record.pupil] += [day for day, _ in sessions_from(record.start, record.start_session, record.sessions)]
    return {pupil: sorted(days) for pupil, days in halves.items()}


def rule_finding(kind: str, pupil: Pupil, category: str, start: date, note: str,
                 field_name: str | None = None, mis_value: object = None) -> dict:
    """Return a finding raised by a statutory rule, not by a difference between the two files."""
    return {
        "kind": kind, "severity": severity_of(kind, field_name), "upn": pupil.upn,
        "pupil": f"{pupil.surname}, {pupil.forename}", "category": category,
        "start_date": start.isoformat(), "field": field_name,
        "mis_value": mis_value.isoformat() if isinstance(mis_value, date) else mis_value,
        "portal_value": None, "origin": "rule", "note": note,
    }


def total_findings(pupils: dict[str, Pupil]) -> list[dict]:
    """Return a ``board_review_required`` per pupil and term over 15 days of suspension, then a
    ``suspension_limit_exceeded`` per pupil over 45 days in the year.

    A term review starts on the term's first day and is due 15 school days after the day the
    total passed 15; the yearly finding starts on 1 August, the first day of the academic year.
    """
    findings = []
    by_pupil = half_days_by_pupil()
    for key, halves in sorted(by_pupil.items()):
        for name, first, last in TERMS:
            in_term = [day for day in halves if first <= day <= last]
            if len(in_term) > 2 * TERM_REVIEW_DAYS:
                passed = in_term[2 * TERM_REVIEW_DAYS]
                note = (f"{len(in_term) / 2:g} school days of suspension in {name} {academic_year(first)}; "
                        f"the total passed {TERM_REVIEW_DAYS} on {passed}, board to meet by about "
                        f"{board_review_due(passed)}")
                findings.append(rule_finding("board_review_required", pupils[key], "suspension", first, note))
    for key, halves in sorted(by_pupil.items()):
        if len(halves) > 2 * YEAR_LIMIT_DAYS:
            note = (f"{len(halves) / 2:g} school days of suspension in {academic_year(PERIOD[0])}; the total "
                    f"passed {YEAR_LIMIT_DAYS} on {halves[2 * YEAR_LIMIT_DAYS]}")
            findings.append(rule_finding("suspension_limit_exceeded", pupils[key], "suspension", PERIOD[0], note))
    return findings


def late_notice_findings(pupils: dict[str, Pupil]) -> list[dict]:
    """Return a ``late_notification`` per planted late notice, on the field the notice is in."""
    findings = []
    for record in MIS_EXCLUSIONS:
        if record.late is None:
            continue
        parents, la = notified_dates(record)
        field_name, day = ("parents_notified_on", parents) if record.late.recipient == "parents" else ("la_notified_on", la)
        note = f"{record.late.note}: notified {day}, due by {notification_deadline(record)}"
        findings.append(rule_finding("late_notification", pupils[record.pupil], record.category, record.start,
                                     note, field_name, day))
    return findings


def expected_findings(pupils: dict[str, Pupil]) -> list[dict]:
    """Return every finding a reconcile of the sample with ``--as-of AS_OF`` must produce.

    The planted differences come first. The entries after them come from the statutory rules, not
    from a difference: a permanent exclusion needs a governing-board review, and so does a pupil
    over 15 days of suspension in a term; over 45 days in a year exceeds the limit, and a
    notification more than one school day after the start is late.
    """
    findings = []
    for record in MIS_EXCLUSIONS:
        if record.plant and in_period(record):
            findings += findings_for_mis_record(pupils[record.pupil], record)
    for record in PORTAL_ONLY:
        if in_period(record):
            findings.append(finding("missing_in_mis", pupils[record.pupil], record, note=record.plant.note))
    for record in MIS_EXCLUSIONS:
        if record.category == "permanent":
            due = board_review_due(record.start).isoformat()
            note = f"statutory rule for a permanent exclusion; board to meet by about {due}"
            findings.append(finding("board_review_required", pupils[record.pupil], record,
                                    origin="rule", note=note))
    return findings + total_findings(pupils) + late_notice_findings(pupils)


# --- README tables ---------------------------------------------------------------------------

README_BEGIN = "<!-- BEGIN generated by generate.py: planted differences -->"
README_END = "<!-- END generated by generate.py: planted differences -->"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell or "–" for cell in row) + " |" for row in rows]


def findings_table(findings: list[dict]) -> list[str]:
    header = ["#", "kind", "severity", "UPN", "pupil", "category", "start date", "field",
              "MIS value", "portal value", "what was planted"]
    rows = [
        [str(n), f"`{f['kind']}`", f["severity"], f"`{f['upn']}`", f["pupil"], f["category"],
         f["start_date"], f"`{f['field']}`" if f["field"] else "", str(f["mis_value"] or ""),
         str(f["portal_value"] or ""), f["note"]]
        for n, f in enumerate(findings, start=1)
    ]
    return markdown_table(header, rows)


def out_of_period_table(pupils: dict[str, Pupil]) -> list[str]:
    header = ["side", "UPN", "pupil", "category", "start date", "why it is not reported"]
    rows = []
    for side, records in (("MIS", MIS_EXCLUSIONS), ("portal", PORTAL_ONLY)):
        for record in records:
            if not in_period(record):
                pupil = pupils[record.pupil]
                rows.append([side, f"`{pupil.upn}`", f"{pupil.surname}, {pupil.forename}",
                             record.category, record.start.isoformat(), record.plant.note])
    return markdown_table(header, rows)


def refresh_readme(path: Path, pupils: dict[str, Pupil], findings: list[dict]) -> None:
    """Rewrite the generated part of README.md, between its two marker comments."""
    text = path.read_text(encoding="utf-8")
    before, rest = text.split(README_BEGIN)
    _, after = rest.split(README_END)
    generated = [
        README_BEGIN, "", f"Findings a reconcile with `--as-of {AS_OF}` must produce:", "",
        *findings_table(findings), "",
        "Records outside the period 2024-25, which must not be reported:", "",
        *out_of_period_table(pupils), "", README_END,
    ]
    path.write_text(before + "\n".join(generated) + after, encoding="utf-8")


# --- self-check ------------------------------------------------------------------------------

PLANNED_PLANTS = {
    "missing_on_portal": 3, "end_date": 1, "main_reason": 1, "reasons": 1, "start_date": 1,
    "duplicate": 1, "temporary_upn": 1, "previous_year": 1,
}
PLANNED_PORTAL_ONLY = {"missing_in_mis": 1, "previous_year": 2}
FOOTER = re.compile(r"Total records: (\d+),*")


@dataclass(frozen=True)
class ReadRecord:
    """An exclusion as read back from a written file, with reasons as codes."""

    upn: str
    category: str
    start: date
    start_session: str
    end: date | None
    end_session: str
    sessions: int | None
    reasons: tuple[str, ...]
    parents_notified: date | None = None
    la_notified: date | None = None

    @property
    def key(self) -> tuple:
        return (self.upn, self.start, self.start_session)


def parse_dmy(text: str) -> date | None:
    if not text:
        return None
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", text), f"date {text!r} is not dd/mm/yyyy"
    day, month, year = (int(part) for part in text.split("/"))
    return date(year, month, day)


def read_record(upn: str, category: str, cells: list[str]) -> ReadRecord:
    """Build a ReadRecord from the cells Start Date to Reason 3, which both files share."""
    start, start_session, end, end_session, sessions, *reasons = cells
    assert sessions == "" or sessions.isdigit(), f"sessions {sessions!r} is not a whole number"
    codes = tuple(REASON_LABELS.get(cell, cell) for cell in reasons if cell)
    return ReadRecord(upn, category, parse_dmy(start), start_session, parse_dmy(end), end_session,
                      int(sessions) if sessions else None, codes)


def read_mis_export(path: Path) -> list[ReadRecord]:
    """Read the MIS export back, checking its encoding, line endings, preamble and footer."""
    raw = path.read_bytes()
    assert b"\x92" in raw, "no cp1252 curly apostrophe in the MIS export"
    assert b"\xe9" in raw, "no cp1252 e-acute in the MIS export"
    text = raw.decode("cp1252")
    assert text.count("\n") == text.count("\r\n"), "a line of the MIS export does not end in CRLF"
    lines = text.split("\r\n")
    assert lines[0] == f"Exclusions Report - {SCHOOL_NAME}" + "," * (len(MIS_HEADER) - 1)
    assert lines[1].startswith("Printed "), "line 2 is not the printed-by line"
    assert lines[2] == "", "line 3 is not blank"
    assert lines[3] == ",".join(MIS_HEADER), "header line differs from the SIMS header"
    blank = lines.index("", 4)
    footer = FOOTER.fullmatch(lines[blank + 1])
    assert footer and lines[blank + 2:] == [""], "footer missing or followed by more lines"
    rows = list(csv.reader(lines[4:blank]))
    assert len(rows) == int(footer.group(1)), "record count differs from the footer"
    notices = MIS_HEADER.index("Parents Notified")
    return [replace(read_record(row[0], CATEGORY_OF_TYPE[row[4]], row[5:notices]),
                    parents_notified=parse_dmy(row[notices]), la_notified=parse_dmy(row[notices + 1]))
            for row in rows]


def read_portal_export(path: Path) -> list[tuple[str, ReadRecord]]:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))
    assert rows[0] == PORTAL_HEADER, "portal header differs from the portal-csv columns"
    category = {code: name for name, code in PORTAL_CATEGORY.items()}
    for row in rows[1:]:
        assert row[1] == LAESTAB, f"portal row {row[0]} has LAESTAB {row[1]}"
        assert re.fullmatch(r"EX-\d{5}", row[0]), f"Portal ID {row[0]} is not EX- and 5 digits"
    return [(row[0], read_record(row[2], category[row[6]], row[7:])) for row in rows[1:]]


def check_calendar_rules(records: list[ReadRecord]) -> None:
    """Check UPNs, start dates and spans against the calendar, and that permanent exclusions
    have no end."""
    for r in records:
        assert is_valid_upn(r.upn), f"UPN {r.upn} has an invalid check letter"
        assert is_school_day(r.start), f"{r.upn} starts on {r.start}, not a school day"
        if r.category == "permanent":
            assert r.end is None, f"{r.upn} permanent exclusion has an end date"
            assert r.end_session == "", f"{r.upn} permanent exclusion has an end session"
            assert r.sessions is None, f"{r.upn} permanent exclusion has sessions"
            continue
        assert not any(r.start <= inset <= r.end for inset in INSET_DAYS), f"{r.upn} spans an INSET day"


def check_ends(records: list[ReadRecord]) -> None:
    for r in records:
        if r.category == "suspension":
            expected = sessions_from(r.start, r.start_session, r.sessions)[-1]
            assert (r.end, r.end_session) == expected, f"{r.upn} {r.start}: end is not start + sessions"
        if r.category == "lunchtime":
            assert r.start_session == "PM", f"{r.upn} {r.start}: lunchtime start session"
            assert r.end_session == "PM", f"{r.upn} {r.start}: lunchtime end session"
            assert r.end == school_days_from(r.start, r.sessions)[-1], f"{r.upn} {r.start}: lunchtime end"


def pupils_over_limits(records: list[ReadRecord]) -> set[tuple[str, str]]:
    """Check that no two exclusions of a pupil overlap, and return (rule, UPN) per pupil over a limit.

    The rule is ``term`` for more than 15 school days of suspension in a term and ``year`` for more
    than 45 in the year, with a session or a lunchtime counted as half a day. No planted suspension
    crosses a term's end, so each counts in the term it starts in.
    """
    by_pupil = defaultdict(list)
    for r in records:
        by_pupil[r.upn].append(r)
    over = set()
    for upn, own in by_pupil.items():
        own.sort(key=lambda r: r.start)
        for earlier, later in zip(own, own[1:]):
            assert earlier.end is not None and earlier.end < later.start, f"{upn}: exclusions overlap"
        days_in_term = Counter()
        for r in own:
            if r.category != "permanent":
                term = next(name + str(start) for name, start, end in TERMS if start <= r.start <= end)
                assert r.end <= next(end for _, start, end in TERMS if start <= r.start <= end), f"{upn}: crosses a term end"
                days_in_term[term] += r.sessions / 2
        if max(days_in_term.values(), default=0) > TERM_REVIEW_DAYS:
            over.add(("term", upn))
        if sum(days_in_term.values()) > YEAR_LIMIT_DAYS:
            over.add(("year", upn))
    return over


def late_notices(records: list[ReadRecord]) -> set[tuple]:
    """Return (UPN, start date, field) per notification dated after the school day after the start."""
    late = set()
    for r in records:
        deadline = next_school_day(r.start)
        for field_name, day in (("parents_notified_on", r.parents_notified), ("la_notified_on", r.la_notified)):
            if day is not None and day > deadline:
                late.add((r.upn, r.start, field_name))
    return late


def compare(mis: ReadRecord, portal: ReadRecord) -> list[tuple]:
    """Return (field, MIS value, portal value) for every field in which two records differ."""
    pairs = [
        ("category", mis.category, portal.category), ("start_date", mis.start, portal.start),
        ("start_session", mis.start_session, portal.start_session), ("end_date", mis.end, portal.end),
        ("end_session", mis.end_session, portal.end_session), ("sessions", mis.sessions, portal.sessions),
        ("main_reason", mis.reasons[0], portal.reasons[0]),
        ("reasons", secondary_reasons(mis.reasons), secondary_reasons(portal.reasons)),
    ]
    return [(name, a, b) for name, a, b in pairs if a != b]


def diff_exports(mis: list[ReadRecord], portal: list[ReadRecord]) -> set[tuple]:
    """Compare the two files by the agent's matching rules, in code independent of the agent.

    Returns (kind, UPN, category, start date, field, MIS value, portal value) per difference.
    """
    period = [r for r in mis if PERIOD[0] <= r.start <= PERIOD[1]]
    found: set[tuple] = set()
    unique_portal = []
    for r in (r for r in portal if PERIOD[0] <= r.start <= PERIOD[1]):
        if r in unique_portal:
            found.add(("duplicate_record", r.upn, r.category, r.start, None, None, None))
        else:
            unique_portal.append(r)
    by_key = {r.key: r for r in unique_portal}
    unmatched_mis = []
    for r in period:
        match = by_key.pop(r.key, None)
        if match is None:
            unmatched_mis.append(r)
        else:
            found |= {("field_mismatch", r.upn, r.category, r.start, *diff) for diff in compare(r, match)}
    for r in unmatched_mis:
        near = [p for p in by_key.values() if p.upn == r.upn and school_day_distance(p.start, r.start) <= 3]
        if near:
            del by_key[near[0].key]
            found |= {("field_mismatch", r.upn, r.category, r.start, *diff) for diff in compare(r, near[0])}
        else:
            found.add(("missing_on_portal", r.upn, r.category, r.start, None, None, None))
    found |= {("missing_in_mis", r.upn, r.category, r.start, None, None, None) for r in by_key.values()}
    found |= {("temporary_upn", r.upn, r.category, r.start, None, None, None)
              for r in period + unique_portal if is_temporary_upn(r.upn)}
    return found


def as_tuple(item: dict) -> tuple:
    def value(text: object) -> object:
        if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        return text

    return (item["kind"], item["upn"], item["category"], date.fromisoformat(item["start_date"]),
            item["field"], value(item["mis_value"]), value(item["portal_value"]))


def check_plan() -> None:
    assert check_letter("801200005001") == "B"
    assert check_letter("940400112001") == "J"
    assert check_letter("94040011200A") == "V"
    planted = Counter(r.plant.kind for r in MIS_EXCLUSIONS if r.plant)
    assert planted == Counter(PLANNED_PLANTS), f"planted differences in the MIS: {planted}"
    assert Counter(r.plant.kind for r in PORTAL_ONLY) == Counter(PLANNED_PORTAL_ONLY)
    in_year = [r for r in MIS_EXCLUSIONS if in_period(r)]
    assert len(in_year) >= 42 and len({r.pupil for r in in_year}) >= 28
    assert sum(r.category == "permanent" for r in MIS_EXCLUSIONS) == 1
    assert {r.type_label for r in MIS_EXCLUSIONS} == set(CATEGORY_OF_TYPE)
    assert {1, 2, 3, 4, 6, 10} <= {r.sessions for r in MIS_EXCLUSIONS}
    assert max(r.sessions or 0 for r in MIS_EXCLUSIONS if r.category == "suspension") >= 15
    missing = [r for r in MIS_EXCLUSIONS if r.plant and r.plant.kind == "missing_on_portal"]
    assert any(r.category == "lunchtime" for r in missing)
    assert max(r.start for r in missing) == max(r.start for r in MIS_EXCLUSIONS)


def self_check(pupils: dict[str, Pupil], findings: list[dict]) -> None:
    """Read the written files back and check them against the plan and the rules above."""
    check_plan()
    mis = read_mis_export(HERE / "exports" / "exclusions.csv")
    portal_rows = read_portal_export(HERE / "portal" / "portal-export.csv")
    portal = [record for _, record in portal_rows]
    assert len({pid for pid, _ in portal_rows}) == len(portal_rows), "Portal IDs repeat"
    check_calendar_rules(mis + portal)
    check_ends(mis)
    in_period_mis = [r for r in mis if PERIOD[0] <= r.start <= PERIOD[1]]
    planned_over = {("term", pupils[TERM_REVIEW_PUPIL].upn), ("year", pupils[YEAR_LIMIT_PUPIL].upn)}
    assert pupils_over_limits(in_period_mis) == planned_over, "pupils over the suspension limits differ from the plan"
    kinds = Counter(f["kind"] for f in findings)
    assert kinds["suspension_limit_exceeded"] == 1 and kinds["board_review_required"] == 2
    planned_late = {(f["upn"], date.fromisoformat(f["start_date"]), f["field"])
                    for f in findings if f["kind"] == "late_notification"}
    assert len(planned_late) == 2 and late_notices(mis) == planned_late, "late notifications differ from the plan"
    temporary = {r.upn for r in mis + portal if is_temporary_upn(r.upn)}
    assert temporary == {pupils[TEMPORARY_UPN_PUPIL].upn}
    prose = (HERE / "README.md").read_text(encoding="utf-8").split(README_BEGIN)[0]
    assert f"`{pupils[TEMPORARY_UPN_PUPIL].upn}`" in prose, "README prose names another temporary UPN"
    expected = {as_tuple(f) for f in findings if f["origin"] == "planted"}
    assert len(expected) == len([f for f in findings if f["origin"] == "planted"])
    found = diff_exports(mis, portal)
    assert found == expected, f"unexpected: {found - expected}; not found: {expected - found}"


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    rng = random.Random(SEED)
    pupils = build_pupils(rng)
    numbered = assign_portal_ids(rng, portal_records())
    findings = expected_findings(pupils)

    write_mis_export(pupils, HERE / "exports" / "exclusions.csv")
    write_portal_export(pupils, numbered, HERE / "portal" / "portal-export.csv")
    write_term_dates(HERE / "term-dates.toml")
    write_agent_toml(HERE / "agent.toml")
    (HERE / "expected_findings.json").write_text(
        json.dumps(findings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    refresh_readme(HERE / "README.md", pupils, findings)

    self_check(pupils, findings)
    print(f"wrote the sample to {HERE}; self-check passed ({len(findings)} expected findings)")


if __name__ == "__main__":
    main()
