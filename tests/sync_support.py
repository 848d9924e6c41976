"""Running the scheduled-run commands in tests: sync, history, accept, on small school folders."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from builders import AS_OF, permanent, record, write_config, write_portal_csv, write_sims_csv
from sync_agent.cli import main as cli_main
from sync_agent.housekeeping import run_folder_time

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
SAMPLE_AS_OF = "2025-07-23"


def run_command(*args: str) -> int:
    """Run ``sync-agent ARGS`` in this process and return its exit code."""
    try:
        return cli_main(list(args))
    finally:
        # The console handler is bound to this test's captured stderr; later tests must not use it.
        root = logging.getLogger("sync_agent")
        for handler in list(root.handlers):
            if getattr(handler, "_sync_agent_console", False):
                root.removeHandler(handler)


def run_sync(folder: Path, *extra: str, as_of: str = AS_OF, log_format: str = "text") -> int:
    """Run ``sync-agent sync`` on ``folder``/agent.toml."""
    return run_command("--log-format", log_format, "sync", "--config", str(folder / "agent.toml"),
                       "--as-of", as_of, *extra)


def small_school(folder: Path, mis: list[dict] | None = None, portal: list[dict] | None = None,
                 extra: str = "") -> Path:
    """Write a school with one missing_on_portal finding (exit 1) unless told otherwise."""
    write_sims_csv(folder / "exclusions.csv", [record(), permanent()] if mis is None else mis)
    write_portal_csv(folder / "portal.csv", [permanent()] if portal is None else portal)
    write_config(folder, extra=extra)
    return folder


def sample_school(folder: Path) -> Path:
    """Copy the realistic sample school (exports, portal export, calendar, agent.toml) into ``folder``."""
    # Reports, state and logs of an earlier run of the README's first command stay behind.
    shutil.copytree(SAMPLE_DATA, folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("reports", "state.db*", "logs", "outbox"))
    return folder


def run_folders(folder: Path) -> list[str]:
    """Return the names of the run folders under ``folder``/reports."""
    reports = folder / "reports"
    if not reports.is_dir():
        return []
    return sorted(p.name for p in reports.iterdir() if run_folder_time(p.name) is not None)


def latest_report(folder: Path) -> dict:
    return json.loads((folder / "reports" / "latest" / "reconciliation.json").read_text(encoding="utf-8"))
