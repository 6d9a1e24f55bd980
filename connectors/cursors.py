"""Listing cursors on the tracker's clock, never the local one.

A cursor taken from the local clock loses changes whenever that clock runs ahead of the
tracker's by more than the listing overlap (a close made right after a run falls before
the next `since`). So GitHub and Linear take the cursor from the tracker itself: the
`Date` header of the first response of a listing (the server's time when it began to
answer, so every change after that has a later `updated`), or, where a proxy strips
`Date`, the largest `updated` the listing saw. Jira's JQL dates are relative ("-15m",
evaluated on Jira's clock), so its connector also checks, from the `Date` of the
answer, that the window it asked for really reached back to the cursor (see there).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from connectors.base import Ticket


def http_date(headers: Mapping[str, str] | None) -> datetime | None:
    """The `Date` header of a response as an aware datetime, or None."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "date"), None)
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TrackerCursor:
    """The tracker-clock cursor of the last completed listing.

    `begin()` before a listing, `observe(headers)` on every response, `complete(...)`
    once the listing is whole. A listing that fails never completes, so the cursor
    stays where it was (the next listing starts from the old one again).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listing = False
        self._first: datetime | None = None
        self._last: datetime | None = None
        self.value: datetime | None = None

    def begin(self) -> None:
        with self._lock:
            self._listing, self._first, self._last = True, None, None

    def observe(self, headers: Mapping[str, str] | None) -> None:
        with self._lock:
            if not self._listing:
                return
            moment = http_date(headers)
            if self._first is None:
                self._first = moment
            if moment is not None:
                self._last = moment

    @property
    def first(self) -> datetime | None:
        """The tracker's time on the first answer of the listing under way."""
        return self._first

    @property
    def last(self) -> datetime | None:
        """The tracker's time on the latest answer of the listing under way."""
        return self._last

    def end(self) -> None:
        """The listing is over; later answers are not part of it."""
        with self._lock:
            self._listing = False

    def complete(self, tickets: Iterable[Ticket], since: datetime | None) -> datetime | None:
        with self._lock:
            latest = max((t.updated for t in tickets), default=None)
            self.value = self._first or latest or since or self.value
            self._listing = False
            return self.value
