"""The reconcile planner: a pure function from (last-synced snapshot, doc item, ticket)
to actions. No I/O here; `syncd.sync.engine` applies the actions.

Field ownership (README "Field ownership"):
- the document owns the action text, owner, due date and priority: a change in the doc
  is pushed to the ticket; a change made in the tracker is left there (the tool never
  rewrites a human's words in the doc);
- the tracker owns status: a change in the tracker is written into the doc's status
  cell; a status changed in the doc is pushed to the tracker; with no history, the
  tracker's status wins unless the ticket is still in its initial (open) state;
- when both sides changed the same field since the last sync, `conflict_winner` decides
  and the conflict is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, Literal

from connectors.base import FieldChanges, Ticket, TicketDraft
from syncd.model import ActionItem, Status
from syncd.sync.notes import NoteKind
from syncd.sync.snapshots import DocSnapshot, TicketSnapshot

Winner = Literal["tracker", "doc"]
FIELDS = ("title", "assignee", "due", "priority")


@dataclass(frozen=True)
class DocSide:
    """What the document says about an item, in snapshot form."""

    action: str
    owner: str | None
    due: date | None
    priority: str | None
    status: Status

    @classmethod
    def of(cls, item: ActionItem) -> DocSide:
        return cls(item.action, item.owner, item.due, item.priority, item.status)

    def snapshot(self) -> DocSnapshot:
        return {
            "action": self.action,
            "owner": self.owner,
            "due": self.due.isoformat() if self.due else None,
            "priority": self.priority,
            "status": self.status.value,
        }


def ticket_snapshot(ticket: Ticket) -> TicketSnapshot:
    return {
        "url": ticket.url,
        "title": ticket.title,
        "assignee": ticket.assignee,
        "due": ticket.due.isoformat() if ticket.due else None,
        "priority": ticket.priority,
        "status": ticket.status.value,
        "updated": ticket.updated.isoformat(),
        # The tracker's own completion time: the digest's evidence of when work was done.
        "completed_at": ticket.completed_at.isoformat() if ticket.completed_at else None,
    }


@dataclass(frozen=True)
class Base:
    """The last-synced pair of snapshots both sides are compared against."""

    doc: DocSnapshot
    ticket: TicketSnapshot


def stored_base(doc: DocSnapshot, ticket: TicketSnapshot) -> Base | None:
    """The base a state record holds: None until both halves were snapshotted (a record
    that only got its key - a create the run did not finish - has no history)."""
    return Base(doc, ticket) if doc and ticket else None


def starting_base(stored: Base | None, doc: DocSide, learned: Ticket | None) -> Base | None:
    """The base to plan against. `learned` is a ticket created from this doc whose
    outcome this run only learned (its intent resolved by marker): the creation is the
    agreed base, as after a create we saw succeed - so its status is not mistaken for
    an owner's change, and a row reworded meanwhile is pushed as a doc change."""
    if stored is not None or learned is None:
        return stored
    snapshot = doc.snapshot()
    if doc.action[:250] != learned.title:  # reworded since: the created title is the base
        snapshot["action"] = learned.title
    return Base({**snapshot, "status": learned.status.value}, ticket_snapshot(learned))


def ticket_from_snapshot(key: str, snapshot: TicketSnapshot, marker: str | None) -> Ticket:
    """The ticket as last synced, for an item the listing did not mention (unchanged)."""
    due, updated = snapshot.get("due"), snapshot.get("updated")
    completed = snapshot.get("completed_at")
    return Ticket(
        key=key,
        url=snapshot.get("url") or "",
        title=snapshot.get("title", ""),
        assignee=snapshot.get("assignee"),
        due=date.fromisoformat(due) if due else None,
        priority=snapshot.get("priority"),
        status=Status(snapshot.get("status", "open")),
        labels=(),
        updated=datetime.fromisoformat(updated) if updated else datetime.min.replace(tzinfo=UTC),
        marker=marker,
        completed_at=datetime.fromisoformat(completed) if completed else None,
    )


@dataclass(frozen=True)
class PlanInput:
    item_id: str
    tracker: str
    doc_path: str
    doc: DocSide
    doc_ticket: str | None  # the key the doc's Ticket cell names (already resolved)
    assignee: str | None  # tracker identity of the doc owner (None: unmapped or no owner)
    draft: TicketDraft | None  # what to create if no ticket exists
    base_doc: DocSnapshot | None  # last-synced snapshots (None: never synced)
    base_ticket: TicketSnapshot | None
    ticket: Ticket | None  # current ticket (fresh, or the snapshot's view when unchanged)
    managed: bool = True  # created by us (carries the marker): doc-owned fields are pushed


