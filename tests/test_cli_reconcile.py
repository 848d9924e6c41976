"""The reconcile command: exit codes, error messages on stderr, and logs free of pupil data."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import (
    compared,
    copy_case,
    permanent,
    read_report,
    record,
    run_cli,
    write_config,
    write_portal_csv,
    write_portal_json,
    write_sims_csv,
)

PUPIL_DATA = ["801999924", "Ashworth", "Milo", "Halloway", "Jude", "Okafor", "Tamsin", "Pemberton", "2012-02-14"]


def school(tmp_path: Path, mis: list[dict], portal: list[dict], **config: str) -> Path:
    write_sims_csv(tmp_path / "exclusions.csv", mis)
    write_portal_csv(tmp_path / "portal.csv", portal)
    write_config(tmp_path, **config)
    return tmp_path


def test_exit_0_warnings_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    temporary = record(upn="V94040011200A")
    school(tmp_path, [temporary, permanent()], [temporary, permanent()])

    assert run_cli(tmp_path) == 0

    report = read_report(tmp_path)
    # A permanent exclusion always asks for a governing board review: a warning, like temporary_upn.
    assert report["summary"] == {"temporary_upn": 1, "board_review_required": 1}
    assert "temporary_upn: 1" in capsys.readouterr().out


def test_exit_1_for_finding(tmp_path: Path) -> None:
    school(tmp_path, [record(), permanent()], [record()])

    assert run_cli(tmp_path) == 1

    assert read_report(tmp_path)["summary"] == {"missing_on_portal": 1, "board_review_required": 1}


def test_exit_1_for_reject_alone(tmp_path: Path) -> None:
    school(tmp_path, [record(), record(upn="T801999924002", reason_1="PD")], [record()])

    assert run_cli(tmp_path) == 1

    report = read_report(tmp_path)
    assert report["findings"] == []
    assert report["inputs"][0]["rejects"] == 1
    assert "Reason 'PD'" in (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8-sig")


def test_unknown_config_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    school(tmp_path, [record()], [record()], extra="[output]\ndirectory = \"reports\"\n")

    assert run_cli(tmp_path) == 2

    err = capsys.readouterr().err
    assert "unknown key output.directory" in err
    assert str(tmp_path / "agent.toml") in err
    assert not (tmp_path / "out").exists()


def test_invalid_config_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    school(tmp_path, [record()], [record()], period='academic_year = "2023-2024"')

    assert run_cli(tmp_path) == 2

    err = capsys.readouterr().err
    assert "invalid academic year '2023-2024'" in err
    assert "e.g. 2024-25" in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path) == 2

    err = capsys.readouterr().err
    assert f"configuration file {tmp_path / 'agent.toml'} (from --config) was not found" in err
    assert "sync-agent init" in err


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync_agent.cli import main

    school(tmp_path, [record()], [record()])
    monkeypatch.setenv("SYNC_AGENT_CONFIG", str(tmp_path / "agent.toml"))

    code = main(["reconcile", "--as-of", "2024-06-01", "--out", str(tmp_path / "out")])

    assert code == 0
    assert (tmp_path / "out" / "reconciliation.json").is_file()


def test_missing_export_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_portal_csv(tmp_path / "portal.csv", [record()])
    write_config(tmp_path)

    assert run_cli(tmp_path) == 2

    [mis, portal] = read_report(tmp_path)["inputs"]
    assert mis["status"] == "refused"
    assert "file not found; check the path in the configuration" in mis["reason"]
    assert portal["status"] == "read"
    assert read_report(tmp_path)["findings"] == []
    assert "file not found" in capsys.readouterr().err


def test_refused_portal_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    (tmp_path / "portal.json").write_text('{"items": [{"id": "EX-1",', encoding="utf-8")
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 2

    [_, portal] = read_report(tmp_path)["inputs"]
    assert portal["status"] == "refused"
    assert "is not valid JSON at line 1" in portal["reason"]
    assert "the file may be incomplete" in portal["reason"]
    assert read_report(tmp_path)["findings"] == []
    assert "is not valid JSON" in capsys.readouterr().err


def test_bad_as_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    school(tmp_path, [record()], [record()])

    assert run_cli(tmp_path, as_of="01/06/2024") == 2

    assert "'01/06/2024' is not a date in the form YYYY-MM-DD" in capsys.readouterr().err


def test_as_of_year_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    school(tmp_path, [record()], [record()])

    assert run_cli(tmp_path, as_of="0001-01-01") == 2

    assert "'0001-01-01' is outside 1990-01-01 to 2099-12-31; check the year" in capsys.readouterr().err


def test_academic_year_option(tmp_path: Path) -> None:
    school(tmp_path, [record(start="10/07/2023", end="10/07/2023", sessions="2")], [])

    assert run_cli(tmp_path) == 0
    assert run_cli(tmp_path, "--academic-year", "2022-23", out="older") == 1

    assert read_report(tmp_path, "older")["period"] == {"from": "2022-08-01", "to": "2023-07-31"}
    assert read_report(tmp_path, "older")["summary"] == {"missing_on_portal": 1}


def test_logs_free_of_pupil_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy_case("22-key-whitespace-case-invisible", "mis_exclusions_messy_keys.csv", tmp_path, "exclusions.csv")
    write_portal_json(tmp_path / "portal.json", [permanent(), record(upn="T801999924002", reason_1="VA")])
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 1

    captured = capsys.readouterr()
    assert " INFO " in captured.err
    for text in PUPIL_DATA:
        assert text not in captured.err
        assert text not in captured.out


def test_log_options_after_command(tmp_path: Path) -> None:
    """-q and --log-format work after the command name as well as before it."""
    from sync_agent.cli import hoist_log_options

    assert hoist_log_options(["reconcile", "-q", "--log-format", "json", "--out", "x"]) == [
        "-q", "--log-format", "json", "reconcile", "--out", "x"]
    school(tmp_path, [record()], [record()])

    assert run_cli(tmp_path, "-q") == 0
