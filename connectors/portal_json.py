"""Portal records in the REST profile's JSON shape, from an export file or from API pages.

An item's nested values are flattened to text columns: a list ``reasons`` becomes ``reasons[1]``,
``reasons[2]``...; an object ``pupil`` becomes ``pupil.upn``... JSON types are kept visible in the
text so that the validate step can reject them: a number stays digits (``0`` is then not an ISO
date), ``true`` stays ``true`` (not a session count), ``null`` becomes blank.

A value of the wrong shape is kept whole, as marked JSON text, in the column where a scalar was
expected. The validate step then rejects it with the whole value shown, because a code lookup sees
``JSON array [["DB"]]``, not the ``DB`` inside it. This applies to a list or object under a scalar
field of the profile (``"upn": ["X"]`` gives the column ``upn`` the text ``JSON array ["X"]``),
to a list or object inside ``reasons``, and to a list inside any other list. Free-text fields such
as ``surname`` are not validated, so there the marked text reaches the report as the name. An
integer too long to convert to text, which only API pages can carry, becomes
``(a number of about N digits)``.

Each record's line is the physical line on which its item starts. When two or more items start on
the same line (minified JSON), every record's line is instead its item number in the ``items``
array (1-based): "line 3" in rejects then means the third item.

A file nested more than ``MAX_DEPTH`` levels deep, or with a number of more than
``MAX_NUMBER_DIGITS`` digits, is refused as a whole.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from sync_agent.connectors.rawtable import LINE_COLUMN, RawTable
from sync_agent.errors import InputRefused

logger = logging.getLogger(__name__)

_ITEMS_START = re.compile(r'"items"\s*:\s*\[')

# The profile nests at most three levels (page, item, reasons). Deeper documents are damaged or
# hostile, and the json module and the flattening recurse once per level.
MAX_DEPTH = 32
# No field of the profile needs more than a few digits. CPython refuses by default to convert
# integers of more than 4300 digits to or from text.
MAX_NUMBER_DIGITS = 100

# Fields of an exclusion on the wire that hold one value each.
PROFILE_SCALAR_FIELDS = frozenset({
    "id", "laestab", "upn", "surname", "forename", "date_of_birth", "category", "start_date",
    "start_session", "end_date", "end_session", "sessions", "status",
})
# Fields of the profile that hold a list of single values.
PROFILE_SCALAR_LISTS = frozenset({"reasons"})


class _NumberTooLong(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(f"number of {digits} digits")
        self.digits = digits


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise _NumberTooLong(digits)
    return int(text)


def _depth(value: object) -> int:
    """Return how many arrays and objects ``value`` nests, without recursing."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        current, level = pending.pop()
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


def _to_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > MAX_NUMBER_DIGITS * 10 // 3:
        # str() raises ValueError past CPython's digit limit. API pages reach here unchecked.
        return f"(a number of about {int(value.bit_length() * 0.30103)} digits)"
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # keeps "2.0" distinguishable from 2
    if isinstance(value, (dict, list)):
        return _structured_text(value)
    return str(value)


def _structured_text(value: dict | list) -> str:
    """Return a list or object found where a single value belongs as marked JSON text."""
    kind = "object" if isinstance(value, dict) else "array"
    if _depth(value) > MAX_DEPTH:
        return f"(a JSON {kind} nested more than {MAX_DEPTH} levels deep)"
    return f"JSON {kind} {json.dumps(value, ensure_ascii=False)}"


def flatten_item(item: dict, prefix: str = "", depth: int = 1) -> dict[str, str]:
    """Return one JSON object as text columns (nested lists and objects flattened).

    Lists and objects of the wrong shape, and anything nested deeper than ``MAX_DEPTH``, become
    one column of marked text, as the module docstring describes.
    """
    flat: dict[str, str] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if not isinstance(value, (dict, list)) or depth >= MAX_DEPTH:
            flat[name] = _to_text(value)
        elif not prefix and key in PROFILE_SCALAR_FIELDS:
            flat[name] = _structured_text(value)
        elif isinstance(value, dict):
            flat.update(flatten_item(value, f"{name}.", depth + 1))
        else:
            scalars_only = not prefix and key in PROFILE_SCALAR_LISTS
            flat.update(_flatten_list(value, name, depth, scalars_only))
    return flat


