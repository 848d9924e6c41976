"""Portal REST client at the HTTP level, with the transport faked by ``responses``."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

import pytest
import requests
import responses

from sync_agent.connectors.portal_rest import PortalAuthError, PortalClient, parse_retry_after
from sync_agent.errors import PortalError

URL = "https://portal.test/api/v1"
POST_URL = f"{URL}/schools/9402001/exclusions"
TOKEN = "s3cret-token-value"
NOW = dt.datetime(2025, 3, 14, 7, 0, 0, tzinfo=dt.timezone.utc)
PAYLOAD = {
    "laestab": "9402001", "upn": "D801999924001", "surname": "Ashworth", "forename": "Milo",
    "date_of_birth": "2012-02-14", "category": "FIXD", "start_date": "2024-03-04",
    "start_session": "AM", "end_date": "2024-03-05", "end_session": "PM", "sessions": 4,
    "reasons": ["DB"],
}


class FakeClock:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def make_client(clock: FakeClock, **kwargs) -> PortalClient:
    options = {"token": TOKEN, "ca_bundle": None, "sleep": clock.sleep, "clock": clock,
               "now": lambda: NOW, "rate_limit_per_second": 1000}
    options.update(kwargs)
    return PortalClient(URL, **options)


def post(client: PortalClient):
    return client.create_exclusion("9402001", PAYLOAD, key="k" * 64, journal_id="J-abc")


def test_created_record_is_delivered(mocked, clock):
    mocked.post(POST_URL, status=201, json={"id": "EX-1"})
    outcome = post(make_client(clock))
    assert outcome.status == "delivered"
    assert outcome.portal_id == "EX-1"
    assert outcome.attempts == 1
    sent = mocked.calls[0].request
    assert sent.headers["Idempotency-Key"] == "k" * 64
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "id" not in json.loads(sent.body)


def test_conflict_records_existing_id(mocked, clock):
    mocked.post(POST_URL, status=409, json={"id": "EX-7", "error": "duplicate idempotency key"})
    outcome = post(make_client(clock))
    assert outcome.status == "already_there"
    assert outcome.portal_id == "EX-7"


def test_unprocessable_is_rejected_once(mocked, clock):
    mocked.post(POST_URL, status=422, json={"errors": [{"field": "reasons", "message": "unknown code XX"}]})
    outcome = post(make_client(clock))
    assert outcome.status == "rejected"
    assert outcome.errors == ["reasons: unknown code XX"]
    assert len(mocked.calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_raises_auth_error(mocked, clock, status):
    mocked.post(POST_URL, status=status, json={"error": "expired"})
    with pytest.raises(PortalAuthError, match="SYNC_AGENT_PORTAL_TOKEN") as caught:
        post(make_client(clock))
    assert len(mocked.calls) == 1
    assert TOKEN not in str(caught.value)


def test_server_error_retried_with_same_key(mocked, clock):
    mocked.post(POST_URL, status=500)
    mocked.post(POST_URL, status=502)
    mocked.post(POST_URL, status=201, json={"id": "EX-2"})
    outcome = post(make_client(clock))
    assert outcome.status == "delivered"
    assert outcome.attempts == 3
    keys = {call.request.headers["Idempotency-Key"] for call in mocked.calls}
    assert keys == {"k" * 64}
    assert len(clock.sleeps) == 2


def test_retry_after_seconds_is_honoured(mocked, clock):
    mocked.post(POST_URL, status=429, headers={"Retry-After": "7"})
    mocked.post(POST_URL, status=201, json={"id": "EX-3"})
    outcome = post(make_client(clock))
    assert outcome.status == "delivered"
    assert clock.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(mocked, clock):
    when = "Fri, 14 Mar 2025 07:00:30 GMT"
    mocked.post(POST_URL, status=503, headers={"Retry-After": when})
    mocked.post(POST_URL, status=201, json={"id": "EX-4"})
    post(make_client(clock))
    assert clock.sleeps == [30.0]


@pytest.mark.parametrize("value", ["9999999", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_absurd_retry_after_is_capped(mocked, clock, value):
    mocked.post(POST_URL, status=429, headers={"Retry-After": value})
    mocked.post(POST_URL, status=201, json={"id": "EX-5"})
    post(make_client(clock, max_retry_after_seconds=300))
    assert clock.sleeps == [300.0]


def test_missing_retry_after_uses_backoff(mocked, clock):
    mocked.post(POST_URL, status=429)
    mocked.post(POST_URL, status=201, json={"id": "EX-6"})
    post(make_client(clock, backoff_initial_seconds=1.0, backoff_max_seconds=60))
    assert len(clock.sleeps) == 1
    assert 0 < clock.sleeps[0] <= 60


def test_retry_after_parsing_edge_values():
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("-5", NOW) is None
    assert parse_retry_after("Thu, 13 Mar 2025 07:00:00 GMT", NOW) == 0.0


def test_connection_errors_fail_after_max_attempts(mocked, clock):
    mocked.post(POST_URL, body=requests.exceptions.ConnectionError("connection reset"))
    outcome = post(make_client(clock, max_attempts=4))
    assert outcome.status == "failed"
    assert outcome.attempts == 4
    assert "ConnectionError" in outcome.last_error
    assert len(mocked.calls) == 4


def test_total_retry_time_is_bounded(mocked, clock):
    mocked.post(POST_URL, status=503, headers={"Retry-After": "100"})
    outcome = post(make_client(clock, max_attempts=50, max_total_retry_seconds=250))
    assert outcome.status == "failed"
    assert sum(clock.sleeps) <= 250
    assert outcome.attempts == 3


def test_timeout_is_retried(mocked, clock):
    mocked.post(POST_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    mocked.post(POST_URL, status=409, json={"id": "EX-8"})
    outcome = post(make_client(clock))
    assert outcome.status == "already_there"
    assert outcome.attempts == 2


def test_lookup_before_resend_without_keys(mocked, clock):
    mocked.post(POST_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    item = {**PAYLOAD, "id": "EX-1001"}
    mocked.get(POST_URL, json={"items": [item], "next_page": None})
    outcome = post(make_client(clock, honours_idempotency_keys=False))
    assert outcome.status == "already_there"
    assert outcome.portal_id == "EX-1001"
    posts = [call for call in mocked.calls if call.request.method == "POST"]
    assert len(posts) == 1
    assert "academic_year=2023-24" in mocked.calls[1].request.url


def test_token_never_logged_or_raised(mocked, clock, caplog):
    caplog.set_level(logging.DEBUG)
    mocked.post(POST_URL, body=requests.exceptions.ConnectionError(f"proxy said Bearer {TOKEN}"))
    outcome = post(make_client(clock, max_attempts=2))
    mocked.replace(responses.POST, POST_URL, status=401)
    with pytest.raises(PortalAuthError) as caught:
        post(make_client(clock))
    assert TOKEN not in caplog.text
    assert TOKEN not in (outcome.last_error or "")
    assert TOKEN not in str(caught.value)
    assert PAYLOAD["upn"] not in caplog.text


def test_attempts_logged_by_journal_id(mocked, clock, caplog):
    caplog.set_level(logging.INFO)
    mocked.post(POST_URL, status=500)
    mocked.post(POST_URL, status=201, json={"id": "EX-9"})
    post(make_client(clock))
    messages = [record.getMessage() for record in caplog.records]
    assert "portal POST J-abc attempt 1: HTTP 500" in messages
    assert "portal POST J-abc attempt 2: HTTP 201" in messages


def test_list_follows_next_page(mocked, clock):
    mocked.get(POST_URL, json={"items": [{"id": "EX-1"}], "next_page": 2},
               match=[responses.matchers.query_param_matcher({"academic_year": "2024-25", "page": "1"})])
    mocked.get(POST_URL, json={"items": [{"id": "EX-2", "extra": "kept"}], "next_page": None},
               match=[responses.matchers.query_param_matcher({"academic_year": "2024-25", "page": "2"})])
    items = make_client(clock).list_exclusions("9402001", "2024-25")
    assert [item["id"] for item in items] == ["EX-1", "EX-2"]
    assert items[1]["extra"] == "kept"


def test_list_repeated_page_raises(mocked, clock):
    mocked.get(POST_URL, json={"items": [], "next_page": 1})
    with pytest.raises(PortalError, match="page 1 twice"):
        make_client(clock).list_exclusions("9402001", "2024-25")


def test_list_out_of_profile_raises(mocked, clock):
    mocked.get(POST_URL, json={"results": []})
    with pytest.raises(PortalError, match="no 'items' list"):
        make_client(clock).list_exclusions("9402001", "2024-25")


def test_list_unreachable_raises_portal_error(mocked, clock):
    mocked.get(POST_URL, body=requests.exceptions.ConnectionError("no route"))
    with pytest.raises(PortalError, match="unreachable"):
        make_client(clock, max_attempts=2).list_exclusions("9402001", "2024-25")


def test_rate_limit_spaces_requests(mocked, clock):
    mocked.post(POST_URL, status=201, json={"id": "EX-1"})
    client = make_client(clock, rate_limit_per_second=10)
    post(client)
    post(client)
    assert clock.sleeps == [pytest.approx(0.1)]


def test_plain_http_to_remote_host_warns(caplog):
    caplog.set_level(logging.WARNING)
    PortalClient("http://portal.example.org/api", token=TOKEN, ca_bundle=None)
    PortalClient("http://127.0.0.1:8080/api", token=TOKEN, ca_bundle=None)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unencrypted" in warnings[0].getMessage()


def test_from_config_needs_token_variable():
    with pytest.raises(PortalAuthError, match="LA_TOKEN"):
        PortalClient.from_config(url=URL, token_env="LA_TOKEN", environ={})


def test_check_reports_success(mocked, clock):
    mocked.get(POST_URL, json={"items": [{"id": "EX-1"}], "next_page": None})
    result = make_client(clock).check("9402001", "2024-25")
    assert result.ok
    assert "1 exclusions" in result.message


@pytest.mark.parametrize(
    ("reply", "part", "hint"),
    [
        ({"status": 401}, "token", "SYNC_AGENT_PORTAL_TOKEN"),
        ({"status": 404}, "http", "[portal] url"),
        ({"body": requests.exceptions.SSLError("certificate verify failed")}, "tls", "ca_bundle"),
        ({"body": requests.exceptions.ConnectionError("Name or service not known")}, "connection", "DNS"),
        ({"body": "<html>login</html>", "status": 200}, "response", "REST API"),
    ],
    ids=["token", "http", "tls", "connection", "response"],
)
def test_check_names_failed_part(mocked, clock, reply, part, hint):
    mocked.get(POST_URL, **reply)
    result = make_client(clock).check("9402001", "2024-25")
    assert not result.ok
    assert result.failed_part == part
    assert hint in result.message


def test_rate_limit_shared_across_threads(mocked):
    mocked.post(POST_URL, status=201, json={"id": "EX-1"})
    sleeps: list[float] = []
    lock = threading.Lock()

    def record_sleep(seconds: float) -> None:
        with lock:
            sleeps.append(seconds)

    # The clock never moves, so each thread must wait for the slot its predecessors reserved.
    client = PortalClient(URL, token=TOKEN, ca_bundle=None, sleep=record_sleep, clock=lambda: 1000.0,
                          now=lambda: NOW, rate_limit_per_second=10)
    threads = [threading.Thread(target=post, args=(client,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(mocked.calls) == 4
    assert sorted(sleeps) == pytest.approx([0.1, 0.2, 0.3])


def test_proxy_from_environment_applies(mocked, clock, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.school.test:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/school/ca.pem")
    mocked.post(POST_URL, status=201, json={"id": "EX-1"})
    post(make_client(clock))
    sent = mocked.calls[0].request
    assert sent.req_kwargs["proxies"]["https"] == "http://proxy.school.test:3128"
    assert sent.req_kwargs["verify"] == "/etc/school/ca.pem"


def test_no_proxy_host_goes_direct(mocked, clock, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.school.test:3128")
    monkeypatch.setenv("NO_PROXY", "portal.test")
    mocked.post(POST_URL, status=201, json={"id": "EX-1"})
    post(make_client(clock))
    assert "https" not in mocked.calls[0].request.req_kwargs["proxies"]
