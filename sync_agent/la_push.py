"""Pushes of a bulk import: one school after another in the parent, through the LA's one push journal.

Without ``--yes`` each school's plan is written into its report folder (``push-plan.csv`` and
``.xlsx``) and no state changes. With ``--yes`` the run lock of the LA's state file is held for
the whole phase and each school's missing records go to ``[push] target``: the portal API, or one
Capita ONE B2B file per school in ``[push] b2b_dir``. A school whose input was refused pushes
nothing, since its missing records cannot be trusted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sync_agent.config import AgentConfig
from sync_agent.errors import EXIT_CANNOT_RUN
from sync_agent.la_checkpoint import Checkpoint
from sync_agent.la_result import SchoolPush
from sync_agent.pipeline import RunOutcome

logger = logging.getLogger(__name__)


def plan_school(config: AgentConfig, checkpoint: Checkpoint, report_dir: Path) -> SchoolPush:
    """Write the school's push plan into ``report_dir`` against the journal, changing no state."""
    from sync_agent.push import build_plan, write_plan
    from sync_agent.push_step import push_candidates

    candidates = push_candidates(_outcome(checkpoint))
    with _read_only_journal(config.resolve(config.state.path)) as journal:
        plan = build_plan(candidates, journal, target=config.push.target)
    write_plan(plan, report_dir)
    return SchoolPush(sent=False, planned=len(plan))


def send_school(config: AgentConfig, checkpoint: Checkpoint, *, as_of: dt.date, report_dir: Path) -> SchoolPush:
    """Send the school's missing records through the journal; the caller holds the run lock."""
    from sync_agent.push_step import push_missing

    step = push_missing(config, _outcome(checkpoint), as_of=as_of, report_dir=report_dir)
    return SchoolPush(sent=True, delivered=step.delivered, already_there=step.already_there, rejected=step.rejected,
                      failed=step.failed, file=str(step.file) if step.file else None)


def pushable(checkpoint: Checkpoint) -> bool:
    """Return whether the school has records to push and inputs that can be trusted."""
    return checkpoint.exit_code != EXIT_CANNOT_RUN and not checkpoint.pushable.empty


def _outcome(checkpoint: Checkpoint) -> RunOutcome:
    return RunOutcome(checkpoint.result, checkpoint.pushable, None, checkpoint.exit_code)


@contextlib.contextmanager
def _read_only_journal(state_path: Path) -> Iterator[object]:
    """Yield the journal of ``state_path``, or an empty one when the state file does not exist yet."""
    from sync_agent.journal import PushJournal

    if state_path.exists():
        with PushJournal(state_path) as journal:
            yield journal
        return
    with tempfile.TemporaryDirectory() as folder, PushJournal(Path(folder) / "plan.db") as journal:
        yield journal
