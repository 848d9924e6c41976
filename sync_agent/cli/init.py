"""``sync-agent init``: write a commented starter ``agent.toml`` for one school."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import click

from sync_agent.config import load_config
from sync_agent.errors import ConfigError
from sync_agent.mapping import built_in_names, load_mapping

logger = logging.getLogger(__name__)

LAESTAB = re.compile(r"[0-9]{7}")


def exclusions_mappings() -> list[str]:
    """Return the names of the built-in mappings that read MIS exclusions exports."""
    return [name for name in built_in_names() if load_mapping(name).kind == "exclusions"]


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def toml_string(text: str) -> str:
    """Return ``text`` as a TOML basic string (JSON string escapes are valid TOML escapes)."""
    return json.dumps(text, ensure_ascii=False)


def ask(value: str | None, flag: str, prompt: str, *, default: str | None = None) -> str:
    """Return ``value``, or prompt for it on a terminal, or raise ConfigError naming ``flag``."""
    if value is not None:
        return value
    if stdin_is_terminal():
        return click.prompt(prompt, default=default, show_default=default is not None)
    if default is not None:
        return default
    raise ConfigError(f"{flag} is missing: give {flag} VALUE (standard input is not a terminal, so it cannot be asked for)")


def checked_laestab(value: str) -> str:
    value = value.strip()
    if not LAESTAB.fullmatch(value):
        raise ConfigError(
            f"--laestab {value!r} is invalid: a LAESTAB is 7 digits, the 3-digit LA code and the "
            "4-digit establishment number, such as 9402001"
        )
    return value


@click.command()
@click.option("--path", "path", type=click.Path(path_type=Path, dir_okay=False), default=Path("agent.toml"),
              show_default=True, help="Where to write the configuration file.")
@click.option("--laestab", help="The school's LAESTAB: 3-digit LA code and 4-digit establishment number.")
@click.option("--school-name", help="The school's name, shown at the top of every report.")
@click.option("--mis", help="The built-in mapping of the MIS exclusions export (default: sims-csv).")
@click.option("--exclusions", help="Path of the MIS exclusions export, relative to the configuration file.")
@click.option("--portal", help="Path of the LA portal export file; leave out to add the portal later.")
@click.option("--force", is_flag=True, help="Replace an existing file at --path.")
def init(path: Path, laestab: str | None, school_name: str | None, mis: str | None, exclusions: str | None,
         portal: str | None, force: bool) -> int:
    """Write a commented starter agent.toml for one school.

    Asks for each value not given as an option when standard input is a terminal. Never replaces
    an existing file unless --force is given. Exit codes: 0 written, 2 not written.
    """
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists; give --force to replace it, or choose another --path")
    laestab = checked_laestab(ask(laestab, "--laestab", "LAESTAB (7 digits)"))
    school_name = ask(school_name, "--school-name", "School name")
    choices = exclusions_mappings()
    mis = ask(mis, "--mis", f"MIS export mapping ({', '.join(choices)})", default="sims-csv")
    if mis not in choices:
        raise ConfigError(f"--mis {mis!r} is not a built-in exclusions mapping; choose one of {', '.join(choices)}")
    exclusions = ask(exclusions, "--exclusions", "Path of the MIS exclusions export")
    if portal is None and stdin_is_terminal():
        portal = click.prompt("Path of the LA portal export file (empty: none yet)", default="", show_default=False)
    text = starter_config(laestab=laestab, school_name=school_name, mis=mis, exclusions=exclusions,
                          portal=portal or None)
    write_config_file(path, text)
    click.echo(f"Wrote {path}. Check it, then run: sync-agent reconcile --config {path}")
    return 0


def write_config_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` and check that it loads; remove it again if it does not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"could not write {path}: {exc.strerror or exc}; choose another --path") from exc
    try:
        load_config(path)
    except ConfigError:
        path.unlink(missing_ok=True)
        raise


def starter_config(*, laestab: str, school_name: str, mis: str, exclusions: str, portal: str | None) -> str:
    """Return the text of a starter agent.toml with a comment on every key."""
    if portal:
        portal_section = (
            "[portal]\n"
            'mode = "export"                  # export: a file downloaded from the LA portal; http: its API\n'
            f"path = {toml_string(portal)}\n"
            'mapping = "portal-csv"           # the built-in mapping for the portal\'s CSV export\n'
        )
    else:
        portal_section = (
            "# [portal]                       # add when the LA portal export or API is available\n"
            '# mode = "export"\n'
            '# path = "portal/portal-export.csv"\n'
            '# mapping = "portal-csv"\n'
        )
    return f"""# sync-agent configuration for {school_name.replace(chr(10), ' ')}, written by `sync-agent init`.
# Relative paths are relative to this file. Secrets never go in this file: passwords and tokens
# are read from the environment variables named below.

[school]
laestab = {toml_string(laestab)}             # 3-digit LA code + 4-digit establishment number
name = {toml_string(school_name)}

[[sources]]                      # one [[sources]] block per MIS export the agent reads
kind = "exclusions"              # exclusions, attendance or pupils
path = {toml_string(exclusions)}
mapping = {toml_string(mis)}
settle_seconds = 10              # a file whose size or time changes within this time is left for the next run

{portal_section}
# [period]
# academic_year = "2024-25"      # default: the academic year of the run date

# [calendar]
# path = "term-dates.toml"       # terms and closure days; bank holidays in England are built in

[push]
enabled = false                  # true lets the scheduled sync send missing records to the portal
target = "http"                  # http: the portal's API; b2b-file: a Capita ONE B2B XML file

[state]
path = "state.db"                # run history, push journal and reviewer decisions (SQLite)

[output]
dir = "reports"                  # each run writes reports/<run id>/ and refreshes reports/latest/
log_dir = "logs"                 # sync-agent.log, rotated at 5 MB, 5 old files kept
keep_days = 30                   # run folders older than this are deleted; latest/ is always kept

# [alerts]                       # an e-mail after a sync that exits 1 or 2: counts only, no pupil data
# smtp_host = "smtp.example.org"
# smtp_port = 587                # STARTTLS is always used
# from = "sync-agent@school.example"
# to = ["data.manager@school.example"]
# username = "sync-agent"
# password_env = "SYNC_AGENT_SMTP_PASSWORD"
"""
