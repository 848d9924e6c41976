"""Order finding kinds for reports: errors first, then warnings, each in the order of the kind table."""

from __future__ import annotations

from collections.abc import Iterable

from sync_agent.findings import KINDS
from sync_agent.result import Finding

_TABLE_POSITION = {name: position for position, name in enumerate(KINDS)}


def kind_severity(kind: str, findings: Iterable[Finding] = ()) -> str:
    """Return the severity a report lists ``kind`` under.

    A known kind takes the severity of the kind table (``field_mismatch`` counts as an error,
    although a mismatch in a secondary field is a warning). An unknown kind is an error if any of
    its ``findings`` is one, and a warning otherwise.
    """
    if kind in KINDS:
        return KINDS[kind].severity
    return "error" if any(finding.severity == "error" for finding in findings) else "warning"


def ordered_kinds(severities: dict[str, str]) -> list[str]:
    """Return the kinds of ``severities`` (kind to severity) with errors first, then warnings.

    Within a severity, known kinds keep the order of the kind table and unknown kinds follow by name.
    """

    def sort_key(kind: str) -> tuple[int, int, str]:
        severity_rank = 0 if severities[kind] == "error" else 1
        return (severity_rank, _TABLE_POSITION.get(kind, len(_TABLE_POSITION)), kind)

    return sorted(severities, key=sort_key)


def group_by_kind(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Return the findings grouped by kind, the kinds in report order, each group in input order."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.kind, []).append(finding)
    severities = {kind: kind_severity(kind, group) for kind, group in groups.items()}
    return {kind: groups[kind] for kind in ordered_kinds(severities)}


def summary_counts(summary: dict[str, int], groups: dict[str, list[Finding]]) -> list[tuple[str, str, int]]:
    """Return ``(kind, severity, count)`` for each kind of ``summary``, errors first."""
    severities = {kind: kind_severity(kind, groups.get(kind, ())) for kind in summary}
    return [(kind, severities[kind], summary[kind]) for kind in ordered_kinds(severities)]
