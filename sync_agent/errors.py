"""The project's exception family.

Every error a user can cause carries the exit code the command line returns for it, so the CLI
catches ``SyncAgentError`` in one place and exits with ``err.exit_code``:

- ``ConfigError``: the configuration or a command-line value is invalid (exit 2).
- ``MappingError``: a mapping file is invalid, or an export lacks a column its mapping requires (exit 2).
- ``InputRefused``: an export is refused as a whole (empty, truncated, footer count wrong, still
  being written, hostile XML); the run goes on without it and exits 2.
- ``PortalError``: the portal could not be reached or refused the token (exit 2).
- ``StateError``: the state file is unreadable or from a newer release (exit 2).
- ``LockHeld``: another run holds the state file's lock (exit 3).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ACTION_NEEDED = 1
EXIT_CANNOT_RUN = 2
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130


class SyncAgentError(Exception):
    """Base of every error the CLI reports to the user without a traceback."""

    exit_code = EXIT_CANNOT_RUN


class ConfigError(SyncAgentError):
    """The configuration file or a command-line value is invalid."""


class MappingError(SyncAgentError):
    """A mapping file is invalid, or an export does not fit its mapping."""


class InputRefused(SyncAgentError):
    """An export is refused as a whole; none of its rows may be used.

    ``path`` names the file and ``reason`` says why, for the report's ``inputs`` list.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class PortalError(SyncAgentError):
    """The portal could not be reached, refused the token, or answered out of profile."""


class StateError(SyncAgentError):
    """The state file cannot be used by this release."""


class LockHeld(SyncAgentError):
    """Another process holds the run lock of the state file."""

    exit_code = EXIT_LOCKED
