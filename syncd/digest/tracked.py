"""An action item joined with its last-synced ticket: its status, and when it was closed.

The doc says what should be done; the tracker says whether it is. The state store keeps
the ticket as last seen by a sync (status, due, priority, `updated`), so the digest needs
no tracker calls and gives the same answer whenever it is re-run for the same data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from syncd.model import ActionItem, Postmortem, Status
from syncd.sync.state import ItemRecord


@dataclass(frozen=True)
class TrackedItem:
    path: str  # relative to the docs root, as the state store keys it
    doc: Postmortem
    item: ActionItem
    record: ItemRecord | None
    status: Status  # effective status now
    status_from: str  # "ticket" | "doc"
    closed_on: date | None  # completion day (digest time zone) when known
    due: date | None
    priority: str | None
    ticket: str | None
    ticket_url: str | None

    @property
    def owner(self) -> str | None:
        return self.item.owner

    @property
    def exists_on(self) -> date | None:
        """When the item came into being, as far as we can tell: the incident date."""
        return self.doc.date

    def open_on(self, day: date) -> bool:
        """Was the item still open at the end of `day`?

        A closed item with no known completion day counts as closed throughout: the
        alternative (open until today) would invent overdue items in past weeks.
        """
        if not self.status.is_closed:
            return True
        return self.closed_on is not None and self.closed_on > day

    def overdue_on(self, day: date) -> bool:
        return (
            self.due is not None
            and self.due < day
            and (self.exists_on is None or self.exists_on <= day)
            and self.open_on(day)
        )


def _norm_action(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _norm_key(text: str) -> str:
    return text.strip().lower()


def _same_ticket(record_key: str, doc_ref: str) -> bool:
    a, b = _norm_key(record_key), _norm_key(doc_ref)
    if a == b:
        return True
    # GitHub: the doc may say "#34" for "acme/repo#34"; Jira: a browse URL ending in the key.
    short, long = sorted((a, b), key=len)
    return long.endswith(short) and (short.startswith("#") or long[-len(short) - 1] in "/#")


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:  # snapshots are written in UTC; be lenient with old ones
        moment = moment.replace(tzinfo=UTC)
    return moment


def _as_status(value: Any) -> Status | None:
    try:
        return Status(str(value)) if value is not None else None
    except ValueError:
        return None


def match_records(
    path: str, items: Sequence[ActionItem], records: Iterable[ItemRecord]
) -> list[ItemRecord | None]:
    """The state record of each item of one doc, or None.

    By ticket key first (the doc names it), then by the action text the record last saw;
    each record is used once, so two identical rows cannot both claim one ticket.
    """
    pool = [r for r in records if r.doc_path == path]
    used: set[str] = set()
    found: list[ItemRecord | None] = [None] * len(items)
    for i, item in enumerate(items):
        if item.ticket:
            for rec in pool:
                if (
                    rec.item_id not in used
                    and rec.ticket_key
                    and _same_ticket(rec.ticket_key, item.ticket)
                ):
                    found[i] = rec
                    used.add(rec.item_id)
                    break
    for i, item in enumerate(items):
        if found[i] is not None:
            continue
        for rec in pool:
            action = rec.doc.get("action")
            if (
                rec.item_id not in used
                and isinstance(action, str)
                and _norm_action(action) == _norm_action(item.action)
            ):
                found[i] = rec
                used.add(rec.item_id)
                break
    return found


def track(
    path: str, doc: Postmortem, item: ActionItem, record: ItemRecord | None, tz: tzinfo
) -> TrackedItem:
    ticket_snap: Mapping[str, Any] = record.ticket if record else {}
    doc_snap: Mapping[str, Any] = record.doc if record else {}
    ticket_status = _as_status(ticket_snap.get("status"))
    # Prefer the tracker's word, unless the doc changed since that sync (its status
    # differs from the doc snapshot taken then): the doc is then the newer statement,
    # and the next sync will push it to the tracker anyway.
    doc_changed = bool(doc_snap) and _as_status(doc_snap.get("status")) != item.status
    if ticket_status is not None and not doc_changed:
        status, status_from = ticket_status, "ticket"
    else:
        status, status_from = item.status, "doc"
    closed_on = None
    if status.is_closed and status_from == "ticket":
        # The ticket's last update is taken as its completion time. Any later edit of a
        # closed ticket (a comment, a label) moves it, so this can only make an item look
        # later than it was, never earlier.
        updated = _as_datetime(ticket_snap.get("updated"))
        closed_on = updated.astimezone(tz).date() if updated else None
    url = ticket_snap.get("url")
    return TrackedItem(
        path=path,
        doc=doc,
        item=item,
        record=record,
        status=status,
        status_from=status_from,
        closed_on=closed_on,
        due=item.due or _as_date(ticket_snap.get("due")),
        priority=item.priority or ticket_snap.get("priority"),
        ticket=(record.ticket_key if record and record.ticket_key else None) or item.ticket,
        ticket_url=url if isinstance(url, str) and url else None,
    )


def track_all(
    docs: Sequence[tuple[str, Postmortem]], records: Iterable[ItemRecord], tz: tzinfo
) -> list[TrackedItem]:
    by_path: dict[str, list[ItemRecord]] = defaultdict(list)
    for rec in records:
        by_path[rec.doc_path].append(rec)
    out = []
    for path, doc in docs:
        matched = match_records(path, doc.action_items, by_path.get(path, ()))
        out.extend(
            track(path, doc, item, rec, tz)
            for item, rec in zip(doc.action_items, matched, strict=True)
        )
    return out
