"""The map step: a connector's raw text columns become canonical fields, through a mapping file.

Columns are found by name after trimming, case folding and removing invisible characters (a header
``UPN `` or ``\\ufeffUPN`` is the ``UPN`` column). Values are cleaned the same way, except names,
which keep their original text. Coded values are looked up in the mapping's value
tables after the same normalisation; a value no table holds is a reject naming the value, the table
and the mapping file to extend. Every cell stays text here: the validate step parses types.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import MappingError
from sync_agent.mapping import Mapping
from sync_agent.rejects import combine, reject_rows
from sync_agent.textnorm import clean_cell, factorize_text, map_distinct, normalise_key, normalise_label

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
    # Canonical field -> which rows are "", for the columns the map step built. Every such column
    # contains only str. The masks describe ``frame`` as the map step returned it.
    blank: dict[str, np.ndarray] = field(default_factory=dict)


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


def _value_preparer(name: str, spec, default: str | None):
    """Return the function that cleans one raw text and applies blank values, the default and case.

    The map step calls it once per distinct raw text, so its result must depend on the text alone.
    """
    blanks = {normalise_key(v) for v in spec.blank_values} if spec.blank_values else None
    clean = str if name in _VERBATIM_FIELDS else clean_cell
    upper = name in _UPPER_FIELDS
    if blanks is None and default is None:
        return (lambda value: clean(value).upper()) if upper else clean

    def prepare(raw_value) -> str:
        value = clean(raw_value)
        if blanks is not None and value.casefold() in blanks:
            value = ""
        if default is not None and value == "":
            value = default
        return value.upper() if upper else value

    return prepare


def _prepare_column(raw: RawTable, column: str | None, prepare) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(codes, prepared)``: each row's index into ``prepared``, the distinct prepared texts.

    Each distinct raw text is prepared once. Code -1, a missing cell, indexes the last entry, the
    preparation of "".
    """
    if column is None:
        codes, uniques = np.zeros(len(raw.frame), dtype=np.intp), np.array([""], dtype=object)
    else:
        codes, uniques = factorize_text(raw.frame[column])
    prepared = [prepare(u) for u in uniques]
    prepared.append(prepare(""))
    return codes, np.array(prepared, dtype=object)


def map_records(raw: RawTable, mapping: Mapping, *, defaults: dict[str, str] | None = None) -> MappedRecords:
    """Apply ``mapping`` to ``raw``: find columns, clean values, translate coded values."""
    defaults = defaults or {}
    file = str(raw.path)
    source_columns = resolve_columns(raw, mapping)
    lines = raw.frame[LINE_COLUMN]
    index = raw.frame.index
    columns: dict[str, pd.Series] = {LINE_COLUMN: lines}
    rejects: list[pd.DataFrame] = []
    blank: dict[str, np.ndarray] = {}

    for name, spec in mapping.spec.fields.items():
        column = source_columns.get(name)
        default = spec.default if spec.default is not None else defaults.get(name)
        table = mapping.lookups[spec.table] if spec.table is not None else None
        codes, prepared = _prepare_column(raw, column, _value_preparer(name, spec, default))
        if table is None:
            distinct = prepared
            mapped = prepared[codes]
        else:
            translated = np.array(["" if p == "" else table.get(normalise_label(p)) for p in prepared], dtype=object)
            distinct = translated
            mapped = translated[codes]
            unknown = pd.isna(mapped)
            if unknown.any():
                label = column or name
                message = (
                    f"value not in table {spec.table!r} of {mapping.source}; add it under "
                    f"[tables.{spec.table}] in " + ("that file" if mapping.path else "a custom mapping file")
                )
                values = raw.frame.loc[unknown, column] if column else pd.Series(prepared[codes][unknown], index=index[unknown])
                rejects.append(reject_rows(file, lines[unknown], label, values, f"{label} {{value}}: {message}"))
                mapped[unknown] = ""
        # Names read from the export keep pandas' string dtype, which ``astype(str)`` gives them.
        dtype = str if name in _VERBATIM_FIELDS and column is not None and table is None else object
        columns[name] = pd.Series(mapped, index=index, dtype=dtype)
        # An unknown value (None) has become "" above.
        blank[name] = np.array([v is None or v == "" for v in distinct], dtype=bool)[codes]

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
    return MappedRecords(file, frame, rejects_frame, source_columns, blank)