# -- actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Create:
    item_id: str
    tracker: str
    draft: TicketDraft


@dataclass(frozen=True)
class UpdateFields:
    item_id: str
    tracker: str
    key: str
    changes: FieldChanges


@dataclass(frozen=True)
class SetStatus:
    item_id: str
    tracker: str
    key: str
    status: Status


@dataclass(frozen=True)
class WriteTicket:
    item_id: str
    doc_path: str
    key: str


@dataclass(frozen=True)
class WriteStatus:
    item_id: str
    doc_path: str
    status: Status


@dataclass(frozen=True)
class RecordConflict:
    item_id: str
    field: str
    doc_value: Any
    ticket_value: Any
    winner: Winner


@dataclass(frozen=True)
class Note:
    """Something to report that needs no write (unmapped owner, closed item…)."""

    item_id: str
    kind: NoteKind
    message: str


Action = Create | UpdateFields | SetStatus | WriteTicket | WriteStatus | RecordConflict | Note


@dataclass(frozen=True)
class ItemPlan:
    item_id: str
    actions: tuple[Action, ...] = field(default=())
    doc: DocSnapshot = field(default_factory=lambda: DocSnapshot())  # the doc side planned from
    base: Base | None = None  # the base planned against

    @property
    def writes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if not isinstance(a, RecordConflict | Note))


def plan_item(inp: PlanInput, winner: Winner = "tracker") -> ItemPlan:
    base = stored_base(inp.base_doc or {}, inp.base_ticket or {})
    actions = _actions(inp, winner)
    return ItemPlan(inp.item_id, tuple(actions), inp.doc.snapshot(), base)


def _actions(inp: PlanInput, winner: Winner) -> list[Action]:
    actions: list[Action] = []
    if inp.doc.owner and inp.assignee is None:
        actions.append(
            Note(
                inp.item_id,
                NoteKind.UNMAPPED_OWNER,
                f"owner {inp.doc.owner!r} has no {inp.tracker} identity in [owners]",
            )
        )
    if inp.ticket is None:
        if inp.doc.status.is_closed:
            actions.append(
                Note(
                    inp.item_id,
                    NoteKind.CLOSED_WITHOUT_TICKET,
                    "already closed in the doc; no ticket created",
                )
            )
        elif inp.draft is not None:
            actions.append(Create(inp.item_id, inp.tracker, inp.draft))
        return actions
    ticket = inp.ticket
    if inp.doc_ticket != ticket.key:
        actions.append(WriteTicket(inp.item_id, inp.doc_path, ticket.key))
    if inp.managed:
        actions.extend(_field_actions(inp, ticket, winner))
    actions.extend(_status_actions(inp, ticket, winner))
    return actions


def _desired(inp: PlanInput) -> dict[str, Any]:
    return {
        "title": inp.doc.action,
        "assignee": inp.assignee,
        "due": inp.doc.due,
        "priority": inp.doc.priority,
    }


def _current(ticket: Ticket) -> dict[str, Any]:
    return {
        "url": ticket.url,
        "title": ticket.title,
        "assignee": ticket.assignee,
        "due": ticket.due,
        "priority": ticket.priority,
    }


_DOC_KEY = {"title": "action", "assignee": "owner", "due": "due", "priority": "priority"}


def _field_actions(inp: PlanInput, ticket: Ticket, winner: Winner) -> list[Action]:
    desired, current = _desired(inp), _current(ticket)
    snapshot: Mapping[str, Any] = inp.doc.snapshot()  # looked up by field name below
    push: dict[str, Any] = {}
    actions: list[Action] = []
    for name in FIELDS:
        if desired[name] == current[name]:
            continue
        if name == "assignee" and desired[name] is None and inp.doc.owner:
            continue  # an unmapped owner never unassigns a ticket someone assigned
        if inp.base_doc is None or inp.base_ticket is None:
            push[name] = desired[name]  # first sync of this pair: the doc owns these fields
            continue
        doc_changed = inp.base_doc.get(_DOC_KEY[name]) != snapshot[_DOC_KEY[name]]
        ticket_changed = _snap(inp.base_ticket.get(name)) != _snap(current[name])
        if not doc_changed:
            continue  # changed in the tracker only: left there, the doc is not rewritten
        if ticket_changed:
            actions.append(
                RecordConflict(
                    inp.item_id, name, _snap(desired[name]), _snap(current[name]), winner
                )
            )
            if winner == "tracker":
                continue
        push[name] = desired[name]
    if push:
        actions.insert(0, UpdateFields(inp.item_id, inp.tracker, ticket.key, FieldChanges(**push)))
    return actions