def _flatten_list(values: list, name: str, depth: int, scalars_only: bool) -> dict[str, str]:
    flat: dict[str, str] = {}
    for position, element in enumerate(values, start=1):
        column = f"{name}[{position}]"
        if isinstance(element, dict) and not scalars_only:
            flat.update(flatten_item(element, f"{column}.", depth + 1))
        else:
            flat[column] = _to_text(element)
    return flat


def items_to_rawtable(items: Iterable[dict], path: Path | str, lines: list[int] | None = None) -> RawTable:
    """Build a RawTable from portal items; ``lines`` gives each item's line (default: its number)."""
    rows = [flatten_item(item) for item in items]
    frame = pd.DataFrame(rows, dtype=object).fillna("") if rows else pd.DataFrame()
    frame[LINE_COLUMN] = lines if lines is not None else list(range(1, len(rows) + 1))
    return RawTable(path=Path(path), frame=frame, encoding="utf-8")


def _item_lines(text: str, count: int) -> list[int] | None:
    """Return the physical line on which each item of the ``items`` array (or a bare array) starts.

    Returns None when the items cannot be located, or when two items start on the same line.
    """
    match = _ITEMS_START.search(text)
    position = match.end() if match else text.find("[") + 1
    if position <= 0:
        return None
    decoder = json.JSONDecoder(parse_int=_parse_int)
    lines: list[int] = []
    line, counted_to = 1, 0
    while len(lines) < count:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        # Newlines are counted only since the previous item, so a large file is scanned once.
        line += text.count("\n", counted_to, position)
        counted_to = position
        if lines and lines[-1] == line:
            return None
        lines.append(line)
        try:
            _, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
    return lines


def _load_json(path: Path, data: bytes) -> tuple[str, object]:
    """Decode and parse the file's bytes; raise ``InputRefused`` naming what is wrong."""
    try:
        text = data.decode("utf-8-sig")
        return text, json.loads(text, parse_int=_parse_int)
    except UnicodeDecodeError as exc:
        raise InputRefused(str(path), f"is not UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InputRefused(
            str(path), f"is not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); the file may be incomplete"
        ) from exc
    except _NumberTooLong as exc:
        raise InputRefused(
            str(path),
            f"contains a number of {exc.digits} digits, more than the {MAX_NUMBER_DIGITS} any portal "
            "field can need, so the export is damaged; export it again from the portal",
        ) from exc
    except RecursionError as exc:
        raise InputRefused(str(path), _too_deep_reason()) from exc


def _too_deep_reason() -> str:
    return (
        f"nests arrays or objects more than {MAX_DEPTH} levels deep, but the portal's export nests "
        "at most three, so the file is damaged or is not a portal export; export it again from the portal"
    )


def read_portal_json(path: Path) -> RawTable:
    """Read a portal export holding one REST page (``{"items": [...]}``) or a bare list of items.

    Raises ``InputRefused`` when the file is empty, not UTF-8, not valid JSON, nested more than
    ``MAX_DEPTH`` levels, contains a number longer than ``MAX_NUMBER_DIGITS`` digits, or is not a page
    or list of item objects.
    """
    data = path.read_bytes()
    if not data.strip():
        raise InputRefused(str(path), "empty export (no JSON content); export it again")
    text, document = _load_json(path, data)
    if _depth(document) > MAX_DEPTH:
        raise InputRefused(str(path), _too_deep_reason())
    items = document.get("items") if isinstance(document, dict) else document
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InputRefused(str(path), 'expected {"items": [...]} or a list of exclusion objects')

    lines = _item_lines(text, len(items))
    table = items_to_rawtable(items, path, lines)
    numbering = "physical line" if lines is not None else "item number, since items share lines"
    logger.info("read %s: %d portal records, each located by %s", path, len(items), numbering)
    return table
