"""The JSON report, ``reconciliation.json``: the result model itself, with every value exact."""

from __future__ import annotations

from pathlib import Path

from sync_agent.reports.safety import write_private_bytes
from sync_agent.result import Result


def write_json(result: Result, path: Path) -> None:
    """Write ``result`` as UTF-8 JSON to ``path``, with values exact (JSON is never run as formulas)."""
    write_private_bytes(path, (result.to_json() + "\n").encode("utf-8"))
