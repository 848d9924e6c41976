"""LA configuration: ``la.toml`` for ``bulk-import``, and each school's configuration built from it.

``la.toml`` has the sections of ``agent.toml`` except ``[school]``: ``[la]`` names the LA,
``[[sources]]`` are globs looked for inside every school folder, ``[portal]`` is the LA-wide
portal data, and ``[period]``, ``[calendar]``, ``[codes]``, ``[push]``, ``[state]`` and
``[output]`` work as in ``agent.toml``. ``[school_names]`` optionally maps LAESTABs to school
names for the overview. Relative paths are relative to ``la.toml``, except the ``[[sources]]``
globs, which are relative to each school folder. Unknown keys are errors naming the key path.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from pydantic import Field, ValidationError, field_validator

from sync_agent.config import (
    AgentConfig,
    CalendarSection,
    CodesSection,
    OutputSection,
    PeriodSection,
    PortalSection,
    PushSection,
    SchoolSection,
    SourceSection,
    StateSection,
    _Section,
    format_validation_error,
    load_config,
    read_toml,
)
from sync_agent.errors import ConfigError

LA_CONFIG_NAME = "la.toml"
SCHOOL_CONFIG_NAME = "agent.toml"
LAESTAB_PATTERN = re.compile(r"[0-9]{7}")


class LaSection(_Section):
    code: str
    name: str | None = None

    @field_validator("code")
    @classmethod
    def _three_digits(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]{3}", value):
            raise ValueError(f"the LA code must be 3 digits, such as \"940\", not {value!r}")
        return value


class LaConfig(_Section):
    """The validated ``la.toml``; ``config_path`` is set by :func:`load_la_config`."""

    la: LaSection
    sources: list[SourceSection] = Field(default_factory=list)
    portal: PortalSection | None = None
    period: PeriodSection = Field(default_factory=PeriodSection)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    codes: CodesSection = Field(default_factory=CodesSection)
    push: PushSection = Field(default_factory=PushSection)
    state: StateSection = Field(default_factory=StateSection)
    output: OutputSection = Field(default_factory=OutputSection)
    school_names: dict[str, str] = Field(default_factory=dict)

    config_path: Path | None = Field(default=None, exclude=True)

    @field_validator("school_names")
    @classmethod
    def _laestab_keys(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [key for key in value if not LAESTAB_PATTERN.fullmatch(key)]
        if bad:
            raise ValueError(f"keys must be 7-digit LAESTABs, not {', '.join(repr(b) for b in bad)}")
        return value

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent if self.config_path else Path.cwd()

    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """Return ``relative`` resolved against the folder of ``la.toml``."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def find_la_config(import_dir: Path, explicit: Path | None) -> Path:
    """Return ``explicit`` (``--config``), else ``la.toml`` in the import folder."""
    candidate = explicit if explicit is not None else import_dir / LA_CONFIG_NAME
    if explicit is None and not import_dir.is_dir():
        raise ConfigError(f"the import folder {import_dir} was not found; check the path (one folder per school inside it)")
    if not candidate.is_file():
        origin = "--config" if explicit is not None else f"the import folder {import_dir}"
        raise ConfigError(
            f"LA configuration {candidate} (from {origin}) was not found; "
            f"write an {LA_CONFIG_NAME} with [la] and [[sources]], or pass --config PATH"
        )
    return candidate


def load_la_config(path: Path) -> LaConfig:
    """Read and validate ``la.toml``; raise ConfigError naming each invalid key path."""
    data = read_toml(path)
    try:
        config = LaConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
    config.config_path = path.resolve()
    return config


