"""Run one push of the payloads in a JSON file to a portal; the kill test starts and kills it.

Usage: python push_worker.py URL TOKEN STATE_DB PAYLOADS_JSON
Delays are scaled down (tiny backoff, no rate limit to speak of) so a run takes seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sync_agent.connectors.portal_rest import PortalClient
from sync_agent.journal import PushJournal
from sync_agent.push import build_plan, send


def main(url: str, token: str, state_db: str, payloads_json: str) -> int:
    payloads = json.loads(Path(payloads_json).read_text(encoding="utf-8"))
    client = PortalClient(
        url, token=token, ca_bundle=None, rate_limit_per_second=100_000,
        request_deadline_seconds=10, max_attempts=8, max_total_retry_seconds=30,
        backoff_initial_seconds=0.001, backoff_max_seconds=0.01, max_retry_after_seconds=0.05,
    )
    with client, PushJournal(Path(state_db)) as journal:
        summary = send(build_plan(payloads, journal), client, journal)
    print(summary.render())
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
