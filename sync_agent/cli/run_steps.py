"""Steps that ``reconcile`` and ``sync`` share: reviewer decisions, reports and the printed summary."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path

import click

from sync_agent.config import AgentConfig
from sync_agent.decisions import apply_decisions
from sync_agent.pipeline import RunOutcome, exit_code_for
from sync_agent.reports import write_reports
from sync_agent.result import Result
from sync_agent.state import Decision, StateStore

logger = logging.getLogger(__name__)


def read_decisions_if_any(state_path: Path) -> dict[str, Decision]:
    """Return the reviewer decisions in ``state_path``, or none when the file does not exist.

    Reads without the run lock (the state file runs in WAL mode) and never creates the file.
    """
    if not state_path.is_file():
        return {}
    with StateStore(state_path) as store:
        return store.decisions()


def reviewed(outcome: RunOutcome, decisions: Mapping[str, Decision]) -> RunOutcome:
    """Return ``outcome`` with reviewer decisions applied and its exit code computed again.

    An accepted finding no longer needs action, so it alone never sets exit code 1.
    """
    if not decisions:
        return outcome
    result = apply_decisions(outcome.result, decisions)
    return dataclasses.replace(outcome, result=result, exit_code=exit_code_for(result))


def write_run_reports(config: AgentConfig, result: Result, *, out: Path | None, now: dt.datetime) -> Path:
    """Write the reports into ``[output] dir`` (or ``out``) and print the summary; return the folder."""
    folder = write_reports(result, config.resolve(config.output.dir), out=out, now=now)
    for line in summary_lines(result, folder):
        click.echo(line)
    return folder


def summary_lines(result: Result, folder: Path) -> list[str]:
    """Return the short summary printed after a run (counts only, no pupil data)."""
    lines = [f"Reports written to {folder}"]
    for item in result.inputs:
        state = f"refused: {item.reason}" if item.status == "refused" else f"{item.records} records, {item.rejects} rejected"
        lines.append(f"  {item.kind:<11} {item.path}: {state}")
    if result.summary:
        lines.append("Findings:")
        lines += [f"  {kind}: {count}" for kind, count in result.summary.items()]
        accepted = sum(1 for finding in result.findings if finding.status == "accepted")
        if accepted:
            lines.append(f"  ({accepted} of them accepted by a reviewer)")
    else:
        lines.append("No findings.")
    return lines
