"""Reader for delimited-text exports (comma, tab, semicolon or pipe separated) from MIS report writers.

Report-style exports carry title lines, blank and comma-only rows, repeated headers at page breaks
and footers such as ``Total records: 3``. ``read_delimited`` finds the header by its column names,
skips and counts the rows that are not records, and refuses exports that are empty, cut off or
disagree with their own footer count. Cell values are returned exactly as written in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import InputRefused, MappingError
from sync_agent.textnorm import clean_text, normalise_key

_LOG = logging.getLogger(__name__)

# Matched case-insensitively against the whole text of a footer row's only non-empty cell, after
# clean_text. A named group ``count`` captures the number of records the footer states.
_COUNT = r"(?P<count>\d[\d,]*)"
DEFAULT_FOOTER_PATTERNS: tuple[str, ...] = (
    rf"total\s+(?:number\s+of\s+)?records?\s*:?\s*{_COUNT}\.?",
    rf"(?:grand\s+)?total\s*:?\s*{_COUNT}\.?",
    rf"(?:record|row)\s+count\s*:?\s*{_COUNT}\.?",
    rf"{_COUNT}\s+(?:records?|rows?)(?:\s+(?:found|listed|printed|selected|returned))?\.?",
    r"page\s+-?\d+\s+of\s+-?\d+",
    r"end\s+of\s+(?:report|file|data)\.?",
)

DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}

# The header must be among this many non-blank rows at the top of the file.
HEADER_SEARCH_ROWS = 50

# A UTF-32 LE byte-order mark also starts with FF FE. Such a file decodes as UTF-16 LE with NUL
# characters, which decode_export refuses.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)

_REEXPORT_ADVICE = "export it again as UTF-8 (in Excel: Save As, CSV UTF-8)"
_CUT_OFF_ADVICE = (
    "the export is probably still being written or was copied before it finished; "
    "wait until the program writing it (the MIS, or the portal's download) has finished and run again"
)

# Messages of csv.Error after which parsing cannot resume on the next line. The csv module
# distinguishes its errors only by message text, and these are the wordings of CPython 3.11.
_CSV_END_OF_DATA = "unexpected end of data"
_CSV_FIELD_LIMIT = "field larger than field limit"
# The csv module's message for a carriage return followed by more text on the same line.
_CSV_NEWLINE_IN_FIELD = "new-line character seen in unquoted field"

# The delimiter is detected from the lines in this many characters at the start of the text.
_DELIMITER_SEARCH_CHARS = 65536

# The csv module's default limit of 131,072 characters per field would refuse a whole export for
# one long free-text cell. With this limit such a cell is read, and the mapping's checks reject its
# record alone. An unbalanced double quote still refuses the export, because the quoted value then
# runs to the end of the file. The limit is process-wide, and this module sets it once at import.
CSV_FIELD_SIZE_LIMIT = 64 * 1024 * 1024
csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_SIZE_LIMIT))


def read_delimited(
    path: Path,
    *,
    known_columns: Iterable[str],
    footer_patterns: Sequence[str] = DEFAULT_FOOTER_PATTERNS,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> RawTable:
    """Read one delimited-text export into a ``RawTable`` of text cells with physical line numbers.

    ``known_columns`` are the column names the mapping expects, used to find the header row among
    the first ``HEADER_SEARCH_ROWS`` non-blank rows. ``delimiter`` None detects comma, tab,
    semicolon or pipe from the header. ``encoding`` None detects a UTF-8 or UTF-16 byte-order mark,
    then tries UTF-8, then Windows-1252. ``footer_patterns`` are case-insensitive regular
    expressions, each matched against the whole text of a row's only non-empty cell. A named group
    ``count`` in a pattern captures the number of records the footer states.

    Rows that are not records are counted in ``skipped`` by cause: ``title`` (text above the
    header), ``blank`` (blank lines), ``empty`` (every cell empty, such as ``,,,,``, above or below
    the header), ``repeated_header`` and ``footer``. Records with more fields than the header go to
    ``rejects``, and so do records with invalid quoting. Extra fields are accepted and dropped only
    when they are empty and no more than the padding that the header row or most records show.
    Lines end at LF or CRLF, or at CR in a file whose lines end with lone CRs. In other files a
    line with a lone CR before its end, outside quotes, goes to ``rejects``.

    Raises ``InputRefused`` when the export is unreadable, empty, cannot be decoded, is cut off
    mid-record or disagrees with its footer's record count. Raises ``MappingError`` when no row
    contains any of ``known_columns``, or when ``delimiter``, ``encoding`` or a footer pattern is
    invalid.
    """
    path = Path(path)
    known = list(known_columns)
    footers = _compile_footer_patterns(footer_patterns)

    data = _read_bytes(path)
    text, encoding_used = decode_export(path, data, encoding)
    _refuse_if_empty(path, data, text)

    if delimiter is None:
        delimiter = detect_delimiter(text, known)
    plain = _read_plain(path, text, _check_delimiter(delimiter), known, encoding_used)
    if plain is not None:
        return plain
    source = _RowSource(path, text, _check_delimiter(delimiter))
    rows = iter(source)

    head, header_index = _read_head(path, rows, known)
    header_row, header_line = head[header_index]
    layout = _Layout.from_header(header_row, header_line, delimiter)

    collected = _Collected()
    _count_rows_above_header(head[:header_index], source.malformed, collected)
    last_line = _collect_records(chain(head[header_index + 1 :], rows), source.malformed, layout, footers, collected)
    _settle_long_records(layout, collected)
    if not text.endswith(("\n", "\r")):
        _refuse_if_cut_off(path, last_line, layout, collected)
    _refuse_if_footer_disagrees(path, collected)

    frame = _build_frame(layout.names, collected.cells, collected.record_lines)
    skipped = dict(sorted(collected.skipped.items()))
    _LOG.info(
        "Read %s: encoding %s, %s-separated, header on line %d, %d records, %d rejected, skipped %s",
        path,
        encoding_used,
        _delimiter_name(delimiter),
        layout.line,
        len(frame),
        len(collected.rejects),
        skipped or "none",
    )
    return RawTable(
        path=path,
        frame=frame,
        encoding=encoding_used,
        skipped=skipped,
        footer_count=collected.footer_count,
        header_line=layout.line,
        rejects=collected.rejects,
    )


# --- Plain exports -----------------------------------------------------------------------------


def _read_plain(path: Path, text: str, delimiter: str, known: list[str], encoding_used: str) -> RawTable | None:
    """Read an export with no quotes, title, blank, footer or repeated header rows with pyarrow.

    Such an export (a scheduled MIS report saved as plain CSV) has one record per physical line,
    so line numbers follow from row positions and Arrow's C parser can read it about ten times
    faster than the ``csv`` module. Returns None for anything else, which the general reader
    handles: quotes, lone CRs, blank lines, a header below line 1, rows of another width, empty
    rows, footers, repeated headers, blank or repeated header names.
    """
    if '"' in text or not text.endswith("\n") or "\n\n" in text or "\n\r\n" in text:
        return None
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None
    first_line = text[: text.index("\n")].rstrip("\r")
    header = first_line.split(delimiter)
    names = [clean_text(cell) for cell in header]
    known_keys = {normalise_key(name) for name in known}
    matches = sum(normalise_key(name) in known_keys for name in names)
    if matches == 0 or 2 * matches < len(names) or "" in names or len(set(names)) != len(names):
        return None
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=[f"c{i}" for i in range(len(names))]),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, quote_char=False, double_quote=False,
                                              newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pa_csv.ConvertOptions(column_types={f"c{i}": pa.string() for i in range(len(names))},
                                                  strings_can_be_null=False),
        )
    except pa.ArrowInvalid:
        return None  # a row of another width: a footer, a padded title, or a record to reject
    cells = [table.column(i).to_numpy(zero_copy_only=False).astype(object) for i in range(len(names))]
    if _has_structure_rows(cells, header):
        return None
    frame = pd.DataFrame({name: pd.Series(column, dtype=object) for name, column in zip(names, cells)})
    frame[LINE_COLUMN] = np.arange(2, len(frame) + 2, dtype="int64")
    _LOG.info("Read %s: encoding %s, %s-separated, header on line 1, %d records, plain export read with pyarrow",
              path, encoding_used, _delimiter_name(delimiter), len(frame))
    return RawTable(path=path, frame=frame, encoding=encoding_used, skipped={}, footer_count=None, header_line=1)


def _has_structure_rows(cells: list[np.ndarray], header: list[str]) -> bool:
    """Return True when a row is empty except in its first cell (a footer or an empty row) or repeats the header."""
    if not cells or not len(cells[0]):
        return False
    rest_empty = np.ones(len(cells[0]), dtype=bool)
    for column in cells[1:]:
        rest_empty &= column == ""
    if rest_empty.any():
        return True
    repeats = np.ones(len(cells[0]), dtype=bool)
    for column, name in zip(cells, header):
        repeats &= column == name
    return bool(repeats.any())


# --- Bytes and text ---------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputRefused(path, f"cannot be read ({exc.strerror or exc}); check the path and permissions") from exc


def decode_export(path: Path, data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode an export's bytes and return ``(text, codec name)`` with any byte-order mark removed.

    Without ``encoding``, tries in turn: a UTF-8 or UTF-16 LE/BE byte-order mark, strict UTF-8,
    then Windows-1252 (``cp1252``). Raises ``InputRefused`` when none of them decodes the bytes,
    or when the text contains NUL characters (UTF-16 without a byte-order mark, or not text).
    """
    if encoding is not None:
        text, codec = _decode_named(path, data, encoding), encoding
    else:
        text, codec = _decode_detected(path, data)

    # A byte-order mark is never data, and a codec named explicitly, such as utf-8, leaves it in.
    text = text.removeprefix("\ufeff")
    first_nul = text.find("\x00")
    if first_nul >= 0:
        raise InputRefused(
            path,
            f"contains NUL characters after decoding as {codec} (the first on {_text_position(text, first_nul)}), "
            f"so it is probably UTF-16 without a byte-order mark or not a text export; {_REEXPORT_ADVICE}",
        )
    return text, codec


