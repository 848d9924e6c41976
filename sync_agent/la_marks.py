"""Gather the register marks the dual-registration check needs from every school's checkpoint.

An LA's year of marks is some 23 million rows, most of them present marks of pupils never
excluded. So the checkpoints are read twice: first only the UPNs marked ``E`` anywhere, then
every kept mark of just those pupils, each time with the filter pushed down into the Parquet read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sync_agent.la_checkpoint import MARKS_FILE
from sync_agent.la_checks import EXCLUDED_CODE, MARK_COLUMNS


def conflict_marks(checkpoint_dirs: list[Path]) -> pd.DataFrame | None:
    """Return the marks (``MARK_COLUMNS``) of pupils marked ``E`` at any school; None without marks."""
    files = [folder / MARKS_FILE for folder in checkpoint_dirs if (folder / MARKS_FILE).is_file()]
    if not files:
        return None
    excluded: set[str] = set()
    for path in files:
        upns = pd.read_parquet(path, columns=["upn"], filters=[("code", "==", EXCLUDED_CODE)])["upn"]
        excluded.update(upns.astype(str))
    if not excluded:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in MARK_COLUMNS})
    wanted = sorted(excluded)
    frames = [pd.read_parquet(path, columns=MARK_COLUMNS, filters=[("upn", "in", wanted)]) for path in files]
    frames = [frame.astype({"laestab": str, "upn": str, "session": str, "code": str}) for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in MARK_COLUMNS})
    return pd.concat(frames, ignore_index=True)
