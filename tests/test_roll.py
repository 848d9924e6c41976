"""Roll and notification checks."""

from __future__ import annotations

import pandas as pd
import pytest

from register_helpers import LAESTAB, UPN, exclusion, exclusions_frame, make_calendar, of_kind
from sync_agent.roll import REVIEW_WINDOW_SCHOOL_DAYS, late_notifications, removed_from_roll_early


@pytest.fixture
def calendar(tmp_path):
    return make_calendar(tmp_path)


def _pupils(on_roll_to: str | None) -> pd.DataFrame:
    return pd.DataFrame({"laestab": [LAESTAB], "upn": [UPN], "surname": ["Smith"], "forename": ["Alex"],
                         "date_of_birth": pd.to_datetime(["2012-01-01"]), "on_roll_from": pd.to_datetime(["2023-09-04"]),
                         "on_roll_to": pd.to_datetime([on_roll_to])})


def test_removed_before_review_window_closes(calendar):
    records = exclusions_frame(exclusion(category="permanent", start="2025-03-03"))
    findings = removed_from_roll_early(records, _pupils("2025-03-14"), calendar)
    assert len(findings) == 1
    assert findings.loc[0, "field"] == "on_roll_to"
    assert findings.loc[0, "due_date"] == pd.Timestamp(calendar.add_school_days(pd.Timestamp("2025-03-03").date(), REVIEW_WINDOW_SCHOOL_DAYS))


def test_removed_after_review_window_is_fine(calendar):
    records = exclusions_frame(exclusion(category="permanent", start="2025-03-03"))
    assert removed_from_roll_early(records, _pupils("2025-06-30"), calendar).empty


def test_still_on_roll_is_fine(calendar):
    records = exclusions_frame(exclusion(category="permanent", start="2025-03-03"))
    assert removed_from_roll_early(records, _pupils(None), calendar).empty


def test_late_notification_per_field(calendar):
    # Friday 7 March: one school day later is Monday 10 March.
    records = exclusions_frame(exclusion(start="2025-03-07", sessions=2, parents_notified_on="2025-03-10",
                                         la_notified_on="2025-03-11"))
    findings = late_notifications(records, calendar)
    assert list(findings["field"]) == ["la_notified_on"]
    assert findings.loc[0, "expected"] == "by 2025-03-10"
    assert findings.loc[0, "actual"] == "2025-03-11"


def test_both_notifications_late(calendar):
    records = exclusions_frame(exclusion(start="2025-03-07", sessions=2, parents_notified_on="2025-03-12",
                                         la_notified_on="2025-03-20"))
    assert sorted(of_kind(late_notifications(records, calendar), "late_notification")["field"]) == [
        "la_notified_on", "parents_notified_on"]
