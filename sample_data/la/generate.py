"""Generate the sample LA: six school folders, an LA portal export, la.toml and the expected findings.

North Northamptonshire (LA 940, fictional schools 9402001 to 9402006) over the academic year
2024-25, for ``sync-agent bulk-import sample_data/la --as-of 2025-07-23``. Five schools have MIS
exports in three shapes: SIMS CSV, SIMS "Unicode text" saved as tab-separated UTF-16, and a school
with its own agent.toml and mapping file. The sixth folder is broken on purpose. The LA portal
export covers every school, plus one record of a LAESTAB no folder has. The cross-school cases
are planted below by hand and marked beside their records.

Run from the repository root with the project's virtualenv::

    python sample_data/la/generate.py

The output is the same on every run: names and dates of birth come from a fixed random seed. The
script rewrites the sample LA section of sample_data/README.md between its marker comments.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sync_agent.calendar import SchoolCalendar
from sync_agent.findings import KINDS
from sync_agent.upn import check_letter

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
SEED = 20250723
AS_OF = date(2025, 7, 23)
LA_CODE = "940"
LA_NAME = "North Northamptonshire"
UNKNOWN_LAESTAB = "9402999"
BROKEN_LAESTAB = "9402006"

SCHOOLS = {
    "9402001": ("Abbey Fields Academy", "sims-csv"),
    "9402002": ("Brook Street School", "sims-utf16-tab"),
    "9402003": ("Castle Hill College", "own-agent-toml"),
    "9402004": ("Dale Park Academy", "sims-csv"),
    "9402005": ("Elm Tree School", "sims-utf16-tab"),
    BROKEN_LAESTAB: ("Fernside School", "broken"),
}

TERM_DATES = """\
# Term dates of the sample LA's schools (all six keep the LA's dates). A school day is a weekday
# inside a term that is neither a bank holiday in England (built in) nor listed under closures.
# Summer 2 of 2023-24 and Autumn 1 of 2025-26 keep --as-of dates in the summer holiday inside
# the calendar.

closures = [2025-01-06, 2025-06-27]

[[terms]]
name = "Summer 2"
start = 2024-06-03
end = 2024-07-19

[[terms]]
name = "Autumn 1"
start = 2024-09-04
end = 2024-10-25

[[terms]]
name = "Autumn 2"
start = 2024-11-04
end = 2024-12-20

[[terms]]
name = "Spring 1"
start = 2025-01-06
end = 2025-02-14

[[terms]]
name = "Spring 2"
start = 2025-02-24
end = 2025-04-04

[[terms]]
name = "Summer 1"
start = 2025-04-22
end = 2025-05-23

[[terms]]
name = "Summer 2"
start = 2025-06-02
end = 2025-07-22

[[terms]]
name = "Autumn 1"
start = 2025-09-03
end = 2025-10-24
"""

LA_TOML = """\
# sync-agent bulk-import configuration for the sample LA (fictional schools).
# Relative paths are relative to this file; [[sources]] patterns are looked for inside each
# school folder that has no agent.toml of its own.

[la]
code = "940"
name = "North Northamptonshire"

[[sources]]                      # SIMS exclusions report saved as CSV
kind = "exclusions"
path = "*exclusions*.csv"
mapping = "sims-csv"
settle_seconds = 0

[[sources]]                      # the same report saved as SIMS "Unicode text" (tab-separated UTF-16)
kind = "exclusions"
path = "*exclusions*.txt"
mapping = "sims-csv"
settle_seconds = 0

[[sources]]                      # SIMS attendance marks, one row per pupil per session
kind = "attendance"
path = "*attendance*.csv"
mapping = "sims-attendance-csv"
settle_seconds = 0

[portal]                         # the LA portal's export of every school's exclusions
mode = "export"
path = "portal/all-schools.csv"
mapping = "portal-csv"

[period]
academic_year = "2024-25"

[calendar]
path = "term-dates.toml"

