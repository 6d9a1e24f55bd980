"""One writer at a time: the sync lease in the state store.

Whoever reconciles — a `syncd run` daemon, a CronJob's `syncd sync --once`, an
operator at a terminal — first takes the lease named "sync" in the state file. The
holder renews it every `RENEW_EVERY` seconds; if it dies without releasing it (SIGKILL,
node lost), the lease simply expires after `LEASE_TTL` and the next acquirer takes it.
So a stuck lease never needs a human, but `syncd lease break` exists for the impatient.

A holder that finds its lease gone when renewing (expired during a long stall, then
taken over) must stop writing at once: `LeaseKeeper.lost` turns true, and the worker
passes it to the engine's `should_stop`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import secrets
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import structlog

from syncd.config import ConfigError, load_config
from syncd.sync.state import Lease, StateError, StateStore

log = structlog.get_logger(__name__)

SYNC_LEASE = "sync"
LEASE_TTL = timedelta(seconds=30)
RENEW_EVERY = 10.0  # three renewals per TTL: two may fail (a busy state file) safely
POLL_EVERY = 1.0  # how often a waiting process retries
SYNC_WAIT_ENV = "SYNCD_LEASE_WAIT"  # seconds `syncd sync` waits for a busy lease
SYNC_WAIT_DEFAULT = 30.0

Command = Callable[[argparse.Namespace], int]


_ISSUED: set[str] = set()  # holder ids handed out in this process


def holder_is_dead(holder: str) -> bool:
    """Whether `holder` (from `holder_id`) names a process on this host that is gone.

    In a restarted container the new process may get the dead one's pid (often 1);
    a holder with our own pid but not our id is such a previous incarnation.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: only the TTL can tell
    pid = int(pid_text)
    if pid == os.getpid():
        return holder not in _ISSUED  # ours from this process (another keeper) is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    return False


def holder_id() -> str:
    """host:pid:random — readable in `syncd lease show`, unique even across pid reuse."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    _ISSUED.add(holder)
    return holder


def describe(lease: Lease, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    left = (lease.expires_at - now).total_seconds()
    expiry = f"expires in {left:.0f} s" if left > 0 else "expired"
    return (
        f"held by {lease.holder} since {lease.acquired_at.isoformat(timespec='seconds')} ({expiry})"
    )


class LeaseKeeper:
    """Acquire, renew in the background, and release one named lease."""

    def __init__(
        self,
        state: StateStore,
        *,
        name: str = SYNC_LEASE,
        holder: str | None = None,
        ttl: timedelta = LEASE_TTL,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self.state = state
        self.name = name
        self.holder = holder or holder_id()
        self.ttl = ttl
        self.renew_every = renew_every
        self.held = False
        self.lost = False
        self.other: Lease | None = None  # the lease as last seen held by someone else
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        acquired, lease = self.state.acquire_lease(self.name, self.holder, self.ttl)
        if not acquired and holder_is_dead(lease.holder):
            # its holder was killed on this host (SIGKILL, OOM): no need to sit out the TTL
            self.state.release_lease(self.name, lease.holder)
            acquired, lease = self.state.acquire_lease(self.name, self.holder, self.ttl)
        self.held = acquired
        self.lost = False if acquired else self.lost
        self.other = None if acquired else lease
        return acquired

    def acquire(
        self,
        wait: float | None,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        poll: float = POLL_EVERY,
        on_busy: Callable[[Lease], None] | None = None,
    ) -> bool:
        """Try until acquired, `wait` seconds pass (None: for ever) or `should_stop`.

        `on_busy` is called once, on the first refusal, so the caller can say clearly
        who holds the lease instead of going quiet.
        """
        deadline = None if wait is None else time.monotonic() + wait
        told = False
        while True:
            if self.try_acquire():
                return True
            if not told and on_busy is not None and self.other is not None:
                on_busy(self.other)
                told = True
            if should_stop() or (deadline is not None and time.monotonic() >= deadline):
                return False
            pause = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            time.sleep(max(0.01, pause))

    def renew(self) -> bool:
        """One renewal; False (and `lost`) when the lease is no longer ours."""
        try:
            ok = self.state.renew_lease(self.name, self.holder, self.ttl)
        except (sqlite3.Error, StateError) as exc:
            # A busy or briefly unreadable file: keep the lease (it has TTL left) and
            # try again at the next tick rather than give up a healthy run.
            log.warning("lease renewal failed; retrying", lease=self.name, error=exc)
            return True
        if not ok:
            with contextlib.suppress(sqlite3.Error, StateError):
                self.other = self.state.get_lease(self.name)  # who has it now, for /readyz
            self.lost = True
            self.held = False
            log.error(
                "sync lease lost: another process took it over; stopping writes",
                lease=self.name,
                holder=self.holder,
            )
        return ok

    def start_renewing(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(self.renew_every):
                if not self.renew():
                    return

        self._thread = threading.Thread(target=loop, name="syncd-lease", daemon=True)
        self._thread.start()

    def stop_renewing(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def release(self) -> None:
        self.stop_renewing()
        if self.held:
            try:
                self.state.release_lease(self.name, self.holder)
            except (sqlite3.Error, StateError) as exc:  # it expires by itself anyway
                log.warning("could not release the lease", lease=self.name, error=exc)
        self.held = False

    @contextlib.contextmanager
    def renewing(self) -> Iterator[LeaseKeeper]:
        """Renew while the block runs; release on the way out, whatever happens."""
        self.start_renewing()
        try:
            yield self
        finally:
            self.release()


def sync_wait() -> float:
    raw = os.environ.get(SYNC_WAIT_ENV)
    try:
        return max(0.0, float(raw)) if raw else SYNC_WAIT_DEFAULT
    except ValueError:
        return SYNC_WAIT_DEFAULT


def with_sync_lease(func: Command) -> Command:
    """Run a one-shot command (`syncd sync`) only while holding the sync lease.

    Waits up to $SYNCD_LEASE_WAIT seconds (default 30) for a busy lease, then exits 0
    with a clear message: overlapping a daemon or a slow previous run is an expected
    situation for a CronJob, not a failure to alert on. A configuration the command
    cannot load is left for the command itself to report, in its own words.
    """

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            settings = load_config(getattr(args, "config", None))
            state = StateStore.open(settings.state.path)
        except (ConfigError, StateError, OSError):
            return func(args)
        with state:
            keeper = LeaseKeeper(state)
            wait = sync_wait()

            def busy(lease: Lease) -> None:
                if wait > 0:
                    print(
                        f"syncd: the sync lease is {describe(lease)}; waiting up to {wait:g} s",
                        file=sys.stderr,
                    )

            if not keeper.acquire(wait, on_busy=busy):
                held = describe(keeper.other) if keeper.other else "held"
                print(
                    f"syncd: another syncd is reconciling (lease {held}); skipping this run. "
                    "Nothing was changed.",
                    file=sys.stderr,
                )
                return 0
            with keeper.renewing():
                return func(args)

    return wrapper
