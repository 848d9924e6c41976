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


class SchoolDayCounter(Protocol):
    def school_days_between(self, start, end): ...


def _text_array(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].astype(object).where(frame[column].notna(), "").to_numpy(dtype=object)


def record_keys(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Return integer keys for each frame's records, coded consistently across the frames.

    Comparing int64 codes was several times faster than comparing strings in the reconcile
    benchmark. So every round of matching and the duplicate check work on these columns: ``pupil`` (LAESTAB and UPN),
    ``day`` (start date as days since 1970), ``session`` (0 AM, 1 PM, 2 none), ``category`` and
    ``key`` (pupil, day and session in one number).
    """
    laestab_codes, _ = pd.factorize(np.concatenate([_text_array(f, "laestab") for f in frames]))
    upn_codes, upns = pd.factorize(np.concatenate([_text_array(f, "upn") for f in frames]))
    pupil_codes = laestab_codes.astype("int64") * max(len(upns), 1) + upn_codes
    categories = np.concatenate([_text_array(f, "category") for f in frames])
    category_codes, _ = pd.factorize(categories)
    keyed, offset = [], 0
    for frame in frames:
        count = len(frame)
        pupil = pupil_codes[offset:offset + count].astype("int64")
        day = frame["start_date"].to_numpy(dtype="datetime64[D]").astype("int64")
        sessions = _text_array(frame, "start_session")
        session = np.where(sessions == "AM", 0, np.where(sessions == "PM", 1, 2)).astype("int64")
        keyed.append(
            pd.DataFrame(
                {
                    "row": np.arange(count),
                    "pupil": pupil,
                    "day": day,
                    "session": session,
                    "category": category_codes[offset:offset + count].astype("int64"),
                    # Days since 1970 stay below 2**20 until the year 4840.
                    "key": (pupil << 22) | ((day & 0xFFFFF) << 2) | session,
                }
            )
        )
        offset += count
    return keyed


def _pair_exact(mis: pd.DataFrame, portal: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Pair rows sharing ``keys``, one to one: the nth of a group on one side with the nth on the other."""
    left = mis.assign(_n=mis.groupby(keys, sort=False).cumcount())
    right = portal.assign(_n=portal.groupby(keys, sort=False).cumcount())
    pairs = left.merge(right, on=[*keys, "_n"], how="inner", suffixes=("_m", "_p"))
    return pairs[["row_m", "row_p"]].set_axis(["mis_row", "portal_row"], axis=1)


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
    return keyed[~keyed["row"].isin(used)]


def pair_records(
    mis: pd.DataFrame, portal: pd.DataFrame, calendar: SchoolDayCounter,
    keys: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Return the pairs as ``mis_row``, ``portal_row`` (positions in the frames) and ``round``.

    ``keys`` are the frames' ``record_keys``, when the caller has them already.
    """
    mis_keyed, portal_keyed = keys if keys is not None else record_keys([mis, portal])
    rounds = [
        ("exact", lambda m, p: _pair_exact(m, p, ["key", "category"])),
        ("exact", lambda m, p: _pair_exact(m, p, ["key"])),
        ("near_start", lambda m, p: _pair_near_start(m, p, calendar)),
        ("changed_upn", lambda m, p: _pair_changed_upn(mis, portal, m, p)),
    ]
    pairs: list[pd.DataFrame] = []
    left_m, left_p = mis_keyed, portal_keyed
    for name, pair in rounds:
        # Once either side is used up no later round can pair anything, and a school whose records
        # all pair in the first round is the usual case.
        if left_m.empty or left_p.empty:
            break
        pairs.append(pair(left_m, left_p).assign(round=name))
        left_m, left_p = _unpaired(mis_keyed, pairs, "mis_row"), _unpaired(portal_keyed, pairs, "portal_row")
    if not pairs:
        return pd.DataFrame({"mis_row": pd.Series(dtype="int64"), "portal_row": pd.Series(dtype="int64"),
                             "round": pd.Series(dtype=object)})
    return pd.concat(pairs, ignore_index=True)


def _pair_near_start(left_m: pd.DataFrame, left_p: pd.DataFrame, calendar: SchoolDayCounter) -> pd.DataFrame:
    candidates = left_m.merge(left_p, on="pupil", suffixes=("_m", "_p"))
    if candidates.empty:
        return pd.DataFrame(columns=["mis_row", "portal_row"], dtype="int64")
    candidates = candidates.rename(columns={"row_m": "mis_row", "row_p": "portal_row"})
    start_m = candidates["day_m"].to_numpy().astype("datetime64[D]")
    start_p = candidates["day_p"].to_numpy().astype("datetime64[D]")
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
    rows = keyed["row"].to_numpy()
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
