"""The HTML report, ``reconciliation.html``: one self-contained page for a school's data manager.

The page has inline CSS only: no scripts, links, images or fonts, so it reads the same offline.
Every value is escaped by Jinja's autoescaping; line breaks in values show through the CSS rule
``white-space: pre-line``, never through markup built from data.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from sync_agent.reports.grouping import group_by_kind, kind_severity, summary_counts
from sync_agent.reports.rows import cell_text
from sync_agent.reports.safety import open_private
from sync_agent.result import Finding, Result

TEMPLATE_NAME = "reconciliation.html.j2"
MAX_REJECTS_SHOWN = 500

_ACRONYMS = {"mis": "MIS", "upn": "UPN", "la": "LA"}

# Finding fields shown in a finding's details cell, each only when set.
_DETAIL_FIELDS = (
    ("Field", "field"),
    ("MIS value", "mis_value"),
    ("Portal value", "portal_value"),
    ("Expected", "expected"),
    ("Actual", "actual"),
    ("Sessions", "sessions"),
    ("Due date", "due_date"),
    ("Age in school days", "age_school_days"),
    ("Schools", "schools"),
)


def write_html(result: Result, path: Path) -> None:
    """Render ``result`` to ``path`` as UTF-8 HTML, streamed so large reports stay small in memory.

    All findings are listed, grouped by kind with errors first. Missing-on-portal findings are
    listed oldest first, and other groups keep the result's order. The rejects section lists at
    most the first 500 rejects and points to ``rejects.csv`` for the rest.
    """
    groups = group_by_kind(result.findings)
    context = {
        "result": result,
        "school_title": _school_title(result),
        "summary": summary_counts(result.summary, groups),
        "groups": [
            {"kind": kind, "severity": kind_severity(kind, findings), "findings": _display_order(kind, findings)}
            for kind, findings in groups.items()
        ],
        "rejects": result.rejects[:MAX_REJECTS_SHOWN],
        "rejects_total": len(result.rejects),
    }
    render_template(TEMPLATE_NAME, context, path)


def render_template(name: str, context: dict, path: Path) -> None:
    """Render the packaged template ``name`` with ``context`` into an owner-only file, streamed."""
    template = html_environment().get_template(name)
    with open_private(path, "w", encoding="utf-8", newline="\n") as handle:
        for chunk in template.generate(**context):
            handle.write(chunk)


@functools.cache
def html_environment() -> jinja2.Environment:
    """Return the Jinja environment of the HTML reports: autoescaping on, undefined names an error."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sync_agent", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["text"] = cell_text
    environment.filters["kind_title"] = kind_title
    environment.filters["details"] = finding_details
    return environment


def _display_order(kind: str, findings: list[Finding]) -> list[Finding]:
    """Return ``findings`` in the order the page lists them.

    The LA must be notified of an exclusion without delay, so missing-on-portal findings come oldest
    first (most school days old), those without an age last, ties in the result's order.
    """
    if kind != "missing_on_portal":
        return findings
    return sorted(findings, key=lambda finding: (finding.age_school_days is None, -(finding.age_school_days or 0)))


def _school_title(result: Result) -> str:
    laestab = f"LAESTAB {result.school.laestab}"
    return f"{result.school.name} ({laestab})" if result.school.name else laestab


def kind_title(kind: str) -> str:
    """Return a heading for a finding kind: ``missing_in_mis`` becomes ``Missing in MIS``."""
    words = [_ACRONYMS.get(word, word) for word in kind.split("_")]
    if words and words[0] not in _ACRONYMS.values():
        words[0] = words[0].capitalize()
    return " ".join(words)


def finding_details(finding: Finding, group_severity: str) -> list[tuple[str, str]]:
    """Return ``(label, text)`` for each detail field that is set on ``finding``.

    Each of the finding's ``extra`` columns (an admission number, a comment) is listed under its
    own name. The severity is listed too when it differs from the severity of the finding's kind, as it can
    for ``field_mismatch``.
    """
    details = [(label, cell_text(getattr(finding, name))) for label, name in _DETAIL_FIELDS]
    details = [(label, text) for label, text in details if text]
    details.extend((key, value) for key, value in finding.extra.items() if value)
    if finding.severity != group_severity:
        details.append(("Severity", finding.severity.capitalize()))
    return details
