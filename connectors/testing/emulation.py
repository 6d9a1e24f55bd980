"""Shared plumbing for the loopback tracker emulators (tests, `syncd demo`, benchmarks).

Each connector ships an emulator of its tracker, faithful enough for the real client
library (`jira`, `PyGithub`, httpx for Linear). This module holds what they share:
a threaded HTTP server bound to 127.0.0.1 only, a request log, per-request latency,
and fault injection (including "apply the write, then answer 502").
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"


@dataclass
class Request:
    method: str
    path: str  # path without query
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected failure.

    `match(method, path)` selects requests; `after_apply=True` lets the handler run
    (the write happens) and then replaces the answer — the 502-after-create case.
    `status=0` drops the connection without an answer (a reset).
    """

    status: int
    match: Callable[[str, str], bool] = lambda _m, _p: True
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    after_apply: bool = False
    times: int = 1  # how many requests it hits; -1 = forever
    delay: float = 0.0  # extra seconds before answering (slow response / timeout)


class FaultPlan:
    """Faults queued by tests, plus an optional random rate for soak runs."""

    def __init__(self, seed: int = 0) -> None:
        self._queue: list[Fault] = []
        self._random: list[tuple[float, Callable[[random.Random], Fault]]] = []
        self._rng = random.Random(seed)  # noqa: S311 - reproducible fault injection, not crypto
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def add_random(self, rate: float, make: Callable[[random.Random], Fault]) -> None:
        with self._lock:
            self._random.append((rate, make))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._random.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._queue:
                if fault.match(method, path):
                    if fault.times > 0:
                        fault.times -= 1
                        if fault.times == 0:
                            self._queue.remove(fault)
                    self.injected[f"{fault.status}{'+applied' if fault.after_apply else ''}"] += 1
                    return fault
            for rate, make in self._random:
                if self._rng.random() < rate:
                    fault = make(self._rng)
                    if fault.match(method, path):
                        self.injected[
                            f"{fault.status}{'+applied' if fault.after_apply else ''}"
                        ] += 1
                        return fault
        return None


Handler = Callable[[Request, dict[str, str]], Response]


class EmulatorServer:
    """Routes `(METHOD, regex)` to handlers; subclasses register their routes."""

    def __init__(self, *, latency: float = 0.0, seed: int = 0, clock_scale: float = 1.0) -> None:
        if clock_scale <= 0:
            raise ValueError("clock_scale must be positive")
        self.latency = latency
        # The emulated tracker's clock: `clock_scale` > 1 runs it faster than wall time
        # (benchmarks against per-minute limits), `advance_clock` jumps it (tests).
        self.clock_scale = clock_scale
        self.reset_clock()
        self.faults = FaultPlan(seed)
        self.lock = threading.RLock()  # guards the emulated tracker's data
        self.request_log: list[tuple[str, str, int]] = []
        self._routes: list[tuple[str, Any, Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- clock -----------------------------------------------------------------
    def reset_clock(self) -> None:
        self._real_start = time.time()
        self._offset = 0.0  # seconds added by advance_clock

    def _now_ts(self) -> float:
        elapsed = (time.time() - self._real_start) * self.clock_scale
        return self._real_start + elapsed + self._offset

    def now(self) -> datetime:
        """The emulator's current time (aware UTC); it may run ahead of wall time."""
        return datetime.fromtimestamp(self._now_ts(), UTC)

    def advance_clock(self, delta: timedelta) -> None:
        with self.lock:
            self._offset += delta.total_seconds()

    # -- routing -------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:

        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fault_key(self, req: Request) -> tuple[str, str]:
        """The (method, path) that `Fault.match` sees for `req`.

        REST emulators keep the default. A GraphQL emulator, where every request is
        `POST /graphql`, maps each operation to the verb it stands for (query → GET,
        create → POST, update → PATCH) so the shared conformance faults reach it.
        """
        return req.method, req.path

    def dispatch(self, req: Request) -> Response:
        for method, regex, handler in self._routes:
            if method == req.method and (m := regex.match(req.path)):
                return handler(req, m.groupdict())
        return Response(404, {"message": "Not Found", "errorMessages": ["Not Found"]})

    # -- lifecycle -------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle on, the body waits
            # for the client's delayed ACK (~40 ms per request on Linux).
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:
                return

            def date_time_string(self, timestamp: float | None = None) -> str:
                # The `Date` header comes from the emulated tracker's clock (which tests
                # skew and advance), as a real tracker's comes from its own.
                return formatdate(
                    emulator._now_ts() if timestamp is None else timestamp, usegmt=True
                )

            def _handle(self) -> None:
                emulator._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer((LOOPBACK, port), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        # A short poll interval: stop() waits up to one interval (default 0.5 s per test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> EmulatorServer:
        if not self._server:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- accounting --------------------------------------------------------------
    def counts(self) -> Counter[str]:
        """Requests by method (e.g. {"GET": 3, "POST": 1})."""
        return Counter(method for method, _path, _status in self.request_log)

    def reset_log(self) -> None:
        self.request_log.clear()

    # -- one request ---------------------------------------------------------------
    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        req = Request(
            method=http.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
        )
        if self.latency:
            time.sleep(self.latency)
        fault = self.faults.take(*self.fault_key(req))
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and not fault.after_apply:
            resp = Response(fault.status, fault.body, dict(fault.headers))
        else:
            try:
                resp = self.dispatch(req)
            except Exception as exc:  # an emulator bug must surface as a 500, not a hang
                resp = Response(500, {"message": f"emulator error: {exc!r}"})
            if fault:
                resp = Response(fault.status, fault.body, dict(fault.headers))
        self.request_log.append((req.method, req.path, resp.status))
        if resp.status == 0:
            http.close_connection = True
            with contextlib.suppress(OSError):
                http.connection.shutdown(2)
            return
        self._write(http, resp)

    def _write(self, http: BaseHTTPRequestHandler, resp: Response) -> None:
        if isinstance(resp.body, bytes):
            payload = resp.body
        elif resp.body is None:
            payload = b""
        else:
            payload = json.dumps(resp.body).encode()
        http.send_response(resp.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **resp.headers}
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(len(payload)))
        http.end_headers()
        if payload and http.command != "HEAD":
            # a client that timed out has closed its end (a delayed answer): not an error
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                http.wfile.write(payload)
