"""The connector interface third parties implement.

A connector maps one tracker (a Jira project, a GitHub repository, a Linear team)
to frozen `Ticket` entities. The core never sees an SDK object. The operations of
`Connector` and a few capability flags are the whole contract (docs/connectors.md);
`connectors.testing.conformance` is the shipped suite every connector passes against
its emulator.

Identity: every ticket the tool creates carries `marker` (a stable id of its action
item). Jira stores it as a label, GitHub as a hidden body comment plus the shared
label. `find_by_markers` must use a listing that is consistent right after a create
(Jira: JQL on labels with reconcileIssues; GitHub: the issues list, not search).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from syncd.model import Status


@dataclass(frozen=True)
class Ticket:
    key: str  # "OPS-12", "acme/reliability#34"
    url: str  # human-facing browse URL
    title: str
    assignee: str | None  # tracker identity (accountId, login, user id)
    due: date | None
    priority: str | None  # canonical "P0".."P4" or None
    status: Status
    labels: tuple[str, ...]
    updated: datetime  # timezone-aware
    marker: str | None = None  # the action-item marker found on the ticket
    # When the tracker says the work was completed (Jira resolutiondate, GitHub closed_at,
    # Linear completedAt); None while open or reopened. Unlike `updated`, later edits of
    # a closed ticket do not move it, so the digest measures on-time completion from it.
    completed_at: datetime | None = None


@dataclass(frozen=True)
class TicketDraft:
    """Everything needed to create a ticket for one action item."""

    marker: str
    title: str
    description: str  # plain text / markdown, includes a link back to the postmortem
    assignee: str | None = None
    due: date | None = None
    priority: str | None = None  # "P0".."P4"
    status: Status = Status.OPEN
    labels: tuple[str, ...] = ()


_UNSET: Any = object()


@dataclass(frozen=True)
class FieldChanges:
    """Fields to change on an existing ticket; a field left UNSET is not sent."""

    title: str = _UNSET
    assignee: str | None = _UNSET
    due: date | None = _UNSET
    priority: str | None = _UNSET

    UNSET: ClassVar[Any] = _UNSET

    def items(self) -> dict[str, Any]:
        return {
            name: value
            for name in ("title", "assignee", "due", "priority")
            if (value := getattr(self, name)) is not _UNSET
        }


class TicketsByKey(dict[str, Ticket]):
    """`get_many`'s answer: the tickets found, by canonical key, plus `missing`.

    `missing` holds the asked-for keys the tracker says do not exist (HTTP 404/410,
    deleted, never created, or not visible to the token). It is distinct from a failed
    read, which raises TrackerError: only a key in `missing` is a dead reference.
    """

    def __init__(
        self, found: Mapping[str, Ticket] | None = None, missing: Iterable[str] = ()
    ) -> None:
        super().__init__(found or {})
        self.missing: frozenset[str] = frozenset(missing)

    def merge(self, other: TicketsByKey) -> None:
        self.update(other)
        self.missing = (self.missing | other.missing) - set(self)


@dataclass(frozen=True)
class Capabilities:
    bulk_create: bool = False
    max_bulk: int = 1
    wont_do: bool = True  # can express "won't do" distinctly from done


@dataclass(frozen=True)
class CreateOutcome:
    """Result of one draft in a (bulk) create. Exactly one of ticket/error is set.

    `ambiguous` is True when the request may have reached the server (timeout, 5xx,
    connection dropped after send): the caller must resolve it by marker lookup
    before creating again, never by retrying blindly. `retry_after` is set when a rate
    limit refused the create: the caller stops creating on this tracker for that long.
    """

    marker: str
    ticket: Ticket | None = None
    error: str | None = None
    ambiguous: bool = False
    # Refused by a rate limit, so nothing was created: no create should be sent to this
    # tracker for this many seconds (None when unknown or not rate limited).
    retry_after: float | None = None


class TrackerError(Exception):
    """A tracker call failed. `retryable` says whether a later run may succeed."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class AmbiguousWrite(TrackerError):
    """A write may or may not have happened (e.g. 502 after the server acted)."""


