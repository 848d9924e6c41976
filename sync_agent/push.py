"""Push plan and push run: send the exclusions missing on the portal, once each.

``build_plan`` and ``write_plan`` change no state. ``send`` records every record in the push
journal before it leaves and every outcome after, so a run killed at any point can be run again
without sending anything twice. ``send_b2b`` writes the plan as one Capita ONE B2B file instead.

``send`` works in batches of ``BATCH_SIZE`` records: one journal commit marks the whole batch
``sent``, up to ``MAX_POSTS_IN_FLIGHT`` POSTs run at once, and one commit records the batch's
outcomes. A crash mid-batch leaves the batch's records ``sent``. The next run resolves each by its
idempotency key (or a look-up first), so nothing is sent twice or lost. The cost is a few extra
409 replies or look-ups after a crash.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xlsxwriter

from sync_agent.connectors.b2b_writer import write_b2b_file
from sync_agent.connectors.portal_rest import PortalClient, PostOutcome
from sync_agent.errors import EXIT_ACTION_NEEDED, EXIT_CANNOT_RUN, EXIT_OK, PortalError
from sync_agent.journal import DONE, JournalRecord, PushJournal
from sync_agent.push_keys import idempotency_key, journal_id_for
from sync_agent.reports.safety import make_private_dir, neutralise_cell, open_private

log = logging.getLogger(__name__)

WHY_MISSING = "in the MIS, not on the portal"
# After this many records in a row fail for transient reasons the portal is taken to be down: the
# run stops and leaves the rest pending rather than spending the retry budget on every record.
MAX_CONSECUTIVE_FAILURES = 3
# Records marked ``sent`` in one journal commit, posted, then given their outcomes in one commit. A
# crash leaves at most this many records to resolve by key in the next run.
BATCH_SIZE = 50
# POSTs in flight at once. Kept small because the portal is shared by every school of the LA, and
# the client's rate limit (``[portal] rate_limit_per_second``) still spaces their starts.
MAX_POSTS_IN_FLIGHT = 4
PLAN_COLUMNS = (
    "Journal ID", "Pupil", "UPN", "Category", "Start date", "Start session", "End date",
    "End session", "Sessions", "Reasons", "Why", "Earlier outcome",
)


@dataclass(frozen=True)
class PlanItem:
    """One exclusion the push would send; ``earlier_status`` is its journal status, if any."""

    journal_id: str
    key: str
    payload: dict[str, Any]
    earlier_status: str | None = None
    earlier_error: str | None = None
    why: str = WHY_MISSING


@dataclass
class PushSummary:
    """Outcome of one push run, by journal id."""

    delivered: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    not_retried: dict[str, str] = field(default_factory=dict)
    left_pending: list[str] = field(default_factory=list)  # not sent, or outcome unknown
    stopped_by: str | None = None
    b2b_file: Path | None = None

    @property
    def exit_code(self) -> int:
        """2 if the run stopped (token refused, portal down), 1 if anything needs action, else 0."""
        if self.stopped_by:
            return EXIT_CANNOT_RUN
        if self.rejected or self.failed or self.not_retried:
            return EXIT_ACTION_NEEDED
        return EXIT_OK

    def render(self) -> str:
        """Return the summary as text for the terminal."""
        lines = [
            f"delivered: {len(self.delivered)}", f"already on the portal: {len(self.already_there)}",
            f"rejected: {len(self.rejected)}", f"failed: {len(self.failed)}",
        ]
        if self.b2b_file:
            lines.append(f"written to {self.b2b_file}")
        for journal_id, errors in self.rejected.items():
            lines.append(f"  {journal_id} rejected by the portal: {'; '.join(errors)}. Correct the record in the MIS")
        for journal_id, error in self.failed.items():
            lines.append(f"  {journal_id} failed: {error}. Run `sync-agent push --retry-failed` later")
        for journal_id, status in self.not_retried.items():
            lines.append(f"  {journal_id} {status} earlier and not re-sent: use --retry-failed or --dismiss {journal_id}")
        if self.stopped_by:
            lines.append(f"stopped: {self.stopped_by}")
            lines.append(f"{len(self.left_pending)} records left pending for the next run")
        return "\n".join(lines)


# --- plan -------------------------------------------------------------------------------


def build_plan(candidates: Iterable[Mapping[str, Any]], journal: PushJournal, *, target: str = "http") -> list[PlanItem]:
    """Return the candidates the journal does not already account for, without changing it.

    Left out: records delivered, already on the portal, dismissed, or carried by an earlier B2B
    file (for either target, since the LA may have imported that file), and repeats of one key.
    """
    plan: list[PlanItem] = []
    seen: set[str] = set()
    for payload in candidates:
        key = idempotency_key(payload)
        if key in seen:
            continue
        seen.add(key)
        record = journal.get_by_key(key)
        if record is not None and (record.status in DONE or record.b2b_file):
            continue
        plan.append(_plan_item(key, dict(payload), record))
    log.info("push plan for target %s: %d records to send", target, len(plan))
    return plan


def retry_plan(journal: PushJournal) -> list[PlanItem]:
    """Return the journal's failed records as a plan, with the payloads stored when they failed."""
    return [_plan_item(record.key, record.payload or {}, record) for record in journal.failed()]


