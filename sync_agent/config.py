"""Configuration: ``agent.toml`` read into validated models, with relative paths resolved.

Precedence lives here and nowhere else: ``--config``, else the ``SYNC_AGENT_CONFIG`` environment
variable, else ``./agent.toml``. Relative paths are relative to the configuration file. Unknown keys
are errors naming the key path, so a typing mistake never silently falls back to a default.
Secrets are never read from this file, only from the environment variables it names.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sync_agent.errors import ConfigError

CONFIG_ENV = "SYNC_AGENT_CONFIG"
DEFAULT_CONFIG_NAME = "agent.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class SchoolSection(_Section):
    laestab: str
    name: str | None = None

    @field_validator("laestab")
    @classmethod
    def _seven_digits(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]{7}", value):
            raise ValueError(f"LAESTAB must be 7 digits (3-digit LA code + 4-digit establishment number), not {value!r}")
        return value


class SourceSection(_Section):
    kind: Literal["exclusions", "attendance", "pupils"]
    path: str
    mapping: str
    settle_seconds: float = Field(default=10, ge=0)


class PortalSection(_Section):
    mode: Literal["export", "http"] = "export"
    path: str | None = None
    mapping: str = "portal-csv"
    url: str | None = None
    token_env: str = "SYNC_AGENT_PORTAL_TOKEN"
    ca_bundle: str | None = None
    connect_timeout_seconds: float = Field(default=10, gt=0)
    request_deadline_seconds: float = Field(default=60, gt=0)
    max_retry_after_seconds: float = Field(default=300, ge=0)
    rate_limit_per_second: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _mode_needs(self) -> PortalSection:
        if self.mode == "export" and not self.path:
            raise ValueError('mode = "export" needs path = the portal export file')
        if self.mode == "http" and not self.url:
            raise ValueError('mode = "http" needs url = the portal API base URL')
        return self


class PeriodSection(_Section):
    academic_year: str | None = None
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PeriodSection:
        if self.academic_year and (self.from_ or self.to):
            raise ValueError("give either academic_year or from and to, not both")
        if (self.from_ is None) != (self.to is None):
            raise ValueError("from and to must be given together")
        if self.from_ and self.to and self.to < self.from_:
            raise ValueError("to is before from")
        return self


class CalendarSection(_Section):
    path: str | None = None


class CodesSection(_Section):
    newer_cbds_from: dt.date | None = None


class PushSection(_Section):
    enabled: bool = False
    target: Literal["http", "b2b-file"] = "http"
    b2b_dir: str = "outbox"


class StateSection(_Section):
    path: str = "state.db"


class OutputSection(_Section):
    dir: str = "reports"
    log_dir: str = "logs"
    keep_days: int = Field(default=30, ge=1)


class AlertsSection(_Section):
    smtp_host: str
    smtp_port: int = 587
    from_: str = Field(alias="from")
    to: list[str]
    username: str | None = None
    password_env: str | None = None


class AgentConfig(_Section):
    school: SchoolSection
    sources: list[SourceSection] = Field(default_factory=list)
    portal: PortalSection | None = None
    period: PeriodSection = Field(default_factory=PeriodSection)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    codes: CodesSection = Field(default_factory=CodesSection)
    push: PushSection = Field(default_factory=PushSection)
    state: StateSection = Field(default_factory=StateSection)
    output: OutputSection = Field(default_factory=OutputSection)
    alerts: AlertsSection | None = None

    # Set by load_config, not read from the file.
    config_path: Path | None = Field(default=None, exclude=True)

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """Return ``relative`` resolved against the configuration file's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def find_config(explicit: Path | None) -> Path:
    """Return the configuration file to use, following the documented precedence."""
    if explicit is not None:
        candidate, origin = explicit, "--config"
    elif os.environ.get(CONFIG_ENV):
        candidate, origin = Path(os.environ[CONFIG_ENV]), CONFIG_ENV
    else:
        candidate, origin = Path(DEFAULT_CONFIG_NAME), "the current folder"
    if not candidate.is_file():
        raise ConfigError(
            f"configuration file {candidate} (from {origin}) was not found; "
            f"pass --config PATH, set {CONFIG_ENV}, or run `sync-agent init` to write one"
        )
    return candidate


def format_validation_error(source: str, exc: ValidationError) -> str:
    """Return a message naming each invalid key path in ``source`` and what is wrong with it."""
    lines = []
    for error in exc.errors():
        location = ".".join(_loc_part(part) for part in error["loc"]) or "(top level)"
        location = location.replace(".[", "[")
        if not error["loc"] and error["type"] == "value_error":
            # A whole-file check names its own key path at the start of its message.
            lines.append(f"{source}: {error['msg'].removeprefix('Value error, ')}")
        elif error["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {location}; check its spelling against the documentation")
        elif error["type"] == "missing":
            lines.append(f"{source}: missing required key {location}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            given = error.get("input")
            shown = "" if isinstance(given, (dict, list)) or given is None else f" (found {given!r})"
            lines.append(f"{source}: {location}: {message}{shown}")
    return "\n".join(lines)


def _loc_part(part: str | int) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)


def read_toml(path: Path) -> dict:
    """Read a TOML file, translating syntax and encoding errors into ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc


def load_config(explicit: Path | None = None) -> AgentConfig:
    """Find, read and validate the configuration file."""
    path = find_config(explicit)
    data = read_toml(path)
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    config.config_path = path.resolve()
    return config
