"""Deadlines in school days that may run past the end of the calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync_agent.calendar import CalendarError, SchoolCalendar


def add_school_days_or_nat(calendar: SchoolCalendar, dates: pd.Series, n: int) -> pd.Series:
    """Return the ``n``th school day after each date, or NaT where it lies beyond the calendar."""
    days = dates.to_numpy().astype("datetime64[D]")
    try:
        result = calendar.add_school_days_array(days, n)
        return pd.Series(result, index=dates.index).astype("datetime64[s]")
    except CalendarError:
        out = []
        for day in days:
            try:
                out.append(calendar.add_school_days_array(day, n).item())
            except CalendarError:
                out.append(None)
        return pd.Series(pd.to_datetime(pd.Series(out, dtype=object)).to_numpy(), index=dates.index).astype("datetime64[s]")


def as_day_array(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]")
