"""The engine itself, in-process: outcomes become records, due items are re-read by key,
backoff across runs, dead references, intents before identity, the full reconcile.

Real parts throughout: the Jira connector (the `jira` client) against the loopback
emulator, a docs folder on disk, a SQLite state file. One clock drives the engine, the
connector's relative JQL dates and the emulator, so "time passes beyond the cursor
overlap" is a step of that clock, never a sleep.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Connector
from connectors.jira.connector import JiraConfig, JiraConnector
from connectors.testing.emulation import Fault
from connectors.testing.jira import JiraEmulator
from syncd.config import load_config
from syncd.model import Status
from syncd.sync.engine import FULL_RECONCILE, Engine
from syncd.sync.run import RunResult
from syncd.sync.state import ItemRecord, StateStore
from tests.helpers_sync import write_config

REL = "2026-06-04-queue-outage.md"
DOC = """\
# Postmortem: Queue outage (2026-06-04)

## Action items
| Action | Owner | Due | Status |
|--------|-------|-----|--------|
| Alert on queue depth before it pages | @sri | 2026-06-12 | Open |
"""
ACTION = "Alert on queue depth before it pages"


@dataclass
class Clock:
    """Wall time plus an offset every part of the test shares."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def time(self) -> float:
        return time.time() + self.offset.total_seconds()


@dataclass
class Rig:
    tmp: Path
    jira: JiraEmulator
    clock: Clock = field(default_factory=Clock)
    wrap: Any = None  # called with each run's connector, to act as a human mid-run

    @property
    def docs(self) -> Path:
        return self.tmp / "docs"

    @property
    def doc(self) -> Path:
        return self.docs / REL

    def configure(self) -> None:
        write_config(
            self.tmp / "syncd.toml",
            docs_root=self.docs,
            state_path=self.tmp / "state.db",
            trackers={"jira": self.jira.connector_section()},
            routing_rules=(),
        )

    def advance(self, delta: timedelta) -> None:
        self.clock.offset += delta
        self.jira.advance_clock(delta)

    def run(self, **kwargs: Any) -> RunResult:
        settings = load_config(self.tmp / "syncd.toml")
        section = dict(settings.trackers["jira"])
        connector = JiraConnector(
            "jira",
            JiraConfig.model_validate(section),
            wall_clock=self.clock.time,
            sleep=lambda _seconds: None,  # the client's own retry waits: not under test
        )
        if self.wrap is not None:
            self.wrap(connector)
        connectors: dict[str, Connector] = {"jira": connector}
        try:
            with StateStore.open(settings.state.path) as state:
                return Engine(settings, state, connectors, now=self.clock.now).run(**kwargs)
        finally:
            connector.close()

    def record(self) -> ItemRecord:
        with StateStore.open(self.tmp / "state.db") as state:
            (record,) = [r for r in state.items() if r.ticket_key]
            return record

    def key(self) -> str:
        (key,) = self.jira.keys()
        return key

    def edit(self, old: str, new: str) -> None:
        text = self.doc.read_text()
        assert old in text
        self.doc.write_text(text.replace(old, new))

    def ticket_status(self) -> Status:
        """The ticket's status as a fresh connector reads it."""
        section = self.jira.connector_section()
        reader = JiraConnector("jira", JiraConfig.model_validate(section))
        try:
            return reader.get_many([self.key()])[self.key()].status
        finally:
            reader.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with JiraEmulator() as jira:
        assert isinstance(jira, JiraEmulator)
        r = Rig(tmp_path, jira)
        r.docs.mkdir()
        r.doc.write_text(DOC)
        r.configure()
        yield r


def with_ticket_column(doc: str, key: str) -> str:
    header = "| Action | Owner | Due | Status |"
    rule = "|--------|-------|-----|--------|"
    return (
        doc.replace(header, header + " Ticket |")
        .replace(rule, rule + "--------|")
        .replace("| Open |", f"| Open | {key} |")
    )


def kinds(result: RunResult) -> list[str]:
    return [str(n.get("kind")) for n in result.notes]


def messages(result: RunResult) -> str:
    return "\n".join(str(n.get("message")) for n in result.notes)


def transitions_posted(rig: Rig) -> int:
    """Transition requests the emulator received, answered or faulted."""
    return sum(1 for m, p, _s in rig.jira.request_log if m == "POST" and "/transitions" in p)


def synced(rig: Rig) -> str:
    first = rig.run()
    assert first.errors == 0 and first.created == 1, first.notes
    assert rig.key() in rig.doc.read_text()
    return rig.key()


# -- outcomes → records ----------------------------------------------------------------


