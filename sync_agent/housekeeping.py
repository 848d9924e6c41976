"""Housekeeping at the end of a sync run: old report folders and old rows of the state file.

A run folder's age is read from its name, the run id, which is the run's UTC start time
(``20250314T070002Z``, or ``20250314T070002Z-2`` for a second run in the same second). The name
is used rather than the modification time because copying, restoring from a backup or opening a
file in the folder changes the time but never the name.

Kept whatever their age: ``latest/``, anything whose name is not a run id (so files and folders
a user put there are never touched), and symbolic links. The state file's own pruning is
``StateStore.prune``; it keeps the last runs, the last completed run and every active decision.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sync_agent.state import PruneCounts, StateStore

logger = logging.getLogger(__name__)

RUN_FOLDER_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}Z)(-\d+)?")


@dataclass
class HousekeepingResult:
    """What one housekeeping pass deleted, and what it could not delete."""

    deleted_folders: list[Path] = field(default_factory=list)
    failed_folders: list[Path] = field(default_factory=list)
    pruned: PruneCounts | None = None


def run_folder_time(name: str) -> dt.datetime | None:
    """Return the UTC start time a run folder's name records, or None for any other name."""
    match = RUN_FOLDER_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None  # digits in the right places that are no real date, such as month 13


def old_run_folders(output_root: Path, keep_days: int, now: dt.datetime) -> list[Path]:
    """Return the run folders in ``output_root`` started more than ``keep_days`` days before ``now``."""
    if not output_root.is_dir():
        return []
    cutoff = now - dt.timedelta(days=keep_days)
    old = []
    for entry in sorted(output_root.iterdir()):
        started = run_folder_time(entry.name)
        if started is None or entry.is_symlink() or not entry.is_dir():
            continue
        if started < cutoff:
            old.append(entry)
    return old


def delete_old_run_folders(output_root: Path, keep_days: int, now: dt.datetime) -> HousekeepingResult:
    """Delete the run folders older than ``keep_days`` days; log each one deleted or left."""
    outcome = HousekeepingResult()
    for folder in old_run_folders(output_root, keep_days, now):
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            # On Windows a report open in Excel cannot be deleted; the next run tries again.
            logger.error("could not delete the old run folder %s: %s; the next run tries again", folder, exc)
            outcome.failed_folders.append(folder)
            continue
        logger.info("deleted the run folder %s (older than %d days)", folder, keep_days)
        outcome.deleted_folders.append(folder)
    return outcome


def housekeep(store: StateStore, output_root: Path, keep_days: int, now: dt.datetime) -> HousekeepingResult:
    """Delete old run folders from ``output_root`` and prune the state file."""
    outcome = delete_old_run_folders(output_root, keep_days, now)
    outcome.pruned = store.prune(keep_days, now)
    return outcome
