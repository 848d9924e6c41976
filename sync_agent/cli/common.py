"""Options and helpers shared by the commands: logging set-up, dates, configuration."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

import click

CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
    help="Configuration file (default: $SYNC_AGENT_CONFIG, else ./agent.toml).",
)
AS_OF_OPTION = click.option(
    "--as-of", "as_of", metavar="YYYY-MM-DD",
    help="The date treated as today for ages, deadlines and the default period (default: today).",
)
ACADEMIC_YEAR_OPTION = click.option(
    "--academic-year", "academic_year", metavar="YYYY-YY",
    help="Only exclusions starting in this academic year (1 August to 31 July), e.g. 2024-25.",
)
OUT_OPTION = click.option(
    "--out", "out", type=click.Path(path_type=Path, file_okay=False),
    help="Write the reports exactly in this folder (no run folder, latest/ left alone).",
)


def parse_as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD", param_hint="--as-of") from exc


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(*, log_format: str, verbosity: int) -> None:
    """Send the project's log lines to stderr at the level ``verbosity`` selects (0: INFO)."""
    level = logging.INFO if verbosity == 0 else logging.DEBUG if verbosity > 0 else logging.WARNING
    root = logging.getLogger("sync_agent")
    for handler in list(root.handlers):
        if getattr(handler, "_sync_agent_console", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._sync_agent_console = True  # type: ignore[attr-defined]
    handler.setFormatter(make_formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level)
