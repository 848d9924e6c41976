"""Reviewer decisions applied to a run's findings.

A reviewer accepts a finding as it was shown. The decision stores the finding's id and a hash of
the values the finding showed, so the acceptance holds only while those values stay the same: when
the data behind the finding changes, the finding reopens.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from collections.abc import Mapping

from sync_agent.result import Finding, Result
from sync_agent.state import Decision

logger = logging.getLogger(__name__)

# The fields a reviewer saw and judged. The message is left out because it carries the finding's
# age, which changes every day, and the status because applying a decision changes it.
HASHED_FIELDS = (
    "kind",
    "field",
    "mis_value",
    "portal_value",
    "expected",
    "actual",
    "sessions",
    "category",
    "start_date",
    # A pupil's morning and afternoon exclusions of one day may take the same id in turn, so the
    # session keeps a decision on one from applying to the other.
    "start_session",
    "due_date",
)


def finding_values_hash(finding: Finding) -> str:
    """Return the SHA-256 hex digest of the values a finding shows (``HASHED_FIELDS``)."""
    values = finding.model_dump(mode="json", include=set(HASHED_FIELDS))
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def apply_decisions(result: Result, decisions: Mapping[str, Decision]) -> Result:
    """Return a copy of ``result`` with reviewer decisions applied to its findings.

    A finding with an active decision whose values hash matches becomes ``accepted``, and its
    message names who accepted it, when and why. A finding whose values changed since it was
    accepted stays ``open``, and its message notes that the earlier acceptance no longer applies.
    ``summary`` is left as it is, so it keeps counting every finding by kind, accepted ones
    included.
    """
    findings = []
    accepted = reopened = 0
    for finding in result.findings:
        decision = decisions.get(finding.id)
        if decision is None or not decision.active:
            findings.append(finding)
        elif decision.values_hash == finding_values_hash(finding):
            findings.append(_accepted(finding, decision))
            accepted += 1
        else:
            findings.append(_reopened(finding, decision))
            reopened += 1
    if accepted or reopened:
        logger.info(
            "reviewer decisions applied: %d findings accepted, %d reopened because their values changed",
            accepted,
            reopened,
        )
    return result.model_copy(update={"findings": findings})


def _accepted(finding: Finding, decision: Decision) -> Finding:
    note = f"Accepted by {decision.accepted_by} on {decision.accepted_at.date().isoformat()}: {decision.reason}"
    return finding.model_copy(update={"status": "accepted", "message": _join(finding.message, note)})


def _reopened(finding: Finding, decision: Decision) -> Finding:
    note = (
        f"An earlier acceptance by {decision.accepted_by} on {decision.accepted_at.date().isoformat()} "
        "no longer applies because the data changed."
    )
    return finding.model_copy(update={"status": "open", "message": _join(finding.message, note)})


def _join(message: str, note: str) -> str:
    message = message.rstrip()
    if message and not message.endswith((".", "!", "?")):
        message += "."
    return f"{message} {note}" if message else note


def needs_action(result: Result) -> bool:
    """Return True when an open finding of severity ``error`` exists or an input row was rejected.

    A record that failed to push also needs action (exit code 1), but push results are not part
    of ``Result``, so the caller checks those itself.
    """
    if result.rejects:
        return True
    return any(f.status == "open" and f.severity == "error" for f in result.findings)


def current_user() -> str:
    """Return the operating-system user name, or ``"unknown"`` when it cannot be found."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        # getpass raises OSError (Python 3.13 on) or KeyError (before) when neither the
        # environment nor the password database names the user, as in some containers.
        return "unknown"
