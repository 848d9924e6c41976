"""School sessions as integers: session ``2 * n`` is the AM and ``2 * n + 1`` the PM of school day ``n``.

School day ``n`` is the ``n``th school day (from 0) on or after the calendar's first day. Turning
dates into indexes once lets the register checks compare, subtract and join sessions as plain
integer arrays, whatever weekends, holidays and closures lie between them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync_agent.calendar import SchoolCalendar


def day_ordinals(calendar: SchoolCalendar, dates) -> np.ndarray:
    """Return the school-day ordinal of each date (a non-school day gets the next school day's).

    Works through a table over the distinct days, so 20 million dates cost one lookup each.
    Raises CalendarError for a date outside the calendar.
    """
    days = np.asarray(dates, dtype="datetime64[D]")
    if days.size == 0:
        return np.zeros(0, dtype=np.int64)
    numbers = days.astype(np.int64)
    low, high = int(numbers.min()), int(numbers.max())
    span = np.arange(low, high + 1).astype("datetime64[D]")
    table = np.asarray(calendar.school_days_between(np.datetime64(calendar.first_day, "D"), span), dtype=np.int64)
    return table[numbers - low]


def session_indexes(calendar: SchoolCalendar, dates, sessions) -> np.ndarray:
    """Return the session index of each (date, "AM"/"PM") pair."""
    pm = np.asarray(pd.Series(sessions).astype(str).to_numpy() == "PM", dtype=np.int64)
    return 2 * day_ordinals(calendar, dates) + pm


def last_session_on_or_before(calendar: SchoolCalendar, dates) -> np.ndarray:
    """Return the index of the PM session of the last school day on or before each date."""
    days = np.asarray(dates, dtype="datetime64[D]")
    return 2 * day_ordinals(calendar, days + 1) - 1


def session_dates(calendar: SchoolCalendar, indexes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the dates (datetime64[D]) and "AM"/"PM" labels of session indexes."""
    indexes = np.asarray(indexes, dtype=np.int64)
    if indexes.size == 0:
        return np.zeros(0, dtype="datetime64[D]"), np.zeros(0, dtype=object)
    ordinals = indexes // 2
    unique, inverse = np.unique(ordinals, return_inverse=True)
    days = calendar.add_school_days_array(np.datetime64(calendar.first_day, "D"), unique)
    return np.asarray(days)[inverse.reshape(-1)], np.where(indexes % 2 == 0, "AM", "PM").astype(object)


def last_index(calendar: SchoolCalendar) -> int:
    """Return the index of the calendar's last session."""
    return int(last_session_on_or_before(calendar, [np.datetime64(calendar.last_day, "D")])[0])
