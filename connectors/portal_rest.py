"""Client for the LA exclusions portal's REST API.

Profile: ``GET {url}/schools/{laestab}/exclusions?academic_year=2024-25&page=N`` returns
``{"items": [...], "next_page": N|null}``; ``POST {url}/schools/{laestab}/exclusions`` with an
``Idempotency-Key`` header returns 201 ``{"id": ...}`` for a new record, 409 with the existing id
when the key was seen before, and 422 with field errors (the key leaves no trace). 429 and 503 may
carry ``Retry-After``. Authentication is a bearer token.

Every request has a connect timeout and a total deadline, TLS is always verified, and the client
never retries by re-sending a POST without its idempotency key, because a POST whose reply was lost
may already be stored. A client may be used from several threads at once: each request borrows a
``requests.Session`` of its own, and the rate limit is shared.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from sync_agent.connectors.http_deadline import DeadlineAdapter, DeadlineExceeded, deadline_watch
from sync_agent.errors import ConfigError, PortalError
from sync_agent.push_keys import academic_year_of, natural_key

log = logging.getLogger(__name__)

DEFAULT_TOKEN_ENV = "SYNC_AGENT_PORTAL_TOKEN"
EXCLUSIONS_PATH = "/schools/{laestab}/exclusions"
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_PAGES = 10_000
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}

PostStatus = Literal["delivered", "already_there", "rejected", "failed"]


class PortalAuthError(PortalError):
    """The portal refused the token (HTTP 401 or 403), or no token is set."""


@dataclass(frozen=True)
class PostOutcome:
    """Result of one ``create_exclusion`` call.

    ``delivered`` and ``already_there`` are set only on a confirmed 201 or 409 reply (or, for a
    portal that ignores idempotency keys, on finding the record by a look-up).
    """

    status: PostStatus
    portal_id: str | None = None
    errors: list[str] = field(default_factory=list)
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """Result of ``portal-check``: ``failed_part`` is connection, tls, token, http or response."""

    ok: bool
    message: str
    failed_part: str | None = None
    status_code: int | None = None


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


class _Retryable(Exception):
    """A failure worth another attempt; ``retry_after`` is the server's requested wait."""

    def __init__(self, description: str, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <token>`` when a token is set."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth([token])"


class _MinInterval:
    """Client-side rate limit: successive requests start at least 1/rate seconds apart, across threads."""

    def __init__(self, per_second: float, clock: Callable[[], float], sleep: Callable) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._sleep = sleep
        self._next_start: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        # Each caller reserves its start time under the lock and sleeps outside it, so threads
        # queue for the next free slots instead of holding one another up while they sleep.
        with self._lock:
            now = self._clock()
            start = now if self._next_start is None else max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            self._sleep(start - now)


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Return the wait in seconds a ``Retry-After`` header requests, or None if absent or invalid.

    The header is either a number of seconds or an HTTP date; a date in the past means no wait.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        return seconds if seconds >= 0 and seconds == seconds else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"[portal] {name} must be a positive number, not {value!r}")
    return float(value)


