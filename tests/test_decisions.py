"""Reviewer decisions: accepted findings, reopening when the data changes, undo, and exit status."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_agent.decisions import apply_decisions, current_user, finding_values_hash, needs_action
from sync_agent.findings import finding_id
from sync_agent.result import Finding, Period, Reject, Result, School
from sync_agent.state import StateStore

UTC = dt.timezone.utc
AT = dt.datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def _mismatch(portal_value: str = "4", age: int = 8) -> Finding:
    start = dt.date(2025, 3, 3)
    return Finding(
        id=finding_id("field_mismatch", "9402001", "J940400112001", "suspension", start, "sessions"),
        kind="field_mismatch",
        severity="error",
        laestab="9402001",
        upn="J940400112001",
        pupil="Smith, Alex",
        category="suspension",
        start_date=start,
        field="sessions",
        mis_value="6",
        portal_value=portal_value,
        message=f"Sessions differ: the MIS has 6 and the portal {portal_value}; open for {age} school days",
        action="Correct the side that is wrong, in the MIS or on the portal.",
    )


def _warning() -> Finding:
    return Finding(
        id=finding_id("temporary_upn", "9402001", "A94040011200T", "suspension", dt.date(2025, 2, 3), None),
        kind="temporary_upn",
        severity="warning",
        message="The record carries a temporary UPN.",
        action="Replace the temporary UPN with the pupil's permanent UPN once issued.",
    )


def _result(*findings: Finding, rejects: list[Reject] | None = None) -> Result:
    summary: dict[str, int] = {}
    for finding in findings:
        summary[finding.kind] = summary.get(finding.kind, 0) + 1
    return Result(
        generated_at=AT,
        as_of=AT.date(),
        period=Period(from_=dt.date(2024, 9, 1), to=dt.date(2025, 8, 31)),
        school=School(laestab="9402001", name="Example Primary School"),
        summary=summary,
        findings=list(findings),
        rejects=rejects or [],
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state.db") as opened:
        yield opened


# ----- values hash


def test_hash_ignores_message_and_status() -> None:
    shown = _mismatch(age=8)
    later = _mismatch(age=9).model_copy(update={"status": "accepted"})
    assert finding_values_hash(shown) == finding_values_hash(later)


def test_hash_changes_with_values() -> None:
    assert finding_values_hash(_mismatch("4")) != finding_values_hash(_mismatch("5"))


def test_hash_covers_sessions_and_due_date() -> None:
    base = _mismatch()
    with_sessions = base.model_copy(update={"sessions": ["2025-03-03 AM"]})
    with_due = base.model_copy(update={"due_date": dt.date(2025, 4, 1)})
    assert finding_values_hash(base) != finding_values_hash(with_sessions)
    assert finding_values_hash(base) != finding_values_hash(with_due)


# ----- applying decisions


def test_hash_covers_start_session() -> None:
    morning = _mismatch().model_copy(update={"start_session": "AM"})

    assert finding_values_hash(morning) != finding_values_hash(morning.model_copy(update={"start_session": "PM"}))


def test_accepted_finding_marked_accepted(store: StateStore) -> None:
    finding = _mismatch()
    store.accept(finding.id, finding_values_hash(finding), "The LA confirmed 4 sessions", "jsmith", AT)

    result = apply_decisions(_result(_mismatch(age=9)), store.decisions())

    shown = result.findings[0]
    assert shown.status == "accepted"
    assert "Accepted by jsmith on 2025-03-14: The LA confirmed 4 sessions" in shown.message
    assert shown.message.startswith("Sessions differ")


def test_changed_values_reopen_finding(store: StateStore) -> None:
    finding = _mismatch("4")
    store.accept(finding.id, finding_values_hash(finding), "The LA confirmed 4 sessions", "jsmith", AT)

    result = apply_decisions(_result(_mismatch("5")), store.decisions())

    shown = result.findings[0]
    assert shown.status == "open"
    assert "earlier acceptance by jsmith on 2025-03-14 no longer applies because the data changed" in shown.message


def test_undo_reopens_finding(store: StateStore) -> None:
    finding = _mismatch()
    store.accept(finding.id, finding_values_hash(finding), "The LA confirmed 4 sessions", "jsmith", AT)
    store.undo(finding.id, "akhan", AT + dt.timedelta(hours=1), reason="wrong pupil")

    result = apply_decisions(_result(finding), store.decisions())

    assert result.findings[0].status == "open"
    assert result.findings[0].message == finding.message


def test_decisions_survive_new_store(tmp_path: Path) -> None:
    finding = _mismatch()
    with StateStore(tmp_path / "state.db") as first:
        first.accept(finding.id, finding_values_hash(finding), "The LA confirmed 4 sessions", "jsmith", AT)

    with StateStore(tmp_path / "state.db") as second:
        result = apply_decisions(_result(finding), second.decisions())

    assert result.findings[0].status == "accepted"


def test_summary_still_counts_accepted(store: StateStore) -> None:
    finding = _mismatch()
    store.accept(finding.id, finding_values_hash(finding), "agreed", "jsmith", AT)
    before = _result(finding, _warning())

    after = apply_decisions(before, store.decisions())

    assert after.summary == {"field_mismatch": 1, "temporary_upn": 1}
    assert before.findings[0].status == "open"


def test_undecided_findings_unchanged(store: StateStore) -> None:
    before = _result(_mismatch(), _warning())
    after = apply_decisions(before, store.decisions())
    assert after.findings == before.findings


# ----- needs action


def test_open_error_needs_action() -> None:
    assert needs_action(_result(_mismatch(), _warning()))


def test_accepted_error_needs_no_action(store: StateStore) -> None:
    finding = _mismatch()
    store.accept(finding.id, finding_values_hash(finding), "agreed", "jsmith", AT)
    result = apply_decisions(_result(finding, _warning()), store.decisions())
    assert not needs_action(result)


def test_warnings_alone_need_no_action() -> None:
    assert not needs_action(_result(_warning()))


def test_rejected_row_needs_action() -> None:
    reject = Reject(file="exports/exclusions.csv", line=7, field="upn", value="X1", message="invalid UPN")
    assert needs_action(_result(rejects=[reject]))


# ----- current user


def test_current_user_from_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "jsmith")
    assert current_user() == "jsmith"


def test_current_user_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert current_user() == "unknown"
