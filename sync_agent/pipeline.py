"""One reconcile run from configuration to result: extract, map, validate, reconcile.

Each input is read on its own, so a refused or unreadable export never stops the others: it is
listed in the result's ``inputs`` as refused with the reason, the comparison that needed it is
skipped (a refused exclusions export never turns the portal's records into ``missing_in_mis``),
and the run exits 2.
"""

from __future__ import annotations

import datetime as dt
import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.codelists import ReasonCodes, reason_codes
from sync_agent.config import AgentConfig
from sync_agent.errors import EXIT_ACTION_NEEDED, EXIT_CANNOT_RUN, EXIT_OK, ConfigError, InputRefused
from sync_agent.extract import extract, sha256_of, wait_until_settled
from sync_agent.mapper import map_records
from sync_agent.mapping import Mapping, load_mapping
from sync_agent.reconcile import ReconcileInput, finalise, reconcile_findings
from sync_agent.register import check_register
from sync_agent.rejects import combine
from sync_agent.result import Finding, InputSummary, Period, Reject, Result
from sync_agent.validate import RECORD_COLUMNS, ValidatedRecords, validate_records

logger = logging.getLogger(__name__)


@dataclass
class LoadedInput:
    summary: InputSummary
    validated: ValidatedRecords | None = None


@dataclass
class RunOutcome:
    """A finished reconcile: the result model, the records behind it and the exit code."""

    result: Result
    mis: pd.DataFrame
    portal: pd.DataFrame | None
    exit_code: int
    mappings: list[Mapping] = field(default_factory=list)
    marks: pd.DataFrame | None = None  # the register marks inside the period, for LA-wide checks


def resolve_period(config: AgentConfig, academic_year: str | None, as_of: dt.date) -> tuple[dt.date, dt.date]:
    """Return the period's first and last day: ``--academic-year``, else ``[period]``, else as_of's year."""
    name = academic_year or config.period.academic_year
    if name:
        return SchoolCalendar.academic_year_bounds(name)
    if config.period.from_ and config.period.to:
        return config.period.from_, config.period.to
    return SchoolCalendar.academic_year_bounds(SchoolCalendar.academic_year_of(as_of))


def build_calendar(config: AgentConfig) -> SchoolCalendar:
    if config.calendar.path:
        return SchoolCalendar.from_file(config.resolve(config.calendar.path))
    return SchoolCalendar.england()


def expand_paths(config: AgentConfig, pattern: str) -> list[Path]:
    """Return the files a source path names, newest first; a glob with no match yields the literal path.

    Of two copies of one exclusion the first read is kept and the other reported as a duplicate,
    so the newest file comes first: a stale copy such as "exclusions (1).csv" never overrides the
    current export (a record withdrawn since, say).
    """
    full = config.resolve(pattern)
    if glob.has_magic(str(full)):
        matches = sorted((Path(p) for p in glob.glob(str(full))), key=lambda path: (-_modified(path), str(path)))
        return matches or [full]
    return [full]


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def load_input(
    path: Path, kind: str, mapping: Mapping, *, laestab: str, settle_seconds: float, reasons: ReasonCodes,
    calendar: SchoolCalendar | None = None,
) -> LoadedInput:
    """Extract, map and validate one export; a refused export comes back with status refused.

    ``calendar`` is needed for attendance exports, whose marks are checked against school days.
    """
    summary = InputSummary(path=str(path), kind=kind)
    try:
        wait_until_settled(path, settle_seconds)
        summary.sha256 = sha256_of(path) if path.is_file() else None
        validated, skipped = _read_and_validate(path, kind, mapping, laestab, reasons, calendar)
    except InputRefused as exc:
        logger.error("refused %s: %s", path, exc.reason)
        summary.status, summary.reason = "refused", exc.reason
        return LoadedInput(summary)
    except OSError as exc:
        # An export that cannot be opened is refused on its own, so the school's other exports
        # still run, as for any other refused input.
        reason = f"cannot be read ({exc.strerror or exc}); check that the file exists and its permissions"
        logger.error("refused %s: %s", path, reason)
        summary.status, summary.reason = "refused", reason
        return LoadedInput(summary)
    summary.records = len(validated.records)
    summary.rejects = int(validated.rejects["line"].nunique()) if len(validated.rejects) else 0
    summary.skipped_rows = skipped
    logger.info("%s: %d records accepted, %d rejected", path, summary.records, summary.rejects)
    return LoadedInput(summary, validated)


