"""A total deadline for one HTTP request made through ``requests``.

``requests`` timeouts bound each socket operation, not the request: a server that trickles one
byte at a time, in the headers or in the body, resets the read timeout with every byte and can hold
a request open for ever. ``DeadlineAdapter`` records the connection each request uses, and
``deadline_watch`` starts a timer that shuts that connection's socket down when the deadline
passes. The blocked read then fails at once, and the caller sees ``DeadlineExceeded``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
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
    """The connection of one request in flight, and whether its deadline fired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self.fired = False

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            if self.fired:
                _shut_down(conn)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._conn is not None:
                _shut_down(self._conn)


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
    timer = threading.Timer(max(seconds, 0.0), watch.fire)
    timer.daemon = True
    _active.watch = watch
    timer.start()
    try:
        yield watch
    finally:
        timer.cancel()
        _active.watch = None