class PortalClient:
    """Keep-alive sessions to the portal's REST API for one run, usable from several threads."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        ca_bundle: Path | None,
        connect_timeout_seconds: float = 10,
        request_deadline_seconds: float = 60,
        max_retry_after_seconds: float = 300,
        rate_limit_per_second: float = 10,
        max_attempts: int = 6,
        max_total_retry_seconds: float = 600,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        token_env: str = DEFAULT_TOKEN_ENV,
        honours_idempotency_keys: bool = True,
        backoff_initial_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        exclusions_path: str = EXCLUSIONS_PATH,
    ) -> None:
        self.url = self._checked_url(url)
        self._token = token or None
        self._proxies, self._verify = _environment_settings(self.url, str(ca_bundle) if ca_bundle else True)
        self._connect_timeout = _positive("connect_timeout_seconds", connect_timeout_seconds)
        self._deadline = _positive("request_deadline_seconds", request_deadline_seconds)
        self._max_retry_after = _positive("max_retry_after_seconds", max_retry_after_seconds)
        self._max_total = _positive("max_total_retry_seconds", max_total_retry_seconds)
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"max_attempts must be a whole number of at least 1, not {max_attempts!r}")
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._token_env = token_env
        self.honours_idempotency_keys = honours_idempotency_keys
        # Full jitter: a random wait up to the exponential bound, so many agents that lost the
        # portal at the same moment do not come back in step.
        self._backoff = wait_random_exponential(multiplier=backoff_initial_seconds, max=backoff_max_seconds)
        self._exclusions_path = exclusions_path
        self._limiter = _MinInterval(
            _positive("rate_limit_per_second", rate_limit_per_second), clock, sleep
        )
        self._sessions_lock = threading.Lock()
        self._idle_sessions: list[requests.Session] = []
        self._all_sessions: list[requests.Session] = []

    @classmethod
    def from_config(
        cls,
        *,
        url: str,
        token_env: str = DEFAULT_TOKEN_ENV,
        ca_bundle: Path | None = None,
        connect_timeout_seconds: float = 10,
        request_deadline_seconds: float = 60,
        max_retry_after_seconds: float = 300,
        rate_limit_per_second: float = 10,
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> PortalClient:
        """Build a client from ``[portal]`` values, reading the token from ``token_env``.

        Raises ``PortalAuthError`` when that environment variable is unset or empty, and
        ``ConfigError`` for an invalid URL, a missing CA bundle or a non-positive limit.
        """
        env = os.environ if environ is None else environ
        token = env.get(token_env, "").strip()
        if not token:
            raise PortalAuthError(
                f"no portal token: the environment variable {token_env} (named by [portal] "
                f"token_env) is not set; set it to the API token the LA issued"
            )
        if ca_bundle is not None and not Path(ca_bundle).is_file():
            raise ConfigError(f"[portal] ca_bundle {ca_bundle} not found: give the LA's CA certificate file in PEM form")
        return cls(
            url,
            token=token,
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            connect_timeout_seconds=connect_timeout_seconds,
            request_deadline_seconds=request_deadline_seconds,
            max_retry_after_seconds=max_retry_after_seconds,
            rate_limit_per_second=rate_limit_per_second,
            token_env=token_env,
            **kwargs,
        )

    @staticmethod
    def _checked_url(url: str) -> str:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"[portal] url {url!r} is invalid: expected https://host/path, the API base of the LA portal"
            )
        if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
            log.warning(
                "[portal] url uses http:// to %s: the token and pupil data travel unencrypted; use https://",
                parts.hostname,
            )
        return str(url).rstrip("/")

    def close(self) -> None:
        """Close the keep-alive connections of every session."""
        with self._sessions_lock:
            sessions = list(self._all_sessions)
            self._all_sessions.clear()
            self._idle_sessions.clear()
        for session in sessions:
            session.close()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        adapter = DeadlineAdapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # An explicit auth object also stops requests from replacing the token with ~/.netrc
        # credentials. Proxy and CA settings from the environment still apply, because __init__
        # resolved them once and every request passes them.
        session.auth = _BearerAuth(self._token)
        session.trust_env = False
        return session

    @contextlib.contextmanager
    def _borrowed_session(self) -> Iterator[requests.Session]:
        """Lend one request a session no other thread uses meanwhile, as ``requests.Session`` is not thread-safe.

        Sessions are reused most recently returned first, so a client used from one thread keeps
        one session and its keep-alive connection. There are never more sessions than requests
        that were in flight at once.
        """
        with self._sessions_lock:
            session = self._idle_sessions.pop() if self._idle_sessions else None
        if session is None:
            session = self._new_session()
            with self._sessions_lock:
                self._all_sessions.append(session)
        try:
            yield session
        finally:
            with self._sessions_lock:
                self._idle_sessions.append(session)

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- public operations -------------------------------------------------------------

    def list_exclusions(self, laestab: str, academic_year: str) -> list[dict]:
        """Return every exclusion the portal stores for a school and academic year (``2024-25``).

        Follows ``next_page`` until it is null. Raises ``PortalAuthError`` when the token is
        refused and ``PortalError`` when the portal is unreachable after retries, replies out of
        profile, or names a page it already returned.
        """
        items: list[dict] = []
        seen: set[int] = set()
        page: int | None = 1
        while page is not None:
            if page in seen:
                raise PortalError(
                    f"the portal's exclusions list for {laestab} returned page {page} twice: "
                    f"its paging is broken, so the list cannot be read completely; report it to the LA"
                )
            if len(seen) >= MAX_PAGES:
                raise PortalError(
                    f"the portal's exclusions list for {laestab} has more than {MAX_PAGES} pages: "
                    f"its paging is probably broken; report it to the LA"
                )
            seen.add(page)
            page_items, page = self._fetch_page(laestab, academic_year, page)
            items.extend(page_items)
        return items

    def create_exclusion(
        self, laestab: str, payload: Mapping[str, Any], *, key: str, journal_id: str
    ) -> PostOutcome:
        """POST one exclusion with ``Idempotency-Key: key`` and return what happened.

        Retries 429, 5xx, connection errors and timeouts with the same key, within
        ``max_attempts`` and ``max_total_retry_seconds``. A portal that does not honour keys is
        searched for the record before any re-send. Raises ``PortalAuthError`` on 401 or 403.
        """
        url = self._exclusions_url(laestab)
        body = {name: value for name, value in payload.items() if name != "id"}
        headers = {"Idempotency-Key": key}
        attempts = 0

        def attempt() -> _Reply | str:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and not self.honours_idempotency_keys:
                found = self._look_up_before_resend(laestab, body)
                if found is not None:
                    log.info("portal POST %s attempt %d: found on the portal before re-sending", journal_id, attempts)
                    return found
            return self._post_once(url, body, headers, journal_id, attempts)

        try:
            result = self._with_retries(attempt)
        except _Retryable as exc:
            return PostOutcome("failed", attempts=attempts, last_error=str(exc))
        if isinstance(result, str):
            return PostOutcome("already_there", portal_id=result or None, attempts=attempts)
        return self._post_outcome(result, attempts, journal_id)

    def _look_up_before_resend(self, laestab: str, body: Mapping[str, Any]) -> str | None:
        try:
            return self.find_existing(laestab, body)
        except PortalAuthError:
            raise
        except PortalError as exc:
            raise _Retryable(f"look-up before re-sending failed: {exc}") from exc

    def find_existing(self, laestab: str, payload: Mapping[str, Any]) -> str | None:
        """Return the portal id of the record with the payload's natural key, or None if absent.

        A matching record without an id returns an empty string, which still means "found".
        """
        wanted = natural_key({**payload, "laestab": laestab})
        for item in self.list_exclusions(laestab, academic_year_of(payload["start_date"])):
            try:
                if natural_key({**item, "laestab": laestab}) == wanted:
                    return str(item.get("id") or "")
            except PortalError:
                continue
        return None

    def check(self, laestab: str, academic_year: str) -> CheckResult:
        """Check the URL, TLS and token with one GET of the first page of exclusions."""
        url = self._exclusions_url(laestab)
        host = urlsplit(self.url).hostname
        try:
            reply = self._request("GET", url, params={"academic_year": academic_year, "page": 1})
        except requests.exceptions.SSLError as exc:
            return CheckResult(False, _tls_message(host, self._scrub(str(exc))), "tls")
        except requests.exceptions.Timeout as exc:
            return CheckResult(False, f"the portal at {host} did not answer in time ({type(exc).__name__}): "
                               "check [portal] url, the firewall or proxy, or raise request_deadline_seconds", "connection")
        except (requests.exceptions.ConnectionError, requests.exceptions.InvalidURL) as exc:
            return CheckResult(False, f"could not connect to {host} ({type(exc).__name__}: "
                               f"{self._scrub(str(exc))}): check [portal] url, DNS and the firewall or proxy", "connection")
        return self._check_reply(reply, url)

    # --- requests ----------------------------------------------------------------------

    def _exclusions_url(self, laestab: str) -> str:
        return self.url + self._exclusions_path.format(laestab=laestab)

    def _request(self, method: str, url: str, **kwargs: Any) -> _Reply:
        """Send one request and read its whole body within the total deadline."""
        self._limiter.wait()
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        started = self._clock()
        with self._borrowed_session() as session, deadline_watch(self._deadline) as watch:
            try:
                response = session.request(
                    method, url, headers=headers, timeout=(self._connect_timeout, self._deadline),
                    stream=True, verify=self._verify, proxies=self._proxies, allow_redirects=False, **kwargs,
                )
                try:
                    body = self._read_body(response, started)
                finally:
                    response.close()
            except requests.exceptions.RequestException as exc:
                if watch.fired:
                    raise DeadlineExceeded(
                        f"no complete reply within request_deadline_seconds={self._deadline:g}"
                    ) from exc
                raise
        return _Reply(response.status_code, response.headers, body)

    def _read_body(self, response: requests.Response, started: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            if self._clock() - started > self._deadline:
                raise DeadlineExceeded(f"no complete reply within request_deadline_seconds={self._deadline:g}")
            try:
                chunk = response.raw.read1(65536)
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise requests.exceptions.ReadTimeout(f"reply stalled: {type(exc).__name__}") from exc
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
                raise requests.exceptions.ConnectionError(f"reply cut off: {type(exc).__name__}") from exc
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PortalError(f"the portal's reply exceeds {MAX_BODY_BYTES} bytes: it is out of profile")
            chunks.append(chunk)

    def _with_retries(self, attempt: Callable[[], Any]) -> Any:
        started = self._clock()

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self._max_attempts:
                return True
            return self._clock() - started + state.upcoming_sleep > self._max_total

        retrying = Retrying(
            stop=stop, wait=self._wait, retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep, reraise=True,
        )
        return retrying(attempt)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self._max_retry_after)
        return self._backoff(state)

    def _transport(self, method: str, url: str, what: str, **kwargs: Any) -> _Reply:
        """Send one request, turning transient failures into ``_Retryable`` and logging the attempt."""
        try:
            reply = self._request(method, url, **kwargs)
        except requests.exceptions.SSLError as exc:
            log.info("%s: %s", what, type(exc).__name__)
            raise PortalError(_tls_message(urlsplit(url).hostname, self._scrub(str(exc)))) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            log.info("%s: %s", what, type(exc).__name__)
            raise _Retryable(f"{type(exc).__name__}: {self._scrub(str(exc))}") from exc
        except requests.exceptions.RequestException as exc:
            raise PortalError(f"request to the portal failed: {self._scrub(str(exc))}") from exc
        log.info("%s: HTTP %d", what, reply.status)
        if reply.status in (401, 403):
            raise self._auth_error(reply.status)
        if reply.status == 429 or reply.status >= 500:
            retry_after = None
            if reply.status in (429, 503):
                retry_after = parse_retry_after(reply.headers.get("Retry-After"), self._now())
            raise _Retryable(f"HTTP {reply.status}", retry_after)
        return reply

    def _post_once(self, url: str, body: dict, headers: dict, journal_id: str, attempt: int) -> _Reply:
        what = f"portal POST {journal_id} attempt {attempt}"
        return self._transport("POST", url, what, json=body, headers=headers)

    def _fetch_page(self, laestab: str, academic_year: str, page: int) -> tuple[list[dict], int | None]:
        url = self._exclusions_url(laestab)
        params = {"academic_year": academic_year, "page": page}
        attempts = 0

        def attempt() -> _Reply:
            nonlocal attempts
            attempts += 1
            return self._transport("GET", url, f"portal GET exclusions page {page} attempt {attempts}", params=params)

        try:
            reply = self._with_retries(attempt)
        except _Retryable as exc:
            raise PortalError(
                f"the portal at {urlsplit(self.url).hostname} is unreachable: page {page} of the "
                f"exclusions list failed {attempts} times, last with {exc}; check [portal] url and try later"
            ) from exc
        return _parse_page(reply, page)

    def _post_outcome(self, reply: _Reply, attempts: int, journal_id: str) -> PostOutcome:
        body = reply.json()
        portal_id = body.get("id") if isinstance(body, dict) else None
        portal_id = None if portal_id is None else str(portal_id)
        if reply.status in (200, 201):
            if portal_id is None:
                log.warning("portal POST %s: HTTP %d without an id in the reply", journal_id, reply.status)
            return PostOutcome("delivered", portal_id=portal_id, attempts=attempts)
        if reply.status == 409:
            return PostOutcome("already_there", portal_id=portal_id, attempts=attempts)
        if reply.status == 422:
            return PostOutcome("rejected", errors=field_errors(body), attempts=attempts,
                               last_error="HTTP 422: the portal rejected the record")
        return PostOutcome("failed", attempts=attempts, last_error=f"HTTP {reply.status}: unexpected reply to a POST")

    def _check_reply(self, reply: _Reply, url: str) -> CheckResult:
        if reply.status in (401, 403):
            return CheckResult(False, str(self._auth_error(reply.status)), "token", reply.status)
        if reply.status != 200:
            return CheckResult(
                False,
                f"the portal returned HTTP {reply.status} for {url}: check that [portal] url is the "
                f"API base (for example https://portal.example.org/api/v1) and [school] laestab is right",
                "http", reply.status,
            )
        try:
            items, _ = _parse_page(reply, 1)
        except PortalError as exc:
            return CheckResult(False, f"{exc}: check that [portal] url points at the REST API", "response", 200)
        return CheckResult(True, f"portal reachable, TLS verified, token accepted; page 1 lists {len(items)} exclusions",
                           None, 200)

    def _auth_error(self, status: int) -> PortalAuthError:
        return PortalAuthError(
            f"the portal refused the token (HTTP {status}): it is missing, expired or lacks access to "
            f"this school; set a valid token in the environment variable {self._token_env} "
            f"(named by [portal] token_env) and run again"
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


def _environment_settings(url: str, verify: str | bool) -> tuple[dict[str, str], str | bool]:
    """Return the proxies and TLS ``verify`` value ``requests`` would take from the environment for ``url``.

    Covers ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``, and, when no CA bundle
    is configured, ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE``. Resolving them once per client in
    place of once per request saved about a sixth of the client's CPU time per POST (cProfile of
    ``benchmarks/bench_push.py``, with about 70 environment variables set). Only this process can
    change its own environment, so a run honours the same settings either way, unless code in the
    process edits ``os.environ`` after the client is built.
    """
    with requests.Session() as probe:
        settings = probe.merge_environment_settings(url, {}, None, verify, None)
    return settings["proxies"], settings["verify"]


def _tls_message(host: str | None, detail: str) -> str:
    return (
        f"TLS verification of {host} failed ({detail}): if the LA uses its own certificate "
        f"authority, set [portal] ca_bundle to its CA certificate in PEM form"
    )


def _parse_page(reply: _Reply, page: int) -> tuple[list[dict], int | None]:
    if reply.status != 200:
        raise PortalError(f"the portal returned HTTP {reply.status} for page {page} of the exclusions list")
    body = reply.json()
    items = body.get("items") if isinstance(body, dict) else None
    next_page = body.get("next_page") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise PortalError(f"page {page} of the portal's exclusions list has no 'items' list: it is out of profile")
    if next_page is not None and (not isinstance(next_page, int) or isinstance(next_page, bool)):
        raise PortalError(f"page {page} of the portal's exclusions list has next_page {next_page!r}: expected a number or null")
    return items, next_page


def field_errors(body: Any) -> list[str]:
    """Return a 422 body's field errors as ``field: message`` lines, whatever shape it uses."""
    errors = body.get("errors", body) if isinstance(body, dict) else body
    if isinstance(errors, dict):
        return [f"{name}: {message}" for name, message in errors.items()]
    if isinstance(errors, list):
        return [_one_error(error) for error in errors]
    return ["the portal gave no field errors"]


def _one_error(error: Any) -> str:
    if isinstance(error, dict):
        name = error.get("field") or error.get("loc") or "record"
        return f"{name}: {error.get('message') or error.get('msg') or error}"
    return str(error)
