"""Read a one-row-per-mark register CSV fast: pyarrow, every column dictionary-encoded.

A year of marks for an LA is some 23 million rows, too many for a row-by-row reader. pyarrow reads
the file on all cores with each column dictionary-encoded, and the map step then works on the
distinct values of each column. Physical line numbers come from row positions (header on line 1,
row ``i`` on line ``i + 2``), which holds only when no cell is quoted (a quoted cell may hide a
line break), so pyarrow reads without quoting. pyarrow 26 reads a blank line as a row of empty
cells, which would become a mark with a blank UPN. The delimited connector reads the file instead
when any cell contains a double quote, any first cell is empty (a blank line, a row of commas or
a mark without its UPN), the header is not on line 1, a row has the wrong width or the file is not
UTF-8. That connector handles title lines, footers, blank lines, quoting and other encodings, but
keeps every cell as a Python string, so it needs far more time and memory on a file of this size.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


@dataclass
class MarksRead:
    """One attendance export after reading, mapping and validation, with its row counts."""

    marks: pd.DataFrame
    rejects: pd.DataFrame
    # Records read: accepted marks, rejected rows and sessions with no mark.
    read: int
    # Records with a blank mark (or no mark field at all), left out without a reject because the
    # session has no mark. The register checks report a missing mark where one is required.
    no_mark: int = 0
    # Rows that are not records, by cause, as the delimited connector counts them ("blank", ...).
    skipped: dict[str, int] = field(default_factory=dict)


def read_marks(
    path: Path, mapping: Mapping, calendar: SchoolCalendar, *, defaults: dict[str, str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Read, map and validate one attendance export; return (marks, rejects, records read).

    ``read_marks_with_counts`` also returns the sessions with no mark and the skipped rows.
    """
    result = read_marks_with_counts(path, mapping, calendar, defaults=defaults)
    return result.marks, result.rejects, result.read


def read_marks_with_counts(
    path: Path, mapping: Mapping, calendar: SchoolCalendar, *, defaults: dict[str, str] | None = None
) -> MarksRead:
    """Read, map and validate one attendance export.

    Register layouts other than one row per mark go through ``read_attendance_layout`` with the
    calendar, and CSVs the fast path cannot number through the delimited connector; both then go
    through the ordinary map step. Raises InputRefused for an unreadable or empty file.
    """
    from sync_agent.attendance import validate_marks
    from sync_agent.connectors.attendance_layouts import read_attendance_layout
    from sync_agent.extract import extract

    path = Path(path)
    mapped = None
    connector_rejects = 0
    skipped: dict[str, int] = {}
    if mapping.spec.mapping.layout == "records" and mapping.format == "delimited":
        mapped = _map_fast(path, mapping, defaults or {})
    if mapped is None:
        if mapping.spec.mapping.layout == "records":
            raw = extract(path, mapping)
        else:
            # With the calendar, a CTF marks string is checked against school days, not only weekends.
            raw = read_attendance_layout(path, mapping, calendar)
        mapped = map_records(raw, mapping, defaults=defaults)
        skipped = dict(raw.skipped)
        connector_rejects = len(raw.rejects)
        if raw.rejects:
            extra = pd.DataFrame(raw.rejects, columns=["line", "field", "value", "message"])
            extra.insert(0, "file", str(path))
            mapped.rejects = pd.concat([mapped.rejects, extra], ignore_index=True) if len(mapped.rejects) else extra
    marks, rejects = validate_marks(mapped, mapping, calendar)
    # Every row of the frame is accepted, rejected or a session with no mark. Connector rejects
    # (such as a row with too many fields) have no row in the frame.
    lines = mapped.frame[LINE_COLUMN]
    rejected_rows = int(lines.isin(set(rejects["line"])).sum()) if len(rejects) else 0
    no_mark = len(lines) - len(marks) - rejected_rows
    return MarksRead(marks, rejects, len(lines) + connector_rejects, no_mark, skipped)


