"""The init command: a starter agent.toml that loads, from options or prompts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sync_agent.cli import cli
from sync_agent.cli import init as init_module
from sync_agent.config import load_config
from sync_support import run_command


def test_init_writes_loadable_config(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"

    code = run_command("init", "--path", str(path), "--laestab", "9402001", "--school-name", 'St Mary\'s "Upper"',
                       "--exclusions", "exports\\exclusions.csv", "--portal", "portal/export.csv")

    assert code == 0
    config = load_config(path)
    assert config.school.laestab == "9402001"
    assert config.school.name == 'St Mary\'s "Upper"'
    assert config.sources[0].path == "exports\\exclusions.csv"
    assert config.sources[0].mapping == "sims-csv"
    assert config.portal.path == "portal/export.csv"
    assert config.push.enabled is False


def test_init_without_portal_loads(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"

    assert run_command("init", "--path", str(path), "--laestab", "9402001", "--school-name", "Oak",
                       "--exclusions", "exclusions.csv") == 0

    assert load_config(path).portal is None
    assert "# [portal]" in path.read_text(encoding="utf-8")


def test_init_keeps_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("# mine\n", encoding="utf-8")

    code = run_command("init", "--path", str(path), "--laestab", "9402001", "--school-name", "Oak",
                       "--exclusions", "exclusions.csv")

    assert code == 2
    assert path.read_text(encoding="utf-8") == "# mine\n"
    assert "--force" in capsys.readouterr().err


def test_init_force_replaces(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("# mine\n", encoding="utf-8")

    assert run_command("init", "--path", str(path), "--laestab", "9402001", "--school-name", "Oak",
                       "--exclusions", "exclusions.csv", "--force") == 0

    assert load_config(path).school.name == "Oak"


@pytest.mark.parametrize("laestab", ["940200", "94020011", "940A001"])
def test_init_rejects_bad_laestab(tmp_path: Path, capsys: pytest.CaptureFixture[str], laestab: str) -> None:
    path = tmp_path / "agent.toml"

    code = run_command("init", "--path", str(path), "--laestab", laestab, "--school-name", "Oak",
                       "--exclusions", "exclusions.csv")

    assert code == 2
    assert "a LAESTAB is 7 digits" in capsys.readouterr().err
    assert not path.exists()


def test_init_missing_flag_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command("init", "--path", str(tmp_path / "agent.toml"), "--laestab", "9402001",
                       "--exclusions", "exclusions.csv")

    assert code == 2
    assert "--school-name is missing" in capsys.readouterr().err


def test_init_unknown_mis_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_command("init", "--path", str(tmp_path / "agent.toml"), "--laestab", "9402001",
                       "--school-name", "Oak", "--exclusions", "e.csv", "--mis", "portal-csv")

    assert code == 2
    assert "is not a built-in exclusions mapping" in capsys.readouterr().err


def test_init_prompts_on_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_module, "stdin_is_terminal", lambda: True)
    path = tmp_path / "agent.toml"

    result = CliRunner().invoke(cli, ["init", "--path", str(path)],
                                input="9402001\nOak Primary\n\nexports/exclusions.csv\n\n")

    assert result.exit_code == 0, result.output
    config = load_config(path)
    assert config.school.name == "Oak Primary"
    assert config.sources[0].mapping == "sims-csv"
    assert config.sources[0].path == "exports/exclusions.csv"
    assert config.portal is None
