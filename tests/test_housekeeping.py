"""Housekeeping: only run folders older than keep_days are deleted; latest/ and others stay."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from sync_agent.housekeeping import delete_old_run_folders, run_folder_time
from sync_support import run_folders, run_sync, small_school

NOW = dt.datetime(2025, 3, 14, 7, 0, 2, tzinfo=dt.timezone.utc)


def make_folders(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "reconciliation.json").write_text("{}", encoding="utf-8")


def test_only_old_run_folders_deleted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    make_folders(tmp_path, [
        "20250201T070002Z", "20250201T070002Z-2", "20250310T070002Z", "latest", "archive-2019",
        "20190101T000000Z-notes", ".latest.old-1a2b3c4d",
    ])
    (tmp_path / "20190101T000000Z.txt").write_text("a user's file", encoding="utf-8")

    with caplog.at_level(logging.INFO, logger="sync_agent"):
        outcome = delete_old_run_folders(tmp_path, keep_days=30, now=NOW)

    assert sorted(p.name for p in outcome.deleted_folders) == ["20250201T070002Z", "20250201T070002Z-2"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".latest.old-1a2b3c4d", "20190101T000000Z-notes", "20190101T000000Z.txt",
                    "20250310T070002Z", "archive-2019", "latest"]
    assert "deleted the run folder" in caplog.text


def test_symlinked_run_folder_kept(tmp_path: Path) -> None:
    make_folders(tmp_path, ["elsewhere"])
    (tmp_path / "20200101T000000Z").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    outcome = delete_old_run_folders(tmp_path, keep_days=30, now=NOW)

    assert outcome.deleted_folders == []
    assert (tmp_path / "elsewhere" / "reconciliation.json").is_file()


@pytest.mark.parametrize(("name", "expected"), [
    ("20250314T070002Z", NOW),
    ("20250314T070002Z-12", NOW),
    ("20251314T070002Z", None),
    ("latest", None),
    ("20250314T070002", None),
])
def test_run_folder_time(name: str, expected: dt.datetime | None) -> None:
    assert run_folder_time(name) == expected


def test_sync_deletes_old_run_folders(tmp_path: Path) -> None:
    small_school(tmp_path, extra="[output]\nkeep_days = 30\n")
    make_folders(tmp_path / "reports", ["20200101T000000Z", "notes"])

    assert run_sync(tmp_path) == 1

    names = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert "20200101T000000Z" not in names
    assert "notes" in names
    assert "latest" in names
    assert len(run_folders(tmp_path)) == 1
