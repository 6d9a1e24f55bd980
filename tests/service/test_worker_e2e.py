"""`syncd run` as a real subprocess against the loopback Jira and GitHub emulators.

One worker is started for the module; the tests run in order against it:
first sync → a ticket closed in each tracker plus a signed webhook → the doc follows
within 5 s; forged and unsigned webhooks → 401 and nothing changes; a replay → ignored;
/metrics parses; a second worker on the same state file stands by or exits cleanly;
SIGTERM → exit 0 within 10 s with the state intact and the lease released.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncd.cli.demo import git, start_emulator, write_config
from syncd.model import Status
from syncd.sync.state import StateStore

REPO = Path(__file__).resolve().parents[2]
GITHUB_SECRET = "It's a Secret to Everybody"
JIRA_SECRET = "jira-webhook-secret-e2e"

GITHUB_DOC = """\
# Refund delays after queue failover

- **Date:** 2026-07-02
- **Severity:** SEV-3

## Follow-ups
- [ ] Alert when replica lag exceeds 60 s (@sri, due 2026-07-20)
- [ ] Add a runbook step to check lag before failover (@maya, due 2026-07-15)
"""

JIRA_DOC = """\
# Database connection leak

- **Date:** 2026-05-27
- **Severity:** SEV-2

## Action items