def _plan_item(key: str, payload: dict[str, Any], record: JournalRecord | None) -> PlanItem:
    if record is None:
        return PlanItem(journal_id_for(key), key, payload)
    return PlanItem(record.journal_id, key, payload, record.status, record.last_error)


def plan_rows(plan: list[PlanItem]) -> list[list[str]]:
    """Return one row of text cells per plan item, in ``PLAN_COLUMNS`` order."""
    rows = []
    for item in plan:
        p = item.payload
        pupil = ", ".join(str(p[name]) for name in ("surname", "forename") if p.get(name))
        rows.append([
            item.journal_id, pupil, str(p.get("upn") or ""), str(p.get("category") or ""),
            str(p.get("start_date") or ""), str(p.get("start_session") or ""),
            str(p.get("end_date") or ""), str(p.get("end_session") or ""),
            "" if p.get("sessions") is None else str(p["sessions"]),
            " ".join(str(code) for code in p.get("reasons") or []), item.why, item.earlier_status or "",
        ])
    return rows


def write_plan(plan: list[PlanItem], out_dir: Path) -> tuple[Path, Path]:
    """Write ``push-plan.csv`` and ``push-plan.xlsx`` (owner-only files) and return their paths.

    Missing folders up to ``out_dir`` are created owner-only. Cells a spreadsheet would run as a
    formula are neutralised in the CSV and written as text in the XLSX file.
    """
    out_dir = make_private_dir(out_dir)
    rows = plan_rows(plan)
    csv_path = out_dir / "push-plan.csv"
    with open_private(csv_path, "w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(PLAN_COLUMNS)
        writer.writerows([[neutralise_cell(cell) for cell in row] for row in rows])
    xlsx_path = out_dir / "push-plan.xlsx"
    _write_plan_xlsx(xlsx_path, rows)
    return csv_path, xlsx_path


def _write_plan_xlsx(path: Path, rows: list[list[str]]) -> None:
    with open_private(path, "wb"):
        pass  # creates the file owner-only before xlsxwriter fills it
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False})
    sheet = workbook.add_worksheet("Push plan")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, PLAN_COLUMNS, bold)
    for index, row in enumerate(rows, start=1):
        for column, cell in enumerate(row):
            sheet.write_string(index, column, cell)
    sheet.freeze_panes(1, 0)
    workbook.close()
    os.chmod(path, 0o600)


