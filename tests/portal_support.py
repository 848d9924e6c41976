"""The sample school pointed at the reference portal on 127.0.0.1, for end-to-end tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from reference_portal import ReferencePortal

from sync_agent.codelists import reason_codes
from sync_agent.connectors.portal_rest import PortalClient
from sync_agent.mapping import load_mapping
from sync_agent.pipeline import load_input
from sync_agent.push_step import wire_payload

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
SAMPLE_AS_OF = "2025-07-23"
TOKEN_ENV = "SYNC_AGENT_TEST_PORTAL_TOKEN"


def sample_portal_payloads() -> list[dict]:
    """Return the sample portal export's records as wire payloads, to seed the reference portal."""
    mapping = load_mapping("portal-csv")
    loaded = load_input(SAMPLE / "portal" / "portal-export.csv", "portal", mapping, laestab="9404123",
                        settle_seconds=0, reasons=reason_codes())
    return [wire_payload(record) for record in loaded.validated.records.to_dict("records")]


def seed_sample_portal(portal: ReferencePortal) -> None:
    """Store every record of the sample portal export on ``portal``, as keyed in by hand (no key)."""
    for payload in sample_portal_payloads():
        status, reply = portal.store(payload, key=None)
        assert status == 201, f"seeding the reference portal failed: {reply}"


def copy_sample_school(folder: Path) -> Path:
    """Copy the sample school into ``folder``, without reports, logs or state from earlier runs."""
    shutil.copytree(SAMPLE, folder, ignore=shutil.ignore_patterns("reports", "state.db*", "logs"))
    return folder


def point_at_portal(folder: Path, portal: ReferencePortal) -> None:
    """Switch ``folder``/agent.toml from the portal export file to ``portal``'s REST API."""
    config_path = folder / "agent.toml"
    config = config_path.read_text(encoding="utf-8")
    http = f'mode = "http"\nurl = "{portal.url}"\ntoken_env = "{TOKEN_ENV}"'
    config_path.write_text(config.replace('mode = "export"', http, 1), encoding="utf-8")


def set_push(folder: Path, *, enabled: bool, target: str = "http", b2b_dir: str | None = None) -> None:
    """Set ``[push]`` in ``folder``/agent.toml."""
    config_path = folder / "agent.toml"
    config = config_path.read_text(encoding="utf-8")
    config = config.replace("enabled = false", f"enabled = {'true' if enabled else 'false'}", 1)
    config = config.replace('target = "http"', f'target = "{target}"', 1)
    if b2b_dir is not None:
        config = config.replace(f'target = "{target}"', f'target = "{target}"\nb2b_dir = "{b2b_dir}"', 1)
    config_path.write_text(config, encoding="utf-8")


@contextmanager
def sample_school_on_portal(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReferencePortal]:
    """Copy the sample school into ``folder`` and point it at a reference portal seeded with its
    portal export. The portal stops when the block ends."""
    copy_sample_school(folder)
    with ReferencePortal() as portal:
        seed_sample_portal(portal)
        point_at_portal(folder, portal)
        monkeypatch.setenv(TOKEN_ENV, portal.token)
        yield portal


def use_fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale the portal client's retry backoff down to milliseconds, so fault tests take seconds.

    Only the waits between attempts change: the attempt limit and every reply check stay as shipped.
    """
    original = PortalClient.from_config

    def from_config(cls: type[PortalClient], **kwargs: object) -> PortalClient:
        kwargs.setdefault("backoff_initial_seconds", 0.001)
        kwargs.setdefault("backoff_max_seconds", 0.01)
        return original(**kwargs)

    monkeypatch.setattr(PortalClient, "from_config", classmethod(from_config))
