"""Reading the portal's records through its REST API, for ``[portal] mode = "http"`` and for push.

The records go through the same map and validate steps as a portal export file, with the built-in
``portal-json`` mapping, so a record the portal holds in an unexpected shape becomes a reject, not
a crash.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import pandas as pd

from sync_agent.codelists import reason_codes
from sync_agent.config import AgentConfig
from sync_agent.connectors.portal_json import items_to_rawtable
from sync_agent.connectors.portal_rest import PortalClient
from sync_agent.errors import ConfigError
from sync_agent.mapper import map_records
from sync_agent.mapping import load_mapping
from sync_agent.result import InputSummary
from sync_agent.validate import validate_records

logger = logging.getLogger(__name__)


def portal_client(config: AgentConfig) -> PortalClient:
    """Build the REST client from ``[portal]``; the token comes from the environment only."""
    portal = config.portal
    if portal is None or not portal.url:
        raise ConfigError(f"{config.config_path}: [portal] url is not set; give the portal API base URL")
    return PortalClient.from_config(
        url=portal.url,
        token_env=portal.token_env,
        ca_bundle=config.resolve(portal.ca_bundle) if portal.ca_bundle else None,
        connect_timeout_seconds=portal.connect_timeout_seconds,
        request_deadline_seconds=portal.request_deadline_seconds,
        max_retry_after_seconds=portal.max_retry_after_seconds,
        rate_limit_per_second=portal.rate_limit_per_second,
    )


def academic_years(period_from: dt.date, period_to: dt.date) -> list[str]:
    """Return the academic years ("2024-25") a period touches, in order."""
    first = period_from.year if period_from.month >= 8 else period_from.year - 1
    last = period_to.year if period_to.month >= 8 else period_to.year - 1
    return [f"{year}-{(year + 1) % 100:02d}" for year in range(first, last + 1)]


def make_http_reader(client: PortalClient, period: tuple[dt.date, dt.date]):
    """Return a portal reader for ``run_reconcile`` that reads every page for the period's years."""

    def read(config: AgentConfig):
        from sync_agent.pipeline import LoadedInput

        items = []
        for year in academic_years(*period):
            items += client.list_exclusions(config.school.laestab, year)
        label = f"{config.portal.url} (portal API)"
        raw = items_to_rawtable(items, label)
        mapping = load_mapping("portal-json")
        mapped = map_records(raw, mapping)
        validated = validate_records(mapped, mapping, reason_codes(config.codes.newer_cbds_from))
        # The reader keeps its source as a file path, which turns the URL's "//" into "/", so the
        # label is set again where a data manager reads it (rejects.csv).
        validated.file = label
        validated.rejects["file"] = label
        validated.records["source_file"] = label
        summary = InputSummary(path=label, kind="portal", records=len(validated.records),
                               rejects=int(validated.rejects["line"].nunique()) if len(validated.rejects) else 0)
        logger.info("read %d portal records through the API", len(items))
        return LoadedInput(summary, validated)

    return read


def read_portal_api(config: AgentConfig, period: tuple[dt.date, dt.date]) -> tuple[Callable | None, pd.DataFrame | None]:
    """Read the portal's records once through its REST API when ``[portal] mode = "http"``.

    Returns the validated records and a portal reader for ``run_reconcile`` that returns those
    same records, so a run compares exactly what it read. Returns ``(None, None)`` in export mode.
    Raises ``PortalAuthError`` when the token is missing or refused, and ``PortalError`` when the
    portal cannot be reached.
    """
    if config.portal is None or config.portal.mode != "http":
        return None, None
    with portal_client(config) as client:
        loaded = make_http_reader(client, period)(config)
    return (lambda _config: loaded), loaded.validated.records
