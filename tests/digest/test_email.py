"""The digest email: rendered, sent to a real SMTP server on loopback (aiosmtpd), and
parsed back with the `email` package. Only 127.0.0.1 is ever contacted."""

from __future__ import annotations

import json
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tenacity import wait_none

from syncd.cli import main as cli
from syncd.config import Settings
from syncd.digest.metrics import compute
from syncd.digest.render import build_message, render_html, subject
from syncd.digest.send import (
    DigestNotSent,
    build_and_send,
    deliver,
    is_transient,
    send_digest,
    sent_record,
)
from syncd.digest.sources import load_docs
from syncd.sync.state import ItemRecord, StateStore
from tests.digest.test_metrics import (
    AS_OF,
    FIXTURES,
    fill_state,
    fixture_digest,
    fixture_records,
    fixture_settings,
)

HOST = "127.0.0.1"
PASSWORD = "pa55-Word-never-shown"
USER = "digest-bot"


# --------------------------------------------------------------------------- server


@dataclass
class Inbox:
    """aiosmtpd handler: keeps what arrives; can answer DATA/RCPT with scripted codes."""

    messages: list[tuple[str, list[str], bytes, Any]] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # consumed first, then 250
    rcpt_reply: str | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session)
        )
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        # handled=False: let aiosmtpd answer (235 or 535) itself
        return AuthResult(success=(login, password) == (USER, PASSWORD), handled=False)

    def parsed(self, n: int = -1) -> EmailMessage:
        msg = message_from_bytes(self.messages[n][2], policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def start(inbox: Inbox, **kwargs: Any) -> Controller:
    controller = Controller(inbox, hostname=HOST, port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def server(inbox: Inbox) -> Iterator[Controller]:
    # LOGIN is left out: aiosmtpd does not take smtplib's LOGIN initial response and the
    # exchange stalls until the timeout; PLAIN (smtplib's next choice) is what we test.
    controller = start(
        inbox,
        authenticator=inbox.authenticator,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )
    yield controller
    controller.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state.db") as s:
        fill_state(s)
        yield s


def settings_for(server: Controller, **env: str) -> Settings:
    return fixture_settings(
        ":memory:", SYNCD_SMTP__HOST=HOST, SYNCD_SMTP__PORT=str(server.port), **env
    )


def send(settings: Settings, store: StateStore, **kwargs: Any):
    # The fixture's week is "this week": sending a past week needs --force (tested apart).
    kwargs.setdefault("this_week", "2026-W24")
    return send_digest(fixture_digest(), settings, store, wait=wait_none(), **kwargs)


def today() -> str:
    """For CLI sends, which take the current week from the real clock."""
    return datetime.now(UTC).date().isoformat()


def html_of(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("html",))
    assert body is not None
    return body.get_content()


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content().replace("\r\n", "\n")


# --------------------------------------------------------------------------- structure


def test_delivered_message_structure_and_headers(
    server: Controller, inbox: Inbox, store: StateStore
) -> None:
    result = send(settings_for(server), store)
    assert (result.sent, result.outcome, result.attempts) == (True, "sent", 1)
    assert len(inbox.messages) == 1
    mail_from, rcpt_tos, _raw, _session = inbox.messages[0]
    assert mail_from == "postmortem-syncd@example.com"
    # to + cc + the team address listed in [digest.teams] platform
    assert sorted(rcpt_tos) == [
        "eng-leads@example.com",
        "platform-leads@example.com",
        "sre@example.com",
    ]
    msg = inbox.parsed()
    assert msg["Subject"] == "Postmortem digest 2026-W24: 2 incidents, 3 overdue, recurrence 20%"
    assert msg["From"] == "postmortem-syncd@example.com"
    assert msg["To"] == "eng-leads@example.com"
    assert msg["Cc"] == "sre@example.com, platform-leads@example.com"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Postmortem-Digest-Week"] == "2026-W24"
    assert msg["Message-ID"].strip() == result.message_id and msg["Message-ID"].endswith(
        "@example.com>"
    )
    assert msg["Date"]

    # multipart/alternative: text/plain, then multipart/related (text/html + image/png)
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, image = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")

    # the chart is referenced by its Content-ID, with alt text that states the numbers
    cid = image["Content-ID"].strip("<>")
    html = html_part.get_content()
    img = re.search(r"<img [^>]*>", html)
    assert img is not None
    assert f'src="cid:{cid}"' in img.group(0)
    alt = re.search(r'alt="([^"]+)"', img.group(0))
    assert alt is not None and "recurrence rate" in alt.group(1) and "overdue" in alt.group(1)

    # CSS inlined, no <style> left, no script anywhere
    assert "<style" not in html and 'style="' in html
    assert "<script" not in html.lower()


def test_every_line_leads_somewhere(server: Controller, inbox: Inbox, store: StateStore) -> None:
    send(settings_for(server), store)
    html = html_of(inbox.parsed())
    doc = "https://github.com/acme/postmortems/blob/main/"
    for path in ("2026-06-03-checkout-config.md", "2026-03-20-db-failover.md"):
        assert f'href="{doc}{path}"' in html
    assert 'href="https://jira.example.com/browse/OPS-130"' in html  # ticket snapshot url
    text = text_of(inbox.parsed())
    assert f"{doc}2026-05-12-payments-pool.md" in text
    assert "OPS-130 https://jira.example.com/browse/OPS-130" in text


def test_hostile_titles_are_escaped_in_html_and_safe_in_text(
    server: Controller, inbox: Inbox, store: StateStore
) -> None:
    send(settings_for(server), store)
    msg = inbox.parsed()
    html = html_of(msg)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | pipe" in html
    text = text_of(msg)
    # verbatim on its own line in the text part: readable, and it cannot break the layout
    assert "\n- Gate config pushes on validation <script>alert(1)</script> | pipe\n" in text


def test_unsafe_urls_never_become_links() -> None:
    settings = fixture_settings()
    records = [
        ItemRecord(**{**r.__dict__, "ticket": {**r.ticket, "url": "javascript:alert(1)"}})
        if r.ticket_key == "OPS-130"
        else r
        for r in fixture_records()
    ]
    digest = compute(load_docs(settings), records, [], settings, AS_OF)
    html = render_html(digest, settings, "cid:x", "alt")
    assert "javascript:" not in html
    assert "OPS-130" in html


def test_control_characters_cannot_forge_text_lines() -> None:
    from syncd.digest.render import oneline

    assert oneline("a\r\nSubject: x\u2028y\tz") == "a Subject: x y z"


# --------------------------------------------------------------------------- once a week


def test_second_send_in_the_same_week_is_refused_unless_forced(
    server: Controller, inbox: Inbox, store: StateStore
) -> None:
    settings = settings_for(server)
    first = send(settings, store)
    assert first.outcome == "sent"
    record = sent_record(store, "2026-W24")
    assert record is not None and record["state"] == "sent"
    assert record["message_id"] == first.message_id

    again = send(settings, store)
    assert (again.sent, again.outcome, again.ok) == (False, "already-sent", True)
    assert len(inbox.messages) == 1

    forced = send(settings, store, force=True)
    assert forced.outcome == "sent"
    assert len(inbox.messages) == 2
    assert sent_record(store, "2026-W24")["forced"] is True  # type: ignore[index]


def test_cli_send_is_idempotent(
    server: Controller, inbox: Inbox, tmp_path: Path, monkeypatch, capsys
) -> None:
    state_path = tmp_path / "cli-state.db"
    with StateStore.open(state_path) as s:
        fill_state(s)
    monkeypatch.setenv("SYNCD_STATE__PATH", str(state_path))
    monkeypatch.setenv("SYNCD_SMTP__PORT", str(server.port))
    argv = ["digest", "--config", str(FIXTURES / "syncd.toml"), "--as-of", today(), "--send"]
    assert cli.main(argv) == 0
    assert "sent to 3 recipient(s)" in capsys.readouterr().err
    assert cli.main(argv) == 0  # refused, but nothing is wrong: exit 0 for the CronJob
    assert "already sent" in capsys.readouterr().err
    assert len(inbox.messages) == 1
    assert cli.main([*argv, "--force"]) == 0
    assert len(inbox.messages) == 2


def test_a_different_week_is_sent(server: Controller, inbox: Inbox, store: StateStore) -> None:
    settings = settings_for(server)
    send(settings, store)
    result = send_digest(
        fixture_digest(AS_OF.replace(day=15)),
        settings,
        store,
        wait=wait_none(),
        this_week="2026-W25",
    )
    assert (result.week, result.outcome) == ("2026-W25", "sent")
    assert len(inbox.messages) == 2


# --------------------------------------------------------------------------- failures


def test_unreachable_server_is_retried_then_reported(tmp_path: Path, store: StateStore) -> None:
    settings = fixture_settings(
        ":memory:", SYNCD_SMTP__HOST=HOST, SYNCD_SMTP__PORT=str(free_port())
    )
    result = send(settings, store)
    assert (result.sent, result.outcome, result.attempts) == (False, "failed", 4)
    assert "ConnectionRefusedError" in (result.error or "")
    assert sent_record(store, "2026-W24")["state"] == "failed"  # type: ignore[index]


def test_failed_week_can_be_sent_later(server: Controller, inbox: Inbox, store: StateStore) -> None:
    down = fixture_settings(":memory:", SYNCD_SMTP__HOST=HOST, SYNCD_SMTP__PORT=str(free_port()))
    assert send(down, store).outcome == "failed"
    assert send(settings_for(server), store).outcome == "sent"
    assert len(inbox.messages) == 1


def test_transient_4xx_is_retried(server: Controller, inbox: Inbox, store: StateStore) -> None:
    inbox.data_replies = ["451 4.3.0 try again later"]
    result = send(settings_for(server), store)
    assert (result.outcome, result.attempts) == ("sent", 2)
    assert len(inbox.messages) == 1


def test_permanent_5xx_is_not_retried(server: Controller, inbox: Inbox, store: StateStore) -> None:
    inbox.rcpt_reply = "550 5.1.1 no such user"
    result = send(settings_for(server), store)
    assert (result.outcome, result.attempts) == ("failed", 1)
    assert "SMTPRecipientsRefused" in (result.error or "")


def test_error_classification() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(smtplib.SMTPServerDisconnected("gone"))
    assert is_transient(smtplib.SMTPDataError(421, b"busy"))
    assert not is_transient(smtplib.SMTPDataError(554, b"rejected"))
    assert not is_transient(smtplib.SMTPAuthenticationError(535, b"bad credentials"))
    assert not is_transient(ssl.SSLCertVerificationError("self-signed"))


def test_connection_lost_during_data_is_in_doubt_and_blocks_resend(
    server: Controller, inbox: Inbox, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def drop(self: smtplib.SMTP, msg: bytes) -> tuple[int, bytes]:
        self.close()
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    settings = settings_for(server)
    with monkeypatch.context() as m:
        m.setattr(smtplib.SMTP, "data", drop)
        result = send(settings, store)
    assert (result.outcome, result.attempts) == ("in-doubt", 1)  # never retried blindly
    assert sent_record(store, "2026-W24")["state"] == "sending"  # type: ignore[index]
    assert send(settings, store).outcome == "in-doubt"  # a CronJob retry sends nothing
    assert inbox.messages == []
    assert send(settings, store, force=True).outcome == "sent"  # a person decided


def test_build_and_send_raises_when_not_sent(tmp_path: Path) -> None:
    settings = fixture_settings(
        tmp_path / "s.db", SYNCD_SMTP__HOST=HOST, SYNCD_SMTP__PORT=str(free_port())
    )
    with StateStore.open(settings.state.path) as s, pytest.raises(DigestNotSent) as exc:
        build_and_send(settings, s, datetime(2026, 6, 8, 9, tzinfo=UTC), wait=wait_none())
    assert exc.value.result.outcome == "failed"
    assert exc.value.result.week == "2026-W24"


def test_build_and_send_as_the_worker_calls_it(
    server: Controller, inbox: Inbox, tmp_path: Path
) -> None:
    from syncd.digest import build_and_send as package_level

    settings = fixture_settings(
        tmp_path / "s.db", SYNCD_SMTP__HOST=HOST, SYNCD_SMTP__PORT=str(server.port)
    )
    with StateStore.open(settings.state.path) as s:
        result = package_level(settings, s, datetime(2026, 6, 8, 9, tzinfo=UTC), force=False)
        assert str(result).startswith("2026-W24: sent to 3 recipient(s)")
        again = package_level(settings, s, datetime(2026, 6, 9, 9, tzinfo=UTC))
        assert again.outcome == "already-sent"
    assert len(inbox.messages) == 1


# --------------------------------------------------------------------------- auth and TLS


def test_auth_password_never_appears_in_output(
    server: Controller, inbox: Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n")
    monkeypatch.setenv("SYNCD_STATE__PATH", str(tmp_path / "state.db"))
    monkeypatch.setenv("SYNCD_SMTP__PORT", str(server.port))
    monkeypatch.setenv("SYNCD_SMTP__USERNAME", USER)
    monkeypatch.setenv("SYNCD_SMTP__PASSWORD_FILE", str(password_file))
    monkeypatch.setenv("SYNCD_LOG__LEVEL", "debug")
    base = ["digest", "--config", str(FIXTURES / "syncd.toml"), "--as-of", today()]
    assert cli.main([*base, "--send", "--format", "json"]) == 0
    assert inbox.logins == [(USER, PASSWORD)]
    out = capsys.readouterr()
    assert json.loads(out.out)["send"]["outcome"] == "sent"
    assert PASSWORD not in out.out + out.err

    # a wrong password: refused at once (535 is permanent), still never echoed
    password_file.write_text("wrong-" + PASSWORD)
    assert cli.main([*base, "--send", "--force"]) == 2
    out = capsys.readouterr()
    assert "SMTPAuthenticationError" in out.err
    assert PASSWORD not in out.out + out.err
    assert len(inbox.logins) == 2  # one attempt, no retries


def test_credentials_are_never_sent_in_clear_to_a_remote_host(store: StateStore) -> None:
    settings = fixture_settings(
        ":memory:",
        SYNCD_SMTP__HOST="smtp.example.com",  # never contacted: refused before connecting
        SYNCD_SMTP__USERNAME=USER,
        SYNCD_SMTP__PASSWORD=PASSWORD,
    )
    result = send(settings, store)
    assert (result.outcome, result.attempts) == ("failed", 0)
    assert "without TLS" in (result.error or "")
    assert PASSWORD not in repr(result) + json.dumps(result.as_json())


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def test_starttls_with_auth(
    inbox: Inbox, store: StateStore, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls
    controller = start(
        inbox,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=inbox.authenticator,
        auth_exclude_mechanism=["LOGIN"],
    )
    try:
        settings = fixture_settings(
            ":memory:",
            SYNCD_SMTP__HOST=HOST,
            SYNCD_SMTP__PORT=str(controller.port),
            SYNCD_SMTP__STARTTLS="true",
            SYNCD_SMTP__USERNAME=USER,
            SYNCD_SMTP__PASSWORD=PASSWORD,
        )
        result = send(settings, store, ssl_context=client_ctx)
    finally:
        controller.stop()
    assert result.outcome == "sent"
    assert inbox.logins == [(USER, PASSWORD)]
    session = inbox.messages[0][3]
    assert session.ssl is not None  # the message travelled inside TLS


def test_starttls_rejects_an_untrusted_certificate(
    inbox: Inbox, store: StateStore, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, _client_ctx = tls
    controller = start(inbox, tls_context=server_ctx, require_starttls=True)
    try:
        settings = fixture_settings(
            ":memory:",
            SYNCD_SMTP__HOST=HOST,
            SYNCD_SMTP__PORT=str(controller.port),
            SYNCD_SMTP__STARTTLS="true",
        )
        result = send(settings, store)  # default trust store: the test CA is unknown
    finally:
        controller.stop()
    assert (result.outcome, result.attempts) == ("failed", 1)
    assert "SSLCertVerificationError" in (result.error or "")
    assert inbox.messages == []


def test_implicit_tls(
    inbox: Inbox, store: StateStore, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls
    controller = start(inbox, ssl_context=server_ctx)
    try:
        settings = fixture_settings(
            ":memory:",
            SYNCD_SMTP__HOST=HOST,
            SYNCD_SMTP__PORT=str(controller.port),
            SYNCD_SMTP__SSL="true",
        )
        result = send(settings, store, ssl_context=client_ctx)
    finally:
        controller.stop()
    assert result.outcome == "sent"
    assert len(inbox.messages) == 1


# --------------------------------------------------------------------------- rendering only


def test_build_message_without_sending() -> None:
    settings = fixture_settings()
    digest = fixture_digest()
    msg = build_message(digest, settings, now=datetime(2026, 6, 8, 9, tzinfo=UTC))
    assert msg["Subject"] == subject(digest)
    assert msg["Date"] == "Mon, 08 Jun 2026 09:00:00 +0000"
    # every line fits SMTP's limit even though inlined HTML has very long lines
    assert max(len(line) for line in msg.as_bytes(policy=policy.SMTP).split(b"\r\n")) <= 998


def test_deliver_needs_recipients() -> None:
    from syncd.digest.send import DeliveryFailed

    settings = fixture_settings()
    with pytest.raises(DeliveryFailed) as exc:
        deliver(EmailMessage(), "a@example.com", (), settings.smtp, wait=wait_none())
    assert exc.value.attempts == 0 and "no recipients" in str(exc.value)
