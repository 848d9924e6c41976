"""``sync-agent validate``: counts, every unmapped value with its table, grouped rejects, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sync_agent.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
UPNS = ["P940412321224", "D940412323007", "W940412320200", "Z940412321203", "Y940412323162", "H940412320165"]

# A mapping with only the built-in category labels and reason codes in its value tables.
INCOMPLETE_MAPPING = """
[mapping]
name = "school-report"
kind = "exclusions"
format = "delimited"

[fields.upn]
columns = ["UPN"]
required = true

[fields.category]
columns = ["Exclusion Type"]
table = "category"

[fields.start_date]
columns = ["Start Date"]

[fields.start_session]
columns = ["Start Session"]
table = "session"

[fields.end_date]
columns = ["End Date"]

[fields.end_session]
columns = ["End Session"]
table = "session"

[fields.sessions]
columns = ["Sessions"]

[fields.reason_1]
columns = ["Reason"]
table = "reason"
"""

HEADER = "UPN,Exclusion Type,Start Date,Start Session,End Date,End Session,Sessions,Reason\n"


def row(upn: str, category: str = "Suspension", start: str = "18/09/2024", reason: str = "VA") -> str:
    return f"{upn},{category},{start},AM,18/09/2024,PM,2,{reason}\n"


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["validate", *args])
    return code, capsys.readouterr().out


@pytest.fixture
def mapping_file(tmp_path) -> Path:
    path = tmp_path / "school-report.toml"
    path.write_text(INCOMPLETE_MAPPING, encoding="utf-8")
    return path


def test_sample_school_validates_clean(capsys):
    code, out = run(capsys, "--config", str(SAMPLE / "agent.toml"))

    assert code == 0
    assert "exclusions.csv (exclusions, mapping sims-csv)" in out
    assert "portal-export.csv (portal, mapping portal-csv)" in out
    assert out.count("records read: 56, accepted: 56, rejected: 0") == 2


def test_mapping_option_checks_files(capsys):
    code, out = run(capsys, "--mapping", "b2b-xml", str(SAMPLE / "exports" / "exclusions-b2b.xml"))

    assert code == 0
    assert "records read: 56, accepted: 56, rejected: 0" in out


def test_incomplete_mapping_lists_unmapped_values(tmp_path, capsys, mapping_file):
    export = tmp_path / "report.csv"
    export.write_text(
        HEADER
        + row(UPNS[0], "Internal Exclusion")
        + row(UPNS[1], "Internal Exclusion")
        + row(UPNS[2], "Internal Exclusion", reason="PD")
        + row(UPNS[3], reason="PD")
        + row(UPNS[4], "Managed Move")
        + row(UPNS[5]),
        encoding="utf-8",
    )

    code, out = run(capsys, "--mapping", str(mapping_file), "--laestab", "9404123", str(export))

    assert code == 1
    assert "records read: 6, accepted: 1, rejected: 5" in out
    assert f"in {mapping_file.resolve()}" in out
    assert 'category (column Exclusion Type): "Internal Exclusion" ×3 — add to [tables.category]' in out
    assert 'category (column Exclusion Type): "Managed Move" ×1 — add to [tables.category]' in out
    assert 'reason_1 (column Reason): "PD" ×2 — add to [tables.reason]' in out
    assert "other rejects" not in out


def test_other_rejects_grouped_with_lines(tmp_path, capsys, mapping_file):
    bad_dates = "".join(row(upn, start="2024-09-18") for upn in UPNS)
    export = tmp_path / "report.csv"
    export.write_text(HEADER + bad_dates + row("X123", reason="PD"), encoding="utf-8")

    code, out = run(capsys, "--mapping", str(mapping_file), "--laestab", "9404123", str(export))

    assert code == 1
    assert "Start Date: Start Date is not a valid date in the form dd/mm/yyyy ×6 (lines 2, 3, 4, 5, 6)" in out
    assert 'reason_1 (column Reason): "PD" ×1 — add to [tables.reason]' in out
    assert "UPN: " in out
    assert "(lines 8)" in out


def test_missing_laestab_is_a_reject(tmp_path, capsys, mapping_file):
    export = tmp_path / "report.csv"
    export.write_text(HEADER + row(UPNS[0]), encoding="utf-8")

    code, out = run(capsys, "--mapping", str(mapping_file), str(export))

    assert code == 1
    assert "laestab: laestab must be 7 digits" in out


def test_unreadable_file_exits_2(tmp_path, capsys, mapping_file):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + row(UPNS[0]), encoding="utf-8")

    code, out = run(capsys, "--mapping", str(mapping_file), "--laestab", "9404123",
                    str(empty), str(tmp_path / "absent.csv"), str(good))

    assert code == 2
    assert "empty.csv (exclusions, mapping school-report)\n  could not be read: empty export" in out
    assert "absent.csv (exclusions, mapping school-report)\n  could not be read: file not found" in out
    assert "records read: 1, accepted: 1, rejected: 0" in out


def test_missing_required_column_exits_2(tmp_path, capsys, mapping_file):
    export = tmp_path / "report.csv"
    export.write_text("Pupil,Exclusion Type\nA,Suspension\n", encoding="utf-8")

    code, out = run(capsys, "--mapping", str(mapping_file), str(export))

    assert code == 2
    assert "could not be read" in out
    assert "required column 'UPN'" in out


def test_invalid_mapping_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(INCOMPLETE_MAPPING.replace("[fields.upn]", "[fields.pupil_number]"), encoding="utf-8")
    export = tmp_path / "report.csv"
    export.write_text(HEADER + row(UPNS[0]), encoding="utf-8")

    code = main(["validate", "--mapping", str(bad), str(export)])

    assert code == 2
    assert "fields.pupil_number: unknown field" in capsys.readouterr().err


def test_files_without_mapping_exit_2(tmp_path, capsys):
    code = main(["validate", str(tmp_path / "report.csv")])

    assert code == 2
    assert "--mapping" in capsys.readouterr().err


def test_config_with_bad_source_mapping_exits_2(tmp_path, capsys):
    folder = tmp_path / "school"
    shutil.copytree(SAMPLE / "exports", folder / "exports")
    shutil.copytree(SAMPLE / "portal", folder / "portal")
    shutil.copy(SAMPLE / "term-dates.toml", folder / "term-dates.toml")
    config = (SAMPLE / "agent.toml").read_text(encoding="utf-8").replace('mapping = "sims-csv"', 'mapping = "missing.toml"')
    (folder / "agent.toml").write_text(config, encoding="utf-8")

    code, out = run(capsys, "--config", str(folder / "agent.toml"))

    assert code == 2
    assert "could not be read: mapping file" in out
    assert "missing.toml was not found" in out
    assert "portal-export.csv (portal, mapping portal-csv)\n  records read: 56, accepted: 56, rejected: 0" in out


def test_config_checks_pupils_source(tmp_path, capsys):
    folder = tmp_path / "school"
    shutil.copytree(SAMPLE / "exports", folder / "exports")
    shutil.copytree(SAMPLE / "portal", folder / "portal")
    shutil.copy(SAMPLE / "term-dates.toml", folder / "term-dates.toml")
    (folder / "exports" / "pupils.xml").write_text(
        "<CTfile><CTFpupilData>"
        f"<Pupil><UPN>{UPNS[0]}</UPN><Surname>Adeyemi</Surname><Forename>Tobi</Forename><DOB>2010-05-03</DOB></Pupil>"
        f"<Pupil><UPN>{UPNS[1]}</UPN><Surname>Ali</Surname><Forename>Hamza</Forename><DOB>2012-04-31</DOB></Pupil>"
        "</CTFpupilData></CTfile>",
        encoding="utf-8",
    )
    config = (SAMPLE / "agent.toml").read_text(encoding="utf-8")
    config = config.replace("[portal]", '[[sources]]\nkind = "pupils"\npath = "exports/pupils.xml"\nmapping = "ctf"\n\n[portal]')
    (folder / "agent.toml").write_text(config, encoding="utf-8")

    code, out = run(capsys, "--config", str(folder / "agent.toml"))

    assert code == 1
    assert "pupils.xml (pupils, mapping ctf)\n  records read: 2, accepted: 1, rejected: 1" in out
    assert "date_of_birth: date_of_birth is not a valid date in the form yyyy-mm-dd ×1 (lines 1)" in out


def test_xml_without_records_names_record_path(tmp_path, capsys):
    export = tmp_path / "report.xml"
    export.write_text("<Report><Row><UPN>P940412321224</UPN></Row></Report>", encoding="utf-8")

    code, out = run(capsys, "--mapping", "sims-xml", str(export))

    assert code == 0
    assert "records read: 0, accepted: 0, rejected: 0" in out
    assert "no element matches [xml] record_path 'SuperStarReport/Record'" in out
