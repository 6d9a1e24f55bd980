"""Coalesces webhook-named ticket keys into few targeted runs.

A closed ticket often arrives as a burst (GitHub sends `closed`, `labeled`,
`unassigned` within a second; a Jira bulk edit sends one delivery per issue). The
debouncer waits for `quiet` seconds without news, but never more than `max_delay`
after the first key, then hands the whole set over as one batch.

Only keys are held, never bodies, and at most `max_keys` of them: past that the batch
is marked `overflow` and the worker does one full reconcile instead, which covers any
number of changed tickets at a bounded cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

QUIET = 1.0
MAX_DELAY = 5.0
MAX_KEYS = 10_000


@dataclass(frozen=True)
class Batch:
    keys: dict[str, frozenset[str]]  # tracker → ticket keys
    overflow: bool  # too many keys were queued: reconcile everything instead
    deliveries: int  # how many deliveries were coalesced into this batch

    @property
    def size(self) -> int:
        return sum(len(k) for k in self.keys.values())


class Debouncer:
    def __init__(
        self,
        *,
        quiet: float = QUIET,
        max_delay: float = MAX_DELAY,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.max_delay = max_delay
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, set[str]] = {}
        self._count = 0
        self._overflow = False
        self._deliveries = 0
        self._first: float | None = None
        self._last: float | None = None
        # Set on every add, so the worker's loop wakes without polling.
        self.wake = threading.Event()

    def add(self, tracker: str, keys: Iterable[str]) -> None:
        with self._lock:
            now = self._clock()
            if self._first is None:
                self._first = now
            self._last = now
            self._deliveries += 1
            if not self._overflow:
                bucket = self._pending.setdefault(tracker, set())
                for key in keys:
                    if key in bucket:
                        continue
                    if self._count >= self.max_keys:
                        self._overflow = True
                        self._pending.clear()  # a full run needs no key list
                        self._count = 0
                        break
                    bucket.add(key)
                    self._count += 1
        self.wake.set()

    def due_in(self) -> float | None:
        """Seconds until the pending batch is ready (0: now); None when nothing waits."""
        with self._lock:
            if self._first is None or self._last is None:
                return None
            ready_at = min(self._last + self.quiet, self._first + self.max_delay)
            return max(0.0, ready_at - self._clock())

    def take(self) -> Batch | None:
        """The pending batch, emptying the queue; None when nothing waits."""
        with self._lock:
            if self._first is None:
                return None
            batch = Batch(
                keys={t: frozenset(k) for t, k in self._pending.items() if k},
                overflow=self._overflow,
                deliveries=self._deliveries,
            )
            self._pending = {}
            self._count = 0
            self._overflow = False
            self._deliveries = 0
            self._first = self._last = None
            return batch

    @property
    def pending_keys(self) -> int:
        with self._lock:
            return self._count
