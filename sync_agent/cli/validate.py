"""``sync-agent validate``: check exports against their mappings and list every gap in one run.

Each file goes through the same extract, map and validate steps as a reconcile. The output gives
the records read, accepted and rejected per file. It then lists every distinct value that no value
table maps, with its count and the ``[tables.<name>]`` to add it to, so an integrator sees every gap
in one run. The other rejects follow, grouped by field and message, with up to five example lines
each. Exit codes: 0 every record maps, 1 some record was rejected, 2 a file or mapping could not
be read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.cli.common import CONFIG_OPTION
from sync_agent.codelists import ReasonCodes, reason_codes
from sync_agent.config import AgentConfig, load_config
from sync_agent.errors import EXIT_ACTION_NEEDED, EXIT_CANNOT_RUN, EXIT_OK, ConfigError, InputRefused, MappingError
from sync_agent.extract import extract
from sync_agent.mapper import MappedRecords, map_records
from sync_agent.mapping import Mapping, load_mapping
from sync_agent.rejects import combine
from sync_agent.validate import validate_records

logger = logging.getLogger(__name__)

EXAMPLE_LINES = 5


@dataclass
class FileCheck:
    """The outcome of checking one export against its mapping."""

    path: Path
    kind: str
    mapping_name: str
    read: int = 0
    accepted: int = 0
    rejects: pd.DataFrame | None = None  # every reject, map-step ones included
    unmapped: pd.DataFrame | None = None  # map-step rejects: values no table maps
    # Label a map-step reject carries (column, path or field) -> (canonical field, value table).
    tables: dict[str, tuple[str, str]] = field(default_factory=dict)
    where_to_add: str = "a copy of the mapping"
    record_path: str | None = None  # the XML mapping's record path, shown when no record matched
    refused: str | None = None  # the reason the file or its mapping could not be read

    @property
    def rejected(self) -> int:
        return int(self.rejects["line"].nunique()) if self.rejects is not None and len(self.rejects) else 0

    @property
    def exit_code(self) -> int:
        if self.refused is not None:
            return EXIT_CANNOT_RUN
        return EXIT_ACTION_NEEDED if self.rejected else EXIT_OK


@dataclass(frozen=True)
class CheckContext:
    """Inputs of the validators beyond the file: the school's LAESTAB, reason codes and calendar."""

    laestab: str | None
    reasons: ReasonCodes
    calendar: SchoolCalendar


@click.command()
@CONFIG_OPTION
@click.option("--mapping", "mapping_name", metavar="NAME_OR_PATH",
              help="Check FILE... with this built-in mapping or mapping file, without a configuration.")
@click.option("--laestab", metavar="NNNNNNN",
              help="The school's 7-digit LAESTAB, for files that do not carry it (default: [school] laestab).")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
def validate(config_path: Path | None, mapping_name: str | None, laestab: str | None, files: tuple[Path, ...]) -> int:
    """Check exports against their mappings; list rejects and every unmapped value.

    Without --mapping, checks every [[sources]] entry and the portal export of the configuration.
    With --mapping NAME_OR_PATH FILE..., checks the files named. Exit codes: 0 every record maps,
    1 a record was rejected, 2 a file or mapping could not be read.
    """
    if mapping_name is None and files:
        raise click.UsageError("give --mapping NAME_OR_PATH to check files without a configuration")
    if mapping_name is not None and not files:
        raise click.UsageError("--mapping needs at least one FILE to check")
    if mapping_name is not None:
        mapping = load_mapping(mapping_name, Path.cwd())
        context = CheckContext(laestab, reason_codes(), SchoolCalendar.england())
        checks = [check_file(path, mapping.kind, mapping, context) for path in files]
    else:
        checks = _check_configured(load_config(config_path), laestab)
    for check in checks:
        for line in describe(check):
            click.echo(line)
    return max((check.exit_code for check in checks), default=EXIT_OK)


def _check_configured(config: AgentConfig, laestab: str | None) -> list[FileCheck]:
    from sync_agent.pipeline import build_calendar

    context = CheckContext(laestab or config.school.laestab, reason_codes(config.codes.newer_cbds_from),
                           build_calendar(config))
    checks = []
    for source in config.sources:
        checks += _check_source(config, source.path, source.kind, source.mapping, context)
    if config.portal is not None and config.portal.mode == "export":
        checks += _check_source(config, config.portal.path, "portal", config.portal.mapping, context)
    elif config.portal is not None:
        click.echo("portal: http mode, no export file to check (sync-agent portal-check tests the connection)")
    return checks


def _check_source(config: AgentConfig, pattern: str, kind: str, mapping_name: str,
                  context: CheckContext) -> list[FileCheck]:
    """Check every file a configured path names; an unusable mapping is reported on each file."""
    from sync_agent.pipeline import expand_paths

    paths = expand_paths(config, pattern)
    try:
        mapping = load_mapping(mapping_name, config.base_dir)
    except (ConfigError, MappingError) as exc:
        return [FileCheck(path=path, kind=kind, mapping_name=mapping_name, refused=str(exc)) for path in paths]
    return [check_file(path, kind, mapping, context) for path in paths]


