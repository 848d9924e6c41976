"""Pupil lists: validation and the pupil-details comparison with exclusions."""

from __future__ import annotations

import pandas as pd

from register_helpers import LAESTAB, UPN, exclusion, exclusions_frame
from sync_agent.extract import extract
from sync_agent.mapper import map_records
from sync_agent.mapping import load_mapping
from sync_agent.pupils import pupil_details_findings, validate_pupils


def _read(tmp_path, rows: list[str]):
    path = tmp_path / "pupils.csv"
    path.write_text("UPN,Legal Surname,Legal Forename,DOB,Admission Date,Leaving Date\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    mapping = load_mapping("sims-pupils-csv")
    return validate_pupils(map_records(extract(path, mapping), mapping, defaults={"laestab": LAESTAB}), mapping)


def test_pupil_list_rejects_bad_rows(tmp_path):
    pupils, rejects = _read(tmp_path, [
        f"{UPN},Smith,Alex,01/02/2012,04/09/2023,",
        "J940400112002,Jones,Sam,01/02/2012,04/09/2023,",
        f"{UPN},Smith,Alex,01/02/2012,04/09/2023,01/09/2023",
    ])
    assert list(pupils["upn"]) == [UPN]
    assert pupils.loc[0, "on_roll_to"] is pd.NaT
    assert sorted(rejects["line"]) == [3, 4]
    assert "check letter" in rejects.loc[0, "message"]
    assert rejects.loc[1, "field"] == "Leaving Date"


def test_name_differing_only_in_case_matches(tmp_path):
    pupils, _ = _read(tmp_path, [f"{UPN}, SMITH ,alex,01/02/2012,04/09/2023,"])
    records = exclusions_frame(exclusion(sessions=2, date_of_birth="2012-02-01"))
    assert pupil_details_findings(records, pupils).empty


def test_surname_and_dob_differences_reported(tmp_path):
    pupils, _ = _read(tmp_path, [f"{UPN},Smyth,Alex,02/02/2012,04/09/2023,"])
    records = exclusions_frame(exclusion(sessions=2, date_of_birth="2012-02-01"))
    findings = pupil_details_findings(records, pupils)
    assert len(findings) == 1
    assert findings.loc[0, "field"] == "surname"
    assert findings.loc[0, "mis_value"] == "Smith"
    assert findings.loc[0, "actual"] == "Smyth"
    assert set(findings.loc[0, "extra"]) == {"surname (exclusion / pupil list)", "date_of_birth (exclusion / pupil list)"}
    assert all(isinstance(value, str) for value in findings.loc[0, "extra"].values())
