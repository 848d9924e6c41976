"""Operator logging: the pupil-data filter and the rotating log file of config-based commands.

The command line sends log lines to stderr (see ``sync_agent.cli.common.configure_logging``) and,
for commands that read a configuration, also to ``<[output] log_dir>/sync-agent.log``. Both
handlers carry a ``PupilDataFilter`` unless ``--log-pupil-data`` is given.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
from collections.abc import Iterator
from pathlib import Path

from sync_agent.reports.safety import make_private_dir

LOG_FILE_NAME = "sync-agent.log"
LOG_FILE_MAX_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 5
PROJECT_LOGGER = "sync_agent"

# A UPN: a letter, 11 digits, then a digit or letter (a temporary UPN ends in a letter). Lower case
# is matched too, because a hand-typed export may hold one. The word boundaries keep the pattern
# from matching inside SHA-256 digests, finding ids and run ids.
UPN_PATTERN = re.compile(r"\b[A-Za-z]\d{11}[0-9A-Za-z]\b")
UPN_PLACEHOLDER = "[UPN]"
# Attributes that code might attach with ``extra=`` and that would carry pupil data into a JSON log.
PUPIL_ATTRIBUTES = ("upn", "pupil", "surname", "forename", "date_of_birth", "dob")


def redact_pupil_data(text: str) -> str:
    """Return ``text`` with every UPN replaced by ``[UPN]``."""
    return UPN_PATTERN.sub(UPN_PLACEHOLDER, text)


class PupilDataFilter(logging.Filter):
    """Keep UPNs out of log records at INFO and above; DEBUG records pass unchanged.

    For a record at INFO or above it replaces every UPN in the final message (after ``%``
    formatting) and in the formatted exception text with ``[UPN]``, and removes the attributes
    named in ``PUPIL_ATTRIBUTES``.

    What it does not catch: pupil names and dates of birth inside a message. A name cannot be told
    apart from other words, nor a date of birth from other dates, so the code must not put them in
    messages at INFO or above in the first place. Logs name records by file and line or by journal
    id instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        record.msg = redact_pupil_data(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_pupil_data(record.exc_text)
        for name in PUPIL_ATTRIBUTES:
            if hasattr(record, name):
                delattr(record, name)
        return True


def project_handlers() -> list[logging.Handler]:
    """Return the handlers the command line attached to the project's logger."""
    return list(logging.getLogger(PROJECT_LOGGER).handlers)


def set_pupil_data_logging(allowed: bool) -> None:
    """Remove (``allowed``) or restore the pupil-data filter on every project handler."""
    for handler in project_handlers():
        for existing in [f for f in handler.filters if isinstance(f, PupilDataFilter)]:
            handler.removeFilter(existing)
        if not allowed:
            handler.addFilter(PupilDataFilter())


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file created readable by its owner only (0o600), like the reports."""

    def _open(self):  # noqa: ANN202 - the base class declares no return type either
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


@contextlib.contextmanager
def log_file(log_dir: Path, formatter: logging.Formatter, *, pupil_data: bool = False) -> Iterator[Path]:
    """Also write the project's log lines to ``log_dir``/sync-agent.log while the block runs.

    The file rotates at 5 MB and keeps 5 older files (``sync-agent.log.1`` … ``.5``). It takes
    the level already set on the project's logger. When the folder cannot be created or the file
    cannot be opened, a warning goes to the other handlers and the block runs without a log file.
    """
    path = log_dir / LOG_FILE_NAME
    try:
        make_private_dir(log_dir)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "could not open the log file %s (%s); logging to the console only. Check [output] log_dir.",
            path,
            exc.strerror or exc,
        )
        yield path
        return
    handler.setFormatter(formatter)
    if not pupil_data:
        handler.addFilter(PupilDataFilter())
    root = logging.getLogger(PROJECT_LOGGER)
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
