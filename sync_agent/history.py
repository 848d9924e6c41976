"""Past runs as a readable table and as JSON, for ``sync-agent history``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict

from sync_agent.state import RunRecord

COLUMNS = ("run id", "started (UTC)", "duration", "command", "outcome", "exit", "inputs", "findings", "pushes")


def format_history(runs: Iterable[RunRecord]) -> str:
    """Return runs as a plain-text table, one line per run in the order given."""
    rows = [_row(run) for run in runs]
    if not rows:
        return "No runs recorded yet."
    widths = [max(len(line[i]) for line in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in [COLUMNS, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _row(run: RunRecord) -> tuple[str, ...]:
    started = run.started_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return (
        run.run_id,
        started,
        _format_duration(run.duration),
        run.command,
        (run.outcome or "unfinished").replace("_", " "),
        "-" if run.exit_code is None else str(run.exit_code),
        _format_inputs(run),
        _format_counts(run.counts_by_kind),
        _format_counts(run.pushes),
    )


def _format_duration(duration: dt.timedelta | None) -> str:
    if duration is None:
        return "-"
    seconds = max(0, round(duration.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def _format_inputs(run: RunRecord) -> str:
    by_status: dict[str, int] = {}
    for record in run.inputs:
        by_status[record.status] = by_status.get(record.status, 0) + 1
    return _format_counts(by_status)


def _format_counts(counts: Mapping[str, int]) -> str:
    if not counts:
        return "-"
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def history_json(runs: Iterable[RunRecord]) -> str:
    """Return runs as a JSON document ``{"runs": [...]}``, in the order given.

    Each run carries every recorded field, ``duration_seconds`` (null while unfinished) and its
    ``inputs``. Timestamps are ISO 8601 in UTC.
    """
    return json.dumps({"runs": [_run_json(run) for run in runs]}, indent=2, ensure_ascii=False)


def _run_json(run: RunRecord) -> dict[str, object]:
    data = asdict(run)
    data["started_at"] = run.started_at.isoformat()
    data["ended_at"] = None if run.ended_at is None else run.ended_at.isoformat()
    data["duration_seconds"] = None if run.duration is None else run.duration.total_seconds()
    return data
