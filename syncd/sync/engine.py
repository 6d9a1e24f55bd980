"""One reconcile run: read docs, ask each tracker what changed, plan, apply, write back.

Data flow (README "Architecture"):

    docs ──parse──▶ DocItems ─┐
    state (snapshots, intents, cursors) ─┼─▶ reconcile.plan_item ─▶ actions ─▶ apply
    trackers: list_changed_since(cursor) ─┘                                   │
        creates (intent first) ◀──────────────────────────────────────────────┤
        field/status updates ◀────────────────────────────────────────────────┤
        doc write-back (re-read, re-match, patch cells, atomic write, git) ◀───┘

No duplicate tickets: an intent is recorded before every create and resolved with the
key right after; an unresolved intent (crash, timeout, 502 after the server acted) is
resolved by marker lookup before anything is created again. With no cursor (first run,
or state deleted) the full listing of managed tickets is the marker index.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from connectors.base import Connector, Ticket, TicketDraft, TrackerError
from syncd.config import Settings
from syncd.documents.dates import set_default_date_order
from syncd.documents.discover import discover
from syncd.documents.parser import parse_file
from syncd.documents.patch import (
    Edit,
    remove_stale_temp_files,
)
from syncd.documents.sections import rules_from_settings, set_default_section_rules
from syncd.model import Status
from syncd.sync.identity import SIMILAR, SIMILAR_MOVED, marker_for, similarity
from syncd.sync.planner import (
    Create,
    DocSide,
    ItemPlan,
    Note,
    PlanInput,
    RecordConflict,
    SetStatus,
    UpdateFields,
    WriteStatus,
    WriteTicket,
    plan_item,
    ticket_snapshot,
)
from syncd.sync.run import DocItem, LoadedDoc, RunObserver, RunResult, SilentObserver
from syncd.sync.state import ItemRecord, StateStore
from syncd.sync.writeback import WriteBack

log = structlog.get_logger(__name__)

CREATE_CHUNK = 10  # trackers without bulk create: keys are stored after every 10 creates


class Engine:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        connectors: Mapping[str, Connector],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        should_stop: Callable[[], bool] = lambda: False,
        observer: RunObserver | None = None,
    ) -> None:
        self.should_stop = should_stop
        self.observer: RunObserver = observer or SilentObserver()
        self.dry_run = False
        self._records: dict[str, ItemRecord] = {}
        self._by_ticket: dict[tuple[str, str], ItemRecord] = {}
        self.settings = settings
        self.state = state
        self.connectors = dict(connectors)
        self.now = now
        self.root = settings.docs.root
        self.writeback = WriteBack(settings, state, self.observer)
        set_default_date_order(settings.docs.date_order)  # before any document is parsed

    # -- reading ---------------------------------------------------------------------
    def load_docs(self, result: RunResult) -> list[LoadedDoc]:
        set_default_section_rules(rules_from_settings(self.settings.docs))  # [docs] overrides
        loaded = []
        if not self.root.is_dir():
            raise FileNotFoundError(f"docs root {self.root} is not a directory")
        if not self.dry_run:
            remove_stale_temp_files(self.root)
        found = list(discover([self.root], self.settings.docs.include, self.settings.docs.exclude))
        for done, (path, _root) in enumerate(found):
            self.observer.phase("parse", done, len(found))
            rel = path.relative_to(self.root).as_posix()
            doc, text = parse_file(path)
            for problem in doc.problems:
                result.problems.append(
                    {"path": rel, "line": problem.line, "message": problem.message}
                )
            if text is None:
                continue
            prefix = "\ufeff" if text.startswith("\ufeff") else ""
            tracker = self.settings.route(rel, doc.tracker)
            loaded.append(LoadedDoc(rel, path, text[len(prefix) :], prefix, doc, tracker))
        result.docs = len(loaded)
        self.observer.phase("parse", len(found), len(found))
        return loaded

    def doc_items(self, docs: Iterable[LoadedDoc], result: RunResult) -> list[DocItem]:
        # one read of the state for the whole run (a query per item costs ~0.3 s at 10k)
        self._records = {r.item_id: r for r in self.state.items()}
        self._by_ticket = {}
        for record in sorted(self._records.values(), key=lambda r: r.item_id):
            if record.ticket_key:
                self._by_ticket.setdefault((record.tracker, record.ticket_key), record)
        items: list[DocItem] = []
        for loaded in docs:
            if loaded.tracker is None or loaded.tracker not in self.connectors:
                if loaded.doc.action_items:
                    result.notes.append(
                        {
                            "path": loaded.rel,
                            "kind": "no-tracker",
                            "message": "no routing rule or default tracker",
                        }
                    )
                continue
            items.extend(self._items_of(loaded, loaded.tracker, result))
        result.items = len(items)
        return items

    def _items_of(self, loaded: LoadedDoc, tracker: str, result: RunResult) -> list[DocItem]:
        connector = self.connectors[tracker]
        seen: Counter[str] = Counter()
        out = []
        for item in loaded.doc.action_items:
            norm = re.sub(r"\s+", " ", item.action.strip().lower())
            occurrence = seen[norm]
            seen[norm] += 1
            key = connector.parse_key(item.ticket) if item.ticket else None
            if item.ticket and key is None:
                result.notes.append(
                    {
                        "path": loaded.rel,
                        "line": item.line,
                        "kind": "foreign-ref",
                        "message": f"ticket {item.ticket!r} is not a {tracker} "
                        "reference; left alone",
                    }
                )
                continue
            item_id = marker_for(loaded.rel, item.action, occurrence)
            if key is not None:
                record = self._by_ticket.get((tracker, key))
                item_id = record.item_id if record else f"ref:{tracker}:{key}"
            out.append(DocItem(item_id, tracker, loaded, item, key))
        return out

    # -- fetching --------------------------------------------------------------------
    def fetch(
        self, tracker: str, items: list[DocItem], result: RunResult, only: set[str] | None = None
    ) -> Fetched | None:
        """The tickets this run must look at, and doc items adopted by marker.

        Returns None when the tracker could not be listed: its items are skipped this
        run (a failed listing is never read as "tickets deleted").
        """
        connector = self.connectors[tracker]
        cursor = self.state.get_cursor(tracker)
        listed_at = self.now()
        records = {i: r for i, r in self._records.items() if r.tracker == tracker}
        pending = {i.item_id for i in self.state.pending_intents(tracker)}
        try:
            if only is None:
                tickets = {t.key: t for t in connector.list_changed_since(cursor)}
                # The next cursor on the tracker's clock, not ours (Connector.listing_cursor).
                listed_at = connector.listing_cursor() or listed_at
            else:  # a webhook named these tickets: fetch just them, leave the cursor alone
                tickets = connector.get_many(sorted(only))
            by_marker = {t.marker: t for t in tickets.values() if t.marker}
            self._adopt_orphans(items, records, tickets)
            missing_keys = self._keys_to_fetch(items, records, tickets)
            lookups = sorted(m for m in pending if m not in by_marker)
            if lookups:  # creates whose outcome we never learned: did the server act?
                for marker, ticket in connector.find_by_markers(lookups).items():
                    by_marker[marker] = tickets[ticket.key] = ticket
            if missing_keys:
                tickets.update(connector.get_many(sorted(missing_keys)))
        except TrackerError as exc:
            result.errors += 1
            result.notes.append({"tracker": tracker, "kind": "listing-failed", "message": str(exc)})
            self.observer.tracker_failed(tracker, exc)
            return None
        if not self.dry_run:
            self.state.resolve_intents(
                [
                    (marker, by_marker[marker].key if marker in by_marker else None)
                    for marker in pending
                ]
            )
        for ticket in tickets.values():
            if ticket.marker:
                by_marker.setdefault(ticket.marker, ticket)
        adopted = {}
        for item in items:
            if item.key is not None and item.item_id.startswith("ref:"):
                found = tickets.get(item.key)
                if found is not None and found.marker:
                    adopted[item.item_id] = found.marker  # ours, state was lost
        fresh = frozenset(m for m in pending if m in by_marker)
        return Fetched(tickets, by_marker, adopted, listed_at, records, fresh)

    def _adopt_orphans(
        self, items: list[DocItem], records: dict[str, ItemRecord], tickets: dict[str, Ticket]
    ) -> None:
        """Keep a ticket whose row changed identity before its key was written back.

        A row reworded while its ticket was being created, or a doc renamed meanwhile,
        gives the item a new id; the ticket's record is left an orphan. It is adopted
        by text similarity - in the same doc, or from a doc that no longer exists
        (renamed, stricter match) - instead of a second ticket being created.
        """
        present = {item.item_id for item in items}
        orphans: dict[str, list[ItemRecord]] = defaultdict(list)
        for record in records.values():
            # only tickets whose key never reached the doc (no doc snapshot yet): a row
            # a human deleted after its key was written is "removed", not an orphan
            if record.ticket_key and record.item_id not in present and not record.doc:
                orphans[record.doc_path].append(record)
        if not orphans:
            return
        gone = [r for path, rs in orphans.items() if not (self.root / path).exists() for r in rs]
        for item in items:
            if item.key is not None or item.item_id in records:
                continue
            candidates = [(SIMILAR, r) for r in orphans.get(item.loaded.rel, [])]
            candidates += [(SIMILAR_MOVED, r) for r in gone if r.doc_path != item.loaded.rel]
            scored = [
                (similarity(item.item.action, _record_text(r, tickets)), bar, r)
                for bar, r in candidates
            ]
            best = max((s for s in scored if s[0] >= s[1]), default=None, key=lambda s: s[0])
            if best is not None:
                record = best[2]
                orphans[record.doc_path].remove(record)
                if record in gone:
                    gone.remove(record)
                item.item_id = record.item_id

    @staticmethod
    def _report_removed(
        items: list[DocItem], records: dict[str, ItemRecord], result: RunResult
    ) -> None:
        """Items synced before but gone from every doc: reported, never deleted."""
        present = {item.item_id for item in items}
        for record in records.values():
            if record.item_id not in present and record.ticket_key:
                result.notes.append(
                    {
                        "path": record.doc_path,
                        "kind": "removed-from-doc",
                        "message": f"{record.ticket_key} is no longer in any postmortem; "
                        "the ticket was left as it is",
                    }
                )

    def _ticket_key(self, item: DocItem) -> str | None:
        if item.key:
            return item.key
        record = self._records.get(item.item_id)
        return record.ticket_key if record else None

    @staticmethod
    def _keys_to_fetch(
        items: list[DocItem], records: dict[str, ItemRecord], tickets: dict[str, Ticket]
    ) -> set[str]:
        """Keys the listing does not cover: never snapshotted, or linked by a human.

        Tickets a human linked in a doc carry no shared label, so the "changed since"
        listing never sees them; they are read by key (batched) on every run.
        """
        keys = set()
        for item in items:
            record = records.get(item.item_id)
            key = item.key or (record.ticket_key if record else None)
            unseen = record is None or not record.ticket or item.item_id.startswith("ref:")
            if key and key not in tickets and unseen:
                keys.add(key)
        return keys

    # -- planning --------------------------------------------------------------------
    def plan(
        self, tracker: str, items: list[DocItem], fetched: Fetched
    ) -> list[tuple[DocItem, ItemPlan, ItemRecord | None]]:
        kind = str(self.settings.trackers[tracker].get("kind", tracker))
        plans = []
        for item in items:
            item.item_id = fetched.adopted.get(item.item_id, item.item_id)
            record = fetched.records.get(item.item_id)
            key = item.key or (record.ticket_key if record else None)
            ticket = fetched.tickets.get(key) if key else fetched.by_marker.get(item.item_id)
            if ticket is None and key and record and record.ticket:
                ticket = _ticket_from_snapshot(key, record)
            owner = item.item.owner
            assignee = self.settings.owner_identity(owner, tracker, kind) if owner else None
            base_doc = record.doc if record and record.doc else None
            base_ticket = record.ticket if record and record.ticket else None
            if item.item_id in fetched.fresh and ticket is not None and base_doc is None:
                # we created it from this doc but never learned the outcome: the
                # creation is the agreed base (as after a create we saw succeed)
                base_doc = {**DocSide.of(item.item).snapshot(), "status": ticket.status.value}
                base_ticket = ticket_snapshot(ticket)
            inp = PlanInput(
                item_id=item.item_id,
                tracker=tracker,
                doc_path=item.loaded.rel,
                doc=DocSide.of(item.item),
                doc_ticket=item.key,
                assignee=assignee,
                draft=self._draft(item, assignee) if ticket is None else None,
                base_doc=base_doc,
                base_ticket=base_ticket,
                ticket=ticket,
                managed=not item.item_id.startswith("ref:"),
            )
            plans.append((item, plan_item(inp, self.settings.sync.conflict_winner), record))
        return plans

    def _draft(self, item: DocItem, assignee: str | None) -> TicketDraft:
        doc, action = item.loaded.doc, item.item
        where = self.settings.docs.url_for(item.loaded.rel) or item.loaded.rel
        lines = [
            f'Action item from the postmortem "{doc.title or item.loaded.rel}"',
            f"{where} (line {action.line})",
            "",
            f"Owner: {action.owner or 'unassigned'}",
            f"Due: {action.due.isoformat() if action.due else 'not set'}",
            "",
            "Managed by postmortem-syncd: edit the action, owner, due date and priority in the "
            "postmortem; status changes here are written back to it.",
        ]
        return TicketDraft(
            marker=item.item_id,
            title=action.action[:250],
            description="\n".join(lines),
            assignee=assignee,
            due=action.due,
            priority=action.priority if _is_p(action.priority) else None,
            status=action.status,
        )

    # -- applying ----------------------------------------------------------------------
    def run(
        self, *, dry_run: bool = False, only: Mapping[str, set[str]] | None = None
    ) -> RunResult:
        """One reconcile. `only` ({tracker: {keys}}) limits it to the items whose tickets
        a webhook named: those tickets are fetched by key and the cursor is not moved."""
        started = time.monotonic()
        self.dry_run = self.writeback.dry_run = dry_run
        result = RunResult()
        # connectors outlive a run in the daemon: report this run's requests only
        counts_before = {name: _counts(c) for name, c in self.connectors.items()}
        if not dry_run:
            self.writeback.prepare(result, pull=only is None)
        docs = self.load_docs(result)
        items = self.doc_items(docs, result)
        by_tracker: dict[str, list[DocItem]] = defaultdict(list)
        for item in items:
            by_tracker[item.tracker].append(item)
        doc_edits: dict[str, dict[str, Edit]] = defaultdict(dict)
        pending_records: dict[str, ItemRecord] = {}
        cursors: dict[str, datetime] = {}
        for listed, (tracker, tracker_items) in enumerate(by_tracker.items()):
            self.observer.phase("list", listed, len(by_tracker), tracker)
            if only is not None:
                keys = only.get(tracker, set())
                tracker_items = [i for i in tracker_items if self._ticket_key(i) in keys]
                if not tracker_items:
                    continue
            fetched = self.fetch(
                tracker, tracker_items, result, None if only is None else only.get(tracker, set())
            )
            if fetched is None:
                continue
            plans = self.plan(tracker, tracker_items, fetched)
            for item, plan, _record in plans:
                if plan.actions:
                    result.plans.append(_plan_json(item, plan))
            if only is None:
                self._report_removed(tracker_items, fetched.records, result)
            if dry_run:
                continue
            self._apply_tracker(tracker, plans, fetched, doc_edits, pending_records, result)
            if only is None:
                cursors[tracker] = fetched.listed_at
        self.observer.phase("list", len(by_tracker), len(by_tracker))
        if not dry_run:
            self.writeback.land(docs, doc_edits, pending_records, result)
            self.state.put_items(pending_records.values())
            for tracker, at in cursors.items():
                self.state.set_cursor(tracker, at)
        result.requests = {
            name: {k: v - counts_before[name][k] for k, v in _counts(c).items()}
            for name, c in self.connectors.items()
        }
        result.duration_s = time.monotonic() - started
        if not dry_run:
            self.state.record_run(
                datetime.now(UTC) - timedelta(seconds=result.duration_s),
                datetime.now(UTC),
                result.errors == 0,
                result.summary(),
            )
        return result

    def _apply_tracker(
        self,
        tracker: str,
        plans: list[tuple[DocItem, ItemPlan, ItemRecord | None]],
        fetched: Fetched,
        doc_edits: dict[str, dict[str, Edit]],
        records: dict[str, ItemRecord],
        result: RunResult,
    ) -> None:
        connector = self.connectors[tracker]
        creates = [
            (item, a) for item, plan, _r in plans for a in plan.actions if isinstance(a, Create)
        ]
        limit = self.settings.sync.max_creates_per_run
        if limit is not None and len(creates) > limit:
            result.notes.append(
                {
                    "tracker": tracker,
                    "kind": "create-limit",
                    "message": f"{len(creates) - limit} creates deferred to later runs",
                }
            )
            creates = creates[:limit]
        created = self._create(tracker, creates, result)
        for item, plan, record in plans:
            if self.should_stop():
                # SIGTERM: stop between items; what is left keeps its old snapshot (and
                # created keys are already in the state), so the next run carries on
                result.notes.append(
                    {
                        "tracker": tracker,
                        "kind": "stopped",
                        "message": "stopped before every item was applied",
                    }
                )
                break
            ticket = created.get(item.item_id)
            if ticket is None and _settled(item, plan, record, fetched):
                continue  # nothing new on either side: keep the stored record as it is
            key = (
                item.key
                or (record.ticket_key if record else None)
                or (ticket.key if ticket else None)
            )
            # the ticket as this run knows it: just created, listed/looked up by key, or
            # found by its marker (a create whose outcome we had not learned)
            current = ticket or (
                fetched.tickets.get(key) if key else fetched.by_marker.get(item.item_id)
            )
            if current is None and record and record.ticket and key:
                current = _ticket_from_snapshot(key, record)
            ok = True
            for action in plan.actions:
                if isinstance(action, WriteTicket | WriteStatus):
                    self._queue_doc_edit(item, action, doc_edits)
                elif isinstance(action, UpdateFields | SetStatus):
                    try:
                        if isinstance(action, UpdateFields):
                            current = connector.update_fields(action.key, action.changes)
                            result.updated += 1
                        else:
                            current = connector.set_status(action.key, action.status)
                            result.status_pushed += 1
                    except TrackerError as exc:
                        ok = False
                        self._fail(item, f"{type(action).__name__} {action.key}: {exc}", result)
                elif isinstance(action, RecordConflict):
                    result.conflicts += 1
                    self.state.record_conflict(
                        action.item_id,
                        action.field,
                        action.doc_value,
                        action.ticket_value,
                        action.winner,
                        self.now(),
                    )
                elif isinstance(action, Note):
                    result.notes.append(
                        {
                            "path": item.loaded.rel,
                            "line": item.item.line,
                            "kind": action.kind,
                            "message": action.message,
                        }
                    )
            if ticket is not None and item.key is None:
                self._queue_doc_edit(
                    item, WriteTicket(item.item_id, item.loaded.rel, ticket.key), doc_edits
                )
            if current is None:
                continue
            doc_snapshot = DocSide.of(item.item).snapshot()
            if ticket is not None:
                # Created from the doc just now: the ticket's status is the agreed base,
                # so a status the tracker did not take (a failed initial transition)
                # reads as a doc change and is pushed again next run.
                doc_snapshot["status"] = ticket.status.value
            records[item.item_id] = ItemRecord(
                item_id=item.item_id,
                tracker=tracker,
                doc_path=item.loaded.rel,
                ticket_key=current.key,
                doc=doc_snapshot,
                ticket=ticket_snapshot(current),
                synced_at=self.now(),
                error=None if ok else (record.error if record else None),
                attempts=0 if ok else (record.attempts if record else 0),
            )

    def _create(
        self, tracker: str, creates: list[tuple[DocItem, Create]], result: RunResult
    ) -> dict[str, Ticket]:
        """Create in chunks: intent recorded before each chunk, keys stored right after."""
        connector = self.connectors[tracker]
        chunk = max(
            1,
            connector.capabilities.max_bulk if connector.capabilities.bulk_create else CREATE_CHUNK,
        )
        created: dict[str, Ticket] = {}
        for start in range(0, len(creates), chunk):
            self.observer.phase("create", start, len(creates), tracker)
            if self.should_stop():
                result.notes.append(
                    {
                        "tracker": tracker,
                        "kind": "stopped",
                        "message": f"{len(creates) - start} creates left for the next run",
                    }
                )
                break
            batch = creates[start : start + chunk]
            drafts = [action.draft for _item, action in batch]
            self.state.record_intents(
                tracker,
                [d.marker for d in drafts],
                payloads={item.item_id: {"doc_path": item.loaded.rel} for item, _a in batch},
            )
            try:
                outcomes = connector.create_many(drafts)
            except TrackerError as exc:  # nothing known about this chunk: intents stay
                for item, _action in batch:
                    self._fail(item, f"create outcome unknown ({exc}); will look it up", result)
                continue
            resolved: list[tuple[str, str | None]] = []
            for (item, _action), outcome in zip(batch, outcomes, strict=True):
                if outcome.ticket is not None:
                    resolved.append((outcome.marker, outcome.ticket.key))
                    created[item.item_id] = outcome.ticket
                    result.created += 1
                elif outcome.ambiguous:
                    # keep the intent: the next run resolves it by marker before creating
                    self._fail(
                        item, f"create outcome unknown ({outcome.error}); will look it up", result
                    )
                else:
                    resolved.append((outcome.marker, None))
                    self._fail(item, f"create failed: {outcome.error}", result)
            self.state.resolve_intents(resolved)
            waits = [o.retry_after for o in outcomes if o.retry_after is not None]
            if waits:
                # The tracker refused creates: sending the next chunk now would only be
                # refused again (and could get the token throttled for everyone).
                left = len(creates) - start - len(batch)
                result.notes.append(
                    {
                        "tracker": tracker,
                        "kind": "rate-limited",
                        "message": f"{tracker} rate limit: waiting {max(waits):.0f} s; "
                        f"{left} more create(s) left for a later run",
                    }
                )
                break
        self.observer.phase("create", len(creates), len(creates), tracker)
        return created

    def _fail(self, item: DocItem, message: str, result: RunResult) -> None:
        result.errors += 1
        if self.state.get_item(item.item_id) is not None:
            self.state.record_error(item.item_id, message)
        result.notes.append(
            {"path": item.loaded.rel, "line": item.item.line, "kind": "error", "message": message}
        )
        log.warning("item failed", path=item.loaded.rel, line=item.item.line, error=message)

    def _queue_doc_edit(
        self,
        item: DocItem,
        action: WriteTicket | WriteStatus,
        doc_edits: dict[str, dict[str, Edit]],
    ) -> None:
        if isinstance(action, WriteStatus) and not self.settings.sync.write_status:
            return
        edits = doc_edits[item.loaded.rel]
        edit = edits.get(item.item_id, Edit(item.item))
        if isinstance(action, WriteTicket):
            edit = Edit(edit.item, ticket=action.key, status=edit.status)
        else:
            edit = Edit(edit.item, ticket=edit.ticket, status=action.status)
        edits[item.item_id] = edit


@dataclass(frozen=True)
class Fetched:
    tickets: dict[str, Ticket]  # by key: listed as changed, looked up, or found by marker
    by_marker: dict[str, Ticket]
    adopted: dict[str, str]  # doc-item id → marker of the managed ticket it names
    listed_at: datetime  # the next cursor, once this run has applied what it saw
    records: dict[str, ItemRecord]
    fresh: frozenset[str] = frozenset()  # markers of creates whose outcome we just learned


def _record_text(record: ItemRecord, tickets: Mapping[str, Ticket]) -> str:
    """The action an orphan's ticket was made for: from its snapshots, or - for a record
    that only got its key (the run died before snapshotting) - the ticket's title."""
    listed = tickets.get(record.ticket_key or "")
    return str(
        record.doc.get("action") or record.ticket.get("title") or (listed.title if listed else "")
    )