def test_refused_push_keeps_the_old_base_counts_attempts_and_backs_off(rig: Rig) -> None:
    synced(rig)
    rig.edit("| Open |", "| Done |")
    rig.jira.faults.add(
        Fault(400, match=lambda m, p: m == "POST" and "/transitions" in p, times=-1)
    )
    rig.advance(timedelta(minutes=10))  # the ticket is outside every listing's overlap now

    refused = rig.run()
    record = rig.record()
    assert refused.errors >= 1 and "error" in kinds(refused)
    assert record.error and "failed" in record.error and record.attempts == 1
    assert record.doc["status"] == "open"  # the base did not advance to what was intended
    assert record.retry_at is None  # the first retry is the next run

    again = rig.run()  # ... and reads the ticket by key: the listing no longer covers it
    record = rig.record()
    assert again.errors >= 1 and record.attempts == 2
    assert record.retry_at is not None and record.retry_at > rig.clock.now()

    before = transitions_posted(rig)
    waiting = rig.run()  # inside the backoff: reported, exit 2, nothing sent
    assert waiting.errors >= 1 and "retry-later" in kinds(waiting)
    assert "2 failed attempt(s)" in messages(waiting)
    assert transitions_posted(rig) == before and rig.record().attempts == 2

    rig.jira.faults.clear()
    rig.advance(timedelta(minutes=2))  # past the first backoff step (1 minute)
    healed = rig.run()
    assert healed.errors == 0, healed.notes
    assert rig.ticket_status() is Status.DONE
    record = rig.record()
    assert record.error is None and record.attempts == 0 and record.doc["status"] == "done"

    quiet = rig.run()
    assert quiet.errors == 0 and quiet.requests["jira"]["writes"] == 0
    assert quiet.requests["jira"]["reads"] <= 2


def test_doc_write_that_did_not_land_stays_due_and_lands_next_run(rig: Rig) -> None:
    key = synced(rig)
    rig.jira.human_set_status(key, Status.DONE)

    def reword_during_listing(connector: JiraConnector) -> None:
        listing = connector.list_changed_since

        def racy(since: datetime | None) -> Iterator[Any]:
            out = list(listing(since))
            rig.edit(ACTION, "Alert on queue depth well before it ever pages anyone")
            return iter(out)

        connector.list_changed_since = racy  # type: ignore[method-assign]

    rig.wrap = reword_during_listing
    dropped = rig.run()
    rig.wrap = None
    record = rig.record()
    assert "| Open |" in rig.doc.read_text()  # the row changed under us: edit not applied
    assert record.error and "did not land" in record.error and record.attempts == 1
    assert record.ticket["status"] == "open"  # base kept: the close is still a change
    assert dropped.errors >= 1 or record.error  # reported in the run (and in status)

    rig.advance(timedelta(minutes=10))  # beyond the listing overlap: only "due" re-reads it
    healed = rig.run()
    assert healed.errors == 0, healed.notes
    assert "| Done |" in rig.doc.read_text()
    assert rig.record().error is None


def test_failed_create_is_recorded_and_retried(rig: Rig) -> None:
    rig.jira.faults.add(Fault(400, match=lambda m, p: m == "POST" and p.endswith("/issue/bulk")))
    failed = rig.run()
    assert failed.errors >= 1 and rig.jira.issue_count() == 0
    with StateStore.open(rig.tmp / "state.db") as state:
        (record,) = state.items()
    assert record.error and "create failed" in record.error and record.attempts == 1
    retried = rig.run()
    assert retried.errors == 0 and retried.created == 1 and rig.jira.issue_count() == 1


# -- dead references --------------------------------------------------------------------


def test_row_citing_a_missing_key_is_reported_every_run_and_gets_no_ticket(rig: Rig) -> None:
    rig.doc.write_text(with_ticket_column(DOC, "OPS-999"))
    for _ in range(2):
        result = rig.run()
        dead = [n for n in result.notes if "OPS-999" in str(n.get("message"))]
        assert result.errors >= 1 and dead, result.notes
        assert dead[0]["path"] == REL and dead[0]["line"] == 6
        assert "does not exist" in str(dead[0]["message"])
        assert rig.jira.issue_count() == 0  # never "no ticket yet, create one"


def test_dead_key_removed_from_the_row_is_over_and_the_row_gets_its_own_ticket(
    rig: Rig,
) -> None:
    rig.doc.write_text(with_ticket_column(DOC, "OPS-999"))
    assert rig.run().errors >= 1
    rig.doc.write_text(DOC)  # the human drops the wrong key
    fixed = rig.run()
    assert fixed.errors == 0 and fixed.created == 1, fixed.notes
    assert rig.key() in rig.doc.read_text()
    with StateStore.open(rig.tmp / "state.db") as state:
        assert not [r for r in state.items() if r.failing]


def test_deleted_ticket_is_reported_every_run_and_not_recreated(rig: Rig) -> None:
    key = synced(rig)
    rig.jira.human_delete(key)
    rig.advance(timedelta(minutes=10))
    first = rig.run(full=True)  # the full reconcile reads every known key: 404 → missing
    assert first.errors >= 1 and f"{key} does not exist" in messages(first)
    # Jira's 404 is the same for an issue the token may not see: never claim it is gone.
    assert "or the token cannot see it" in messages(first)
    assert rig.jira.issue_count() == 0
    again = rig.run()  # not a full run: the item is due, so it is read by key again
    assert again.errors >= 1 and f"{key} does not exist" in messages(again)
    assert "dead-ref" in kinds(again)
    assert rig.jira.issue_count() == 0


