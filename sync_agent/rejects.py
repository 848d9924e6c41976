"""Rejected input rows, collected a column at a time into one frame per input."""

from __future__ import annotations

import numpy as np
import pandas as pd

REJECT_COLUMNS = ["file", "line", "field", "value", "message"]


_EMPTY = pd.DataFrame({c: pd.Series(dtype=object) for c in REJECT_COLUMNS})


def empty_rejects() -> pd.DataFrame:
    # A copy of one prepared frame: building a frame column by column costs a millisecond, and a
    # school's run needs dozens of empty frames.
    return _EMPTY.copy()


def reject_rows(
    file: str, lines: pd.Series, field: str | None, values: pd.Series, messages: pd.Series | str
) -> pd.DataFrame:
    """Build reject rows for the rows of ``lines``/``values`` (aligned Series), one per row."""
    count = len(lines)
    if isinstance(messages, str):
        messages = pd.Series([messages] * count, index=lines.index, dtype=object)
    return pd.DataFrame(
        {
            "file": np.full(count, file, dtype=object),
            "line": lines.to_numpy(),
            "field": np.full(count, field, dtype=object),
            "value": values.astype(object).to_numpy(),
            "message": messages.astype(object).to_numpy(),
        }
    )


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_rejects()
    return pd.concat(frames, ignore_index=True).sort_values(["file", "line"], kind="stable", ignore_index=True)
