"""Attendance marks: the three register layouts, the fast reader and the mark checks."""

from __future__ import annotations

import pandas as pd
import pytest

from register_helpers import LAESTAB, UPN, make_calendar
from sync_agent.attendance import validate_marks
from sync_agent.connectors.attendance_layouts import read_attendance_layout
from sync_agent.extract import extract
from sync_agent.mapper import map_records
from sync_agent.mapping import load_mapping
from sync_agent.marks_reader import read_marks, read_marks_with_counts

DEFAULTS = {"laestab": LAESTAB}
# Week of Monday 3 March 2025, and Monday 10 March AM.
MARKS = [
    ("03/03/2025", "AM", "/"), ("03/03/2025", "PM", "\\"), ("04/03/2025", "AM", "E"), ("04/03/2025", "PM", "E"),
    ("05/03/2025", "AM", "O"), ("05/03/2025", "PM", "\\"), ("06/03/2025", "AM", "L"), ("06/03/2025", "PM", "\\"),
    ("07/03/2025", "AM", "/"), ("07/03/2025", "PM", "K"), ("10/03/2025", "AM", "/"),
]


@pytest.fixture
def calendar(tmp_path):
    return make_calendar(tmp_path)


def _long_csv(tmp_path, rows, name="attendance.csv") -> object:
    path = tmp_path / name
    lines = ["UPN,Date,Session,Mark"] + [f"{upn},{day},{session},{mark}" for upn, day, session, mark in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _as_tuples(marks: pd.DataFrame) -> list[tuple]:
    frame = marks.astype({"laestab": str, "upn": str, "session": str, "code": str})
    return sorted(zip(frame["laestab"], frame["upn"], frame["date"].dt.strftime("%Y-%m-%d"), frame["session"], frame["code"]))


def _slow_read(path, mapping_name, calendar):
    mapping = load_mapping(mapping_name)
    raw = read_attendance_layout(path, mapping, calendar) if mapping.spec.mapping.layout != "records" else extract(path, mapping)
    return validate_marks(map_records(raw, mapping, defaults=DEFAULTS), mapping, calendar), raw


def test_long_csv_fast_and_slow_paths_agree(tmp_path, calendar):
    path = _long_csv(tmp_path, [(UPN, *row) for row in MARKS])
    fast, fast_rejects, count = read_marks(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    (slow, slow_rejects), _raw = _slow_read(path, "sims-attendance-csv", calendar)
    assert count == 11
    assert _as_tuples(fast) == _as_tuples(slow)
    assert len(fast) == 11
    assert list(fast["source_line"]) == list(range(2, 13))
    assert fast_rejects.empty and slow_rejects.empty


def test_wide_layout_reads_same_marks(tmp_path, calendar):
    long_path = _long_csv(tmp_path, [(UPN, *row) for row in MARKS])
    wide = tmp_path / "weekly.csv"
    header = "UPN,Week Commencing," + ",".join(f"{d} {s}" for d in ("Mon", "Tue", "Wed", "Thu", "Fri") for s in ("AM", "PM"))
    week_1 = ",".join(mark for _day, _session, mark in MARKS[:10])
    week_2 = "/" + "," * 9
    wide.write_text(f"{header}\n{UPN},03/03/2025,{week_1}\n{UPN},10/03/2025,{week_2}\n", encoding="utf-8")
    (wide_marks, wide_rejects), _ = _slow_read(wide, "sims-attendance-wide-csv", calendar)
    long_marks, _, _ = read_marks(long_path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    assert _as_tuples(wide_marks) == _as_tuples(long_marks)
    assert wide_rejects.empty
    assert set(wide_marks.loc[wide_marks["date"] == "2025-03-10", "source_line"]) == {3}


def _ctf(path, start: str, marks: str) -> None:
    path.write_text(
        "<?xml version='1.0' encoding='UTF-8'?>\n<CTfile>\n <Header>\n  <DocumentName>Common Transfer File</DocumentName>\n"
        "  <SourceSchool>\n   <LEA>940</LEA>\n   <Estab>4123</Estab>\n  </SourceSchool>\n </Header>\n <CTFpupilData>\n"
        f"  <Pupil>\n   <UPN>{UPN}</UPN>\n   <Surname>Smith</Surname>\n   <Attendance>\n    <YearData>\n"
        f"     <AttendSessions>\n      <AttendanceStartDate>{start}</AttendanceStartDate>\n"
        f"      <AttendanceMarks>{marks}</AttendanceMarks>\n     </AttendSessions>\n    </YearData>\n"
        "   </Attendance>\n  </Pupil>\n </CTFpupilData>\n</CTfile>\n",
        encoding="utf-8",
    )


def test_ctf_layout_reads_same_marks(tmp_path, calendar):
    long_path = _long_csv(tmp_path, [(UPN, *row) for row in MARKS])
    week_1 = "".join(mark for _day, _session, mark in MARKS[:10])
    ctf = tmp_path / "pupils.xml"
    # Saturday 1 March first ('#' for its sessions), then the school week and the weekend after it.
    _ctf(ctf, "2025-03-01", "####" + week_1 + "####")
    (ctf_marks, ctf_rejects), raw = _slow_read(ctf, "ctf-attendance", calendar)
    long_marks, _, _ = read_marks(long_path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    assert _as_tuples(ctf_marks) == [m for m in _as_tuples(long_marks) if m[2] != "2025-03-10"]
    assert ctf_rejects.empty
    assert set(ctf_marks["source_line"]) == {16}


def test_ctf_hash_on_school_day_is_rejected(tmp_path, calendar):
    ctf = tmp_path / "pupils.xml"
    _ctf(ctf, "2025-03-03", "/\\##")
    raw = read_attendance_layout(ctf, load_mapping("ctf-attendance"), calendar)
    assert raw.frame.empty
    assert "2025-03-04 AM has '#' (not in session) on a school day" in raw.rejects[0][3]


def test_ctf_string_that_cannot_align_is_rejected(tmp_path, calendar):
    ctf = tmp_path / "pupils.xml"
    # Starts a day late: the fifth day's marks fall on Saturday 8 March.
    _ctf(ctf, "2025-03-04", "".join(mark for _d, _s, mark in MARKS[:10]))
    raw = read_attendance_layout(ctf, load_mapping("ctf-attendance"), calendar)
    assert raw.frame.empty
    assert len(raw.rejects) == 1
    line, field, _value, message = raw.rejects[0]
    assert field == "AttendanceMarks"
    assert "2025-03-08 AM" in message
    assert "does not line up" in message


def test_ctf_odd_length_is_rejected(tmp_path):
    ctf = tmp_path / "pupils.xml"
    _ctf(ctf, "2025-03-03", "/\\/")
    raw = read_attendance_layout(ctf, load_mapping("ctf-attendance"))
    assert raw.frame.empty
    assert "odd number" in raw.rejects[0][3]


def test_mark_rejects_name_line_field_and_fix(tmp_path, calendar):
    rows = [
        (UPN, "15/07/2024", "AM", "K"),   # line 2: K before 19 August 2024
        (UPN, "15/07/2024", "PM", "J"),   # line 3: J was valid then
        (UPN, "09/09/2024", "AM", "J"),   # line 4: J withdrawn from 19 August 2024
        (UPN, "09/09/2024", "PM", "K"),   # line 5: K valid from 19 August 2024
        (UPN, "07/09/2024", "AM", "/"),   # line 6: a Saturday
        (UPN, "06/01/2025", "AM", "/"),   # line 7: a closure day
        ("J940400112002", "09/09/2024", "AM", "/"),  # line 8: wrong check letter
        (UPN, "31/09/2024", "AM", "/"),   # line 9: no such date
        (UPN, "10/09/2024", "XX", "/"),   # line 10: not a session
        (UPN, "10/09/2024", "AM", ""),    # line 11: no mark, dropped without a reject
    ]
    path = _long_csv(tmp_path, rows)
    marks, rejects, _count = read_marks(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    by_line = {line: (field, message) for line, field, message in zip(rejects["line"], rejects["field"], rejects["message"])}
    assert sorted(by_line) == [2, 4, 6, 7, 8, 9, 10]
    assert by_line[2][0] == "Mark"
    assert "2006-regulations" in by_line[2][1]
    assert "2024-07-15" in by_line[2][1]
    assert "2024-regulations" in by_line[4][1]
    assert str(calendar.source) in by_line[6][1]
    assert "not a school day" in by_line[6][1]
    assert "2025-01-06" in by_line[7][1]
    assert "check letter" in by_line[8][1]
    assert by_line[9][0] == "Date"
    assert by_line[10][0] == "Session"
    assert sorted(marks["source_line"]) == [3, 5]


def test_quoted_csv_uses_delimited_connector(tmp_path, calendar):
    path = tmp_path / "attendance.csv"
    path.write_text(f'UPN,Date,Session,Mark\n"{UPN}",03/03/2025,AM,/\n\n{UPN},03/03/2025,PM,E\n', encoding="utf-8")
    marks, rejects, _count = read_marks(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    assert sorted(marks["source_line"]) == [2, 4]
    assert rejects.empty


def _crlf_csv(tmp_path, lines, name="attendance.csv") -> object:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(["UPN,Date,Session,Mark", *lines]) + "\r\n").encode("utf-8"))
    return path


@pytest.mark.parametrize(("gap", "cause"), [("", "blank"), (",,,", "empty")])
def test_blank_line_skipped_in_both_paths(tmp_path, calendar, gap, cause):
    rows = [f"{UPN},{day},{session},{mark}" for day, session, mark in MARKS[:4]]
    path = _crlf_csv(tmp_path, [*rows[:2], gap, *rows[2:]])

    result = read_marks_with_counts(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    (slow, slow_rejects), raw = _slow_read(path, "sims-attendance-csv", calendar)

    assert result.rejects.empty
    assert sorted(result.marks["source_line"]) == [2, 3, 5, 6]
    assert result.read == 4
    assert result.skipped == {cause: 1}
    assert slow_rejects.empty
    assert sorted(slow["source_line"]) == [2, 3, 5, 6]
    assert dict(raw.skipped) == {cause: 1}


def test_short_row_counted_as_no_mark(tmp_path, calendar):
    rows = [f"{UPN},{day},{session},{mark}" for day, session, mark in MARKS[:4]]
    rows[1] = f"{UPN},{MARKS[1][0]},{MARKS[1][1]}"
    rows[2] = f"{UPN},{MARKS[2][0]},{MARKS[2][1]},"
    path = _crlf_csv(tmp_path, rows)

    result = read_marks_with_counts(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)
    (slow, slow_rejects), _raw = _slow_read(path, "sims-attendance-csv", calendar)

    assert result.read == 4
    assert result.no_mark == 2
    assert result.rejects.empty
    assert sorted(result.marks["source_line"]) == [2, 5]
    assert _as_tuples(result.marks) == _as_tuples(slow)
    assert slow_rejects.empty


def test_no_mark_count_logged_without_upns(tmp_path, calendar, caplog):
    rows = [f"{UPN},{day},{session},{mark}" for day, session, mark in MARKS[:3]]
    rows[1] = f"{UPN},{MARKS[1][0]},{MARKS[1][1]}"
    path = _crlf_csv(tmp_path, rows)

    with caplog.at_level("INFO"):
        read_marks(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)

    assert "1 left out as sessions with no mark" in caplog.text
    assert "expected 4 columns, got 3" in caplog.text
    assert UPN not in caplog.text


def test_too_many_fields_rejected_and_counted(tmp_path, calendar):
    rows = [f"{UPN},{day},{session},{mark}" for day, session, mark in MARKS[:3]]
    rows[1] += ",extra"
    path = _crlf_csv(tmp_path, rows)

    result = read_marks_with_counts(path, load_mapping("sims-attendance-csv"), calendar, defaults=DEFAULTS)

    assert result.read == 3
    assert sorted(result.marks["source_line"]) == [2, 4]
    assert list(result.rejects["line"]) == [3]
    assert result.rejects["message"].iloc[0].startswith("record has 5 fields but the header has 4")
