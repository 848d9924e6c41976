"""``sync-agent bulk-import``: the sample LA end to end, broken schools, reruns, Dask, pushes, reports."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import logging
import re
import shutil
import stat
from pathlib import Path

import openpyxl
import pytest

from sync_agent.bulk_import import BulkImportOptions, run_bulk_import
from sync_agent.cli import cli, main
from sync_agent.cli.bulk_import import bulk_import
from sync_agent.errors import ConfigError
from sync_agent.la_config import load_la_config, school_config
from sync_agent.la_executor import school_executor
from sync_agent.la_progress import PhaseProgress
from sync_agent.logsetup import PupilDataFilter
from sync_agent.reports.la_overview import write_la_overview

SAMPLE_LA = Path(__file__).resolve().parents[1] / "sample_data" / "la"
AS_OF = dt.date(2025, 7, 23)
NOW = dt.datetime(2025, 7, 23, 7, 0, tzinfo=dt.timezone.utc)
MISSING_SCHOOLS = ["9402001", "9402003", "9402004"]


@pytest.fixture(scope="module", autouse=True)
def bulk_import_command():
    """Make ``bulk-import`` a command of the CLI group, as the package's command list does."""
    if "bulk-import" not in cli.commands:
        cli.add_command(bulk_import)


def copy_sample_la(target: Path) -> Path:
    shutil.copytree(SAMPLE_LA, target, ignore=shutil.ignore_patterns("reports", "logs", "outbox", "state.db*",
                                                                      "__pycache__"))
    return target


@pytest.fixture
def la_dir(tmp_path: Path) -> Path:
    """A copy of the sample LA that a test may change."""
    return copy_sample_la(tmp_path / "la")


def expected() -> dict:
    return json.loads((SAMPLE_LA / "expected_la_findings.json").read_text(encoding="utf-8"))


def run_cli(la: Path, out: Path, *extra: str) -> int:
    return main(["-q", "bulk-import", str(la), "--as-of", AS_OF.isoformat(), "--out", str(out), "--workers", "2",
                 *extra])


def run_direct(la: Path, out: Path, **changes) -> object:
    options = BulkImportOptions(import_dir=la, out_dir=out, as_of=AS_OF, workers=2, now=NOW,
                                progress_terminal=False)
    for name, value in changes.items():
        setattr(options, name, value)
    return run_bulk_import(load_la_config(la / "la.toml"), options)


def overview(out: Path) -> dict:
    return json.loads((out / "la-overview.json").read_text(encoding="utf-8"))


def finding_keys(findings: list[dict]) -> list[tuple]:
    return sorted((f["kind"], f["upn"], tuple(f["schools"])) for f in findings)


# --- the sample LA end to end -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[int, Path]:
    # A copy, because the import writes its log folder beside la.toml.
    la = copy_sample_la(tmp_path_factory.mktemp("sample") / "la")
    out = tmp_path_factory.mktemp("sample-la-out")
    code = main(["-q", "bulk-import", str(la), "--as-of", "2025-07-23", "--out", str(out)])
    return code, out


def test_sample_la_exact_findings(sample_run):
    code, out = sample_run
    report = overview(out)

    assert finding_keys(report["findings"]) == finding_keys(expected()["findings"])
    assert report["summary"] == {"overlapping_exclusions": 2, "dual_registration_conflict": 1,
                                 "suspension_total_across_schools": 1, "unknown_school": 1}


def test_sample_la_finding_details(sample_run):
    _, out = sample_run
    found = {(f["kind"], f["upn"]): f for f in overview(out)["findings"]}

    for planted in expected()["findings"]:
        finding = found[(planted["kind"], planted["upn"])]
        assert finding["severity"] == planted["severity"]
        assert finding["start_date"] == planted["start_date"]
        if "sessions" in planted:
            assert finding["sessions"] == planted["sessions"]
        if "actual" in planted:
            assert finding["actual"] == planted["actual"]


def test_sample_la_school_lines(sample_run):
    code, out = sample_run
    schools = {s["laestab"]: s for s in overview(out)["schools"]}

    assert code == expected()["exit_code"]
    assert sorted(schools) == [s["laestab"] for s in expected()["schools"]]
    for planted in expected()["schools"]:
        school = schools[planted["laestab"]]
        assert school["status"] == planted["status"]
        assert school["missing_on_portal"] == planted["missing_on_portal"]
        assert school["name"] == planted["name"]


