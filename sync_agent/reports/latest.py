"""Refresh the ``latest/`` report folder so it never contains files of two different runs."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from sync_agent.reports.safety import make_private_dir, open_private

logger = logging.getLogger(__name__)


def refresh_latest(files: Iterable[Path], latest_dir: Path) -> bool:
    """Make ``latest_dir`` hold copies of exactly ``files``; return False if it could not be replaced.

    The copies go into a hidden sibling folder, which then replaces ``latest_dir`` by two renames
    (old folder aside, new folder in), so a reader sees either the old set or the new set. Between
    the renames ``latest_dir`` is briefly missing. A missing old ``latest_dir`` is fine. If the old
    folder cannot be moved because another program has one of its files open (Excel locks
    open files on Windows), a warning is logged, the old folder stays as it was, and False is returned.

    NOTE: a process killed between the two renames leaves a hidden ``.latest.old-*`` folder beside
    ``latest_dir``. The next refresh creates ``latest_dir`` again but does not remove that folder.
    """
    token = secrets.token_hex(4)
    staging = latest_dir.with_name(f".{latest_dir.name}.new-{token}")
    retired = latest_dir.with_name(f".{latest_dir.name}.old-{token}")
    make_private_dir(staging, exist_ok=False)
    try:
        for source in files:
            _copy_private(source, staging / source.name)
        return _swap_in(staging, latest_dir, retired)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
        # The old folder is kept if it could not be put back as latest_dir after a failure.
        if retired.exists() and latest_dir.exists():
            shutil.rmtree(retired)


def _swap_in(staging: Path, latest_dir: Path, retired: Path) -> bool:
    try:
        os.rename(latest_dir, retired)
    except FileNotFoundError:
        pass  # the first run has no latest folder yet
    except PermissionError as exc:
        logger.warning(
            "Could not refresh %s because a file in it is in use (%s); close it, and the next "
            "run will refresh the folder",
            latest_dir,
            exc.strerror,
        )
        return False
    try:
        os.rename(staging, latest_dir)
    except OSError:
        if retired.exists() and not latest_dir.exists():
            os.rename(retired, latest_dir)
        raise
    return True


def _copy_private(source: Path, target: Path) -> None:
    with source.open("rb") as reader, open_private(target, "xb") as writer:
        shutil.copyfileobj(reader, writer)
