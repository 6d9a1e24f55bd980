"""What each step of a run hands the next - Fetched → Planned → Applied - and the
small pure helpers the engine builds them with (which keys to read, identity from a
learned create or a ticket's marker, a converged item's record).

No I/O here; `syncd.sync.engine` does the reading and writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from connectors.base import AmbiguousWrite, RateLimited, Ticket, TicketsByKey, TrackerError
from syncd.sync.identity import ItemId
from syncd.sync.planner import (
    Base,
    DocSide,
    ItemPlan,
    Outcome,
    OutcomeKind,
    ticket_from_snapshot,
)
from syncd.sync.run import DocItem
from syncd.sync.snapshots import DocSnapshot
from syncd.sync.state import Intent, ItemRecord


@dataclass(frozen=True)
class Fetched:
    tickets: TicketsByKey  # by key: listed as changed, read by key, or found by marker
    by_marker: dict[str, Ticket]
    listed_at: datetime  # the next cursor, once this run has applied what it saw
    records: dict[str, ItemRecord]
    items: list[DocItem]  # with their identity resolved (intents, orphans, markers)
    learned: frozenset[str] = frozenset()  # markers of creates whose outcome we just learned
    waiting: frozenset[str] = frozenset()  # failing items inside their backoff
    full: bool = False  # every known ticket was read by key


@dataclass(frozen=True)
class Planned:
    item: DocItem
    plan: ItemPlan
    record: ItemRecord | None
    fresh: Ticket | None  # the ticket as read this run (None: not read, unchanged)
    stored: Base | None  # the base the state held

    @property
    def seen(self) -> Ticket | None:
        """The ticket as last synced, when this run did not read it."""
        if self.record is None or not self.record.ticket or not self.record.ticket_key:
            return None
        marker = self.item.item_id if self.item.ident.managed else None
        return ticket_from_snapshot(self.record.ticket_key, self.record.ticket, marker)


@dataclass(frozen=True)
class Failure:
    kind: OutcomeKind
    message: str
    # back off across runs: the tracker refused, and asking again unchanged will not help
    backoff: bool = False


def failure_of(exc: TrackerError, message: str) -> Failure:
    if isinstance(exc, AmbiguousWrite):
        return Failure(OutcomeKind.AMBIGUOUS, message)
    # a 4xx refusal (no transition, a rejected field) waits; 5xx, timeouts and rate
    # limits heal by themselves and are retried every run
    permanent = not exc.retryable and not isinstance(exc, RateLimited)
    return Failure(OutcomeKind.REFUSED, message, backoff=permanent)


@dataclass(frozen=True)
class Applied:
    item: DocItem
    plan: ItemPlan
    record: ItemRecord | None
    current: Ticket | None  # as last observed (the last write's answer, or the read)
    failure: Failure | None = None
    created: bool = False

    def outcome(self, doc_written: DocSnapshot | None) -> Outcome:
        if self.failure is not None:
            return Outcome(self.failure.kind, self.current, doc_written, self.created)
        kind = OutcomeKind.APPLIED
        if doc_written is not None and others(doc_written) != others(self.plan.doc):
            kind = OutcomeKind.DOC_EDITED
        return Outcome(kind, self.current, doc_written, self.created)


def others(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "status"}


def converged_record(a: Applied, base: Base | None, now: datetime) -> ItemRecord:
    """A converged item's record: the new base, no error."""
    return ItemRecord(
        item_id=a.item.item_id,
        tracker=a.item.tracker,
        doc_path=a.item.loaded.rel,
        ticket_key=a.current.key if a.current else None,
        doc=base.doc if base else {},
        ticket=base.ticket if base else {},
        synced_at=now,
    )


def note_learned_keys(
    tracker: str,
    learned: Mapping[str, Ticket],
    pending: Mapping[str, Intent],
    records: dict[str, ItemRecord],
) -> None:
    """The keys `resolve_intents` is about to store, seen by identity matching now: a
    created ticket whose row was reworded or whose doc was renamed is then an orphan
    (adopted by similarity), not a reason to create another."""
    for marker, ticket in learned.items():
        record = records.get(marker)
        if record is None:
            payload = pending[marker].payload or {}
            records[marker] = ItemRecord(
                marker, tracker, str(payload.get("doc_path", "")), ticket.key
            )
        elif record.ticket_key is None:
            records[marker] = replace(record, ticket_key=ticket.key)


def keys_to_fetch(
    items: list[DocItem],
    records: Mapping[str, ItemRecord],
    tickets: Mapping[str, Ticket],
    waiting: frozenset[str],
    *,
    full: bool,
) -> set[str]:
    """Keys the listing does not cover, read by key (batched): never snapshotted,
    linked by a human (no shared label: the listing never sees them), due (a failure
    to retry), with a doc change to push (planned against the ticket as it is now, not
    as last synced: a ticket whose label was removed moves unseen by the listing), or -
    in a full reconcile - every one."""
    keys = set()
    for item in items:
        if item.item_id in waiting:
            continue
        record = records.get(item.item_id)
        key = item.key or (record.ticket_key if record else None)
        if not key or key in tickets:
            continue
        if record is None or not record.ticket or not item.ident.managed or full:
            keys.add(key)  # unseen, or every one
        elif record.failing or record.doc != DocSide.of(item.item).snapshot():
            keys.add(key)
    return keys


def released(item: DocItem, record: ItemRecord | None, dead_key: str) -> bool:
    """Whether a human let go of a dead ticket: the doc's cell is empty, and the key
    was only in our record. A row that still names the key keeps being reported."""
    return item.key is None and record is not None and record.ticket_key == dead_key


def adopted_by_marker(item: DocItem, tickets: Mapping[str, Ticket]) -> DocItem:
    """A row naming a ticket we created, with no record of it (state lost): ours again."""
    if item.key is None or item.ident.managed:
        return item
    found = tickets.get(item.key)
    if found is None or not found.marker:
        return item
    return replace(item, ident=ItemId.marker(found.marker))


def record_text(record: ItemRecord, tickets: Mapping[str, Ticket]) -> str:
    """The action an orphan's ticket was made for: from its snapshots, or - for a record
    that only got its key (the run died before snapshotting) - the ticket's title."""
    listed = tickets.get(record.ticket_key or "")
    return str(
        record.doc.get("action") or record.ticket.get("title") or (listed.title if listed else "")
    )
