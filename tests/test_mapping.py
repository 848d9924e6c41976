"""Mapping files: built-in and custom ones load; invalid ones raise errors naming file and key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders import record, run_cli, write_config, write_portal_csv, write_sims_csv
from sync_agent.errors import ConfigError, MappingError
from sync_agent.mapping import built_in_names, load_mapping

HEADER = '[mapping]\nname = "custom"\nkind = "exclusions"\nformat = "{format}"\n{options}\n'


def write_mapping(folder: Path, body: str, *, fmt: str = "delimited", options: str = "") -> Path:
    path = folder / "custom.toml"
    path.write_text(HEADER.format(format=fmt, options=options) + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["sims-csv", "portal-csv", "portal-json"])
def test_built_in_mapping_loads(name: str) -> None:
    mapping = load_mapping(name)

    assert mapping.name == name
    assert mapping.path is None
    assert mapping.source == f"built-in mapping {name}"
    assert name in built_in_names()


def test_unknown_built_in_name() -> None:
    with pytest.raises(ConfigError, match="'sims-xlsx' is not a built-in mapping"):
        load_mapping("sims-xlsx")


def test_custom_mapping_by_path(tmp_path: Path) -> None:
    write_mapping(tmp_path, '[fields.upn]\ncolumns = ["Pupil UPN"]\nrequired = true\n'
                            '[tables.reason]\nDB = ["PD", "Persistent disruption"]\n')

    mapping = load_mapping("custom.toml", tmp_path)

    assert mapping.kind == "exclusions"
    assert mapping.path == (tmp_path / "custom.toml").resolve()
    assert mapping.lookups["reason"]["pd"] == "DB"
    assert mapping.lookups["reason"]["persistent disruption"] == "DB"
    assert mapping.lookups["reason"]["db"] == "DB"


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping file .*nowhere.toml was not found"):
        load_mapping("nowhere.toml", tmp_path)


@pytest.mark.parametrize(
    ("body", "options", "fmt", "expected"),
    [
        ('[fields.upn]\ncolumns = ["UPN"]\nrequried = true\n', "", "delimited",
         "unknown key fields.upn.requried"),
        ('[fields.upn]\ncolumns = ["UPN"]\n[colums]\n', "", "delimited", "unknown key colums"),
        ('[fields.pupil_colour]\ncolumns = ["Colour"]\n', "", "delimited",
         "fields.pupil_colour: unknown field for kind 'exclusions'"),
        ('[fields.category]\ncolumns = ["Type"]\ntable = "kinds"\n', "", "delimited",
         "fields.category.table: table 'kinds' is neither built in nor under [tables]"),
        ('[fields.upn]\npaths = ["//UPN"]\n', '[xml]\nrecord_path = "Exclusions/Exclusion"', "xml",
         "fields.upn.paths: '//UPN' is not a relative path"),
        ('[fields.upn]\ncolumns = ["UPN"]\n', '[xml]\nrecord_path = "Exclusions/Exclusion"', "xml",
         "fields.upn.columns: an XML mapping names elements with paths"),
        ('[fields.upn]\ncolumns = "UPN"\n', "", "delimited", "fields.upn.columns: Input should be a valid list"),
        ('[fields.surname]\ncolumns = ["Surname"]\ndate_formats = ["%d/%m/%Y"]\n', "", "delimited",
         "fields.surname.date_formats: surname is not a date field"),
        ('[fields.upn]\nrequired = true\n', "", "delimited", "fields.upn: give at least one column"),
    ],
    ids=["field key", "top key", "unknown field", "table nowhere", "bad xml path", "columns in xml",
         "wrong type", "dates on text", "no column"],
)
def test_invalid_mapping_names_key_path(tmp_path: Path, body: str, options: str, fmt: str, expected: str) -> None:
    path = write_mapping(tmp_path, body, fmt=fmt, options=options)

    with pytest.raises(MappingError) as caught:
        load_mapping(str(path))

    message = str(caught.value)
    assert message.startswith(f"{path.resolve()}: ")
    assert expected in message
    assert "(top level)" not in message


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, "[fields.upn\n")

    with pytest.raises(ConfigError, match=r"custom\.toml: invalid TOML"):
        load_mapping(str(path))


def test_value_for_two_canonicals_rejected(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, '[fields.upn]\ncolumns = ["UPN"]\n'
                                   '[tables.category]\nsuspension = ["Internal"]\npermanent = ["internal"]\n')

    with pytest.raises(MappingError) as caught:
        load_mapping(str(path))

    assert "tables.category: 'internal' maps to both 'suspension' and 'permanent'" in str(caught.value)
    assert str(path.resolve()) in str(caught.value)


def test_built_in_label_moved_rejected(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, '[fields.upn]\ncolumns = ["UPN"]\n[tables.category]\npermanent = ["Fixed Term"]\n')

    with pytest.raises(MappingError, match="'Fixed Term' maps to both 'suspension' and 'permanent'"):
        load_mapping(str(path))


def test_new_canonical_in_built_in_table(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, '[fields.upn]\ncolumns = ["UPN"]\n[tables.category]\nexpelled = ["Internal"]\n')

    with pytest.raises(MappingError) as caught:
        load_mapping(str(path))

    assert "tables.category.expelled: 'expelled' is not a value of the built-in table 'category'" in str(caught.value)
    assert "lunchtime, permanent, suspension" in str(caught.value)


def test_required_column_missing_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exports = write_sims_csv(tmp_path / "exclusions.csv", [record()])
    text = exports.read_text(encoding="utf-8").replace("Start Date", "Begins")
    exports.write_text(text, encoding="utf-8")
    write_portal_csv(tmp_path / "portal.csv", [record()])
    write_config(tmp_path)

    code = run_cli(tmp_path)

    err = capsys.readouterr().err
    assert code == 2
    assert "required column 'Start Date' (field start_date) is missing" in err
    assert str(tmp_path / "exclusions.csv") in err
    assert "built-in mapping sims-csv" in err
    assert "'Begins'" in err
