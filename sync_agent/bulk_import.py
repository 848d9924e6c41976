"""The LA's term-end bulk import: every school reconciled in parallel, then the LA-wide checks.

The phases, each with its own progress:

1. Read the LA portal export once and split it by LAESTAB.
2. Run each school not already checkpointed on the executor (local processes or a Dask cluster).
3. Take each school's checkpoint (handed back by its run, or read from disk for a school resumed
   from an earlier import) and run the LA-wide checks.
4. When asked, push per school, one after another.

The caller then writes ``la-overview.json``, ``.csv``, ``.html`` and ``.xlsx``. A school that fails
is listed with its reason and never stops the others.

Exit code: 2 when a school failed or an input was refused, else 1 when a school or an LA-wide
check needs action or a record failed to push, else 0.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sync_agent.calendar import SchoolCalendar
from sync_agent.errors import EXIT_ACTION_NEEDED, EXIT_CANNOT_RUN, EXIT_OK, SyncAgentError
from sync_agent.la_checkpoint import Checkpoint, checkpoint_dir, checkpoint_key, read_checkpoint
from sync_agent.la_checks import EXCLUSION_COLUMNS, run_la_checks
from sync_agent.la_config import LaConfig
from sync_agent.la_executor import school_executor
from sync_agent.la_marks import conflict_marks
from sync_agent.la_portal import LaPortal, read_la_portal
from sync_agent.la_progress import PhaseProgress
from sync_agent.la_result import La, LaOverview, SchoolPush
from sync_agent.la_schools import SchoolEntry, discover_schools
from sync_agent.la_school import SchoolRun, SchoolTask, run_school
from sync_agent.la_summary import failed_summary, school_summary
from sync_agent.mapping import load_mapping
from sync_agent.pipeline import reject_list, resolve_period
from sync_agent.reports import write_report_set
from sync_agent.reports.run_folder import REPORT_WRITERS
from sync_agent.result import Period

logger = logging.getLogger(__name__)


@dataclass
class BulkImportOptions:
    import_dir: Path
    out_dir: Path
    as_of: dt.date
    academic_year: str | None = None
    workers: int | None = None
    scheduler: str | None = None
    push: bool = False
    yes: bool = False
    now: dt.datetime | None = None
    progress_terminal: bool | None = None


@dataclass
class BulkImportOutcome:
    """The overview, the exit code, and which schools ran now or came from a checkpoint."""

    overview: LaOverview
    exit_code: int
    processed: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


def run_bulk_import(la: LaConfig, options: BulkImportOptions) -> BulkImportOutcome:
    """Run the whole bulk import and return its overview; the caller writes the overview reports."""
    now = options.now or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    _check_shared_settings(la, options)
    portal = read_la_portal(la)
    entries = discover_schools(options.import_dir, la, skip=_la_paths(la, options.out_dir))
    logger.info("bulk import of %d school folders started (as of %s)", len(entries), options.as_of)
    runnable = [entry for entry in entries if entry.failure is None]
    tasks = {entry.laestab: _task(entry, portal, options, now) for entry in runnable}

    earlier = _resumable(tasks)
    resumed = list(earlier)
    pending = [task for laestab, task in tasks.items() if laestab not in earlier]
    runs = _run_schools(pending, options)

    checkpoints = _checkpoints(tasks, runs, earlier)
    period = _period(la, options)
    findings = _la_findings(entries, checkpoints, tasks, portal, period)
    pushes = _push(checkpoints, runnable, options) if options.push else {}

    summaries = []
    for entry in entries:
        if entry.laestab in checkpoints:
            summaries.append(school_summary(entry, checkpoints[entry.laestab], findings, options.out_dir,
                                            resumed=entry.laestab in resumed, push=pushes.get(entry.laestab)))
        else:
            reason = runs[entry.laestab].reason if entry.laestab in runs else entry.failure
            summaries.append(failed_summary(entry, reason or "the school's run did not finish"))
    overview = _overview(la, options, now, period, portal, findings, summaries)
    exit_code = _exit_code(overview)
    logger.info("bulk import finished: %d schools, %d failed, %d LA-wide findings, exit code %d", len(summaries),
                sum(1 for s in summaries if s.status == "failed"), len(findings), exit_code)
    return BulkImportOutcome(overview, exit_code, processed=[t.laestab for t in pending], resumed=resumed)


def _check_shared_settings(la: LaConfig, options: BulkImportOptions) -> None:
    """Raise ConfigError for a setting of ``la.toml`` that every school shares and that is wrong.

    Found here, the mistake is one error before any school runs, not the same failure once per school.
    """
    for source in la.sources:
        load_mapping(source.mapping, la.base_dir)
    if la.calendar.path:
        SchoolCalendar.from_file(la.resolve(la.calendar.path))
    _period(la, options)


def _la_paths(la: LaConfig, out_dir: Path) -> list[Path]:
    paths = [out_dir, la.resolve(la.output.dir), la.resolve(la.output.log_dir), la.resolve(la.push.b2b_dir),
             la.resolve(la.state.path)]
    if la.portal is not None and la.portal.path:
        paths.append(la.resolve(la.portal.path))
    if la.calendar.path:
        paths.append(la.resolve(la.calendar.path))
    return paths


def _task(entry: SchoolEntry, portal: LaPortal | None, options: BulkImportOptions, now: dt.datetime) -> SchoolTask:
    own_portal = portal.slice_for(entry.laestab) if portal is not None else None
    portal_hash = portal.digest_for(entry.laestab) if portal is not None else ""
    key = checkpoint_key(entry.config.model_dump_json(), entry.files, portal_hash, as_of=options.as_of.isoformat(),
                         academic_year=options.academic_year)
    return SchoolTask(laestab=entry.laestab, config=entry.config, portal=own_portal, as_of=options.as_of,
                      academic_year=options.academic_year, now=now, report_dir=options.out_dir / entry.laestab,
                      checkpoint_dir=checkpoint_dir(options.out_dir, entry.laestab), key=key)


def _run_schools(pending: list[SchoolTask], options: BulkImportOptions) -> dict[str, SchoolRun]:
    runs: dict[str, SchoolRun] = {}
    if not pending:
        return runs
    with PhaseProgress("schools", len(pending), terminal=options.progress_terminal) as progress, \
            school_executor(options.workers, options.scheduler, schools=len(pending)) as executor:
        futures = {executor.submit(run_school, task): task.laestab for task in pending}
        for future in as_completed(futures):
            laestab = futures[future]
            try:
                run = future.result()
            # A school must never stop the others, whatever went wrong inside it. The error and its
            # traceback are logged, and the overview lists the school as failed.
            except Exception as exc:  # noqa: BLE001
                logger.exception("school %s failed with an unexpected error", laestab)
                run = SchoolRun(laestab, ok=False, exit_code=EXIT_CANNOT_RUN,
                                reason=f"unexpected error: {type(exc).__name__}: {exc}")
            runs[laestab] = run
            progress.advance(run.records)
    return runs


def _resumable(tasks: dict[str, SchoolTask]) -> dict[str, Checkpoint]:
    """Return the readable checkpoints of an earlier import with the same inputs, by LAESTAB.

    A school whose checkpoint is missing, stale or damaged is left out, so it runs again now. A
    school's reports deleted since are written again from its checkpoint.
    """
    earlier = {}
    for laestab, task in tasks.items():
        checkpoint = read_checkpoint(task.checkpoint_dir, task.key)
        if checkpoint is None:
            continue
        logger.info("school %s: finished in an earlier run with the same inputs, so its checkpoint is used", laestab)
        if not all((task.report_dir / name).is_file() for name in REPORT_WRITERS):
            logger.info("school %s: its reports are missing, so they are written again from the checkpoint", laestab)
            write_report_set(checkpoint.result, task.report_dir, latest_dir=None)
        earlier[laestab] = checkpoint
    return earlier


def _checkpoints(tasks: dict[str, SchoolTask], runs: dict[str, SchoolRun],
                 earlier: dict[str, Checkpoint]) -> dict[str, Checkpoint]:
    """Return every finished school's checkpoint: from an earlier import, or handed back by its run now."""
    checkpoints = {}
    for laestab in tasks:
        if laestab in earlier:
            checkpoints[laestab] = earlier[laestab]
        elif laestab in runs and runs[laestab].ok and runs[laestab].checkpoint is not None:
            checkpoints[laestab] = runs[laestab].checkpoint
    return checkpoints


