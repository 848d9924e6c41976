"""Stream records out of an XML export into a ``RawTable``.

XML exports (Common Transfer Files, Capita ONE B2B exclusion files, SIMS report XML) come from
other schools and systems, so every file is treated as hostile. DTDs and entity declarations are
refused (see ``xml_guard``), libxml2 keeps its depth and text limits, and no element's text may
exceed ``max_text_bytes``. The file is streamed with ``iterparse``: each finished element that
no field path names is cleared and deleted, so memory follows the records kept, not the file size.
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
            refuse_dtd_in_prologue(path, handle)
            rows, lines, encoding = _stream_records(path, handle, plan, max_text_bytes)
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
    path: Path, handle: BinaryIO, plan: ReadPlan, max_text_bytes: int
) -> tuple[list[list[str]], list[int], str]:
    """Return the rows, their start lines and the document encoding read from ``handle``.

    Each element is cleared when it ends, unless a field path names it, and then its previous
    sibling is deleted unless a field path names that one. Elements that paths name therefore
    live until their parent is cleared, which keeps a pupil's ``UPN`` for the exclusions after
    it, and everything else is freed at once. Each step deletes at most one element because the
    step before it left only named elements in front. The loop body is inlined because it runs
    for every element.

    NOTE: named elements directly under a parent that stays open, such as thousands of
    ``UPN`` elements straight under the root, are all kept until the end of the file.
    """
    names = LocalNames()
    extractor = RecordExtractor(plan, names)
    referenced = plan.referenced_names
    record_name = plan.record[-1]
    # Text of this many characters may exceed max_text_bytes once encoded as UTF-8.
    suspect_chars = max_text_bytes // 4
    rows: list[list[str]] = []
    lines: list[int] = []
    root = None
    # The element cleared last: usually the previous sibling of the next element to end, which
    # can then be deleted without reading its tag.
    last_cleared = None

    for _event, element in etree.iterparse(handle, events=("end",), **PARSER_OPTIONS):
        if root is None:
            root = element.getroottree().getroot()
            refuse_parsed_doctype(path, root)
        text = element.text
        if text is not None and len(text) > suspect_chars:
            _refuse_long_text(path, element, names, max_text_bytes)

        name = names[element.tag]
        if name == record_name and plan.matches(element, names):
            rows.append(extractor.extract(element))
            lines.append(element.sourceline)
        previous = element.getprevious()
        if previous is not None and (
            previous is last_cleared or names[previous.tag] not in referenced
        ):
            element.getparent().remove(previous)
        if name not in referenced:
            element.clear()
            last_cleared = element

    encoding = root.getroottree().docinfo.encoding if root is not None else None
    return rows, lines, encoding or "utf-8"


def _refuse_long_text(
    path: Path, element: etree._Element, names: LocalNames, max_text_bytes: int
) -> None:
    if len(element.text.encode("utf-8")) > max_text_bytes:
        raise InputRefused(
            str(path),
            f"line {element.sourceline}: element <{names[element.tag]}> has more than "
            f"{max_text_bytes} bytes of text, far more than any export field holds; check that "
            f"this is the right file",
        )


def _build_frame(columns: Sequence[str], rows: list[list[str]], lines: list[int]) -> pd.DataFrame:
    data = {
        column: pd.Series([row[i] for row in rows], dtype=str) for i, column in enumerate(columns)
    }
    data[LINE_COLUMN] = pd.Series(lines, dtype="int64")
    return pd.DataFrame(data)
