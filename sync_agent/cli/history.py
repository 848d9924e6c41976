"""``sync-agent history``: past runs from the state file, as a table or as JSON."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from sync_agent.cli.common import CONFIG_OPTION
from sync_agent.config import load_config
from sync_agent.history import format_history, history_json
from sync_agent.state import StateStore

logger = logging.getLogger(__name__)


@click.command()
@CONFIG_OPTION
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show at most this many runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help='Print {"runs": [...]} as JSON instead of a table.')
def history(config_path: Path | None, limit: int, as_json: bool) -> int:
    """List past runs: when, inputs, findings by kind, pushes, outcome and exit code.

    Reads the state file without taking the run lock and never creates it. Exit codes: 0 listed,
    2 the configuration or the state file could not be read.
    """
    config = load_config(config_path)
    state_path = config.resolve(config.state.path)
    runs = []
    if state_path.is_file():
        with StateStore(state_path) as store:
            runs = store.list_runs(limit)
    else:
        logger.debug("no state file at %s yet", state_path)
    click.echo(history_json(runs) if as_json else format_history(runs))
    return 0