def test_deleted_tickets_key_emptied_in_the_doc_gets_the_row_a_new_ticket(rig: Rig) -> None:
    key = synced(rig)
    rig.jira.human_delete(key)
    assert rig.run(full=True).errors >= 1
    assert key in rig.doc.read_text(), "the tool never removes a key it cannot read"
    rig.edit(f" {key} ", " ")  # the human lets the dead ticket go
    fixed = rig.run()
    assert fixed.errors == 0 and fixed.created == 1, fixed.notes
    (fresh,) = rig.jira.keys()
    assert fresh != key and fresh in rig.doc.read_text()
    assert rig.record().ticket_key == fresh and not rig.record().failing


# -- intents before identity -----------------------------------------------------------


def test_ambiguous_create_then_reworded_row_adopts_the_created_ticket(rig: Rig) -> None:
    rig.jira.faults.add(
        Fault(502, match=lambda m, p: m == "POST" and p.endswith("/issue/bulk"), after_apply=True)
    )
    unknown = rig.run()
    assert unknown.errors >= 1 and rig.jira.issue_count() == 1
    rig.edit(ACTION, "Alert on queue depth before it pages on-call")  # a typo fixed
    adopted = rig.run()
    assert rig.jira.issue_count() == 1, "a second ticket for the same row"
    assert rig.key() in rig.doc.read_text()
    assert adopted.created == 0
    with StateStore.open(rig.tmp / "state.db") as state:
        assert state.pending_intents() == []


def test_ambiguous_create_then_renamed_doc_adopts_the_created_ticket(rig: Rig) -> None:
    rig.jira.faults.add(
        Fault(502, match=lambda m, p: m == "POST" and p.endswith("/issue/bulk"), after_apply=True)
    )
    rig.run()
    rig.doc.rename(rig.docs / "2026-06-04-queue-outage-final.md")
    rig.run()
    assert rig.jira.issue_count() == 1, "a second ticket for the renamed doc"
    assert rig.key() in (rig.docs / "2026-06-04-queue-outage-final.md").read_text()


# -- full reconcile -------------------------------------------------------------------


def test_full_reconcile_sees_a_ticket_whose_label_was_removed(rig: Rig) -> None:
    key = synced(rig)
    rig.jira.human_update(key, labels=[])
    rig.jira.human_set_status(key, Status.DONE)
    rig.advance(timedelta(minutes=10))
    rig.run()  # the listing filters on the label: it cannot see this ticket
    assert "| Open |" in rig.doc.read_text()
    rig.advance(timedelta(hours=25))  # the daily full reconcile is due
    full = rig.run()
    assert full.errors == 0, full.notes
    assert "| Done |" in rig.doc.read_text()
    with StateStore.open(rig.tmp / "state.db") as state:
        stamp = state.meta_get(FULL_RECONCILE + "jira")
    assert stamp is not None
    assert datetime.fromisoformat(stamp) >= rig.clock.now() - timedelta(minutes=1)


def test_forced_full_reconcile_reads_known_tickets_in_one_batch(rig: Rig) -> None:
    synced(rig)
    rig.advance(timedelta(minutes=10))
    full = rig.run(full=True)
    # the listing, plus one `key in (...)` search for the known key
    assert full.errors == 0 and full.requests["jira"]["reads"] <= 2 + 1
    assert full.requests["jira"]["writes"] == 0


# -- the webhook path -----------------------------------------------------------------


def test_targeted_run_updates_the_named_ticket_and_keeps_the_cursor(rig: Rig) -> None:
    key = synced(rig)
    with StateStore.open(rig.tmp / "state.db") as state:
        cursor = state.get_cursor("jira")
    rig.jira.human_set_status(key, Status.DONE)
    result = rig.run(only={"jira": {key}})
    assert result.errors == 0 and "| Done |" in rig.doc.read_text()
    with StateStore.open(rig.tmp / "state.db") as state:
        assert state.get_cursor("jira") == cursor


def test_transient_failures_are_retried_every_run_without_backoff(rig: Rig) -> None:
    synced(rig)
    rig.edit("| Open |", "| Done |")
    rig.jira.faults.add(
        Fault(503, match=lambda m, p: m == "POST" and "/transitions" in p, times=-1)
    )
    for attempt in (1, 2, 3):
        before = transitions_posted(rig)
        failed = rig.run()
        assert failed.errors >= 1 and transitions_posted(rig) > before  # tried again
        assert rig.record().attempts == attempt and rig.record().retry_at is None
    rig.jira.faults.clear()
    assert rig.run().errors == 0 and rig.ticket_status() is Status.DONE
