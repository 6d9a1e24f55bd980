"""The worker's HTTP side: webhooks, health, readiness and metrics (stdlib WSGI).

    POST /webhooks/<tracker>   verified by the tracker's connector (`parse_webhook`)
    GET  /healthz              200 while the process is alive
    GET  /readyz               200, or 503 with the reason (standby, state, failing runs)
    GET  /metrics              Prometheus text

Webhook handling order matters for safety:

1. unknown tracker → 404; a standby worker → 503 (the sender may redeliver later);
2. `Content-Length` over `server.max_body_bytes` → 413 *before* reading the body;
3. the connector verifies the signature over the raw bytes → 401 and nothing recorded
   (a forger must not be able to burn real delivery ids in the de-dup table);
4. the delivery id is recorded in the state store → a replay answers 200 "duplicate";
5. the affected ticket keys (never the body) go to the debouncer → 202.

A delivery only ever *names* tickets; the worker re-reads them from the tracker before
acting, so even a replayed or delayed delivery cannot write stale data anywhere.

No tracker is named here: every configured tracker whose connector has
`parse_webhook` is served at `/webhooks/<its config name>`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog

from connectors.base import WebhookEvent, WebhookRejected
from syncd.service.metrics import CONTENT_TYPE, Metrics
from syncd.sync.state import StateStore

log = structlog.get_logger(__name__)

WebhookParser = Callable[[Mapping[str, str], bytes], WebhookEvent]
StartResponse = Callable[..., Any]

_WEBHOOK_PATH = re.compile(r"^/webhooks/(?P<tracker>[^/]+)/?$")
_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_OUTCOME_BY_STATUS = {400: "malformed", 401: "unauthorized", 413: "too_large", 503: "unavailable"}
READ_CHUNK = 64 * 1024


def webhook_parsers(connectors: Mapping[str, Any]) -> dict[str, WebhookParser]:
    """The trackers that accept webhooks: those whose connector has `parse_webhook`."""
    parsers: dict[str, WebhookParser] = {}
    for name, connector in connectors.items():
        parse = getattr(connector, "parse_webhook", None)
        if callable(parse):
            parsers[name] = parse
    return parsers


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


class App:
    """The WSGI application. Everything it needs is injected, so tests drive it through
    `httpx.WSGITransport` with no socket and no worker."""

    def __init__(
        self,
        *,
        parsers: Mapping[str, WebhookParser],
        state: StateStore,
        metrics: Metrics,
        on_keys: Callable[[str, frozenset[str]], None],
        readiness: Callable[[], Readiness],
        max_body_bytes: int,
        standby_reason: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.parsers = dict(parsers)
        self.state = state
        self.metrics = metrics
        self.on_keys = on_keys
        self.readiness = readiness
        self.max_body_bytes = max_body_bytes
        self.standby_reason = standby_reason

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        try:
            if path == "/healthz":
                return self._get_only(method, start_response, lambda: _text(200, "ok\n"))
            if path == "/readyz":
                return self._get_only(method, start_response, self._ready)
            if path == "/metrics":
                return self._get_only(method, start_response, self._metrics)
            match = _WEBHOOK_PATH.match(path)
            if match:
                if method != "POST":
                    return _respond(start_response, _json(405, "use POST"), allow="POST")
                return _respond(start_response, self._webhook(match["tracker"], environ))
            return _respond(start_response, _json(404, f"no such endpoint: {path}"))
        except Exception as exc:  # a bug must answer 500, never kill the server thread
            log.error("http handler failed", path=path, error=exc)
            return _respond(start_response, _json(500, "internal error"))

    # -- plain endpoints -------------------------------------------------------------
    def _get_only(
        self,
        method: str,
        start_response: StartResponse,
        build: Callable[[], tuple[int, str, bytes]],
    ) -> Iterable[bytes]:
        if method not in ("GET", "HEAD"):
            return _respond(start_response, _json(405, "use GET"), allow="GET, HEAD")
        response = build()
        body = b"" if method == "HEAD" else response[2]
        return _respond(start_response, (response[0], response[1], body), length=len(response[2]))

    def _ready(self) -> tuple[int, str, bytes]:
        try:
            verdict = self.readiness()
        except Exception as exc:  # readiness must answer, whatever broke
            verdict = Readiness(False, f"readiness check failed: {type(exc).__name__}: {exc}")
        return _text(200 if verdict.ready else 503, verdict.reason + "\n")

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE, self.metrics.render()

    # -- webhooks ---------------------------------------------------------------------
    def _webhook(self, tracker: str, environ: dict[str, Any]) -> tuple[int, str, bytes]:
        parse = self.parsers.get(tracker)
        if parse is None:
            return _json(404, f"no webhook endpoint for tracker {tracker!r}")
        return self._deliver(tracker, parse, environ)

    def _deliver(
        self, tracker: str, parse: WebhookParser, environ: dict[str, Any]
    ) -> tuple[int, str, bytes]:
        def outcome(name: str, response: tuple[int, str, bytes]) -> tuple[int, str, bytes]:
            self.metrics.webhooks.labels(tracker, name).inc()
            return response

        standby = self.standby_reason()
        if standby is not None:
            # Not recorded: the active worker (or this one, later) must still see it.
            return outcome("unavailable", _json(503, standby))
        length_text = environ.get("CONTENT_LENGTH") or ""
        if not length_text.strip().isdigit():
            return outcome("malformed", _json(411, "a Content-Length header is required"))
        length = int(length_text)
        if length > self.max_body_bytes:
            # Refused before reading a byte of it: the body may be arbitrarily large.
            return outcome(
                "too_large", _json(413, f"body over the {self.max_body_bytes}-byte limit")
            )
        body = _read_body(environ["wsgi.input"], length)
        if len(body) != length:
            return outcome("malformed", _json(400, "body shorter than its Content-Length"))
        try:
            event = parse(_headers(environ), body)
        except WebhookRejected as exc:
            name = _OUTCOME_BY_STATUS.get(exc.status, "unauthorized")
            log.warning("webhook rejected", tracker=tracker, status=exc.status, reason=str(exc))
            return outcome(name, _json(exc.status, str(exc)))
        except NotImplementedError:
            return outcome("error", _json(404, f"tracker {tracker!r} does not accept webhooks"))
        except Exception as exc:
            log.error("webhook parser failed", tracker=tracker, error=exc)
            return outcome("error", _json(500, "the delivery could not be processed"))
        if event.delivery_id is not None and not self.state.record_delivery(
            tracker, event.delivery_id
        ):
            return outcome("duplicate", _json(200, "duplicate", delivery=event.delivery_id))
        if not event.keys:
            return outcome("ignored", _json(202, "accepted", event=event.kind, keys=0))
        self.on_keys(tracker, event.keys)
        log.info(
            "webhook accepted",
            tracker=tracker,
            kind=event.kind,  # not `event=`: structlog's message argument has that name
            delivery=event.delivery_id,
            keys=sorted(event.keys)[:10],
        )
        return outcome("accepted", _json(202, "accepted", event=event.kind, keys=len(event.keys)))


def _read_body(stream: Any, length: int) -> bytes:
    chunks: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(READ_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """Request headers with lower-case, dash-separated names (the connector contract)."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].lower().replace("_", "-")] = str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers[key.lower().replace("_", "-")] = str(value)
    return headers


