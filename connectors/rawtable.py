"""The shape every extracting connector returns: text cells with their physical line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

LINE_COLUMN = "__line__"


@dataclass
class RawTable:
    """Records read from one export, before any mapping.

    ``frame`` has one column per source column or field path, every cell a ``str`` ("" where the
    source was blank or absent, never NaN), plus ``LINE_COLUMN``: the physical line (1-based) on
    which each record starts in the file. ``skipped`` counts rows that were not records, by cause
    (for example ``{"blank": 2, "footer": 2, "title": 2}``); ``footer_count`` is the record count a
    footer stated, when the export had one.
    """

    path: Path
    frame: pd.DataFrame
    encoding: str = "utf-8"
    skipped: dict[str, int] = field(default_factory=dict)
    footer_count: int | None = None
    header_line: int | None = None
    # Records the connector could not split into fields (for example more cells than the header
    # has): they are not in ``frame`` and go to rejects.csv as (line, field, value, message).
    rejects: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != LINE_COLUMN]

    def __len__(self) -> int:
        return len(self.frame)