[push]
target = "b2b-file"              # one Capita ONE B2B file per school in b2b_dir
b2b_dir = "outbox"

[state]
path = "state.db"

[output]
dir = "reports"

[school_names]
"9402001" = "Abbey Fields Academy"
"9402002" = "Brook Street School"
"9402004" = "Dale Park Academy"
"9402005" = "Elm Tree School"
"9402006" = "Fernside School"
"""

CASTLE_AGENT_TOML = """\
# Castle Hill College keeps its own configuration: its MIS writes a different export shape.
[school]
laestab = "9402003"
name = "Castle Hill College"

[[sources]]
kind = "exclusions"
path = "exports/behaviour-exclusions.csv"
mapping = "castle-mis.toml"
settle_seconds = 0

[period]
academic_year = "2024-25"

[calendar]
path = "../term-dates.toml"
"""

CASTLE_MAPPING = """\
# Castle Hill College's MIS exclusions export: ISO dates, school days as decimals (1.5 = 3
# sessions), and its own column names.

[mapping]
name = "castle-mis"
kind = "exclusions"
format = "delimited"
description = "Castle Hill College MIS exclusions export"

[fields.upn]
columns = ["Student UPN"]
required = true

[fields.surname]
columns = ["Family Name"]

[fields.forename]
columns = ["Given Name"]

[fields.date_of_birth]
columns = ["Date Of Birth"]
date_formats = ["%Y-%m-%d"]

[fields.category]
columns = ["Exclusion Type"]
table = "category"
required = true

[fields.start_date]
columns = ["Start Date"]
date_formats = ["%Y-%m-%d"]
required = true

[fields.start_session]
columns = ["Start Time"]
table = "session"
required = true

[fields.end_date]
columns = ["End Date"]
date_formats = ["%Y-%m-%d"]

[fields.end_session]
columns = ["End Time"]
table = "session"

[fields.sessions]
columns = ["School Days"]
convert = "days_to_sessions"

[fields.reason_1]
columns = ["Reason 1"]
table = "reason"
required = true

[fields.reason_2]
columns = ["Reason 2"]
table = "reason"

[fields.reason_3]
columns = ["Reason 3"]
table = "reason"
"""

# A misspelt key: the import must list this school as failed, naming the key.
BROKEN_AGENT_TOML = """\
[school]
laestab = "9402006"
name = "Fernside School"

