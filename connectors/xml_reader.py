"""Stream records out of an XML export into a ``RawTable``.

XML exports (Common Transfer Files, Capita ONE B2B exclusion files, SIMS report XML) come from
other schools and systems, so every file is treated as hostile. DTDs and entity declarations are
refused (see ``xml_guard``), libxml2 keeps its depth and text limits, and no element's text may
exceed ``max_text_bytes``. The file is fed to libxml2 in chunks, and finished elements that no
field path names are deleted after each chunk, so memory follows the records kept, not the file
size.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from lxml import etree

from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.connectors.xml_guard import (
    PARSER_OPTIONS,
    refuse_dtd_in_prologue,
    refuse_parsed_doctype,
)
from sync_agent.connectors.xml_paths import LocalNames, ReadPlan, RecordExtractor
from sync_agent.errors import InputRefused

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 64 * 1024


def read_xml(
    path: Path,
    *,
    record_path: str,
    fields: Mapping[str, Sequence[str]],
    max_text_bytes: int = 1_000_000,
) -> RawTable:
    """Read one row per record element of an XML export.

    ``record_path`` (``"Pupil/Exclusions/Exclusion"``) matches the end of an element's path from
    the root, comparing local names. A single name matches that element anywhere, and a leading
    ``/`` anchors the path at the root. ``fields`` maps each output column to alternative paths
    relative to the record, and the first path that selects an element or attribute gives the
    value: ``StartDate``, ``Reasons/Reason[2]`` (positions count from 1 among same-named
    siblings), ``@id``, ``Child/@id``, or ``../../UPN`` for the ``UPN`` child of the record's
    grandparent. An element's value is its text before its first child, stripped of surrounding
    whitespace; a path that selects nothing gives "".

    Elements that ancestor paths (those starting with ``..``) read must come before the records
    in document order, as in CTF and B2B files where ``Pupil/UPN`` precedes ``Pupil/Exclusions``:
    they are read when the first record inside a parent ends.

    Returns a RawTable whose frame has one ``str`` column per field plus ``LINE_COLUMN``, the
    line of each record's start tag. NOTE: for a start tag that spans lines, libxml2 reports the
    line on which the tag ends.

    Raises InputRefused for an empty, unreadable, malformed or truncated file, any DTD or entity
    declaration, nesting deeper than libxml2's limit of 256 elements, or an element whose text is
    longer than ``max_text_bytes`` in UTF-8. The error names the file, and the line where there
    is one. Raises MappingError for an invalid path.
    """
    path = Path(path)
    plan = ReadPlan.build(record_path, fields)
    try:
        with path.open("rb") as handle:
            if not handle.read(1):
                raise InputRefused(str(path), "empty export (0 bytes); export the file again")
            handle.seek(0)
            root_name = refuse_dtd_in_prologue(path, handle)
            rows, lines, encoding = _stream_records(path, handle, plan, max_text_bytes, root_name)
    except etree.XMLSyntaxError as exc:
        raise InputRefused(
            str(path),
            f"line {exc.lineno}: the XML is not well-formed or breaks a parser safety limit "
            f"({exc.msg}); if the file was cut off or still being written, export it again",
        ) from exc
    except OSError as exc:
        raise InputRefused(str(path), f"cannot be read ({exc.strerror or exc})") from exc

    logger.info("read %d XML records from %s", len(rows), path)
    return RawTable(path=path, frame=_build_frame(plan.columns, rows, lines), encoding=encoding)


def _stream_records(
    path: Path, handle: BinaryIO, plan: ReadPlan, max_text_bytes: int, root_name: str | None
) -> tuple[list[list[str]], list[int], str]:
    """Return the rows, their start lines and the document encoding read from ``handle``."""
    stream = _RecordStream(path, plan, max_text_bytes, root_name)
    while chunk := handle.read(_CHUNK_BYTES):
        stream.feed(chunk)
    return stream.close()


class _RecordStream:
    """Feeds an export to libxml2 in chunks and turns record elements into rows.

    libxml2 reports only the end of elements named like the record (and the start of the root),
    so Python never touches the skipped detail one element at a time. After each chunk, the
    records that ended are read first. Then every text node in the tree is checked against the
    size limit in one XPath pass. Last, finished elements that no field path names are deleted
    along the chain of open elements (the last child at each level).
    Elements that paths name live until their parent is deleted, which keeps a pupil's ``UPN``
    for the exclusions after it. The tree therefore holds about one chunk of unread detail plus
    the open elements, whatever the file size.

    NOTE: named elements directly under a parent that stays open, such as thousands of ``UPN``
    elements straight under the root, are kept (and rechecked after each chunk) until the end of
    the file, and so are unnamed elements that come before a named sibling.
    """

    def __init__(self, path: Path, plan: ReadPlan, max_text_bytes: int, root_name: str | None):
        self._path = path
        self._plan = plan
        self._names = LocalNames()
        self._extractor = RecordExtractor(plan, self._names)
        self._record_name = plan.record[-1]
        self._max_text_bytes = max_text_bytes
        # Text of more than max_text_bytes // 4 characters may exceed max_text_bytes in UTF-8.
        self._suspect_texts = etree.XPath(
            "//text()[string-length(.) > $limit]", smart_strings=True
        )
        self._suspect_chars = max_text_bytes // 4
        self._text_length = etree.XPath("string-length(/)")
        tags = ["{*}" + self._record_name]
        if root_name:
            # The root's start event makes the tree reachable before the first record ends.
            tags.append("{*}" + root_name)
        # NOTE: without the root's name, no detail is freed before the first record ends.
        self._parser = etree.XMLPullParser(events=("start", "end"), tag=tags, **PARSER_OPTIONS)
        self._root: etree._Element | None = None
        self.rows: list[list[str]] = []
        self.lines: list[int] = []

    def feed(self, chunk: bytes) -> None:
        """Parse one chunk, read the records that ended in it and free finished detail."""
        self._parser.feed(chunk)
        self._take_events()
        if self._root is not None:
            self._refuse_long_texts(self._root)
            _free_finished(self._root, self._names, self._plan.referenced_names)

    def close(self) -> tuple[list[list[str]], list[int], str]:
        """Finish the parse and return the rows, their lines and the document encoding."""
        root = self._parser.close()
        self._take_events()
        self._refuse_long_texts(root)
        encoding = root.getroottree().docinfo.encoding
        return self.rows, self.lines, encoding or "utf-8"

    def _take_events(self) -> None:
        names = self._names
        record_name = self._record_name
        for event, element in self._parser.read_events():
            if self._root is None:
                self._root = element.getroottree().getroot()
                refuse_parsed_doctype(self._path, self._root)
            if (
                event == "end"
                and names[element.tag] == record_name
                and self._plan.matches(element, names)
            ):
                self.rows.append(self._extractor.extract(element))
                self.lines.append(element.sourceline)

    def _refuse_long_texts(self, root: etree._Element) -> None:
        # One pass over all the tree's text is far cheaper than measuring each text node, and
        # no node can be long while the whole text is short.
        if self._text_length(root) <= self._suspect_chars:
            return
        for text in self._suspect_texts(root, limit=self._suspect_chars):
            if len(text.encode("utf-8")) > self._max_text_bytes:
                raise InputRefused(str(self._path), self._long_text_reason(text))

    def _long_text_reason(self, text: etree._ElementUnicodeResult) -> str:
        element = text.getparent()
        name = self._names[element.tag]
        where = f"text after element <{name}>" if text.is_tail else f"element <{name}>"
        return (
            f"line {element.sourceline}: {where} has more than {self._max_text_bytes} bytes of "
            f"text, far more than any export field holds; check that this is the right file"
        )


def _free_finished(root: etree._Element, names: LocalNames, referenced: frozenset[str]) -> None:
    """Delete finished elements that no field path names, from the root down the open chain.

    Only previous siblings of each level's last child are deleted, because the last child may
    still be open. The walk back stops at the first named sibling, so each call costs about
    the depth of the tree plus the elements it deletes.
    """
    parent = root
    while True:
        last = next(parent.iterchildren(reversed=True), None)
        if last is None:
            return
        previous = last.getprevious()
        while previous is not None and names[previous.tag] not in referenced:
            earlier = previous.getprevious()
            parent.remove(previous)
            previous = earlier
        parent = last


def _build_frame(columns: Sequence[str], rows: list[list[str]], lines: list[int]) -> pd.DataFrame:
    data = {
        column: pd.Series([row[i] for row in rows], dtype=str) for i, column in enumerate(columns)
    }
    data[LINE_COLUMN] = pd.Series(lines, dtype="int64")
    return pd.DataFrame(data)
