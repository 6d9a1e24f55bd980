"""Owner reminders over a real SMTP server (aiosmtpd) and the Slack summary against a
loopback HTTP receiver. Only 127.0.0.1 is contacted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from tenacity import wait_none

from syncd.config import Settings
from syncd.digest.metrics import compute
from syncd.digest.reminders import post_slack, send_reminders
from syncd.digest.sources import load_docs
from syncd.sync.state import StateStore
from tests.digest.test_email import HOST, Inbox, free_port
from tests.digest.test_metrics import AS_OF, fixture_records, fixture_settings


@pytest.fixture
def server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname=HOST, port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


class Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).status == 200:
            type(self).posts.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def slack() -> Iterator[str]:
    Receiver.posts, Receiver.status = [], 200
    httpd = HTTPServer((HOST, 0), Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_port}/services/T000/B000/XXXX"
    httpd.shutdown()


def _settings(port: int, hook: str | None = None) -> Settings:
    return Settings.model_validate(
        {
            "docs": {"root": str(fixture_settings().docs.root)},
            "owners": {
                "@sri": {"jira": "sri", "email": "sri@example.com"},
                "bob": {"jira": "bob", "email": "bob@example.com"},
                "lee": {"email": "lee@example.com"},
            },
            "digest": {
                "to": ["leads@example.com"],
                "from": "postmortem-syncd@example.com",
                "reminders": {"enabled": True},
                "slack_webhook_url": hook,
            },
            "smtp": {"host": HOST, "port": port, "timeout": 5},
        }
    )


def _digest(settings: Settings) -> Any:
    return compute(load_docs(settings), fixture_records(), [], settings, AS_OF)


def test_each_owner_once_a_week_and_owners_without_email_listed(
    server: tuple[Controller, Inbox], tmp_path: Path
) -> None:
    controller, inbox = server
    settings = _settings(controller.port)
    digest = _digest(settings)
    # overdue: @sri, @bob, @lee; due soon: @maya, @lee. No address: @maya.
    assert digest.owners_without_email == ("@maya",)
    with StateStore.open(tmp_path / "s.db") as store:
        first = send_reminders(digest, settings, store, wait=wait_none())
        again = send_reminders(digest, settings, store, wait=wait_none())
    assert sorted(first.sent) == ["@bob", "@lee", "@sri"]
    assert first.without_email == ["@maya"]
    assert (again.sent, sorted(again.already)) == ([], ["@bob", "@lee", "@sri"])
    assert len(inbox.messages) == 3
    by_rcpt = {rcpts[0]: raw for _from, rcpts, raw, _s in inbox.messages}
    lee = message_from_bytes(by_rcpt["lee@example.com"], policy=policy.default)
    text = lee.get_body().get_content()  # type: ignore[union-attr]
    assert "OVERDUE (1)" in text and "Document time zone assumptions" in text
    assert "DUE SOON (1)" in text and "Pin cron host time zone to UTC" in text
    assert "2026-06-05-billing-cron.md" in text  # links to the doc


def test_reminders_are_off_unless_enabled(server: tuple[Controller, Inbox], tmp_path: Path) -> None:
    _controller, inbox = server
    settings = fixture_settings(":memory:")
    with StateStore.open(tmp_path / "s.db") as store:
        result = send_reminders(_digest(settings), settings, store, wait=wait_none())
    assert (result.sent, inbox.messages) == ([], [])


def test_slack_summary_posted_once_a_week(slack: str, tmp_path: Path) -> None:
    settings = _settings(free_port(), slack)
    digest = _digest(settings)
    with StateStore.open(tmp_path / "s.db") as store:
        Receiver.status = 500
        error = post_slack(digest, settings, store)
        assert error == "Slack webhook answered 500" and "XXXX" not in error
        Receiver.status = 200
        assert post_slack(digest, settings, store) is None
        assert post_slack(digest, settings, store) is None  # already posted this week
    assert len(Receiver.posts) == 1
    text = Receiver.posts[0]["text"]
    assert text.startswith("*Postmortem digest 2026-W24:") and "Overdue items: 3" in text