def school_config(la: LaConfig, folder: Path) -> AgentConfig:
    """Return the configuration of the school in ``folder``.

    A folder with its own ``agent.toml`` uses that file for everything but pushing: the push
    target and the push journal (``[push]`` and ``[state]``) are the LA's, so one journal covers the
    whole import. Its ``[school] laestab`` must match the folder name when the folder is named by a
    LAESTAB. Any other folder must be named by a 7-digit LAESTAB and gets the LA's sections, with
    the ``[[sources]]`` globs looked for inside it. Raises ConfigError naming the folder and the fix.
    """
    own = folder / SCHOOL_CONFIG_NAME
    if own.is_file():
        config = load_config(own)
        if LAESTAB_PATTERN.fullmatch(folder.name) and folder.name != config.school.laestab:
            raise ConfigError(
                f"{own}: [school] laestab is {config.school.laestab} but the folder is named {folder.name}; "
                "rename the folder or correct the LAESTAB"
            )
        return config.model_copy(update={"push": _absolute_push(la), "state": _absolute_state(la)})
    if not LAESTAB_PATTERN.fullmatch(folder.name):
        raise ConfigError(
            f"{folder}: the folder is not named by a 7-digit LAESTAB and has no {SCHOOL_CONFIG_NAME}; "
            "rename it to the school's LAESTAB or add an agent.toml"
        )
    if not la.sources:
        raise ConfigError(f"{la.config_path}: no [[sources]] entry; add the pattern of the schools' MIS exports")
    return _built_config(la, folder)


def _built_config(la: LaConfig, folder: Path) -> AgentConfig:
    laestab = folder.name
    calendar = CalendarSection(path=str(la.resolve(la.calendar.path)) if la.calendar.path else None)
    portal = None
    if la.portal is not None:
        portal = la.portal.model_copy(update={"path": str(la.resolve(la.portal.path)) if la.portal.path else None,
                                              "mapping": _absolute_mapping(la, la.portal.mapping)})
    sources = [source.model_copy(update={"mapping": _absolute_mapping(la, source.mapping)}) for source in la.sources]
    config = AgentConfig(
        school=SchoolSection(laestab=laestab, name=la.school_names.get(laestab)),
        sources=sources,
        portal=portal,
        period=la.period,
        calendar=calendar,
        codes=la.codes,
        push=_absolute_push(la),
        state=_absolute_state(la),
        output=OutputSection(dir=str(la.resolve(la.output.dir)), log_dir=str(la.resolve(la.output.log_dir)),
                             keep_days=la.output.keep_days),
    )
    # Source globs are relative to the school folder, so it takes the place of a config file's folder.
    config.config_path = (folder / SCHOOL_CONFIG_NAME).resolve()
    return _matched_sources_only(config, la)


def _matched_sources_only(config: AgentConfig, la: LaConfig) -> AgentConfig:
    """Drop the LA's source patterns that match no file in this school's folder.

    Schools differ in which exports they send (one saves CSV, another tab-separated text, a third
    has no attendance export), so an unmatched pattern is not an error unless no exclusions
    pattern matches at all.
    """
    matched = [source for source in config.sources if glob.glob(str(config.resolve(source.path)))]
    if not any(source.kind == "exclusions" for source in matched):
        patterns = ", ".join(repr(s.path) for s in la.sources if s.kind == "exclusions")
        raise ConfigError(
            f"{config.base_dir}: no file matches the exclusions pattern(s) {patterns} of {la.config_path}; "
            "copy the school's MIS exclusions export into the folder or add its name pattern to [[sources]]"
        )
    return config.model_copy(update={"sources": matched})


def _absolute_mapping(la: LaConfig, mapping: str) -> str:
    """Return a mapping file path resolved against ``la.toml``; a built-in name stays as it is."""
    if mapping.endswith(".toml") or "/" in mapping or "\\" in mapping:
        return str(la.resolve(mapping))
    return mapping


def _absolute_push(la: LaConfig) -> PushSection:
    return la.push.model_copy(update={"b2b_dir": str(la.resolve(la.push.b2b_dir))})


def _absolute_state(la: LaConfig) -> StateSection:
    return StateSection(path=str(la.resolve(la.state.path)))
