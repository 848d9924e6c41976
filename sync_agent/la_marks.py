"""Gather the register marks the dual-registration check needs from every school's checkpoint.

An LA's year of marks is some 23 million rows, most of them present marks of pupils on one
school's register only. A conflict needs a pupil marked ``E`` somewhere and on the registers of
two schools. Each checkpoint lists its register's pupils in a small file, so those pupils are found
without opening the marks. Then only the marks files of schools with such a pupil are read, with
the filter on UPN pushed down into the Parquet read.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from sync_agent.errors import StateError
from sync_agent.la_checkpoint import MARKS_FILE, REGISTER_FILE
from sync_agent.la_checks import MARK_COLUMNS


def conflict_marks(checkpoint_dirs: list[Path]) -> pd.DataFrame | None:
    """Return the marks (``MARK_COLUMNS``) of pupils marked ``E`` at one school and on another's register.

    Returns None when no school has marks, so the check is left out rather than passed.
    """
    folders = [folder for folder in checkpoint_dirs if (folder / REGISTER_FILE).is_file()]
    if not folders:
        return None
    excluded: set[str] = set()
    schools_of: Counter[str] = Counter()
    pupils_of: dict[Path, set[str]] = {}
    for folder in folders:
        table = _read(lambda: pq.read_table(folder / REGISTER_FILE, columns=["upn", "excluded"]), folder)
        upns = table.column("upn").to_pylist()
        pupils_of[folder] = set(upns)
        schools_of.update(pupils_of[folder])
        excluded.update(upn for upn, flag in zip(upns, table.column("excluded").to_pylist()) if flag)
    wanted = {upn for upn in excluded if schools_of[upn] >= 2}
    frames = []
    for folder in folders:
        own = sorted(pupils_of[folder] & wanted)
        if own:
            frame = _read(lambda: pd.read_parquet(folder / MARKS_FILE, columns=MARK_COLUMNS, filters=[("upn", "in", own)]),
                          folder)
            frames.append(frame.astype({"laestab": str, "upn": str, "session": str, "code": str}))
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=object) for column in MARK_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def _read(read, folder: Path):
    """Run ``read``; a checkpoint damaged since it was checked becomes an error naming its folder."""
    try:
        return read()
    except (OSError, ValueError) as exc:
        # pyarrow's ArrowInvalid, raised for a damaged Parquet file, is a ValueError.
        raise StateError(f"the checkpoint {folder} cannot be read ({exc}); delete that folder and run the "
                         "import again, which reruns only that school") from exc
