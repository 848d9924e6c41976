"""Capita ONE B2B exclusion XML files written for an LA to import."""

from __future__ import annotations

import datetime as dt
import os
import sys

import pytest
from lxml import etree

from sync_agent.connectors import b2b_writer
from sync_agent.connectors.b2b_writer import write_b2b_file
from sync_agent.errors import ConfigError

CREATED = dt.datetime(2025, 3, 14, 7, 0, 2, tzinfo=dt.timezone.utc)
SUSPENSION = {"laestab": "9402001", "upn": "d801999924001", "surname": "O'Brien", "forename": "Siobhan",
              "date_of_birth": "2012-02-14", "category": "FIXD", "start_date": "2024-09-16",
              "start_session": "PM", "end_date": "2024-09-17", "end_session": "PM", "sessions": 3,
              "reasons": ["PP", "VA", "DB"]}
PERMANENT = {"laestab": "9402001", "upn": "D801999924001", "category": "PERM", "start_date": "2024-10-01",
             "start_session": "AM", "end_date": None, "end_session": None, "sessions": None,
             "reasons": ["OW"]}


def test_pupil_groups_exclusions(tmp_path):
    path = write_b2b_file(tmp_path, "9402001", [SUSPENSION, PERMANENT], created_at=CREATED)
    doc = etree.parse(str(path))
    assert path.name == "exclusions-9402001-20250314T070002000000Z.xml"
    assert doc.getroot().tag == "B2BExclusions"
    assert doc.findtext("Header/CreatedAt") == "2025-03-14T07:00:02+00:00"
    [pupil] = doc.findall("Pupils/Pupil")
    assert pupil.findtext("UPN") == "D801999924001"
    assert pupil.findtext("Surname") == "O'Brien"
    first, second = pupil.findall("Exclusions/Exclusion")
    assert first.xpath("Reasons/Reason/text()") == ["PP", "VA", "DB"]
    assert first.findtext("SchoolDays") == "1.5"
    assert first.findtext("StartTime") == "PM"
    assert second.findtext("Category") == "PERM"
    assert second.find("EndDate") is None
    assert second.find("SchoolDays") is None


def test_missing_names_are_left_out(tmp_path):
    doc = etree.parse(str(write_b2b_file(tmp_path, "9402001", [PERMANENT], created_at=CREATED)))
    pupil = doc.find("Pupils/Pupil")
    assert pupil.find("Surname") is None
    assert pupil.find("DOB") is None


def test_control_characters_are_dropped(tmp_path):
    odd = {**SUSPENSION, "surname": "Smi\x07th"}
    doc = etree.parse(str(write_b2b_file(tmp_path, "9402001", [odd], created_at=CREATED)))
    assert doc.findtext("Pupils/Pupil/Surname") == "Smith"


def test_file_is_owner_only_and_complete(tmp_path):
    path = write_b2b_file(tmp_path, "9402001", [SUSPENSION], created_at=CREATED)
    assert path.stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_failed_rename_leaves_no_file(tmp_path, monkeypatch):
    def fail_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(b2b_writer.os, "replace", fail_replace)
    with pytest.raises(ConfigError, match="disk full"):
        write_b2b_file(tmp_path, "9402001", [SUSPENSION], created_at=CREATED)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="Windows ignores POSIX permission bits")
def test_new_outbox_folders_owner_only(tmp_path):
    outbox = tmp_path / "exports" / "outbox"
    previous = os.umask(0o022)
    try:
        write_b2b_file(outbox, "9402001", [SUSPENSION], created_at=CREATED)
    finally:
        os.umask(previous)
    assert (tmp_path / "exports").stat().st_mode & 0o777 == 0o700
    assert outbox.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(sys.platform == "win32", reason="Windows ignores POSIX permission bits")
def test_existing_outbox_keeps_permissions(tmp_path):
    tmp_path.chmod(0o755)
    write_b2b_file(tmp_path, "9402001", [SUSPENSION], created_at=CREATED)
    assert tmp_path.stat().st_mode & 0o777 == 0o755