def render_plan(plan: list[PlanItem]) -> str:
    """Return the plan as text for the terminal: one line per record, then a count."""
    if not plan:
        return "Nothing to push: every record in the MIS is on the portal or already sent."
    lines = []
    for row in plan_rows(plan):
        journal_id, pupil, upn, category, start, session, end, end_session, sessions, reasons, why, earlier = row
        span = f"{start} {session}" + (f" to {end} {end_session}" if end else "")
        note = f" ({earlier} earlier)" if earlier else ""
        lines.append(f"{journal_id}  {pupil or '(no name)'}  {upn}  {category}  {span}  "
                     f"sessions {sessions or '-'}  reasons {reasons or '-'}: {why}{note}")
    lines.append(f"{len(plan)} records to push. Run `sync-agent push --yes` to send them.")
    return "\n".join(lines)


# --- send -------------------------------------------------------------------------------


def send(plan: list[PlanItem], client: PortalClient, journal: PushJournal, *, retry_failed: bool = False) -> PushSummary:
    """Send the plan to the portal and record each outcome in the journal.

    Without ``retry_failed``, new and pending records are sent, records whose earlier outcome is
    unknown (still ``sent``) are resolved with the same key, and failed or rejected records are
    left alone unless their payload changed. With ``retry_failed``, only failed records are sent.
    A refused token stops the run, and so do ``MAX_CONSECUTIVE_FAILURES`` transient failures in a
    row, counted in the order the POSTs finish. Later batches stay pending, and the summary's exit
    code is then 2.
    Records of the stopped batch whose POST never started stay ``sent``, like those whose reply
    was lost: a record can only go back to ``pending`` safely if no POST of it can have left, and
    the next run resolves a ``sent`` record by its key either way.
    """
    summary = PushSummary()
    records = journal.begin_many(item.payload for item in plan)
    to_send = [record for record in records if _should_send(record, retry_failed, summary)]
    run = _RunState()
    with ThreadPoolExecutor(max_workers=MAX_POSTS_IN_FLIGHT, thread_name_prefix="push") as pool:
        try:
            for batch in _batches(to_send, BATCH_SIZE):
                outcomes = _send_batch(batch, client, journal, pool, run)
                for record in batch:
                    if record.journal_id in outcomes:
                        _tally(summary, record.journal_id, outcomes[record.journal_id])
                if run.stopped_by:
                    break
        finally:
            # Queued POSTs of a batch interrupted by an exception return without sending.
            run.close()
    summary.stopped_by = run.stopped_by
    if summary.stopped_by:
        done = {*summary.delivered, *summary.already_there, *summary.rejected, *summary.failed}
        summary.left_pending = [record.journal_id for record in to_send if record.journal_id not in done]
    return summary


