"""The worker in-process: loop, debouncing, readiness, lease loss, digest hook, cron, signals,
and a burst of 1,000 webhook deliveries over loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import syncd.digest
from connectors.registry import build
from syncd.common.logs import Redactor
from syncd.config import load_config
from syncd.service import daemon as daemon_module
from syncd.service.cron import Cron, CronError
from syncd.service.daemon import DigestClock, Worker
from syncd.service.debounce import Debouncer
from syncd.service.worker import stop_on_signals
from syncd.sync.lease import LeaseKeeper
from syncd.sync.run import RunResult
from syncd.sync.state import StateStore

SECRET = "worker-test-secret"
REPO_NAME = "acme/reliability"


# ----------------------------------------------------------------------------- helpers


class FakeEngine:
    """Records the runs the worker asks for; optionally fails or is slow."""

    def __init__(self, fail: bool = False, delay: float = 0.0) -> None:
        self.calls: list[dict[str, set[str]] | None] = []
        self.fail = fail
        self.delay = delay
        self.lock = threading.Lock()

    def run(self, *, dry_run: bool = False, only: Any = None) -> RunResult:
        with self.lock:
            self.calls.append(None if only is None else {t: set(k) for t, k in only.items()})
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("tracker unreachable (token t0ken-value)")
        return RunResult(docs=1, items=2)

    @property
    def targeted(self) -> list[dict[str, set[str]]]:
        return [c for c in self.calls if c is not None]


def make_settings(tmp_path: Path, extra: str = "", secret: str | None = SECRET):
    (tmp_path / "docs").mkdir(exist_ok=True)
    lines = [
        '[docs]\nroot = "docs"',
        '[state]\npath = "state.db"',
        '[server]\nhost = "127.0.0.1"\nport = 0\nmax_body_bytes = 100000',
        '[sync]\ninterval = "1h"',
        "[trackers.github]",
        'kind = "github"\nurl = "http://127.0.0.1:9"\ntoken = "t0ken-value"',
        f'repo = "{REPO_NAME}"',
    ]
    if secret:
        lines.append(f'webhook_secret = "{secret}"')
    config = tmp_path / "syncd.toml"
    config.write_text("\n".join(lines) + "\n" + extra)
    return load_config(config)


class Running:
    """A Worker on its own thread with a fake engine, stopped on exit."""

    def __init__(self, tmp_path: Path, engine: FakeEngine | None = None, **kwargs: Any) -> None:
        extra = kwargs.pop("extra", "")
        self.settings = make_settings(tmp_path, extra)
        self.state = StateStore.open(self.settings.state.path)
        self.connectors = {
            name: build(name, dict(section)) for name, section in self.settings.trackers.items()
        }
        self.worker = Worker(self.settings, self.state, self.connectors, **kwargs)
        self.engine = engine or FakeEngine()
        self.worker.engine = self.engine  # type: ignore[assignment]
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = self.worker.run()

    def __enter__(self) -> Running:
        self.thread.start()
        wait_for(lambda: self.engine.calls, 10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.worker.request_stop("test")
        self.thread.join(timeout=10)
        for c in self.connectors.values():
            c.close()
        self.state.close()

    @property
    def url(self) -> str:
        assert self.worker.http is not None
        return f"http://127.0.0.1:{self.worker.http.port}"


def wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def github_delivery(number: int, delivery: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "action": "closed",
            "issue": {"number": number},
            "repository": {"full_name": REPO_NAME},
        }
    ).encode()
    return body, {
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256="
        + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


# ----------------------------------------------------------------------------- cron


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 9 * * MON", datetime(2026, 1, 5, 8, 59), datetime(2026, 1, 5, 9, 0)),  # a Monday
        ("0 9 * * MON", datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 12, 9, 0)),  # strictly after
        ("*/15 * * * *", datetime(2026, 1, 5, 9, 7, 30), datetime(2026, 1, 5, 9, 15)),
        ("30 8-10/2 * * *", datetime(2026, 1, 5, 9, 0), datetime(2026, 1, 5, 10, 30)),
        ("0 0 1 JAN *", datetime(2026, 3, 1), datetime(2027, 1, 1)),
        ("0 12 29 2 *", datetime(2026, 3, 1), datetime(2028, 2, 29, 12, 0)),
        ("0 9 * * 0", datetime(2026, 1, 5), datetime(2026, 1, 11, 9, 0)),  # 0 = Sunday
        ("0 9 * * 7", datetime(2026, 1, 5), datetime(2026, 1, 11, 9, 0)),  # 7 = Sunday too
        ("0 9 * * mon-fri", datetime(2026, 1, 9, 10, 0), datetime(2026, 1, 12, 9, 0)),
        ("5/20 * * * *", datetime(2026, 1, 5, 9, 6), datetime(2026, 1, 5, 9, 25)),
        ("0 9 1,15 * *", datetime(2026, 1, 2), datetime(2026, 1, 15, 9, 0)),
    ],
)
def test_cron_next_after(expression, after, expected):
    assert Cron.parse(expression).next_after(after) == expected


def test_cron_day_fields_or_when_both_restricted():
    cron = Cron.parse("0 9 1 * MON")  # the 1st of the month, or any Monday
    assert cron.matches(datetime(2026, 1, 1, 9, 0))  # a Thursday, but the 1st
    assert cron.matches(datetime(2026, 1, 5, 9, 0))  # a Monday
    assert not cron.matches(datetime(2026, 1, 6, 9, 0))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "*/0 * * * *",
        "5-1 * * * *",
        "a * * * *",
        "* * * * FUNDAY",
        "1,,2 * * * *",
        "0 0 31 2 *",
    ],
)
def test_cron_rejects_bad_expressions(bad):
    with pytest.raises(CronError):
        Cron.parse(bad).next_after(datetime(2026, 1, 1))


# ----------------------------------------------------------------------------- debouncer


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_debouncer_waits_for_quiet():
    clock = Clock()
    d = Debouncer(quiet=1.0, max_delay=5.0, clock=clock)
    assert d.due_in() is None and d.take() is None
    d.add("github", {"a#1"})
    assert d.due_in() == 1.0
    clock.t += 0.5
    d.add("github", {"a#2"})
    assert d.due_in() == 1.0  # quiet restarts with every delivery
    clock.t += 1.0
    assert d.due_in() == 0.0
    batch = d.take()
    assert batch.keys == {"github": frozenset({"a#1", "a#2"})}
    assert batch.deliveries == 2 and not batch.overflow and batch.size == 2
    assert d.take() is None and d.pending_keys == 0


def test_debouncer_never_waits_longer_than_max_delay():
    clock = Clock()
    d = Debouncer(quiet=1.0, max_delay=5.0, clock=clock)
    for _ in range(20):  # a steady trickle that is never quiet
        d.add("jira", {"OPS-1"})
        clock.t += 0.5
        if d.due_in() == 0:
            break
    assert clock.t - 100.0 <= 5.5
    assert d.take().keys == {"jira": frozenset({"OPS-1"})}


def test_debouncer_holds_keys_not_deliveries_and_overflows_to_a_full_run():
    d = Debouncer(max_keys=100)
    for i in range(1000):
        d.add("github", {f"a#{i % 50}"})
    assert d.pending_keys == 50  # 1000 deliveries, 50 distinct keys held
    for i in range(1000):
        d.add("github", {f"b#{i}"})
    assert d.pending_keys == 0  # capped: the keys are dropped…
    batch = d.take()
    assert batch.overflow and batch.keys == {}  # …for one full run instead
    assert batch.deliveries == 2000


def test_debouncer_add_wakes_the_loop():
    d = Debouncer()
    d.wake.clear()
    threading.Timer(0.05, lambda: d.add("x", {"k"})).start()
    assert d.wake.wait(2)


# ----------------------------------------------------------------------------- digest clock


def test_digest_clock_fires_once_and_persists(tmp_path):
    settings = make_settings(
        tmp_path, '[digest]\nto = ["lead@example.com"]\nschedule = "0 9 * * MON"\n'
    )
    monday = datetime(2026, 1, 5, 8, 59, 30, tzinfo=UTC)
    with StateStore.open(settings.state.path) as state:
        clock = DigestClock(settings, state, monday)
        assert clock.next == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        assert not clock.due(monday)
        at_nine = monday + timedelta(seconds=30)
        assert clock.due(at_nine)
        clock.fired(at_nine)
        assert clock.next == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
        # a restart in the same minute does not send again
        again = DigestClock(settings, state, at_nine + timedelta(seconds=20))
        assert not again.due(at_nine + timedelta(seconds=20))


def test_digest_clock_catches_up_a_recent_miss_but_not_an_old_one(tmp_path):
    settings = make_settings(tmp_path, '[digest]\nto = ["lead@example.com"]\n')
    with StateStore.open(settings.state.path) as state:
        state.meta_set(daemon_module.DIGEST_META, "2026-01-05T09:00:00+00:00")
        down_at_fire = datetime(2026, 1, 12, 9, 40, tzinfo=UTC)  # restarted 40 min late
        assert DigestClock(settings, state, down_at_fire).due(down_at_fire)
        days_late = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
        clock = DigestClock(settings, state, days_late)
        assert not clock.due(days_late)
        assert clock.next == datetime(2026, 1, 19, 9, 0, tzinfo=UTC)


def test_digest_clock_uses_the_schedule_time_zone(tmp_path):
    settings = make_settings(
        tmp_path, '[digest]\nto = ["x@example.com"]\ntimezone = "America/New_York"\n'
    )
    with StateStore.open(settings.state.path) as state:
        clock = DigestClock(settings, state, datetime(2026, 7, 6, 12, 0, tzinfo=UTC))
        assert clock.next == datetime(2026, 7, 6, 13, 0, tzinfo=UTC)  # 09:00 EDT


def test_digest_disabled_without_recipients(tmp_path):
    settings = make_settings(tmp_path)
    with StateStore.open(settings.state.path) as state:
        clock = DigestClock(settings, state, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        assert not clock.due(datetime(2027, 1, 1, tzinfo=UTC))


# ----------------------------------------------------------------------------- worker loop


def test_worker_runs_first_sync_then_stops_cleanly_and_releases_the_lease(tmp_path):
    with Running(tmp_path) as r:
        assert r.engine.calls == [None]
        assert r.state.get_lease("sync").holder == r.worker.keeper.holder
        assert httpx.get(f"{r.url}/readyz").status_code == 200
        started = time.monotonic()
        r.worker.request_stop("SIGTERM")
        r.thread.join(5)
        assert time.monotonic() - started < 2
        assert r.code == 0
        assert r.state.get_lease("sync") is None


class ManualClock:
    """A monotonic clock that moves only when the test says so (read from the worker's
    thread, advanced from the test's)."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def test_webhook_triggers_one_debounced_targeted_run(tmp_path):
    # The debouncer's clock stands still while the three deliveries arrive, so they fall
    # in one window however slowly the machine serves them; the window then closes when
    # the test moves the clock, not when a wall-clock race says so.
    clock = ManualClock()
    debouncer = Debouncer(quiet=0.2, max_delay=1.0, clock=clock)
    batches = []
    real_take = debouncer.take

    def take() -> Any:
        batch = real_take()
        if batch is not None and batch.keys:
            batches.append(batch)
        return batch

    debouncer.take = take  # type: ignore[method-assign]
    with Running(tmp_path, debouncer=debouncer) as r:
        for n, delivery in ((1, "d1"), (2, "d2"), (1, "d3")):
            body, headers = github_delivery(n, delivery)
            assert (
                httpx.post(f"{r.url}/webhooks/github", content=body, headers=headers).status_code
                == 202
            )
        # accepted and queued (the handler queues before it answers), not yet run
        assert debouncer.pending_keys == 2 and r.engine.targeted == []
        clock.advance(0.2)  # the quiet period has passed
        debouncer.wake.set()
        wait_for(lambda: r.engine.targeted, 5)
        assert r.engine.targeted == [{"github": {f"{REPO_NAME}#1", f"{REPO_NAME}#2"}}]
        # the debouncer's own record: one batch coalesced all three deliveries, and
        # nothing is left queued, so no second targeted run can follow
        assert [(b.deliveries, b.size) for b in batches] == [(3, 2)]
        assert debouncer.due_in() is None


def test_scheduled_runs_repeat_with_the_interval(tmp_path):
    with Running(tmp_path) as r:
        r.worker.interval = 0.1
        r.worker.next_full = 0.0
        r.worker.debouncer.add("github", {"x"})  # pending keys are folded into a full run
        wait_for(lambda: len(r.engine.calls) >= 4, 5)
        assert all(c is None for c in r.engine.calls[:4])


def test_failing_runs_turn_readiness_503_after_n_intervals(tmp_path):
    redact = Redactor(["t0ken-value"]).scrub
    with Running(tmp_path, FakeEngine(fail=True), redact=redact) as r:
        r.worker.interval = 0.05  # every 50 ms: FAILING_INTERVALS are over in 150 ms
        r.worker.next_full = 0.0
        wait_for(lambda: len(r.engine.calls) >= 2, 5)
        wait_for(lambda: not r.worker.readiness().ready, 5)
        reason = r.worker.readiness().reason
        assert "reconcile failing" in reason and "tracker unreachable" in reason
        response = httpx.get(f"{r.url}/readyz")
        assert response.status_code == 503
        assert "t0ken-value" not in response.text  # the exception text is scrubbed
        assert "***" in response.text
        metrics = httpx.get(f"{r.url}/metrics").text
        assert 'syncd_runs_total{kind="scheduled",outcome="failed"}' in metrics
        r.engine.fail = False
        wait_for(lambda: r.worker.readiness().ready, 5)


def test_losing_the_lease_stops_writes_and_stands_by(tmp_path):
    settings = make_settings(tmp_path)
    state = StateStore.open(settings.state.path)
    keeper = LeaseKeeper(state, holder="me", renew_every=0.05)
    refusals = []
    real_try = keeper.try_acquire

    def try_acquire() -> bool:
        got = real_try()
        if not got:
            refusals.append(time.monotonic())
        return got

    keeper.try_acquire = try_acquire  # type: ignore[method-assign]
    connectors = {"github": build("github", dict(settings.trackers["github"]))}
    worker = Worker(settings, state, connectors, keeper=keeper)
    engine = FakeEngine()
    worker.engine = engine  # type: ignore[assignment]
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: engine.calls, 5)
        assert not worker.should_stop()
        state.release_lease("sync")
        state.acquire_lease("sync", "usurper", timedelta(seconds=30))
        wait_for(lambda: keeper.lost, 5)
        assert worker.should_stop()  # the engine stops between create chunks
        wait_for(lambda: worker.standby_reason() is not None, 5)
        assert "usurper" in worker.readiness().reason
        calls = len(engine.calls)
        seen = len(refusals)
        # the worker has come round its standby loop again (asked, refused) and ran nothing
        wait_for(lambda: len(refusals) > seen, 5)
        assert len(engine.calls) == calls  # no runs without the lease
        state.release_lease("sync", "usurper")
        wait_for(lambda: len(engine.calls) > calls, 5)  # took it back and reconciled
        assert worker.readiness().ready
    finally:
        worker.request_stop("test")
        thread.join(5)
        state.close()


def test_lease_wait_exhausted_exits_0_without_running(tmp_path):
    settings = make_settings(tmp_path)
    with StateStore.open(settings.state.path) as state:
        state.acquire_lease("sync", "other", timedelta(seconds=30))
        worker = Worker(settings, state, {}, lease_wait=0.2, serve_http=False)
        engine = FakeEngine()
        worker.engine = engine  # type: ignore[assignment]
        assert worker.run() == 0
        assert engine.calls == []


def test_once_mode_runs_once_without_http(tmp_path):
    settings = make_settings(tmp_path)
    with StateStore.open(settings.state.path) as state:
        worker = Worker(settings, state, {}, once=True)
        assert worker.http is None
        engine = FakeEngine()
        worker.engine = engine  # type: ignore[assignment]
        assert worker.run() == 0
        assert engine.calls == [None]
        assert state.get_lease("sync") is None
        engine.fail = True
        assert worker.run() == 2  # a failed run: retry later, like `syncd sync`


# ----------------------------------------------------------------------------- digest hook


def digest_worker(tmp_path: Path, now: datetime) -> tuple[Worker, StateStore]:
    settings = make_settings(tmp_path, '[digest]\nto = ["lead@example.com"]\n')
    state = StateStore.open(settings.state.path)
    worker = Worker(settings, state, {}, serve_http=False, now=lambda: now)
    return worker, state


def test_digest_hook_is_called_when_the_schedule_fires(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        syncd.digest,
        "build_and_send",
        lambda settings, state, as_of, force=False: calls.append((as_of, force)) or "sent 1",
        raising=False,
    )
    before_nine = datetime(2026, 1, 5, 8, 59, 59, tzinfo=UTC)
    worker, state = digest_worker(tmp_path, before_nine)
    try:
        at_nine = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
        worker.now = lambda: at_nine
        worker.engine = FakeEngine()  # type: ignore[assignment]
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        wait_for(lambda: calls, 5)
        worker.request_stop("test")
        thread.join(5)
        assert calls == [(at_nine, False)]
        assert worker.metrics.digests.labels("sent")._value.get() == 1
        assert state.meta_get(daemon_module.DIGEST_META) == at_nine.isoformat()
    finally:
        state.close()


def test_missing_digest_implementation_is_skipped_with_a_log_line(tmp_path, monkeypatch):
    monkeypatch.delattr(syncd.digest, "build_and_send", raising=False)
    worker, state = digest_worker(tmp_path, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    try:
        worker._send_digest()
        assert worker.metrics.digests.labels("skipped")._value.get() == 1
    finally:
        state.close()


def test_failing_digest_is_counted_and_not_retried_in_a_loop(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(syncd.digest, "build_and_send", broken, raising=False)
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    worker, state = digest_worker(tmp_path, at - timedelta(seconds=1))
    try:
        worker.now = lambda: at
        assert worker.digest.due(at)
        worker._send_digest()
        assert worker.metrics.digests.labels("failed")._value.get() == 1
        assert not worker.digest.due(at)
    finally:
        state.close()


# ----------------------------------------------------------------------------- signals


def test_sigterm_sets_the_stop_flag_and_a_second_one_is_fatal():
    reasons = []
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(reasons.append):
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for(lambda: reasons, 5)  # the handler runs at the next bytecode boundary
        assert reasons == ["SIGTERM"]
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGTERM) == before  # restored on exit
    assert signal.getsignal(signal.SIGINT) == signal.default_int_handler


def test_sigint_is_handled_like_sigterm():
    reasons = []
    with stop_on_signals(reasons.append):
        os.kill(os.getpid(), signal.SIGINT)
        wait_for(lambda: reasons, 5)
    assert reasons == ["SIGINT"]


# ----------------------------------------------------------------------------- load


def test_burst_of_1000_deliveries_each_distinct_once_and_coalesced(tmp_path):
    """1,000 signed deliveries, 250 distinct ids over 40 issues, from 8 concurrent
    senders over loopback: each distinct delivery is accepted once, every replay is
    answered "duplicate", the queue holds at most 40 keys, and the targeted runs
    are few."""
    rng = random.Random(4)
    distinct = [(f"delivery-{i}", i % 40 + 1) for i in range(250)]
    deliveries = distinct + [rng.choice(distinct) for _ in range(750)]
    rng.shuffle(deliveries)
    debouncer = Debouncer(quiet=0.3, max_delay=2.0)
    peak = [0]
    real_add = debouncer.add

    def add(tracker: str, keys: Any) -> None:
        real_add(tracker, keys)
        peak[0] = max(peak[0], debouncer.pending_keys)

    debouncer.add = add  # type: ignore[method-assign]
    with Running(tmp_path, debouncer=debouncer) as r:
        url = f"{r.url}/webhooks/github"
        client = httpx.Client(timeout=20)  # one client: building one costs ~20 ms (TLS setup)

        def send(item: tuple[str, int]) -> int:
            body, headers = github_delivery(item[1], item[0])
            return client.post(url, content=body, headers=headers).status_code

        started = time.monotonic()
        with client, ThreadPoolExecutor(8) as pool:
            statuses = Counter(pool.map(send, deliveries))
        burst = time.monotonic() - started
        expected = {f"{REPO_NAME}#{n}" for n in range(1, 41)}

        def targeted_keys() -> set[str]:
            return set().union(*(c["github"] for c in r.engine.targeted))

        # every queued key reached a run and nothing is left queued (a run starts after
        # its batch is taken, so wait for the keys, not only for the empty queue)
        wait_for(lambda: debouncer.due_in() is None and targeted_keys() == expected, 10)

        assert statuses == {202: 250, 200: 750}
        assert r.state.delivery_count() == 250
        assert peak[0] <= 40  # keys, not bodies, and each key once
        assert targeted_keys() == expected
        # coalesced: one run per max_delay window of the burst, not one per delivery
        assert len(r.engine.targeted) <= burst / debouncer.max_delay + 2
        metrics = httpx.get(f"{r.url}/metrics").text
        assert (
            'syncd_webhook_deliveries_total{outcome="accepted",tracker="github"} 250.0' in metrics
        )
        assert (
            'syncd_webhook_deliveries_total{outcome="duplicate",tracker="github"} 750.0' in metrics
        )
        print(
            f"\nburst: 1000 deliveries in {burst:.2f} s, 250 accepted, 750 duplicates, "
            f"{len(r.engine.targeted)} targeted run(s), peak queue {peak[0]} keys"
        )


# ----------------------------------------------------------------------------- startup


def test_startup_says_which_trackers_take_unsigned_webhooks(tmp_path):
    from structlog.testing import capture_logs

    jira = (
        '[trackers.jira]\nkind = "jira"\nurl = "http://127.0.0.1:9"\nproject = "OPS"\ntoken = "t"\n'
    )
    settings = make_settings(tmp_path, jira, secret=None)
    with StateStore.open(settings.state.path) as state:
        connectors = {n: build(n, dict(s)) for n, s in settings.trackers.items()}
        worker = Worker(settings, state, connectors, serve_http=False)
        with capture_logs() as logs:
            worker._warn_about_webhook_secrets()
    by_tracker = {e.get("tracker"): e["event"] for e in logs if e.get("tracker")}
    assert "refused" in by_tracker["github"]  # GitHub needs a secret: nothing gets in
    assert "UNAUTHENTICATED" in by_tracker["jira"]  # Jira without one: accepted, loudly


def test_run_once_from_the_command_line(tmp_path, capsys):
    from syncd.cli.demo import git, start_emulator, write_config
    from syncd.cli.main import main

    docs = tmp_path / "postmortems"
    docs.mkdir()
    (docs / "pm.md").write_text(
        "# Outage\n\n## Action items\n- [ ] Add an alert (@sri, due 2026-07-20)\n"
    )
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "postmortems")  # the tool commits only docs someone committed first
    git(tmp_path, "-c", "user.name=H", "-c", "user.email=h@example.test", "commit", "-qm", "pm")
    github = start_emulator("github")
    try:
        config = tmp_path / "syncd.toml"
        write_config(
            config, {"github": github.connector_section(writes_per_minute=6000)}, [], "github"
        )
        assert main(["run", "--once", "--config", str(config)]) == 0
        assert github.issue_count() == 1
        assert f"{github.repo}#1" in (docs / "pm.md").read_text()
        with StateStore.open(tmp_path / ".syncd" / "state.db") as state:
            assert state.get_lease("sync") is None and state.last_runs(1)[0].ok
            state.acquire_lease("sync", "daemon:1:x", timedelta(seconds=30))
        # a daemon holds the lease: the one-shot gives up cleanly after --lease-wait
        assert main(["run", "--once", "--lease-wait", "0.1", "--config", str(config)]) == 0
        assert github.issue_count() == 1
    finally:
        github.stop()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def test_run_with_a_broken_config_exits_1(tmp_path, capsys):
    from syncd.cli.main import main

    config = tmp_path / "syncd.toml"
    config.write_text("[sync]\ninterval = -5\n")
    assert main(["run", "--config", str(config)]) == 1
    assert "configuration error" in capsys.readouterr().err


def test_run_on_a_busy_port_exits_1(tmp_path, capsys):
    import socket

    from syncd.cli.main import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "docs").mkdir()
        config = tmp_path / "syncd.toml"
        config.write_text(
            f'[docs]\nroot = "docs"\n[state]\npath = "s.db"\n[server]\nport = {port}\n'
        )
        assert main(["run", "--config", str(config)]) == 1
    assert "cannot listen" in capsys.readouterr().err
