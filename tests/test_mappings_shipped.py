"""The shipped mapping files read the export shapes they describe, end to end through validation."""

from __future__ import annotations

import datetime as dt
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from sync_agent.codelists import reason_codes
from sync_agent.connectors.b2b_writer import write_b2b_file
from sync_agent.errors import MappingError
from sync_agent.extract import extract
from sync_agent.mapper import map_records
from sync_agent.mapping import built_in_names, load_mapping
from sync_agent.pupils import validate_pupils
from sync_agent.validate import validate_records

LAESTAB = "9404123"
UPN_A = "P940412321224"
UPN_B = "D940412323007"
UPN_C = "W940412320200"

# A B2B file in the wrapper sync-agent's writer uses, with both reason shapes: Reasons/Reason
# (ONE 3.72 on) for the first pupil and a single Reason (up to ONE 3.71) for the second.
B2B_BODY = f"""
  <Header><LAESTAB>9404123</LAESTAB></Header>
  <Pupils>
    <Pupil>
      <UPN>{UPN_A}</UPN><Surname>Adeyemi</Surname><Forename>Tobi</Forename><DOB>2010-05-03</DOB>
      <Exclusions>
        <Exclusion>
          <Category>FIXD</Category>
          <Reasons><Reason>VA</Reason><Reason>DB</Reason><Reason>BU</Reason></Reasons>
          <StartDate>2024-09-18</StartDate><StartTime>PM</StartTime>
          <EndDate>2024-09-19</EndDate><SchoolDays>1.5</SchoolDays>
        </Exclusion>
        <Exclusion>
          <Category>PERM</Category>
          <Reasons><Reason>PA</Reason></Reasons>
          <StartDate>2025-03-18</StartDate><StartTime>AM</StartTime>
        </Exclusion>
      </Exclusions>
    </Pupil>
    <Pupil>
      <UPN>{UPN_B}</UPN><Surname>Ali</Surname><Forename>Hamza</Forename>
      <Exclusions>
        <Exclusion>
          <Category>SUSP</Category><Reason>PP</Reason>
          <StartDate>2024-11-05</StartDate><StartTime>AM</StartTime>
          <EndDate>2024-11-06</EndDate><SchoolDays>2</SchoolDays>
        </Exclusion>
      </Exclusions>
    </Pupil>
  </Pupils>
"""


def b2b_document(root_attributes: str = "", prefix: str = "") -> str:
    body = B2B_BODY
    if prefix:
        # Prefix every element name, as a sender with a namespace prefix writes it.
        body = body.replace("</", "\0").replace("<", f"<{prefix}:").replace("\0", f"</{prefix}:")
        return f'<?xml version="1.0"?>\n<{prefix}:B2BExclusions{root_attributes}>{body}</{prefix}:B2BExclusions>\n'
    return f'<?xml version="1.0"?>\n<B2BExclusions{root_attributes}>{body}</B2BExclusions>\n'