class _RunState:
    """Stop signal shared by the POST threads of one ``send``, with the reason the run stopped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures_in_row = 0
        self._closed = False
        self.stopped_by: str | None = None

    @property
    def halted(self) -> bool:
        """True once the run has stopped or ``send`` has left, so no further POST may start."""
        return self._closed or self.stopped_by is not None

    def close(self) -> None:
        """Let no further POST start, without recording a reason to stop."""
        self._closed = True

    def stop(self, reason: str) -> None:
        """Stop the run for ``reason``, unless it has already stopped for an earlier one."""
        with self._lock:
            if self.stopped_by is None:
                self.stopped_by = reason

    def count(self, outcome: PostOutcome) -> None:
        """Stop the run once ``MAX_CONSECUTIVE_FAILURES`` POSTs in a row have failed."""
        with self._lock:
            self._failures_in_row = self._failures_in_row + 1 if outcome.status == "failed" else 0
            if self._failures_in_row >= MAX_CONSECUTIVE_FAILURES and self.stopped_by is None:
                self.stopped_by = (
                    f"the portal failed {self._failures_in_row} records in a row (last: {outcome.last_error}); "
                    f"it looks down, so the run stopped. Try again later"
                )


def _batches(records: list[JournalRecord], size: int) -> Iterator[list[JournalRecord]]:
    for start in range(0, len(records), size):
        yield records[start:start + size]


def _send_batch(batch: list[JournalRecord], client: PortalClient, journal: PushJournal,
                pool: ThreadPoolExecutor, run: _RunState) -> dict[str, PostOutcome]:
    """Mark the batch ``sent`` in one commit, post it, and commit the outcomes it got in one more.

    Returns the outcomes by journal id. A record without one (its POST never started, or the run
    stopped on it) stays ``sent``. An unexpected error in a POST thread is raised after the
    outcomes already known are committed.
    """
    journal.mark_sent_many(record.journal_id for record in batch)
    futures: list[Future[PostOutcome | None]] = [pool.submit(_deliver, record, client, run) for record in batch]
    outcomes: dict[str, PostOutcome] = {}
    unexpected: BaseException | None = None
    for record, future in zip(batch, futures, strict=True):
        try:
            outcome = future.result()
        except Exception as exc:  # re-raised below, once the outcomes already known are committed
            run.stop(f"unexpected error while sending {record.journal_id}")
            unexpected = unexpected or exc
            continue
        if outcome is not None:
            outcomes[record.journal_id] = outcome
    journal.mark_outcomes(outcomes.items())
    if unexpected is not None:
        raise unexpected
    for record in batch:
        if record.journal_id in outcomes:
            outcome = outcomes[record.journal_id]
            log.info("push %s: %s after %d attempts", record.journal_id, outcome.status, outcome.attempts)
    return outcomes


def _deliver(record: JournalRecord, client: PortalClient, run: _RunState) -> PostOutcome | None:
    """Resolve or post one record in a POST thread; None if the run stopped before it started."""
    if run.halted:
        return None
    try:
        outcome = _send_one(record, client)
    except PortalError as exc:
        # The record stays ``sent``: an earlier attempt may have been stored, so the next run must
        # resolve it with its key, not send it as new.
        run.stop(str(exc))
        log.error("push stopped at %s: %s", record.journal_id, exc)
        return None
    run.count(outcome)
    return outcome


def _should_send(record: JournalRecord, retry_failed: bool, summary: PushSummary) -> bool:
    if record.status in DONE:
        return False
    if retry_failed:
        return record.status == "failed"
    if record.status in ("failed", "rejected"):
        summary.not_retried[record.journal_id] = record.status
        return False
    return True


def _send_one(record: JournalRecord, client: PortalClient) -> PostOutcome:
    """Post one record, already committed ``sent``; a record ``sent`` before this run is looked up
    first when the portal ignores idempotency keys."""
    payload = record.payload or {}
    if record.status == "sent" and not client.honours_idempotency_keys:
        found = client.find_existing(record.laestab, payload)
        if found is not None:
            log.info("push %s: found on the portal after an interrupted run", record.journal_id)
            return PostOutcome("already_there", portal_id=found or None)
    return client.create_exclusion(record.laestab, payload, key=record.key, journal_id=record.journal_id)


def _tally(summary: PushSummary, journal_id: str, outcome: PostOutcome) -> None:
    if outcome.status == "delivered":
        summary.delivered.append(journal_id)
    elif outcome.status == "already_there":
        summary.already_there.append(journal_id)
    elif outcome.status == "rejected":
        summary.rejected[journal_id] = outcome.errors
    else:
        summary.failed[journal_id] = outcome.last_error or "unknown error"


def send_b2b(plan: list[PlanItem], journal: PushJournal, out_dir: Path, *, laestab: str,
             created_at: dt.datetime | None = None) -> PushSummary:
    """Write the plan as one B2B exclusions file in ``out_dir`` and record that it carries them.

    Writes nothing when the plan is empty. NOTE: the file is renamed into place before the journal
    commits, so a crash between the two makes the next file repeat these records; the other order
    could lose them.
    """
    summary = PushSummary()
    if not plan:
        return summary
    records = journal.begin_many(item.payload for item in plan)
    path = write_b2b_file(out_dir, laestab, [record.payload or {} for record in records], created_at=created_at)
    journal.mark_written([record.journal_id for record in records], path.name, laestab)
    log.info("wrote %d records to the B2B file %s", len(records), path.name)
    summary.b2b_file = path
    summary.delivered = [record.journal_id for record in records]
    return summary
