"""Allow ``python -m sync_agent``, the same as the ``sync-agent`` command."""

from sync_agent.cli import main

main()
