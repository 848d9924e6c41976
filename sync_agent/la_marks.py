"""Gather the register marks the dual-registration check needs from every school's checkpoint.

An LA's year of marks is some 23 million rows, most of them present marks of pupils on one
school's register only. A conflict needs a pupil marked ``E`` somewhere and on the registers of
two schools. So the checkpoints are read twice: first the UPNs marked ``E`` and the UPNs each school
has marks for, then every kept mark of just the pupils with both, each time with the filter pushed
down into the Parquet read.
"""

from __future__ import annotations

from collections import Counter
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
    schools_of: Counter[str] = Counter()
    for path in files:
        upns = pd.read_parquet(path, columns=["upn"], filters=[("code", "==", EXCLUDED_CODE)])["upn"]
        excluded.update(upns.astype(str))
        schools_of.update(set(pd.read_parquet(path, columns=["upn"])["upn"].astype(str).unique()))
    wanted = sorted(upn for upn in excluded if schools_of[upn] >= 2)
    if not wanted:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in MARK_COLUMNS})
    frames = [pd.read_parquet(path, columns=MARK_COLUMNS, filters=[("upn", "in", wanted)]) for path in files]
    frames = [frame.astype({"laestab": str, "upn": str, "session": str, "code": str}) for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in MARK_COLUMNS})
    return pd.concat(frames, ignore_index=True)
