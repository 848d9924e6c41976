"""The ``sync-agent`` command line: one click group, one module per command.

Errors from the project's exception family are caught once, in ``main``, and turned into a message
on stderr and the exit code the error carries (see ``sync_agent.errors``).
"""

from __future__ import annotations

import logging
import sys

import click

from sync_agent import __version__
from sync_agent.cli.common import configure_logging
from sync_agent.errors import EXIT_CANNOT_RUN, EXIT_INTERRUPTED, SyncAgentError

logger = logging.getLogger(__name__)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sync-agent")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Format of log lines on stderr.")
@click.option("-v", "--verbose", count=True, help="More detail in the log (-v: DEBUG).")
@click.option("-q", "--quiet", count=True, help="Less detail in the log (-q: warnings and errors only).")
@click.pass_context
def cli(ctx: click.Context, log_format: str, verbose: int, quiet: int) -> None:
    """Keep a school's exclusion records in step between the MIS, the register and the LA portal."""
    ctx.ensure_object(dict)
    ctx.obj["log_format"] = log_format
    configure_logging(log_format=log_format, verbosity=verbose - quiet)


def _register() -> None:
    from sync_agent.cli import accept, bulk_import, history, init, portal_check, push, reconcile, sync, validate

    cli.add_command(reconcile.reconcile)
    cli.add_command(push.push)
    cli.add_command(portal_check.portal_check)
    cli.add_command(sync.sync)
    cli.add_command(history.history)
    cli.add_command(accept.accept)
    cli.add_command(init.init)
    cli.add_command(validate.validate)
    cli.add_command(bulk_import.bulk_import)


_register()


_LOG_FLAGS = frozenset({"-v", "-vv", "-vvv", "--verbose", "-q", "-qq", "--quiet"})


def hoist_log_options(args: list[str]) -> list[str]:
    """Move logging options written after the command name in front of it.

    ``-v``, ``-q`` and ``--log-format`` are options of the group, but users write them after the
    command too (``sync-agent sync -v``); both places work.
    """
    front, rest = [], []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg in _LOG_FLAGS or arg.startswith("--log-format="):
            front.append(arg)
        elif arg == "--log-format" and index + 1 < len(args):
            front += [arg, args[index + 1]]
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return (or exit with) the documented exit code."""
    args = hoist_log_options(list(sys.argv[1:] if argv is None else argv))
    try:
        code = cli.main(args=args, prog_name="sync-agent", standalone_mode=False)
    except SyncAgentError as exc:
        click.echo(f"sync-agent: error: {exc}", err=True)
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("sync-agent: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("sync-agent: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = EXIT_CANNOT_RUN
    except Exception as exc:  # noqa: BLE001 - a scheduler needs exit code 2, not a crash code
        # An unexpected error is a bug. A scheduled task must still exit with a documented code,
        # so the traceback goes to the log for the bug report.
        logger.exception("internal error")
        click.echo(f"sync-agent: internal error: {type(exc).__name__}: {exc}. This is a bug in sync-agent; "
                   "the log has the details", err=True)
        code = EXIT_CANNOT_RUN
    code = code if isinstance(code, int) else 0
    if argv is None:
        sys.exit(code)
    return code