| Action | Owner | Due | Status | Ticket |
|---|---|---|---|---|
| Cap the pool size per pod | @lee | 2026-06-30 | Open | |
| Alert on pool saturation | @sri | 2026-06-15 | Open | |
"""


class Proc:
    """A `syncd run` subprocess whose JSON log lines are collected as they arrive."""

    def __init__(self, config: Path, *extra: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("SYNCD_CONFIG", None)
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "syncd.cli.main", "run", "--config", str(config), *extra],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.raw.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            self._new.put(event)

    def wait_for(self, event: str, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for seen in list(self.events):
            if seen.get("event") == event and all(seen.get(k) == v for k, v in fields.items()):
                return seen
        while time.monotonic() < deadline:
            try:
                seen = self._new.get(timeout=0.1)
            except queue.Empty:
                if self.popen.poll() is not None and self._new.empty():
                    break
                continue
            if seen.get("event") == event and all(seen.get(k) == v for k, v in fields.items()):
                return seen
        raise AssertionError(f"no {event!r} {fields} in log:\n{''.join(self.raw[-40:])}")

    def count(self, event: str, **fields: Any) -> int:
        return sum(
            1
            for e in list(self.events)
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
        )

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        started = time.monotonic()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("worker-e2e")
    docs = work / "postmortems"
    (docs / "payments").mkdir(parents=True)
    (docs / "payments" / "2026-07-02-refund-delays.md").write_text(GITHUB_DOC)
    (docs / "2026-05-27-db-leak.md").write_text(JIRA_DOC)
    git(work, "init", "-q", "-b", "main")
    ident = ["-c", "user.name=test", "-c", "user.email=test@localhost"]
    git(work, *ident, "add", "postmortems")
    git(work, *ident, "commit", "-q", "-m", "postmortems")
    jira, github = start_emulator("jira"), start_emulator("github")
    for uid, name in (("5b10ac8d82e05b22cc7d4ef5", "Sri"), ("5b10ac8d82e05b22cc7d4ef7", "Lee")):
        jira.add_user(uid, name)
    config = work / "syncd.toml"
    write_config(
        config,
        {
            "jira": jira.connector_section(webhook_secret=JIRA_SECRET),
            "github": github.connector_section(
                writes_per_minute=6000, webhook_secret=GITHUB_SECRET
            ),
        },
        [("payments/**", "github")],
        "jira",
    )
    text = config.read_text()
    text = text.replace('format = "console"', 'format = "json"').replace(
        'level = "warning"', 'level = "info"'
    )
    # A long interval: after the first run, only webhooks can change anything.
    text += '\n[server]\nhost = "127.0.0.1"\nport = 0\n\n[sync]\ninterval = "1h"\n'
    config.write_text(text)
    proc = Proc(config)
    try:
        listening = proc.wait_for("http server listening")
        proc.wait_for("run finished", kind="scheduled", timeout=30)
        yield {
            "work": work,
            "docs": docs,
            "config": config,
            "jira": jira,
            "github": github,
            "proc": proc,
            "url": f"http://127.0.0.1:{listening['port']}",
            "others": [],  # later workers, for the final log check
        }
    finally:
        proc.kill()
        jira.stop()
        github.stop()


def github_delivery(
    world: dict[str, Any], key: str, action: str, *, secret: str = GITHUB_SECRET
) -> tuple[bytes, dict[str, str]]:
    number = int(key.rsplit("#", 1)[1])
    body = json.dumps(
        {
            "action": action,
            "issue": {"number": number, "state": "closed", "state_reason": "completed"},
            "repository": {"full_name": world["github"].repo},
            "sender": {"login": "alice"},
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def jira_delivery(key: str, *, secret: str = JIRA_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "issue": {"id": "10001", "key": key, "fields": {}},
            "changelog": {
                "items": [{"field": "status", "fromString": "To Do", "toString": "Done"}]
            },
        }
    ).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
        "X-Hub-Signature": f"sha256={signature}",
        "Content-Type": "application/json",
    }


def wait_until(predicate: Any, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def metrics(world: dict[str, Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample /metrics serves, keyed by (name, sorted labels)."""
    response = httpx.get(f"{world['url']}/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def rejected(samples: dict[Any, float], tracker: str) -> float:
    key = ("syncd_webhook_deliveries_total", (("outcome", "unauthorized"), ("tracker", tracker)))
    return samples.get(key, 0.0)


QUEUED = ("syncd_webhook_queued_keys", ())


def line_of(doc: Path, needle: str) -> str:
    return next(line for line in doc.read_text().splitlines() if needle in line)


# ----------------------------------------------------------------------------- tests


def test_first_sync_wrote_ticket_keys(world):
    github_doc = world["docs"] / "payments" / "2026-07-02-refund-delays.md"
    jira_doc = world["docs"] / "2026-05-27-db-leak.md"
    assert world["github"].issue_count() == 2
    assert world["jira"].issue_count() == 2
    assert f"{world['github'].repo}#" in github_doc.read_text()
    assert "OPS-" in jira_doc.read_text()
    summary = world["proc"].wait_for("run finished", kind="scheduled")
    assert summary["created"] == 4 and summary["errors"] == 0
    assert "github:" in summary["requests"] and "jira:" in summary["requests"]


def test_github_close_plus_webhook_updates_the_doc_within_5s(world):
    doc = world["docs"] / "payments" / "2026-07-02-refund-delays.md"
    key = world["github"].keys()[0]
    assert line_of(doc, "Alert when replica lag").startswith("- [ ]")
    world["github"].human_set_status(key, Status.DONE)
    body, headers = github_delivery(world, key, "closed")
    sent = time.monotonic()
    response = httpx.post(f"{world['url']}/webhooks/github", content=body, headers=headers)
    assert response.status_code == 202, response.text
    wait_until(lambda: line_of(doc, "Alert when replica lag").startswith("- [x]"), 5.0)
    assert time.monotonic() - sent < 5.0
    run = world["proc"].wait_for("run finished", kind="webhook", targeted=key)
    assert run["doc_edits"] == 1 and run["errors"] == 0
    # The edit was committed by the tool, like any sync.
    assert "sync 1 postmortem" in git(world["work"], "log", "-1", "--format=%s")


def test_jira_close_plus_webhook_updates_the_doc_within_5s(world):
    doc = world["docs"] / "2026-05-27-db-leak.md"
    key = world["jira"].keys()[0]
    before = line_of(doc, key)
    assert "Open" in before
    world["jira"].human_set_status(key, Status.DONE)
    body, headers = jira_delivery(key)
    sent = time.monotonic()
    response = httpx.post(f"{world['url']}/webhooks/jira", content=body, headers=headers)
    assert response.status_code == 202, response.text
    wait_until(lambda: "Done" in line_of(doc, key), 5.0)
    assert time.monotonic() - sent < 5.0
    # the doc is written before the run ends (commit, state): let it finish
    world["proc"].wait_for("run finished", kind="webhook", targeted=key)


def test_forged_and_unsigned_webhooks_get_401_and_change_nothing(world):
    doc = world["docs"] / "payments" / "2026-07-02-refund-delays.md"
    key = world["github"].keys()[1]
    world["github"].human_set_status(key, Status.DONE)  # a real change, not yet synced
    before = doc.read_bytes()
    runs = world["proc"].count("run finished")
    counted = metrics(world)
    forged_body, forged = github_delivery(world, key, "closed", secret="not-the-secret")
    unsigned_body, unsigned = github_delivery(world, key, "closed")
    del unsigned["X-Hub-Signature-256"]
    tampered_body, tampered = github_delivery(world, key, "closed")
    tampered_body = tampered_body.replace(b'"closed"', b'"reopened"', 1)
    for body, headers in (
        (forged_body, forged),
        (unsigned_body, unsigned),
        (tampered_body, tampered),
    ):
        response = httpx.post(f"{world['url']}/webhooks/github", content=body, headers=headers)
        assert response.status_code == 401, response.text
    jira_body, jira_headers = jira_delivery(world["jira"].keys()[1], secret="forged")
    response = httpx.post(f"{world['url']}/webhooks/jira", content=jira_body, headers=jira_headers)
    assert response.status_code == 401
    # The worker has handled all four (each is counted as unauthorized) and queued none
    # of their keys: the handler queues before it answers, and a run needs queued keys
    # (the interval is an hour), so nothing can follow from them.
    after = metrics(world)
    assert rejected(after, "github") == rejected(counted, "github") + 3
    assert rejected(after, "jira") == rejected(counted, "jira") + 1
    assert after[QUEUED] == 0
    assert doc.read_bytes() == before
    assert world["proc"].count("run finished") == runs
    with StateStore.open(world["work"] / ".syncd" / "state.db") as state:
        for headers in (forged, unsigned, tampered):
            # a rejected delivery must not burn its id: the genuine one still gets in
            assert state.record_delivery("github", headers["X-GitHub-Delivery"]) is True


def test_replayed_delivery_is_ignored(world):
    key = world["github"].keys()[1]
    body, headers = github_delivery(world, key, "closed")
    first = httpx.post(f"{world['url']}/webhooks/github", content=body, headers=headers)
    assert first.status_code == 202
    runs = world["proc"].count("run finished", kind="webhook")
    replay = httpx.post(f"{world['url']}/webhooks/github", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    world["proc"].wait_for("run finished", kind="webhook", targeted=key)
    # the replay was answered from the delivery log before anything was queued: after
    # the one run, no key waits, so no second run can follow
    assert metrics(world)[QUEUED] == 0
    assert world["proc"].count("run finished", kind="webhook") == runs + 1


def test_oversize_body_is_refused_with_413(world):
    big = b"{" + b" " * 1_100_000 + b"}"
    response = httpx.post(
        f"{world['url']}/webhooks/github", content=big, headers={"X-GitHub-Event": "ping"}
    )
    assert response.status_code == 413


def test_health_readiness_and_metrics(world):
    url = world["url"]
    assert httpx.get(f"{url}/healthz").status_code == 200
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 200, ready.text
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("syncd_runs_total", kind="scheduled", outcome="ok") >= 1
    assert value("syncd_runs_total", kind="webhook", outcome="ok") >= 2
    assert value("syncd_webhook_deliveries_total", tracker="github", outcome="accepted") >= 2
    assert value("syncd_webhook_deliveries_total", tracker="github", outcome="unauthorized") >= 3
    assert value("syncd_webhook_deliveries_total", tracker="github", outcome="duplicate") >= 1
    assert value("syncd_webhook_deliveries_total", tracker="github", outcome="too_large") >= 1
    assert value("syncd_webhook_deliveries_total", tracker="jira", outcome="unauthorized") >= 1
    assert value("syncd_tickets_created_total") == 4
    assert value("syncd_doc_edits_total") >= 6
    assert value("syncd_api_requests_total", tracker="github", kind="write") >= 2
    assert value("syncd_api_requests_total", tracker="jira", kind="read") >= 1
    assert value("syncd_api_errors_total", tracker="github") == 0
    assert value("syncd_rate_limit_waits_total", tracker="jira") == 0
    assert value("syncd_items", tracker="github", status="done") >= 1
    assert value("syncd_items", tracker="jira", status="done") >= 1
    assert ("syncd_overdue_items", (("tracker", "jira"),)) in samples
    assert value("syncd_last_success_timestamp_seconds") > time.time() - 600
    assert value("syncd_lease_held") == 1
    assert value("syncd_run_duration_seconds_count", kind="webhook") >= 2


def test_second_worker_exits_cleanly_without_reconciling(world):
    requests_before = len(world["github"].request_log) + len(world["jira"].request_log)
    second = Proc(world["config"], "--lease-wait", "1")
    world["others"].append(second)
    try:
        code = second.popen.wait(timeout=20)
    finally:
        second.kill()
    second._reader.join(timeout=5)
    assert code == 0, "".join(second.raw)
    assert second.count("run finished") == 0
    message = second.wait_for("another syncd is reconciling; exiting without changing anything")
    assert "held by" in message["lease"]
    assert len(world["github"].request_log) + len(world["jira"].request_log) == requests_before


def test_standby_takes_over_and_sigterm_exits_0_within_10s(world):
    first = world["proc"]
    standby = Proc(world["config"])
    world["others"].append(standby)
    try:
        listening = standby.wait_for("http server listening")
        standby.wait_for(
            "another syncd holds the sync lease; standing by until it is released or expires"
        )
        standby_url = f"http://127.0.0.1:{listening['port']}"
        ready = httpx.get(f"{standby_url}/readyz")
        assert ready.status_code == 503 and "standby" in ready.text
        assert httpx.get(f"{standby_url}/healthz").status_code == 200
        body, headers = github_delivery(world, world["github"].keys()[0], "edited")
        assert (
            httpx.post(f"{standby_url}/webhooks/github", content=body, headers=headers).status_code
            == 503
        )
        assert standby.count("run finished") == 0

        code, took = first.stop()
        assert code == 0, "".join(first.raw[-30:])
        assert took < 10.0
        assert first.wait_for("worker stopped")["reason"] == "SIGTERM"

        # The standby notices the released lease within its poll interval and reconciles.
        standby.wait_for("sync lease acquired", timeout=10)
        standby.wait_for("run finished", kind="scheduled", timeout=20)
        assert httpx.get(f"{standby_url}/readyz").status_code == 200
        code, took = standby.stop()
        assert code == 0 and took < 10.0
    finally:
        standby.kill()

    state_path = world["work"] / ".syncd" / "state.db"
    with sqlite3.connect(state_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with StateStore.open(state_path) as state:
        assert state.get_lease("sync") is None  # released on exit, not left to expire
        items = state.items()
        assert len(items) == 4 and all(r.ticket_key for r in items)
        assert not state.pending_intents()
        assert state.last_runs(1)[0].ok
    # nothing was created twice across the two workers
    assert world["github"].issue_count() == 2 and world["jira"].issue_count() == 2


def test_no_secret_appears_in_any_log_line(world):
    secrets = (GITHUB_SECRET, JIRA_SECRET, "emulator-token")
    lines = [line for proc in (world["proc"], *world["others"]) for line in proc.raw]
    assert len(lines) > 20
    leaked = [line for line in lines if any(secret in line for secret in secrets)]
    assert leaked == []
