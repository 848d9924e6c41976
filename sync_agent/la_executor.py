"""The executor a bulk import runs its schools on: local worker processes, or a Dask cluster.

Both are ``concurrent.futures`` executors, so the import submits and collects schools the same way
on either. Local workers are forked from a ``forkserver`` process that imported the pipeline once,
where the platform has one (elsewhere they are spawned): a child forked straight from the parent,
which has started pyarrow's or the progress bar's threads, can deadlock. Such a worker starts with
no logging set up, so each sends its log records over a queue to the parent, whose handlers (with
their pupil-data filter) write them to the console and the log file.

Local workers do not outlive the parent. Each worker has the read end of a pipe whose only write
end is in the parent, and a watchdog thread ends the worker when that pipe reaches end of file. That
happens when the parent exits, is killed, or closes the pipe to stop the workers on an interrupt.
The forkserver then exits too, because multiprocessing ends it once no process keeps its "alive"
pipe open, and only the parent and the workers have copies. The resource tracker exits after both.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from sync_agent.errors import ConfigError
from sync_agent.logsetup import PROJECT_LOGGER, project_handlers

logger = logging.getLogger(__name__)

# How long to wait for the Dask scheduler to accept the connection (distributed's default connect timeout).
SCHEDULER_CONNECT_TIMEOUT_SECONDS = 30

# Exit status of a worker whose parent has gone. Nothing reads it once the parent is dead.
_ORPHANED_WORKER_EXIT = 1

# How long the parent waits for the log listener to emit the workers' last records.
_LOG_LISTENER_STOP_SECONDS = 5.0


def default_workers() -> int:
    """Return the number of CPUs this process may use (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def local_worker_count(requested: int | None, schools: int | None = None) -> int:
    """Return the maximum number of local worker processes for ``schools`` schools.

    ``requested`` is ``--workers`` (None: one per CPU). The count is capped at the number of
    schools, because a worker with no school to run only costs memory. With ``schools`` unknown
    the pool still starts no more processes than schools submitted (see ``school_executor``). A
    request above the CPU count is honoured but logged as a warning.
    """
    cpus = default_workers()
    count = requested or cpus
    if schools is not None:
        count = max(1, min(count, schools))
    if requested is None or requested <= cpus:
        if schools is not None and requested is not None and count < requested:
            logger.info("--workers %d capped to %d, the number of schools to run", requested, count)
        return count
    if count <= cpus:
        logger.warning("--workers %d is more than the %d CPU(s) this process may use; starting %d worker "
                       "process(es), one per school to run", requested, cpus, count)
    else:
        logger.warning("--workers %d is more than the %d CPU(s) this process may use; worker processes beyond %d "
                       "only add switching between processes and memory, so use --workers %d or fewer",
                       requested, cpus, cpus, cpus)
    return count


def check_scheduler_address(address: str) -> str:
    """Return ``address`` as ``tcp://host:port``, or raise ConfigError naming it and the expected form.

    A bare ``host:port`` is taken as TCP, as Dask does.
    """
    text = address.strip()
    url = text if "://" in text else f"tcp://{text}"
    expected = "give the scheduler's address as tcp://host:port, for example tcp://127.0.0.1:8786"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise ConfigError(f"--scheduler {address!r} is not a valid address; {expected}") from None
    if parts.scheme != "tcp":
        raise ConfigError(f"--scheduler {address!r} uses the scheme {parts.scheme!r}, but sync-agent connects "
                          f"to a Dask scheduler only over tcp; {expected}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if not parts.hostname or port is None:
        raise ConfigError(f"--scheduler {address!r} is not a valid address: it needs a host and a port; {expected}")
    if port == 0:
        raise ConfigError(f"--scheduler {address!r} is not a valid address: its port must be a whole number from "
                          f"1 to 65535; {expected}")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"--scheduler {address!r} is not a valid address: only a host and a port may follow "
                          f"tcp://; {expected}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"tcp://{host}:{port}"


@contextlib.contextmanager
def school_executor(workers: int | None, scheduler: str | None, schools: int | None = None) -> Iterator[Executor]:
    """Yield a process pool of up to ``workers`` processes, or an executor on the Dask scheduler at ``scheduler``.

    ``schools``, when given, caps the local processes at the number of schools to run. When the
    body raises (KeyboardInterrupt included), schools not yet started are cancelled and the local
    workers are stopped before the exception propagates, so nothing is left running.

    Raises ConfigError when ``scheduler`` is malformed, ``distributed`` is not installed or the
    scheduler cannot be reached.
    """
    if scheduler is None:
        count = local_worker_count(workers, schools)
        # CPython 3.11's ProcessPoolExecutor starts a process on submit only when no worker is idle
        # (not under fork), so even with ``schools`` unknown no more start than schools submitted.
        logger.info("running schools on up to %d local worker process(es)", count)
        with _local_pool(count) as pool:
            yield pool
        return
    # NOTE: Dask workers log to their own process's handlers (the worker's console or log), not
    # to this command's log file.
    with _dask_client(check_scheduler_address(scheduler)) as client:
        logger.info("running schools on the Dask cluster at %s", scheduler)
        executor = client.get_executor()
        try:
            yield executor
        except BaseException:
            logger.warning("cancelling the schools still queued or running on the Dask cluster")
            # wait=False cancels the futures instead of waiting for them to finish.
            executor.shutdown(wait=False)
            raise
        executor.shutdown(wait=True)


@contextlib.contextmanager
def _local_pool(count: int) -> Iterator[ProcessPoolExecutor]:
    context = _worker_context()
    # Workers get only the read end, so the pipe reaches end of file for them as soon as the
    # parent's write end closes, however the parent ends.
    parent_alive_r, parent_alive_w = multiprocessing.connection.Pipe(duplex=False)
    try:
        with _forwarded_logs(context) as (log_queue, level):
            pool = ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_start_worker,
                                       initargs=(log_queue, level, parent_alive_r))
            try:
                yield pool
            except BaseException:
                _stop_workers(pool, parent_alive_w)
                raise
            pool.shutdown(wait=True)
    finally:
        parent_alive_w.close()
        parent_alive_r.close()


def _stop_workers(pool: ProcessPoolExecutor, parent_alive_w: multiprocessing.connection.Connection) -> None:
    """Cancel the queued schools and end the workers, including any school they are running.

    A school stopped part way leaves no checkpoint (checkpoints are written atomically at the end
    of a school), so a rerun runs it again and resumes every school that finished.
    """
    logger.warning("stopping the local worker processes; schools already finished keep their checkpoints")
    # The watchdog in each worker reads end of file and ends the worker. The pool then marks the
    # schools sent to a worker as failed, cancels the rest, and joins the processes. It takes one
    # call, because after a shutdown(wait=False) a later shutdown no longer joins the processes.
    parent_alive_w.close()
    pool.shutdown(wait=True, cancel_futures=True)


def _worker_context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Importing the pipeline takes seconds; the server does it once for every worker it forks.
    context.set_forkserver_preload(["sync_agent.la_school"])
    return context


class _LogListener(logging.handlers.QueueListener):
    """A ``QueueListener`` that stops without putting a sentinel on the multiprocessing queue.

    A worker ended while writing to the queue leaves the queue's write lock held, so a sentinel
    put by the parent could block for ever. This listener polls the queue instead, and stops once
    asked to and the queue is empty.
    """

    _POLL_SECONDS = 0.1

    def __init__(self, records: object, *handlers: logging.Handler) -> None:
        super().__init__(records, *handlers, respect_handler_level=True)
        self._stopping = threading.Event()

    def dequeue(self, block: bool) -> logging.LogRecord | None:
        while True:
            try:
                return self.queue.get(timeout=self._POLL_SECONDS)
            except queue.Empty:
                if self._stopping.is_set():
                    return self._sentinel

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(_LOG_LISTENER_STOP_SECONDS)
        if thread.is_alive():
            # The thread is a daemon, so it cannot keep the command from exiting.
            logger.warning("the worker log listener did not stop within %.0f seconds; some worker log records "
                           "may be missing", _LOG_LISTENER_STOP_SECONDS)
        self._thread = None


@contextlib.contextmanager
def _forwarded_logs(context: multiprocessing.context.BaseContext) -> Iterator[tuple[object, int]]:
    """Yield a queue for the workers' log records and the level they log at; the parent emits them.

    The listener stops after the pool has shut down, so it emits every record the workers sent.
    """
    log_queue = context.Queue()
    listener = _LogListener(log_queue, *project_handlers())
    listener.start()
    try:
        yield log_queue, logging.getLogger(PROJECT_LOGGER).getEffectiveLevel()
    finally:
        listener.stop()
        log_queue.close()


def _start_worker(log_queue: object, level: int, parent_alive_r: multiprocessing.connection.Connection) -> None:
    """Set up one worker process: its watchdog, and its log records sent to the parent."""
    threading.Thread(target=_exit_when_parent_gone, args=(parent_alive_r,), name="sync-agent-parent-watchdog",
                     daemon=True).start()
    _send_logs_to(log_queue, level)


def _exit_when_parent_gone(parent_alive_r: multiprocessing.connection.Connection) -> None:
    """End this worker once the parent's end of ``parent_alive_r`` has closed (run in a worker thread)."""
    try:
        parent_alive_r.recv_bytes()
    except (EOFError, OSError):
        # multiprocessing raises EOFError once every write end has closed, on Windows too. OSError
        # covers a pipe torn down mid-read. Either way the parent has gone or is stopping the pool.
        pass
    # The parent cannot receive log records or school results any more, so the worker ends at once.
    # os._exit skips the exit handlers, which could wait for the parent to read a queue.
    os._exit(_ORPHANED_WORKER_EXIT)


def _send_logs_to(log_queue: object, level: int) -> None:
    """Send this worker's project log records to the parent over ``log_queue`` (run in each worker)."""
    project = logging.getLogger(PROJECT_LOGGER)
    project.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    project.setLevel(level)
    project.propagate = False


@contextlib.contextmanager
def _dask_client(scheduler: str) -> Iterator[object]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError(
            "--scheduler needs the Dask distributed package; install sync-agent with the la-cluster extra "
            "(pip install 'sync-agent[la-cluster]') or leave out --scheduler to use local workers"
        ) from exc
    try:
        client = Client(scheduler, timeout=f"{SCHEDULER_CONNECT_TIMEOUT_SECONDS}s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"the Dask scheduler at {scheduler} could not be reached within {SCHEDULER_CONNECT_TIMEOUT_SECONDS} "
            f"seconds ({exc}); check the address and that the scheduler is running, or leave out --scheduler "
            "to use local workers"
        ) from exc
    try:
        yield client
    finally:
        client.close()
