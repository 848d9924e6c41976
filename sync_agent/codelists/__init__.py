"""Code lists as versioned data: exclusion categories and reasons, each version with its start date.

Code lists change over time (OT withdrawn in 2020, new reasons in a newer CBDS), so they are data
files shipped with the package, not constants in code. ``ReasonCodes.check`` tests a column of
reasons against the version in force on each record's start date.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from sync_agent.errors import ConfigError


@dataclass(frozen=True)
class CodeListVersion:
    name: str
    starts: dt.date | None  # None: not in force (a version whose start date is an unset setting)
    codes: frozenset[str]
    setting: str | None = None  # the [codes] key that sets ``starts``, for a version without a fixed date


@dataclass(frozen=True)
class ReasonCodes:
    """Exclusion reason codes by version, with labels and notes on withdrawn codes."""

    versions: tuple[CodeListVersion, ...]
    labels: dict[str, tuple[str, ...]]
    withdrawn: dict[str, str]

    def all_codes(self) -> set[str]:
        return set().union(*(v.codes for v in self.versions))

    def version_on(self, day: dt.date) -> CodeListVersion | None:
        """Return the version in force on ``day``: the latest one that started on or before it."""
        in_force = [v for v in self.versions if v.starts is not None and v.starts <= day]
        return max(in_force, key=lambda v: v.starts) if in_force else None

    def check(self, codes: pd.Series, start_dates: pd.Series) -> pd.Series:
        """Return, per row, why ``codes`` is not valid on ``start_dates`` ("" where it is valid).

        ``codes`` holds canonical codes ("" for none); ``start_dates`` datetime64 values.
        """
        messages = pd.Series("", index=codes.index, dtype=object)
        dated = [v for v in self.versions if v.starts is not None]
        dated.sort(key=lambda v: v.starts)
        starts = np.array([np.datetime64(v.starts, "D") for v in dated])
        days = start_dates.to_numpy(dtype="datetime64[D]")
        # Index of the version in force on each date; -1 before the first version.
        version_index = np.searchsorted(starts, days, side="right") - 1
        for index, version in enumerate(dated):
            rows = (version_index == index) & (codes != "").to_numpy()
            bad = rows & ~codes.isin(version.codes).to_numpy()
            for row in np.flatnonzero(bad):
                messages.iloc[row] = self._explain(codes.iloc[row], version)
        early = (version_index < 0) & (codes != "").to_numpy()
        messages[early] = "start date is before the first exclusion reason code list (" + str(dated[0].starts) + ")"
        return messages

    def _explain(self, code: str, version: CodeListVersion) -> str:
        if code in self.withdrawn and code not in version.codes:
            return (
                f"reason {code} is not valid for exclusions starting on or after {self._withdrawn_on(code, version)} "
                f"(code list {version.name}); use {self.withdrawn[code]}"
            )
        later = [v for v in self.versions if code in v.codes and (v.starts is None or v.starts > version.starts)]
        if later and later[0].setting is not None:
            return (
                f"reason {code} belongs to the {later[0].name} code list, which is not in force on this start date "
                f"(code list {version.name} is); if that list is in use, set [codes] {later[0].setting}"
            )
        if later:
            return (
                f"reason {code} belongs to the {later[0].name} code list, which starts on {later[0].starts}, after "
                f"this start date (code list {version.name} is in force); check the start date and the reason"
            )
        return f"reason {code} is not in the {version.name} exclusion reason code list"

    def _withdrawn_on(self, code: str, version: CodeListVersion) -> dt.date:
        """Return the start of the first version that dropped ``code`` (a later version may also lack it)."""
        dated = sorted((v for v in self.versions if v.starts is not None), key=lambda v: v.starts)
        for earlier, later in zip(dated, dated[1:]):
            if code in earlier.codes and code not in later.codes:
                return later.starts
        return version.starts


def _load(name: str) -> dict:
    text = resources.files("sync_agent.codelists").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def reason_codes(newer_cbds_from: dt.date | None = None) -> ReasonCodes:
    """Return the reason code lists, with the newer CBDS set starting on ``newer_cbds_from``."""
    data = _load("exclusion_reasons.toml")
    settings = {"newer_cbds_from": newer_cbds_from}
    versions = []
    for entry in data["versions"]:
        setting = entry.get("from_setting")
        starts = settings.get(setting) if setting else entry["from"]
        versions.append(CodeListVersion(entry["name"], starts, frozenset(entry["codes"]), setting))
    if newer_cbds_from is not None:
        others = [v.starts for v in versions if v.starts is not None and v.name != "newer-cbds"]
        if newer_cbds_from <= max(others):
            raise ConfigError(f"[codes] newer_cbds_from = {newer_cbds_from} must be after {max(others)}")
    labels = {code: tuple(values) for code, values in data["labels"].items()}
    withdrawn = {code: entry["replacement"] for code, entry in data["withdrawn"].items()}
    return ReasonCodes(tuple(versions), labels, withdrawn)


@dataclass(frozen=True)
class Category:
    name: str
    codes: tuple[str, ...]
    labels: tuple[str, ...]
    wire_code: str


@cache
def categories() -> dict[str, Category]:
    """Return the exclusion categories by canonical name (suspension, permanent, lunchtime)."""
    data = _load("exclusion_categories.toml")
    return {
        name: Category(name, tuple(entry["codes"]), tuple(entry["labels"]), entry["wire_code"])
        for name, entry in data["categories"].items()
    }


def codelist_files() -> list[tuple[str, bytes]]:
    """Return the name and bytes of every shipped code list, for a run's fingerprint."""
    folder = resources.files("sync_agent.codelists")
    return [(item.name, item.read_bytes()) for item in sorted(folder.iterdir(), key=lambda i: i.name) if item.name.endswith(".toml")]
