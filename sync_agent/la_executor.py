"""The executor a bulk import runs its schools on: local worker processes, or a Dask cluster.

Both are ``concurrent.futures`` executors, so the import submits and collects schools the same way
on either. Local workers are forked from a ``forkserver`` process that imported the pipeline once,
where the platform has one (elsewhere they are spawned): a child forked straight from the parent,
which has started pyarrow's or the progress bar's threads, can deadlock. Such a worker starts with
no logging set up, so each sends its log records over a queue to the parent, whose handlers (with
their pupil-data filter) write them to the console and the log file.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from sync_agent.errors import ConfigError
from sync_agent.logsetup import PROJECT_LOGGER, project_handlers

logger = logging.getLogger(__name__)


def default_workers() -> int:
    """Return the number of CPUs this process may use (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@contextlib.contextmanager
def school_executor(workers: int | None, scheduler: str | None) -> Iterator[Executor]:
    """Yield a process pool of ``workers`` processes, or an executor on the Dask scheduler at ``scheduler``.

    Raises ConfigError when ``distributed`` is not installed or the scheduler cannot be reached.
    """
    if scheduler is None:
        count = workers or default_workers()
        logger.info("running schools on %d local worker process(es)", count)
        context = _worker_context()
        with _forwarded_logs(context) as (queue, level), \
                ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_send_logs_to,
                                    initargs=(queue, level)) as pool:
            yield pool
        return
    # NOTE: Dask workers log to their own process's handlers (the worker's console or log), not
    # to this command's log file.
    with _dask_client(scheduler) as client:
        logger.info("running schools on the Dask cluster at %s", scheduler)
        executor = client.get_executor()
        try:
            yield executor
        finally:
            executor.shutdown(wait=True)


def _worker_context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Importing the pipeline takes seconds; the server does it once for every worker it forks.
    context.set_forkserver_preload(["sync_agent.la_school"])
    return context


@contextlib.contextmanager
def _forwarded_logs(context: multiprocessing.context.BaseContext) -> Iterator[tuple[object, int]]:
    """Yield a queue for the workers' log records and the level they log at; the parent emits them.

    The listener stops after the pool has shut down, so it emits every record the workers sent.
    """
    queue = context.Queue()
    listener = logging.handlers.QueueListener(queue, *project_handlers(), respect_handler_level=True)
    listener.start()
    try:
        yield queue, logging.getLogger(PROJECT_LOGGER).getEffectiveLevel()
    finally:
        listener.stop()
        queue.close()


def _send_logs_to(queue: object, level: int) -> None:
    """Send this worker's project log records to the parent over ``queue`` (run in each worker)."""
    project = logging.getLogger(PROJECT_LOGGER)
    project.handlers[:] = [logging.handlers.QueueHandler(queue)]
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
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"the Dask scheduler at {scheduler} could not be reached ({exc}); check the address and that the "
            "scheduler is running, or leave out --scheduler to use local workers"
        ) from exc
    try:
        yield client
    finally:
        client.close()
