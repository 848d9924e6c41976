"""Suspension totals: the 45-day yearly limit and the 15-day termly board review."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from register_helpers import exclusion, exclusions_frame, make_calendar, of_kind
from sync_agent.reconcile import finalise
from sync_agent.thresholds import threshold_findings

AS_OF = dt.date(2025, 7, 18)


@pytest.fixture
def calendar(tmp_path):
    return make_calendar(tmp_path)


def _lunchtimes(start: str, count: int) -> dict:
    return exclusion(category="lunchtime", start=start, start_session="PM", end=start, end_session="PM", sessions=count)


def test_term_total_over_15_days_with_lunchtimes(calendar):
    # 15 days of suspension in the Spring term, then one lunchtime tips it past 15.
    records = exclusions_frame(
        exclusion(start="2025-01-13", sessions=20),  # 10 days: 13 to 24 January
        exclusion(start="2025-02-03", sessions=10),  # 5 days: 3 to 7 February
        _lunchtimes("2025-02-12", 1),
    )
    findings = threshold_findings(records, calendar, AS_OF)
    review = of_kind(findings, "board_review_required")
    assert len(review) == 1
    assert review.loc[0, "actual"] == "15.5 days"
    assert review.loc[0, "start_date"] == pd.Timestamp("2025-01-06")
    # The total passed 15 on 12 February; 15 school days on is 5 March.
    assert review.loc[0, "due_date"] == pd.Timestamp("2025-03-05")


def test_term_total_of_exactly_15_days_is_fine(calendar):
    records = exclusions_frame(exclusion(start="2025-01-13", sessions=20), exclusion(start="2025-02-03", sessions=10))
    assert of_kind(threshold_findings(records, calendar, AS_OF), "board_review_required").empty


def test_suspension_counted_in_term_of_each_session(calendar):
    # 20 sessions from 31 March: 5 days in Spring (to 4 April), 5 in Summer (22 to 28 April), then 11 more days.
    records = exclusions_frame(exclusion(start="2025-03-31", sessions=20), exclusion(start="2025-04-29", sessions=22))
    review = of_kind(threshold_findings(records, calendar, AS_OF), "board_review_required")
    assert len(review) == 1
    assert review.loc[0, "extra"] == {"term": "Summer 2024-25"}
    assert review.loc[0, "actual"] == "16 days"


def test_year_limit_over_45_days_with_lunchtimes(calendar):
    records = exclusions_frame(
        exclusion(start="2024-09-09", sessions=30),
        exclusion(start="2024-11-04", sessions=30),
        exclusion(start="2025-01-13", sessions=30),  # 45 days in all
        _lunchtimes("2025-03-03", 1),
    )
    findings = finalise(threshold_findings(records, calendar, AS_OF))
    limit = of_kind(findings, "suspension_limit_exceeded")
    assert len(limit) == 1
    assert limit.loc[0, "actual"] == "45.5 days"
    assert limit.loc[0, "severity"] == "error"
    assert limit.loc[0, "extra"] == {"academic_year": "2024-25"}


def test_year_limit_of_exactly_45_days_is_fine(calendar):
    records = exclusions_frame(exclusion(start="2024-09-09", sessions=30), exclusion(start="2024-11-04", sessions=30),
                               exclusion(start="2025-01-13", sessions=30))
    assert of_kind(threshold_findings(records, calendar, AS_OF), "suspension_limit_exceeded").empty


def test_permanent_exclusion_needs_board_review(calendar):
    records = exclusions_frame(exclusion(category="permanent", start="2025-03-18"))
    review = of_kind(threshold_findings(records, calendar, AS_OF), "board_review_required")
    assert len(review) == 1
    # 15 school days after 18 March, across the Easter holiday (5 to 21 April).
    assert review.loc[0, "due_date"] == pd.Timestamp("2025-04-23")


def test_withdrawn_suspension_not_counted(calendar):
    records = exclusions_frame(exclusion(start="2025-01-13", sessions=40, status="withdrawn"))
    assert threshold_findings(records, calendar, AS_OF).empty