def test_worker_log_lines_reach_log_file(la_dir, tmp_path):
    code = main(["bulk-import", str(la_dir), "--as-of", AS_OF.isoformat(), "--out", str(tmp_path / "out"),
                 "--workers", "2"])
    log = (la_dir / "logs" / "sync-agent.log").read_text(encoding="utf-8")

    assert code == expected()["exit_code"]
    # Lines logged inside the worker processes reach the command's log file.
    for laestab in ("9402001", "9402002", "9402003"):
        assert re.search(rf"{laestab}/\S+: \d+ records accepted", log), laestab


def log_pupil_warning(upn: str) -> None:
    """Log a warning naming a pupil, as a worker would (module level, so a worker can unpickle it)."""
    logging.getLogger("sync_agent.la_school").warning("pupil %s has marks at school 9402001", upn)


def test_worker_log_records_redacted_in_parent():
    received: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = received.append
    handler.addFilter(PupilDataFilter())
    project = logging.getLogger("sync_agent")
    project.addHandler(handler)
    try:
        with school_executor(1, None) as pool:
            pool.submit(log_pupil_warning, "A123456789012").result()
    finally:
        project.removeHandler(handler)

    messages = [record.getMessage() for record in received]
    assert "pupil [UPN] has marks at school 9402001" in messages
    assert not any("A123456789012" in message for message in messages)


def test_sample_la_broken_school_reason(sample_run):
    _, out = sample_run
    broken = next(s for s in overview(out)["schools"] if s["laestab"] == "9402006")

    assert broken["status"] == "failed"
    assert "unknown key sources[0].mappping" in broken["reason"]
    assert broken["report"] is None


def test_sample_la_school_reports_written(sample_run):
    _, out = sample_run

    for laestab in ["9402001", "9402002", "9402003", "9402004", "9402005"]:
        school = json.loads((out / laestab / "reconciliation.json").read_text(encoding="utf-8"))
        assert school["school"]["laestab"] == laestab
    assert not (out / "9402006").exists()


def test_sample_la_overview_files_private(sample_run):
    _, out = sample_run

    for name in ["la-overview.json", "la-overview.csv", "la-findings.csv", "la-overview.html", "la-overview.xlsx"]:
        mode = stat.S_IMODE((out / name).stat().st_mode)
        assert mode == 0o600, name


def test_overview_csv_call_order(sample_run):
    _, out = sample_run
    with (out / "la-overview.csv").open(encoding="utf-8-sig", newline="") as handle:
        laestabs = [row[0] for row in list(csv.reader(handle))[1:]]

    # Failed first, then by missing on portal: Dale Park 3, Abbey Fields 2, Castle Hill 1.
    assert laestabs[:4] == ["9402006", "9402004", "9402001", "9402003"]


def test_overview_html_links_schools(sample_run):
    _, out = sample_run
    page = (out / "la-overview.html").read_text(encoding="utf-8")

    assert '<a href="9402001/reconciliation.html">' in page
    assert "Schools needing a call first" in page
    assert "<script" not in page


def test_overview_xlsx_sheets_text(sample_run):
    _, out = sample_run
    workbook = openpyxl.load_workbook(out / "la-overview.xlsx", read_only=True)

    assert workbook.sheetnames == ["Schools", "overlapping_exclusions", "dual_registration_conflict",
                                   "suspension_total_across_schools", "unknown_school"]
    rows = list(workbook["Schools"].iter_rows(values_only=True))
    assert rows[0][0] == "LAESTAB"
    assert all(isinstance(cell, str) for row in rows[1:] for cell in row if cell is not None)
    workbook.close()


# --- broken folders among good ones -------------------------------------------------------------


