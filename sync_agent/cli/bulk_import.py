"""``sync-agent bulk-import DIR``: an LA's term-end run over every school folder in DIR."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from sync_agent.cli.common import ACADEMIC_YEAR_OPTION, AS_OF_OPTION, command_logging, parse_as_of
from sync_agent.errors import ConfigError
from sync_agent.la_config import find_la_config, load_la_config
from sync_agent.la_executor import check_scheduler_address
from sync_agent.la_result import LaOverview

logger = logging.getLogger(__name__)


@click.command("bulk-import")
@click.argument("import_dir", metavar="DIR", type=click.Path(path_type=Path, file_okay=False))
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="LA configuration file (default: DIR/la.toml).")
@click.option("--workers", type=click.IntRange(min=1), help="Local worker processes, at most one per school (default: the number of CPUs).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the schools on the Dask cluster whose scheduler listens at ADDRESS (tcp://host:port).")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False),
              help="Write the overview and each school's reports here (default: [output] dir/la-<as-of date>).")
@AS_OF_OPTION
@ACADEMIC_YEAR_OPTION
@click.option("--push", "push", is_flag=True, help="Write each school's push plan; with --yes, send it.")
@click.option("--yes", is_flag=True, help="With --push, send each school's missing records.")
def bulk_import(import_dir: Path, config_path: Path | None, workers: int | None, scheduler: str | None,
                out: Path | None, as_of: str | None, academic_year: str | None, push: bool, yes: bool) -> int:
    """Reconcile every school folder in DIR against the LA portal export, then run the LA-wide checks.

    Each folder in DIR is a school named by its LAESTAB, or holding its own agent.toml. A rerun
    with the same inputs and settings into the same folder skips the schools already finished.
    Exit codes: 0 nothing needs action, 1 something needs action, 2 a school or input failed,
    130 interrupted (Ctrl+C or SIGTERM).
    """
    from sync_agent.bulk_import import BulkImportOptions, run_bulk_import
    from sync_agent.reports.la_overview import write_la_overview

    if yes and not push:
        raise ConfigError("--yes sends pushes and needs --push; add --push, or leave out --yes")
    if workers and scheduler:
        raise ConfigError("--workers sets local processes and --scheduler a Dask cluster; give only one of them")
    if scheduler is not None:
        scheduler = check_scheduler_address(scheduler)
    la = load_la_config(find_la_config(import_dir, config_path))
    day = parse_as_of(as_of)
    out_dir = out if out is not None else la.resolve(la.output.dir) / f"la-{day.isoformat()}"
    options = BulkImportOptions(import_dir=import_dir, out_dir=out_dir, as_of=day, academic_year=academic_year,
                                workers=workers, scheduler=scheduler, push=push, yes=yes)
    with command_logging(la), _sigterm_as_interrupt():  # type: ignore[arg-type]
        logger.info("bulk-import started (configuration %s, as of %s)", la.config_path, day)
        outcome = run_bulk_import(la, options)
        try:
            write_la_overview(outcome.overview, out_dir)
        except OSError as exc:
            raise ConfigError(f"could not write the LA overview to {out_dir}: {exc.strerror or exc}; "
                              "choose a folder you can write to with --out") from exc
    for line in overview_lines(outcome.overview, out_dir):
        click.echo(line)
    return outcome.exit_code


def overview_lines(overview: LaOverview, out_dir: Path) -> list[str]:
    """Return the short summary printed after a bulk import (counts only, no pupil data)."""
    failed = [school for school in overview.schools if school.status == "failed"]
    lines = [f"LA overview written to {out_dir / 'la-overview.html'}",
             f"Schools: {len(overview.schools)}, failed: {len(failed)}"]
    lines += [f"  {school.laestab}: {school.reason}" for school in failed]
    missing = sum(school.missing_on_portal for school in overview.schools)
    lines.append(f"Exclusions missing on the portal: {missing}")
    if overview.summary:
        lines.append("LA-wide findings:")
        lines += [f"  {kind}: {count}" for kind, count in overview.summary.items()]
    else:
        lines.append("No LA-wide findings.")
    return lines


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM like Ctrl+C while the import runs: stop the workers, then exit with code 130.

    cron, systemd and other schedulers stop a job with SIGTERM, whose default action would kill
    this process at once and leave its worker processes running. A second SIGTERM during the
    shutdown is ignored, so it cannot cut the workers' shutdown short.
    """
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        # Python runs signal handlers only in the main thread, and may set them only there.
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt as exc:
        received = exc.args[0] if exc.args else "SIGINT"
        logger.warning("bulk-import interrupted by %s; a rerun resumes the schools that finished", received)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
