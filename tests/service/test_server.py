"""The worker's WSGI app (through httpx.WSGITransport) and its threaded server (loopback)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import socket
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.base import RequestStats, WebhookEvent, WebhookRejected
from connectors.registry import build
from syncd.service.metrics import Metrics
from syncd.service.server import App, HttpServer, Readiness, webhook_parsers
from syncd.sync.state import StateStore

SECRET = "s3cret-for-tests"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeConnector:
    """A tracker the core has never heard of ("linear"): proves nothing is hard-coded."""

    def __init__(self) -> None:
        self.stats = RequestStats(reads=3, writes=1, errors=1, rate_limit_waits=2)
        self.seen: list[bytes] = []

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        self.seen.append(body)
        if headers.get("x-signature") != signed(body):
            raise WebhookRejected("bad signature")
        data = json.loads(body)
        return WebhookEvent(headers.get("x-delivery"), frozenset(data.get("keys", [])), "update")


class NoWebhooks:
    """A connector without parse_webhook: its tracker gets no endpoint."""

    stats = RequestStats()


class Harness:
    def __init__(self, tmp_path: Path, max_body_bytes: int = 1000) -> None:
        self.state = StateStore.open(tmp_path / "state.db")
        self.linear = FakeConnector()
        connectors = {"linear": self.linear, "plain": NoWebhooks()}
        parsers = webhook_parsers(connectors)
        self.metrics = Metrics(connectors, tuple(parsers))
        self.queued: list[tuple[str, frozenset[str]]] = []
        self.ready = Readiness(True, "ready")
        self.standby: str | None = None
        self.app = App(
            parsers=parsers,
            state=self.state,
            metrics=self.metrics,
            on_keys=lambda tracker, keys: self.queued.append((tracker, keys)),
            readiness=lambda: self.ready,
            max_body_bytes=max_body_bytes,
            standby_reason=lambda: self.standby,
        )
        self.client = httpx.Client(
            transport=httpx.WSGITransport(app=self.app), base_url="http://worker.test"
        )

    def deliver(self, keys: list[str], delivery: str | None = "d-1", secret: str = SECRET):
        body = json.dumps({"keys": keys}).encode()
        headers = {"X-Signature": signed(body, secret)}
        if delivery is not None:
            headers["X-Delivery"] = delivery
        return self.client.post("/webhooks/linear", content=body, headers=headers)

    def metric(self, name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(self.metrics.render().decode()):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return sample.value
        raise KeyError(name)


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.client.close()
    harness.state.close()


def test_webhook_parsers_are_the_connectors_that_have_parse_webhook():
    parsers = webhook_parsers({"linear": FakeConnector(), "plain": NoWebhooks()})
    assert set(parsers) == {"linear"}


def test_accepted_delivery_queues_keys_and_records_its_id(h):
    response = h.deliver(["LIN-1", "LIN-2"])
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "event": "update", "keys": 2}
    assert h.queued == [("linear", frozenset({"LIN-1", "LIN-2"}))]
    assert h.state.delivery_count() == 1
    assert h.metric("syncd_webhook_deliveries_total", tracker="linear", outcome="accepted") == 1


def test_replay_is_answered_200_duplicate_and_queues_nothing(h):
    assert h.deliver(["LIN-1"], delivery="same").status_code == 202
    replay = h.deliver(["LIN-1"], delivery="same")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert len(h.queued) == 1
    assert h.metric("syncd_webhook_deliveries_total", tracker="linear", outcome="duplicate") == 1


def test_forged_delivery_is_401_records_nothing_and_queues_nothing(h):
    response = h.deliver(["LIN-1"], delivery="victim-id", secret="forged")
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert h.queued == [] and h.state.delivery_count() == 0
    # The genuine delivery with that id still gets in.
    assert h.deliver(["LIN-1"], delivery="victim-id").status_code == 202


def test_unsigned_delivery_is_401(h):
    response = h.client.post("/webhooks/linear", content=b'{"keys": ["LIN-1"]}')
    assert response.status_code == 401 and h.queued == []
    assert h.metric("syncd_webhook_deliveries_total", tracker="linear", outcome="unauthorized") == 1


def test_verified_delivery_without_keys_is_accepted_but_queues_nothing(h):
    response = h.deliver([], delivery="ping-1")
    assert response.status_code == 202 and response.json()["keys"] == 0
    assert h.queued == []
    assert h.metric("syncd_webhook_deliveries_total", tracker="linear", outcome="ignored") == 1


def test_delivery_without_id_is_not_deduplicated(h):
    assert h.deliver(["LIN-1"], delivery=None).status_code == 202
    assert h.deliver(["LIN-1"], delivery=None).status_code == 202
    assert len(h.queued) == 2 and h.state.delivery_count() == 0


def test_unknown_tracker_and_tracker_without_webhooks_are_404(h):
    assert h.client.post("/webhooks/nope", content=b"{}").status_code == 404
    assert h.client.post("/webhooks/plain", content=b"{}").status_code == 404
    assert h.client.get("/elsewhere").status_code == 404


def test_wrong_methods_are_405(h):
    response = h.client.get("/webhooks/linear")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert h.client.post("/healthz").status_code == 405
    assert h.client.delete("/metrics").status_code == 405


class ExplodingInput(io.RawIOBase):
    def read(self, *_args):  # the app must not read a byte of an oversize body
        raise AssertionError("body was read")


def test_oversize_body_is_413_before_reading_it(h):
    environ_seen = {}

    def start_response(status, headers):
        environ_seen["status"] = status

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/linear",
        "CONTENT_LENGTH": "5000000",
        "wsgi.input": ExplodingInput(),
    }
    body = b"".join(h.app(environ, start_response))
    assert environ_seen["status"].startswith("413")
    assert b"limit" in body
    assert h.linear.seen == []
    assert h.metric("syncd_webhook_deliveries_total", tracker="linear", outcome="too_large") == 1


def test_oversize_through_httpx_is_413(h):
    response = h.client.post("/webhooks/linear", content=b"x" * 1001)
    assert response.status_code == 413
    assert h.deliver(["L-1"] * 10).status_code == 202  # under the limit is fine


def test_missing_content_length_is_411(h):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/linear",
        "wsgi.input": io.BytesIO(),
    }
    statuses = []
    h.app(environ, lambda status, headers: statuses.append(status))
    assert statuses[0].startswith("411")


def test_truncated_body_is_400(h):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/linear",
        "CONTENT_LENGTH": "100",
        "wsgi.input": io.BytesIO(b"short"),
    }
    statuses = []
    h.app(environ, lambda status, headers: statuses.append(status))
    assert statuses[0].startswith("400") and h.linear.seen == []


def test_standby_answers_503_and_records_nothing(h):
    h.standby = "standby: the sync lease is held by other:1"
    response = h.deliver(["LIN-1"], delivery="later")
    assert response.status_code == 503 and "standby" in response.json()["message"]
    assert h.linear.seen == [] and h.state.delivery_count() == 0
    h.standby = None
    assert h.deliver(["LIN-1"], delivery="later").status_code == 202


def test_parser_crash_is_500_and_logged_not_raised(h):
    def broken(headers, body):
        raise RuntimeError("connector bug")

    h.app.parsers["linear"] = broken
    response = h.client.post("/webhooks/linear", content=b"{}")
    assert response.status_code == 500
    assert "connector bug" not in response.text


def test_healthz_and_readyz(h):
    assert h.client.get("/healthz").text == "ok\n"
    assert h.client.head("/healthz").status_code == 200
    assert h.client.get("/readyz").status_code == 200
    h.ready = Readiness(False, "reconcile failing for 1000 s")
    response = h.client.get("/readyz")
    assert response.status_code == 503 and "failing" in response.text


def test_readyz_survives_a_broken_readiness_check(h):
    def broken():
        raise RuntimeError("boom")

    h.app.readiness = broken
    response = h.client.get("/readyz")
    assert response.status_code == 503 and "boom" in response.text


def test_metrics_parse_and_include_tracker_stats(h):
    response = h.client.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "syncd_runs",
        "syncd_run_duration_seconds",
        "syncd_items",
        "syncd_overdue_items",
        "syncd_tickets_created",
        "syncd_tickets_updated",
        "syncd_doc_edits",
        "syncd_api_requests",
        "syncd_api_errors",
        "syncd_rate_limit_waits",
        "syncd_last_success_timestamp_seconds",
        "syncd_webhook_deliveries",
        "syncd_lease_held",
        "syncd_build_info",
    ):
        assert name in families, name
    assert h.metric("syncd_api_requests_total", tracker="linear", kind="read") == 3
    assert h.metric("syncd_api_errors_total", tracker="linear") == 1
    assert h.metric("syncd_rate_limit_waits_total", tracker="linear") == 2
    assert h.metric("syncd_runs_total", kind="webhook", outcome="failed") == 0


def test_real_loopback_socket_end_to_end(tmp_path):
    harness = Harness(tmp_path, max_body_bytes=10_000)
    server = HttpServer(harness.app, "127.0.0.1", 0)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        body = json.dumps({"keys": ["LIN-9"]}).encode()
        with httpx.Client(base_url=base) as client:
            ok = client.post(
                "/webhooks/linear",
                content=body,
                headers={"X-Signature": signed(body), "X-Delivery": "sock-1"},
            )
            assert ok.status_code == 202
            assert client.get("/healthz").status_code == 200
            assert client.get("/metrics").status_code == 200
            forged = client.post(
                "/webhooks/linear", content=body, headers={"X-Signature": signed(body, "x")}
            )
            assert forged.status_code == 401
        assert harness.queued == [("linear", frozenset({"LIN-9"}))]

        # 413 is answered from the headers alone: the client never sends the body.
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(
                b"POST /webhooks/linear HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
            )
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.0 413") or reply.startswith(b"HTTP/1.1 413")
    finally:
        server.stop()
        harness.client.close()
        harness.state.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_real_connector_is_served_generically(tmp_path):
    """The GitHub connector behind the same app: its config name is the path."""
    section = {
        "kind": "github",
        "url": "http://127.0.0.1:9",
        "repo": "acme/reliability",
        "token": "t0ken",
        "webhook_secret": SECRET,
    }
    connectors = {"gh-main": build("gh-main", section)}
    state = StateStore.open(tmp_path / "state.db")
    queued = []
    app = App(
        parsers=webhook_parsers(connectors),
        state=state,
        metrics=Metrics(connectors, ("gh-main",)),
        on_keys=lambda t, k: queued.append((t, k)),
        readiness=lambda: Readiness(True, "ready"),
        max_body_bytes=100_000,
    )
    body = json.dumps(
        {
            "action": "closed",
            "issue": {"number": 5},
            "repository": {"full_name": "acme/reliability"},
        }
    ).encode()
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://w") as client:
        response = client.post(
            "/webhooks/gh-main",
            content=body,
            headers={
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": "abc",
                "X-Hub-Signature-256": signed(body),
            },
        )
    assert response.status_code == 202
    assert queued == [("gh-main", frozenset({"acme/reliability#5"}))]
    state.close()
