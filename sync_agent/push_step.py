"""From a reconcile outcome to the push: the records to send and the send itself.

Only records behind open ``missing_on_portal`` findings are ever pushed: records that passed
validation, are in the MIS and not on the portal. Nothing on the portal is changed or deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sync_agent.codelists import categories
from sync_agent.config import AgentConfig
from sync_agent.pipeline import RunOutcome
from sync_agent.result import Result

if TYPE_CHECKING:
    from sync_agent.connectors.portal_rest import PortalClient
    from sync_agent.journal import PushJournal
    from sync_agent.push import PlanItem, PushSummary

logger = logging.getLogger(__name__)


def _date(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _text(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "" else str(value)


def wire_payload(record: dict[str, Any]) -> dict[str, Any]:
    """Return one validated MIS record as an exclusion on the wire (no portal ``id``)."""
    wire_codes = {name: c.wire_code for name, c in categories().items()}
    sessions = record.get("sessions")
    payload = {
        "laestab": record["laestab"],
        "upn": record["upn"],
        "surname": _text(record.get("surname")),
        "forename": _text(record.get("forename")),
        "date_of_birth": _date(record.get("date_of_birth")),
        "category": wire_codes[record["category"]],
        "start_date": _date(record["start_date"]),
        "start_session": _text(record.get("start_session")),
        "end_date": _date(record.get("end_date")),
        "end_session": _text(record.get("end_session")),
        "sessions": None if sessions is None or pd.isna(sessions) else int(sessions),
        "reasons": [r for r in (record.get("reason_1"), record.get("reason_2"), record.get("reason_3")) if _text(r)],
    }
    return {key: value for key, value in payload.items() if value is not None or key in {"end_date", "end_session", "sessions"}}


def missing_keys(result: Result) -> set[tuple]:
    """Return the ``record_key`` of each open ``missing_on_portal`` finding of ``result``."""
    return {(f.laestab, f.upn, f.category, f.start_date, f.start_session)
            for f in result.findings if f.kind == "missing_on_portal" and f.status == "open"}


def record_key(laestab: Any, upn: Any, category: Any, start_date: Any, start_session: Any) -> tuple:
    """Return the key that ties an MIS record to its ``missing_on_portal`` finding.

    The start session is part of it: a pupil's morning exclusion may be on the portal while the
    afternoon one of the same day is missing, and only the missing one may be sent.
    """
    return (laestab, upn, category, pd.Timestamp(start_date).date(),
            start_session if isinstance(start_session, str) else None)


def push_candidates(outcome: RunOutcome) -> list[dict[str, Any]]:
    """Return the wire payloads of the MIS records behind open ``missing_on_portal`` findings."""
    missing = missing_keys(outcome.result)
    if not missing or outcome.mis.empty:
        return []
    payloads = []
    seen = set()
    for record in outcome.mis.to_dict("records"):
        key = record_key(record["laestab"], record["upn"], record["category"], record["start_date"],
                         record["start_session"])
        if key in missing and key not in seen:
            seen.add(key)
            payloads.append(wire_payload(record))
    return payloads


@dataclass
class PushStepResult:
    delivered: int = 0
    already_there: int = 0
    rejected: int = 0
    failed: int = 0
    exit_code: int = 0
    text: str = ""
    file: Path | None = None

    def counts(self) -> dict[str, int]:
        return {"delivered": self.delivered, "already_there": self.already_there,
                "rejected": self.rejected, "failed": self.failed}


def push_missing(config: AgentConfig, outcome: RunOutcome, *, as_of: dt.date, report_dir: Path | None) -> PushStepResult:
    """Send the outcome's missing records through the journal to the configured target.

    Unlike ``sync-agent push --yes``, this scheduled step also re-sends records that failed in an
    earlier run and are still missing on the portal. The idempotency key keeps a re-send from
    storing a second copy, and without the re-send an unattended run would leave them unsent until
    someone runs ``push --retry-failed``. Records the portal rejected are re-sent only once corrected.
    """
    from sync_agent.journal import PushJournal
    from sync_agent.portal_http import portal_client
    from sync_agent.push import PushSummary, build_plan, send_b2b

    # NOTE: with [portal] mode = "export" and target "http", the candidates come from the export
    # file, not a fresh read of the portal as `sync-agent push` does, so a record keyed on the
    # portal by hand after the export was taken is sent again.
    candidates = push_candidates(outcome)
    state_path = config.resolve(config.state.path)
    with PushJournal(state_path) as journal:
        plan = build_plan(candidates, journal, target=config.push.target)
        if config.push.target == "b2b-file":
            summary = send_b2b(plan, journal, config.resolve(config.push.b2b_dir), laestab=config.school.laestab)
        elif not plan:
            summary = PushSummary()
        else:
            with portal_client(config) as client:
                summary = send_with_failed_retried(plan, client, journal)
    logger.info("push finished: exit code %d", summary.exit_code)
    return step_result(summary)


def send_with_failed_retried(plan: list[PlanItem], client: PortalClient, journal: PushJournal) -> PushSummary:
    """Send the plan's new and unresolved records, then its records that failed in an earlier run.

    The failed records are sent only when the first part did not stop the run (token refused,
    portal down).
    """
    from sync_agent.push import send

    # A failed record whose payload changed is pending again once recorded, and goes out with the rest.
    statuses = {record.journal_id: record.status for record in journal.begin_many(item.payload for item in plan)}
    failed_before = [item for item in plan if statuses[item.journal_id] == "failed"]
    summary = send([item for item in plan if statuses[item.journal_id] != "failed"], client, journal)
    if summary.stopped_by or not failed_before:
        if summary.stopped_by:
            summary.left_pending += [item.journal_id for item in failed_before]
        return summary
    logger.info("push: re-sending %d records that failed in an earlier run", len(failed_before))
    return merged(summary, send(failed_before, client, journal, retry_failed=True))


def merged(first: PushSummary, second: PushSummary) -> PushSummary:
    """Return one summary of two push runs made one after the other."""
    from sync_agent.push import PushSummary

    return PushSummary(
        delivered=first.delivered + second.delivered,
        already_there=first.already_there + second.already_there,
        rejected={**first.rejected, **second.rejected},
        failed={**first.failed, **second.failed},
        not_retried={**first.not_retried, **second.not_retried},
        left_pending=first.left_pending + second.left_pending,
        stopped_by=first.stopped_by or second.stopped_by,
        b2b_file=first.b2b_file or second.b2b_file,
    )


def step_result(summary) -> PushStepResult:
    """Return the counts of a ``PushSummary`` for the run record and the alert."""
    return PushStepResult(
        delivered=len(summary.delivered),
        already_there=len(summary.already_there),
        rejected=len(summary.rejected),
        failed=len(summary.failed) + len(summary.not_retried),
        exit_code=summary.exit_code,
        text=summary.render(),
        file=summary.b2b_file,
    )
