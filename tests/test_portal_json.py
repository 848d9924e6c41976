"""The portal JSON connector: damaged files refused whole, wrong shapes rejected, records located."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from builders import LAESTAB, permanent, read_report, record, run_cli, write_config, write_sims_csv
from sync_agent.connectors.portal_json import flatten_item, items_to_rawtable, read_portal_json
from sync_agent.connectors.rawtable import LINE_COLUMN
from sync_agent.errors import InputRefused


def wire_item(number: int, **changes: object) -> dict:
    item = {
        "id": f"EX-{number}", "laestab": LAESTAB, "upn": "D801999924001", "surname": "Ashworth",
        "forename": "Milo", "date_of_birth": "2012-02-14", "category": "FIXD", "start_date": "2024-03-04",
        "start_session": "AM", "end_date": "2024-03-05", "end_session": "PM", "sessions": 4,
        "reasons": ["DB"],
    }
    item.update(changes)
    return item


def write_page(path: Path, items: list[dict], *, indent: int | None = 1) -> Path:
    path.write_text(json.dumps({"items": items, "next_page": None}, indent=indent), encoding="utf-8")
    return path


def rejects_of(folder: Path) -> list[dict[str, str]]:
    text = (folder / "out" / "rejects.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(text.splitlines()))


def test_deep_nesting_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "portal.json"
    path.write_text('{"items":' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")

    with pytest.raises(InputRefused) as refused:
        read_portal_json(path)

    assert refused.value.path == str(path)
    assert "nests arrays or objects more than 32 levels deep" in refused.value.reason


def test_moderate_nesting_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "portal.json"
    path.write_text('{"items": [{"id": "EX-1", "extra": ' + "[" * 40 + "]" * 40 + "}]}", encoding="utf-8")

    with pytest.raises(InputRefused) as refused:
        read_portal_json(path)

    assert "levels deep" in refused.value.reason


def test_huge_integer_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "portal.json"
    path.write_text('{"items": [{"id": "EX-1", "sessions": ' + "7" * 5001 + "}]}", encoding="utf-8")

    with pytest.raises(InputRefused) as refused:
        read_portal_json(path)

    assert "contains a number of 5001 digits" in refused.value.reason
    assert "export it again" in refused.value.reason


def test_deep_nesting_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    (tmp_path / "portal.json").write_text('{"items":' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 2

    [_, portal] = read_report(tmp_path)["inputs"]
    assert portal["status"] == "refused"
    assert "levels deep" in portal["reason"]
    assert "Traceback" not in capsys.readouterr().err


def test_huge_integer_exits_2(tmp_path: Path) -> None:
    write_sims_csv(tmp_path / "exclusions.csv", [record()])
    (tmp_path / "portal.json").write_text(
        '{"items": [{"id": "EX-1", "sessions": ' + "7" * 5001 + "}]}", encoding="utf-8"
    )
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 2

    [_, portal] = read_report(tmp_path)["inputs"]
    assert portal["status"] == "refused"
    assert "5001 digits" in portal["reason"]


def test_huge_integer_from_api_is_text() -> None:
    flat = flatten_item({"id": "EX-1", "sessions": 10**5000})

    assert flat["sessions"].startswith("(a number of about 5000 digits")


def test_indented_file_keeps_physical_lines(tmp_path: Path) -> None:
    path = write_page(tmp_path / "portal.json", [wire_item(1), wire_item(2)])

    lines = read_portal_json(path).frame[LINE_COLUMN].tolist()

    text_lines = path.read_text(encoding="utf-8").splitlines()
    assert [text_lines[line - 1].strip() for line in lines] == ["{", "{"]
    assert lines[0] < lines[1]


def test_minified_file_numbers_items(tmp_path: Path) -> None:
    path = write_page(tmp_path / "portal.json", [wire_item(1), wire_item(2), wire_item(3)], indent=None)

    table = read_portal_json(path)

    assert table.frame[LINE_COLUMN].tolist() == [1, 2, 3]
    assert table.frame["id"].tolist() == ["EX-1", "EX-2", "EX-3"]


def test_list_in_scalar_field_kept_whole() -> None:
    flat = flatten_item(wire_item(1, upn=["X"], category={"code": "FIXD"}))

    assert flat["upn"] == 'JSON array ["X"]'
    assert flat["category"] == 'JSON object {"code": "FIXD"}'
    assert "upn[1]" not in flat
    assert "category.code" not in flat


def test_nested_reason_lists_kept_whole() -> None:
    flat = flatten_item(wire_item(1, reasons=[[["DB"]], {"code": "PA"}]))

    assert flat["reasons[1]"] == 'JSON array [["DB"]]'
    assert flat["reasons[2]"] == 'JSON object {"code": "PA"}'


def test_unknown_nested_fields_still_flattened() -> None:
    flat = flatten_item({"id": "EX-1", "pupil": {"upn": "X"}, "notes": [{"text": "a"}, "b"]})

    assert flat["pupil.upn"] == "X"
    assert flat["notes[1].text"] == "a"
    assert flat["notes[2]"] == "b"


def test_items_to_rawtable_default_lines() -> None:
    table = items_to_rawtable([wire_item(1), wire_item(2)], "portal API")

    assert table.frame[LINE_COLUMN].tolist() == [1, 2]


def test_wrong_shapes_reach_rejects(tmp_path: Path) -> None:
    write_sims_csv(tmp_path / "exclusions.csv", [record(), permanent()])
    items = [
        wire_item(1),
        wire_item(2, upn=["K801999924005"], category="PERM", start_date="2024-02-05", reasons=["PA"],
                  end_date=None, end_session=None, sessions=None),
        wire_item(3, upn="T801999924002", reasons=[[["DB"]]]),
    ]
    write_page(tmp_path / "portal.json", items, indent=None)
    write_config(tmp_path, portal="portal.json", portal_mapping="portal-json")

    assert run_cli(tmp_path) == 1

    rejects = [row for row in rejects_of(tmp_path) if row["file"].endswith("portal.json")]
    by_line = {row["line"]: row for row in rejects}
    assert set(by_line) == {"2", "3"}
    assert by_line["2"]["value"].casefold() == 'json array ["k801999924005"]'
    assert "blank" not in by_line["2"]["message"]
    assert 'JSON array [["DB"]]' in by_line["3"]["value"]
