"""Tests of school days, sessions, terms and academic years."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sync_agent.calendar import (
    ENGLAND_SOURCE,
    CalendarError,
    SchoolCalendar,
    SchoolSession,
    Term,
    load_term_dates,
)
from sync_agent.errors import ConfigError

TWO_YEARS = """\
closures = [2024-11-29, 2025-01-06]   # INSET days

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

ONE_TERM = """\
[[terms]]
name = "Summer 2"
start = 2025-06-02
end = 2025-07-22
"""


def write_terms(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "term-dates.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def school(tmp_path: Path) -> SchoolCalendar:
    return SchoolCalendar.from_file(write_terms(tmp_path, TWO_YEARS))


@pytest.fixture()
def england() -> SchoolCalendar:
    return SchoolCalendar.england()


# --- sessions --------------------------------------------------------------------------------


def test_pm_start_skips_may_day(school: SchoolCalendar) -> None:
    sessions = school.expand_sessions(date(2025, 5, 1), "PM", 4)

    assert sessions == [
        SchoolSession(date(2025, 5, 1), "PM"),
        SchoolSession(date(2025, 5, 2), "AM"),
        SchoolSession(date(2025, 5, 2), "PM"),
        SchoolSession(date(2025, 5, 6), "AM"),
    ]
    assert school.nth_session(date(2025, 5, 1), "PM", 3) == (date(2025, 5, 6), "AM")
    assert school.sessions_between(date(2025, 5, 1), "PM", date(2025, 5, 6), "AM") == 4


def test_friday_pm_start_crosses_weekend(england: SchoolCalendar) -> None:
    sessions = england.expand_sessions(date(2025, 5, 2), "PM", 3)

    assert sessions == [
        (date(2025, 5, 2), "PM"),
        (date(2025, 5, 6), "AM"),
        (date(2025, 5, 6), "PM"),
    ]


def test_nth_session_counts_back(england: SchoolCalendar) -> None:
    assert england.nth_session(date(2025, 5, 6), "AM", 0) == (date(2025, 5, 6), "AM")
    assert england.nth_session(date(2025, 5, 6), "AM", -1) == (date(2025, 5, 2), "PM")
    assert england.nth_session(date(2025, 5, 6), "PM", -3) == (date(2025, 5, 2), "AM")


def test_eleventh_session_is_day_six(england: SchoolCalendar) -> None:
    sessions = england.expand_sessions(date(2025, 3, 3), "PM", 11)

    assert sessions[10] == (date(2025, 3, 10), "PM")
    assert england.nth_session(date(2025, 3, 3), "PM", 10) == sessions[10]


def test_session_run_rejects_weekend_start(england: SchoolCalendar) -> None:
    with pytest.raises(CalendarError, match="2025-05-03 is not a school day"):
        england.nth_session(date(2025, 5, 3), "AM", 2)
    with pytest.raises(CalendarError, match="2025-05-05 is not a school day"):
        england.expand_sessions(date(2025, 5, 5), "AM", 2)


def test_expand_sessions_zero_count(england: SchoolCalendar) -> None:
    assert england.expand_sessions(date(2025, 5, 1), "AM", 0) == []


def test_invalid_session_name_rejected(england: SchoolCalendar) -> None:
    with pytest.raises(ValueError, match="'am'"):
        england.nth_session(date(2025, 5, 1), "am", 1)  # type: ignore[arg-type]


def test_sessions_between_inclusive_ends(school: SchoolCalendar) -> None:
    assert school.sessions_between(date(2025, 5, 1), "AM", date(2025, 5, 1), "AM") == 1
    assert school.sessions_between(date(2025, 5, 1), "AM", date(2025, 5, 1), "PM") == 2
    assert school.sessions_between(date(2025, 5, 1), "PM", date(2025, 5, 1), "AM") == 0
    # Friday PM to Tuesday PM over a weekend and May Day: Fri PM, Tue AM, Tue PM.
    assert school.sessions_between(date(2025, 5, 2), "PM", date(2025, 5, 6), "PM") == 3
    # An end on a bank holiday contributes nothing, whatever its session.
    assert school.sessions_between(date(2025, 5, 2), "AM", date(2025, 5, 5), "AM") == 2


# --- days ------------------------------------------------------------------------------------


def test_easter_bank_holidays_skipped(england: SchoolCalendar) -> None:
    assert not england.is_school_day(date(2025, 4, 18))
    assert not england.is_school_day(date(2025, 4, 21))
    assert england.add_school_days(date(2025, 4, 17), 1) == date(2025, 4, 22)
    assert england.add_school_days(date(2025, 4, 22), -1) == date(2025, 4, 17)
    assert england.school_days_between(date(2025, 4, 14), date(2025, 4, 28)) == 8


def test_christmas_holiday_counts_with_terms(
    school: SchoolCalendar, england: SchoolCalendar
) -> None:
    # 19 and 20 December, then 7 January: 6 January is an INSET day.
    assert school.school_days_between(date(2024, 12, 19), date(2025, 1, 8)) == 3
    assert school.school_days_between(date(2025, 1, 8), date(2024, 12, 19)) == -3
    assert england.school_days_between(date(2024, 12, 19), date(2025, 1, 8)) == 11


def test_inset_closure_skipped(school: SchoolCalendar) -> None:
    assert not school.is_school_day(date(2024, 11, 29))
    assert school.add_school_days(date(2024, 11, 28), 1) == date(2024, 12, 2)
    assert school.expand_sessions(date(2024, 11, 28), "PM", 2) == [
        (date(2024, 11, 28), "PM"),
        (date(2024, 12, 2), "AM"),
    ]


def test_add_school_days_both_directions(school: SchoolCalendar) -> None:
    assert school.add_school_days(date(2025, 3, 3), 5) == date(2025, 3, 10)
    assert school.add_school_days(date(2025, 3, 10), -5) == date(2025, 3, 3)
    assert school.add_school_days(date(2025, 4, 3), 2) == date(2025, 4, 22)
    assert school.add_school_days(date(2025, 4, 22), -2) == date(2025, 4, 3)


def test_add_zero_rolls_forward(school: SchoolCalendar) -> None:
    assert school.add_school_days(date(2025, 3, 3), 0) == date(2025, 3, 3)
    assert school.add_school_days(date(2025, 3, 1), 0) == date(2025, 3, 3)
    assert school.add_school_days(date(2025, 3, 1), -1) == date(2025, 2, 28)


def test_add_array_matches_scalar(school: SchoolCalendar) -> None:
    starts = np.array(
        ["2024-09-04", "2024-12-20", "2025-03-01", "2025-07-18"], dtype="datetime64[D]"
    )
    offsets = np.array([10, 1, -3, 4])

    results = school.add_school_days_array(starts, offsets)

    expected = [school.add_school_days(start, int(n)) for start, n in zip(starts.tolist(), offsets)]
    assert results.tolist() == expected


def test_school_days_between_vectorised(school: SchoolCalendar) -> None:
    rng = np.random.default_rng(20240904)
    first, last = np.datetime64("2024-09-04"), np.datetime64("2025-10-25")
    span = int((last - first).astype(int))
    starts = first + rng.integers(0, span + 1, size=500).astype("timedelta64[D]")
    ends = first + rng.integers(0, span + 1, size=500).astype("timedelta64[D]")

    counts = school.school_days_between(starts, ends)

    expected = [school.school_days_between(s, e) for s, e in zip(starts.tolist(), ends.tolist())]
    assert counts.dtype == np.int64
    assert counts.tolist() == expected


def test_school_days_between_pandas_series(england: SchoolCalendar) -> None:
    starts = pd.Series(pd.to_datetime(["2025-04-14", "2024-12-19"]))
    ends = pd.Series(pd.to_datetime(["2025-04-28", "2025-01-08"]))

    counts = england.school_days_between(starts, ends)

    assert counts.tolist() == [8, 11]


def test_missing_date_in_array_rejected(england: SchoolCalendar) -> None:
    starts = np.array(["2025-04-14", "NaT"], dtype="datetime64[D]")
    with pytest.raises(ValueError, match="NaT"):
        england.school_days_between(starts, date(2025, 5, 1))


# --- coverage --------------------------------------------------------------------------------


def test_date_outside_terms_raises(tmp_path: Path) -> None:
    calendar = SchoolCalendar.from_file(write_terms(tmp_path, ONE_TERM))

    assert not calendar.covers(date(2025, 9, 2))
    with pytest.raises(CalendarError) as caught:
        calendar.check_covered(date(2025, 9, 2))

    message = str(caught.value)
    assert "2025-09-02" in message
    assert "term-dates.toml" in message
    assert "add the 2025-26 terms" in message
    assert caught.value.day == date(2025, 9, 2)
    assert isinstance(caught.value, ConfigError)


def test_every_method_checks_coverage(tmp_path: Path) -> None:
    calendar = SchoolCalendar.from_file(write_terms(tmp_path, ONE_TERM))
    outside = date(2025, 5, 30)

    with pytest.raises(CalendarError, match="2025-05-30"):
        calendar.is_school_day(outside)
    with pytest.raises(CalendarError, match="2025-05-30"):
        calendar.school_days_between(outside, date(2025, 6, 10))
    with pytest.raises(CalendarError, match="2025-05-30"):
        calendar.school_days_between(
            np.array(["2025-06-03", "2025-05-30"], dtype="datetime64[D]"), date(2025, 6, 10)
        )
    with pytest.raises(CalendarError, match="2025-05-30"):
        calendar.sessions_between(outside, "AM", date(2025, 6, 10), "PM")


def test_count_may_end_after_last_term(tmp_path: Path) -> None:
    calendar = SchoolCalendar.from_file(write_terms(tmp_path, ONE_TERM))

    assert calendar.school_days_between(date(2025, 7, 21), date(2025, 7, 23)) == 2
    with pytest.raises(CalendarError, match="2025-07-24"):
        calendar.school_days_between(date(2025, 7, 21), date(2025, 7, 24))


def test_add_past_last_term_raises(tmp_path: Path) -> None:
    calendar = SchoolCalendar.from_file(write_terms(tmp_path, ONE_TERM))

    with pytest.raises(CalendarError) as caught:
        calendar.add_school_days(date(2025, 7, 18), 5)

    message = str(caught.value)
    assert "2025-07-18 plus 5 school days" in message
    assert "add the 2025-26 terms" in message


def test_england_calendar_bounds(england: SchoolCalendar) -> None:
    assert england.source == ENGLAND_SOURCE
    assert england.covers(date(2000, 1, 1))
    assert england.covers(date(2040, 12, 31))
    assert england.term_of(date(2025, 5, 1)) is None
    with pytest.raises(CalendarError, match="1999-12-31 is outside 2000–2040"):
        england.check_covered(date(1999, 12, 31))


def test_england_custom_year_range() -> None:
    calendar = SchoolCalendar.england(range(2024, 2026))

    assert calendar.covers(date(2025, 12, 31))
    assert not calendar.covers(date(2026, 1, 1))
    assert not calendar.is_school_day(date(2025, 12, 26))


# --- terms and academic years ----------------------------------------------------------------


def test_terms_of_two_academic_years(school: SchoolCalendar, tmp_path: Path) -> None:
    assert school.source == str(tmp_path / "term-dates.toml")
    autumn_2025 = Term("Autumn 1", date(2025, 9, 3), date(2025, 10, 24))
    assert school.term_of(date(2025, 9, 10)) == autumn_2025
    assert school.term_of(date(2025, 9, 10)).academic_year == "2025-26"
    assert school.term_of(date(2024, 9, 10)).academic_year == "2024-25"
    assert school.term_of(date(2025, 8, 10)) is None
    assert not school.is_school_day(date(2025, 8, 11))
    # 21 and 22 July, then 3 and 4 September: the summer holiday counts no days.
    assert school.school_days_between(date(2025, 7, 21), date(2025, 9, 5)) == 4


def test_school_days_in_term_and_year(school: SchoolCalendar) -> None:
    autumn_2 = school.term_of(date(2024, 11, 4))
    # 7 weeks of 5 days less the INSET day on 29 November.
    assert school.school_days_in_term(autumn_2) == 34
    assert school.school_days_in_year("2025-26") == 38
    with pytest.raises(CalendarError, match="add the 2026-27 terms"):
        school.school_days_in_year("2026-27")


def test_england_school_days_in_year(england: SchoolCalendar) -> None:
    # 261 weekdays from 1 August 2024 to 31 July 2025, less 8 bank holidays.
    assert england.school_days_in_year("2024-25") == 253


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2024, 9, 4), "2024-25"),
        (date(2025, 7, 31), "2024-25"),
        (date(2025, 8, 1), "2025-26"),
        (date(1999, 8, 1), "1999-00"),
    ],
)
def test_academic_year_naming(day: date, name: str) -> None:
    assert SchoolCalendar.academic_year_of(day) == name