def _text_position(text: str, index: int) -> str:
    """Return "line L, column C" (both 1-based, C in characters) of ``text[index]``."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def _byte_position(data: bytes, offset: int, codec: str) -> str:
    """Return "line L, column C" of the byte at ``offset``, where ``codec`` decodes the bytes before it."""
    # The bytes before the first invalid one decode without error, except for a character cut in
    # half at the offset, which "replace" turns into one character.
    before = data[:offset].decode(codec, errors="replace")
    return _text_position(before, len(before))


def _decode_named(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except LookupError as exc:
        raise MappingError(f"{path}: unknown encoding {encoding!r}; use a Python codec name such as utf-8 or cp1252") from exc
    except UnicodeDecodeError as exc:
        raise InputRefused(
            path,
            f"is not valid {encoding}: byte 0x{data[exc.start]:02X} on {_byte_position(data, exc.start, encoding)} "
            f"(offset {exc.start}, {exc.reason}); "
            f"check the encoding the mapping names, or {_REEXPORT_ADVICE}",
        ) from exc


def _decode_detected(path: Path, data: bytes) -> tuple[str, str]:
    for mark, codec, label in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            body, plain_codec = data[len(mark) :], codec.removesuffix("-sig")
            try:
                return body.decode(plain_codec), codec
            except UnicodeDecodeError as exc:
                raise InputRefused(
                    path,
                    f"starts with a {label} byte-order mark but is not valid {label} "
                    f"({exc.reason} on {_byte_position(body, exc.start, plain_codec)}, offset "
                    f"{exc.start + len(mark)}), so the export may be cut off or damaged; {_REEXPORT_ADVICE}",
                ) from exc

    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise InputRefused(
            path,
            f"cannot be decoded: it has no UTF-8 or UTF-16 byte-order mark, it is not valid UTF-8, "
            f"and byte 0x{data[exc.start]:02X} on {_byte_position(data, exc.start, 'cp1252')} (offset "
            f"{exc.start}) is undefined in Windows-1252; "
            f"{_REEXPORT_ADVICE}",
        ) from exc


def _refuse_if_empty(path: Path, data: bytes, text: str) -> None:
    if not data:
        raise InputRefused(
            path,
            "empty export (0 bytes): it may still be being written or the copy failed, so export "
            "it again (an export with no records still has its header row)",
        )
    if not text.strip():
        raise InputRefused(
            path,
            f"empty export ({len(data)} bytes of blank lines or a byte-order mark, no header row): "
            "export it again (an export with no records still has its header row)",
        )


# --- Delimiter --------------------------------------------------------------------------------


def detect_delimiter(text: str, known_columns: Iterable[str]) -> str:
    """Return the delimiter (comma, tab, semicolon or pipe) that splits a header line best.

    Each candidate splits the first ``HEADER_SEARCH_ROWS`` non-blank lines naively, with quotes
    removed. The candidate whose best line contains the most ``known_columns`` wins. Ties go to
    the one giving that line more cells, then to the earlier candidate. Returns comma when no
    line contains a known column.
    """
    known_keys = _known_keys(known_columns)
    lines = _first_nonblank_lines(text, HEADER_SEARCH_ROWS)

    best_delimiter, best_score = ",", (0, 0)
    for candidate in DELIMITER_NAMES:
        for line in lines:
            cells = line.split(candidate)
            keys = {normalise_key(cell.replace('"', "")) for cell in cells}
            score = (len(keys & known_keys), len(cells))
            if score > best_score:
                best_delimiter, best_score = candidate, score
    return best_delimiter


def _first_nonblank_lines(text: str, limit: int) -> list[str]:
    # Only the start of the text is split, so a large export is not copied once more.
    # NOTE: a header preceded by more than 64 KiB of title lines is not seen here, and the
    # delimiter then falls back to comma.
    lines: list[str] = []
    for line in io.StringIO(text[:_DELIMITER_SEARCH_CHARS], newline=""):
        if line.strip():
            lines.append(line.rstrip("\r\n"))
            if len(lines) == limit:
                break
    return lines


def _check_delimiter(delimiter: str) -> str:
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise MappingError(
            f"invalid delimiter {delimiter!r}: use one character other than a quote or line break, "
            'for example "," or "\\t"'
        )
    return delimiter


def _delimiter_name(delimiter: str) -> str:
    return DELIMITER_NAMES.get(delimiter, repr(delimiter))


# --- Parsing ----------------------------------------------------------------------------------


class _RowSource:
    """Rows of the text as the csv module splits them, each with the physical line it starts on.

    A record the csv module cannot parse comes out as an empty row, and ``malformed`` maps its
    start line to the csv error. Raises ``InputRefused`` when a quoted value is still open at the
    end of the text or a value grows past ``CSV_FIELD_SIZE_LIMIT``, since parsing cannot resume
    after that.
    """

    def __init__(self, path: Path, text: str, delimiter: str) -> None:
        self.path = path
        self.text = text
        self.delimiter = delimiter
        self.malformed: dict[int, str] = {}

    def __iter__(self) -> Iterator[tuple[list[str], int]]:
        # The reader's line_num counts the lines of the StringIO, so each record starts one line
        # after where the previous one ended, and line breaks inside quoted values are kept as
        # written. Lines end at LF (a CRLF ends at its LF) unless the file ends its lines with
        # lone CRs, as classic Mac OS programs did. In a file with LF line breaks a lone CR is a
        # stray character. Splitting there would cut one record in two and shift the line number
        # of every later record, so the csv module raises an error for that line instead.
        newline = "" if _ends_lines_with_cr(self.text) else "\n"
        reader = csv.reader(
            io.StringIO(self.text, newline=newline),
            delimiter=self.delimiter,
            quotechar='"',
            doublequote=True,
            strict=True,
        )
        start = 1
        while True:
            try:
                for row in reader:
                    yield row, start
                    start = reader.line_num + 1
                return
            except csv.Error as exc:
                _raise_if_unrecoverable(self.path, exc, start)
                self.malformed[start] = str(exc)
                yield [], start
                start = reader.line_num + 1


def _ends_lines_with_cr(text: str) -> bool:
    lone_crs = text.count("\r") - text.count("\r\n")
    return lone_crs > text.count("\n")


def _raise_if_unrecoverable(path: Path, exc: csv.Error, start: int) -> None:
    message = str(exc)
    if _CSV_END_OF_DATA in message:
        raise InputRefused(
            path,
            f"cut off mid-record at line {start}: a quoted value in the record starting on that line "
            "is still open at the end of the file, so either a double quote on that line is unbalanced "
            f"(check the line in the MIS and export again) or {_CUT_OFF_ADVICE}",
        ) from exc
    if _CSV_FIELD_LIMIT in message:
        raise InputRefused(
            path,
            f"a value in the record starting on line {start} runs past {csv.field_size_limit():,} "
            "characters; if it starts with a double quote, the closing quote is probably missing. "
            "Check that line in the MIS and export again",
        ) from exc


# --- Header -----------------------------------------------------------------------------------


def _read_head(
    path: Path, rows: Iterator[tuple[list[str], int]], known_columns: list[str]
) -> tuple[list[tuple[list[str], int]], int]:
    """Read rows from ``rows`` up to the header and return them with the header's index among them.

    The header is the row with the most ``known_columns`` among the first ``HEADER_SEARCH_ROWS``
    non-blank rows, and the earliest such row wins a tie. Reading stops early at a row that has
    every known column. Rows read past the header are returned too, after it.
    """
    known_keys = _known_keys(known_columns)
    head: list[tuple[list[str], int]] = []
    best_index, best_score = -1, 0
    searched = 0
    for row, line in rows:
        head.append((row, line))
        if _blank_or_empty(row):
            continue
        score = len({normalise_key(cell) for cell in row} & known_keys)
        if score > best_score:
            best_index, best_score = len(head) - 1, score
            if score == len(known_keys):
                break
        searched += 1
        if searched == HEADER_SEARCH_ROWS:
            break

    if best_index < 0:
        examples = ", ".join(known_columns[:5]) or "(the mapping names no columns)"
        raise MappingError(
            f"{path}: no header row found: none of the first {HEADER_SEARCH_ROWS} non-blank rows "
            f"contains an expected column name such as {examples}; check that this is the export "
            "the mapping is for and that its column names have not been changed"
        )
    return head, best_index


def _known_keys(known_columns: Iterable[str]) -> set[str]:
    # A blank name would match every empty cell.
    return {normalise_key(name) for name in known_columns} - {""}


@dataclass
class _Layout:
    """The header: cleaned column names, normalised keys for spotting repeats, and its line."""

    names: list[str]
    keys: list[str]
    line: int
    delimiter: str
    # Cells in the header row as read, counting the trailing empty ones that ``names`` drops. A
    # record's extra empty cells up to this count are Excel's padding.
    raw_width: int

    @classmethod
    def from_header(cls, row: list[str], line: int, delimiter: str) -> _Layout:
        names = [clean_text(cell) for cell in row]
        # Excel writes trailing delimiters after the last named column.
        while len(names) > 1 and not names[-1]:
            names.pop()
        return cls(_unique_names(names, line), _trimmed_keys(row), line, delimiter, len(row))

    @property
    def width(self) -> int:
        return len(self.names)


def _unique_names(names: list[str], line: int) -> list[str]:
    """Name blank header cells "Column N" and suffix repeated names with their position."""
    unique: list[str] = []
    used_names = {LINE_COLUMN}
    for position, name in enumerate(names, start=1):
        candidate = name or f"Column {position}"
        if candidate in used_names:
            candidate = f"{candidate} (column {position})"
        if candidate != name:
            _LOG.warning("Header on line %d: column %d %r is read as %r", line, position, name, candidate)
        used_names.add(candidate)
        unique.append(candidate)
    return unique


def _trimmed_keys(row: list[str]) -> list[str]:
    keys = [normalise_key(cell) for cell in row]
    while keys and not keys[-1]:
        keys.pop()
    return keys


# --- Rows -------------------------------------------------------------------------------------


@dataclass
class _Collected:
    """Record cells in file order, flat, with each record's line, and what was skipped or rejected.

    ``cells`` contains ``layout.width`` cells per record back to back. Keeping one flat list, not a
    list per record, leaves the garbage collector nothing to scan on large exports.
    """

    cells: list[str] = field(default_factory=list)
    record_lines: list[int] = field(default_factory=list)
    rejects: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    footer_count: int | None = None
    footer_line: int | None = None
    # (line, field count) of the latest record that had fewer fields than the header.
    last_short: tuple[int, int] | None = None
    # Records with more fields than the header, by field count, whether accepted or rejected.
    long_counts: Counter[int] = field(default_factory=Counter)
    # Records rejected while reading because a cell past the header's width has text.
    long_rejects: int = 0
    # Positions in ``record_lines``, by field count, of records longer than the raw header whose
    # extra cells are all empty. They stay in ``cells``, truncated, until the whole file is read,
    # because only then is it known whether most records share their field count.
    unsettled: dict[int, array[int]] = field(default_factory=dict)


def _count_rows_above_header(
    rows: list[tuple[list[str], int]], malformed: dict[int, str], collected: _Collected
) -> None:
    for row, line in rows:
        if line in malformed:
            collected.skipped["title"] += 1
        else:
            collected.skipped[_blank_or_empty(row) or "title"] += 1


def _collect_records(
    rows: Iterable[tuple[list[str], int]],
    malformed: dict[int, str],
    layout: _Layout,
    footers: list[re.Pattern[str]],
    collected: _Collected,
) -> int | None:
    """Sort the rows below the header into records, rejects and skipped rows.

    Returns the start line of the last row, or None when the header is the last row. The loop
    runs once per row of exports with hundreds of thousands of rows. So a row whose first two
    cells both have text takes a fast path, where a substring test rules out most rows before the
    full comparison with the header.
    """
    width = layout.width
    first_key = layout.keys[0] if layout.keys else ""
    cells, record_lines = collected.cells, collected.record_lines
    line = None
    for row, line in rows:
        if len(row) > 1 and row[0].strip() and row[1].strip():
            if first_key in row[0].casefold() and _trimmed_keys(row) == layout.keys:
                collected.skipped["repeated_header"] += 1
                continue
        elif _skip_sparse_row(row, line, malformed, layout, footers, collected):
            continue

        if len(row) == width:
            cells.extend(row)
            record_lines.append(line)
        else:
            _add_odd_width_record(row, line, layout, collected)
    return line


def _skip_sparse_row(
    row: list[str],
    line: int,
    malformed: dict[int, str],
    layout: _Layout,
    footers: list[re.Pattern[str]],
    collected: _Collected,
) -> bool:
    """Count or reject a row that is not a record and return True; return False for a record."""
    if line in malformed:
        collected.rejects.append((line, None, None, _malformed_message(malformed[line])))
        return True

    cause = _blank_or_empty(row)
    if cause is None and _trimmed_keys(row) == layout.keys:
        cause = "repeated_header"
    if cause is None:
        footer = _match_footer(row, footers)
        if footer is not None:
            cause = "footer"
            _note_footer_count(footer, line, collected)
    if cause is None:
        return False
    collected.skipped[cause] += 1
    return True


def _blank_or_empty(row: list[str]) -> str | None:
    if "".join(row).strip():
        return None
    return "blank" if len(row) <= 1 else "empty"


def _match_footer(row: list[str], footers: list[re.Pattern[str]]) -> re.Match[str] | None:
    filled = [cell for cell in row if cell.strip()]
    if len(filled) != 1:
        return None
    text = clean_text(filled[0])
    for pattern in footers:
        match = pattern.fullmatch(text)
        if match is not None:
            return match
    return None


def _note_footer_count(footer: re.Match[str], line: int, collected: _Collected) -> None:
    stated = footer.groupdict().get("count")
    if stated is None:
        return
    # The last count wins, because a report's grand total comes after any earlier footer.
    collected.footer_count = int(stated.replace(",", ""))
    collected.footer_line = line


def _add_odd_width_record(row: list[str], line: int, layout: _Layout, collected: _Collected) -> None:
    width = layout.width
    if len(row) < width:
        # Excel leaves out trailing empty cells.
        collected.cells.extend(row)
        collected.cells.extend([""] * (width - len(row)))
        collected.last_short = (line, len(row))
        collected.record_lines.append(line)
        return

    collected.long_counts[len(row)] += 1
    if "".join(row[width:]).strip():
        collected.long_rejects += 1
        collected.rejects.append((line, None, None, _field_count_message(len(row), layout)))
        return
    if len(row) > layout.raw_width:
        # An unquoted delimiter inside a value, in a record whose last column is blank, also gives
        # an empty extra cell. _settle_long_records decides which it is once the file is read.
        positions = collected.unsettled.setdefault(len(row), array("q"))
        positions.append(len(collected.record_lines))
    collected.cells.extend(row[:width])
    collected.record_lines.append(line)


def _settle_long_records(layout: _Layout, collected: _Collected) -> None:
    """Reject the records whose extra empty cells go past the padding the rest of the file shows.

    Extra empty cells are padding up to the raw header's width, or up to the field count that more
    than half of the records have (an exporter that ends every line but the header with a
    delimiter). A record longer than that most likely has an unquoted delimiter inside a value.
    """
    if not collected.unsettled:
        return

    padded_width = layout.raw_width
    records = len(collected.record_lines) + collected.long_rejects
    common_width, common_records = collected.long_counts.most_common(1)[0]
    # NOTE: in an export with a single record, that record is always "most records", so a
    # stray delimiter in it is read as padding.
    if 2 * common_records > records:
        padded_width = max(padded_width, common_width)

    dropped: list[int] = []
    for field_count, positions in collected.unsettled.items():
        if field_count <= padded_width:
            continue
        message = _field_count_message(field_count, layout)
        for position in positions:
            collected.rejects.append((collected.record_lines[position], None, None, message))
        dropped.extend(positions)
    collected.unsettled.clear()
    if not dropped:
        return

    _drop_records(collected, sorted(dropped), layout.width)
    # Rejects found while reading come before these in the list, so sorting restores file order.
    collected.rejects.sort(key=lambda reject: reject[0])


def _drop_records(collected: _Collected, positions: list[int], width: int) -> None:
    """Remove the records at ``positions`` (ascending) from ``cells`` and ``record_lines``.

    The later records move up in place, so no second copy of the records is made.
    """
    cells, lines = collected.cells, collected.record_lines
    dropped = set(positions)
    kept = positions[0]
    for position in range(positions[0] + 1, len(lines)):
        if position in dropped:
            continue
        cells[kept * width : (kept + 1) * width] = cells[position * width : (position + 1) * width]
        lines[kept] = lines[position]
        kept += 1
    del cells[kept * width :]
    del lines[kept:]


def _field_count_message(count: int, layout: _Layout) -> str:
    name = _delimiter_name(layout.delimiter)
    return (
        f"record has {count} fields but the header has {layout.width}; check for an unquoted {name} "
        f"inside a value (a value containing a {name} must be in double quotes) and export again"
    )


def _malformed_message(error: str) -> str:
    if _CSV_NEWLINE_IN_FIELD in error:
        return (
            "line contains a carriage return (CR) before its end, outside double quotes, so it "
            "cannot be split into fields; remove the CR (or put the value that contains it in "
            "double quotes) and export again"
        )
    return (
        f"record has invalid quoting ({error}); a value that starts with a double quote must end "
        "with one, with any double quote inside it written twice; correct it and export again"
    )


def _compile_footer_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise MappingError(f"invalid footer pattern {pattern!r}: {exc}") from exc
    return compiled


# --- Whole-file checks ------------------------------------------------------------------------


def _refuse_if_cut_off(path: Path, last_line: int | None, layout: _Layout, collected: _Collected) -> None:
    """Refuse a file without a final line break whose last row is a record with too few fields."""
    if last_line is None or collected.last_short is None:
        return
    line, count = collected.last_short
    if line != last_line:
        return
    raise InputRefused(
        path,
        f"cut off mid-record at line {line}: the last line has no line break and only {count} "
        f"of the header's {layout.width} fields; {_CUT_OFF_ADVICE}",
    )


def _refuse_if_footer_disagrees(path: Path, collected: _Collected) -> None:
    read = len(collected.record_lines) + len(collected.rejects)
    if collected.footer_count is None or collected.footer_count == read:
        return
    raise InputRefused(
        path,
        f"the footer on line {collected.footer_line} states {collected.footer_count} records but "
        f"{read} were read; the export may be incomplete, so export it again",
    )


# --- Frame ------------------------------------------------------------------------------------


def _build_frame(names: list[str], cells: list[str], lines: list[int]) -> pd.DataFrame:
    """Build the frame column by column, slicing each column out of the flat list of cells.

    Columns hold Python ``str`` objects (object dtype): the map and validate steps work on
    distinct values through ``pd.factorize``, and converting to Arrow strings here and back there
    cost more than it saved.
    """
    width = len(names)
    columns = {name: pd.Series(cells[position::width], dtype=object) for position, name in enumerate(names)}
    columns[LINE_COLUMN] = pd.Series(lines, dtype="int64")
    return pd.DataFrame(columns)
