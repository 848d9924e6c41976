"""``sync-agent sync``: the scheduled run. Reconcile, push when enabled, record, tidy up, alert.

The run holds the state file's run lock from start to end. It is skipped when nothing it depends
on changed since the last sync run, provided that run completed (exit code 0 or 1); see
``sync_agent.fingerprint``. A run that refused an input, could not run or was killed is never
such a run, so the next one always runs in full.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click

from sync_agent.alerts import RunReport, send_alert
from sync_agent.cli.common import (
    ACADEMIC_YEAR_OPTION,
    AS_OF_OPTION,
    CONFIG_OPTION,
    LOG_PUPIL_DATA_OPTION,
    command_logging,
    parse_as_of,
)
from sync_agent.cli.run_steps import reviewed, write_run_reports
from sync_agent.config import AgentConfig, load_config
from sync_agent.errors import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, SyncAgentError
from sync_agent.fingerprint import file_digest, fingerprint_parts, records_digest, with_inputs_read
from sync_agent.housekeeping import housekeep
from sync_agent.lock import RunLock
from sync_agent.pipeline import RunOutcome, resolve_period, run_reconcile
from sync_agent.portal_http import read_portal_api
from sync_agent.state import RunRecord, StateStore, outcome_for_exit_code, run_fingerprint

logger = logging.getLogger(__name__)

COMMAND = "sync"
COMPLETED_EXIT_CODES = (0, 1)
# The fingerprint part that ``fingerprint_parts`` computes from the records read through the API.
PORTAL_API_PART = "input:portal-api"


@dataclass
class SyncRun:
    """One sync run in progress: what it read, wrote and sent, for the run record and the alert."""

    run_id: str
    started_at: dt.datetime
    outcome: RunOutcome | None = None
    report_dir: Path | None = None
    pushes: dict[str, int] = field(default_factory=dict)
    push_left_work: bool = False
    exit_code: int = EXIT_CANNOT_RUN
    error: str | None = None


@click.command()
@CONFIG_OPTION
@AS_OF_OPTION
@ACADEMIC_YEAR_OPTION
@click.option("--force", is_flag=True, help="Run in full even when nothing changed since the last completed run.")
@LOG_PUPIL_DATA_OPTION
def sync(config_path: Path | None, as_of: str | None, academic_year: str | None, force: bool,
         log_pupil_data: bool) -> int:
    """Run the scheduled sync: reconcile, then push when [push] enabled is true.

    Skips the run when the inputs, mappings, code lists, calendar, configuration and reviewer
    decisions are unchanged since the last completed run, and exits with that run's exit code.
    Exit codes: 0 nothing needs action, 1 something needs action, 2 could not run or an input
    was refused, 3 another run holds the lock.
    """
    config = load_config(config_path)
    day = parse_as_of(as_of)
    with command_logging(config, pupil_data=log_pupil_data):
        try:
            return run_sync(config, as_of=day, academic_year=academic_year, force=force)
        except SyncAgentError as exc:
            logger.error("sync stopped: %s", exc)
            raise


def run_sync(config: AgentConfig, *, as_of: dt.date, academic_year: str | None = None, force: bool = False) -> int:
    """Run one sync under the run lock and return its exit code."""
    state_path = config.resolve(config.state.path)
    logger.info("sync started (configuration %s, as of %s%s)", config.config_path, as_of, ", forced" if force else "")
    with RunLock(state_path), StateStore(state_path) as store:
        started_at = dt.datetime.now(dt.timezone.utc)
        try:
            period = resolve_period(config, academic_year, as_of)
            portal_reader, portal_records = read_portal_api(config, period)
            parts = fingerprint_parts(config, period=period, decisions=store.decisions(), portal_records=portal_records)
        except SyncAgentError as exc:
            run = SyncRun(store.start_run(COMMAND, started_at, config_hash(config)), started_at, error=str(exc))
            finish(config, store, run, parts={})
            raise

        previous = last_sync_run(store)
        if not force and unchanged_since(previous, run_fingerprint(parts)):
            return skip(previous)

        run = SyncRun(store.start_run(COMMAND, started_at, config_hash(config)), started_at)
        logger.info("run %s started", run.run_id)
        try:
            full_run(config, store, run, as_of=as_of, academic_year=academic_year, portal_reader=portal_reader)
        except SyncAgentError as exc:
            run.error = str(exc)
            finish(config, store, run, parts)
            raise
        except KeyboardInterrupt:
            run.exit_code = EXIT_INTERRUPTED
            store.finish_run(run.run_id, dt.datetime.now(dt.timezone.utc), outcome_for_exit_code(EXIT_INTERRUPTED),
                             EXIT_INTERRUPTED, {}, {}, run.report_dir)
            logger.warning("run %s interrupted", run.run_id)
            raise
        finish(config, store, run, parts_after_push(config, run, parts, period))
        tidy_up(config, store)
        return run.exit_code


def config_hash(config: AgentConfig) -> str | None:
    return file_digest(config.config_path) if config.config_path else None


def last_sync_run(store: StateStore) -> RunRecord | None:
    """Return the newest sync run recorded, finished or not."""
    return next((run for run in store.list_runs() if run.command == COMMAND), None)


def unchanged_since(previous: RunRecord | None, fingerprint: str) -> bool:
    """Return True when ``previous`` completed (exit 0 or 1) with this same fingerprint.

    Only the newest run counts: after a refused input, a failure or a killed run, the next run
    runs in full even when an older completed run had the same fingerprint, because ``latest/``
    and the push journal may reflect the failed run. A run whose report folder has been deleted
    does not count either, so the data manager always has a report to read.
    """
    return (
        previous is not None
        and previous.exit_code in COMPLETED_EXIT_CODES
        and previous.fingerprint == fingerprint
        and (previous.report_dir is None or Path(previous.report_dir).is_dir())
    )


def skip(previous: RunRecord) -> int:
    message = (
        f"inputs, mappings, code lists, calendar, configuration and reviewer decisions unchanged since "
        f"run {previous.run_id}; nothing to do (exit code {previous.exit_code} as that run; --force runs again)"
    )
    click.echo(message)
    logger.info("sync skipped: %s", message)
    return int(previous.exit_code)


def full_run(config: AgentConfig, store: StateStore, run: SyncRun, *, as_of: dt.date,
             academic_year: str | None, portal_reader: Callable | None) -> None:
    """Reconcile, apply reviewer decisions, write the reports and push; fill in ``run``."""
    outcome = run_reconcile(config, as_of=as_of, academic_year=academic_year, portal_reader=portal_reader)
    run.outcome = reviewed(outcome, store.decisions())
    run.exit_code = run.outcome.exit_code
    run.report_dir = write_run_reports(config, run.outcome.result, out=None, now=run.started_at)
    if not config.push.enabled:
        return
    if run.exit_code == EXIT_CANNOT_RUN:
        logger.warning("run %s: push skipped because an input was refused", run.run_id)
        return
    from sync_agent.push_step import push_missing

    pushed = push_missing(config, run.outcome, as_of=as_of, report_dir=run.report_dir)
    if pushed.text:
        click.echo(pushed.text)
    run.pushes = pushed.counts()
    run.push_left_work = pushed.failed > 0 or pushed.exit_code == EXIT_CANNOT_RUN
    run.exit_code = combined_exit_code(run.exit_code, pushed.exit_code)


def parts_after_push(config: AgentConfig, run: SyncRun, parts: dict[str, str],
                     period: tuple[dt.date, dt.date]) -> dict[str, str]:
    """Return the fingerprint parts to record for ``run``, given what its push did.

    A push that left records failed or unsent records no parts, hence no fingerprint, so the next
    run runs in full and sends them. A push that stored records through the portal's REST API
    changed the records the fingerprint was computed from, so they are read again. The next run is
    then skipped only if the portal still contains what this run left there.
    """
    if run.push_left_work:
        logger.info("run %s: the push left records unsent, so the next run runs in full", run.run_id)
        return {}
    stored = run.pushes.get("delivered", 0) + run.pushes.get("already_there", 0)
    if not stored or config.push.target != "http" or PORTAL_API_PART not in parts:
        return parts
    try:
        _, records = read_portal_api(config, period)
    except SyncAgentError as exc:
        logger.warning("run %s: reading the portal again after the push failed (%s); the next run runs in full",
                       run.run_id, exc)
        return {}
    return {**parts, PORTAL_API_PART: records_digest(records)}


def combined_exit_code(*codes: int) -> int:
    """Return 2 when any step could not run, else the highest code (1 beats 0)."""
    return EXIT_CANNOT_RUN if EXIT_CANNOT_RUN in codes else max(codes)


def finish(config: AgentConfig, store: StateStore, run: SyncRun, parts: dict[str, str]) -> None:
    """Record the run's inputs and end in the state file, then send an alert if one is due."""
    result = run.outcome.result if run.outcome is not None else None
    fingerprint = None
    if result is not None:
        for item in result.inputs:
            store.record_input(run.run_id, item.path, item.kind, item.sha256, item.status, item.records,
                               item.rejects, item.reason)
        if parts:
            fingerprint = run_fingerprint(with_inputs_read(parts, result.inputs))
    if run.error is not None:
        run.exit_code = EXIT_CANNOT_RUN
    store.finish_run(
        run.run_id, dt.datetime.now(dt.timezone.utc), outcome_for_exit_code(run.exit_code), run.exit_code,
        dict(result.summary) if result is not None else {}, run.pushes, run.report_dir, fingerprint=fingerprint,
    )
    logger.info("run %s finished: exit code %d", run.run_id, run.exit_code)
    if config.alerts is not None and run.exit_code in (1, 2):
        send_alert(config.alerts, run_report(config, run))


def run_report(config: AgentConfig, run: SyncRun) -> RunReport:
    """Return the alert's facts for ``run``: counts and paths, no pupil data."""
    school = f"{config.school.name or 'school'} ({config.school.laestab})"
    report = RunReport(run_id=run.run_id, exit_code=run.exit_code, school=school, pushes=run.pushes,
                       report_dir=str(run.report_dir) if run.report_dir else None, error=run.error)
    if run.outcome is not None:
        result = run.outcome.result
        report.counts_by_kind = dict(result.summary)
        report.accepted = sum(1 for finding in result.findings if finding.status == "accepted")
        report.rejected_rows = sum(item.rejects for item in result.inputs)
        report.refused = [(item.path, item.reason or "") for item in result.inputs if item.status == "refused"]
    return report


def tidy_up(config: AgentConfig, store: StateStore) -> None:
    """Delete old run folders and prune the state file; a failure here never fails the run."""
    try:
        housekeep(store, config.resolve(config.output.dir), config.output.keep_days, dt.datetime.now(dt.timezone.utc))
    except (SyncAgentError, OSError) as exc:
        logger.error("housekeeping failed: %s; the next run tries again", exc)
