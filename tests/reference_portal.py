"""A reference LA portal for tests: the REST profile on 127.0.0.1, with switchable faults.

Records live in memory and, when ``state_file`` is given, are also written to that JSON file after
every change, so a test can read the final state after killing its clients. Faults (each applies
to the next matching requests and then switches itself off):

- ``fail_next(n, status)``: reply to the next n requests with ``status`` (500 by default);
- ``rate_limit_next(n, retry_after)``: answer 429 with that ``Retry-After`` value;
- ``drop_after_store_next(n)``: store the next n POSTed records, then close the connection
  without a reply (the reply is lost);
- ``delay_seconds``: wait before every reply; ``trickle_seconds``: send the reply body one byte
  at a time with this pause between bytes;
- ``trickle_headers``: with ``trickle_seconds``, trickle the status line and headers too;
- ``expire_token_after_posts``: after that many stored records, accept only ``"rotated-token"``;
- ``chaos(probability, seed)``: each POST fails with 500, or is stored and then dropped, with
  this probability (half each), drawn from a seeded generator;
- ``token``: the accepted bearer token; change it to make the client's token expire mid-run.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REASON_CODES = frozenset(
    "PP PA VP VA OW BU RA LG DS SM DA DM TH DB MT PH OT".split()
)
PAGE_SIZE = 50
API_PREFIX = "/api/v1"


class ReferencePortal:
    """The portal's state and faults; start it with ``with ReferencePortal() as portal``."""

    def __init__(self, *, token: str = "good-token", state_file: Path | None = None,
                 honour_keys: bool = True, page_size: int = PAGE_SIZE) -> None:
        self.token = token
        self.state_file = state_file
        self.honour_keys = honour_keys
        self.page_size = page_size
        self.delay_seconds = 0.0
        self.trickle_seconds = 0.0
        self.trickle_headers = False
        self.expire_token_after_posts: int | None = None
        self._chaos: tuple[float, random.Random] | None = None
        self.records: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []
        self._faults: list[tuple[str, int, Any]] = []
        self._next_id = 1001
        self.lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def __enter__(self) -> ReferencePortal:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- faults ---------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._faults.append(("status", count, status))

    def rate_limit_next(self, count: int, retry_after: str) -> None:
        with self.lock:
            self._faults.append(("429", count, retry_after))

    def drop_after_store_next(self, count: int) -> None:
        with self.lock:
            self._faults.append(("drop", count, None))

    def chaos(self, probability: float, seed: int) -> None:
        with self.lock:
            self._chaos = (probability, random.Random(seed))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._chaos = None

    def take_fault(self, method: str) -> tuple[str, Any] | None:
        """Return and use up the first fault that applies to a request of this method."""
        with self.lock:
            for index, (kind, count, value) in enumerate(self._faults):
                if kind == "drop" and method != "POST":
                    continue
                if count <= 1:
                    del self._faults[index]
                else:
                    self._faults[index] = (kind, count - 1, value)
                return kind, value
            if self._chaos is not None and method == "POST":
                probability, rng = self._chaos
                draw = rng.random()
                if draw < probability / 2:
                    return "status", 500
                if draw < probability:
                    return "drop", None
        return None

    # --- records --------------------------------------------------------------------------

    def store(self, payload: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
        """Apply the POST rules; return (status, reply body)."""
        bad = [code for code in payload.get("reasons") or [] if code not in REASON_CODES]
        if bad or not payload.get("reasons"):
            return 422, {"errors": [{"field": "reasons", "message": f"unknown reason code {c}"} for c in bad]
                         or [{"field": "reasons", "message": "at least one reason is required"}]}
        with self.lock:
            if self.honour_keys and key and key in self.keys:
                return 409, {"id": self.keys[key], "error": "duplicate idempotency key"}
            record_id = f"EX-{self._next_id}"
            self._next_id += 1
            self.records[record_id] = {**payload, "id": record_id}
            if key:
                self.keys[key] = record_id
            self._save()
            if self.expire_token_after_posts is not None:
                self.expire_token_after_posts -= 1
                if self.expire_token_after_posts <= 0:
                    self.token = "rotated-token"
                    self.expire_token_after_posts = None
        return 201, {"id": record_id}

    def page(self, laestab: str, academic_year: str, page: int) -> dict[str, Any]:
        with self.lock:
            items = [r for r in self.records.values()
                     if r.get("laestab") == laestab and _academic_year(r["start_date"]) == academic_year]
        start = (page - 1) * self.page_size
        chunk = items[start:start + self.page_size]
        more = start + self.page_size < len(items)
        return {"items": chunk, "next_page": page + 1 if more else None}

    def _save(self) -> None:
        if self.state_file is None:
            return
        temp = self.state_file.with_suffix(".tmp")
        temp.write_text(json.dumps({"records": self.records, "keys": self.keys}), encoding="utf-8")
        os.replace(temp, self.state_file)


def _academic_year(start_date: str) -> str:
    year, month = int(start_date[:4]), int(start_date[5:7])
    first = year if month >= 8 else year - 1
    return f"{first}-{(first + 1) % 100:02d}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Dropped and reset connections are the faults under test, not server errors.
        pass


def _handler_for(portal: ReferencePortal) -> type[BaseHTTPRequestHandler]:
    class Handler(_PortalHandler):
        pass

    Handler.portal = portal
    return Handler


class _PortalHandler(BaseHTTPRequestHandler):
    portal: ReferencePortal
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body would wait
    # for the client's delayed ACK (about 40 ms) on every reply.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        laestab = self._laestab()
        if laestab is None or not self._authorised("GET"):
            return
        if self._fault("GET"):
            return
        query = parse_qs(urlsplit(self.path).query)
        page = int(query.get("page", ["1"])[0])
        self._reply(200, self.portal.page(laestab, query.get("academic_year", [""])[0], page))

    def do_POST(self) -> None:
        laestab = self._laestab()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if laestab is None or not self._authorised("POST"):
            return
        fault = self.portal.take_fault("POST")
        if fault and fault[0] != "drop":
            self._answer_fault(fault)
            return
        payload = json.loads(body)
        status, reply = self.portal.store({**payload, "laestab": laestab}, self.headers.get("Idempotency-Key"))
        if fault and status == 201:
            self._drop()
            return
        self._reply(status, reply)

    def _laestab(self) -> str | None:
        parts = urlsplit(self.path).path.split("/")
        if len(parts) == 6 and "/".join(parts[:4]) == f"{API_PREFIX}/schools" and parts[5] == "exclusions":
            return parts[4]
        self._reply(404, {"error": "not found"})
        return None

    def _authorised(self, method: str) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.portal.token}":
            return True
        self._reply(401, {"error": "invalid or expired token"}, method)
        return False

    def _fault(self, method: str) -> bool:
        fault = self.portal.take_fault(method)
        if fault is None or fault[0] == "drop":
            return False
        self._answer_fault(fault)
        return True

    def _answer_fault(self, fault: tuple[str, Any]) -> None:
        kind, value = fault
        if kind == "429":
            self._reply(429, {"error": "too many requests"}, headers={"Retry-After": value})
        else:
            self._reply(value, {"error": "injected server error"})

    def _drop(self) -> None:
        self.portal.requests.append((self.command, self.path, 0))
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _reply(self, status: int, body: dict, method: str | None = None, headers: dict | None = None) -> None:
        self.portal.requests.append((method or self.command, self.path, status))
        data = json.dumps(body).encode("utf-8")
        if self.portal.delay_seconds:
            time.sleep(self.portal.delay_seconds)
        if self.portal.trickle_seconds and self.portal.trickle_headers:
            head = f"HTTP/1.1 {status} Reply\r\nContent-Length: {len(data)}\r\n\r\n".encode("ascii")
            self._write_body(head + data)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write_body(data)

    def _write_body(self, data: bytes) -> None:
        try:
            if not self.portal.trickle_seconds:
                self.wfile.write(data)
                return
            for index in range(len(data)):
                self.wfile.write(data[index:index + 1])
                self.wfile.flush()
                time.sleep(self.portal.trickle_seconds)
        except OSError:
            self.close_connection = True