def _read_and_validate(path: Path, kind: str, mapping: Mapping, laestab: str, reasons: ReasonCodes,
                       calendar: SchoolCalendar | None) -> tuple[ValidatedRecords, dict[str, int]]:
    defaults = {"laestab": laestab} if kind != "portal" else None
    if kind == "attendance":
        from sync_agent.marks_reader import read_marks_with_counts

        read = read_marks_with_counts(path, mapping, calendar or SchoolCalendar.england(), defaults=defaults)
        # Sessions with no mark are not records to check, so they are counted with the skipped rows.
        skipped = dict(read.skipped) | ({"no_mark": read.no_mark} if read.no_mark else {})
        return ValidatedRecords(str(path), read.marks, read.rejects, read.read), skipped
    raw = extract(path, mapping)
    mapped = map_records(raw, mapping, defaults=defaults)
    if kind == "pupils":
        from sync_agent.pupils import validate_pupils

        pupils, rejects = validate_pupils(mapped, mapping)
        validated = ValidatedRecords(str(path), pupils, rejects, len(mapped.frame))
    else:
        validated = validate_records(mapped, mapping, reasons)
    if raw.rejects:
        extra = pd.DataFrame(raw.rejects, columns=["line", "field", "value", "message"]).assign(file=str(path))
        validated.rejects = combine([validated.rejects, extra])
        validated.read += len(raw.rejects)
    return validated, dict(raw.skipped)


def _in_period(records: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    starts = records["start_date"]
    return records[(starts >= pd.Timestamp(start)) & (starts <= pd.Timestamp(end))].reset_index(drop=True)


def _of_school(portal: pd.DataFrame, laestab: str) -> pd.DataFrame:
    """Keep the school's own portal records: an LA-wide export contains other schools' records too."""
    own = portal["laestab"] == laestab
    if not own.all():
        logger.info("left out %d portal records of other schools (LAESTAB not %s)", int((~own).sum()), laestab)
    return portal[own].reset_index(drop=True)


def check_portal_school(portal_input: LoadedInput | None, laestab: str) -> None:
    """Refuse a portal export that holds records but none of this school's.

    Read as "the portal has nothing", such an export (another school's, or [school] laestab
    mistyped) would make every MIS record look missing and the push would send them all.
    """
    if portal_input is None or portal_input.validated is None:
        return
    records = portal_input.validated.records
    if len(records) and not (records["laestab"] == laestab).any():
        found = ", ".join(sorted(records["laestab"].astype(str).unique())[:5])
        reason = (
            f"holds {len(records)} records but none for LAESTAB {laestab} (it holds {found}); "
            "check [school] laestab and that this is the right school's portal export"
        )
        logger.error("refused %s: %s", portal_input.summary.path, reason)
        portal_input.summary.status, portal_input.summary.reason = "refused", reason
        portal_input.validated = None


def reject_other_schools(inputs: list[LoadedInput], laestab: str) -> None:
    """Move MIS rows that carry another school's LAESTAB to the rejects of their input."""
    for item in inputs:
        if item.validated is None or item.validated.records.empty:
            continue
        records = item.validated.records
        other = (records["laestab"] != laestab).to_numpy()
        if not other.any():
            continue
        rows = records[other]
        rejected = pd.DataFrame({
            "file": rows["source_file"].to_numpy(), "line": rows["source_line"].to_numpy(), "field": "laestab",
            "value": rows["laestab"].to_numpy(),
            "message": f"LAESTAB is not this school's ({laestab}); export only this school's exclusions, "
                       "or check [school] laestab",
        })
        item.validated.records = records[~other].reset_index(drop=True)
        item.validated.rejects = combine([item.validated.rejects, rejected])
        item.summary.records -= int(other.sum())
        item.summary.rejects += int(other.sum())


def _empty_records() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})


def _concat(inputs: list[LoadedInput]) -> pd.DataFrame:
    frames = [i.validated.records for i in inputs if i.validated is not None]
    return pd.concat(frames, ignore_index=True) if frames else _empty_records()