def test_academic_year_bounds_valid() -> None:
    assert SchoolCalendar.academic_year_bounds("2024-25") == (date(2024, 8, 1), date(2025, 7, 31))
    assert SchoolCalendar.academic_year_bounds("1999-00") == (date(1999, 8, 1), date(2000, 7, 31))


@pytest.mark.parametrize("name", ["2024-26", "2024/25", "24-25", "2024-2025", ""])
def test_academic_year_bounds_invalid(name: str) -> None:
    with pytest.raises(ConfigError, match="e.g. 2024-25"):
        SchoolCalendar.academic_year_bounds(name)


# --- invalid term-dates files ----------------------------------------------------------------

AUTUMN_1 = '[[terms]]\nname = "Autumn 1"\nstart = 2024-09-04\nend = 2024-10-25\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            AUTUMN_1 + '[[terms]]\nname = "Autumn 2"\nbegin = 2024-11-04\nend = 2024-12-20\n',
            "unknown key terms[1].begin",
            id="unknown-term-key",
        ),
        pytest.param("holidays = []\n" + AUTUMN_1, "unknown key holidays", id="unknown-top-key"),
        pytest.param(
            AUTUMN_1
            + '[[terms]]\nname = "Autumn 2"\nstart = 2024-11-04\nend = 2024-12-20\n'
            + '[[terms]]\nname = "Spring 1"\nstart = 2025-01-06\nend = 2025-01-03\n',
            "terms[2].end 2025-01-03 is before terms[2].start 2025-01-06",
            id="end-before-start",
        ),
        pytest.param(
            AUTUMN_1 + '[[terms]]\nname = "Autumn 2"\nstart = 2024-10-21\nend = 2024-12-20\n',
            "terms[1].start 2024-10-21 (term 'Autumn 2') falls inside terms[0]",
            id="overlap",
        ),
        pytest.param(
            "closures = [2024-11-29]\n" + AUTUMN_1,
            "closures[0] 2024-11-29 is outside every term",
            id="closure-outside-terms",
        ),
        pytest.param(
            '[[terms]]\nname = "Autumn 1"\nstart = "2024-09-04"\nend = 2024-10-25\n',
            "terms[0].start is the text '2024-09-04', not a date",
            id="quoted-date",
        ),
        pytest.param(
            '[[terms]]\nname = "Autumn 1"\nstart = 2024-09-04T08:45:00\nend = 2024-10-25\n',
            "terms[0].start is a date and time",
            id="datetime",
        ),
        pytest.param(
            '[[terms]]\nname = "Autumn 1"\nstart = 2024-09-04\n',
            "terms[0].end is missing",
            id="missing-end",
        ),
        pytest.param(
            "closures = [29/11/2024]\n" + AUTUMN_1,
            "invalid TOML",
            id="toml-syntax",
        ),
        pytest.param("closures = []\n", "no terms", id="no-terms"),
        pytest.param(
            AUTUMN_1 + '[[terms]]\nname = "Autumn 1"\nstart = 2026-09-02\nend = 2026-10-23\n',
            "terms lists no term in 2025-26",
            id="missing-academic-year",
        ),
        pytest.param(
            '[[terms]]\nname = "Summer 2"\nstart = 2025-06-02\nend = 2025-08-05\n',
            "crosses 1 August",
            id="term-across-august",
        ),
    ],
)
def test_invalid_term_file_rejected(tmp_path: Path, text: str, expected: str) -> None:
    path = write_terms(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        SchoolCalendar.from_file(path)

    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_term_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(ConfigError, match="absent.toml: cannot read the term-dates file"):
        SchoolCalendar.from_file(path)


def test_load_term_dates_sorts_terms(tmp_path: Path) -> None:
    text = (
        "closures = [2024-11-29, 2024-11-29]\n"
        '[[terms]]\nname = "Autumn 2"\nstart = 2024-11-04\nend = 2024-12-20\n' + AUTUMN_1
    )

    term_dates = load_term_dates(write_terms(tmp_path, text))

    assert [term.name for term in term_dates.terms] == ["Autumn 1", "Autumn 2"]
    assert term_dates.closures == (date(2024, 11, 29),)


def test_gap_between_terms_not_school(school: SchoolCalendar) -> None:
    half_term = [date(2024, 10, 28) + timedelta(days=offset) for offset in range(5)]

    assert [school.is_school_day(day) for day in half_term] == [False] * 5
    assert school.is_school_day(date(2024, 11, 4))


def test_uncovered_summer_names_next_year(tmp_path: Path) -> None:
    calendar = SchoolCalendar.from_file(write_terms(tmp_path, ONE_TERM))

    with pytest.raises(CalendarError, match="2025-07-25 .* add the 2025-26 terms"):
        calendar.check_covered(date(2025, 7, 25))
    # The file starts with the last term of 2024-25, so the earlier ones are missing.
    with pytest.raises(CalendarError, match="2025-05-30 .* add the 2024-25 terms"):
        calendar.check_covered(date(2025, 5, 30))
    with pytest.raises(CalendarError, match="2023-05-30 .* add the 2022-23 terms"):
        calendar.check_covered(date(2023, 5, 30))


def test_uncovered_august_names_previous_year(school: SchoolCalendar) -> None:
    with pytest.raises(CalendarError, match="2024-08-30 .* add the 2023-24 terms"):
        school.check_covered(date(2024, 8, 30))
