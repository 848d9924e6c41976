"""Write the sample school's register and pupil list, with planted register errors.

Writes ``exports/attendance.csv`` (the ``sims-attendance-csv`` shape: one row per pupil per
session, every school session of 2024-25 up to 22 July 2025), ``exports/pupils.csv`` (the
``sims-pupils-csv`` shape, with roll dates) and ``expected_register_findings.json``, and rewrites
the register section of README.md between its marker comments. The output is identical on every
run. Pupils, UPNs and dates of birth come from ``generate.py``; the exclusions are read back from
the MIS export it writes, so run ``generate.py`` first when the exclusions change.

Every session is marked present (``/`` AM, ``\\`` PM), ``E`` on each session an exclusion covers
(``B`` from day 6 where provision was made), with some ordinary absences from a fixed seed; then
the planted errors listed in ``PLANTS`` overwrite single sessions.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
import sys
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRST_DAY = date(2024, 9, 4)
LAST_DAY = date(2025, 7, 22)
SEED = 20250722
ABSENCE_CODES = ["I", "I", "I", "M", "O", "C"]
ABSENCE_RATE = 0.02

# Pupil list: roll dates differ from the whole year only where a plant needs it.
ON_ROLL_FROM = {"yilmaz": date(2025, 1, 7)}
ON_ROLL_TO = {"smith_okoro": date(2025, 3, 31)}  # permanently excluded 18 March 2025: taken off roll early
# Details that differ between the pupil list and the exclusions export.
PUPIL_LIST_CHANGES = {
    "osei": {"dob": date(2011, 1, 25)},          # a date of birth keyed differently
    "kowalski": {"surname": "Kowalska"},          # a surname spelt differently
    "clarke": {"surname": "CLARKE"},              # case only: not a difference
}


def _generate_module():
    spec = importlib.util.spec_from_file_location("sample_generate", HERE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sample_generate"] = module
    spec.loader.exec_module(module)
    return module


GEN = _generate_module()


def school_sessions(first: date, last: date) -> list[tuple[date, str]]:
    out = []
    day = first
    while day <= last:
        if GEN.is_school_day(day):
            out += [(day, "AM"), (day, "PM")]
        day += timedelta(days=1)
    return out


def read_exclusions(pupils_by_upn: dict) -> list[dict]:
    """Read the MIS export back: one dict per exclusion with its covered sessions."""
    text = (HERE / "exports" / "exclusions.csv").read_bytes().decode("cp1252")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[3]
    records = []
    for row in rows[4:]:
        if not row or not row[0] or row[0].startswith("Total"):
            continue
        record = dict(zip(header, row))
        start = date(*reversed([int(p) for p in record["Start Date"].split("/")]))
        if start < FIRST_DAY:
            continue
        kind = GEN.CATEGORY_OF_TYPE[record["Exclusion Type"]]
        records.append({"upn": record["UPN"], "kind": kind, "start": start, "session": record["Start Session"],
                        "sessions": int(record["Sessions"]) if record["Sessions"] else None,
                        "pupil": pupils_by_upn[record["UPN"]]})
    return records


# Planted register errors: (pupil key, date, session, mark or None for no mark, finding, note).
PLANTS = [
    ("adeyemi", date(2024, 9, 19), "PM", "\\", "wrong_attendance_code",
     "marked present on the last session of a suspension (18 to 19 September 2024)"),
    ("begum", date(2025, 4, 23), "AM", "O", "wrong_attendance_code",
     "marked O (unauthorised absence) where E belongs, first session of a suspension"),
    ("mensah", date(2024, 10, 9), "AM", None, "wrong_attendance_code",
     "no mark at all on a session of a suspension (8 to 10 October 2024)"),
    ("nowak", date(2025, 3, 11), "AM", "N", "wrong_attendance_code",
     "N and / on two sessions of one suspension: one finding listing both"),
    ("nowak", date(2025, 3, 12), "PM", "/", "wrong_attendance_code",
     "second wrong session of the same suspension"),
    ("khan", date(2025, 5, 14), "AM", "E", "exclusion_code_without_exclusion",
     "E on three consecutive sessions with no exclusion behind them: one finding"),
    ("khan", date(2025, 5, 14), "PM", "E", "exclusion_code_without_exclusion", "same run"),
    ("khan", date(2025, 5, 15), "AM", "E", "exclusion_code_without_exclusion", "same run"),
    ("thompson", date(2025, 1, 30), "AM", "E", "exclusion_code_without_exclusion",
     "the suspension only the portal holds: the register shows it, the MIS does not"),
    ("thompson", date(2025, 1, 30), "PM", "E", "exclusion_code_without_exclusion", "same run"),
]
# Sessions from day 6 on where provision was made (marked B): the rest of a long suspension stays E.
PROVISION_FROM_DAY_6 = {"murphy", "lewandowski", "szabo", "smith_okoro_permanent"}


def build_marks(pupils: dict, exclusions: list[dict]) -> dict[tuple[str, date, str], str | None]:
    rng = random.Random(SEED)
    sessions = school_sessions(FIRST_DAY, LAST_DAY)
    marks: dict[tuple[str, date, str], str | None] = {}
    for key, pupil in pupils.items():
        if key == "fletcher":
            continue
        first = ON_ROLL_FROM.get(key, FIRST_DAY)
        last = ON_ROLL_TO.get(key, LAST_DAY)
        for day, session in sessions:
            if first <= day <= last:
                present = "/" if session == "AM" else "\\"
                absent = rng.random() < ABSENCE_RATE
                marks[(pupil.upn, day, session)] = rng.choice(ABSENCE_CODES) if absent else present
    for record in exclusions:
        if record["kind"] == "lunchtime":
            continue
        pupil = record["pupil"]
        if record["kind"] == "permanent":
            last = ON_ROLL_TO.get(pupil.key, LAST_DAY)
            covered = [s for s in school_sessions(record["start"], last) if not (s[0] == record["start"] and record["session"] == "PM" and s[1] == "AM")]
            provided = pupil.key + "_permanent" in PROVISION_FROM_DAY_6
        else:
            covered = GEN.sessions_from(record["start"], record["session"], record["sessions"])
            provided = pupil.key in PROVISION_FROM_DAY_6
        for position, (day, session) in enumerate(covered):
            marks[(pupil.upn, day, session)] = "B" if provided and position >= 10 else "E"
    for key, day, session, mark, _kind, _note in PLANTS:
        marks[(pupils[key].upn, day, session)] = mark
    return marks


def write_attendance(marks: dict, path: Path) -> int:
    rows = sorted((upn, day, session, mark) for (upn, day, session), mark in marks.items() if mark is not None)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("UPN,Date,Session,Mark\r\n")
        for upn, day, session, mark in rows:
            handle.write(f"{upn},{day:%d/%m/%Y},{session},{mark}\r\n")
    return len(rows)


def write_pupils(pupils: dict, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["UPN", "Legal Surname", "Legal Forename", "DOB", "Admission Date", "Leaving Date"])
        for key, pupil in sorted(pupils.items(), key=lambda item: (item[1].surname, item[1].forename)):
            if key == "fletcher":
                continue
            change = PUPIL_LIST_CHANGES.get(key, {})
            leaving = ON_ROLL_TO.get(key)
            writer.writerow([pupil.upn, change.get("surname", pupil.surname), pupil.forename,
                             f"{change.get('dob', pupil.dob):%d/%m/%Y}",
                             f"{ON_ROLL_FROM.get(key, date(2024, 9, 4)):%d/%m/%Y}",
                             f"{leaving:%d/%m/%Y}" if leaving else ""])


def expected(pupils: dict, exclusions: list[dict]) -> list[dict]:
    def item(kind, key, category, start, note, **more):
        pupil = pupils[key]
        return {"kind": kind, "severity": GEN.KINDS[kind].severity if hasattr(GEN, "KINDS") else _severity(kind),
                "upn": pupil.upn, "pupil": f"{pupil.surname}, {pupil.forename}", "category": category,
                "start_date": start.isoformat() if start else None, "field": more.pop("field", None),
                "origin": more.pop("origin", "planted"), "note": note, **more}

    return [
        item("wrong_attendance_code", "adeyemi", "suspension", date(2024, 9, 18), PLANTS[0][5],
             sessions=["2024-09-19 PM"], actual="\\"),
        item("wrong_attendance_code", "mensah", "suspension", date(2024, 10, 8), PLANTS[2][5],
             sessions=["2024-10-09 AM"], actual="no mark"),
        item("wrong_attendance_code", "nowak", "suspension", date(2025, 3, 11), PLANTS[3][5],
             sessions=["2025-03-11 AM", "2025-03-12 PM"], actual="N, /"),
        item("wrong_attendance_code", "begum", "suspension", date(2025, 4, 23), PLANTS[1][5],
             sessions=["2025-04-23 AM"], actual="O"),
        item("exclusion_code_without_exclusion", "thompson", None, date(2025, 1, 30), PLANTS[8][5],
             sessions=["2025-01-30 AM", "2025-01-30 PM"]),
        item("exclusion_code_without_exclusion", "khan", None, date(2025, 5, 14), PLANTS[5][5],
             sessions=["2025-05-14 AM", "2025-05-14 PM", "2025-05-15 AM"]),
        item("no_provision_from_day_6", "smith_okoro", "suspension", date(2025, 2, 25),
             "16-session suspension marked E throughout: sessions 11 to 16 need provision",
             sessions=["2025-03-04 AM", "2025-03-04 PM", "2025-03-05 AM", "2025-03-05 PM", "2025-03-06 AM", "2025-03-06 PM"]),
        item("removed_from_roll_early", "smith_okoro", "permanent", date(2025, 3, 18),
             "permanently excluded 18 March 2025, taken off roll 31 March 2025, before the review window closes",
             field="on_roll_to"),
        item("pupil_details_mismatch", "kowalski", "suspension", date(2024, 10, 2),
             "surname Kowalska in the pupil list, Kowalski on the exclusion records", field="surname"),
        item("pupil_details_mismatch", "kowalski", "suspension", date(2025, 1, 20), "same pupil, second exclusion", field="surname"),
        item("pupil_details_mismatch", "kowalski", "suspension", date(2025, 6, 18), "same pupil, third exclusion", field="surname"),
        item("pupil_details_mismatch", "osei", "suspension", date(2025, 3, 13),
             "date of birth 25/01/2011 in the pupil list, 15/01/2011 on the exclusion record", field="date_of_birth"),
        item("board_review_required", "smith_okoro", "permanent", date(2025, 3, 18),
             "statutory rule for a permanent exclusion", origin="rule"),
        # The suspension totals and the notification dates come from the exclusions export, but
        # the rules that check them run with the register checks, so they are listed here too.
        *GEN.total_findings(pupils),
        *GEN.late_notice_findings(pupils),
    ]


def _severity(kind: str) -> str:
    from sync_agent.findings import severity_of

    return severity_of(kind)


README_BEGIN = "<!-- BEGIN generated by generate_register.py: register errors -->"
README_END = "<!-- END generated by generate_register.py: register errors -->"


def readme_section(findings: list[dict], mark_count: int) -> str:
    lines = [README_BEGIN, "", f"`exports/attendance.csv` holds {mark_count} marks. A register check with `--as-of "
             "2025-07-23` must produce these findings and no other register, roll or pupil-details finding:", "",
             "| # | kind | severity | UPN | pupil | category | start date | field | what was planted |",
             "|---|---|---|---|---|---|---|---|---|"]
    for number, f in enumerate(findings, 1):
        lines.append(f"| {number} | `{f['kind']}` | {f['severity']} | `{f['upn']}` | {f['pupil']} | {f['category'] or '–'} "
                     f"| {f['start_date']} | {('`' + f['field'] + '`') if f['field'] else '–'} | {f['note']} |")
    lines += ["", README_END]
    return "\n".join(lines)


def update_readme(section: str) -> None:
    path = HERE / "README.md"
    text = path.read_text(encoding="utf-8")
    if README_BEGIN in text:
        head, rest = text.split(README_BEGIN, 1)
        tail = rest.split(README_END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + REGISTER_README + "\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


REGISTER_README = """## The register and the pupil list