def _map_fast(path: Path, mapping: Mapping, defaults: dict[str, str]) -> MappedRecords | None:
    delimiter = (mapping.spec.delimited.delimiter if mapping.spec.delimited else None) or ","
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            # Without quoting every physical line is one row, and a blank line is a row of empty
            # cells rather than skipped, so row i is on line i + 2 whenever the read succeeds.
            # NOTE: pyarrow also ends a line at a lone CR, where the delimited connector does not
            # (unless the whole file ends its lines with CR). So a lone CR between two complete
            # marks numbers every later line one higher here. A lone CR anywhere else gives a row
            # of the wrong width, which goes to the connector. Finding every lone CR would mean
            # another pass over the bytes.
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False, newlines_in_values=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=_all_dictionary(path, delimiter), strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    # NOTE: one row of the wrong width sends a whole file to the delimited connector, which needs
    # many gigabytes for a file of 20 million rows; collecting such rows as rejects here would not.
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        logger.info("%s cannot be read by the fast path (%s); reading it with the delimited connector",
                    path, _describe_fast_path_error(exc))
        return None
    except OSError as exc:
        raise InputRefused(str(path), f"cannot be read ({exc.strerror or exc})") from exc
    if _has_quotes(table):
        logger.info("%s has quoted cells; reading it with the delimited connector", path)
        return None
    if table.num_columns and _has_empty_cell(table.column(0)):
        logger.info("%s has a blank line or a row with an empty first cell; reading it with the delimited connector", path)
        return None
    header = RawTable(path=path, frame=pd.DataFrame({name: [] for name in table.column_names} | {LINE_COLUMN: []}))
    try:
        source_columns = resolve_columns(header, mapping)
    except MappingError:
        # The header is not on line 1 (a title line above it): the delimited connector finds it.
        return None
    return _map_columns(path, table, mapping, source_columns, defaults)


def _describe_fast_path_error(exc: Exception) -> str:
    """Describe why pyarrow could not read a file, without the row text that its message quotes."""
    width = re.search(r"Expected \d+ columns, got \d+", str(exc))
    if width is not None:
        return f"a row of another width: {width.group(0).lower()}"
    return type(exc).__name__


def _has_quotes(table: pa.Table) -> bool:
    """Return whether any cell contains a double quote, which only a CSV parser that unquotes reads right."""
    # pyarrow's compute looks through each chunk's distinct values in C; a Python loop over them
    # took half a second on an LA's year of marks.
    for column in table.columns:
        for chunk in column.chunks:
            if pc.any(pc.match_substring(chunk.dictionary, '"')).as_py():
                return True
    return False


def _has_empty_cell(column: pa.ChunkedArray) -> bool:
    """Return whether a dictionary-encoded column may have an empty cell, without scanning its rows.

    An empty string in a chunk's dictionary is taken to mean an empty cell. Were it an unused
    dictionary entry, the only cost would be reading the file with the slower connector.
    """
    return any(pc.index(chunk.dictionary, "").as_py() >= 0 for chunk in column.chunks)


def _all_dictionary(path: Path, delimiter: str) -> dict[str, pa.DataType]:
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    return {name: pa.dictionary(pa.int32(), pa.string()) for name in first.split(delimiter)}


def _map_columns(path: Path, table: pa.Table, mapping: Mapping, source_columns: dict[str, str],
                 defaults: dict[str, str]) -> MappedRecords:
    count = table.num_rows
    file = str(path)
    columns: dict[str, pd.Series] = {LINE_COLUMN: pd.Series(np.arange(2, count + 2, dtype=np.int64), copy=False)}
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
        # Cleaning may merge categories ("am " and "AM"), so the row codes are renumbered. When every
        # category stayed distinct and in place the codes stand, which saves a pass over every row
        # (23 million for an LA's year).
        new_codes, uniques = pd.factorize(cleaned)
        row_codes = values.cat.codes.to_numpy()
        if len(uniques) != len(new_codes) or not np.array_equal(new_codes, np.arange(len(new_codes))):
            row_codes = new_codes[row_codes]
        columns[name] = pd.Series(pd.Categorical.from_codes(row_codes, categories=pd.Index(uniques)), copy=False)
    rejects_frame = pd.concat(rejects, ignore_index=True) if rejects else empty_rejects()
    logger.info("read %d marks from %s with pyarrow", count, path)
    # The columns are new arrays, so the frame takes them as they are rather than copying 23 million
    # rows of an LA's marks once more.
    return MappedRecords(file, pd.DataFrame(columns, copy=False), rejects_frame, source_columns)