def check_file(path: Path, kind: str, mapping: Mapping, context: CheckContext) -> FileCheck:
    """Extract, map and validate one export; return counts, rejects and unmapped values.

    A file that cannot be read, or that does not fit the mapping (a required column missing, a
    mapping for another kind of export), comes back with ``refused`` set instead of raising.
    """
    check = FileCheck(path=path, kind=kind, mapping_name=mapping.name)
    if mapping.path is not None:
        check.where_to_add = str(mapping.path)
    if mapping.spec.xml is not None:
        check.record_path = mapping.spec.xml.record_path
    if mapping.kind != kind:
        check.refused = (f"the source is kind {kind!r} but mapping {mapping.name} reads {mapping.kind!r} exports; "
                         f"choose a {kind} mapping")
        return check
    try:
        raw = extract(path, mapping)
        defaults = {"laestab": context.laestab} if context.laestab and kind != "portal" else None
        mapped = map_records(raw, mapping, defaults=defaults)
        accepted, rejects = _validate(mapped, mapping, kind, context)
    except InputRefused as exc:
        check.refused = exc.reason
        logger.error("validate: %s could not be read: %s", path, exc.reason)
        return check
    except MappingError as exc:
        check.refused = str(exc)
        logger.error("validate: %s does not fit mapping %s: %s", path, mapping.name, exc)
        return check
    connector_rejects = pd.DataFrame(raw.rejects, columns=["line", "field", "value", "message"]).assign(file=str(path))
    check.read = len(mapped.frame) + len(raw.rejects)
    check.accepted = len(accepted)
    check.rejects = combine([rejects, connector_rejects])
    check.unmapped = mapped.rejects
    check.tables = _tables_by_label(mapped, mapping)
    logger.info("validate: %s: %d records read, %d accepted, %d rejected", path, check.read, check.accepted, check.rejected)
    return check


def _validate(mapped: MappedRecords, mapping: Mapping, kind: str, context: CheckContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (accepted records, rejects) from the validator of ``kind``."""
    if kind == "pupils":
        from sync_agent.pupils import validate_pupils

        return validate_pupils(mapped, mapping)
    if kind == "attendance":
        from sync_agent.attendance import validate_marks

        return validate_marks(mapped, mapping, context.calendar)
    validated = validate_records(mapped, mapping, context.reasons)
    return validated.records, validated.rejects


def _tables_by_label(mapped: MappedRecords, mapping: Mapping) -> dict[str, tuple[str, str]]:
    """Return, for each label a map-step reject can carry, the canonical field and its value table."""
    tables: dict[str, tuple[str, str]] = {}
    for name, spec in mapping.spec.fields.items():
        if spec.table is not None:
            tables[mapped.source_columns.get(name, name)] = (name, spec.table)
    return tables


def describe(check: FileCheck) -> list[str]:
    """Return the printed lines for one file: counts, unmapped values, then other rejects."""
    heading = f"{check.path} ({check.kind}, mapping {check.mapping_name})"
    if check.refused is not None:
        return [heading, f"  could not be read: {check.refused}"]
    lines = [heading, f"  records read: {check.read}, accepted: {check.accepted}, rejected: {check.rejected}"]
    if check.read == 0 and check.record_path is not None:
        lines.append(f"  no element matches [xml] record_path {check.record_path!r}; check it if the file has records")
    lines += _unmapped_lines(check)
    lines += _other_reject_lines(check)
    return lines


def _unmapped_lines(check: FileCheck) -> list[str]:
    if check.unmapped is None or not len(check.unmapped):
        return []
    lines = [f"  values no table maps (add each under the table named, in {check.where_to_add}):"]
    counts = check.unmapped.groupby(["field", "value"], sort=True, dropna=False).size()
    for (label, value), count in counts.items():
        name, table = check.tables.get(label, (label, "?"))
        column = f" (column {label})" if label != name else ""
        lines.append(f"    {name}{column}: \"{value}\" ×{count} — add to [tables.{table}]")
    return lines


def _other_reject_lines(check: FileCheck) -> list[str]:
    rejects = check.rejects
    if rejects is None or not len(rejects):
        return []
    if check.unmapped is not None and len(check.unmapped):
        known = set(zip(check.unmapped["line"], check.unmapped["field"]))
        rejects = rejects[[(line, label) not in known for line, label in zip(rejects["line"], rejects["field"])]]
    if not len(rejects):
        return []
    lines = ["  other rejects:"]
    for (label, message), group in rejects.groupby(["field", "message"], sort=True, dropna=False):
        examples = ", ".join(str(int(n)) for n in group["line"].dropna().head(EXAMPLE_LINES))
        shown = "" if pd.isna(label) else f"{label}: "
        lines.append(f"    {shown}{message} ×{len(group)} (lines {examples or 'unknown'})")
    return lines