def _period(la: LaConfig, options: BulkImportOptions) -> tuple[dt.date, dt.date]:
    # resolve_period reads only [period], which la.toml has just as agent.toml does.
    return resolve_period(la, options.academic_year, options.as_of)  # type: ignore[arg-type]


def _la_findings(entries, checkpoints, tasks, portal, period):
    with PhaseProgress("LA-wide checks", 1, unit="steps") as progress:
        frames = [c.exclusions for c in checkpoints.values() if len(c.exclusions)]
        exclusions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXCLUSION_COLUMNS)
        marks = conflict_marks([tasks[laestab].checkpoint_dir for laestab in checkpoints])
        portal_records = None
        if portal is not None and portal.records is not None:
            starts = portal.records["start_date"]
            portal_records = portal.records[(starts >= pd.Timestamp(period[0])) & (starts <= pd.Timestamp(period[1]))]
        known = {entry.laestab for entry in entries}
        findings = run_la_checks(exclusions, marks, portal_records, known)
        progress.advance(len(exclusions))
    return findings


def _push(checkpoints: dict[str, Checkpoint], entries: list[SchoolEntry], options: BulkImportOptions) -> dict[str, SchoolPush]:
    from sync_agent.la_push import plan_school, pushable, send_school
    from sync_agent.lock import RunLock

    chosen = [e for e in entries if e.laestab in checkpoints and pushable(checkpoints[e.laestab])]
    pushes: dict[str, SchoolPush] = {}
    if not chosen:
        return pushes
    state_path = chosen[0].config.resolve(chosen[0].config.state.path)
    with PhaseProgress("push", len(chosen), terminal=options.progress_terminal) as progress:
        if not options.yes:
            for entry in chosen:
                pushes[entry.laestab] = plan_school(entry.config, checkpoints[entry.laestab],
                                                    options.out_dir / entry.laestab)
                progress.advance(pushes[entry.laestab].planned)
            return pushes
        with RunLock(state_path):
            for entry in chosen:
                try:
                    pushes[entry.laestab] = send_school(entry.config, checkpoints[entry.laestab],
                                                        as_of=options.as_of, report_dir=options.out_dir / entry.laestab)
                except SyncAgentError as exc:
                    logger.error("school %s: push failed: %s", entry.laestab, exc)
                    pushes[entry.laestab] = SchoolPush(sent=True, failed=len(checkpoints[entry.laestab].pushable))
                progress.advance(pushes[entry.laestab].delivered)
    return pushes


def _overview(la, options, now, period, portal, findings, summaries) -> LaOverview:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    portal_summary = None
    portal_rejects = []
    if portal is not None:
        portal_summary = portal.summary
        portal_rejects = reject_list(portal.rejects)
    return LaOverview(generated_at=now, as_of=options.as_of, period=Period(**{"from": period[0], "to": period[1]}),
                      la=La(code=la.la.code, name=la.la.name), portal=portal_summary, portal_rejects=portal_rejects,
                      summary=counts, findings=findings, schools=summaries)


def _exit_code(overview: LaOverview) -> int:
    if any(school.status == "failed" or school.exit_code == EXIT_CANNOT_RUN for school in overview.schools):
        return EXIT_CANNOT_RUN
    if overview.portal is not None and overview.portal.status == "refused":
        return EXIT_CANNOT_RUN
    needs_action = any(school.exit_code == EXIT_ACTION_NEEDED for school in overview.schools)
    needs_action |= any(f.severity == "error" and f.status == "open" for f in overview.findings)
    needs_action |= any(s.push is not None and s.push.failed for s in overview.schools)
    needs_action |= overview.portal is not None and overview.portal.rejects > 0
    return EXIT_ACTION_NEEDED if needs_action else EXIT_OK
