"""Spacing write requests so a connector stays under a tracker's write-rate limits
(GitHub's ~80 content-creating requests a minute, Linear's leaky bucket)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable


class WritePacer:
    """Spaces writes at least `interval` seconds apart, across threads."""

    def __init__(
        self, interval: float, clock: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:  # held while sleeping on purpose: writers queue up serially
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval
