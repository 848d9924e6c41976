"""A total deadline for one HTTP request made through ``requests``.

``requests`` timeouts bound each socket operation, not the request: a server that trickles one
byte at a time, in the headers or in the body, resets the read timeout with every byte and can hold
a request open for ever. ``DeadlineAdapter`` records the connection each request uses, and
``deadline_watch`` registers the request with one watchdog thread per process, which shuts that
connection's socket down when the deadline passes. The blocked read then fails at once, and the
caller sees ``DeadlineExceeded``. One shared thread replaces a timer thread per request, whose start
and stop cost about 1.5 ms of each request in ``benchmarks/bench_push.py``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger(__name__)

_active = threading.local()


class DeadlineExceeded(requests.exceptions.Timeout):
    """The request did not finish within its total deadline."""


class _Watch:
    """The connection of one request in flight, whether its deadline fired, and whether it ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self.fired = False
        self.ended = False

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            if self.fired:
                _shut_down(conn)

    def fire(self) -> None:
        # A request that already ended has handed its connection back to the pool, where the next
        # request may be using it, so a late deadline must leave it alone.
        with self._lock:
            if self.ended:
                return
            self.fired = True
            if self._conn is not None:
                _shut_down(self._conn)

    def end(self) -> None:
        with self._lock:
            self.ended = True
            self._conn = None


class _Watchdog:
    """One daemon thread that fires each watch whose deadline has passed, for the whole process."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._sleeping_until = math.inf

    def add(self, seconds: float, watch: _Watch) -> None:
        """Fire ``watch`` once ``seconds`` have passed, unless it has ended by then."""
        deadline = time.monotonic() + seconds
        with self._condition:
            self._drop_ended()
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadline-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._sleeping_until:
                # Waking the thread costs a switch, so it happens only when it sleeps too long.
                self._condition.notify()

    def _drop_ended(self) -> None:
        while self._heap and self._heap[0][2].ended:
            heapq.heappop(self._heap)

    def _next_due(self) -> _Watch:
        with self._condition:
            while True:
                self._drop_ended()
                self._sleeping_until = self._heap[0][0] if self._heap else math.inf
                wait = self._sleeping_until - time.monotonic()
                if wait <= 0:
                    self._sleeping_until = math.inf
                    return heapq.heappop(self._heap)[2]
                self._condition.wait(None if math.isinf(wait) else wait)

    def _run(self) -> None:
        while True:
            self._next_due().fire()


_WATCHDOG = _Watchdog()


def _shut_down(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _attach_current(conn: Any) -> None:
    watch = getattr(_active, "watch", None)
    if watch is not None:
        watch.attach(conn)


class _WatchedHTTPPool(HTTPConnectionPool):
    # NOTE: _make_request is urllib3 2.x's private per-request hook; only the connection
    # argument is read here, so the rest of its signature may change freely.
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _attach_current(conn)
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(HTTPSConnectionPool):
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        _attach_current(conn)
        return super()._make_request(conn, *args, **kwargs)


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections ``deadline_watch`` can shut down.

    It never retries by itself (``max_retries=0``): a POST may only be re-sent by a caller that
    knows how to avoid a duplicate.
    """

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


@contextlib.contextmanager
def deadline_watch(seconds: float) -> Iterator[_Watch]:
    """Shut down the socket of the request made inside this block once ``seconds`` have passed.

    The caller checks ``watch.fired`` when the request fails, and raises ``DeadlineExceeded``.
    Only a request sent through a ``DeadlineAdapter`` in this thread is watched.
    """
    watch = _Watch()
    _active.watch = watch
    _WATCHDOG.add(max(seconds, 0.0), watch)
    try:
        yield watch
    finally:
        watch.end()
        _active.watch = None
