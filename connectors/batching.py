"""The create loop every connector shares: batches in order, stopping at a rate limit.

A rate-limited create is a definite "no" (nothing was created), and the next batch
would be refused too; sending it anyway only digs the token deeper into the limit.
So the loop stops, and every draft not yet created carries `retry_after`: the engine
stops creating on that tracker for that long and the items stay due.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from connectors.base import CreateOutcome, RateLimited, TicketDraft

# Seconds to hold off when a rate-limited answer names no reset.
RATE_LIMIT_FALLBACK = 60.0


def refused(drafts: Sequence[TicketDraft], error: str, retry_after: float) -> list[CreateOutcome]:
    """Outcomes for drafts a rate limit kept from being created."""
    return [CreateOutcome(d.marker, error=error, retry_after=retry_after) for d in drafts]


def create_in_batches(
    drafts: Sequence[TicketDraft],
    size: int,
    create_batch: Callable[[Sequence[TicketDraft]], list[CreateOutcome]],
    *,
    on_rate_limit: Callable[[RateLimited], float] | None = None,
) -> list[CreateOutcome]:
    """`create_batch` over `drafts` in chunks of `size`, one outcome per draft, in order.

    `create_batch` raises RateLimited when the tracker refused the chunk for rate; other
    failures it reports in its outcomes. `on_rate_limit` may record the limit (e.g. block
    later calls) and returns the seconds to wait; by default the answer's `retry_after`.
    """
    outcomes: list[CreateOutcome] = []
    for start in range(0, len(drafts), size):
        batch = drafts[start : start + size]
        try:
            outcomes += create_batch(batch)
        except RateLimited as exc:
            if on_rate_limit is not None:
                after = on_rate_limit(exc)
            else:
                after = RATE_LIMIT_FALLBACK if exc.retry_after is None else exc.retry_after
            outcomes += refused(batch, str(exc), after)
            skipped = f"not attempted: rate limited, retry after {math.ceil(after)} s"
            outcomes += refused(drafts[start + size :], skipped, after)
            break
    return outcomes
