"""``sync-agent portal-check``: test the portal URL, TLS and token with one read request."""

from __future__ import annotations

import datetime as dt

import click

from sync_agent.cli.common import ACADEMIC_YEAR_OPTION, AS_OF_OPTION, CONFIG_OPTION, parse_as_of
from sync_agent.config import load_config
from sync_agent.errors import EXIT_CANNOT_RUN, EXIT_OK


@click.command("portal-check")
@CONFIG_OPTION
@AS_OF_OPTION
@ACADEMIC_YEAR_OPTION
def portal_check(config_path, as_of, academic_year) -> int:
    """Check the portal URL, TLS certificate and token with one read request.

    Exit 0 when the portal answered, 2 when it did not, with the part that failed.
    """
    from sync_agent.calendar import SchoolCalendar
    from sync_agent.portal_http import portal_client

    config = load_config(config_path)
    day: dt.date = parse_as_of(as_of)
    year = academic_year or config.period.academic_year or SchoolCalendar.academic_year_of(day)
    with portal_client(config) as client:
        result = client.check(config.school.laestab, year)
    click.echo(result.message)
    return EXIT_OK if result.ok else EXIT_CANNOT_RUN
