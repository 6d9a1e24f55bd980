"""Progress of a run: a live display per phase on a terminal (rich), a structured log
line at most every `LOG_EVERY` seconds elsewhere, nothing when asked for nothing.

Both show the waits connectors announce (write pacing, rate-limit and retry sleeps)
with the time left, so a quiet stretch always says why it is quiet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from connectors.base import TrackerError
from syncd.cli.failures import TrackerFailure, classify
from syncd.config import Settings

LOG_EVERY = 10.0  # seconds between progress log lines off a terminal
Clock = Callable[[], float]
CLOCK: Clock = time.monotonic  # what the displays time their lines by (tests swap it)
log = structlog.get_logger(__name__)


class Display(Protocol):
    def __enter__(self) -> Display: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def phase(self, name: str, done: int, total: int, tracker: str | None) -> None: ...
    def wait(self, reason: str, seconds: float, kind: str) -> None: ...


class NoDisplay:
    def __enter__(self) -> NoDisplay:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def phase(self, name: str, done: int, total: int, tracker: str | None) -> None:
        pass

    def wait(self, reason: str, seconds: float, kind: str) -> None:
        pass


class _WaitColumn(ProgressColumn):
    """'waiting 41 s: github write pacing' while a wait announced on the task lasts."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def render(self, task: Task) -> Text:
        left = float(task.fields.get("wait_until", 0.0)) - self.clock()
        if left <= 0:
            return Text("")
        shown = f"{left:.1f}" if left < 10 else f"{left:.0f}"  # a short wait still shows
        return Text(f"waiting {shown} s: {task.fields.get('wait_reason', '')}")


class TerminalDisplay:
    """One bar per phase (and tracker), refreshed by rich's own thread, so a countdown
    keeps moving while a connector sleeps."""

    def __init__(self, console: Console, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.progress = Progress(
            # narrow enough that a wait's reason fits on an 80-column terminal
            TextColumn("{task.description:<18}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            _WaitColumn(clock),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._current: TaskID | None = None

    def __enter__(self) -> TerminalDisplay:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def phase(self, name: str, done: int, total: int, tracker: str | None) -> None:
        label = f"{name} {tracker}" if tracker else name
        if name == "list" and tracker is None:
            label = "list"
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self.progress.add_task(label, total=max(total, 1))
        self.progress.update(task, completed=done, total=max(total, 1))
        self._current = task

    def wait(self, reason: str, seconds: float, kind: str) -> None:
        if self._current is None:
            self.phase("wait", 0, 1, None)
        assert self._current is not None
        self.progress.update(self._current, wait_until=self.clock() + seconds, wait_reason=reason)
        self.progress.refresh()


class LogDisplay:
    """A `progress` log line at most every `every` seconds, with the phase, the count
    and any wait in progress; a wait longer than that is logged when it starts, and a
    retry (something failed) always."""

    def __init__(self, clock: Clock = time.monotonic, every: float = LOG_EVERY) -> None:
        self.clock = clock
        self.every = every
        self._last = clock()
        self._state: dict[str, Any] = {}

    def __enter__(self) -> LogDisplay:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def phase(self, name: str, done: int, total: int, tracker: str | None) -> None:
        self._state = {"phase": name, "done": done, "total": total}
        if tracker:
            self._state["tracker"] = tracker
        self._emit(force=False)

    def wait(self, reason: str, seconds: float, kind: str) -> None:
        if kind == "retry":  # something failed: say so at once, with what happens next
            log.warning("retrying", reason=reason, wait_s=round(seconds, 1))
            return
        self._state["waiting"] = reason
        self._state["wait_s"] = round(seconds, 1)
        self._emit(force=seconds >= self.every)
        self._state.pop("waiting", None)
        self._state.pop("wait_s", None)

    def _emit(self, *, force: bool) -> None:
        now = self.clock()
        if force or now - self._last >= self.every:
            self._last = now
            log.info("progress", **self._state)


def choose_display(mode: str, clock: Clock | None = None) -> Display:
    """`auto`: live on a terminal, log lines elsewhere; `always`: live even when stderr
    is not a terminal; `log`; `never`."""
    clock = clock or CLOCK
    if mode == "never":
        return NoDisplay()
    if mode == "always" or (mode == "auto" and sys.stderr.isatty()):
        return TerminalDisplay(Console(file=sys.stderr, force_terminal=True), clock)
    return LogDisplay(clock)


class RunReporter:
    """The engine's `RunObserver`: phases go to the display, failed listings are kept
    (classified) for the output and the exit code."""

    def __init__(self, settings: Settings, display: Display) -> None:
        self.settings = settings
        self.display = display
        self.failures: list[TrackerFailure] = []

    def phase(self, name: str, done: int, total: int, tracker: str | None = None) -> None:
        self.display.phase(name, done, total, tracker)

    def tracker_failed(self, tracker: str, error: TrackerError) -> None:
        kind = str(self.settings.trackers.get(tracker, {}).get("kind", tracker))
        self.failures.append(classify(tracker, kind, error))
