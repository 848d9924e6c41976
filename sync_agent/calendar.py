"""School days and sessions in England, from bank holidays and an optional term-dates file.

A school day is a weekday that is not a bank holiday in England and, when a term-dates file is
given, lies inside one of its terms and is not one of its closure days. Each school day has two
sessions, AM and PM. Academic years run 1 August to 31 July and are named like "2024-25".

Counting uses numpy's business-day functions with every non-school weekday listed as a holiday,
so counts over hundreds of thousands of dates are vectorised. A calendar covers a fixed range of
dates. Outside it, a count would silently treat every weekday as a school day, so every public
method raises ``CalendarError`` for a date outside the calendar.

The term-dates file is TOML::

    closures = [2024-11-29, 2025-01-06]   # INSET and other closure days inside terms

    [[terms]]
    name = "Autumn 1"
    start = 2024-09-04
    end = 2024-10-25
"""

from __future__ import annotations

import bisect
import functools
import logging
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple

import holidays
import numpy as np

from sync_agent.errors import ConfigError

logger = logging.getLogger(__name__)

Session = Literal["AM", "PM"]
SESSIONS: tuple[Session, Session] = ("AM", "PM")

ENGLAND_SOURCE = "weekdays less bank holidays in England"
DEFAULT_YEARS = range(2000, 2041)
WEEKMASK = "1111100"

_TOP_LEVEL_KEYS = ("closures", "terms")
_TERM_KEYS = ("name", "start", "end")
_ACADEMIC_YEAR = re.compile(r"([0-9]{4})-([0-9]{2})")
_ONE_DAY = timedelta(days=1)


class CalendarError(ConfigError):
    """A date lies outside the calendar, or a run of sessions starts on a non-school day.

    ``day`` is the date concerned and ``source`` the calendar's source (a file path, or the
    weekdays-less-bank-holidays description).
    """

    def __init__(self, message: str, *, day: date | None = None, source: str = "") -> None:
        super().__init__(message)
        self.day = day
        self.source = source


@dataclass(frozen=True)
class Term:
    """A school term; ``start`` and ``end`` are both inclusive."""

    name: str
    start: date
    end: date

    @property
    def academic_year(self) -> str:
        """Name of the academic year the term starts in, like "2024-25"."""
        return SchoolCalendar.academic_year_of(self.start)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= _as_date(day) <= self.end


class SchoolSession(NamedTuple):
    """One register session: a school day and "AM" or "PM"."""

    date: date
    session: Session


@dataclass(frozen=True)
class TermDates:
    """The validated content of a term-dates file: terms sorted by start, and closure days."""

    path: Path
    terms: tuple[Term, ...]
    closures: tuple[date, ...]


# --- reading the term-dates file -------------------------------------------------------------


def load_term_dates(path: Path) -> TermDates:
    """Read and validate a term-dates file.

    Raises ConfigError naming the file, the key path and the fix. Key paths count ``[[terms]]``
    tables from 0, as in ``terms[2].end``. The checks reject an unreadable or invalid TOML file,
    an unknown or missing key, and a value that is not a TOML date. They also reject a term that
    ends before it starts or crosses 1 August, overlapping terms, a closure day outside every
    term, and an academic year without terms between two years that have them.
    """
    path = Path(path)
    document = _read_toml(path)
    top_level_hint = "the top level allows closures and terms"
    _reject_unknown_keys(path, document, _TOP_LEVEL_KEYS, "", top_level_hint)
    indexed_terms = _read_terms(path, document.get("terms"))
    _check_no_overlap(path, indexed_terms)
    terms = tuple(sorted((term for _, term in indexed_terms), key=_term_start))
    _check_no_missing_year(path, terms)
    closures = _read_closures(path, document.get("closures", []), terms)
    logger.debug("Read %d terms and %d closure days from %s", len(terms), len(closures), path)
    return TermDates(path=path, terms=terms, closures=closures)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the term-dates file ({exc.strerror}); check [calendar] path"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the term-dates file is not UTF-8 text; save it as UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}; correct the syntax there") from exc


def _reject_unknown_keys(
    path: Path, table: dict[str, Any], allowed: tuple[str, ...], prefix: str, hint: str
) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{path}: unknown key {prefix}{key}; {hint}")


def _read_terms(path: Path, raw_terms: object) -> list[tuple[int, Term]]:
    if raw_terms is None:
        raise ConfigError(
            f"{path}: no terms; add a [[terms]] table with name, start and end for each term"
        )
    if not isinstance(raw_terms, list) or not all(isinstance(item, dict) for item in raw_terms):
        raise ConfigError(
            f"{path}: terms must be a list of [[terms]] tables, each with name, start and end"
        )
    if not raw_terms:
        raise ConfigError(f"{path}: terms is empty; add at least one [[terms]] table")
    return [(index, _read_term(path, index, raw)) for index, raw in enumerate(raw_terms)]


