"""The school folders of a bulk import: which folders are schools, their configuration and input files.

Every folder directly inside the import folder is a school, except hidden folders, ``__pycache__``
and the folders holding the LA's own files (the portal export, term dates, output, logs, state and
B2B outbox). A school folder that is empty, unreadable, misnamed, misconfigured or has no export
matching a ``[[sources]]`` pattern is kept with the reason, so the overview lists it and the others
still run. So is a file or broken link named by a LAESTAB, and a link to a school folder already
imported under another name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sync_agent.config import AgentConfig
from sync_agent.errors import ConfigError
from sync_agent.la_config import LAESTAB_PATTERN, LaConfig, school_config
from sync_agent.pipeline import expand_paths

logger = logging.getLogger(__name__)


@dataclass
class SchoolEntry:
    """One school folder: its configuration and input files, or the reason it cannot run."""

    laestab: str
    folder: Path
    config: AgentConfig | None = None
    failure: str | None = None
    files: list[Path] = field(default_factory=list)
    listed_name: str | None = None  # from la.toml [school_names]

    @property
    def name(self) -> str | None:
        if self.config is not None and self.config.school.name:
            return self.config.school.name
        return self.listed_name


def discover_schools(import_dir: Path, la: LaConfig, *, skip: list[Path]) -> list[SchoolEntry]:
    """Return one entry per school folder in ``import_dir``, sorted by LAESTAB.

    ``skip`` lists paths of the LA's own files and folders; a folder containing any of them is not
    a school. Raises ConfigError when ``import_dir`` itself cannot be listed.
    """
    try:
        paths = sorted(path for path in import_dir.iterdir() if not path.name.startswith((".", "__")))
    except OSError as exc:
        raise ConfigError(f"the import folder {import_dir} cannot be read: {exc.strerror}; check the path") from exc
    skipped = [path.resolve() for path in skip]
    entries: dict[str, SchoolEntry] = {}
    seen: dict[Path, Path] = {}  # resolved folder -> the folder it was first imported as
    for folder in paths:
        if not folder.is_dir():
            # Other files (la.toml, a README) are not schools, but an entry named by a LAESTAB is
            # meant to be one: a file saved in place of a folder, or a link that leads nowhere.
            if LAESTAB_PATTERN.fullmatch(folder.name):
                entries[folder.name] = _failed_entry(
                    folder, la, f"{folder} is not a folder (a file, or a link that cannot be followed); "
                                "each school needs a folder named by its LAESTAB containing its exports")
            continue
        resolved = folder.resolve()
        if any(_contains(resolved, path) for path in skipped):
            logger.debug("%s contains the LA's own files, so it is not a school folder", folder)
            continue
        if resolved in seen:
            entries[folder.name] = _failed_entry(
                folder, la, f"{folder} is a link to {seen[resolved]}, which is imported already; remove the link")
            continue
        seen[resolved] = folder
        entry = school_entry(folder, la)
        if entry.laestab in entries:
            entry.failure = f"{folder}: LAESTAB {entry.laestab} is also the school in {entries[entry.laestab].folder}"
            entry.laestab = f"{entry.laestab} ({folder.name})"
        entries[entry.laestab] = entry
    return sorted(entries.values(), key=lambda e: e.laestab)


def _failed_entry(folder: Path, la: LaConfig, reason: str) -> SchoolEntry:
    return SchoolEntry(folder.name, folder, listed_name=la.school_names.get(folder.name), failure=reason)


def school_entry(folder: Path, la: LaConfig) -> SchoolEntry:
    """Return the entry of one school folder, with the reason when it cannot run."""
    entry = SchoolEntry(laestab=folder.name, folder=folder, listed_name=la.school_names.get(folder.name))
    try:
        if not any(folder.iterdir()):
            entry.failure = f"{folder}: the folder is empty; copy the school's MIS exports into it"
            return entry
        entry.config = school_config(la, folder)
        entry.laestab = entry.config.school.laestab
        entry.files = input_files(entry.config)
    except ConfigError as exc:
        entry.failure = str(exc)
    except OSError as exc:
        entry.failure = f"{folder}: the folder cannot be read: {exc.strerror}; check its permissions"
    return entry


def input_files(config: AgentConfig) -> list[Path]:
    """Return every file the school's run reads besides the portal: exports, mapping files, term dates.

    Raises ConfigError when an exclusions source matches no file, naming the pattern and folder.
    """
    files: list[Path] = []
    for source in config.sources:
        matched = [path for path in expand_paths(config, source.path) if path.is_file()]
        if not matched and source.kind == "exclusions":
            raise ConfigError(
                f"{config.base_dir}: no file matches the exclusions pattern {source.path!r}; copy the school's "
                "MIS exclusions export into the folder or correct [[sources]] path"
            )
        files += matched
        if source.mapping.endswith(".toml"):
            files.append(config.resolve(source.mapping))
    if config.calendar.path:
        files.append(config.resolve(config.calendar.path))
    if config.config_path is not None and config.config_path.is_file():
        files.append(config.config_path)
    return files


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents

