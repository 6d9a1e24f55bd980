"""Prometheus metrics of the worker, on a dedicated registry (`GET /metrics`).

A dedicated `CollectorRegistry`, not the library's global one: tests build several
workers in one process, and the default registry's process/platform collectors would
report the test runner rather than the worker.

Per-tracker API counters are read live from each connector's `stats` at scrape time
(they are cumulative for the process lifetime, exactly a Prometheus counter), so no
request is ever counted twice or missed between runs.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from syncd import __version__
from syncd.sync.run import RunResult
from syncd.sync.state import StateStore

CONTENT_TYPE = CONTENT_TYPE_LATEST
RUN_KINDS = ("scheduled", "webhook")
RUN_OUTCOMES = ("ok", "partial", "failed")  # partial: some items failed, retried next run
WEBHOOK_OUTCOMES = (
    "accepted",  # verified, keys queued for a targeted run
    "ignored",  # verified, but names nothing this tool syncs (ping, other repo, …)
    "duplicate",  # delivery id seen before: a redelivery or a replay
    "unauthorized",  # missing or wrong signature (401)
    "malformed",  # not JSON, missing headers (400)
    "too_large",  # over server.max_body_bytes (413)
    "unavailable",  # this worker is a standby (503)
    "error",  # the connector's parser failed unexpectedly (500)
)
CLOSED_STATUSES = frozenset({"done", "wont_do"})
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class _TrackerStats(Collector):
    """`connector.stats` of every tracker, as counters."""

    def __init__(self, connectors: Mapping[str, object]) -> None:
        self._connectors = dict(connectors)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "syncd_api_requests",
            "HTTP requests sent to each tracker, by kind (read or write)",
            labels=["tracker", "kind"],
        )
        errors = CounterMetricFamily(
            "syncd_api_errors", "Failed tracker requests", labels=["tracker"]
        )
        waits = CounterMetricFamily(
            "syncd_rate_limit_waits",
            "Times a tracker's rate limit made the worker wait (Retry-After honoured)",
            labels=["tracker"],
        )
        for name, connector in sorted(self._connectors.items()):
            stats = getattr(connector, "stats", None)
            if stats is None:
                continue
            requests.add_metric([name, "read"], stats.reads)
            requests.add_metric([name, "write"], stats.writes)
            errors.add_metric([name], stats.errors)
            waits.add_metric([name], stats.rate_limit_waits)
        yield requests
        yield errors
        yield waits


class Metrics:
    def __init__(
        self,
        connectors: Mapping[str, object] | None = None,
        webhook_trackers: Iterable[str] = (),
    ) -> None:
        r = self.registry = CollectorRegistry()
        self.runs = Counter(
            "syncd_runs", "Reconcile runs by kind and outcome", ["kind", "outcome"], registry=r
        )
        self.run_duration = Histogram(
            "syncd_run_duration_seconds",
            "Wall time of reconcile runs",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.items = Gauge(
            "syncd_items",
            "Action items known to the state store, by tracker and status in the doc",
            ["tracker", "status"],
            registry=r,
        )
        self.overdue = Gauge(
            "syncd_overdue_items",
            "Open action items whose due date has passed, by tracker",
            ["tracker"],
            registry=r,
        )
        self.tickets_created = Counter(
            "syncd_tickets_created", "Tickets created for action items", registry=r
        )
        self.tickets_updated = Counter(
            "syncd_tickets_updated",
            "Ticket updates pushed from docs, by change (fields or status)",
            ["change"],
            registry=r,
        )
        self.doc_edits = Counter(
            "syncd_doc_edits", "Cells (ticket keys, statuses) written into docs", registry=r
        )
        self.docs_written = Counter("syncd_docs_written", "Doc files rewritten", registry=r)
        self.conflicts = Counter(
            "syncd_conflicts", "Both-sides-changed conflicts resolved by rule", registry=r
        )
        self.item_errors = Counter(
            "syncd_item_errors", "Errors during runs (failed items, listings, writes)", registry=r
        )
        self.last_success = Gauge(
            "syncd_last_success_timestamp_seconds",
            "Unix time of the last reconcile run that finished without errors",
            registry=r,
        )
        self.last_run = Gauge(
            "syncd_last_run_timestamp_seconds",
            "Unix time of the last reconcile run, whatever its outcome",
            registry=r,
        )
        self.webhooks = Counter(
            "syncd_webhook_deliveries",
            "Webhook deliveries by tracker and outcome",
            ["tracker", "outcome"],
            registry=r,
        )
        self.queued_keys = Gauge(
            "syncd_webhook_queued_keys",
            "Ticket keys waiting for a debounced targeted run",
            registry=r,
        )
        self.lease_held = Gauge(
            "syncd_lease_held", "1 while this process holds the sync lease", registry=r
        )
        self.digests = Counter(
            "syncd_digest_runs", "Scheduled digest attempts by outcome", ["outcome"], registry=r
        )
        info = Gauge("syncd_build_info", "Always 1; the version label", ["version"], registry=r)
        info.labels(__version__).set(1)
        # Every known label combination starts at 0, so rate() and absent() work from
        # the first scrape instead of the first event.
        for kind in RUN_KINDS:
            self.run_duration.labels(kind)
            for outcome in RUN_OUTCOMES:
                self.runs.labels(kind, outcome)
        for change in ("fields", "status"):
            self.tickets_updated.labels(change)
        for tracker in webhook_trackers:
            for outcome in WEBHOOK_OUTCOMES:
                self.webhooks.labels(tracker, outcome)
        r.register(_TrackerStats(connectors or {}))

    def observe_run(
        self, kind: str, outcome: str, duration: float, result: RunResult | None, at: datetime
    ) -> None:
        self.runs.labels(kind, outcome).inc()
        self.run_duration.labels(kind).observe(duration)
        self.last_run.set(at.timestamp())
        if result is None:
            return
        self.tickets_created.inc(result.created)
        self.tickets_updated.labels("fields").inc(result.updated)
        self.tickets_updated.labels("status").inc(result.status_pushed)
        self.doc_edits.inc(result.doc_edits)
        self.docs_written.inc(result.docs_written)
        self.conflicts.inc(result.conflicts)
        self.item_errors.inc(result.errors)
        if outcome == "ok":
            self.last_success.set(at.timestamp())

    def refresh_items(self, state: StateStore, today: date) -> None:
        """Recompute the item gauges from the state store (after each run, not per
        scrape: a scrape must stay cheap however many items there are)."""
        by_status: Tally[tuple[str, str]] = Tally()
        overdue: Tally[str] = Tally()
        trackers: set[str] = set()
        for record in state.items():
            trackers.add(record.tracker)
            status = str(record.doc.get("status") or "unknown")
            by_status[(record.tracker, status)] += 1
            due = record.doc.get("due")
            if due and status not in CLOSED_STATUSES and _before(due, today):
                overdue[record.tracker] += 1
        self.items.clear()
        self.overdue.clear()
        for (tracker, status), count in by_status.items():
            self.items.labels(tracker, status).set(count)
        for tracker in trackers:
            self.overdue.labels(tracker).set(overdue[tracker])

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _before(due: object, today: date) -> bool:
    if isinstance(due, date):
        return due < today
    try:
        return date.fromisoformat(str(due)) < today
    except ValueError:
        return False