def _read_term(path: Path, index: int, raw: dict[str, Any]) -> Term:
    prefix = f"terms[{index}]."
    _reject_unknown_keys(path, raw, _TERM_KEYS, prefix, "a term has the keys name, start and end")
    for key in _TERM_KEYS:
        if key not in raw:
            example = '"Autumn 1"' if key == "name" else "2024-09-04"
            raise ConfigError(f"{path}: {prefix}{key} is missing; add {key} = {example}")

    name = raw["name"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{path}: {prefix}name must be non-empty text, e.g. name = "Autumn 1"')
    start = _read_date(path, f"{prefix}start", raw["start"])
    end = _read_date(path, f"{prefix}end", raw["end"])

    if end < start:
        raise ConfigError(
            f"{path}: {prefix}end {end} is before {prefix}start {start} (term {name!r}); "
            "correct one of the two dates"
        )
    if SchoolCalendar.academic_year_of(start) != SchoolCalendar.academic_year_of(end):
        raise ConfigError(
            f"{path}: term {name!r} ({prefix}start {start} to {prefix}end {end}) crosses 1 August, "
            "the start of an academic year; end it by 31 July and start a new term after"
        )
    return Term(name=name.strip(), start=start, end=end)


def _read_date(path: Path, key_path: str, value: object) -> date:
    if isinstance(value, datetime):
        raise ConfigError(
            f"{path}: {key_path} is a date and time ({value.isoformat()}); write only the date, "
            f"e.g. {value.date().isoformat()}"
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        raise ConfigError(
            f"{path}: {key_path} is the text {value!r}, not a date; write a TOML date without "
            "quotes, e.g. 2024-09-04"
        )
    raise ConfigError(
        f"{path}: {key_path} is {value!r}, not a date; write a TOML date, e.g. 2024-09-04"
    )


def _check_no_overlap(path: Path, indexed_terms: list[tuple[int, Term]]) -> None:
    ordered = sorted(indexed_terms, key=lambda item: item[1].start)
    for (earlier_index, earlier), (later_index, later) in zip(ordered, ordered[1:]):
        if later.start <= earlier.end:
            raise ConfigError(
                f"{path}: terms[{later_index}].start {later.start} (term {later.name!r}) falls "
                f"inside terms[{earlier_index}] ({earlier.name!r}, {earlier.start} to "
                f"{earlier.end}); terms must not overlap, so correct one of the two terms"
            )


def _check_no_missing_year(path: Path, terms: tuple[Term, ...]) -> None:
    """Reject a gap of a whole academic year, which would otherwise count as a long holiday."""
    years_present = {int(term.academic_year[:4]) for term in terms}
    for year in range(min(years_present), max(years_present) + 1):
        if year not in years_present:
            missing = _academic_year_name(year)
            raise ConfigError(
                f"{path}: terms lists no term in {missing}, a year between years it does list; "
                f"add the {missing} terms"
            )


def _read_closures(path: Path, raw_closures: object, terms: tuple[Term, ...]) -> tuple[date, ...]:
    if not isinstance(raw_closures, list):
        raise ConfigError(
            f"{path}: closures must be an array of dates, e.g. closures = [2024-11-29, 2025-01-06]"
        )
    closures = []
    for index, value in enumerate(raw_closures):
        key_path = f"closures[{index}]"
        day = _read_date(path, key_path, value)
        if _find_term(terms, day) is None:
            raise ConfigError(
                f"{path}: {key_path} {day} is outside every term; closures are closure days "
                "inside terms, so correct the date or add the term it belongs to"
            )
        closures.append(day)
    return tuple(sorted(set(closures)))


def _term_start(term: Term) -> date:
    return term.start


def _find_term(terms: tuple[Term, ...], day: date) -> Term | None:
    """Return the term containing ``day``; ``terms`` must be sorted and must not overlap."""
    position = bisect.bisect_right([term.start for term in terms], day) - 1
    if position >= 0 and day <= terms[position].end:
        return terms[position]
    return None


# --- bank holidays and date conversion -------------------------------------------------------


@functools.lru_cache(maxsize=8)
def england_bank_holidays(first_year: int, last_year: int) -> tuple[date, ...]:
    """Return the bank holidays in England from ``first_year`` to ``last_year`` inclusive, sorted.

    The dates come from the ``holidays`` package, which also lists one-off bank holidays such as
    the 2023 coronation.
    """
    england = holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
    return tuple(sorted(england))


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _to_days(values: object) -> tuple[np.ndarray, bool]:
    """Convert a date, a datetime64, an array or a pandas Series to ``datetime64[D]``.

    Returns the converted values and whether the input was a single date. A time of day is
    dropped. Raises ValueError for a missing date (NaT), since it has no school-day position.
    """
    if isinstance(values, date):
        days = np.datetime64(_as_date(values), "D")
        single = True
    else:
        days = np.asarray(values).astype("datetime64[D]")
        single = days.ndim == 0
    if np.isnat(days).any():
        raise ValueError("a missing date (NaT) has no school-day position; drop or fill it first")
    return days, single


def _session_index(session: str) -> int:
    try:
        return SESSIONS.index(session)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"session must be 'AM' or 'PM', not {session!r}") from None


def _academic_year_name(first_year: int) -> str:
    return f"{first_year}-{(first_year + 1) % 100:02d}"


# --- the calendar ----------------------------------------------------------------------------


class SchoolCalendar:
    """School days and sessions between ``first_day`` and ``last_day`` inclusive.

    Build one with ``england()`` or ``from_file()``. ``source`` names where the school days come
    from, for messages and reports.
    """

    def __init__(
        self,
        *,
        source: str,
        first_day: date,
        last_day: date,
        non_school_weekdays: list[date] | tuple[date, ...],
        terms: tuple[Term, ...] = (),
    ) -> None:
        self.source = source
        self.first_day = first_day
        self.last_day = last_day
        self.terms = terms
        self._from_file = bool(terms)
        self._busdays = np.busdaycalendar(
            weekmask=WEEKMASK, holidays=np.array(non_school_weekdays, dtype="datetime64[D]")
        )

    def __repr__(self) -> str:
        return f"SchoolCalendar(source={self.source!r}, {self.first_day} to {self.last_day})"

    # --- construction --------------------------------------------------------------------

    @classmethod
    def england(cls, years: range | None = None) -> SchoolCalendar:
        """Build a calendar of weekdays less bank holidays in England, with no terms.

        It covers 1 January of the first year to 31 December of the last year of ``years``
        (default 2000 to 2040). The bank holidays of each range are loaded once and cached.
        """
        years = DEFAULT_YEARS if years is None else years
        if len(years) == 0 or years.step != 1:
            raise ValueError(f"years must be a non-empty range with step 1, not {years!r}")
        first_year, last_year = years[0], years[-1]
        return cls(
            source=ENGLAND_SOURCE,
            first_day=date(first_year, 1, 1),
            last_day=date(last_year, 12, 31),
            non_school_weekdays=england_bank_holidays(first_year, last_year),
        )

    @classmethod
    def from_file(cls, path: Path) -> SchoolCalendar:
        """Build a calendar from a term-dates file plus the bank holidays in England.

        It covers the first term's start to the last term's end. Weekdays between terms, closure
        days and bank holidays are not school days. Raises ConfigError for an invalid file.
        """
        term_dates = load_term_dates(path)
        terms = term_dates.terms
        first_day, last_day = terms[0].start, terms[-1].end
        bank_holidays = england_bank_holidays(first_day.year, last_day.year)
        non_school = [*bank_holidays, *term_dates.closures, *_days_between_terms(terms)]
        return cls(
            source=str(term_dates.path),
            first_day=first_day,
            last_day=last_day,
            non_school_weekdays=non_school,
            terms=terms,
        )

    # --- coverage ------------------------------------------------------------------------

    def covers(self, d: date) -> bool:
        """Return whether ``d`` lies in the range of dates the calendar covers."""
        return self.first_day <= _as_date(d) <= self.last_day

    def check_covered(self, d: date) -> None:
        """Raise CalendarError naming ``d``, the source and the fix unless ``d`` is covered."""
        if not self.covers(d):
            raise self._uncovered_error(_as_date(d))

    def _uncovered_error(self, day: date) -> CalendarError:
        if self._from_file:
            message = (
                f"{day} is outside the terms in {self.source} ({self.first_day} to "
                f"{self.last_day}); add the {self._missing_year_for(day)} terms"
            )
        else:
            message = (
                f"{day} is outside {self.first_day.year}–{self.last_day.year}, the years whose "
                "bank holidays in England this calendar holds; set [calendar] path to a "
                "term-dates file whose terms include it"
            )
        return CalendarError(message, day=day, source=self.source)

    def _missing_year_for(self, day: date) -> str:
        """Name the academic year whose terms would make the calendar cover ``day``.

        Usually that is the year of ``day``. But when the file's last term ends in July, a later
        day of that year lies in the summer holiday, which the calendar covers only once the
        next year's terms are added. Likewise, a day before a first term that starts in August or
        September needs the previous year's terms.
        """
        year = self.academic_year_of(day)
        first_year = int(year[:4])
        after_full_last_year = (
            day > self.last_day
            and self.last_day.month == 7
            and year == self.academic_year_of(self.last_day)
        )
        before_full_first_year = (
            day < self.first_day
            and self.first_day.month in (8, 9)
            and year == self.academic_year_of(self.first_day)
        )
        if after_full_last_year:
            return _academic_year_name(first_year + 1)
        if before_full_first_year:
            return _academic_year_name(first_year - 1)
        return year

    def _check_days_covered(self, days: np.ndarray, *, allow_day_after: bool = False) -> None:
        """Raise CalendarError for the earliest date in ``days`` that the calendar does not cover.

        ``allow_day_after`` also accepts the day after ``last_day``, which an exclusive end
        of a count may be.
        """
        lowest = np.datetime64(self.first_day, "D")
        highest = np.datetime64(self.last_day + (_ONE_DAY if allow_day_after else timedelta()), "D")
        outside = (days < lowest) | (days > highest)
        if np.any(outside):
            raise self._uncovered_error(np.min(days[outside]).item())

    # --- days ----------------------------------------------------------------------------

    def is_school_day(self, d: date) -> bool:
        """Return whether ``d`` is a school day; raises CalendarError outside the calendar."""
        self.check_covered(d)
        return bool(np.is_busday(np.datetime64(_as_date(d), "D"), busdaycal=self._busdays))

    def school_days_between(self, start: Any, end: Any) -> int | np.ndarray:
        """Count the school days in [start, end), negated when ``end`` is before ``start``.

        Both arguments may be dates, ``datetime64`` arrays or pandas datetime Series, and are
        broadcast like numpy's ``busday_count``. Returns an int for two single dates, else an
        int64 array. Raises CalendarError for a date outside the calendar, although ``end`` may
        be the day after the last day covered.
        """
        starts, single_start = _to_days(start)
        ends, single_end = _to_days(end)
        self._check_days_covered(np.atleast_1d(starts), allow_day_after=True)
        self._check_days_covered(np.atleast_1d(ends), allow_day_after=True)
        counts = np.busday_count(starts, ends, busdaycal=self._busdays)
        if single_start and single_end:
            return int(counts)
        return np.asarray(counts, dtype=np.int64)

    def add_school_days(self, d: date, n: int) -> date:
        """Return the ``n``th school day after ``d``, or before it when ``n`` is negative.

        With ``n`` = 0 the result is ``d`` itself when it is a school day, else the next one.
        Raises CalendarError when ``d`` or the result is outside the calendar.
        """
        result = self.add_school_days_array(np.datetime64(_as_date(d), "D"), n)
        return result.item()

    def add_school_days_array(self, days: Any, n: Any) -> np.ndarray:
        """Vectorised ``add_school_days``: ``days`` and ``n`` are broadcast together.

        Returns a ``datetime64[D]`` array (0-dimensional for single values).
        """
        starts, _ = _to_days(days)
        self._check_days_covered(np.atleast_1d(starts))
        offsets = np.asarray(n, dtype=np.int64)
        starts, offsets = np.broadcast_arrays(starts, offsets)
        # Rolling forward first makes n = 0 land on the next school day and keeps a negative n
        # counting back from the start: the school day before a Saturday is the Friday.
        results = np.asarray(
            np.busday_offset(starts, offsets, roll="forward", busdaycal=self._busdays)
        )
        first, last = np.datetime64(self.first_day, "D"), np.datetime64(self.last_day, "D")
        outside = (results < first) | (results > last)
        if np.any(outside):
            index = np.flatnonzero(outside)[0]
            raise self._beyond_error(starts.flat[index].item(), int(offsets.flat[index]))
        return results

    def _beyond_error(self, start: date, offset: int) -> CalendarError:
        if offset >= 0:
            beyond = self.last_day + _ONE_DAY
        else:
            beyond = self.first_day - _ONE_DAY
        reason = self._uncovered_error(beyond)
        message = f"{start} plus {offset} school days lies outside the calendar: {reason}"
        return CalendarError(message, day=beyond, source=self.source)

    # --- sessions ------------------------------------------------------------------------

    def _check_starts_on_school_day(self, start_date: date) -> None:
        if not self.is_school_day(start_date):
            raise CalendarError(
                f"{start_date} is not a school day in {self.source}; a run of sessions must start "
                "on a school day, so check the start date",
                day=_as_date(start_date),
                source=self.source,
            )

    def nth_session(self, start_date: date, start_session: Session, n: int) -> SchoolSession:
        """Return the school session ``n`` sessions after the start (``n`` = 0 is the start).

        A negative ``n`` counts back. Raises CalendarError when the start is not a school day or
        the result is outside the calendar, and ValueError for a session other than AM or PM.
        """
        position = _session_index(start_session) + n
        self._check_starts_on_school_day(start_date)
        day = self.add_school_days(start_date, position // 2)
        return SchoolSession(day, SESSIONS[position % 2])

    def expand_sessions(
        self, start_date: date, start_session: Session, count: int
    ) -> list[SchoolSession]:
        """Return the ``count`` consecutive school sessions beginning with the start session.

        Raises CalendarError when the start is not a school day or a session falls outside the
        calendar, and ValueError for a negative ``count``.
        """
        first = _session_index(start_session)
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        self._check_starts_on_school_day(start_date)
        if count == 0:
            return []
        day_count = (first + count - 1) // 2 + 1
        start_day = np.datetime64(_as_date(start_date), "D")
        days = self.add_school_days_array(start_day, np.arange(day_count))
        sessions = [SchoolSession(day, session) for day in days.tolist() for session in SESSIONS]
        return sessions[first : first + count]

    def sessions_between(
        self, start_date: date, start_session: Session, end_date: date, end_session: Session
    ) -> int:
        """Count the school sessions from the start session to the end session, both included.

        A start or end on a non-school day contributes no session. Returns 0 when the end comes
        before the start. Raises CalendarError for a date outside the calendar.
        """
        first = _session_index(start_session)
        last = _session_index(end_session)
        start_date, end_date = _as_date(start_date), _as_date(end_date)
        self.check_covered(start_date)
        self.check_covered(end_date)
        if (end_date, last) < (start_date, first):
            return 0

        total = 2 * int(self.school_days_between(start_date, end_date + _ONE_DAY))
        if first == 1 and self.is_school_day(start_date):
            total -= 1
        if last == 0 and self.is_school_day(end_date):
            total -= 1
        return total

    # --- terms and academic years --------------------------------------------------------

    def term_of(self, d: date) -> Term | None:
        """Return the term containing ``d``, or None (always None without a term-dates file)."""
        return _find_term(self.terms, _as_date(d))

    def school_days_in_term(self, term: Term) -> int:
        """Count the school days of ``term``."""
        return int(self.school_days_between(term.start, term.end + _ONE_DAY))

    def school_days_in_year(self, name: str) -> int:
        """Count the school days of the academic year ``name`` ("2024-25").

        With a term-dates file this is the sum over that year's terms; a year without terms
        raises CalendarError. Without one, the whole year must lie inside the calendar.
        """
        first, last = self.academic_year_bounds(name)
        if not self._from_file:
            return int(self.school_days_between(first, last + _ONE_DAY))
        year_terms = [term for term in self.terms if term.academic_year == name.strip()]
        if not year_terms:
            raise CalendarError(
                f"{self.source} has no terms in {name.strip()}; add the {name.strip()} terms",
                day=first,
                source=self.source,
            )
        return sum(self.school_days_in_term(term) for term in year_terms)

    @staticmethod
    def academic_year_of(d: date) -> str:
        """Name the academic year (1 August to 31 July) containing ``d``, like "2024-25"."""
        first_year = d.year if d.month >= 8 else d.year - 1
        return _academic_year_name(first_year)

    @staticmethod
    def academic_year_bounds(name: str) -> tuple[date, date]:
        """Return the first and last day (1 August, 31 July) of an academic year like "2024-25".

        Raises ConfigError unless ``name`` is four digits, a hyphen and the last two digits of
        the following year.
        """
        text = name.strip() if isinstance(name, str) else ""
        match = _ACADEMIC_YEAR.fullmatch(text)
        if match is None or int(match[2]) != (int(match[1]) + 1) % 100:
            raise ConfigError(
                f"invalid academic year {name!r}; write the starting year and the last two digits "
                "of the next, e.g. 2024-25"
            )
        first_year = int(match[1])
        return date(first_year, 8, 1), date(first_year + 1, 7, 31)


def _days_between_terms(terms: tuple[Term, ...]) -> list[date]:
    """Return every day after one term ends and before the next starts."""
    gaps: list[date] = []
    for earlier, later in zip(terms, terms[1:]):
        first_free = np.datetime64(earlier.end + _ONE_DAY, "D")
        gap = np.arange(first_free, np.datetime64(later.start, "D"), dtype="datetime64[D]")
        gaps.extend(gap.tolist())
    return gaps
