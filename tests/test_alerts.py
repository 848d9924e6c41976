"""Alert e-mails: one message over STARTTLS with counts and no pupil data; failures only logged."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest

from smtp_server import SmtpServer, free_port, smtp_server  # noqa: F401 - smtp_server is a fixture
from sync_agent.alerts import RunReport, alert_body, send_alert
from sync_agent.config import AlertsSection
from sync_support import run_sync, small_school

UPN = "D801999924001"


def alerts_for(port: int, **extra: object) -> AlertsSection:
    return AlertsSection.model_validate({
        "smtp_host": "127.0.0.1", "smtp_port": port, "from": "agent@school.example",
        "to": ["data.manager@school.example", "head@school.example"], **extra,
    })


def alerts_toml(port: int) -> str:
    return (
        f'[alerts]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nfrom = "agent@school.example"\n'
        'to = ["data.manager@school.example"]\n'
    )


def report(**changes: object) -> RunReport:
    base = dict(run_id="20250314T070002Z", exit_code=1, school="Fernbrook Academy (8019999)",
                counts_by_kind={"missing_on_portal": 3, "field_mismatch": 2}, report_dir="/srv/reports/20250314T070002Z")
    base.update(changes)
    return RunReport(**base)


def test_alert_arrives_over_starttls(smtp_server: SmtpServer) -> None:  # noqa: F811
    sent = send_alert(alerts_for(smtp_server.port), report(), context=smtp_server.client_context())

    assert sent is True
    [message] = smtp_server.mailbox.messages
    assert smtp_server.mailbox.recipients == [["data.manager@school.example", "head@school.example"]]
    assert message["From"] == "agent@school.example"
    assert "exit code 1" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "missing_on_portal: 3" in body
    assert "field_mismatch: 2" in body
    assert "/srv/reports/20250314T070002Z" in body


def test_alert_logs_in_with_env_password(smtp_server: SmtpServer) -> None:  # noqa: F811
    alerts = alerts_for(smtp_server.port, username="agent", password_env="TEST_SMTP_PASSWORD")

    sent = send_alert(alerts, report(), context=smtp_server.client_context(),
                      environ={"TEST_SMTP_PASSWORD": "s3cret"})

    assert sent is True
    assert smtp_server.mailbox.logins == [("agent", "s3cret")]
    assert len(smtp_server.mailbox.messages) == 1


def test_alert_missing_password_logged(smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    alerts = alerts_for(smtp_server.port, username="agent", password_env="TEST_SMTP_PASSWORD")

    with caplog.at_level(logging.ERROR, logger="sync_agent"):
        sent = send_alert(alerts, report(), context=smtp_server.client_context(), environ={})

    assert sent is False
    assert smtp_server.mailbox.messages == []
    assert "TEST_SMTP_PASSWORD" in caplog.text


def test_untrusted_certificate_refused(smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    # The production context verifies certificates, so a self-signed one must be refused.
    with caplog.at_level(logging.ERROR, logger="sync_agent"):
        sent = send_alert(alerts_for(smtp_server.port), report(), context=ssl.create_default_context())

    assert sent is False
    assert smtp_server.mailbox.messages == []
    assert "could not send the alert for run 20250314T070002Z" in caplog.text


def test_alert_body_masks_upns() -> None:
    body = alert_body(report(refused=[("exports/exclusions.csv", f"line 4 is cut off: {UPN},Hallo")],
                             exit_code=2, error=f"record {UPN} unreadable"))

    assert UPN not in body
    assert "[UPN]" in body
    assert "exports/exclusions.csv" in body
    assert "exit code 2" in body


def test_sync_alert_with_counts_no_upn(tmp_path: Path, smtp_server: SmtpServer,  # noqa: F811
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # ssl.create_default_context() reads SSL_CERT_FILE, so the command's own verifying context
    # trusts the test certificate without any test hook in the code.
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_server.cert))
    small_school(tmp_path, extra=alerts_toml(smtp_server.port))

    assert run_sync(tmp_path) == 1

    [message] = smtp_server.mailbox.messages
    body = message.get_payload(decode=True).decode()
    assert "missing_on_portal: 1" in body
    assert str(tmp_path / "reports") in body
    for pupil_data in (UPN, "Ashworth", "Milo", "14/02/2012", "2012-02-14"):
        assert pupil_data not in body
        assert pupil_data not in message["Subject"]


def test_sync_refused_input_alert(tmp_path: Path, smtp_server: SmtpServer,  # noqa: F811
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_server.cert))
    small_school(tmp_path, extra=alerts_toml(smtp_server.port))
    (tmp_path / "exclusions.csv").write_bytes(b"")

    assert run_sync(tmp_path) == 2

    [message] = smtp_server.mailbox.messages
    body = message.get_payload(decode=True).decode()
    assert "Inputs refused as a whole" in body
    assert "exclusions.csv" in body


def test_sync_ok_sends_no_alert(tmp_path: Path, smtp_server: SmtpServer,  # noqa: F811
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from builders import permanent

    monkeypatch.setenv("SSL_CERT_FILE", str(smtp_server.cert))
    small_school(tmp_path, mis=[permanent()], portal=[permanent()], extra=alerts_toml(smtp_server.port))

    assert run_sync(tmp_path) == 0

    assert smtp_server.mailbox.messages == []


def test_send_failure_keeps_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_school(tmp_path, extra=alerts_toml(free_port()))

    assert run_sync(tmp_path) == 1

    assert "could not send the alert" in capsys.readouterr().err
