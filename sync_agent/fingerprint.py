"""The fingerprint of a sync run: a hash of everything the run's result depends on.

``sync`` compares it with the last completed run's and skips a run whose work would be the same.
The parts are named content hashes, combined by ``sync_agent.state.run_fingerprint``:

- every input file (each file a source's path or pattern matches, and the portal export), or, for
  the portal REST API, the records read from it;
- every mapping file, the shipped code lists, the calendar file and the configuration file;
- the period compared, the active reviewer decisions, and the versions of sync-agent and of the
  ``holidays`` package (bank holidays in England).

The as-of date is left out on purpose. It changes every day, so with it a nightly run would
never be skipped, yet it changes only the ages and deadlines the messages show, not which
findings exist. The period it selects when ``[period]`` is unset is included, so a run on
1 August, the first day of a new academic year, is never skipped. ``--force`` refreshes the ages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import holidays
import pandas as pd

from sync_agent import __version__
from sync_agent.codelists import codelist_files
from sync_agent.config import AgentConfig
from sync_agent.extract import sha256_of
from sync_agent.mapping import load_mapping
from sync_agent.pipeline import expand_paths
from sync_agent.result import InputSummary
from sync_agent.state import Decision

MISSING = "missing"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file, or ``"missing"`` for a file that is absent or unreadable."""
    try:
        return sha256_of(path)
    except OSError:
        # The run itself refuses such a file with the reason; the fingerprint only has to differ.
        return MISSING


def input_paths(config: AgentConfig) -> list[Path]:
    """Return every input file the run would read, the portal export file included."""
    paths = [path for source in config.sources for path in expand_paths(config, source.path)]
    if config.portal is not None and config.portal.mode == "export":
        paths.append(config.resolve(config.portal.path))
    return paths


def mapping_digests(config: AgentConfig) -> dict[str, str]:
    """Return the SHA-256 of every mapping file the run uses, by mapping source."""
    names = [source.mapping for source in config.sources]
    if config.portal is not None:
        names.append("portal-json" if config.portal.mode == "http" else config.portal.mapping)
    digests = {}
    for name in names:
        mapping = load_mapping(name, config.base_dir)
        digests[f"mapping:{mapping.source}"] = mapping.digest
    return digests


def records_digest(records: pd.DataFrame) -> str:
    """Return the SHA-256 of a frame of records, independent of row order."""
    rows = records.astype(object).where(records.notna(), None).to_dict("records")
    lines = sorted(json.dumps(row, sort_keys=True, default=str, ensure_ascii=False) for row in rows)
    return _sha256("\n".join(lines).encode("utf-8"))


def decisions_digest(decisions: Mapping[str, Decision]) -> str:
    """Return the SHA-256 of the active decisions (finding id and values hash)."""
    active = sorted(f"{d.finding_id}:{d.values_hash}" for d in decisions.values() if d.active)
    return _sha256("\n".join(active).encode("utf-8"))


def fingerprint_parts(
    config: AgentConfig,
    *,
    period: tuple[dt.date, dt.date],
    decisions: Mapping[str, Decision],
    portal_records: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Return the named content hashes a sync run depends on, read from disk now.

    ``portal_records`` are the records read from the portal's REST API, for ``mode = "http"``.
    """
    parts = {f"input:{path}": file_digest(path) for path in input_paths(config)}
    if portal_records is not None:
        parts["input:portal-api"] = records_digest(portal_records)
    parts.update(mapping_digests(config))
    for name, data in codelist_files():
        parts[f"codelist:{name}"] = _sha256(data)
    parts["calendar"] = file_digest(config.resolve(config.calendar.path)) if config.calendar.path else "england"
    parts["config"] = file_digest(config.config_path) if config.config_path else MISSING
    parts["period"] = f"{period[0].isoformat()}/{period[1].isoformat()}"
    parts["decisions"] = decisions_digest(decisions)
    parts["program"] = f"sync-agent {__version__}; holidays {holidays.__version__}"
    return parts


def with_inputs_read(parts: Mapping[str, str], inputs: Iterable[InputSummary]) -> dict[str, str]:
    """Return ``parts`` with each input file's hash replaced by the hash of the bytes the run read.

    A file that changed between the fingerprint and the read would otherwise be recorded under the
    hash of content the run never saw.
    """
    updated = dict(parts)
    for item in inputs:
        key = f"input:{item.path}"
        if key in updated and item.sha256:
            updated[key] = item.sha256
    return updated