def split_outside_calendar(records: pd.DataFrame, calendar: SchoolCalendar) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Set aside records that start on a date the calendar does not cover, as rejects.

    School-day counts need the calendar, so such a record cannot be compared. The reject names the
    date and the calendar, so the data manager can add the missing terms.
    """
    starts = records["start_date"]
    outside = ((starts < pd.Timestamp(calendar.first_day)) | (starts > pd.Timestamp(calendar.last_day))).to_numpy()
    if not outside.any():
        return records, combine([])
    rows = records[outside]
    message = (
        f"start date is outside the dates the calendar {calendar.source} covers "
        f"({calendar.first_day} to {calendar.last_day}); add the terms of that academic year"
    )
    rejected = pd.DataFrame(
        {
            "file": rows["source_file"].to_numpy(),
            "line": rows["source_line"].to_numpy(),
            "field": "start_date",
            "value": rows["start_date"].dt.strftime("%Y-%m-%d").to_numpy(),
            "message": message,
        }
    )
    return records[~outside].reset_index(drop=True), rejected


def load_sources(
    config: AgentConfig, kind: str, calendar: SchoolCalendar | None = None
) -> tuple[list[LoadedInput], list[Mapping]]:
    """Load every ``[[sources]]`` file of ``kind``; return the inputs and the mappings used."""
    loaded, mappings = [], []
    reasons = reason_codes(config.codes.newer_cbds_from)
    for source in config.sources:
        if source.kind != kind:
            continue
        mapping = load_mapping(source.mapping, config.base_dir)
        expected = "exclusions" if kind == "exclusions" else kind
        if mapping.kind != expected:
            raise ConfigError(
                f"{config.config_path}: source {source.path} is kind {kind!r} but mapping {mapping.name} reads "
                f"{mapping.kind!r} exports; choose a {kind} mapping"
            )
        mappings.append(mapping)
        first_with: dict[str, str] = {}
        for path in expand_paths(config, source.path):
            item = load_input(path, kind, mapping, laestab=config.school.laestab,
                              settle_seconds=source.settle_seconds, reasons=reasons, calendar=calendar)
            loaded.append(item)
            if item.summary.sha256 and item.summary.sha256 in first_with:
                # A copy such as "exclusions (1).csv" that the pattern also matches: every record in
                # it is reported as a duplicate, and this warning names the file they come from.
                logger.warning("%s has the same content as %s, and both match %s; remove the copy",
                               path, first_with[item.summary.sha256], source.path)
            elif item.summary.sha256:
                first_with[item.summary.sha256] = str(path)
    return loaded, mappings


def load_portal(config: AgentConfig, portal_reader=None) -> tuple[LoadedInput | None, Mapping | None]:
    """Read the portal's records from its export file, or through ``portal_reader`` in http mode."""
    if portal_reader is not None:
        return portal_reader(config), load_mapping("portal-json")
    if config.portal is None:
        return None, None
    if config.portal.mode == "http":
        if portal_reader is None:
            raise ConfigError('[portal] mode = "http" needs the portal client; run through the sync-agent command')
        return portal_reader(config), load_mapping("portal-json")
    mapping = load_mapping(config.portal.mapping, config.base_dir)
    if mapping.kind != "portal":
        raise ConfigError(f"[portal] mapping {mapping.name} reads {mapping.kind!r} exports, not portal exports")
    path = config.resolve(config.portal.path)
    reasons = reason_codes(config.codes.newer_cbds_from)
    loaded = load_input(path, "portal", mapping, laestab=config.school.laestab, settle_seconds=0, reasons=reasons)
    return loaded, mapping


def run_reconcile(
    config: AgentConfig,
    *,
    as_of: dt.date,
    academic_year: str | None = None,
    now: dt.datetime | None = None,
    portal_reader=None,
) -> RunOutcome:
    """Run extract, map, validate, reconcile and the register checks for one school."""
    period_from, period_to = resolve_period(config, academic_year, as_of)
    calendar = build_calendar(config)
    if calendar.terms and as_of > calendar.last_day:
        # Past the last term no school day is counted, so ages and deadlines stop growing.
        logger.warning("the as-of date %s is after the last term in %s (ending %s), so ages in school days "
                       "stop there; add the next academic year's terms", as_of, calendar.source, calendar.last_day)
    exclusions, mappings = load_sources(config, "exclusions")
    if not exclusions:
        raise ConfigError(f"{config.config_path}: no [[sources]] entry of kind \"exclusions\"; add the MIS export")
    portal_input, portal_mapping = load_portal(config, portal_reader)
    if portal_mapping is not None:
        mappings.append(portal_mapping)
    attendance, attendance_mappings = load_sources(config, "attendance", calendar)
    pupil_inputs, pupil_mappings = load_sources(config, "pupils", calendar)
    mappings += attendance_mappings + pupil_mappings

    reject_other_schools(exclusions, config.school.laestab)
    check_portal_school(portal_input, config.school.laestab)
    comparison_inputs = exclusions + ([portal_input] if portal_input else [])
    refused = [i for i in comparison_inputs if i.summary.status == "refused"]
    mis = _in_period(_concat(exclusions), period_from, period_to)
    portal = None
    if portal_input is not None and portal_input.validated is not None and not refused:
        portal = _of_school(_in_period(portal_input.validated.records, period_from, period_to), config.school.laestab)
    if refused:
        logger.warning("comparison with the portal skipped: %d input(s) refused", len(refused))
        if any(i.summary.kind == "exclusions" for i in refused):
            mis = mis.iloc[0:0]

    mis, outside_mis = split_outside_calendar(mis, calendar)
    rejects_outside = [outside_mis]
    if portal is not None:
        portal, outside_portal = split_outside_calendar(portal, calendar)
        rejects_outside.append(outside_portal)
    marks = _usable(attendance, "attendance")
    if marks is not None:
        dates = marks["date"]
        marks = marks[(dates >= pd.Timestamp(period_from)) & (dates <= pd.Timestamp(period_to))].reset_index(drop=True)
    pupils = _usable(pupil_inputs, "pupils")

    rejected_mis = [i.validated.rejected_keys for i in exclusions
                    if i.validated is not None and i.validated.rejected_keys is not None]
    rejected_portal = portal_input.validated.rejected_keys if portal is not None else None
    raw_findings = [reconcile_findings(ReconcileInput(
        mis=mis, portal=portal, as_of=as_of, calendar=calendar,
        rejected_mis=pd.concat(rejected_mis, ignore_index=True) if rejected_mis else None,
        rejected_portal=rejected_portal,
    ))]
    if not any(i.summary.kind == "exclusions" for i in refused):
        raw_findings.append(check_register(mis, marks, pupils, calendar, as_of))
    parts = [f for f in raw_findings if len(f)]
    findings = finalise(pd.concat(parts, ignore_index=True) if parts else raw_findings[0])

    inputs = comparison_inputs + attendance + pupil_inputs
    rejects = combine([i.validated.rejects for i in inputs if i.validated is not None] + rejects_outside)
    _count_outside_rejects(rejects_outside, inputs)
    result = build_result(config, findings, rejects, [i.summary for i in inputs], as_of, (period_from, period_to), now)
    return RunOutcome(result, mis, portal, exit_code_for(result), mappings, marks)


