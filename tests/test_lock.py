"""The run lock between processes: one holder, a clear message for the other, takeover after a crash."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sync_agent.errors import EXIT_LOCKED, LockHeld
from sync_agent.lock import RunLock, info_path_for, lock_path_for

WAIT_SECONDS = 20

# The child takes the lock, prints its details as one JSON line, then holds the lock until its
# standard input closes.
CHILD = """
import json, sys
from pathlib import Path
from sync_agent.lock import RunLock
with RunLock(Path(sys.argv[1])) as lock:
    print(json.dumps({"pid": lock.holder.pid, "started_at": lock.holder.started_at}), flush=True)
    sys.stdin.read()
"""


def _start_holder(state_path: Path) -> tuple[subprocess.Popen[str], dict[str, object]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(child.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=WAIT_SECONDS)
    except queue.Empty:
        child.kill()
        child.wait(timeout=WAIT_SECONDS)
        pytest.fail(f"the child process did not take the lock within {WAIT_SECONDS} s")
    if not line:
        child.wait(timeout=WAIT_SECONDS)
        pytest.fail(f"the child process ended without taking the lock: {child.stderr.read()}")
    return child, json.loads(line)


def _stop(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=WAIT_SECONDS)
    for stream in (child.stdin, child.stdout, child.stderr):
        stream.close()


def test_second_process_gets_lock_held(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    child, details = _start_holder(state_path)
    try:
        with pytest.raises(LockHeld) as caught, RunLock(state_path):
            pass
    finally:
        child.stdin.close()
        child.wait(timeout=WAIT_SECONDS)
        _stop(child)

    message = str(caught.value)
    assert caught.value.exit_code == EXIT_LOCKED
    assert f"process {details['pid']}" in message
    assert str(details["started_at"]) in message
    assert "Wait for that run to finish" in message
    assert child.returncode == 0


def test_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    child, _ = _start_holder(state_path)
    child.stdin.close()
    child.wait(timeout=WAIT_SECONDS)
    _stop(child)

    with RunLock(state_path) as lock:
        assert lock.holder is not None
        assert lock.holder.pid == os.getpid()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL does not exist on Windows")
def test_killed_holder_lock_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state_path = tmp_path / "state.db"
    child, details = _start_holder(state_path)
    os.kill(child.pid, signal.SIGKILL)
    _stop(child)
    assert info_path_for(state_path).exists()

    with caplog.at_level(logging.WARNING, logger="sync_agent.lock"), RunLock(state_path) as lock:
        assert lock.holder is not None
        assert lock.holder.pid == os.getpid()

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"taking over the lock left by process {details['pid']} started at {details['started_at']}" in warnings[0]


def test_lock_details_written_while_held(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    with RunLock(state_path) as lock:
        details = json.loads(info_path_for(state_path).read_text(encoding="utf-8"))
        assert details["pid"] == os.getpid()
        assert details["host"] == lock.holder.host
        assert details["started_at"].endswith("+00:00")


def test_release_keeps_lock_file(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    with RunLock(state_path):
        pass
    assert lock_path_for(state_path).exists()
    assert not info_path_for(state_path).exists()


def test_lock_not_reentrant_in_process(tmp_path: Path) -> None:
    state_path = tmp_path / "state.db"
    with RunLock(state_path), pytest.raises(LockHeld) as caught, RunLock(state_path):
        pass
    assert f"process {os.getpid()}" in str(caught.value)


def test_clean_release_logs_no_takeover(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state_path = tmp_path / "state.db"
    with RunLock(state_path):
        pass
    with caplog.at_level(logging.WARNING, logger="sync_agent.lock"), RunLock(state_path):
        pass
    assert caplog.records == []


def test_unreadable_details_still_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state_path = tmp_path / "state.db"
    info_path_for(state_path).write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="sync_agent.lock"), RunLock(state_path) as lock:
        assert lock.holder is not None
    assert "unreadable" in caplog.records[0].getMessage()


def test_missing_state_folder_created(tmp_path: Path) -> None:
    state_path = tmp_path / "state" / "nested" / "state.db"
    with RunLock(state_path):
        assert lock_path_for(state_path).exists()