def _settled(item: DocItem, plan: ItemPlan, record: ItemRecord | None, fetched: Fetched) -> bool:
    """No action, no fresh view of the ticket, the doc as last synced, no error."""
    return (
        not plan.actions
        and record is not None
        and record.error is None
        and bool(record.ticket)
        and (record.ticket_key or "") not in fetched.tickets
        and record.doc == DocSide.of(item.item).snapshot()
    )


def _counts(connector: Connector) -> dict[str, int]:
    stats = connector.stats
    return {
        "reads": stats.reads,
        "writes": stats.writes,
        "errors": stats.errors,
        "rate_limit_waits": stats.rate_limit_waits,
    }


def _is_p(priority: str | None) -> bool:
    return bool(priority and re.fullmatch(r"P[0-4]", priority))


def _ticket_from_snapshot(key: str, record: ItemRecord) -> Ticket:
    snap = record.ticket
    return Ticket(
        key=key,
        url=snap.get("url", ""),
        title=snap.get("title", ""),
        assignee=snap.get("assignee"),
        due=date.fromisoformat(snap["due"]) if snap.get("due") else None,
        priority=snap.get("priority"),
        status=Status(snap.get("status", "open")),
        labels=(),
        updated=datetime.fromisoformat(snap["updated"])
        if snap.get("updated")
        else datetime.min.replace(tzinfo=UTC),
        marker=None if record.item_id.startswith("ref:") else record.item_id,
        completed_at=datetime.fromisoformat(snap["completed_at"])
        if snap.get("completed_at")
        else None,
    )


def _plan_json(item: DocItem, plan: ItemPlan) -> dict[str, Any]:
    def describe(action: Any) -> dict[str, Any]:
        data = {"action": type(action).__name__}
        for name, value in vars(action).items():
            if name in ("item_id", "doc_path"):
                continue
            if name == "draft":
                value = {
                    "title": value.title,
                    "assignee": value.assignee,
                    "due": value.due.isoformat() if value.due else None,
                    "priority": value.priority,
                }
            elif name == "changes":
                value = {
                    k: (v.isoformat() if isinstance(v, date) else v)
                    for k, v in value.items().items()
                }
            elif isinstance(value, Status):
                value = value.value
            data[name] = value
        return data

    return {
        "item": item.item_id,
        "path": item.loaded.rel,
        "line": item.item.line,
        "action_text": item.item.action,
        "tracker": item.tracker,
        "actions": [describe(a) for a in plan.actions],
    }
