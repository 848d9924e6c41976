"""The map step: a connector's raw text columns become canonical fields, through a mapping file.

Columns are found by name after trimming, case folding and removing invisible characters (a header
``UPN `` or ``\\ufeffUPN`` is the ``UPN`` column). Values are cleaned the same way, except names,
which keep their original text. Coded values are looked up in the mapping's value
tables after the same normalisation; a value no table holds is a reject naming the value, the table
and the mapping file to extend. Every cell stays text here: the validate step parses types.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import MappingError
from sync_agent.mapping import Mapping
from sync_agent.rejects import combine, reject_rows
from sync_agent.textnorm import clean_column, map_distinct, normalise_key, normalise_label

logger = logging.getLogger(__name__)

EXTRA_PREFIX = "extra:"
# Keys and codes are compared upper-case; names and free text keep their case.
_UPPER_FIELDS = frozenset({"upn", "laestab", "portal_id", "code"})
# Names are kept exactly as the export contains them (a leading tab or space included), so reports
# and portal payloads carry the pupil's name unaltered. Matching compares them after cleaning.
_VERBATIM_FIELDS = frozenset({"surname", "forename"})


@dataclass
class MappedRecords:
    """Canonical text columns for one input, with the source column each field came from."""

    file: str
    frame: pd.DataFrame  # canonical field columns, EXTRA_PREFIX columns, LINE_COLUMN
    rejects: pd.DataFrame
    source_columns: dict[str, str]  # canonical field -> column (or path) it was read from


def resolve_columns(raw: RawTable, mapping: Mapping) -> dict[str, str]:
    """Return, for each field the mapping names, the export column it reads (first match wins).

    Raises MappingError naming the column, the file and the mapping when a required field's column
    is missing.
    """
    if mapping.format == "xml":
        return {name: name for name in mapping.spec.fields if name in raw.frame.columns}
    by_key = {normalise_key(column): column for column in raw.columns}
    # JSON items carry their own keys, so a page with no items has no columns to check.
    check_required = mapping.format != "json" or len(raw) > 0
    resolved: dict[str, str] = {}
    for name, spec in mapping.spec.fields.items():
        found = next((by_key[normalise_key(c)] for c in spec.columns if normalise_key(c) in by_key), None)
        if found is not None:
            resolved[name] = found
        elif spec.required and spec.default is None and check_required:
            wanted = " or ".join(repr(c) for c in spec.columns)
            raise MappingError(
                f"{raw.path}: required column {wanted} (field {name}) is missing; the columns found are "
                f"{', '.join(repr(c) for c in raw.columns[:20])}. Re-export with that column, or add the "
                f"export's name for it to fields.{name}.columns in a copy of {mapping.source}"
            )
    return resolved


def _extra_columns(raw: RawTable, mapping: Mapping, used: set[str]) -> dict[str, str]:
    extras: dict[str, str] = {}
    by_key = {normalise_key(column): column for column in raw.columns}
    for name, spec in mapping.spec.extra.items():
        locators = spec.paths if mapping.format == "xml" else spec.columns
        column = next((by_key[normalise_key(c)] for c in locators if normalise_key(c) in by_key), None)
        if column is not None:
            extras[name] = column
            used.add(column)
    if mapping.spec.mapping.keep_unmapped_columns:
        for column in raw.columns:
            if column not in used and column.strip():
                extras.setdefault(column, column)
    return extras


def lookup_values(values: pd.Series, table: dict[str, str]) -> pd.Series:
    """Map cleaned values through a compiled value table; "" stays "", unknown values become NA."""
    return map_distinct(values, lambda u: "" if u == "" else table.get(normalise_label(u)))


def map_records(raw: RawTable, mapping: Mapping, *, defaults: dict[str, str] | None = None) -> MappedRecords:
    """Apply ``mapping`` to ``raw``: find columns, clean values, translate coded values."""
    defaults = defaults or {}
    file = str(raw.path)
    source_columns = resolve_columns(raw, mapping)
    lines = raw.frame[LINE_COLUMN]
    columns: dict[str, pd.Series] = {LINE_COLUMN: lines}
    rejects: list[pd.DataFrame] = []

    for name, spec in mapping.spec.fields.items():
        column = source_columns.get(name)
        if column is None:
            values = pd.Series("", index=raw.frame.index, dtype=object)
        elif name in _VERBATIM_FIELDS:
            values = raw.frame[column].fillna("").astype(str)
        else:
            values = clean_column(raw.frame[column])
        if spec.blank_values:
            blanks = {normalise_key(v) for v in spec.blank_values}
            values = values.where(~values.str.casefold().isin(blanks), "")
        default = spec.default if spec.default is not None else defaults.get(name)
        if default is not None:
            values = values.where(values != "", default)
        if name in _UPPER_FIELDS:
            values = values.str.upper()
        if spec.table is not None:
            mapped = lookup_values(values, mapping.lookups[spec.table])
            unknown = mapped.isna()
            if unknown.any():
                label = column or name
                message = (
                    f"value not in table {spec.table!r} of {mapping.source}; add it under "
                    f"[tables.{spec.table}] in " + ("that file" if mapping.path else "a custom mapping file")
                )
                rejects.append(
                    reject_rows(file, lines[unknown], label, raw.frame.loc[unknown, column] if column else values[unknown],
                                f"{label} {{value}}: {message}")
                )
                mapped = mapped.fillna("")
            values = mapped.astype(object)
        columns[name] = values

    for name in defaults:
        if name not in columns:
            columns[name] = pd.Series(defaults[name], index=raw.frame.index, dtype=object)

    for name, column in _extra_columns(raw, mapping, set(source_columns.values())).items():
        columns[EXTRA_PREFIX + name] = raw.frame[column].astype(object)

    frame = pd.DataFrame(columns, index=raw.frame.index)
    rejects_frame = combine(rejects)
    if len(rejects_frame):
        rejects_frame["message"] = [
            m.replace("{value}", repr(v)) for m, v in zip(rejects_frame["message"], rejects_frame["value"])
        ]
    return MappedRecords(file, frame, rejects_frame, source_columns)
