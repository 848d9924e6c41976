"""Pairing MIS records with portal records, one to one, as the reconcile step's first half.

Pairs are found in rounds, each among the records the earlier rounds left unpaired:

1. exact key (LAESTAB, UPN, start date, start session) and the same category;
2. exact key with a different category (category is then compared as a field);
3. the same pupil (LAESTAB and UPN) with starts at most ``NEAR_START_SCHOOL_DAYS`` school days
   apart, closest first (a wrong start date or session becomes one field mismatch);
4. the same surname, forename, date of birth and start date under a different UPN (a corrected
   UPN becomes one field mismatch).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from sync_agent.textnorm import clean_column

NEAR_START_SCHOOL_DAYS = 3
_KEY = ["laestab", "upn", "start_date", "session_key"]


class SchoolDayCounter(Protocol):
    def school_days_between(self, start, end): ...


def _with_keys(frame: pd.DataFrame, row_name: str) -> pd.DataFrame:
    keyed = pd.DataFrame(
        {
            row_name: np.arange(len(frame)),
            "laestab": frame["laestab"].to_numpy(),
            "upn": frame["upn"].to_numpy(),
            "start_date": frame["start_date"].to_numpy(),
            "session_key": frame["start_session"].fillna("").to_numpy(),
            "category": frame["category"].to_numpy(),
        }
    )
    return keyed


def _pair_exact(mis: pd.DataFrame, portal: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Pair rows sharing ``keys``, one to one: the nth of a group on one side with the nth on the other."""
    left = mis.assign(_n=mis.groupby(keys, sort=False).cumcount())
    right = portal.assign(_n=portal.groupby(keys, sort=False).cumcount())
    return left.merge(right, on=[*keys, "_n"], how="inner")[["mis_row", "portal_row"]]


def _greedy(candidates: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Choose pairs from ranked candidates so that no row is used twice (best first)."""
    chosen_m: set[int] = set()
    chosen_p: set[int] = set()
    keep = []
    ranked = candidates.sort_values(order, kind="stable")
    for m, p in zip(ranked["mis_row"].to_numpy(), ranked["portal_row"].to_numpy()):
        if m not in chosen_m and p not in chosen_p:
            chosen_m.add(m)
            chosen_p.add(p)
            keep.append((m, p))
    return pd.DataFrame(keep, columns=["mis_row", "portal_row"], dtype="int64")


def _unpaired(keyed: pd.DataFrame, pairs: list[pd.DataFrame], column: str) -> pd.DataFrame:
    used = np.concatenate([p[column].to_numpy() for p in pairs]) if pairs else np.array([], dtype=int)
    return keyed[~keyed[column].isin(used)]


def pair_records(mis: pd.DataFrame, portal: pd.DataFrame, calendar: SchoolDayCounter) -> pd.DataFrame:
    """Return the pairs as ``mis_row``, ``portal_row`` (positions in the frames) and ``round``."""
    mis_keyed = _with_keys(mis, "mis_row")
    portal_keyed = _with_keys(portal, "portal_row")
    pairs: list[pd.DataFrame] = []

    same_category = _pair_exact(mis_keyed, portal_keyed, [*_KEY, "category"])
    pairs.append(same_category.assign(round="exact"))
    left_m, left_p = _unpaired(mis_keyed, pairs, "mis_row"), _unpaired(portal_keyed, pairs, "portal_row")
    pairs.append(_pair_exact(left_m, left_p, _KEY).assign(round="exact"))

    left_m, left_p = _unpaired(mis_keyed, pairs, "mis_row"), _unpaired(portal_keyed, pairs, "portal_row")
    pairs.append(_pair_near_start(left_m, left_p, calendar).assign(round="near_start"))

    left_m, left_p = _unpaired(mis_keyed, pairs, "mis_row"), _unpaired(portal_keyed, pairs, "portal_row")
    pairs.append(_pair_changed_upn(mis, portal, left_m, left_p).assign(round="changed_upn"))
    return pd.concat(pairs, ignore_index=True)


def _pair_near_start(left_m: pd.DataFrame, left_p: pd.DataFrame, calendar: SchoolDayCounter) -> pd.DataFrame:
    candidates = left_m.merge(left_p, on=["laestab", "upn"], suffixes=("_m", "_p"))
    if candidates.empty:
        return pd.DataFrame(columns=["mis_row", "portal_row"], dtype="int64")
    start_m = candidates["start_date_m"].to_numpy(dtype="datetime64[D]")
    start_p = candidates["start_date_p"].to_numpy(dtype="datetime64[D]")
    distance = np.abs(np.asarray(calendar.school_days_between(start_m, start_p)))
    calendar_days = np.abs((start_p - start_m).astype(int))
    candidates = candidates.assign(
        distance=distance,
        calendar_days=calendar_days,
        other_category=(candidates["category_m"] != candidates["category_p"]).astype(int),
    )
    # A start on a non-school day counts 0 school days from its neighbour, so the calendar-day gap
    # breaks ties and also bounds the window.
    near = candidates[(candidates["distance"] <= NEAR_START_SCHOOL_DAYS) & (candidates["calendar_days"] <= 14)]
    return _greedy(near, ["distance", "calendar_days", "other_category", "mis_row", "portal_row"])


def _identity(frame: pd.DataFrame, keyed: pd.DataFrame, row_name: str) -> pd.DataFrame:
    rows = keyed[row_name].to_numpy()
    part = frame.iloc[rows]
    return pd.DataFrame(
        {
            row_name: rows,
            "laestab": part["laestab"].to_numpy(),
            "upn": part["upn"].to_numpy(),
            "surname_key": clean_column(part["surname"]).str.casefold().to_numpy(),
            "forename_key": clean_column(part["forename"]).str.casefold().to_numpy(),
            "date_of_birth": part["date_of_birth"].to_numpy(),
            "start_date": part["start_date"].to_numpy(),
            "category": part["category"].to_numpy(),
        }
    )


def _pair_changed_upn(mis: pd.DataFrame, portal: pd.DataFrame, left_m: pd.DataFrame, left_p: pd.DataFrame) -> pd.DataFrame:
    empty = pd.DataFrame(columns=["mis_row", "portal_row"], dtype="int64")
    if left_m.empty or left_p.empty:
        return empty
    ident_m = _identity(mis, left_m, "mis_row")
    ident_p = _identity(portal, left_p, "portal_row")
    complete_m = ident_m[(ident_m["surname_key"] != "") & (ident_m["forename_key"] != "") & ident_m["date_of_birth"].notna()]
    complete_p = ident_p[(ident_p["surname_key"] != "") & (ident_p["forename_key"] != "") & ident_p["date_of_birth"].notna()]
    keys = ["laestab", "surname_key", "forename_key", "date_of_birth", "start_date"]
    candidates = complete_m.merge(complete_p, on=keys, suffixes=("_m", "_p"))
    candidates = candidates[candidates["upn_m"] != candidates["upn_p"]]
    if candidates.empty:
        return empty
    candidates = candidates.assign(other_category=(candidates["category_m"] != candidates["category_p"]).astype(int))
    return _greedy(candidates, ["other_category", "mis_row", "portal_row"])
