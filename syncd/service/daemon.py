"""The long-running worker behind `syncd run` (CLI wiring in `syncd.service.worker`).

One process, three kinds of thread:

* the main thread owns every write: it holds the sync lease, runs the scheduled
  reconcile every `sync.interval` (± `sync.jitter`), the debounced webhook-targeted
  runs (`Engine.run(only=…)`), and the weekly digest when its cron fires;
* the HTTP server's threads only verify deliveries, record their ids and queue
  ticket keys (see `syncd.service.server`); they never touch a doc or a ticket;
* the lease renewer keeps the sync lease alive while the process is healthy.

A second worker on the same state file stands by: it serves `/healthz` and answers
`/readyz` and webhooks with 503 until the lease is released or expires, then takes
over. SIGTERM/SIGINT stop the loop: the run in flight stops between create chunks
(`Engine(should_stop=…)`), writes what it has, and the process exits 0.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from connectors.base import Connector, WebhookRejected
from syncd.common.exits import EXIT_OK, EXIT_RETRY
from syncd.config import ConfigError, Settings
from syncd.service.cron import Cron
from syncd.service.debounce import Debouncer
from syncd.service.metrics import Metrics
from syncd.service.server import App, HttpServer, Readiness, WebhookParser, webhook_parsers
from syncd.sync.engine import Engine
from syncd.sync.lease import LeaseKeeper, describe
from syncd.sync.notes import NoteKind
from syncd.sync.run import RunResult
from syncd.sync.state import StateStore

log = structlog.get_logger(__name__)

FAILING_INTERVALS = 3  # /readyz turns 503 after this many intervals of failing runs
TICK = 0.2  # longest sleep of the main loop: how fast a stop signal is noticed
DIGEST_META = "worker.digest.last_fire"
DIGEST_CATCH_UP = timedelta(hours=12)  # a fire missed while down is sent late, once
MAX_LOGGED_NOTES = 20


# --------------------------------------------------------------------------- digest


class DigestClock:
    """When the weekly digest is due, from `digest.schedule` in `digest.timezone`.

    The last fire is kept in the state store's meta table, so a restart in the fire
    minute does not send twice, and a worker that was down at the fire time sends it
    once when it comes back (within `DIGEST_CATCH_UP`).
    """

    def __init__(self, settings: Settings, state: StateStore, now: datetime) -> None:
        self.cron = Cron.parse(settings.digest.schedule)
        self.tz = settings.digest.tz
        self.enabled = bool(settings.digest.to)
        self.state = state
        raw = state.meta_get(DIGEST_META)
        last = datetime.fromisoformat(raw) if raw else None
        self.next = self.after(last or now)
        if self.next < now - DIGEST_CATCH_UP:
            log.info(
                "digest fire missed long ago; waiting for the next", missed=self.next.isoformat()
            )
            self.next = self.after(now)

    def after(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.tz).replace(tzinfo=None)
        return self.cron.next_after(local).replace(tzinfo=self.tz).astimezone(UTC)

    def due(self, now: datetime) -> bool:
        return self.enabled and now >= self.next

    def fired(self, now: datetime) -> None:
        self.state.meta_set(DIGEST_META, self.next.isoformat())
        self.next = self.after(max(now, self.next))


# --------------------------------------------------------------------------- worker


class Worker:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        connectors: Mapping[str, Connector],
        *,
        once: bool = False,
        lease_wait: float | None = None,
        serve_http: bool = True,
        keeper: LeaseKeeper | None = None,
        debouncer: Debouncer | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.settings = settings
        # /readyz answers over HTTP, outside the log redactor: its reasons (exception
        # texts) go through the same scrubbing before they leave the process.
        self.redact = redact
        self.state = state
        self.connectors = dict(connectors)
        self.once = once
        self.lease_wait = lease_wait
        self.now = now
        self.keeper = keeper or LeaseKeeper(state)
        self.debouncer = debouncer or Debouncer()
        self.parsers: dict[str, WebhookParser] = webhook_parsers(self.connectors)
        self.metrics = Metrics(self.connectors, tuple(self.parsers))
        self.engine = Engine(settings, state, self.connectors, should_stop=self.should_stop)
        self.digest = DigestClock(settings, state, now())
        self.interval = settings.sync.interval.total_seconds()
        self.next_full = 0.0  # monotonic time of the next scheduled run
        self.stop_reason: str | None = None
        self.runs = 0
        self.failed_runs = 0
        self.last_result: RunResult | None = None
        self._failing_since: float | None = None
        self._last_failure = ""
        self._rng = random.Random()  # noqa: S311 - schedule jitter, not cryptography
        self.app = App(
            parsers=self.parsers,
            state=state,
            metrics=self.metrics,
            on_keys=self._queue,
            readiness=self.readiness,
            max_body_bytes=settings.server.max_body_bytes,
            standby_reason=self.standby_reason,
        )
        self.http: HttpServer | None = None
        if serve_http and not once:
            self.http = HttpServer(self.app, settings.server.host, settings.server.port)

    # -- control ---------------------------------------------------------------------
    def request_stop(self, reason: str = "requested") -> None:
        """Safe from a signal handler: only sets a flag (no locks, no logging)."""
        self.stop_reason = reason

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    def should_stop(self) -> bool:
        return self.stopping or self.keeper.lost

    def standby_reason(self) -> str | None:
        if self.keeper.held:
            return None
        other = self.keeper.other
        return "standby: the sync lease is " + (describe(other) if other else "not held yet")

    def readiness(self) -> Readiness:
        verdict = self._readiness()
        return Readiness(verdict.ready, self.redact(verdict.reason))

    def _readiness(self) -> Readiness:
        standby = self.standby_reason()
        if standby is not None:
            return Readiness(False, standby)
        try:
            self.state.ping()
        except Exception as exc:
            return Readiness(False, f"state store unreachable: {type(exc).__name__}: {exc}")
        if self._failing_since is not None:
            failing = time.monotonic() - self._failing_since
            if failing > FAILING_INTERVALS * self.interval:
                return Readiness(
                    False,
                    f"reconcile failing for {failing:.0f} s (over {FAILING_INTERVALS} intervals "
                    f"of {self.interval:.0f} s): {self._last_failure}",
                )
        return Readiness(True, "ready")

    def _queue(self, tracker: str, keys: frozenset[str]) -> None:
        self.debouncer.add(tracker, keys)
        self.metrics.queued_keys.set(self.debouncer.pending_keys)

    # -- the process -------------------------------------------------------------------
    def run(self) -> int:
        self._warn_about_webhook_secrets()
        if self.http is not None:
            self.http.start()
            log.info(
                "http server listening",
                host=self.http.host,
                port=self.http.port,
                webhooks=sorted(self.parsers),
            )
        code = EXIT_OK
        try:
            while not self.stopping:
                if not self._acquire():
                    break
                try:
                    code = self._lead()
                finally:
                    self.keeper.release()
                    self.metrics.lease_held.set(0)
                if self.once or self.stopping:
                    break
                # The lease was lost mid-flight: stand by again, never write without it.
        finally:
            if self.http is not None:
                self.http.stop()
            log.info("worker stopped", reason=self.stop_reason or "done", runs=self.runs)
        return code

    def _acquire(self) -> bool:
        def busy(lease: Any) -> None:
            if self.lease_wait is None:
                log.warning(
                    "another syncd holds the sync lease; standing by until it is released "
                    "or expires",
                    lease=describe(lease),
                )
            else:
                log.warning(
                    "another syncd holds the sync lease; waiting",
                    lease=describe(lease),
                    wait_s=self.lease_wait,
                )

        if self.keeper.acquire(
            self.lease_wait, should_stop=lambda: self.stopping, poll=1.0, on_busy=busy
        ):
            self.metrics.lease_held.set(1)
            log.info("sync lease acquired", holder=self.keeper.holder)
            self.keeper.start_renewing()
            return True
        if not self.stopping:
            other = describe(self.keeper.other) if self.keeper.other else "held"
            log.warning(
                "another syncd is reconciling; exiting without changing anything",
                lease=other,
                waited_s=self.lease_wait,
            )
        return False

    def _lead(self) -> int:
        """Reconcile on schedule and on webhooks until stopped or the lease is lost."""
        self.metrics.refresh_items(self.state, self._today())
        last = self.state.last_success()
        if last is not None:
            self.metrics.last_success.set(last.timestamp())
        if self.once:
            result = self.reconcile("scheduled")
            return EXIT_RETRY if result is None or result.errors else EXIT_OK
        self.next_full = time.monotonic()  # the first run starts at once
        while not self.should_stop():
            self.debouncer.wake.clear()
            now = time.monotonic()
            if now >= self.next_full:
                self.debouncer.take()  # the full run covers whatever was queued
                self.reconcile("scheduled")
                self.next_full = time.monotonic() + self._next_interval()
                continue
            due = self.debouncer.due_in()
            if due == 0:
                batch = self.debouncer.take()
                self.metrics.queued_keys.set(self.debouncer.pending_keys)
                if batch is not None and batch.overflow:
                    log.warning("webhook queue overflowed; running a full reconcile instead")
                    self.reconcile("webhook", deliveries=batch.deliveries)
                elif batch is not None and batch.keys:
                    self.reconcile(
                        "webhook", {t: set(k) for t, k in batch.keys.items()}, batch.deliveries
                    )
                continue
            if self.digest.due(self.now()):
                self._send_digest()
                continue
            timeout = min(self.next_full - now, TICK if due is None else min(due, TICK))
            self.debouncer.wake.wait(max(0.0, timeout))
        if self.stopping:
            log.info("stop requested; leaving the loop", signal=self.stop_reason)
        return EXIT_OK

    def _next_interval(self) -> float:
        jitter = self.settings.sync.jitter
        return self.interval * (1 + self._rng.uniform(-jitter, jitter))

    def _today(self) -> date:
        return self.now().astimezone(self.settings.digest.tz).date()

    # -- one reconcile -------------------------------------------------------------------
    def reconcile(
        self, kind: str, only: Mapping[str, set[str]] | None = None, deliveries: int = 0
    ) -> RunResult | None:
        before = {name: _stats(c) for name, c in self.connectors.items()}
        started = time.monotonic()
        structlog.contextvars.bind_contextvars(run=kind)
        try:
            result = self.engine.run(only=only)
        except Exception as exc:  # logged, counted and surfaced by /readyz: never silent
            duration = time.monotonic() - started
            self.runs += 1
            self.failed_runs += 1
            self._failing(f"{type(exc).__name__}: {exc}")
            self.metrics.observe_run(kind, "failed", duration, None, self.now())
            log.error("run failed", kind=kind, error=exc, duration_s=round(duration, 3))
            if self.once and isinstance(exc, ConfigError):
                # a detached HEAD, a missing branch: no later run heals it, so `run --once`
                # exits 1 with the message `syncd.cli.main` prints for every ConfigError
                raise
            return None
        finally:
            structlog.contextvars.unbind_contextvars("run")
        duration = time.monotonic() - started
        self.runs += 1
        self.last_result = result
        outcome = "ok" if result.errors == 0 else "partial"
        broken = [n for n in result.notes if n.kind is NoteKind.LISTING_FAILED]
        if broken:
            self._failing("; ".join(n.message for n in broken)[:500])
        else:
            self._failing_since = None
        self.metrics.observe_run(kind, outcome, duration, result, self.now())
        self.metrics.refresh_items(self.state, self._today())
        for note in result.failures()[:MAX_LOGGED_NOTES]:
            log.warning(note.kind.value, **{k: v for k, v in note.to_dict().items() if k != "kind"})
        summary: dict[str, Any] = dict(
            kind=kind,
            outcome=outcome,
            targeted=_describe_only(only),
            deliveries=deliveries or None,
            docs=result.docs,
            items=result.items,
            created=result.created,
            updated=result.updated,
            status_pushed=result.status_pushed,
            doc_edits=result.doc_edits,
            conflicts=result.conflicts,
            errors=result.errors,
            problems=len(result.problems),
            requests=_requests_delta(before, self.connectors),
            commit=result.commit,
            duration_s=round(duration, 3),
        )
        # The one summary line per run the issue asks for (None fields left out).
        log.info("run finished", **{k: v for k, v in summary.items() if v is not None})
        return result

    def _failing(self, message: str) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        self._last_failure = message

    # -- digest ----------------------------------------------------------------------------
    def _send_digest(self) -> None:
        now = self.now()
        try:
            self._try_digest(now)
        finally:
            # Marked fired even on failure: a broken SMTP server must not turn the
            # loop into a retry storm. `syncd digest` resends by hand (runbook).
            self.digest.fired(now)

    def _try_digest(self, now: datetime) -> None:
        try:
            module = importlib.import_module("syncd.digest")
        except ImportError as exc:
            log.warning("digest is due but syncd.digest cannot be imported; skipped", error=exc)
            self.metrics.digests.labels("skipped").inc()
            return
        build_and_send = getattr(module, "build_and_send", None)
        if not callable(build_and_send):
            log.warning("digest is due but syncd.digest.build_and_send does not exist; skipped")
            self.metrics.digests.labels("skipped").inc()
            return
        try:
            outcome = build_and_send(self.settings, self.state, now, force=False)
        except Exception as exc:
            self.metrics.digests.labels("failed").inc()
            log.error("digest failed", error=exc, scheduled=self.digest.next.isoformat())
            return
        # "already sent this week" returns normally too: count what really happened
        label = str(getattr(outcome, "outcome", "sent"))
        self.metrics.digests.labels(label).inc()
        log.info("digest", outcome=label, scheduled=self.digest.next.isoformat())

    # -- startup checks -----------------------------------------------------------------------
    def _warn_about_webhook_secrets(self) -> None:
        """Say, per tracker, what an unsigned delivery would get: without a secret a
        connector either refuses everything or accepts unauthenticated deliveries, and
        both deserve a line at startup rather than a surprise later."""
        if not self.digest.enabled:
            log.info("weekly digest disabled: digest.to is empty")
        for name, parse in self.parsers.items():
            config = getattr(self.connectors[name], "config", None)
            if getattr(config, "webhook_secret", None) is not None:
                continue
            try:
                parse({}, b"{}")  # pure: parse_webhook never acts on anything
            except WebhookRejected as exc:
                if exc.status == 401:
                    log.warning(
                        "no webhook_secret: webhook deliveries for this tracker are refused",
                        tracker=name,
                        reason=str(exc),
                    )
                    continue
            except Exception:  # noqa: S112 - a probe that fails says nothing; skip it
                continue
            log.warning(
                "no webhook_secret: webhook deliveries for this tracker are accepted "
                "UNAUTHENTICATED; configure a secret on both sides",
                tracker=name,
                endpoint=f"/webhooks/{name}",
            )


def _stats(connector: Any) -> tuple[int, int, int, int]:
    stats = getattr(connector, "stats", None)
    if stats is None:
        return (0, 0, 0, 0)
    return (stats.reads, stats.writes, stats.errors, stats.rate_limit_waits)


def _requests_delta(
    before: Mapping[str, tuple[int, int, int, int]], connectors: Mapping[str, Any]
) -> str:
    """This run's requests per tracker, as one compact string for the summary line
    (connector stats are cumulative for the process; the summary wants the run's)."""
    parts = []
    for name, connector in sorted(connectors.items()):
        after = _stats(connector)
        old = before.get(name, (0, 0, 0, 0))
        reads, writes, errors, waits = (a - b for a, b in zip(after, old, strict=True))
        parts.append(f"{name}: {reads} reads, {writes} writes, {errors} errors, {waits} waits")
    return "; ".join(parts)


def _describe_only(only: Mapping[str, set[str]] | None) -> str | None:
    if only is None:
        return None
    keys = sorted(f"{k}" for keys in only.values() for k in keys)
    shown = ", ".join(keys[:10])
    return shown + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")
