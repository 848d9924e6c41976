"""``sync-agent reconcile``: compare the MIS exports with the portal and write the reports."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import click

from sync_agent.cli.common import ACADEMIC_YEAR_OPTION, AS_OF_OPTION, CONFIG_OPTION, OUT_OPTION, parse_as_of
from sync_agent.config import load_config
from sync_agent.pipeline import run_reconcile
from sync_agent.reports import write_reports

logger = logging.getLogger(__name__)


def summary_lines(result, folder: Path) -> list[str]:
    """Return the short summary printed after a run (counts only, no pupil data)."""
    lines = [f"Reports written to {folder}"]
    for item in result.inputs:
        state = f"refused: {item.reason}" if item.status == "refused" else f"{item.records} records, {item.rejects} rejected"
        lines.append(f"  {item.kind:<11} {item.path}: {state}")
    if result.summary:
        lines.append("Findings:")
        lines += [f"  {kind}: {count}" for kind, count in result.summary.items()]
    else:
        lines.append("No findings.")
    return lines


@click.command()
@CONFIG_OPTION
@OUT_OPTION
@AS_OF_OPTION
@ACADEMIC_YEAR_OPTION
def reconcile(config_path: Path | None, out: Path | None, as_of: str | None, academic_year: str | None) -> int:
    """Compare the MIS exports with the portal and write the reconciliation reports.

    Sends nothing. Exit codes: 0 nothing needs action, 1 something needs action, 2 could not run
    or an input was refused.
    """
    config = load_config(config_path)
    day = parse_as_of(as_of)
    outcome = run_reconcile(config, as_of=day, academic_year=academic_year)
    folder = write_reports(
        outcome.result, config.resolve(config.output.dir), out=out, now=dt.datetime.now(dt.timezone.utc)
    )
    for line in summary_lines(outcome.result, folder):
        click.echo(line)
    return outcome.exit_code
