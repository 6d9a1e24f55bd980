"""An action item joined with its last-synced ticket: its status, and when it was closed.

The doc says what should be done; the tracker says whether it is. The state store keeps
the ticket as last seen by a sync (status, due, priority, the tracker's completion time),
so the digest needs no tracker calls and gives the same answer whenever it is re-run for
the same data. The docs' git history adds when each item was set and first shown done.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from syncd.digest.completed_field import completed_on
from syncd.digest.history import DocHistory, ItemHistory
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
    set_on: date | None = None  # first commit of the doc history containing the item
    # Where `closed_on` came from: "tracker" (close time), "doc commit" (the commit that
    # first showed it done), "completed field" (a date written beside it), or None.
    closed_from: str | None = None

    @property
    def owner(self) -> str | None:
        return self.item.owner

    @property
    def exists_on(self) -> date | None:
        """When the item came into being, as far as we can tell: the first commit that
        contains it, else the incident date. Before that day it cannot be overdue."""
        if self.set_on is not None and (self.doc.date is None or self.set_on > self.doc.date):
            return self.set_on
        return self.doc.date

    def clock_start(self, clock: str) -> date | None:
        """Where the priority's completion target starts: `[digest] target_clock`."""
        if clock == "set":
            return self.exists_on
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
    path: str,
    doc: Postmortem,
    item: ActionItem,
    record: ItemRecord | None,
    tz: tzinfo,
    history: ItemHistory | None = None,
    written_completion: date | None = None,
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
    closed_on, closed_from = None, None
    if status.is_closed:
        # The earliest evidence that the work was done. Never the ticket's `updated`
        # time: any later edit of a closed ticket (a comment, a label) moves that.
        evidence: list[tuple[date, str]] = []
        completed = _as_datetime(ticket_snap.get("completed_at"))
        if completed is not None and ticket_status is not None and ticket_status.is_closed:
            evidence.append((completed.astimezone(tz).date(), "tracker"))
        if history is not None and history.done_on is not None and item.status.is_closed:
            evidence.append((history.done_on, "doc commit"))
        if written_completion is not None:
            evidence.append((written_completion, "completed field"))
        if evidence:
            closed_on, closed_from = min(evidence)
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
        set_on=history.set_on if history is not None else None,
        closed_from=closed_from,
    )


def track_all(
    docs: Sequence[tuple[str, Postmortem]],
    records: Iterable[ItemRecord],
    tz: tzinfo,
    history: Mapping[str, DocHistory] | None = None,
    texts: Mapping[str, Sequence[str]] | None = None,
    date_order: str = "mdy",
) -> list[TrackedItem]:
    """Every item of `docs` joined with its record; `history` (per path, from the docs'
    git history) and `texts` (each doc's lines, for `completed:` dates, read in
    `date_order` as the docs were) are optional evidence of when items were set and
    done."""
    by_path: dict[str, list[ItemRecord]] = defaultdict(list)
    for rec in records:
        by_path[rec.doc_path].append(rec)
    out: list[TrackedItem] = []
    for path, doc in docs:
        matched = match_records(path, doc.action_items, by_path.get(path, ()))
        doc_history = history.get(path) if history else None
        lines = texts.get(path) if texts else None
        out.extend(
            track(
                path,
                doc,
                item,
                rec,
                tz,
                doc_history.get(item) if doc_history else None,
                completed_on(lines, item.line, date_order) if lines else None,
            )
            for item, rec in zip(doc.action_items, matched, strict=True)
        )
    return out