def _status_actions(inp: PlanInput, ticket: Ticket, winner: Winner) -> list[Action]:
    doc_status, ticket_status = inp.doc.status, ticket.status
    if doc_status == ticket_status:
        return []
    if inp.base_doc is None or inp.base_ticket is None:
        # No history (first sync, lost state, an interrupted create): the tracker owns
        # status, unless the ticket is still in its initial state - then nobody moved
        # it, and the doc's status is a wish that never reached it.
        if ticket_status is Status.OPEN:
            return [SetStatus(inp.item_id, inp.tracker, ticket.key, doc_status)]
        return [WriteStatus(inp.item_id, inp.doc_path, ticket_status)]
    doc_changed = inp.base_doc.get("status") != doc_status.value
    ticket_changed = inp.base_ticket.get("status") != ticket_status.value
    if ticket_changed and not doc_changed:
        return [WriteStatus(inp.item_id, inp.doc_path, ticket_status)]
    if doc_changed and not ticket_changed:
        return [SetStatus(inp.item_id, inp.tracker, ticket.key, doc_status)]
    if doc_changed and ticket_changed:
        conflict = RecordConflict(
            inp.item_id, "status", doc_status.value, ticket_status.value, winner
        )
        if winner == "doc":
            return [SetStatus(inp.item_id, inp.tracker, ticket.key, doc_status), conflict]
        return [WriteStatus(inp.item_id, inp.doc_path, ticket_status), conflict]
    # Neither side moved, yet they differ: the doc cannot say it (a checkbox has no
    # "in progress"). Converged as far as the document allows; do nothing.
    return []


def _snap(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# -- outcomes: what the run confirmed, and the base that follows -----------------------


class OutcomeKind(Enum):
    APPLIED = "applied"  # every write's result observed (the connector returned the ticket)
    REFUSED = "refused"  # a tracker said no (an error, a missing transition)
    AMBIGUOUS = "ambiguous"  # a write that may or may not have happened (502, timeout)
    DOC_DROPPED = "doc-dropped"  # our doc edit did not land (commit dropped, write failed)
    DOC_EDITED = "doc-edited"  # landed, but a human edited the row's other cells meanwhile


FAILED = frozenset({OutcomeKind.REFUSED, OutcomeKind.AMBIGUOUS, OutcomeKind.DOC_DROPPED})


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    ticket: Ticket | None = None  # the ticket as last observed (returned by its last write)
    doc_written: DocSnapshot | None = None  # the doc side as the file reads after our edit
    created: bool = False  # the ticket was created from the doc in this run


def next_base(plan: ItemPlan, outcome: Outcome) -> Base | None:
    """The snapshot to store after applying `plan`: it advances only on what was confirmed.

    Anything not confirmed keeps the base planned against (None: no history), so the
    next run sees the same difference and plans the same writes again. The planner
    compares the current values first, so a write that did land meanwhile is not sent
    twice.
    """
    if outcome.kind in FAILED or outcome.ticket is None:
        return plan.base
    doc = plan.doc.copy()
    if outcome.created:
        # Created from the doc just now: the ticket's status is the agreed base, so a
        # status the tracker did not take (a failed initial transition) reads as a doc
        # change and is pushed again next run.
        doc["status"] = outcome.ticket.status.value
    if outcome.doc_written is not None:
        # Only the cells we own come from the file: a human's edit of the other cells
        # while we wrote (DOC_EDITED) is not in the base, so it is pushed next run.
        doc["status"] = outcome.doc_written.get("status", doc["status"])
    return Base(doc, ticket_snapshot(outcome.ticket))


def settled(plan: ItemPlan, stored: Base | None, fresh: bool, failing: bool) -> bool:
    """Nothing to do and nothing new: no action, no fresh view of the ticket (the base
    is all we know), the doc as last synced, and no failure waiting to be cleared."""
    return (
        not plan.actions
        and stored is not None
        and not fresh
        and not failing
        and stored.doc == plan.doc
    )


def retry_delay(attempts: int, first: timedelta, cap: timedelta) -> timedelta:
    """Backoff across runs after `attempts` failures: the next run retries after the
    first failure; then `first`, doubling up to `cap`."""
    if attempts <= 1:
        return timedelta(0)
    return min(cap, first * (1 << min(attempts - 2, 32)))