def _text(status: int, text: str) -> tuple[int, str, bytes]:
    return status, "text/plain; charset=utf-8", text.encode()


def _json(status: int, message: str, **extra: Any) -> tuple[int, str, bytes]:
    payload = {"status": message if status < 300 else "error", "message": message, **extra}
    if status < 300:
        payload.pop("message")
    return status, "application/json", json.dumps(payload).encode() + b"\n"


def _respond(
    start_response: StartResponse,
    response: tuple[int, str, bytes],
    *,
    allow: str | None = None,
    length: int | None = None,
) -> list[bytes]:
    status, content_type, body = response
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body) if length is None else length)),
        ("Cache-Control", "no-store"),
    ]
    if allow:
        headers.append(("Allow", allow))
    start_response(f"{status} {_REASONS.get(status, '')}".strip(), headers)
    return [body]


# --------------------------------------------------------------------------- serving


class _Handler(WSGIRequestHandler):
    # A socket timeout: a client that trickles bytes cannot pin a thread for ever.
    timeout = 15

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http request", client=self.client_address[0], line=format % args)

    def address_string(self) -> str:  # no reverse DNS lookup per request
        return str(self.client_address[0])


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck client never blocks shutdown
    allow_reuse_address = True
    request_queue_size = 128
    max_threads = 32  # beyond this, connections wait in the listen backlog

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(self.max_threads)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Bounded concurrency: a flood of connections queues instead of spawning a
        # thread (and its stack) per connection.
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr, bypassing structlog and redaction;
        # these are client disconnects and timeouts, not our errors.
        log.debug("http connection error", client=str(client_address[0]))


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class HttpServer:
    """A threaded wsgiref server on `host:port` (port 0 picks a free one)."""

    def __init__(self, app: App, host: str, port: int) -> None:
        server_class = _ThreadingServer6 if ":" in host else _ThreadingServer
        self._server = make_server(host, port, app, server_class, _Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # shutdown() waits up to one interval
            name="syncd-http",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
