"""``sync-agent accept FINDING_ID --reason TEXT``: record a reviewer's decision on a finding.

The decision stores the finding's values as ``latest/reconciliation.json`` in ``[output] dir``
shows them, so it applies only while the data behind the finding stays the same.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import click
from pydantic import ValidationError

from sync_agent.cli.common import CONFIG_OPTION, command_logging
from sync_agent.config import AgentConfig, load_config
from sync_agent.decisions import current_user, finding_values_hash
from sync_agent.errors import ConfigError, StateError
from sync_agent.lock import RunLock
from sync_agent.reports.run_folder import LATEST_FOLDER
from sync_agent.result import Finding
from sync_agent.state import StateStore

logger = logging.getLogger(__name__)


@click.command()
@click.argument("finding_id")
@click.option("--reason", help="Why the finding needs no action (required to accept; recorded with an undo).")
@click.option("--undo", is_flag=True, help="Reverse the active acceptance, so the finding shows as open again.")
@CONFIG_OPTION
def accept(finding_id: str, reason: str | None, undo: bool, config_path: Path | None) -> int:
    """Accept a finding as needing no action, or with --undo reopen it.

    Takes FINDING_ID from the id column of the latest report. Records the operating-system user,
    the time and the reason. An accepted finding shows as accepted in later reports and no longer
    sets exit code 1, until the records behind it change. Exit codes: 0 recorded, 2 not recorded,
    3 another run holds the lock.
    """
    config = load_config(config_path)
    user = current_user()
    now = dt.datetime.now(dt.timezone.utc)
    with command_logging(config):
        state_path = config.resolve(config.state.path)
        with RunLock(state_path), StateStore(state_path) as store:
            if undo:
                store.undo(finding_id, user, now, reason)
                click.echo(f"Acceptance of {finding_id} undone by {user}; it shows as open from the next run on.")
                return 0
            if not reason or not reason.strip():
                raise ConfigError(f"accepting {finding_id} needs a reason: give --reason TEXT")
            finding = latest_finding(config, finding_id)
            store.accept(finding_id, finding_values_hash(finding), reason, user, now)
    click.echo(
        f"Accepted {finding_id} ({finding.kind}) as shown in the latest report, by {user}. "
        "It shows as accepted from the next run on, until the records behind it change."
    )
    return 0


def latest_report_path(config: AgentConfig) -> Path:
    return config.resolve(config.output.dir) / LATEST_FOLDER / "reconciliation.json"


def latest_finding(config: AgentConfig, finding_id: str) -> Finding:
    """Return the finding ``finding_id`` from the latest report; raise ConfigError if absent."""
    path = latest_report_path(config)
    if not path.is_file():
        raise ConfigError(
            f"no latest report at {path}: run `sync-agent sync` or `sync-agent reconcile` first, "
            "then accept a finding by the id in its report"
        )
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateError(f"{path} cannot be read as a report ({exc}); run `sync-agent sync` again") from exc
    for item in report.get("findings", []):
        if item.get("id") == finding_id:
            try:
                return Finding.model_validate(item)
            except ValidationError as exc:
                raise StateError(f"{path}: finding {finding_id} is not in the expected form ({exc})") from exc
    raise ConfigError(
        f"finding {finding_id} is not in the latest report {path}: check the id, or run "
        "`sync-agent sync` or `sync-agent reconcile` first so that the report lists it"
    )
