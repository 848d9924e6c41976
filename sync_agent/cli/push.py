"""``sync-agent push``: the push plan by default; ``--yes`` sends it through the journal."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from sync_agent.cli.common import ACADEMIC_YEAR_OPTION, AS_OF_OPTION, CONFIG_OPTION, OUT_OPTION, parse_as_of
from sync_agent.config import AgentConfig, load_config
from sync_agent.errors import EXIT_ACTION_NEEDED, EXIT_CANNOT_RUN, EXIT_OK, ConfigError
from sync_agent.lock import RunLock

logger = logging.getLogger(__name__)


def _reconcile_for_push(config: AgentConfig, as_of, academic_year):
    """Reconcile against a fresh read of the portal (never a stale export) for the HTTP target.

    Reviewer decisions are applied, so a missing_on_portal finding a reviewer accepted (the LA
    asked for it not to be logged, say) is not sent, as ``sync`` does not send it either.
    """
    from sync_agent.cli.run_steps import read_decisions_if_any, reviewed
    from sync_agent.pipeline import resolve_period, run_reconcile
    from sync_agent.portal_http import make_http_reader, portal_client

    decisions = read_decisions_if_any(config.resolve(config.state.path))
    if config.push.target == "http":
        if config.portal is None or not config.portal.url:
            raise ConfigError(
                f"{config.config_path}: push with target \"http\" reads the portal first, so [portal] url must be set"
            )
        period = resolve_period(config, academic_year, as_of)
        client = portal_client(config)
        outcome = run_reconcile(config, as_of=as_of, academic_year=academic_year,
                                portal_reader=make_http_reader(client, period))
        return reviewed(outcome, decisions), client
    return reviewed(run_reconcile(config, as_of=as_of, academic_year=academic_year), decisions), None


def _plan_folder(config: AgentConfig, out: Path | None) -> Path:
    return out if out is not None else config.resolve(config.output.dir)


@click.command()
@CONFIG_OPTION
@OUT_OPTION
@AS_OF_OPTION
@ACADEMIC_YEAR_OPTION
@click.option("--yes", is_flag=True, help="Send the plan (without it, only show and write the plan).")
@click.option("--retry-failed", is_flag=True, help="Send again only the records that failed before.")
@click.option("--dismiss", "dismiss_id", metavar="JOURNAL_ID", help="Drop a failed record from the journal.")
def push(config_path, out, as_of, academic_year, yes: bool, retry_failed: bool, dismiss_id: str | None) -> int:
    """Send exclusions that are in the MIS but missing on the portal.

    Without --yes, prints the push plan and writes push-plan.csv and push-plan.xlsx, sending
    nothing and changing no state. Only records that passed validation and are missing on the
    portal are ever sent; nothing on the portal is changed or deleted.
    """
    from sync_agent.journal import PushJournal
    from sync_agent.push import build_plan, render_plan, retry_plan, send, send_b2b, write_plan
    from sync_agent.push_step import push_candidates

    config = load_config(config_path)
    state_path = config.resolve(config.state.path)
    if dismiss_id:
        with RunLock(state_path), PushJournal(state_path) as journal:
            journal.dismiss(dismiss_id)
        click.echo(f"{dismiss_id} dismissed; it will not be sent again")
        return EXIT_OK
    if retry_failed:
        from sync_agent.portal_http import portal_client

        with RunLock(state_path), PushJournal(state_path) as journal, portal_client(config) as client:
            summary = send(retry_plan(journal), client, journal, retry_failed=True)
        click.echo(summary.render())
        return summary.exit_code

    day = parse_as_of(as_of)
    if not yes:
        outcome, client = _reconcile_for_push(config, day, academic_year)
        if client is not None:
            client.close()
        candidates = push_candidates(outcome)
        plan = _plan_without_state(candidates, state_path, config.push.target, build_plan)
        csv_path, xlsx_path = write_plan(plan, _plan_folder(config, out))
        click.echo(render_plan(plan))
        click.echo(f"Plan written to {csv_path} and {xlsx_path}; nothing was sent. Run with --yes to send.")
        return outcome.exit_code if outcome.exit_code == EXIT_CANNOT_RUN else EXIT_OK

    with RunLock(state_path):
        outcome, client = _reconcile_for_push(config, day, academic_year)
        if outcome.exit_code == 2:
            click.echo("An input was refused, so nothing was sent; see the reconcile report.", err=True)
            return outcome.exit_code
        candidates = push_candidates(outcome)
        with PushJournal(state_path) as journal:
            plan = build_plan(candidates, journal, target=config.push.target)
            if config.push.target == "b2b-file":
                summary = send_b2b(plan, journal, config.resolve(config.push.b2b_dir), laestab=config.school.laestab)
            else:
                with client:
                    summary = send(plan, client, journal)
    click.echo(summary.render())
    if outcome.result.rejects:
        # A rejected input row needs action whatever the push did, as the exit codes promise.
        click.echo(f"{len(outcome.result.rejects)} rejected input row(s) need correcting; see the reconcile report.",
                   err=True)
        return max(summary.exit_code, EXIT_ACTION_NEEDED)
    return summary.exit_code


def _plan_without_state(candidates, state_path: Path, target: str, build_plan):
    """Build the plan against the journal when a state file exists, without creating one."""
    from sync_agent.journal import PushJournal

    if not state_path.exists():
        import tempfile

        with tempfile.TemporaryDirectory() as folder, PushJournal(Path(folder) / "plan.db") as journal:
            return build_plan(candidates, journal, target=target)
    with PushJournal(state_path) as journal:
        return build_plan(candidates, journal, target=target)
