"""Excel worksheet names: at most 31 characters, no ``[]:*?/\\``, unique regardless of case."""

from __future__ import annotations

import re

MAX_SHEET_NAME = 31
_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Excel reserves "History" for its change-tracking sheet.
_RESERVED = {"history"}


def unique_sheet_name(name: str, used: set[str]) -> str:
    """Return a valid sheet name for ``name`` that is not in ``used``, and add it to ``used``.

    ``used`` contains the lower-cased names taken so far, because Excel compares sheet names
    without regard to case. A name that is too long is cut. A name already taken gets ``~2``,
    ``~3`` ... in place of its last characters.
    """
    base = _FORBIDDEN.sub("_", name).strip("'") or "Sheet"
    candidate = base[:MAX_SHEET_NAME]
    number = 1
    while candidate.lower() in used or candidate.lower() in _RESERVED:
        number += 1
        suffix = f"~{number}"
        candidate = base[: MAX_SHEET_NAME - len(suffix)] + suffix
    used.add(candidate.lower())
    return candidate
