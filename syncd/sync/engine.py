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
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import structlog

from connectors.base import (
    Connector,
    Ticket,
    TicketDraft,
    TicketsByKey,
    TrackerError,
)
from syncd.config import Settings
from syncd.documents.discover import discover
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_file
from syncd.documents.patch import (
    Edit,
    remove_stale_temp_files,
)
from syncd.sync.describe import action_text, plan_json
from syncd.sync.identity import SIMILAR, SIMILAR_MOVED, ItemId, marker_for, similarity
from syncd.sync.notes import NoteKind, Problem, RunNote
from syncd.sync.planner import (
    FAILED,
    Base,
    Create,
    DocSide,
    Note,
    OutcomeKind,
    PlanInput,
    RecordConflict,
    SetStatus,
    UpdateFields,
    WriteStatus,
    WriteTicket,
    next_base,
    plan_item,
    retry_delay,
    settled,
    starting_base,
    stored_base,
    ticket_from_snapshot,
)
from syncd.sync.run import DocItem, LoadedDoc, RunObserver, RunResult, SilentObserver
from syncd.sync.state import ItemRecord, StateStore
from syncd.sync.steps import (
    Applied,
    Failure,
    Fetched,
    Planned,
    adopted_by_marker,
    converged_record,
    failure_of,
    keys_to_fetch,
    note_learned_keys,
    record_text,
    released,
)
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
        self._failed: dict[str, ItemRecord] = {}  # due records of items not planned (dead refs)
        self.settings = settings
        self.state = state
        self.connectors = dict(connectors)
        self.now = now
        self.root = settings.docs.root
        self.options = ParseOptions.from_settings(settings.docs)  # [docs] parse settings
        self.writeback = WriteBack(settings, state, self.observer, self.options)

    # -- reading ---------------------------------------------------------------------
    def load_docs(self, result: RunResult) -> list[LoadedDoc]:
        loaded = []
        if not self.root.is_dir():
            raise FileNotFoundError(f"docs root {self.root} is not a directory")
        if not self.dry_run:
            remove_stale_temp_files(self.root)
        found = list(discover([self.root], self.settings.docs.include, self.settings.docs.exclude))
        for done, (path, _root) in enumerate(found):
            self.observer.phase("parse", done, len(found))
            rel = path.relative_to(self.root).as_posix()
            doc, text = parse_file(path, options=self.options)
            for problem in doc.problems:
                result.problems.append(Problem(rel, problem.line, problem.message))
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
                        RunNote(
                            NoteKind.NO_TRACKER,
                            "no routing rule or default tracker",
                            path=loaded.rel,
                        )
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
                    RunNote(
                        NoteKind.FOREIGN_REF,
                        f"ticket {item.ticket!r} is not a {tracker} reference; left alone",
                        path=loaded.rel,
                        line=item.line,
                    )
                )
                continue
            ident = ItemId.marker(marker_for(loaded.rel, item.action, occurrence))
            if key is not None:
                record = self._by_ticket.get((tracker, key))
                ident = ItemId.parse(record.item_id) if record else ItemId.linked(tracker, key)
            out.append(DocItem(ident, tracker, loaded, item, key))
        return out

    # -- fetching --------------------------------------------------------------------
    def fetch(
        self,
        tracker: str,
        items: list[DocItem],
        result: RunResult,
        only: set[str] | None = None,
        *,
        full: bool = False,
    ) -> Fetched | None:
        """The tickets this run must look at, and the items with their identity resolved.

        Order matters: pending create intents are resolved by marker first, so a row
        reworded or a doc renamed after an ambiguous create adopts the ticket that was
        created (orphan adoption sees it) instead of getting a second one.

        Returns None when the tracker could not be read: its items are skipped this run
        (a failed listing is never read as "tickets deleted").
        """
        connector = self.connectors[tracker]
        cursor = self.state.get_cursor(tracker)
        listed_at = self.now()
        records = {i: r for i, r in self._records.items() if r.tracker == tracker}
        pending = {i.item_id: i for i in self.state.pending_intents(tracker)}
        try:
            if only is None:
                tickets = TicketsByKey({t.key: t for t in connector.list_changed_since(cursor)})
                # The next cursor on the tracker's clock, not ours (Connector.listing_cursor).
                listed_at = connector.listing_cursor() or listed_at
            else:  # a webhook named these tickets: fetch just them, leave the cursor alone
                tickets = connector.get_many(sorted(only))
            by_marker = {t.marker: t for t in tickets.values() if t.marker}
            lookups = sorted(m for m in pending if m not in by_marker)
            if lookups:  # creates whose outcome we never learned: did the server act?
                for marker, ticket in connector.find_by_markers(lookups).items():
                    by_marker[marker] = tickets[ticket.key] = ticket
            learned = {m: by_marker[m] for m in pending if m in by_marker}
            note_learned_keys(tracker, learned, pending, records)
            items = self._adopt_orphans(items, records, tickets)
            waiting = self._waiting(items, records, ignore_backoff=full)
            missing_keys = keys_to_fetch(items, records, tickets, waiting, full=full)
            if missing_keys:
                tickets.merge(connector.get_many(sorted(missing_keys)))
        except TrackerError as exc:
            result.errors += 1
            result.notes.append(RunNote(NoteKind.LISTING_FAILED, str(exc), tracker=tracker))
            self.observer.tracker_failed(tracker, exc)
            return None
        if not self.dry_run:
            self.state.resolve_intents(
                [(marker, learned[marker].key if marker in learned else None) for marker in pending]
            )
        for ticket in tickets.values():
            if ticket.marker:
                by_marker.setdefault(ticket.marker, ticket)
        items = [adopted_by_marker(item, tickets) for item in items]
        return Fetched(
            tickets, by_marker, listed_at, records, items, frozenset(learned), waiting, full
        )

    def _waiting(
        self, items: list[DocItem], records: Mapping[str, ItemRecord], *, ignore_backoff: bool
    ) -> frozenset[str]:
        """Failing items still inside their backoff: not retried this run, only reported."""
        if ignore_backoff:
            return frozenset()
        now = self.now()
        out = set()
        for item in items:
            record = records.get(item.item_id)
            if record is not None and record.retry_at is not None and now < record.retry_at:
                out.add(item.item_id)
        return frozenset(out)

    def _adopt_orphans(
        self, items: list[DocItem], records: dict[str, ItemRecord], tickets: Mapping[str, Ticket]
    ) -> list[DocItem]:
        """Keep a ticket whose row changed identity before its key was written back.

        A row reworded while its ticket was being created, or a doc renamed meanwhile,
        gives the item a new id; the ticket's record is left an orphan. It is adopted
        by text similarity - in the same doc, or from a doc that no longer exists
        (renamed, stricter match) - instead of a second ticket being created.
        """
        present = {item.item_id for item in items}
        orphans: dict[str, list[ItemRecord]] = defaultdict(list)
        for record in records.values():
            # only tickets we created whose key never reached the doc (no doc snapshot
            # yet): a row a human deleted after its key was written is "removed", and a
            # key a human linked (perhaps a dead one) is theirs - neither is an orphan
            managed = ItemId.parse(record.item_id).managed
            if managed and record.ticket_key and record.item_id not in present and not record.doc:
                orphans[record.doc_path].append(record)
        if not orphans:
            return items
        gone = [r for path, rs in orphans.items() if not (self.root / path).exists() for r in rs]
        out = []
        for item in items:
            if item.key is not None or item.item_id in records:
                out.append(item)
                continue
            candidates = [(SIMILAR, r) for r in orphans.get(item.loaded.rel, [])]
            candidates += [(SIMILAR_MOVED, r) for r in gone if r.doc_path != item.loaded.rel]
            scored = [
                (similarity(item.item.action, record_text(r, tickets)), bar, r)
                for bar, r in candidates
            ]
            best = max((s for s in scored if s[0] >= s[1]), default=None, key=lambda s: s[0])
            if best is None:
                out.append(item)
                continue
            record = best[2]
            orphans[record.doc_path].remove(record)
            if record in gone:
                gone.remove(record)
            out.append(replace(item, ident=ItemId.parse(record.item_id)))
        return out

    @staticmethod
    def _report_removed(
        items: list[DocItem],
        records: dict[str, ItemRecord],
        result: RunResult,
        pending_records: dict[str, ItemRecord],
    ) -> None:
        """Items synced before but gone from every doc: reported, never deleted. A
        failure of such an item is over (nothing is due for a row nobody has)."""
        present = {item.item_id for item in items}
        for record in records.values():
            if record.item_id in present:
                continue
            if record.ticket_key:
                result.notes.append(
                    RunNote(
                        NoteKind.REMOVED_FROM_DOC,
                        f"{record.ticket_key} is no longer in any postmortem; "
                        "the ticket was left as it is",
                        path=record.doc_path,
                    )
                )
            if record.failing:
                pending_records[record.item_id] = replace(
                    record, error=None, attempts=0, retry_at=None
                )

    def _ticket_key(self, item: DocItem) -> str | None:
        if item.key:
            return item.key
        record = self._records.get(item.item_id)
        return record.ticket_key if record else None

    # -- planning --------------------------------------------------------------------
    def plan(self, tracker: str, fetched: Fetched, result: RunResult) -> list[Planned]:
        """One plan per item this run acts on. Items waiting out a backoff and rows
        whose ticket does not exist are reported (every run, until resolved) instead."""
        kind = str(self.settings.trackers[tracker].get("kind", tracker))
        plans = []
        for item in fetched.items:
            record = fetched.records.get(item.item_id)
            if item.item_id in fetched.waiting and record is not None:
                self._report_waiting(item, record, result)
                continue
            key = item.key or (record.ticket_key if record else None)
            if key and key in fetched.tickets.missing and released(item, record, key):
                # the human cleared the dead key from the doc: a new ticket (the old one
                # is confirmed gone, so this cannot duplicate it)
                key, record = None, None
            ticket = fetched.tickets.get(key) if key else fetched.by_marker.get(item.item_id)
            fresh = ticket is not None
            if key and key in fetched.tickets.missing:
                self._report_dead(item, record, key, fetched, result)
                continue
            if ticket is None and key and record and record.ticket:
                marker = item.item_id if item.ident.managed else None
                ticket = ticket_from_snapshot(key, record.ticket, marker)
            if ticket is None and key:
                # a dead reference: never "no ticket yet, create one"
                self._report_dead(item, record, key, fetched, result)
                continue
            owner = item.item.owner
            assignee = self.settings.owner_identity(owner, tracker, kind) if owner else None
            doc = DocSide.of(item.item)
            stored = stored_base(record.doc, record.ticket) if record else None
            learned = ticket if item.item_id in fetched.learned else None
            base = starting_base(stored, doc, learned)
            inp = PlanInput(
                item_id=item.item_id,
                tracker=tracker,
                doc_path=item.loaded.rel,
                doc=doc,
                doc_ticket=item.key,
                assignee=assignee,
                draft=self._draft(item, assignee) if ticket is None else None,
                base_doc=base.doc if base else None,
                base_ticket=base.ticket if base else None,
                ticket=ticket,
                managed=item.ident.managed,
            )
            plan = plan_item(inp, self.settings.sync.conflict_winner)
            plans.append(Planned(item, plan, record, ticket if fresh else None, stored))
        return plans

    def _report_waiting(self, item: DocItem, record: ItemRecord, result: RunResult) -> None:
        after = record.retry_at or self.now()
        result.errors += 1
        result.notes.append(
            RunNote(
                NoteKind.RETRY_LATER,
                f"{record.error} ({record.attempts} failed attempt(s); "
                f"next try after {after.isoformat(timespec='seconds')})",
                path=item.loaded.rel,
                line=item.item.line,
            )
        )

    def _report_dead(
        self,
        item: DocItem,
        record: ItemRecord | None,
        key: str,
        fetched: Fetched,
        result: RunResult,
    ) -> None:
        """A row naming (or synced with) a ticket the tracker says does not exist."""
        if key in fetched.tickets.missing:
            # Jira answers 404 alike for a deleted issue and one behind a security level the
            # token cannot see, so the message must not claim the ticket is gone.
            message = (
                f"ticket {key} does not exist in {item.tracker}, or the token cannot see it "
                "(deleted, never was, or hidden by permissions)"
            )
            result.errors += 1
            result.notes.append(
                RunNote(NoteKind.DEAD_REF, message, path=item.loaded.rel, line=item.item.line)
            )
            log.warning("dead reference", path=item.loaded.rel, line=item.item.line, key=key)
        else:
            message = f"ticket {key} could not be read from {item.tracker}"
            self._fail(item, message, result)
        failure = Failure(OutcomeKind.REFUSED, message)  # re-read every run: costs a read
        self._failed[item.item_id] = self._failed_record(item, record, key, failure)

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
        self,
        *,
        dry_run: bool = False,
        only: Mapping[str, set[str]] | None = None,
        full: bool = False,
    ) -> RunResult:
        """One reconcile. `only` ({tracker: {keys}}) limits it to the items whose tickets
        a webhook named: those tickets are fetched by key and the cursor is not moved.
        `full` reads every known ticket by key (as the periodic full reconcile does)."""
        started = time.monotonic()
        self.dry_run = self.writeback.dry_run = dry_run
        self._failed = {}
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
        if only is None:
            # a tracker whose rows are all gone still has intents to resolve (a kill
            # right after a create) and removed items to report
            for tracker in self._trackers_with_state():
                by_tracker.setdefault(tracker, [])
        doc_edits: dict[str, dict[str, Edit]] = defaultdict(dict)
        applied: list[Applied] = []
        pending_records: dict[str, ItemRecord] = {}
        cursors: dict[str, datetime] = {}
        reconciled: list[str] = []
        for listed, (tracker, tracker_items) in enumerate(by_tracker.items()):
            self.observer.phase("list", listed, len(by_tracker), tracker)
            if only is not None:
                keys = only.get(tracker, set())
                tracker_items = [i for i in tracker_items if self._ticket_key(i) in keys]
                if not tracker_items:
                    continue
            full_now = only is None and (full or self._full_reconcile_due(tracker))
            fetched = self.fetch(
                tracker,
                tracker_items,
                result,
                None if only is None else only.get(tracker, set()),
                full=full_now,
            )
            if fetched is None:
                continue
            plans = self.plan(tracker, fetched, result)
            for planned in plans:
                if planned.plan.actions:
                    result.plans.append(plan_json(planned.item, planned.plan))
            if only is None:
                self._report_removed(fetched.items, fetched.records, result, pending_records)
            if dry_run:
                continue
            applied += self._apply_tracker(tracker, plans, fetched, doc_edits, result)
            if only is None:
                cursors[tracker] = fetched.listed_at
                if full_now or self.state.get_cursor(tracker) is None:
                    reconciled.append(tracker)  # a listing from no cursor is a full one
        self.observer.phase("list", len(by_tracker), len(by_tracker))
        if not dry_run:
            pending_records.update(self._failed)
            landed = self._land(docs, doc_edits, applied, result, complete=only is None)
            pending_records.update(landed)
            self.state.put_items(pending_records.values())
            for tracker, at in cursors.items():
                self.state.set_cursor(tracker, at)
            for tracker in reconciled:
                self.state.meta_set(FULL_RECONCILE + tracker, self.now().isoformat())
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

    def _trackers_with_state(self) -> list[str]:
        known = {r.tracker for r in self._records.values()}
        known |= {i.tracker for i in self.state.pending_intents()}
        return sorted(t for t in known if t in self.connectors)

    def _full_reconcile_due(self, tracker: str) -> bool:
        last = self.state.meta_get(FULL_RECONCILE + tracker)
        if last is None:
            return self.state.get_cursor(tracker) is not None  # state from before the cursor
        every = self.settings.sync.full_reconcile_every
        return self.now() >= datetime.fromisoformat(last) + every

    def _apply_tracker(
        self,
        tracker: str,
        plans: list[Planned],
        fetched: Fetched,
        doc_edits: dict[str, dict[str, Edit]],
        result: RunResult,
    ) -> list[Applied]:
        """Send the tracker writes; every item's outcome as observed, for `_land`."""
        connector = self.connectors[tracker]
        creates = [(p.item, a) for p in plans for a in p.plan.actions if isinstance(a, Create)]
        limit = self.settings.sync.max_creates_per_run
        if limit is not None and len(creates) > limit:
            result.notes.append(
                RunNote(
                    NoteKind.CREATE_LIMIT,
                    f"{len(creates) - limit} creates deferred to later runs",
                    tracker=tracker,
                )
            )
            creates = creates[:limit]
        created, create_failed = self._create(tracker, creates, result)
        out: list[Applied] = []
        for planned in plans:
            item, plan, record = planned.item, planned.plan, planned.record
            if self.should_stop():
                # SIGTERM: stop between items; what is left keeps its old snapshot (and
                # created keys are already in the state), so the next run carries on
                result.notes.append(
                    RunNote(
                        NoteKind.STOPPED, "stopped before every item was applied", tracker=tracker
                    )
                )
                break
            ticket = created.get(item.item_id)
            failure = create_failed.get(item.item_id)
            failing = record is not None and record.failing
            fresh = planned.fresh is not None
            if ticket is None and failure is None and settled(plan, planned.stored, fresh, failing):
                continue  # nothing new on either side: keep the stored record as it is
            # the ticket as this run knows it: just created, read, or as last synced
            current = ticket or planned.fresh or planned.seen
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
                        failure = failure_of(exc, f"{action_text(action)} failed: {exc}")
                        self._fail(item, failure.message, result)
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
                        RunNote(
                            action.kind, action.message, path=item.loaded.rel, line=item.item.line
                        )
                    )
            if ticket is not None and item.key is None:
                self._queue_doc_edit(
                    item, WriteTicket(item.item_id, item.loaded.rel, ticket.key), doc_edits
                )
            out.append(Applied(item, plan, record, current, failure, created=ticket is not None))
        return out

    def _land(
        self,
        docs: list[LoadedDoc],
        doc_edits: dict[str, dict[str, Edit]],
        applied: list[Applied],
        result: RunResult,
        *,
        complete: bool,
    ) -> dict[str, ItemRecord]:
        """Write the doc edits, then the record of every item from what was confirmed:
        `next_base` for the snapshots, the error and attempt count where anything failed."""
        edited = {item_id for edits in doc_edits.values() for item_id in edits}
        # the doc side WriteBack starts from; after `land`, an id still here has landed
        # and its record's doc reads as the file now says
        landing = {
            a.item.item_id: converged_record(a, next_base(a.plan, a.outcome(None)), self.now())
            for a in applied
            if a.item.item_id in edited
        }
        self.writeback.land(docs, doc_edits, landing, result, complete=complete)
        now, out = self.now(), {}
        for a in applied:
            item_id = a.item.item_id
            landed = landing.get(item_id)
            if a.failure is None and item_id in edited and landed is None:
                a = replace(a, failure=Failure(OutcomeKind.DOC_DROPPED, DOC_DROPPED_MESSAGE))
                self._note_failed(a.item, DOC_DROPPED_MESSAGE)
            written = landed.doc if landed is not None and item_id in edited else None
            outcome = a.outcome(written)
            base = next_base(a.plan, outcome)
            if outcome.kind in FAILED:
                failure = a.failure or Failure(outcome.kind, outcome.kind.value)
                key = a.current.key if a.current else None  # e.g. created, key not written
                out[item_id] = self._failed_record(a.item, a.record, key, failure, base=base)
            elif a.current is not None:
                out[item_id] = converged_record(a, base, now)
        return out

    def _create(
        self, tracker: str, creates: list[tuple[DocItem, Create]], result: RunResult
    ) -> tuple[dict[str, Ticket], dict[str, Failure]]:
        """Create in chunks: intent recorded before each chunk, keys stored right after.
        Returns the tickets created and the items whose create failed (and how)."""
        connector = self.connectors[tracker]
        chunk = max(
            1,
            connector.capabilities.max_bulk if connector.capabilities.bulk_create else CREATE_CHUNK,
        )
        created: dict[str, Ticket] = {}
        failed: dict[str, Failure] = {}

        def fail(item: DocItem, kind: OutcomeKind, message: str, *, backoff: bool = False) -> None:
            failed[item.item_id] = Failure(kind, message, backoff)
            self._fail(item, message, result)

        for start in range(0, len(creates), chunk):
            self.observer.phase("create", start, len(creates), tracker)
            if self.should_stop():
                result.notes.append(
                    RunNote(
                        NoteKind.STOPPED,
                        f"{len(creates) - start} creates left for the next run",
                        tracker=tracker,
                    )
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
                    message = f"create outcome unknown ({exc}); will look it up"
                    fail(item, OutcomeKind.AMBIGUOUS, message)
                continue
            resolved: list[tuple[str, str | None]] = []
            for (item, _action), outcome in zip(batch, outcomes, strict=True):
                if outcome.ticket is not None:
                    resolved.append((outcome.marker, outcome.ticket.key))
                    created[item.item_id] = outcome.ticket
                    result.created += 1
                elif outcome.ambiguous:
                    # keep the intent: the next run resolves it by marker before creating
                    message = f"create outcome unknown ({outcome.error}); will look it up"
                    fail(item, OutcomeKind.AMBIGUOUS, message)
                elif outcome.retry_after is not None:  # not sent: rate limited, next run
                    resolved.append((outcome.marker, None))
                    self._fail(item, f"create deferred: {outcome.error}", result)
                else:
                    resolved.append((outcome.marker, None))
                    message = f"create failed: {outcome.error}"
                    fail(item, OutcomeKind.REFUSED, message, backoff=True)
            self.state.resolve_intents(resolved)
            waits = [o.retry_after for o in outcomes if o.retry_after is not None]
            if waits:
                # The tracker refused creates: sending the next chunk now would only be
                # refused again (and could get the token throttled for everyone).
                left = len(creates) - start - len(batch)
                result.notes.append(
                    RunNote(
                        NoteKind.RATE_LIMITED,
                        f"{tracker} rate limit: waiting {max(waits):.0f} s; "
                        f"{left} more create(s) left for a later run",
                        tracker=tracker,
                    )
                )
                break
        self.observer.phase("create", len(creates), len(creates), tracker)
        return created, failed

    def _fail(self, item: DocItem, message: str, result: RunResult) -> None:
        """Report one item's failure; its record (error, attempts) is written at the end
        of the run from the outcome, with the base it had."""
        result.errors += 1
        record = self._records.get(item.item_id)
        attempt = (record.attempts if record else 0) + 1
        result.notes.append(
            RunNote(
                NoteKind.ERROR,
                f"{message} (attempt {attempt})",
                path=item.loaded.rel,
                line=item.item.line,
            )
        )
        log.warning("item failed", path=item.loaded.rel, line=item.item.line, error=message)

    def _note_failed(self, item: DocItem, message: str) -> None:
        # the run already counts the write-back failure (WriteBack's own note): this is
        # the item it left due, for `syncd status` and the logs
        log.warning("item left due", path=item.loaded.rel, line=item.item.line, error=message)

    def _failed_record(
        self,
        item: DocItem,
        record: ItemRecord | None,
        key: str | None,
        failure: Failure,
        *,
        base: Base | None = None,
    ) -> ItemRecord:
        """A due item's record: the base it had (never advanced), the error, one more
        attempt, and - for a refusal that will not heal by itself - when to retry."""
        if base is None and record is not None:
            base = stored_base(record.doc, record.ticket)
        attempts = (record.attempts if record else 0) + 1
        sync = self.settings.sync
        delay = retry_delay(attempts, sync.retry_backoff, sync.retry_backoff_max)
        return ItemRecord(
            item_id=item.item_id,
            tracker=item.tracker,
            doc_path=item.loaded.rel,
            # never lose a key: a created ticket whose doc write failed is known only by it
            ticket_key=key or (record.ticket_key if record else None),
            doc=base.doc if base else {},
            ticket=base.ticket if base else {},
            synced_at=record.synced_at if record else None,
            error=failure.message,
            attempts=attempts,
            retry_at=self.now() + delay if failure.backoff and delay else None,
        )

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


FULL_RECONCILE = "last_full_reconcile:"  # state meta key prefix, per tracker: ISO time
DOC_DROPPED_MESSAGE = "the doc edit did not land (see the write-back note); retried next run"


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
