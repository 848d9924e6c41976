"""``sync-agent push`` end to end: the sample school against the reference portal on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from reference_portal import ReferencePortal

from sync_agent.cli import main
from sync_agent.codelists import reason_codes
from sync_agent.mapping import load_mapping
from sync_agent.pipeline import load_input
from sync_agent.push_step import wire_payload

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
TOKEN_ENV = "SYNC_AGENT_TEST_PORTAL_TOKEN"


def sample_portal_payloads() -> list[dict]:
    """Return the sample portal export's records as wire payloads, to seed the reference portal."""
    mapping = load_mapping("portal-csv")
    loaded = load_input(SAMPLE / "portal" / "portal-export.csv", "portal", mapping, laestab="9404123",
                        settle_seconds=0, reasons=reason_codes())
    return [wire_payload(record) for record in loaded.validated.records.to_dict("records")]


@pytest.fixture
def school(tmp_path, monkeypatch):
    """A copy of the sample school whose portal is the reference portal."""
    folder = tmp_path / "school"
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("reports", "state.db*", "logs"))
    portal = ReferencePortal()
    with portal:
        for payload in sample_portal_payloads():
            portal.store(payload, key=None)
        config = (folder / "agent.toml").read_text(encoding="utf-8")
        config = config.replace('mode = "export"', f'mode = "http"\nurl = "{portal.url}"\ntoken_env = "{TOKEN_ENV}"', 1)
        (folder / "agent.toml").write_text(config, encoding="utf-8")
        monkeypatch.setenv(TOKEN_ENV, portal.token)
        yield folder, portal


def run(folder: Path, *extra: str) -> int:
    return main(["push", "--config", str(folder / "agent.toml"), "--as-of", "2025-07-23", *extra])


def test_push_without_yes_sends_nothing(school, capsys):
    folder, portal = school
    before = len(portal.records)

    code = run(folder, "--out", str(folder / "plan"))

    assert code == 0
    assert len(portal.records) == before
    assert not (folder / "state.db").exists()
    assert (folder / "plan" / "push-plan.csv").exists()
    assert (folder / "plan" / "push-plan.xlsx").exists()
    assert "nothing was sent" in capsys.readouterr().out


def test_push_yes_delivers_missing_once(school, capsys):
    folder, portal = school
    before = len(portal.records)

    first = run(folder, "--yes")
    first_output = capsys.readouterr().out
    second = run(folder, "--yes")
    second_output = capsys.readouterr().out

    assert first == 0
    assert "delivered: 3" in first_output
    assert len(portal.records) == before + 3
    assert second == 0
    assert "delivered: 0" in second_output
    assert len(portal.records) == before + 3


def test_portal_check_reports_bad_token(school, monkeypatch, capsys):
    folder, _ = school
    monkeypatch.setenv(TOKEN_ENV, "wrong-token")

    code = main(["portal-check", "--config", str(folder / "agent.toml")])

    assert code == 2
    assert "token" in capsys.readouterr().out.lower()


def test_portal_check_passes_with_good_token(school, capsys):
    folder, _ = school

    code = main(["portal-check", "--config", str(folder / "agent.toml")])

    assert code == 0
