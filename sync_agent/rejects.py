"""Rejected input rows, collected a column at a time into one frame per input."""

from __future__ import annotations

import numpy as np
import pandas as pd

REJECT_COLUMNS = ["file", "line", "field", "value", "message"]
# A rejected value longer than this is cut in the reports: one runaway cell (a whole file in one
# field) would otherwise fill rejects.csv and the HTML report.
MAX_VALUE_CHARS = 200


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
            "value": _shortened(values.astype(object).to_numpy()),
            "message": messages.astype(object).to_numpy(),
        }
    )


def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_rejects()
    return pd.concat(frames, ignore_index=True).sort_values(["file", "line"], kind="stable", ignore_index=True)


def _shortened(values: np.ndarray) -> np.ndarray:
    """Return ``values`` with each text longer than ``MAX_VALUE_CHARS`` cut, saying how long it was."""
    lengths = pd.Series(values, dtype=object).str.len().to_numpy(dtype=float, na_value=0)
    long = np.flatnonzero(lengths > MAX_VALUE_CHARS)
    if not len(long):
        return values
    values = values.copy()
    for position in long:
        text = values[position]
        values[position] = f"{text[:MAX_VALUE_CHARS]}… ({len(text):,} characters in all)"
    return values
