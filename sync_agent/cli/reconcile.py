"""``sync-agent reconcile``: compare the MIS exports with the portal and write the reports."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import click

from sync_agent.cli.common import (
    ACADEMIC_YEAR_OPTION,
    AS_OF_OPTION,
    CONFIG_OPTION,
    OUT_OPTION,
    command_logging,
    parse_as_of,
)
from sync_agent.cli.run_steps import read_decisions_if_any, reviewed, summary_lines, write_run_reports
from sync_agent.config import load_config
from sync_agent.errors import SyncAgentError
from sync_agent.pipeline import resolve_period, run_reconcile
from sync_agent.portal_http import read_portal_api

logger = logging.getLogger(__name__)

__all__ = ["reconcile", "summary_lines"]


@click.command()
@CONFIG_OPTION
@OUT_OPTION
@AS_OF_OPTION
@ACADEMIC_YEAR_OPTION
def reconcile(config_path: Path | None, out: Path | None, as_of: str | None, academic_year: str | None) -> int:
    """Compare the MIS exports with the portal and write the reconciliation reports.

    Sends nothing and records no run. With [portal] mode = "http" the portal's records are read
    through its REST API. Reviewer decisions in the state file, if it exists, are applied. Exit
    codes: 0 nothing needs action, 1 something needs action, 2 could not run (the portal
    unreachable or the token refused, for example) or an input was refused.
    """
    config = load_config(config_path)
    day = parse_as_of(as_of)
    with command_logging(config):
        logger.info("reconcile started (configuration %s, as of %s)", config.config_path, day)
        try:
            period = resolve_period(config, academic_year, day)
            portal_reader, _ = read_portal_api(config, period)
        except SyncAgentError as exc:
            logger.error("reconcile stopped: %s", exc)
            raise
        outcome = run_reconcile(config, as_of=day, academic_year=academic_year, portal_reader=portal_reader)
        outcome = reviewed(outcome, read_decisions_if_any(config.resolve(config.state.path)))
        write_run_reports(config, outcome.result, out=out, now=dt.datetime.now(dt.timezone.utc))
        logger.info("reconcile finished: exit code %d", outcome.exit_code)
    return outcome.exit_code
