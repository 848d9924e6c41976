"""Pupil lists: validate names, dates of birth and roll dates, and compare them with exclusions."""

from __future__ import annotations

import pandas as pd

from sync_agent.mapper import MappedRecords
from sync_agent.mapping import Mapping
from sync_agent.register_frames import empty_findings, finding_rows
from sync_agent.textnorm import clean_text
from sync_agent.validate import _Checker

PUPIL_COLUMNS = ["laestab", "upn", "surname", "forename", "date_of_birth", "on_roll_from", "on_roll_to",
                 "source_file", "source_line"]


def validate_pupils(mapped: MappedRecords, mapping: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a mapped pupil list a column at a time; return (pupils, rejects).

    A pupil needs a 7-digit LAESTAB and a UPN with a valid check letter; dates must match the
    mapping's formats, and ``on_roll_to`` must not be before ``on_roll_from``.
    """
    from sync_agent.upn import check_upns

    check = _Checker(mapped)
    out: dict[str, pd.Series] = {}
    laestab = check.text("laestab")
    check.add(~laestab.str.fullmatch(r"[0-9]{7}"), "laestab",
              f"{check.label('laestab')} must be 7 digits (3-digit LA code and 4-digit establishment number)")
    upn = check.text("upn")
    valid, _temporary, messages = check_upns(upn)
    check.add(upn == "", "upn", f"{check.label('upn')} is blank; every pupil needs a UPN")
    check.add((upn != "") & ~valid, "upn", messages)
    out["laestab"], out["upn"] = laestab, upn
    out["surname"], out["forename"] = check.text("surname"), check.text("forename")
    for field in ("date_of_birth", "on_roll_from", "on_roll_to"):
        out[field] = check.date(field, mapping.date_formats(field)) if field in mapped.frame else pd.Series(
            pd.NaT, index=mapped.frame.index, dtype="datetime64[s]")
    backwards = out["on_roll_to"].notna() & out["on_roll_from"].notna() & (out["on_roll_to"] < out["on_roll_from"])
    check.add(backwards, "on_roll_to", f"{check.label('on_roll_to')} is before {check.label('on_roll_from')}")
    out["source_file"] = pd.Series(mapped.file, index=mapped.frame.index, dtype=object)
    out["source_line"] = check.lines.astype("int64")
    pupils = pd.DataFrame(out)[PUPIL_COLUMNS][~check.bad].reset_index(drop=True)
    from sync_agent.rejects import combine

    return pupils, combine(check.rejects)


def _folded(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str).map(lambda v: clean_text(v).casefold())


def pupil_details_findings(exclusions: pd.DataFrame, pupils: pd.DataFrame) -> pd.DataFrame:
    """Return a ``pupil_details_mismatch`` warning per exclusion whose names or DOB differ from the pupil list.

    Names are compared after trimming and case folding; a blank name or date of birth on either
    side is not compared. ``field`` names the first differing detail and ``extra`` lists them all.
    """
    if exclusions is None or pupils is None or exclusions.empty or pupils.empty:
        return empty_findings()
    people = pupils.drop_duplicates(["laestab", "upn"])[["laestab", "upn", "surname", "forename", "date_of_birth"]]
    joined = exclusions.merge(people, on=["laestab", "upn"], how="inner", suffixes=("", "_list"))
    if joined.empty:
        return empty_findings()
    differs = {}
    for field in ("surname", "forename"):
        mis, listed = _folded(joined[field]), _folded(joined[f"{field}_list"])
        differs[field] = ((mis != "") & (listed != "") & (mis != listed)).to_numpy()
    dob, dob_list = joined["date_of_birth"], joined["date_of_birth_list"]
    differs["date_of_birth"] = (dob.notna() & dob_list.notna() & (dob != dob_list)).to_numpy()
    any_difference = differs["surname"] | differs["forename"] | differs["date_of_birth"]
    rows = joined[any_difference].reset_index(drop=True)
    if rows.empty:
        return empty_findings()
    texts = {"surname": (rows["surname"], rows["surname_list"]), "forename": (rows["forename"], rows["forename_list"]),
             "date_of_birth": (rows["date_of_birth"].dt.strftime("%Y-%m-%d"), rows["date_of_birth_list"].dt.strftime("%Y-%m-%d"))}
    fields, mis_values, list_values, messages, extras = [], [], [], [], []
    for position in range(len(rows)):
        names = [f for f in ("surname", "forename", "date_of_birth") if differs[f][any_difference][position]]
        details = {f: {"exclusion": str(texts[f][0].iat[position]), "pupil_list": str(texts[f][1].iat[position])} for f in names}
        fields.append(names[0])
        mis_values.append(details[names[0]]["exclusion"])
        list_values.append(details[names[0]]["pupil_list"])
        words = ", ".join(f.replace("_", " ") for f in names)
        messages.append(f"The pupil's {words} on the exclusion record differ from the pupil list")
        # extra holds text only: one entry per differing detail, as the two values side by side.
        extras.append({f"{f} (exclusion / pupil list)": f"{d['exclusion']} / {d['pupil_list']}" for f, d in details.items()})
    return finding_rows(rows, "pupil_details_mismatch", field=fields, mis_value=mis_values, actual=list_values,
                        message=messages, extra=extras)