class RateLimited(TrackerError):
    def __init__(
        self, message: str, *, retry_after: float | None, status: int | None = None
    ) -> None:
        super().__init__(message, retryable=True, status=status)
        self.retry_after = retry_after


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook delivery, reduced to what the worker needs."""

    delivery_id: str | None  # the tracker's delivery id, for de-duplication
    keys: frozenset[str]  # ticket keys it affects (may be empty: nothing to do)
    kind: str = ""  # e.g. "issues.closed", "jira:issue_updated"


class WebhookRejected(Exception):
    """A delivery that must not be acted on: bad or missing signature, stale, malformed."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class ConnectorConfig(BaseModel):
    """Base for each connector's own config model (`extra="forbid"`: typos fail loudly)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(description="The connector: `jira`, `github`, `linear` or an installed one.")
    label: str = Field(
        "postmortem-action",
        description="The shared label on every ticket the tool manages; listings filter on it.",
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Verifies webhook deliveries (see the tracker's webhook notes)."
    )
    timeout: float = Field(30.0, description="Seconds per HTTP request.")


@dataclass
class RequestStats:
    """Per-connector request accounting, surfaced in the run summary and bench."""

    reads: int = 0
    writes: int = 0
    errors: int = 0
    rate_limit_waits: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def count(self, kind: str, *, write: bool) -> None:
        if write:
            self.writes += 1
        else:
            self.reads += 1
        self.by_kind[kind] += 1


@runtime_checkable
class Connector(Protocol):
    """What the reconcile engine needs from a tracker."""

    Config: ClassVar[type[ConnectorConfig]]
    capabilities: Capabilities
    stats: RequestStats
    name: str  # the config section name, e.g. "jira"

    def list_changed_since(self, since: datetime | None) -> Iterator[Ticket]:
        """Every managed ticket (carrying the shared label) updated at or after `since`.

        `since=None` lists all of them. Must raise TrackerError rather than return a
        partial listing: the engine treats a completed listing as the truth.
        """
        ...

    def listing_cursor(self) -> datetime | None:
        """The `since` to pass to the next `list_changed_since`, on the tracker's clock:
        when the last completed listing began, as the tracker tells it (e.g. the `Date`
        header of its first response, or the largest `updated` it returned). Never the
        local clock, which may run minutes ahead of the tracker's. None before the first
        completed listing. (Jira, whose cursor is a relative JQL date, returns a local
        instant: only the time elapsed since it is ever used, so skew cancels out.)
        """
        ...

    def get_many(self, keys: Sequence[str]) -> TicketsByKey:
        """Tickets by key, managed or not (a doc may cite any ticket), whatever their
        labels or update time: the full reconcile reads every known ticket this way.

        Batched: a connector reads many keys per request (Jira and Linear: a query per
        chunk of keys; GitHub: the managed listing plus a GET per key it lacks). Keys
        that do not exist are absent from the result and listed in `.missing`; keys
        that are not this tracker's (`parse_key` is None) are ignored.
        """
        ...

    def find_by_markers(self, markers: Sequence[str]) -> dict[str, Ticket]:
        """Managed tickets carrying any of `markers`, keyed by marker."""
        ...

    def create_many(self, drafts: Sequence[TicketDraft]) -> list[CreateOutcome]:
        """Create tickets (bulk where the tracker allows), one outcome per draft, in order."""
        ...

    def update_fields(self, key: str, changes: FieldChanges) -> Ticket: ...

    def set_status(self, key: str, status: Status) -> Ticket: ...

    def parse_key(self, text: str) -> str | None:
        """Recognise this tracker's ticket reference in a doc cell (key, #n, URL)."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify a webhook delivery (constant-time signature check against the configured
        secret) and name the tickets it affects. Raises WebhookRejected. Header names are
        lower-case. The worker serves it at `POST /webhooks/<tracker name>`."""
        ...

    def close(self) -> None: ...


class Unreachable(TrackerError):
    """No connection was made (refused, no such host, connect timeout), so nothing was
    sent: safe to report plainly, never ambiguous. `address` is host:port; `refused`
    when the answer was a definite no (refused, unknown host), which a retry within the
    same run cannot change."""

    def __init__(self, message: str, *, address: str, refused: bool) -> None:
        super().__init__(message, retryable=True)
        self.address = address
        self.refused = refused