[[sources]]
kind = "exclusions"
path = "exclusions.csv"
mappping = "sims-csv"
"""

SURNAMES = ["Adams", "Bailey", "Clarke", "Davies", "Evans", "Foster", "Green", "Hughes", "Iqbal", "James",
            "Khan", "Lewis", "Morris", "Nolan", "Owen", "Price", "Quinn", "Reid", "Shah", "Turner", "Usman",
            "Walsh", "Young", "Zielinski"]
FORENAMES = ["Amelia", "Ben", "Chloe", "Dylan", "Erin", "Finn", "Grace", "Harry", "Isla", "Jack", "Keira",
             "Liam", "Maya", "Noah", "Olivia", "Reuben", "Sophie", "Theo", "Zara", "Yusuf"]
REASONS = ["DB", "VA", "PP", "PA", "VP", "DM", "BU"]
ORDINARY_LENGTHS = [1, 2, 3, 4, 6, 10]


@dataclass
class Exclusion:
    laestab: str
    upn: str
    surname: str
    forename: str
    dob: date
    category: str  # suspension, permanent or lunchtime
    start: date
    start_session: str
    sessions: int | None
    reasons: list[str]
    on_portal: bool = True
    note: str = ""
    end: date | None = None
    end_session: str | None = None


@dataclass
class Pupil:
    upn: str
    surname: str
    forename: str
    dob: date


@dataclass
class Plan:
    exclusions: list[Exclusion] = field(default_factory=list)
    marks: dict[str, list[tuple[str, date, str, str]]] = field(default_factory=dict)


def make_upn(laestab: str, year: int, serial: int) -> str:
    body = f"{laestab}{year % 100:02d}{serial:03d}"
    return check_letter(body) + body


def make_pupil(rng: random.Random, laestab: str, serial: int) -> Pupil:
    year = rng.choice([19, 20, 21, 22, 23, 24])
    dob = date(2000 + year - 12, 9, 1) + timedelta(days=rng.randrange(365))
    return Pupil(make_upn(laestab, 2000 + year, serial), rng.choice(SURNAMES), rng.choice(FORENAMES), dob)


def fill_ends(exclusion: Exclusion, calendar: SchoolCalendar) -> None:
    """Set the end date and session from the start and the number of sessions."""
    if exclusion.category == "permanent":
        return
    if exclusion.category == "lunchtime":
        exclusion.end = calendar.add_school_days(exclusion.start, exclusion.sessions - 1)
        exclusion.end_session = "PM"
        return
    last = calendar.nth_session(exclusion.start, exclusion.start_session, exclusion.sessions - 1)
    exclusion.end, exclusion.end_session = last.date, last.session


def random_school_day(rng: random.Random, calendar: SchoolCalendar) -> date:
    while True:
        day = date(2024, 9, 9) + timedelta(days=rng.randrange(300))
        if calendar.is_school_day(day) and day < date(2025, 7, 7):
            return day


def ordinary_exclusions(rng: random.Random, laestab: str, calendar: SchoolCalendar, missing: int) -> list[Exclusion]:
    """Eight pupils with one exclusion each; the first ``missing`` are never keyed on the portal."""
    exclusions = []
    for serial in range(1, 9):
        pupil = make_pupil(rng, laestab, serial)
        lunchtime = serial == 8
        exclusion = Exclusion(
            laestab, pupil.upn, pupil.surname, pupil.forename, pupil.dob,
            "lunchtime" if lunchtime else "suspension", random_school_day(rng, calendar),
            "PM" if lunchtime else rng.choice(["AM", "PM"]), 1 if lunchtime else rng.choice(ORDINARY_LENGTHS),
            rng.sample(REASONS, rng.choice([1, 1, 2])), on_portal=serial > missing,
            note="never keyed on the portal" if serial <= missing else "",
        )
        exclusions.append(exclusion)
    return exclusions


def planted_exclusions(rng: random.Random) -> list[Exclusion]:
    """Return the cross-school cases, written out by hand."""
    harper = make_pupil(rng, "9402004", 901)
    novak = make_pupil(rng, "9402001", 902)
    grant = make_pupil(rng, "9402005", 903)
    okafor = make_pupil(rng, "9402001", 904)
    harper.surname, harper.forename = "Harper", "Leon"
    novak.surname, novak.forename = "Novak", "Ella"
    grant.surname, grant.forename = "Grant", "Oscar"
    okafor.surname, okafor.forename = "Okafor", "Daniel"
    total = "47 days across two schools, 24 at Dale Park and 23 at Elm Tree, at most 8 in any term"

    def ex(pupil: Pupil, laestab: str, category: str, start: date, session: str, sessions: int | None,
           note: str) -> Exclusion:
        return Exclusion(laestab, pupil.upn, pupil.surname, pupil.forename, pupil.dob, category, start, session,
                         sessions, ["DB"], note=note)

    return [
        ex(harper, "9402004", "suspension", date(2024, 9, 16), "AM", 16, total),
        ex(harper, "9402004", "suspension", date(2024, 11, 11), "AM", 16, total),
        ex(harper, "9402004", "suspension", date(2025, 1, 13), "AM", 16, total),
        ex(harper, "9402005", "suspension", date(2025, 3, 3), "AM", 16, total),
        ex(harper, "9402005", "suspension", date(2025, 4, 28), "AM", 16, total),
        ex(harper, "9402005", "suspension", date(2025, 6, 9), "AM", 14, total),
        ex(novak, "9402001", "suspension", date(2025, 3, 10), "AM", 6, "10 AM to 12 March PM at Abbey Fields"),
        ex(novak, "9402002", "suspension", date(2025, 3, 11), "PM", 4, "11 PM to 13 March AM at Brook Street"),
        ex(grant, "9402005", "permanent", date(2025, 2, 3), "AM", None, "permanent at Elm Tree from 3 February"),
        ex(grant, "9402003", "suspension", date(2025, 5, 6), "AM", 2, "suspended at Castle Hill after placement"),
        ex(okafor, "9402001", "suspension", date(2025, 3, 17), "AM", 4, "marked E at Abbey Fields 17 to 18 March"),
    ]


def build_plan() -> Plan:
    rng = random.Random(SEED)
    calendar = SchoolCalendar.from_file(HERE / "term-dates.toml")
    missing = {"9402001": 2, "9402002": 0, "9402003": 1, "9402004": 3, "9402005": 0}
    plan = Plan()
    for laestab, count in missing.items():
        plan.exclusions += ordinary_exclusions(rng, laestab, calendar, count)
    plan.exclusions += planted_exclusions(rng)
    for exclusion in plan.exclusions:
        fill_ends(exclusion, calendar)
    plan.marks = register_marks(plan.exclusions, calendar)
    return plan


def register_marks(exclusions: list[Exclusion], calendar: SchoolCalendar) -> dict[str, list[tuple[str, date, str, str]]]:
    """Marks from 3 to 21 March 2025 for Novak and Okafor at Abbey Fields and Okafor at Dale Park.

    Abbey Fields marks E on every session its exclusions cover and present otherwise. Dale Park,
    where Okafor is dual registered, marks him present throughout: the planted conflict.
    """
    novak = next(e for e in exclusions if e.surname == "Novak" and e.laestab == "9402001")
    okafor = next(e for e in exclusions if e.surname == "Okafor")
    days = [d for d in (date(2025, 3, 3) + timedelta(days=i) for i in range(19)) if calendar.is_school_day(d)]
    covered = set()
    for exclusion in (novak, okafor):
        for session in calendar.expand_sessions(exclusion.start, exclusion.start_session, exclusion.sessions):
            covered.add((exclusion.upn, session.date, session.session))
    present = {"AM": "/", "PM": "\\"}
    abbey = []
    for upn in (novak.upn, okafor.upn):
        for day in days:
            for session in ("AM", "PM"):
                code = "E" if (upn, day, session) in covered else present[session]
                abbey.append((upn, day, session, code))
    dale = [(okafor.upn, day, session, present[session]) for day in days for session in ("AM", "PM")]
    return {"9402001": abbey, "9402004": dale}


# --- writing -----------------------------------------------------------------------------------

SIMS_HEADER = ["UPN", "Legal Surname", "Legal Forename", "DOB", "Exclusion Type", "Start Date", "Start Session",
               "End Date", "End Session", "Sessions", "Reason", "Reason 2", "Reason 3"]
CASTLE_HEADER = ["Student UPN", "Family Name", "Given Name", "Date Of Birth", "Exclusion Type", "Start Date",
                 "Start Time", "End Date", "End Time", "School Days", "Reason 1", "Reason 2", "Reason 3"]
PORTAL_HEADER = ["Portal ID", "LAESTAB", "UPN", "Surname", "Forename", "Date of Birth", "Category", "Start Date",
                 "Start Session", "End Date", "End Session", "Sessions", "Reason 1", "Reason 2", "Reason 3"]
SIMS_LABELS = {"suspension": "Suspension", "permanent": "Permanent", "lunchtime": "Lunchtime"}
PORTAL_CODES = {"suspension": "FIXD", "permanent": "PERM", "lunchtime": "LNCH"}


def uk(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def reasons3(exclusion: Exclusion) -> list[str]:
    return (exclusion.reasons + ["", "", ""])[:3]


def sims_row(e: Exclusion) -> list[str]:
    return [e.upn, e.surname, e.forename, uk(e.dob), SIMS_LABELS[e.category], uk(e.start), e.start_session,
            uk(e.end), e.end_session or "", "" if e.sessions is None else str(e.sessions), *reasons3(e)]


def castle_row(e: Exclusion) -> list[str]:
    days = "" if e.sessions is None else f"{e.sessions / 2:g}"
    return [e.upn, e.surname, e.forename, e.dob.isoformat(), SIMS_LABELS[e.category], e.start.isoformat(),
            e.start_session, e.end.isoformat() if e.end else "", e.end_session or "", days, *reasons3(e)]


def table_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_school(laestab: str, shape: str, exclusions: list[Exclusion], marks) -> None:
    folder = HERE / laestab
    folder.mkdir(exist_ok=True)
    rows = sorted(exclusions, key=lambda e: (e.surname, e.forename, e.start))
    if shape == "sims-csv":
        (folder / "exclusions-2024-25.csv").write_bytes(table_text(SIMS_HEADER, [sims_row(e) for e in rows]).encode())
    elif shape == "sims-utf16-tab":
        text = table_text(SIMS_HEADER, [sims_row(e) for e in rows], delimiter="\t")
        (folder / "exclusions-2024-25.txt").write_bytes(text.encode("utf-16"))  # BOM, little-endian
    elif shape == "own-agent-toml":
        (folder / "exports").mkdir(exist_ok=True)
        (folder / "agent.toml").write_text(CASTLE_AGENT_TOML, encoding="utf-8")
        (folder / "castle-mis.toml").write_text(CASTLE_MAPPING, encoding="utf-8")
        text = table_text(CASTLE_HEADER, [castle_row(e) for e in rows])
        (folder / "exports" / "behaviour-exclusions.csv").write_bytes(text.encode())
    if laestab in marks:
        lines = [[upn, uk(day), session, code] for upn, day, session, code in marks[laestab]]
        (folder / "attendance-2025-03.csv").write_bytes(table_text(["UPN", "Date", "Session", "Mark"], lines).encode())


def write_portal(exclusions: list[Exclusion]) -> None:
    rows = []
    keyed = sorted((e for e in exclusions if e.on_portal), key=lambda e: (e.start, e.laestab, e.upn))
    for number, e in enumerate(keyed, start=1):
        rows.append([f"EX-{20000 + number * 3}", e.laestab, e.upn, e.surname, e.forename, uk(e.dob),
                     PORTAL_CODES[e.category], uk(e.start), e.start_session, uk(e.end), e.end_session or "",
                     "" if e.sessions is None else str(e.sessions), *reasons3(e)])
    unknown_upn = make_upn(UNKNOWN_LAESTAB, 2021, 1)
    rows.append(["EX-29999", UNKNOWN_LAESTAB, unknown_upn, "Moreno", "Lucia", "12/02/2011", "FIXD", "05/02/2025",
                 "AM", "05/02/2025", "PM", "2", "VA", "", ""])
    (HERE / "portal").mkdir(exist_ok=True)
    (HERE / "portal" / "all-schools.csv").write_bytes(table_text(PORTAL_HEADER, rows).encode())


def write_broken() -> None:
    folder = HERE / BROKEN_LAESTAB
    folder.mkdir(exist_ok=True)
    (folder / "agent.toml").write_text(BROKEN_AGENT_TOML, encoding="utf-8")
    (folder / "exclusions.csv").write_bytes(table_text(SIMS_HEADER, []).encode())


# --- expected findings ---------------------------------------------------------------------


def expected(plan: Plan) -> dict:
    by_name = {e.surname: e for e in plan.exclusions if e.surname in {"Harper", "Novak", "Grant", "Okafor"}}
    findings = [
        {"kind": "overlapping_exclusions", "upn": by_name["Grant"].upn, "schools": ["9402003", "9402005"],
         "start_date": "2025-05-06", "note": "permanent at Elm Tree from 3 February 2025, open-ended; suspended at "
                                              "Castle Hill on 6 May 2025"},
        {"kind": "overlapping_exclusions", "upn": by_name["Novak"].upn, "schools": ["9402001", "9402002"],
         "start_date": "2025-03-11", "note": "10 to 12 March 2025 at Abbey Fields, 11 to 13 March at Brook Street"},
        {"kind": "dual_registration_conflict", "upn": by_name["Okafor"].upn, "schools": ["9402001", "9402004"],
         "start_date": "2025-03-17", "sessions": ["2025-03-17 AM", "2025-03-17 PM", "2025-03-18 AM", "2025-03-18 PM"],
         "note": "E at Abbey Fields, present at Dale Park, 17 and 18 March 2025"},
        {"kind": "suspension_total_across_schools", "upn": by_name["Harper"].upn, "schools": ["9402004", "9402005"],
         "start_date": "2024-08-01", "actual": "47 days",
         "note": "24 days at Dale Park and 23 at Elm Tree; neither school is over 45 on its own"},
        {"kind": "unknown_school", "upn": None, "schools": [UNKNOWN_LAESTAB], "start_date": None,
         "actual": "1 records", "note": "one portal record of a LAESTAB with no school folder"},
    ]
    for finding in findings:
        finding["severity"] = KINDS[finding["kind"]].severity
    missing = {laestab: sum(1 for e in plan.exclusions if e.laestab == laestab and not e.on_portal)
               for laestab in SCHOOLS if laestab != BROKEN_LAESTAB}
    schools = [{"laestab": laestab, "name": SCHOOLS[laestab][0], "shape": SCHOOLS[laestab][1],
                "status": "failed" if laestab == BROKEN_LAESTAB else "ok",
                "missing_on_portal": missing.get(laestab, 0)} for laestab in sorted(SCHOOLS)]
    return {"as_of": AS_OF.isoformat(), "exit_code": 2, "findings": findings, "schools": schools}


def readme_section(data: dict) -> str:
    lines = ["With `--as-of 2025-07-23`, `la-overview.json` must list exactly these LA-wide findings:", "",
             "| # | kind | severity | UPN | schools | start date | what was planted |", "|---|---|---|---|---|---|---|"]
    for number, f in enumerate(data["findings"], start=1):
        upn = f"`{f['upn']}`" if f["upn"] else "–"
        lines.append(f"| {number} | `{f['kind']}` | {f['severity']} | {upn} | {', '.join(f['schools'])} | "
                     f"{f['start_date'] or '–'} | {f['note']} |")
    lines += ["", "and these schools:", "", "| LAESTAB | school | export shape | status | missing on portal |",
              "|---|---|---|---|---|"]
    for school in data["schools"]:
        lines.append(f"| {school['laestab']} | {school['name']} | {school['shape']} | {school['status']} | "
                     f"{school['missing_on_portal']} |")
    return "\n".join(lines)


def rewrite_readme(section: str) -> None:
    begin, end = "<!-- BEGIN generated by la/generate.py -->", "<!-- END generated by la/generate.py -->"
    text = README.read_text(encoding="utf-8")
    if begin not in text:
        return
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{begin}\n\n{section}\n\n{end}{tail}", encoding="utf-8")


def main() -> None:
    (HERE / "term-dates.toml").write_text(TERM_DATES, encoding="utf-8")
    (HERE / "la.toml").write_text(LA_TOML, encoding="utf-8")
    plan = build_plan()
    for laestab, (_, shape) in SCHOOLS.items():
        if shape == "broken":
            write_broken()
            continue
        write_school(laestab, shape, [e for e in plan.exclusions if e.laestab == laestab], plan.marks)
    write_portal(plan.exclusions)
    data = expected(plan)
    (HERE / "expected_la_findings.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    rewrite_readme(readme_section(data))


if __name__ == "__main__":
    main()
