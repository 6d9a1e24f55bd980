"""One retry policy for every connector, driven by the server's own headers.

The client libraries' built-in retries are switched off (jira `max_retries=0`,
PyGithub `retry=None`): PyGithub re-POSTs on 5xx, which is how duplicate tickets are
born. Connectors classify each failure into `RateLimited` / `TrackerError` /
`AmbiguousWrite` and wrap *idempotent* calls with `call_idempotent`. Creates are
never wrapped: an ambiguous create is resolved by marker lookup instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from connectors.base import RateLimited, RequestStats, TrackerError, Unreachable
from connectors.pacing import announce_wait

T = TypeVar("T")

MAX_WAIT = 120.0  # never sleep longer than this on one answer; report and move on instead
ATTEMPTS = 5


def retry_after_seconds(headers: dict[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or a reset header."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is not None:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - (now or time.time()))
    if lowered.get("x-ratelimit-remaining") == "0" and (reset := lowered.get("x-ratelimit-reset")):
        try:
            return max(0.0, float(reset) - (now or time.time()))
        except ValueError:
            try:  # Jira: ISO-8601 "yyyy-MM-ddTHH:mmZ"
                at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
                return max(0.0, at.timestamp() - (now or datetime.now(UTC).timestamp()))
            except ValueError:
                return None
    return None


def _retryable(exc: BaseException) -> bool:
    # a refused connection is a definite answer: fail fast instead of backing off for
    # seconds in silence (the next run, or the next interval of the daemon, retries)
    if isinstance(exc, Unreachable) and exc.refused:
        return False
    return isinstance(exc, TrackerError) and exc.retryable


def _wait(fallback: Callable[[RetryCallState], float]) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(MAX_WAIT, max(exc.retry_after, 0.0))
        return min(MAX_WAIT, fallback(state))

    return wait


def call_idempotent(
    fn: Callable[[], T],
    stats: RequestStats,
    *,
    attempts: int = ATTEMPTS,
    budget: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run an idempotent call, retrying rate limits and transient errors.

    Waits honour `Retry-After`; otherwise exponential backoff with jitter. The whole
    call gives up after `budget` seconds so a run never hangs on one tracker.
    """

    waited = [0.0]

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            stats.rate_limit_waits += 1
        seconds = state.next_action.sleep if state.next_action else 0.0
        waited[0] += seconds
        announce_wait(f"{exc}; retry {state.attempt_number + 1} of {attempts}", seconds)

    retrying = Retrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(attempts) | stop_after_delay(budget),
        wait=_wait(wait_exponential_jitter(multiplier=0.5, max=30.0)),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(fn)
    except TrackerError as exc:
        if waited[0] > 0:  # say how long was spent, so a slow failure is not a mystery
            exc.args = (f"{exc} (gave up after retrying for {waited[0]:.1f} s)", *exc.args[1:])
        raise