def read(path: Path, mapping_name: str, laestab: str | None = LAESTAB) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (accepted records, rejects) of ``path`` through the extract, map and validate steps."""
    mapping = load_mapping(mapping_name)
    mapped = map_records(extract(path, mapping), mapping, defaults={"laestab": laestab} if laestab else None)
    validated = validate_records(mapped, mapping, reason_codes())
    return validated.records, validated.rejects


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def by_start(records: pd.DataFrame) -> dict[str, dict]:
    return {row["start_date"].date().isoformat(): row for row in records.to_dict("records")}


@pytest.mark.parametrize("name", built_in_names())
def test_every_shipped_mapping_loads(name):
    mapping = load_mapping(name)

    assert mapping.name == name
    assert mapping.spec.mapping.follows


@pytest.mark.parametrize(
    ("root_attributes", "prefix"),
    [("", ""), (' xmlns="urn:example:b2b"', ""), (' xmlns:b="urn:example:b2b"', "b")],
    ids=["plain", "default-namespace", "prefixed"],
)
def test_b2b_reads_both_reason_shapes(tmp_path, root_attributes, prefix):
    path = write(tmp_path / "b2b.xml", b2b_document(root_attributes, prefix))

    records, rejects = read(path, "b2b-xml", laestab=None)

    assert rejects.empty
    assert len(records) == 3
    rows = by_start(records)
    first = rows["2024-09-18"]
    assert [first["reason_1"], first["reason_2"], first["reason_3"]] == ["VA", "DB", "BU"]
    single = rows["2024-11-05"]
    assert single["reason_1"] == "PP"
    assert single["reason_2"] is None
    assert single["upn"] == UPN_B
    assert single["category"] == "suspension"
    assert set(records["laestab"]) == {LAESTAB}


def test_b2b_school_days_become_sessions(tmp_path):
    path = write(tmp_path / "b2b.xml", b2b_document())

    rows = by_start(read(path, "b2b-xml")[0])

    assert rows["2024-09-18"]["sessions"] == 3
    assert rows["2024-11-05"]["sessions"] == 4
    assert pd.isna(rows["2025-03-18"]["sessions"])


def test_b2b_start_time_pm_sets_sessions(tmp_path):
    path = write(tmp_path / "b2b.xml", b2b_document())

    rows = by_start(read(path, "b2b-xml")[0])

    # 3 sessions from the PM: PM, AM, PM, so the exclusion ends in a PM session.
    assert rows["2024-09-18"]["start_session"] == "PM"
    assert rows["2024-09-18"]["end_session"] == "PM"
    # 4 sessions from the AM end in the PM.
    assert rows["2024-11-05"]["end_session"] == "PM"
    assert rows["2025-03-18"]["end_session"] is None


def test_b2b_pupil_details_from_enclosing_pupil(tmp_path):
    path = write(tmp_path / "b2b.xml", b2b_document())

    rows = by_start(read(path, "b2b-xml")[0])

    assert rows["2024-09-18"]["surname"] == "Adeyemi"
    assert rows["2024-09-18"]["date_of_birth"] == pd.Timestamp("2010-05-03")
    assert rows["2025-03-18"]["upn"] == UPN_A
    assert pd.isna(rows["2024-11-05"]["date_of_birth"])


def test_b2b_exclusion_directly_inside_pupil(tmp_path):
    text = f"""<?xml version="1.0"?>
<Export><Pupil><UPN>{UPN_C}</UPN>
  <Exclusion><Category>LNCH</Category><Reason>VP</Reason><StartDate>2025-01-22T00:00:00</StartDate>
    <StartTime>PM</StartTime><EndDate>2025-01-23</EndDate><SchoolDays>1.0</SchoolDays></Exclusion>
</Pupil></Export>
"""
    path = write(tmp_path / "b2b.xml", text)

    records, rejects = read(path, "b2b-xml")

    assert rejects.empty
    row = records.iloc[0]
    assert row["upn"] == UPN_C
    assert row["category"] == "lunchtime"
    assert row["start_date"] == pd.Timestamp("2025-01-22")
    assert row["sessions"] == 2
    # A lunchtime exclusion ends in the session it starts in, however many lunchtimes it covers.
    assert row["end_session"] == "PM"


def test_b2b_unknown_category_rejected_with_table(tmp_path):
    path = write(tmp_path / "b2b.xml", b2b_document().replace("<Category>SUSP</Category>", "<Category>INTL</Category>"))

    records, rejects = read(path, "b2b-xml")

    assert len(records) == 2
    assert rejects["value"].tolist() == ["INTL"]
    assert "[tables.category]" in rejects["message"].iloc[0]


def test_b2b_writer_output_reads_back(tmp_path):
    payloads = [
        {"upn": UPN_A, "surname": "O’Connell", "forename": "Ciarán", "date_of_birth": "2009-09-25",
         "category": "FIXD", "reasons": ["DM", "TH", "DB"], "start_date": "2025-04-01", "start_session": "AM",
         "end_date": "2025-04-02", "end_session": "PM", "sessions": 4},
        {"upn": UPN_A, "surname": "O’Connell", "forename": "Ciarán", "date_of_birth": "2009-09-25",
         "category": "LNCH", "reasons": ["VP"], "start_date": "2025-05-06", "start_session": "PM",
         "end_date": "2025-05-08", "end_session": "PM", "sessions": 3},
        {"upn": UPN_B, "category": "PERM", "reasons": ["PA", "VA"], "start_date": "2025-03-18",
         "start_session": "PM", "end_date": None, "end_session": None, "sessions": None},
        {"upn": UPN_C, "surname": "Begum", "forename": "Rumana", "category": "FIXD", "reasons": ["BU"],
         "start_date": "2024-11-13", "start_session": "PM", "end_date": "2024-11-14", "end_session": "AM",
         "sessions": 2},
    ]
    path = write_b2b_file(tmp_path, LAESTAB, payloads, created_at=dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc))

    records, rejects = read(path, "b2b-xml", laestab=None)

    assert rejects.empty
    categories = {"FIXD": "suspension", "LNCH": "lunchtime", "PERM": "permanent"}
    for payload, row in zip(payloads, records.to_dict("records"), strict=True):
        assert row["laestab"] == LAESTAB
        assert row["upn"] == payload["upn"]
        assert row["surname"] == payload.get("surname", "")
        assert row["category"] == categories[payload["category"]]
        assert [r for r in (row["reason_1"], row["reason_2"], row["reason_3"]) if r] == payload["reasons"]
        assert row["start_date"].date().isoformat() == payload["start_date"]
        assert row["start_session"] == payload["start_session"]
        assert (None if pd.isna(row["end_date"]) else row["end_date"].date().isoformat()) == payload["end_date"]
        assert row["end_session"] == payload["end_session"]
        assert (None if pd.isna(row["sessions"]) else int(row["sessions"])) == payload["sessions"]


SIMS_RECORDS = f"""
  <Record>
    <UPN>{UPN_A}</UPN><Legal_x0020_Surname>Adeyemi</Legal_x0020_Surname>
    <Legal_x0020_Forename>Tobi</Legal_x0020_Forename><DOB>2010-05-03T00:00:00</DOB>
    <Exclusion_x0020_Type>Fixed Term</Exclusion_x0020_Type>
    <Start_x0020_Date>2024-09-18T00:00:00</Start_x0020_Date><Start_x0020_Session>AM</Start_x0020_Session>
    <End_x0020_Date>2024-09-19T00:00:00</End_x0020_Date><End_x0020_Session>PM</End_x0020_Session>
    <Sessions>4</Sessions><Reason>Verbal abuse/threatening behaviour against an adult</Reason>
    <Reason_x0020_2>DB</Reason_x0020_2>
  </Record>
  <Record>
    <UPN>{UPN_B}</UPN><Legal_x0020_Surname>Ali</Legal_x0020_Surname>
    <Exclusion_x0020_Type>Lunchtime</Exclusion_x0020_Type>
    <Start_x0020_Date>2025-06-05T00:00:00+01:00</Start_x0020_Date><Start_x0020_Session>PM</Start_x0020_Session>
    <End_x0020_Date>2025-06-05</End_x0020_Date><End_x0020_Session>PM</End_x0020_Session>
    <Sessions>1</Sessions><Reason>PP</Reason>
  </Record>
"""


@pytest.mark.parametrize(
    "root_attributes",
    ["", ' xmlns="urn:schemas-capita-sims:report"'],
    ids=["plain", "namespaced"],
)
def test_sims_xml_reads_encoded_columns(tmp_path, root_attributes):
    text = f'<?xml version="1.0" encoding="utf-8"?>\n<SuperStarReport{root_attributes}>{SIMS_RECORDS}</SuperStarReport>\n'
    path = write(tmp_path / "sims.xml", text)

    records, rejects = read(path, "sims-xml")

    assert rejects.empty
    rows = by_start(records)
    first = rows["2024-09-18"]
    assert first["surname"] == "Adeyemi"
    assert first["forename"] == "Tobi"
    assert first["category"] == "suspension"
    assert first["reason_1"] == "VA"
    assert first["date_of_birth"] == pd.Timestamp("2010-05-03")
    assert first["end_date"] == pd.Timestamp("2024-09-19")
    assert first["sessions"] == 4
    second = rows["2025-06-05"]
    assert second["category"] == "lunchtime"
    assert second["end_session"] == "PM"


def test_sims_xml_wrong_date_names_forms(tmp_path):
    text = SIMS_RECORDS.replace("2024-09-18T00:00:00", "18/09/2024")
    path = write(tmp_path / "sims.xml", f"<SuperStarReport>{text}</SuperStarReport>")

    records, rejects = read(path, "sims-xml")

    assert len(records) == 1
    assert rejects["field"].tolist() == ["start_date"]
    assert "yyyy-mm-dd" in rejects["message"].iloc[0]


def test_ctf_reads_pupil_list(tmp_path):
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<CTfile><Header><DocumentName>Common Transfer File</DocumentName><CTFversion>25.0</CTFversion>
<SourceSchool><LEA>940</LEA><Estab>4123</Estab></SourceSchool></Header>
<CTFpupilData>
  <Pupil><UPN>{UPN_A}</UPN><Surname>Adeyemi</Surname><Forename>Tobi</Forename><DOB>2010-05-03</DOB><Sex>M</Sex>
    <Attendance><YearData><AttendSessions><AttendanceMarks>/\\/\\</AttendanceMarks></AttendSessions></YearData></Attendance>
  </Pupil>
  <Pupil><UPN>{UPN_B}</UPN><Surname>Ali</Surname><Forename>Hamza</Forename><DOB>17/04/2012</DOB></Pupil>
</CTFpupilData></CTfile>
"""
    path = write(tmp_path / "pupils.xml", text)
    mapping = load_mapping("ctf")

    mapped = map_records(extract(path, mapping), mapping, defaults={"laestab": LAESTAB})
    pupils, rejects = validate_pupils(mapped, mapping)

    assert pupils["upn"].tolist() == [UPN_A]
    assert pupils["surname"].tolist() == ["Adeyemi"]
    assert pupils["date_of_birth"].tolist() == [pd.Timestamp("2010-05-03")]
    assert rejects["field"].tolist() == ["date_of_birth"]


