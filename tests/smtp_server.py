"""A local SMTP server with STARTTLS for alert tests: aiosmtpd on 127.0.0.1 with a self-signed certificate."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 with the openssl command; return (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """Messages the test server accepted, and the logins it saw."""

    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(message_from_bytes(envelope.original_content))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == ("agent", "s3cret"))


@dataclass
class SmtpServer:
    port: int
    cert: Path
    mailbox: Mailbox

    def client_context(self) -> ssl.SSLContext:
        """Return a verifying client context that trusts only this server's certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture
def smtp_server(tmp_path: Path):
    from aiosmtpd.controller import Controller

    cert, key = make_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, tls_context=server_context, require_starttls=True,
        authenticator=mailbox.authenticate, auth_required=False,
    )
    controller.start()
    try:
        yield SmtpServer(port, cert, mailbox)
    finally:
        controller.stop()
