"""Spacing write requests so a connector stays under a tracker's write-rate limits
(GitHub's ~80 content-creating requests a minute, Linear's leaky bucket)."""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator

# (what is waited for, seconds): told before every pacing or retry sleep, so a caller
# can show why a run is quiet. Connectors stay free of any display library.
WaitListener = Callable[[str, float], None]
_listeners: list[WaitListener] = []


@contextlib.contextmanager
def listening_for_waits(listener: WaitListener) -> Iterator[None]:
    """Call `listener` before every pacing or retry wait while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def announce_wait(reason: str, seconds: float) -> None:
    for listener in list(_listeners):
        listener(reason, seconds)


class WritePacer:
    """Spaces writes at least `interval` seconds apart, across threads."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        name: str = "tracker",
    ) -> None:
        self.name = name
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:  # held while sleeping on purpose: writers queue up serially
            now = self._clock()
            if now < self._next:
                announce_wait(f"{self.name} write pacing", self._next - now)
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


class CreationBudget:
    """At most `limit` content-creating requests in any sliding `window` seconds
    (GitHub: 500 an hour). The window lives in this object: it spans the runs of one
    daemon process, not separate CLI runs."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Record one request now and return 0, or return the seconds until a slot
        frees (recording nothing)."""
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return 0.0
            return max(self._sent[len(self._sent) - self.limit] + self.window - now, 1e-3)
