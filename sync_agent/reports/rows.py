"""Findings and rejects as rows of text cells, shared by the CSV, HTML and XLSX writers."""

from __future__ import annotations

import datetime as dt

from sync_agent.result import Finding, Reject

# The column order of the Finding model, which is also the order of the JSON fields.
FINDING_COLUMNS: tuple[str, ...] = tuple(Finding.model_fields)
REJECT_COLUMNS: tuple[str, ...] = ("file", "line", "field", "value", "message")

LIST_SEPARATOR = "; "


def cell_text(value: object) -> str:
    """Return the report text of one field value.

    None becomes ``""``, dates ISO text, lists their items joined with ``"; "``, and a mapping
    (a finding's ``extra`` columns) ``key: value`` pairs joined with ``"; "``.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(cell_text(item) for item in value)
    if isinstance(value, dict):
        return LIST_SEPARATOR.join(f"{key}: {cell_text(item)}" for key, item in value.items())
    return str(value)


def finding_row(finding: Finding) -> list[str]:
    """Return the cells of one finding in ``FINDING_COLUMNS`` order."""
    return [cell_text(getattr(finding, column)) for column in FINDING_COLUMNS]


def reject_row(reject: Reject) -> list[str]:
    """Return the cells of one reject in ``REJECT_COLUMNS`` order."""
    return [cell_text(getattr(reject, column)) for column in REJECT_COLUMNS]
