"""Options and helpers shared by the commands: logging set-up, dates, configuration."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from sync_agent.config import AgentConfig
from sync_agent.logsetup import PupilDataFilter, log_file, set_pupil_data_logging

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
LOG_PUPIL_DATA_OPTION = click.option(
    "--log-pupil-data", "log_pupil_data", is_flag=True,
    help="Let UPNs through into log lines at INFO and above (for a support session; off by default).",
)
OUT_OPTION = click.option(
    "--out", "out", type=click.Path(path_type=Path, file_okay=False),
    help="Write the reports exactly in this folder (no run folder, latest/ left alone).",
)


# Exclusion records and term dates fall in these years; a date outside is a typing mistake.
AS_OF_EARLIEST = dt.date(1990, 1, 1)
AS_OF_LATEST = dt.date(2099, 12, 31)


def parse_as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD", param_hint="--as-of") from exc
    if not AS_OF_EARLIEST <= day <= AS_OF_LATEST:
        raise click.BadParameter(f"{value!r} is outside {AS_OF_EARLIEST} to {AS_OF_LATEST}; check the year",
                                 param_hint="--as-of")
    return day


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # exc_text may already hold the exception with pupil data removed by PupilDataFilter.
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure_logging(*, log_format: str, verbosity: int) -> None:
    """Send the project's log lines to stderr at the level ``verbosity`` selects (0: INFO).

    The handler keeps UPNs out of lines at INFO and above (``PupilDataFilter``) until a command
    given ``--log-pupil-data`` calls ``set_pupil_data_logging(True)``.
    """
    level = logging.INFO if verbosity == 0 else logging.DEBUG if verbosity > 0 else logging.WARNING
    root = logging.getLogger("sync_agent")
    for handler in list(root.handlers):
        if getattr(handler, "_sync_agent_console", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._sync_agent_console = True  # type: ignore[attr-defined]
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(PupilDataFilter())
    root.addHandler(handler)
    root.setLevel(level)


def current_log_format() -> str:
    """Return the ``--log-format`` given to the command group, or "text" outside a command."""
    context = click.get_current_context(silent=True)
    if context is None:
        return "text"
    return (context.find_root().obj or {}).get("log_format", "text")


@contextlib.contextmanager
def command_logging(config: AgentConfig, *, pupil_data: bool = False) -> Iterator[None]:
    """Log to the rotating file in ``[output] log_dir`` as well as stderr while the block runs.

    ``pupil_data`` (``--log-pupil-data``) lets UPNs through on both handlers for this command.
    """
    set_pupil_data_logging(pupil_data)
    try:
        with log_file(config.resolve(config.output.log_dir), make_formatter(current_log_format()),
                      pupil_data=pupil_data):
            yield
    finally:
        set_pupil_data_logging(False)