def test_arbor_csv_reads_fixed_period_label(tmp_path):
    text = (
        "UPN,Last Name,First Name,Date of Birth,Exclusion Type,Start Date,Start Session,End Date,Sessions,"
        "Primary Reason,Secondary Reason\n"
        f"{UPN_A},Adeyemi,Tobi,03/05/2010,Fixed Period Exclusion,18/09/2024,AM,20/09/2024,5,VA,DB\n"
        f"{UPN_B},Ali,Hamza,17/04/2012,Permanent Exclusion,18/03/2025,PM,,,PA,\n"
        f"{UPN_C},Begum,Rumana,05/10/2008,Internal Exclusion,18/03/2025,AM,18/03/2025,2,DB,\n"
    )
    path = write(tmp_path / "arbor.csv", text)

    records, rejects = read(path, "arbor-csv")

    assert records["category"].tolist() == ["suspension", "permanent"]
    assert records["sessions"].iloc[0] == 5
    assert records["end_session"].iloc[0] == "AM"
    assert records["reason_2"].iloc[0] == "DB"
    assert rejects["value"].tolist() == ["Internal Exclusion"]


def test_bromcom_csv_keeps_part_time_flag(tmp_path):
    text = (
        "UPN,Surname,Forename,Exclusion Type,Start Date,Start Session,End Date,Sessions,Reason,Part Time\n"
        f"{UPN_A},Adeyemi,Tobi,Suspension,18/09/2024,PM,19/09/2024,2,Damage,No\n"
        f"{UPN_B},Ali,Hamza,Lunchtime,05/12/2024,PM,09/12/2024,3,Bullying,Yes\n"
    )
    path = write(tmp_path / "bromcom.csv", text)

    records, rejects = read(path, "bromcom-csv")

    assert rejects.empty
    assert records["category"].tolist() == ["suspension", "lunchtime"]
    assert records["reason_1"].tolist() == ["DM", "BU"]
    assert records["end_session"].tolist() == ["AM", "PM"]
    assert records["extra:part_time"].tolist() == ["No", "Yes"]


def test_custom_mapping_by_path_matches_built_in(tmp_path):
    built_in = resources.files("sync_agent.mappings").joinpath("b2b-xml.toml")
    custom = tmp_path / "our-b2b.toml"
    with resources.as_file(built_in) as source:
        shutil.copyfile(source, custom)
    custom.write_text(custom.read_text(encoding="utf-8").replace('name = "b2b-xml"', 'name = "our-b2b"'),
                      encoding="utf-8")
    path = write(tmp_path / "b2b.xml", b2b_document())

    by_name, _ = read(path, "b2b-xml")
    by_path, _ = read(path, str(custom))

    assert load_mapping(str(custom)).name == "our-b2b"
    pd.testing.assert_frame_equal(by_name, by_path)


def test_convert_on_wrong_field_rejected(tmp_path):
    text = """
[mapping]
name = "bad"
kind = "exclusions"
format = "delimited"

[fields.upn]
columns = ["UPN"]
convert = "days_to_sessions"
"""
    path = write(tmp_path / "bad.toml", text)

    with pytest.raises(MappingError, match=r"fields\.upn\.convert: 'days_to_sessions' applies to fields\.sessions"):
        load_mapping(str(path))