`generate_register.py` writes two more exports, which `agent.toml` reads once it lists them as
sources (kinds `attendance` and `pupils`):

- `exports/attendance.csv`: the SIMS attendance marks report in the `sims-attendance-csv` shape,
  `UPN,Date,Session,Mark`, UTF-8 with CRLF line endings, one row per pupil per school session from
  4 September 2024 to 22 July 2025. Every session is `/` (AM) or `\\` (PM), about 2% are
  ordinary absences (`I`, `M`, `O`, `C`), and every session a suspension or the permanent exclusion
  covers is `E`. Tyler Murphy's 15-session suspension in July, Kacper Lewandowski's 12-session
  suspension in February, Dominik Szabó's suspensions of 12 and 28 sessions and Jayden
  Smith-Okoro's permanent exclusion are marked `B` from day 6, since provision was made. Lunchtime exclusions leave the
  register as it is. Emre Yilmaz's marks start on 7 January 2025, when he joined, and Jayden
  Smith-Okoro's stop on 31 March 2025, when he was taken off roll.
- `exports/pupils.csv`: the pupil list in the `sims-pupils-csv` shape,
  `UPN,Legal Surname,Legal Forename,DOB,Admission Date,Leaving Date`, for the 30 pupils on roll.
  It spells one surname differently and gives one date of birth differently. It also writes one
  surname in capitals, which is the same name after case folding and must not be reported.

`expected_register_findings.json` lists the findings below in the shape of
`expected_findings.json`, plus `sessions` and `actual` where they are planted. The board review of
the permanent exclusion appears in both files, since the rule that raises it runs with the register
checks. So do the board review for a term total, the yearly limit and the late notifications,
for the same reason.
"""


def main() -> None:
    pupils = GEN.build_pupils(random.Random(GEN.SEED))
    by_upn = {pupil.upn: pupil for pupil in pupils.values()}
    exclusions = read_exclusions(by_upn)
    marks = build_marks(pupils, exclusions)
    count = write_attendance(marks, HERE / "exports" / "attendance.csv")
    write_pupils(pupils, HERE / "exports" / "pupils.csv")
    findings = expected(pupils, exclusions)
    (HERE / "expected_register_findings.json").write_text(json.dumps(findings, indent=2, ensure_ascii=False) + "\n",
                                                         encoding="utf-8")
    update_readme(readme_section(findings, count))
    print(f"wrote {count} marks and {len(findings)} expected register findings to {HERE}")


if __name__ == "__main__":
    main()
