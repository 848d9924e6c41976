"""Operator logs: JSON lines that parse, a rotating log file, and no UPNs at INFO and above."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from sync_agent.cli import sync as sync_module
from sync_agent.logsetup import PupilDataFilter, redact_pupil_data
from sync_support import run_command, run_sync, small_school

UPN = "D801999924001"
TEMPORARY_UPN = "V94040011200A"


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def log_upn_during_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the run log a UPN at INFO and at DEBUG, as careless code might."""
    real = sync_module.run_reconcile

    def logging_reconcile(*args, **kwargs):
        logger = logging.getLogger("sync_agent.test")
        logger.info("reading pupil %s", UPN)
        logger.debug("debug detail for pupil %s", UPN)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync_module, "run_reconcile", logging_reconcile)


def test_json_logs_parse_without_upn(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    small_school(tmp_path)
    log_upn_during_run(monkeypatch)

    assert run_sync(tmp_path, log_format="json") == 1

    err = capsys.readouterr().err
    entries = json_lines(err)
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["message"].startswith("sync started") for e in entries)
    assert any(e["message"] == "reading pupil [UPN]" for e in entries)
    assert UPN not in err


def test_log_file_is_json_without_upn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small_school(tmp_path)
    log_upn_during_run(monkeypatch)

    run_sync(tmp_path, log_format="json")

    text = (tmp_path / "logs" / "sync-agent.log").read_text(encoding="utf-8")
    entries = json_lines(text)
    messages = [e["message"] for e in entries]
    assert any(m.startswith("run ") and m.endswith("finished: exit code 1") for m in messages)
    assert UPN not in text


def test_debug_lines_keep_detail(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    small_school(tmp_path)
    log_upn_during_run(monkeypatch)

    run_command("-v", "sync", "--config", str(tmp_path / "agent.toml"), "--as-of", "2024-06-01", "--force")

    err = capsys.readouterr().err
    assert f"debug detail for pupil {UPN}" in err
    assert f"reading pupil {UPN}" not in err


def test_log_pupil_data_lets_upn_through(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    small_school(tmp_path)
    log_upn_during_run(monkeypatch)

    run_sync(tmp_path, "--log-pupil-data")

    assert f"reading pupil {UPN}" in capsys.readouterr().err
    assert f"reading pupil {UPN}" in (tmp_path / "logs" / "sync-agent.log").read_text(encoding="utf-8")


def test_redaction_leaves_ids_alone() -> None:
    text = (f"{UPN} {TEMPORARY_UPN} {UPN.lower()} f-3a9c51d07e2b4f16 run 20250314T070002Z "
            "sha 3a9c51d07e2b4f16a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778")

    redacted = redact_pupil_data(text)

    assert redacted.split()[:3] == ["[UPN]", "[UPN]", "[UPN]"]
    assert "f-3a9c51d07e2b4f16" in redacted
    assert "20250314T070002Z" in redacted
    assert "3a9c51d07e2b4f16a0b1c2d3e4f5061728394a5b6c7d8e9f00112233445566778" in redacted


def test_filter_redacts_exception_text() -> None:
    try:
        raise ValueError(f"bad record {UPN}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("sync_agent.test", logging.ERROR, __file__, 1, "failed for %s", (UPN,), exc_info)

    PupilDataFilter().filter(record)

    assert record.getMessage() == "failed for [UPN]"
    assert UPN not in (record.exc_text or "")


def test_log_file_rotates_at_5_mb(tmp_path: Path) -> None:
    from sync_agent.cli.common import make_formatter
    from sync_agent.logsetup import LOG_FILE_BACKUPS, LOG_FILE_MAX_BYTES, log_file

    logger = logging.getLogger("sync_agent.test")
    logger.setLevel(logging.INFO)
    line = "x" * 1000
    with log_file(tmp_path, make_formatter("text")) as path:
        for _ in range(LOG_FILE_MAX_BYTES // 1000 + 10):
            logger.info(line)

    assert path.is_file()
    assert (tmp_path / "sync-agent.log.1").is_file()
    assert LOG_FILE_BACKUPS == 5
    assert path.stat().st_mode & 0o077 == 0
