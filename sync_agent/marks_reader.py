"""Read a one-row-per-mark register CSV fast: pyarrow, every column dictionary-encoded.

A year of marks for an LA is some 23 million rows, too many for a row-by-row reader. pyarrow reads
the file on all cores with each column dictionary-encoded, and the map step then works on the
distinct values of each column. Physical line numbers come from row positions (header on line 1,
row ``i`` on line ``i + 2``), which holds only when no line is blank and no cell is quoted (a
quoted cell may hide a line break). The file is scanned for both first; when either occurs, or the
header is not on line 1, or the file is not UTF-8, the delimited connector reads it instead, which
handles title lines, footers, blank lines and other encodings.
"""

from __future__ import annotations

import logging
import mmap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyarrow import csv as pacsv

from sync_agent.calendar import SchoolCalendar
from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import InputRefused, MappingError
from sync_agent.mapper import MappedRecords, lookup_values, map_records, resolve_columns
from sync_agent.mapping import Mapping
from sync_agent.rejects import empty_rejects, reject_rows
from sync_agent.textnorm import clean_column

logger = logging.getLogger(__name__)

_UPPER_FIELDS = frozenset({"upn", "laestab", "code"})


def read_marks(
    path: Path, mapping: Mapping, calendar: SchoolCalendar, *, defaults: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Read, map and validate one attendance export; return (marks, rejects, rows read).

    Register layouts other than one row per mark, and CSVs the fast path cannot number, go through
    the ordinary extract and map steps. Raises InputRefused for an unreadable or empty file.
    """
    from sync_agent.attendance import validate_marks
    from sync_agent.extract import extract

    path = Path(path)
    mapped = None
    if mapping.spec.mapping.layout == "records" and mapping.format == "delimited":
        mapped = _map_fast(path, mapping, defaults or {})
    if mapped is None:
        raw = extract(path, mapping)
        mapped = map_records(raw, mapping, defaults=defaults)
        if raw.rejects:
            extra = pd.DataFrame(raw.rejects, columns=["line", "field", "value", "message"])
            extra.insert(0, "file", str(path))
            mapped.rejects = pd.concat([mapped.rejects, extra], ignore_index=True) if len(mapped.rejects) else extra
    marks, rejects = validate_marks(mapped, mapping, calendar)
    return marks, rejects, len(mapped.frame)


def _fast_path_usable(path: Path) -> bool:
    """Return whether row positions give physical lines: no quote, no blank line, no lone CR."""
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            raise InputRefused(str(path), "empty export (0 bytes); export the register again")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data.find(b'"') >= 0 or data.find(b"\n\n") >= 0 or data.find(b"\n\r\n") >= 0:
                return False
            carriage_returns = data.find(b"\r")
            if carriage_returns >= 0 and data[carriage_returns + 1: carriage_returns + 2] != b"\n":
                return False
            return not data[:3].startswith(b"\xff\xfe") and not data[:2] == b"\xfe\xff"


def _map_fast(path: Path, mapping: Mapping, defaults: dict[str, str]) -> MappedRecords | None:
    try:
        if not _fast_path_usable(path):
            logger.info("%s has quoted cells or blank lines; reading it with the delimited connector", path)
            return None
    except OSError as exc:
        raise InputRefused(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    delimiter = (mapping.spec.delimited.delimiter if mapping.spec.delimited else None) or ","
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=_all_dictionary(path, delimiter), strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        logger.info("%s cannot be read by the fast path (%s); reading it with the delimited connector", path, exc)
        return None
    header = RawTable(path=path, frame=pd.DataFrame({name: [] for name in table.column_names} | {LINE_COLUMN: []}))
    try:
        source_columns = resolve_columns(header, mapping)
    except MappingError:
        # The header is not on line 1 (a title line above it): the delimited connector finds it.
        return None
    return _map_columns(path, table, mapping, source_columns, defaults)


def _all_dictionary(path: Path, delimiter: str) -> dict[str, pa.DataType]:
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    return {name: pa.dictionary(pa.int32(), pa.string()) for name in first.split(delimiter)}


def _map_columns(path: Path, table: pa.Table, mapping: Mapping, source_columns: dict[str, str],
                 defaults: dict[str, str]) -> MappedRecords:
    count = table.num_rows
    file = str(path)
    columns: dict[str, pd.Series] = {LINE_COLUMN: pd.Series(np.arange(2, count + 2, dtype=np.int64))}
    rejects = []
    for name, spec in mapping.spec.fields.items():
        column = source_columns.get(name)
        if column is None:
            value = spec.default if spec.default is not None else defaults.get(name, "")
            columns[name] = pd.Series(pd.Categorical.from_codes(np.zeros(count, dtype=np.int8), [value]))
            continue
        values = table.column(column).to_pandas()
        if not isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype("category")
        cleaned = clean_column(pd.Series(values.cat.categories.astype(str)))
        if name in _UPPER_FIELDS:
            cleaned = cleaned.str.upper()
        default = spec.default if spec.default is not None else defaults.get(name)
        if default is not None:
            cleaned = cleaned.where(cleaned != "", default)
        if spec.table is not None:
            translated = lookup_values(cleaned, mapping.lookups[spec.table])
            unknown_categories = translated.isna().to_numpy()
            if unknown_categories.any():
                unknown_rows = unknown_categories[values.cat.codes.to_numpy()]
                message = (f"{column} value not in table {spec.table!r} of {mapping.source}; add it under "
                           f"[tables.{spec.table}] in a custom mapping file")
                rejects.append(reject_rows(file, columns[LINE_COLUMN][unknown_rows], column,
                                           values[unknown_rows].astype(object), message))
            cleaned = translated.fillna("")
        # Cleaning may merge categories ("am " and "AM"), so the row codes are renumbered.
        new_codes, uniques = pd.factorize(cleaned)
        row_codes = new_codes[values.cat.codes.to_numpy()]
        columns[name] = pd.Series(pd.Categorical.from_codes(row_codes, categories=pd.Index(uniques)))
    rejects_frame = pd.concat(rejects, ignore_index=True) if rejects else empty_rejects()
    logger.info("read %d marks from %s with pyarrow", count, path)
    return MappedRecords(file, pd.DataFrame(columns), rejects_frame, source_columns)
