"""One school's line in the LA overview, from its checkpoint and the LA-wide findings."""

from __future__ import annotations

import os
from pathlib import Path

from sync_agent.la_checkpoint import Checkpoint
from sync_agent.la_result import SchoolPush, SchoolSummary
from sync_agent.la_schools import SchoolEntry
from sync_agent.result import Finding


def school_summary(entry: SchoolEntry, checkpoint: Checkpoint, la_findings: list[Finding], out_dir: Path, *,
                   resumed: bool, push: SchoolPush | None) -> SchoolSummary:
    """Return the overview line of a school that ran: counts, the oldest unreported exclusion, links.

    ``open_findings`` counts the school's own open findings by kind plus the LA-wide findings that
    name the school. A refused input makes the status ``failed`` with the refusal as the reason,
    although the school's reports were written.
    """
    result = checkpoint.result
    open_findings: dict[str, int] = {}
    own_open = [f for f in result.findings if f.status == "open"]
    for finding in own_open + [f for f in la_findings if entry.laestab in f.schools]:
        open_findings[finding.kind] = open_findings.get(finding.kind, 0) + 1
    missing = [f for f in own_open if f.kind == "missing_on_portal"]
    ages = [f.age_school_days for f in missing if f.age_school_days is not None]
    refused = [f"{item.path}: {item.reason}" for item in result.inputs if item.status == "refused"]
    exclusions = [item for item in result.inputs if item.kind == "exclusions"]
    return SchoolSummary(
        laestab=entry.laestab,
        name=result.school.name,
        status="failed" if refused else "ok",
        reason=("input refused: " + "; ".join(refused)) if refused else None,
        records_read=sum(item.records + item.rejects for item in exclusions),
        rejects=sum(item.rejects for item in result.inputs),
        open_findings=dict(sorted(open_findings.items())),
        errors=sum(1 for f in own_open if f.severity == "error"),
        missing_on_portal=len(missing),
        oldest_unreported_school_days=max(ages) if ages else None,
        report=_relative_link(out_dir / entry.laestab, out_dir),
        exit_code=checkpoint.exit_code,
        resumed=resumed,
        push=push,
    )


def failed_summary(entry: SchoolEntry, reason: str) -> SchoolSummary:
    """Return the overview line of a school that could not run, with the reason and fix."""
    return SchoolSummary(laestab=entry.laestab, name=entry.name, status="failed", reason=reason, exit_code=2)


def _relative_link(folder: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(folder, out_dir)).as_posix() + "/"
