"""Exactly once per ISO week: real `syncd digest --send` processes against a real SMTP
server on loopback (aiosmtpd), started together or killed (SIGKILL) mid-send."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from tenacity import wait_none

from syncd.digest.send import send_digest, sent_record
from syncd.sync.state import StateStore
from tests.conftest import SYNCD
from tests.digest.test_email import HOST, free_port
from tests.digest.test_metrics import FIXTURES, fill_state, fixture_digest, fixture_settings


@dataclass
class Inbox:
    """Keeps what arrives; `hold_at` ("RCPT" or "DATA") stalls that command until
    `release` is set, so a sender can be killed there."""

    messages: list[bytes] = field(default_factory=list)
    hold_at: str | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def _hold(self, command: str) -> None:
        if self.hold_at == command:
            self.reached.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await self._hold("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # The server has the message as soon as DATA ends; the reply may never arrive.
        self.messages.append(envelope.content)
        await self._hold("DATA")
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def server(inbox: Inbox) -> Iterator[Controller]:
    controller = Controller(inbox, hostname=HOST, port=free_port())
    controller.start()
    yield controller
    inbox.release.set()
    controller.stop()


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        fill_state(store)
    return path


def _spawn(state_path: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SYNCD_STATE__PATH": str(state_path), "SYNCD_SMTP__PORT": str(port)}
    today = datetime.now(UTC).date().isoformat()  # this week: no --force needed
    argv = [str(SYNCD), "digest", "--config", str(FIXTURES / "syncd.toml"), "--as-of", today]
    return subprocess.Popen(
        [*argv, "--send", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _record(state_path: Path) -> dict[str, Any] | None:
    week = datetime.now(UTC).date().isocalendar()
    with StateStore.open(state_path) as store:
        return sent_record(store, f"{week[0]}-W{week[1]:02d}")


def _kill_when(proc: subprocess.Popen[str], inbox: Inbox, phase: str, state_path: Path) -> None:
    assert inbox.reached.wait(30), proc.stderr.read() if proc.stderr else ""
    deadline = time.monotonic() + 10
    while ((_record(state_path) or {}).get("phase")) != phase:
        assert time.monotonic() < deadline, _record(state_path)
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no cleanup, no chance to record anything more
    proc.wait(10)


def test_two_senders_started_together_deliver_one_email(
    server: Controller, inbox: Inbox, state_path: Path
) -> None:
    procs = [_spawn(state_path, server.port) for _ in range(2)]
    results = [(p.wait(60), p.stderr.read() if p.stderr else "") for p in procs]
    assert len(inbox.messages) == 1
    assert sorted(code for code, _err in results) == [0, 0]
    errs = " | ".join(err for _code, err in results)
    assert "sent to 3 recipient(s)" in errs and "was already sent" in errs
    assert (_record(state_path) or {}).get("state") == "sent"


def test_killed_before_data_is_sent_by_the_next_run(
    server: Controller, inbox: Inbox, state_path: Path
) -> None:
    inbox.hold_at = "RCPT"
    proc = _spawn(state_path, server.port)
    _kill_when(proc, inbox, "connecting", state_path)
    assert inbox.messages == []
    inbox.hold_at, inbox.release = None, threading.Event()
    again = _spawn(state_path, server.port)
    assert again.wait(60) == 0, again.stderr.read() if again.stderr else ""
    assert len(inbox.messages) == 1  # never started, so retried freely: exactly one
    assert (_record(state_path) or {}).get("state") == "sent"


def test_killed_after_data_is_in_doubt_until_forced(
    server: Controller, inbox: Inbox, state_path: Path
) -> None:
    inbox.hold_at = "DATA"
    proc = _spawn(state_path, server.port)
    _kill_when(proc, inbox, "data", state_path)
    inbox.release.set()
    assert len(inbox.messages) == 1  # the server got it; the sender never heard back
    inbox.hold_at = None
    again = _spawn(state_path, server.port)
    code = again.wait(60)
    err = again.stderr.read() if again.stderr else ""
    assert code == 2  # retry later / a person must look
    assert "may or may not have been delivered" in err and "--force" in err
    assert len(inbox.messages) == 1  # no second email without a person's decision
    forced = _spawn(state_path, server.port, "--force")
    assert forced.wait(60) == 0
    assert len(inbox.messages) == 2


def test_a_past_week_needs_force(server: Controller, inbox: Inbox, tmp_path: Path) -> None:
    settings = fixture_settings(
        ":memory:", SYNCD_SMTP__HOST=HOST, SYNCD_SMTP__PORT=str(server.port)
    )
    with StateStore.open(tmp_path / "s.db") as store:
        digest = fixture_digest()  # 2026-W24, as of 2026-06-08
        stale = send_digest(digest, settings, store, wait=wait_none(), this_week="2026-W30")
        assert (stale.outcome, stale.sent) == ("past-week", False)
        assert "use --force" in (stale.error or "")
        assert inbox.messages == []
        forced = send_digest(
            digest, settings, store, wait=wait_none(), this_week="2026-W30", force=True
        )
        assert forced.outcome == "sent"
    assert len(inbox.messages) == 1