def test_broken_folders_listed_others_run(la_dir, tmp_path):
    (la_dir / "9402007").mkdir()
    (la_dir / "abbey-fields").mkdir()
    (la_dir / "abbey-fields" / "exclusions.csv").write_text("UPN\r\n", encoding="utf-8")
    (la_dir / "9402008").mkdir()
    (la_dir / "9402008" / "notes.txt").write_text("exports to follow\n", encoding="utf-8")
    out = tmp_path / "out"

    code = run_cli(la_dir, out)

    schools = {s["laestab"]: s for s in overview(out)["schools"]}
    assert code == 2
    assert "the folder is empty" in schools["9402007"]["reason"]
    assert "not named by a 7-digit LAESTAB" in schools["abbey-fields"]["reason"]
    assert "no file matches the exclusions pattern" in schools["9402008"]["reason"]
    assert all(schools[laestab]["status"] == "ok" for laestab in ["9402001", "9402002", "9402003"])
    assert finding_keys(overview(out)["findings"]) == finding_keys(expected()["findings"])


def test_refused_export_fails_only_that_school(la_dir, tmp_path):
    (la_dir / "9402002" / "exclusions-2024-25.txt").write_bytes(b"")
    out = tmp_path / "out"

    code = run_cli(la_dir, out)

    schools = {s["laestab"]: s for s in overview(out)["schools"]}
    assert code == 2
    assert schools["9402002"]["status"] == "failed"
    assert "input refused" in schools["9402002"]["reason"]
    assert schools["9402001"]["status"] == "ok"


def test_school_agent_toml_wrong_laestab(la_dir):
    toml = la_dir / "9402003" / "agent.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"9402003"', '"9402033"'), encoding="utf-8")

    with pytest.raises(ConfigError, match="laestab is 9402033 but the folder is named 9402003"):
        school_config(load_la_config(la_dir / "la.toml"), la_dir / "9402003")


def test_la_toml_unknown_key_named(la_dir, tmp_path):
    toml = la_dir / "la.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('[la]\ncode = "940"', '[la]\ncode = "940"\nregion = "x"'),
                    encoding="utf-8")

    with pytest.raises(ConfigError, match=r"unknown key la\.region"):
        load_la_config(toml)


def test_la_toml_missing_reported(tmp_path, capsys):
    (tmp_path / "schools").mkdir()

    code = main(["bulk-import", str(tmp_path / "schools"), "--out", str(tmp_path / "out")])

    assert code == 2
    assert "la.toml" in capsys.readouterr().err


# --- rerun after a crash ------------------------------------------------------------------------


def test_odd_folder_entries_listed_failed(la_dir, tmp_path):
    (la_dir / "9402009").write_text("not a folder", encoding="utf-8")
    (la_dir / "9402011").symlink_to(la_dir / "9402012")
    (la_dir / "9402012").symlink_to(la_dir / "9402011")
    (la_dir / "9402010").symlink_to(la_dir / "9402002", target_is_directory=True)
    shutil.copytree(la_dir / "9402001", la_dir / "\uff19\uff14\uff10\uff12\uff10\uff10\uff17")  # fullwidth digits

    outcome = run_direct(la_dir, tmp_path / "out")

    schools = {s.laestab: s for s in outcome.overview.schools}
    for laestab in ("9402009", "9402011", "9402012"):
        assert schools[laestab].status == "failed"
        assert "is not a folder" in schools[laestab].reason
    assert schools["9402010"].status == "failed"
    assert "is a link to" in schools["9402010"].reason
    assert sorted(outcome.processed) == ["9402001", "9402002", "9402003", "9402004", "9402005"]
    [fullwidth] = [s for s in outcome.overview.schools if not s.laestab.isascii()]
    assert fullwidth.status == "failed"
    assert "LAESTAB" in fullwidth.reason


