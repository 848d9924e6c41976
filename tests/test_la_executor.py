"""The bulk import's executor: worker lifetimes, SIGTERM, ``--scheduler`` addresses, worker counts.

The process tests run the command in a child process tagged with an environment variable, which
its forkserver, workers and resource tracker inherit, and find those processes through /proc.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_agent import la_executor
from sync_agent.cli import main
from sync_agent.errors import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, ConfigError
from sync_agent.la_checkpoint import DONE_FILE, checkpoint_dir
from sync_agent.la_executor import check_scheduler_address, local_worker_count, school_executor
from sync_agent.la_school import SchoolRun, SchoolTask, run_school

SAMPLE_LA = Path(__file__).resolve().parents[1] / "sample_data" / "la"
TESTS_DIR = Path(__file__).resolve().parent
AS_OF = "2025-07-23"
FIRST_SCHOOL = "9402001"
TAG_VARIABLE = "SYNC_AGENT_TEST_PROCESS_TAG"

# Upper bounds that only a hang reaches, so that a failing test ends instead of waiting for ever.
START_TIMEOUT = 120.0
EXIT_TIMEOUT = 60.0
RERUN_TIMEOUT = 300.0
# How long run_first_school_only delays a school. The test stops its worker long before this.
HOLD_SECONDS = 600

# Runs ``sync-agent`` with every school but the first held back, so a test can stop the import
# while one school is finished and the others are running. The workers find this test module by
# name because the forkserver copies the parent's sys.path.
HELD_IMPORT = f"""
import sys
sys.path.insert(0, {str(TESTS_DIR)!r})
import sync_agent.bulk_import
import test_la_executor
sync_agent.bulk_import.run_school = test_la_executor.run_first_school_only
from sync_agent.cli import main
sys.exit(main(sys.argv[1:]))
"""

needs_proc = pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                                reason="finds the command's processes through /proc (Linux)")


def run_first_school_only(task: SchoolTask) -> SchoolRun:
    """Run the first school, and hold every other one until its worker is stopped (runs in a worker)."""
    if task.laestab != FIRST_SCHOOL:
        time.sleep(HOLD_SECONDS)
    return run_school(task)


def tagged_processes(tag: str) -> list[int]:
    """Return the pids of the live (not zombie) processes whose environment carries ``tag``."""
    tag_entry = f"{TAG_VARIABLE}={tag}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if tag_entry in environ and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for_no_processes(tag: str, timeout: float = EXIT_TIMEOUT) -> list[int]:
    """Poll until no process carries ``tag`` or ``timeout`` seconds pass, and return those left."""
    deadline = time.monotonic() + timeout
    left = tagged_processes(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = tagged_processes(tag)
    return left


@pytest.fixture
def process_tag() -> Iterator[str]:
    """A tag for the test's child processes. Any still alive at teardown are killed."""
    tag = uuid.uuid4().hex
    yield tag
    for pid in tagged_processes(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def la_dir(tmp_path: Path) -> Path:
    """A copy of the sample LA without its deliberately broken school."""
    target = tmp_path / "la"
    shutil.copytree(SAMPLE_LA, target, ignore=shutil.ignore_patterns("reports", "logs", "outbox", "state.db*",
                                                                      "__pycache__", "9402006"))
    return target


def command_env(tag: str) -> dict[str, str]:
    return {**os.environ, TAG_VARIABLE: tag}


def import_args(la: Path, out: Path) -> list[str]:
    return ["-q", "bulk-import", str(la), "--as-of", AS_OF, "--out", str(out), "--workers", "2"]


def start_held_import(la: Path, out: Path, tag: str, log: Path) -> subprocess.Popen:
    """Start the held import and return once the first school's checkpoint is complete."""
    with log.open("wb") as stream:
        process = subprocess.Popen([sys.executable, "-c", HELD_IMPORT, *import_args(la, out)],
                                   env=command_env(tag), stdout=stream, stderr=subprocess.STDOUT)
    done = checkpoint_dir(out, FIRST_SCHOOL) / DONE_FILE
    deadline = time.monotonic() + START_TIMEOUT
    while not done.exists():
        if process.poll() is not None:
            pytest.fail(f"the import ended early with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait(EXIT_TIMEOUT)
            pytest.fail(f"no checkpoint for {FIRST_SCHOOL} within {START_TIMEOUT} s:\n{log.read_text()}")
        time.sleep(0.1)
    return process


def wait_for_exit(process: subprocess.Popen) -> int:
    try:
        return process.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(EXIT_TIMEOUT)
        pytest.fail(f"the import did not exit within {EXIT_TIMEOUT} s of the signal")


@needs_proc
def test_sigkill_leaves_no_worker_processes(la_dir, tmp_path, process_tag):
    process = start_held_import(la_dir, tmp_path / "out", process_tag, tmp_path / "import.log")
    assert len(tagged_processes(process_tag)) >= 4, "expected the command, forkserver, tracker and workers"

    process.send_signal(signal.SIGKILL)

    assert wait_for_exit(process) == -signal.SIGKILL
    assert wait_for_no_processes(process_tag) == []


@needs_proc
def test_sigterm_interrupts_then_rerun_resumes(la_dir, tmp_path, process_tag):
    out = tmp_path / "out"
    log = tmp_path / "import.log"
    process = start_held_import(la_dir, out, process_tag, log)

    process.send_signal(signal.SIGTERM)

    assert wait_for_exit(process) == EXIT_INTERRUPTED
    assert "sync-agent: interrupted" in log.read_text()
    assert "Traceback" not in log.read_text()
    assert wait_for_no_processes(process_tag) == []
    held_schools = ["9402002", "9402003", "9402004", "9402005"]
    for laestab in held_schools:
        assert not (checkpoint_dir(out, laestab) / DONE_FILE).exists(), laestab

    rerun = subprocess.run([sys.executable, "-m", "sync_agent", *import_args(la_dir, out)],
                           env=command_env(process_tag), capture_output=True, text=True, timeout=RERUN_TIMEOUT)

    assert rerun.returncode in (0, 1), rerun.stderr
    schools = {school["laestab"]: school for school in
               json.loads((out / "la-overview.json").read_text(encoding="utf-8"))["schools"]}
    assert schools[FIRST_SCHOOL]["resumed"] is True
    for laestab in held_schools:
        assert schools[laestab]["status"] == "ok", laestab
        assert schools[laestab]["resumed"] is False, laestab
    assert wait_for_no_processes(process_tag) == []


# Stops a pool whose workers are busy and prints what became of the futures.
INTERRUPTED_POOL = f"""
import json, time
from sync_agent.la_executor import school_executor
futures = []
try:
    with school_executor(2, None) as executor:
        futures = [executor.submit(time.sleep, {HOLD_SECONDS}) for _ in range(5)]
        while sum(future.running() for future in futures) < 2:
            time.sleep(0.05)
        raise KeyboardInterrupt
except KeyboardInterrupt:
    print(json.dumps([future.done() for future in futures]))
"""


@needs_proc
def test_interrupt_stops_busy_workers(process_tag):
    finished = subprocess.run([sys.executable, "-c", INTERRUPTED_POOL], env=command_env(process_tag),
                              capture_output=True, text=True, timeout=START_TIMEOUT)

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == [True] * 5
    assert wait_for_no_processes(process_tag) == []


@pytest.mark.parametrize("address", ["notanaddress", "tcp://127.0.0.1:notaport", "http://127.0.0.1:8786",
                                     "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000", "tcp://:8786",
                                     "tcp://127.0.0.1:8786/path", "tcp://[::1"])
def test_malformed_scheduler_is_config_error(address, tmp_path, capsys):
    code = main(["-q", "bulk-import", str(tmp_path), "--as-of", AS_OF, "--scheduler", address])

    stderr = capsys.readouterr().err
    assert code == EXIT_CANNOT_RUN
    assert repr(address) in stderr
    assert "tcp://host:port" in stderr
    assert "internal error" not in stderr


@pytest.mark.parametrize(("address", "normalised"), [("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
                                                     ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
                                                     (" scheduler.example:8786 ", "tcp://scheduler.example:8786"),
                                                     ("tcp://[::1]:8786", "tcp://[::1]:8786")])
def test_scheduler_address_accepted(address, normalised):
    assert check_scheduler_address(address) == normalised


def test_unreachable_scheduler_names_timeout(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(la_executor, "SCHEDULER_CONNECT_TIMEOUT_SECONDS", 2)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"

    with pytest.raises(ConfigError) as raised:
        with school_executor(None, address):
            pass

    assert address in str(raised.value)
    assert "within 2 seconds" in str(raised.value)


@pytest.mark.parametrize(("requested", "schools", "expected"), [(None, 5, 2), (None, 1, 1), (1, 5, 1), (2, 5, 2),
                                                                (64, 3, 3), (64, 2, 2), (64, None, 64)])
def test_worker_count_capped_at_schools(monkeypatch, requested, schools, expected):
    monkeypatch.setattr(la_executor, "default_workers", lambda: 2)

    assert local_worker_count(requested, schools) == expected


def test_workers_beyond_cpus_warn(monkeypatch, caplog):
    monkeypatch.setattr(la_executor, "default_workers", lambda: 2)

    with caplog.at_level(logging.WARNING, logger=la_executor.__name__):
        local_worker_count(64, 10)

    assert "--workers 64" in caplog.text
    assert "only add switching" in caplog.text


def test_workers_capped_to_schools_warn(monkeypatch, caplog):
    monkeypatch.setattr(la_executor, "default_workers", lambda: 2)

    with caplog.at_level(logging.WARNING, logger=la_executor.__name__):
        local_worker_count(64, 2)

    assert "--workers 64" in caplog.text
    assert "starting 2 worker" in caplog.text


def test_workers_within_cpus_quiet(monkeypatch, caplog):
    monkeypatch.setattr(la_executor, "default_workers", lambda: 2)

    with caplog.at_level(logging.WARNING, logger=la_executor.__name__):
        local_worker_count(2, 10)

    assert caplog.records == []


@pytest.mark.parametrize("schools", [3, None])
def test_pool_starts_one_process_per_school(schools):
    # Without ``schools`` the pool still starts processes only as work arrives: CPython 3.11's
    # ProcessPoolExecutor spawns one on submit when no worker is idle, unless it uses fork.
    with school_executor(8, None, schools=schools) as executor:
        pids = {future.result(timeout=START_TIMEOUT) for future in [executor.submit(os.getpid) for _ in range(3)]}
        started = len(multiprocessing.active_children())

    assert len(pids) <= 3
    assert started <= 3
