"""Attendance register codes as versioned data, checked a whole column at a time.

The code sets live in ``codelists/attendance_codes.toml``, one version per set of regulations with
the first date it applies to. A mark is valid when the version in force on its session's date lists
it; ``K`` before 19 August 2024 and ``J`` from that date are therefore invalid.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

CATEGORIES = ("present", "approved", "authorised", "unauthorised", "not_counted")


@dataclass(frozen=True)
class AttendanceCodeVersion:
    """One code set: its name, first date in force and codes by category."""

    name: str
    starts: dt.date
    categories: dict[str, frozenset[str]]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset().union(*self.categories.values())

    def category_of(self, code: str) -> str | None:
        return next((name for name, codes in self.categories.items() if code in codes), None)


@dataclass(frozen=True)
class AttendanceCodes:
    """The attendance code versions, sorted by the date each comes into force."""

    versions: tuple[AttendanceCodeVersion, ...]

    def version_on(self, day: dt.date) -> AttendanceCodeVersion | None:
        """Return the version in force on ``day``, or None before the first one."""
        current = None
        for version in self.versions:
            if version.starts <= day:
                current = version
        return current

    def version_index(self, dates: pd.Series | np.ndarray) -> np.ndarray:
        """Return, per date, the index of the version in force (-1 before the first version)."""
        starts = np.array([v.starts for v in self.versions], dtype="datetime64[D]")
        days = np.asarray(dates, dtype="datetime64[D]")
        return np.searchsorted(starts, days, side="right") - 1

    def invalid(self, codes: pd.Series, dates: pd.Series) -> np.ndarray:
        """Return, per mark, whether its code is missing from the set in force on its date.

        ``codes`` may be categorical (as the fast marks reader returns them): the check then works
        on the categories, so 20 million marks cost a table lookup each.
        """
        categorical = codes.astype("category")
        names = list(categorical.cat.categories)
        valid_table = np.array([[name in v.codes for name in names] for v in self.versions], dtype=bool)
        versions = self.version_index(dates.to_numpy())
        code_index = categorical.cat.codes.to_numpy()
        known = (versions >= 0) & (code_index >= 0)
        valid = np.zeros(len(codes), dtype=bool)
        valid[known] = valid_table[versions[known], code_index[known]]
        return ~valid

    def messages(self, codes: pd.Series, dates: pd.Series) -> pd.Series:
        """Return, per mark, why its code is invalid on its date ("" where it is valid)."""
        invalid = self.invalid(codes, dates)
        versions = self.version_index(dates.to_numpy())
        result = pd.Series("", index=codes.index, dtype=object)
        for position in np.flatnonzero(invalid):
            result.iat[position] = self._message(str(codes.iat[position]), dates.iat[position], versions[position])
        return result

    def _message(self, code: str, day: pd.Timestamp, version_index: int) -> str:
        day_text = pd.Timestamp(day).date().isoformat()
        if version_index < 0:
            return f"mark {code!r} on {day_text} is before the first attendance code set ({self.versions[0].starts})"
        version = self.versions[version_index]
        hint = ""
        for other in self.versions:
            if other is not version and code in other.codes:
                hint = f"; {code!r} belongs to the {other.name} code set, in force from {other.starts}"
        return (
            f"mark {code!r} on {day_text} is not a code of the {version.name} attendance code set "
            f"in force from {version.starts}{hint}; correct the register mark"
        )


@cache
def attendance_codes() -> AttendanceCodes:
    """Return the shipped attendance code versions."""
    text = resources.files("sync_agent.codelists").joinpath("attendance_codes.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    versions = [
        AttendanceCodeVersion(
            entry["name"], entry["from"], {name: frozenset(entry[name]) for name in CATEGORIES}
        )
        for entry in data["versions"]
    ]
    return AttendanceCodes(tuple(sorted(versions, key=lambda v: v.starts)))