def test_rejected_portal_rows_listed_not_pushed(la_dir, tmp_path):
    portal = la_dir / "portal" / "all-schools.csv"
    text = portal.read_text(encoding="utf-8")
    # Leon Harper's suspension is on the portal, but its start date is unreadable there.
    portal.write_text(text.replace("FIXD,16/09/2024,AM", "FIXD,2024-09-16,AM", 1), encoding="utf-8")
    out = tmp_path / "out"

    outcome = run_direct(la_dir, out, push=True)
    write_la_overview(outcome.overview, out)

    assert [(r.line, r.field) for r in outcome.overview.portal_rejects] == [(3, "Start Date")]
    with (out / "la-portal-rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert [row["line"] for row in csv.DictReader(handle)] == ["3"]
    with (out / "9402004" / "rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert [(row["file"], row["line"]) for row in csv.DictReader(handle)] == [(str(portal), "3")]
    school = json.loads((out / "9402004" / "reconciliation.json").read_text(encoding="utf-8"))
    missing = [f for f in school["findings"] if f["kind"] == "missing_on_portal"]
    assert "F940200421901" not in {f["upn"] for f in missing}
    with (out / "9402004" / "push-plan.csv").open(encoding="utf-8-sig", newline="") as handle:
        planned = [row["UPN"] for row in csv.DictReader(handle)]
    assert planned
    assert "F940200421901" not in planned


def test_school_left_out_of_portal_not_pushed(la_dir, tmp_path):
    portal = la_dir / "portal" / "all-schools.csv"
    lines = portal.read_text(encoding="utf-8").splitlines(keepends=True)
    portal.write_text("".join(line for line in lines if ",9402002," not in line), encoding="utf-8")

    outcome = run_direct(la_dir, tmp_path / "out", push=True)

    school = next(s for s in outcome.overview.schools if s.laestab == "9402002")
    assert school.exit_code == 2
    assert school.push is None
    result = json.loads((tmp_path / "out" / "9402002" / "reconciliation.json").read_text(encoding="utf-8"))
    [portal_input] = [i for i in result["inputs"] if i["kind"] == "portal"]
    assert portal_input["status"] == "refused"
    assert "none for LAESTAB 9402002" in portal_input["reason"]
    assert not (tmp_path / "out" / "9402002" / "push-plan.csv").exists()


@pytest.mark.parametrize(("old", "new", "expected_message"), [
    ('mapping = "sims-csv"', 'mapping = "no-such-mapping"', "no-such-mapping"),
    ('academic_year = "2024-25"', 'academic_year = "2024-2025"', "invalid academic year"),
])
def test_shared_setting_error_stops_early(la_dir, tmp_path, old, new, expected_message):
    config = la_dir / "la.toml"
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")

    with pytest.raises(ConfigError, match=expected_message):
        run_direct(la_dir, tmp_path / "out")

    assert not (tmp_path / "out").exists()


def test_missing_import_folder_named(tmp_path, capsys):
    code = main(["bulk-import", str(tmp_path / "no-such-folder"), "--as-of", AS_OF.isoformat()])

    assert code == 2
    assert "no-such-folder was not found; check the path" in capsys.readouterr().err


def test_rerun_redoes_only_unfinished(la_dir, tmp_path):
    out = tmp_path / "out"
    first = run_direct(la_dir, out)
    assert sorted(first.processed) == ["9402001", "9402002", "9402003", "9402004", "9402005"]
    # A crash before these two schools finished leaves no completed checkpoint for them.
    for laestab in ["9402002", "9402004"]:
        (out / ".checkpoints" / laestab / "done.json").unlink()

    second = run_direct(la_dir, out)

    assert sorted(second.processed) == ["9402002", "9402004"]
    assert sorted(second.resumed) == ["9402001", "9402003", "9402005"]
    assert finding_keys([f.model_dump(mode="json") for f in second.overview.findings]) == \
        finding_keys(expected()["findings"])
    resumed = {s.laestab: s.resumed for s in second.overview.schools}
    assert resumed["9402001"] is True
    assert resumed["9402002"] is False


def test_rerun_redoes_damaged_checkpoints(la_dir, tmp_path):
    out = tmp_path / "out"
    first = run_direct(la_dir, out)
    (out / ".checkpoints" / "9402001" / "result.json").write_text("garbage{", encoding="utf-8")
    (out / ".checkpoints" / "9402004" / "marks.parquet").unlink()

    second = run_direct(la_dir, out)

    assert sorted(second.processed) == ["9402001", "9402004"]
    assert second.exit_code == first.exit_code
    assert finding_keys([f.model_dump(mode="json") for f in second.overview.findings]) == \
        finding_keys(expected()["findings"])
    third = run_direct(la_dir, out)
    assert third.processed == []


def test_rerun_restores_deleted_reports(la_dir, tmp_path):
    out = tmp_path / "out"
    run_direct(la_dir, out)
    shutil.rmtree(out / "9402002")
    (out / "9402001" / "reconciliation.html").unlink()

    second = run_direct(la_dir, out)

    assert second.processed == []
    for laestab in ("9402001", "9402002"):
        assert (out / laestab / "reconciliation.html").is_file()
        assert json.loads((out / laestab / "reconciliation.json").read_text(encoding="utf-8"))["school"]["laestab"] == laestab


def test_rerun_redoes_changed_inputs(la_dir, tmp_path):
    out = tmp_path / "out"
    run_direct(la_dir, out)
    export = la_dir / "9402001" / "exclusions-2024-25.csv"
    export.write_bytes(export.read_bytes() + b"\r\n")

    second = run_direct(la_dir, out)

    assert second.processed == ["9402001"]


def test_rerun_redoes_all_on_new_date(la_dir, tmp_path):
    out = tmp_path / "out"
    run_direct(la_dir, out)

    second = run_direct(la_dir, out, as_of=dt.date(2025, 7, 24))

    assert len(second.processed) == 5
    assert second.resumed == []


def test_rerun_logs_resumed_schools(la_dir, tmp_path, caplog):
    out = tmp_path / "out"
    run_direct(la_dir, out)

    with caplog.at_level(logging.INFO, logger="sync_agent.bulk_import"):
        run_direct(la_dir, out)

    resumed = [r for r in caplog.records if "its checkpoint is used" in r.getMessage()]
    assert len(resumed) == 5


# --- Dask ---------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="distributed is not installed")
def test_dask_cluster_same_findings(la_dir, tmp_path):
    import distributed

    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=1, dashboard_address=None,
                                  host="127.0.0.1", protocol="tcp") as cluster:
        outcome = run_direct(la_dir, tmp_path / "out", workers=None, scheduler=cluster.scheduler_address)

    assert sorted(outcome.processed) == ["9402001", "9402002", "9402003", "9402004", "9402005"]
    assert finding_keys([f.model_dump(mode="json") for f in outcome.overview.findings]) == \
        finding_keys(expected()["findings"])


def test_dask_unreachable_scheduler(la_dir, tmp_path):
    pytest.importorskip("distributed")

    with pytest.raises(ConfigError, match="could not be reached"):
        run_direct(la_dir, tmp_path / "out", workers=None, scheduler="tcp://127.0.0.1:9")


# --- push -----------------------------------------------------------------------------------------


def test_push_plan_changes_no_state(la_dir, tmp_path):
    out = tmp_path / "out"

    run_cli(la_dir, out, "--push")

    for laestab in MISSING_SCHOOLS:
        assert (out / laestab / "push-plan.csv").is_file()
    assert not (out / "9402002" / "push-plan.csv").exists()
    assert not (la_dir / "state.db").exists()
    assert not (la_dir / "outbox").exists()
    pushes = {s["laestab"]: s["push"] for s in overview(out)["schools"]}
    assert pushes["9402004"] == {"sent": False, "planned": 3, "delivered": 0, "already_there": 0,
                                 "rejected": 0, "failed": 0, "file": None}


def test_push_b2b_one_file_per_school(la_dir, tmp_path):
    out = tmp_path / "out"

    run_cli(la_dir, out, "--push", "--yes")

    files = sorted((la_dir / "outbox").iterdir())
    assert len(files) == 3
    assert all(any(laestab in f.name for f in files) for laestab in MISSING_SCHOOLS)
    pushes = {s["laestab"]: s["push"] for s in overview(out)["schools"]}
    assert pushes["9402004"]["delivered"] == 3
    assert pushes["9402001"]["delivered"] == 2
    assert pushes["9402002"] is None


def test_push_rerun_sends_nothing_again(la_dir, tmp_path):
    run_cli(la_dir, tmp_path / "out", "--push", "--yes")

    run_cli(la_dir, tmp_path / "out", "--push", "--yes")

    assert len(list((la_dir / "outbox").iterdir())) == 3


def test_yes_without_push_rejected(la_dir, tmp_path, capsys):
    code = run_cli(la_dir, tmp_path / "out", "--yes")

    assert code == 2
    assert "--yes sends pushes and needs --push" in capsys.readouterr().err


# --- progress -------------------------------------------------------------------------------------


def test_progress_log_lines_off_terminal(caplog):
    with caplog.at_level(logging.INFO, logger="sync_agent.la_progress"):
        with PhaseProgress("schools", 3, interval=0, terminal=False) as progress:
            progress.advance(records=10)
            progress.advance(records=5)

    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("schools: 1 of 3 schools done, 10 records")
    assert lines[-1].startswith("schools: finished 2 of 3 schools, 15 records")