def _usable(inputs: list[LoadedInput], kind: str) -> pd.DataFrame | None:
    """Return the records of every input of a kind, or None when there is none or one was refused.

    A refused register or pupil list skips the checks that need it rather than reporting every
    exclusion as unmarked.
    """
    if not inputs:
        return None
    if any(i.validated is None for i in inputs):
        logger.warning("%s checks skipped: an input was refused", kind)
        return None
    return pd.concat([i.validated.records for i in inputs], ignore_index=True)


def _count_outside_rejects(rejects_outside: list[pd.DataFrame], inputs: list[LoadedInput]) -> None:
    for frame in rejects_outside:
        for file, count in frame["file"].value_counts().items():
            for item in inputs:
                if item.summary.path == file:
                    item.summary.records -= int(count)
                    item.summary.rejects += int(count)


def build_result(config, findings: pd.DataFrame, rejects: pd.DataFrame, inputs, as_of, period, now) -> Result:
    records = findings.astype(object).where(findings.notna(), None).to_dict("records") if len(findings) else []
    models = []
    for row in records:
        start = row.get("start_date")
        row["start_date"] = pd.Timestamp(start).date() if start is not None else None
        due = row.get("due_date")
        row["due_date"] = pd.Timestamp(due).date() if due is not None else None
        row["sessions"] = list(row.get("sessions") or [])
        row["age_school_days"] = int(row["age_school_days"]) if row.get("age_school_days") is not None else None
        row["extra"] = row.get("extra") or {}
        models.append(Finding(**row))
    summary: dict[str, int] = {}
    for model in models:
        summary[model.kind] = summary.get(model.kind, 0) + 1
    reject_models = reject_list(rejects)
    return Result(
        generated_at=now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
        as_of=as_of,
        period=Period(**{"from": period[0], "to": period[1]}),
        school={"laestab": config.school.laestab, "name": config.school.name},
        inputs=list(inputs),
        summary=summary,
        findings=models,
        rejects=reject_models,
    )


def reject_list(rejects: pd.DataFrame) -> list[Reject]:
    """Return the rows of a rejects frame (``sync_agent.rejects``) as Reject models."""
    return [
        Reject(file=r["file"], line=None if pd.isna(r["line"]) else int(r["line"]),
               field=r["field"], value=None if r["value"] is None else str(r["value"]), message=r["message"])
        for r in rejects.to_dict("records")
    ]


def exit_code_for(result: Result) -> int:
    """2 if an input was refused; 1 if an open error finding or a rejected row needs action; else 0."""
    if any(i.status == "refused" for i in result.inputs):
        return EXIT_CANNOT_RUN
    if result.rejects or any(f.severity == "error" and f.status == "open" for f in result.findings):
        return EXIT_ACTION_NEEDED
    return EXIT_OK

