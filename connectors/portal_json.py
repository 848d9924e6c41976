"""Portal records in the REST profile's JSON shape, from an export file or from API pages.

An item's nested values are flattened to text columns: a list ``reasons`` becomes ``reasons[1]``,
``reasons[2]``...; an object ``pupil`` becomes ``pupil.upn``... JSON types are kept visible in the
text so that the validate step can reject them: a number stays digits (``0`` is then not an ISO
date), ``true`` stays ``true`` (not a session count), ``null`` becomes blank.
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


def _to_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)  # keeps "2.0" distinguishable from 2
    return str(value)


def flatten_item(item: dict, prefix: str = "") -> dict[str, str]:
    """Return one JSON object as text columns (nested lists and objects flattened)."""
    flat: dict[str, str] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_item(value, f"{name}."))
        elif isinstance(value, list):
            for position, element in enumerate(value, start=1):
                if isinstance(element, dict):
                    flat.update(flatten_item(element, f"{name}[{position}]."))
                else:
                    flat[f"{name}[{position}]"] = _to_text(element)
        else:
            flat[name] = _to_text(value)
    return flat


def items_to_rawtable(items: Iterable[dict], path: Path | str, lines: list[int] | None = None) -> RawTable:
    """Build a RawTable from portal items; ``lines`` gives each item's line (default: its number)."""
    rows = [flatten_item(item) for item in items]
    frame = pd.DataFrame(rows, dtype=object).fillna("") if rows else pd.DataFrame()
    frame[LINE_COLUMN] = lines if lines is not None else list(range(1, len(rows) + 1))
    return RawTable(path=Path(path), frame=frame, encoding="utf-8")


def _item_lines(text: str, count: int) -> list[int] | None:
    """Return the physical line on which each item of the ``items`` array (or a bare array) starts."""
    match = _ITEMS_START.search(text)
    position = match.end() if match else text.find("[") + 1
    if position <= 0:
        return None
    decoder = json.JSONDecoder()
    lines = []
    while len(lines) < count:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        lines.append(text.count("\n", 0, position) + 1)
        try:
            _, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
    return lines


def read_portal_json(path: Path) -> RawTable:
    """Read a portal export holding one REST page (``{"items": [...]}``) or a bare list of items."""
    data = path.read_bytes()
    if not data.strip():
        raise InputRefused(str(path), "empty export (no JSON content); export it again")
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InputRefused(str(path), f"is not UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InputRefused(
            str(path), f"is not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); the file may be incomplete"
        ) from exc
    items = document.get("items") if isinstance(document, dict) else document
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InputRefused(str(path), 'expected {"items": [...]} or a list of exclusion objects')
    table = items_to_rawtable(items, path, _item_lines(text, len(items)))
    logger.info("read %s: %d portal records", path, len(items))
    return table
