"""E-mail alerts after a sync run that needs attention (exit code 1 or 2).

One message per run, sent over SMTP with STARTTLS. It carries counts by finding kind, refused
inputs with their reasons, push counts, where the report is and the error that stopped the run,
but no pupil data: UPNs are masked in every line as a second guard, and names and dates of birth
are never put in. The SMTP password is read only from the environment variable that
``[alerts] password_env`` names. A failure to send is logged as an error and never changes the
run's exit code.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage

from sync_agent.config import AlertsSection
from sync_agent.logsetup import redact_pupil_data

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30
EXIT_MEANINGS = {
    1: "ran, and something needs action",
    2: "could not run, or refused an input as a whole",
}


@dataclass
class RunReport:
    """The facts of one run that an alert may carry: none of them pupil data."""

    run_id: str
    exit_code: int
    school: str
    counts_by_kind: Mapping[str, int] = field(default_factory=dict)
    accepted: int = 0
    rejected_rows: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    pushes: Mapping[str, int] = field(default_factory=dict)
    report_dir: str | None = None
    error: str | None = None


class AlertError(Exception):
    """An alert could not be built or sent; only ever logged."""


def alert_body(report: RunReport) -> str:
    """Return the plain-text body of the alert for ``report``, with UPNs masked."""
    meaning = EXIT_MEANINGS.get(report.exit_code, "ended")
    lines = [
        f"sync-agent run {report.run_id} for {report.school} ended with exit code {report.exit_code}: {meaning}.",
        "",
    ]
    if report.error:
        lines += ["The run stopped with this error:", f"  {report.error}", ""]
    if report.refused:
        lines.append("Inputs refused as a whole (none of their rows were used):")
        lines += [f"  {path}: {reason}" for path, reason in report.refused]
        lines.append("")
    if report.counts_by_kind:
        lines.append("Findings by kind:")
        lines += [f"  {kind}: {count}" for kind, count in sorted(report.counts_by_kind.items())]
        if report.accepted:
            lines.append(f"  ({report.accepted} of them accepted by a reviewer)")
    else:
        lines.append("No findings.")
    if report.rejected_rows:
        lines.append(f"Rejected input rows: {report.rejected_rows} (listed in rejects.csv)")
    if report.pushes:
        lines.append("Push: " + ", ".join(f"{name} {count}" for name, count in sorted(report.pushes.items())))
    lines.append("")
    if report.report_dir:
        lines.append(f"The report is in {report.report_dir} (open reconciliation.html).")
    else:
        lines.append("No report was written.")
    lines.append("Pupil details are in the report only, never in this e-mail.")
    return redact_pupil_data("\n".join(lines) + "\n")


def build_message(alerts: AlertsSection, report: RunReport) -> EmailMessage:
    """Return the alert e-mail for ``report``, addressed as ``[alerts]`` says."""
    message = EmailMessage()
    message["Subject"] = f"sync-agent: {report.school}: exit code {report.exit_code} ({EXIT_MEANINGS.get(report.exit_code, 'ended')})"
    message["From"] = alerts.from_
    message["To"] = ", ".join(alerts.to)
    message.set_content(alert_body(report))
    return message


def smtp_password(alerts: AlertsSection, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the SMTP password from the environment variable ``password_env`` names, if any.

    Raises AlertError when ``username`` is set but the variable is not set or empty.
    """
    if not alerts.username:
        return None
    env = os.environ if environ is None else environ
    password = env.get(alerts.password_env or "", "")
    if not password:
        raise AlertError(
            f"[alerts] username is set but the password environment variable "
            f"{alerts.password_env or '(password_env not set)'} is empty or unset; set it, or remove username"
        )
    return password


def send_alert(
    alerts: AlertsSection,
    report: RunReport,
    *,
    context: ssl.SSLContext | None = None,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Send one alert e-mail for ``report``; return True when the server accepted it.

    ``context`` defaults to ``ssl.create_default_context()``, which verifies the server's
    certificate and host name; tests pass a context that trusts their own certificate. Every
    failure is logged as an error and returns False.
    """
    try:
        password = smtp_password(alerts, environ)
        message = build_message(alerts, report)
        tls = context if context is not None else ssl.create_default_context()
        with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            smtp.starttls(context=tls)
            if password is not None:
                smtp.login(alerts.username, password)
            smtp.send_message(message)
    except (AlertError, smtplib.SMTPException, OSError) as exc:
        # ssl.SSLError and socket timeouts are OSErrors too.
        logger.error(
            "could not send the alert for run %s to %s:%s: %s; check [alerts] and the mail server",
            report.run_id,
            alerts.smtp_host,
            alerts.smtp_port,
            exc,
        )
        return False
    logger.info("alert for run %s sent to %d recipient(s)", report.run_id, len(alerts.to))
    return True
