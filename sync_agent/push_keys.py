"""Idempotency keys for exclusions pushed to the LA portal.

A key is the SHA-256 hex digest of ``laestab|UPN|category|start_date|start_session`` with the
canonical category (``suspension``, ``permanent``, ``lunchtime``), the UPN in upper case and the
start date in ISO form. Because the category is canonical, the key survives code-list changes such
as FIXD becoming SUSP, so a record re-sent after such a change still matches its first POST.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from sync_agent.errors import PortalError

_CANONICAL_CATEGORY = {
    "FIXD": "suspension",
    "SUSP": "suspension",
    "SUSPENSION": "suspension",
    "PERM": "permanent",
    "PERMANENT": "permanent",
    "LNCH": "lunchtime",
    "LUNCHTIME": "lunchtime",
}


def canonical_category(value: str) -> str:
    """Return ``suspension``, ``permanent`` or ``lunchtime`` for a wire code or canonical name.

    Raises ``PortalError`` for any other value, since a guessed category would give a wrong key.
    """
    category = _CANONICAL_CATEGORY.get(str(value).strip().upper())
    if category is None:
        raise PortalError(
            f"invalid exclusion category {value!r}: expected FIXD, SUSP, PERM or LNCH"
        )
    return category


def iso_date(value: Any, field: str) -> str:
    """Return ``value`` (a date or an ISO date string) as ``YYYY-MM-DD``."""
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError as exc:
        raise PortalError(f"invalid {field} {value!r}: expected an ISO date (YYYY-MM-DD)") from exc


def natural_key(payload: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """Return (laestab, UPN, canonical category, start date, start session) of a wire payload."""
    missing = [
        name
        for name in ("laestab", "upn", "category", "start_date", "start_session")
        if not payload.get(name)
    ]
    if missing:
        raise PortalError(f"exclusion payload lacks {', '.join(missing)}: cannot build its key")
    return (
        str(payload["laestab"]).strip(),
        str(payload["upn"]).strip().upper(),
        canonical_category(payload["category"]),
        iso_date(payload["start_date"], "start_date"),
        str(payload["start_session"]).strip().upper(),
    )


def idempotency_key(payload: Mapping[str, Any]) -> str:
    """Return the SHA-256 hex idempotency key of a wire payload."""
    text = "|".join(natural_key(payload))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def journal_id_for(key: str) -> str:
    """Return the short journal id of an idempotency key, the name logs use for a record.

    48 bits of the key keep collisions out of reach for one school's records.
    """
    return "J-" + key[:12]


def academic_year_of(start_date: Any) -> str:
    """Return the academic year (``2023-24``) a start date falls in; years start on 1 September."""
    day = dt.date.fromisoformat(iso_date(start_date, "start_date"))
    first = day.year if day.month >= 9 else day.year - 1
    return f"{first}-{(first + 1) % 100:02d}"
