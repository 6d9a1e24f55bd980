"""The conformance suite every connector passes against its emulator, through the real
client library. Shipped with the package so a connector in another repository runs the
very same tests (docs/connectors.md, "Running the conformance suite").

Two ways to use it:

* By kind, through the entry points: a test class names the connector's `kind`; the
  suite starts the emulator registered under `syncd.emulators` and builds connectors
  of the class registered under `syncd.connectors` from `emulator.connector_section()`
  (passing `sleep=` a fast sleep when the constructor takes one)::

      from connectors.testing.conformance import ConnectorConformance

      class TestMyTracker(ConnectorConformance):
          kind = "mytracker"

* With a hand-made harness: override the `harness` fixture in the subclass (to pass
  test seams such as a fake `sleep`) and return a `Harness`.

The emulator must satisfy `TrackerEmulator`: the few methods the suite drives.
"""

from __future__ import annotations

import inspect
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import pytest

from connectors.base import (
    AmbiguousWrite,
    Connector,
    CreateOutcome,
    FieldChanges,
    Ticket,
    TicketDraft,
    TrackerError,
)
from connectors.registry import connector_class, emulator_class
from connectors.testing.emulation import Fault, FaultPlan
from syncd.model import MARKER_PREFIX, Status

# A token the suite hands the emulator; it must never appear in a repr or an error.
SECRET_TOKEN = "s3cr3t-token"  # noqa: S105 - a test token, checked for leaks


@runtime_checkable
class TrackerEmulator(Protocol):
    """What the conformance suite needs from a connector's loopback emulator.

    `connectors.testing.emulation.EmulatorServer` provides `url`, `faults`, `start`,
    `stop`, `now` and `advance_clock`; an emulator adds the tracker-specific rest.
    """

    url: str  # the base URL once started (http://127.0.0.1:<port>)
    faults: FaultPlan  # injected failures; `Fault.match(method, path)` selects requests

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1 (a free port by default); returns the URL."""
        ...

    def stop(self) -> None: ...

    def now(self) -> datetime:
        """The tracker's clock (aware UTC): what it stamps `updated` and `Date` with."""
        ...

    def advance_clock(self, delta: timedelta) -> None:
        """Move the tracker's clock by `delta` (negative: back), as skew or time passing."""
        ...

    def connector_section(self, **overrides: Any) -> dict[str, Any]:
        """A `[trackers.<name>]` config section that points a connector at this emulator.
        A `token=` override must become a token the emulator accepts."""
        ...

    def human_create(self, title: str) -> str:
        """A ticket a person made by hand, without the shared label; returns its key."""
        ...

    def human_set_status(self, key: str, status: Status) -> None:
        """A person moves the ticket to `status` in the UI (bumping its update time)."""
        ...

    def human_delete(self, key: str) -> None:
        """A person deletes the ticket: reads by key answer "gone" (404/410) from then on."""
        ...

    def issue_count(self) -> int:
        """Tickets that exist (managed or not): proves a create happened exactly once."""
        ...


@dataclass
class Harness:
    connector: Connector
    emulator: TrackerEmulator
    make_connector: Callable[[], Connector]  # a fresh connector (new process, same tracker)


def fast_sleep(seconds: float) -> None:
    """Retries and pacing still happen, without the test waiting for them."""
    time.sleep(min(seconds, 0.005))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def draft(n: int, **kw: Any) -> TicketDraft:
    base: dict[str, Any] = {
        "marker": f"{MARKER_PREFIX}{n:012x}",
        "title": f"Action item {n}",
        "description": f"From postmortems/2026-06-04-outage.md (item {n})",
        "due": date(2026, 7, 1) + timedelta(days=n),
        "priority": "P1",
    }
    base.update(kw)
    return TicketDraft(**base)


def created(outcomes: list[CreateOutcome]) -> list[Ticket]:
    tickets = [o.ticket for o in outcomes if o.ticket is not None]
    assert len(tickets) == len(outcomes), [o.error for o in outcomes]
    return tickets


def _harness_for_kind(kind: str) -> Iterator[Harness]:
    """Start the emulator registered for `kind` and build connectors by entry point."""
    emulator: TrackerEmulator = emulator_class(kind)()
    emulator.start()
    made: list[Connector] = []

    cls = connector_class(kind)
    # A connector that takes a `sleep=` seam retries without the suite waiting.
    seams = {"sleep": fast_sleep} if "sleep" in inspect.signature(cls).parameters else {}

    def make() -> Connector:
        section = emulator.connector_section(token=SECRET_TOKEN)
        connector: Connector = cls(kind, cls.Config.model_validate(section), **seams)
        made.append(connector)
        return connector

    try:
        yield Harness(connector=make(), emulator=emulator, make_connector=make)
    finally:
        for connector in made:
            connector.close()
        emulator.stop()


class ConnectorConformance:
    """Subclass in a test module; set `kind`, or override the `harness` fixture."""

    kind: ClassVar[str | None] = None

    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        if self.kind is None:
            raise pytest.UsageError(
                f"{type(self).__name__}: set `kind` or override the `harness` fixture"
            )
        yield from _harness_for_kind(self.kind)

    def test_create_returns_ticket_with_marker_and_fields(self, harness: Harness) -> None:
        (ticket,) = created(harness.connector.create_many([draft(1)]))
        assert ticket.title == "Action item 1"
        assert ticket.due == date(2026, 7, 2)
        assert ticket.priority == "P1"
        assert ticket.status is Status.OPEN
        assert ticket.marker == "pm-000000000001"
        assert ticket.url.startswith("http")
        assert harness.connector.parse_key(ticket.key) == ticket.key
        assert harness.connector.parse_key(ticket.url) == ticket.key

    def test_bulk_create_keeps_order(self, harness: Harness) -> None:
        drafts = [draft(n) for n in range(1, 8)]
        tickets = created(harness.connector.create_many(drafts))
        assert [t.marker for t in tickets] == [d.marker for d in drafts]
        assert len({t.key for t in tickets}) == 7

    def test_find_by_markers_right_after_create(self, harness: Harness) -> None:
        tickets = created(harness.connector.create_many([draft(1), draft(2)]))
        fresh = harness.make_connector()
        found = fresh.find_by_markers(["pm-000000000001", "pm-000000000002", "pm-ffffffffffff"])
        assert {m: t.key for m, t in found.items()} == {
            "pm-000000000001": tickets[0].key,
            "pm-000000000002": tickets[1].key,
        }

    def test_get_many_skips_missing(self, harness: Harness) -> None:
        (ticket,) = created(harness.connector.create_many([draft(1)]))
        got = harness.connector.get_many([ticket.key])
        assert set(got) == {ticket.key}
        assert got[ticket.key].title == "Action item 1"
        assert got.missing == frozenset()

    def test_get_many_reports_deleted_and_unknown_keys_as_missing(self, harness: Harness) -> None:
        kept, gone = created(harness.connector.create_many([draft(1), draft(2)]))
        harness.emulator.human_delete(gone.key)
        # A key of the right shape that was never created: the kept key's number + 9000.
        absent = re.sub(r"\d+$", lambda m: str(int(m.group()) + 9000), kept.key)
        got = harness.make_connector().get_many([kept.key, gone.key, absent])
        assert set(got) == {kept.key}
        assert got.missing == {gone.key, absent}

    def test_get_many_reads_in_batches(self, harness: Harness) -> None:
        tickets = created(harness.connector.create_many([draft(n) for n in range(1, 131)]))
        fresh = harness.make_connector()
        got = fresh.get_many([t.key for t in tickets])
        assert set(got) == {t.key for t in tickets}
        # At least 50 tickets a request, plus a page boundary or two.
        assert fresh.stats.reads <= math.ceil(130 / 50) + 2, fresh.stats.by_kind

    def test_update_fields(self, harness: Harness) -> None:
        (ticket,) = created(harness.connector.create_many([draft(1)]))
        changed = harness.connector.update_fields(
            ticket.key, FieldChanges(title="Renamed", due=date(2026, 9, 9), priority="P0")
        )
        assert (changed.title, changed.due, changed.priority) == ("Renamed", date(2026, 9, 9), "P0")
        again = harness.make_connector().get_many([ticket.key])[ticket.key]
        assert (again.title, again.due, again.priority) == ("Renamed", date(2026, 9, 9), "P0")

    @pytest.mark.parametrize(
        "target", [Status.IN_PROGRESS, Status.DONE, Status.WONT_DO, Status.OPEN]
    )
    def test_set_status_round_trips(self, harness: Harness, target: Status) -> None:
        (ticket,) = created(harness.connector.create_many([draft(1)]))
        if target is Status.OPEN:
            harness.connector.set_status(ticket.key, Status.DONE)
        result = harness.connector.set_status(ticket.key, target)
        expected = target
        if target is Status.WONT_DO and not harness.connector.capabilities.wont_do:
            expected = Status.DONE
        assert result.status is expected
        assert harness.make_connector().get_many([ticket.key])[ticket.key].status is expected

    def test_list_changed_since_sees_human_close(self, harness: Harness) -> None:
        tickets = created(harness.connector.create_many([draft(n) for n in range(1, 4)]))
        everything = {t.key for t in harness.connector.list_changed_since(None)}
        assert everything == {t.key for t in tickets}
        # Connectors ask for `since` minus an overlap margin (minutes), so the cursor
        # must sit well after the creates, on the tracker's clock, for them to drop out.
        harness.emulator.advance_clock(timedelta(minutes=10))
        mark = harness.emulator.now()
        harness.emulator.human_set_status(tickets[1].key, Status.DONE)
        changed = list(harness.connector.list_changed_since(mark))
        assert [t.key for t in changed] == [tickets[1].key]
        assert changed[0].status is Status.DONE

    @pytest.mark.parametrize("local_ahead", [timedelta(minutes=10), timedelta(minutes=-10)])
    def test_listing_cursor_follows_the_trackers_clock(
        self, harness: Harness, local_ahead: timedelta
    ) -> None:
        """The local clock 10 minutes ahead of the tracker (a close right after a run
        would fall before a local cursor) or behind it (every listing would re-read the
        last 10 minutes): the cursor the connector hands out works either way."""
        harness.emulator.advance_clock(-local_ahead)  # skew: tracker = local - local_ahead
        tickets = created(harness.connector.create_many([draft(n) for n in range(1, 4)]))
        harness.emulator.advance_clock(timedelta(minutes=5))  # the creates are old news
        listed = {t.key for t in harness.connector.list_changed_since(None)}
        assert listed == {t.key for t in tickets}
        cursor = harness.connector.listing_cursor()
        assert cursor is not None
        harness.emulator.human_set_status(tickets[1].key, Status.DONE)  # right after the run
        changed = [t.key for t in harness.connector.list_changed_since(cursor)]
        assert changed == [tickets[1].key]
        # and the cursor moves on, still on the tracker's clock
        later = harness.connector.listing_cursor()
        assert later is not None and later >= cursor

    def test_completion_time_is_the_close_not_later_edits(self, harness: Harness) -> None:
        # The digest measures on-time completion from this; `updated` moves on any edit.
        (ticket,) = created(harness.connector.create_many([draft(1)]))
        assert ticket.completed_at is None
        harness.emulator.advance_clock(timedelta(days=3))
        closed_at = harness.emulator.now()
        harness.emulator.human_set_status(ticket.key, Status.DONE)
        harness.emulator.advance_clock(timedelta(days=2))
        harness.connector.update_fields(ticket.key, FieldChanges(title="Renamed later"))
        seen = harness.make_connector().get_many([ticket.key])[ticket.key]
        assert seen.completed_at is not None
        assert abs((seen.completed_at - closed_at).total_seconds()) < 60
        assert (seen.updated - seen.completed_at).days >= 1
        harness.emulator.human_set_status(ticket.key, Status.OPEN)  # reopened
        assert harness.make_connector().get_many([ticket.key])[ticket.key].completed_at is None

    def test_listing_pages_through_many(self, harness: Harness) -> None:
        drafts = [draft(n) for n in range(1, 131)]
        created(harness.connector.create_many(drafts))
        listed = list(harness.connector.list_changed_since(None))
        assert len(listed) == 130
        assert len({t.key for t in listed}) == 130

    def test_unmanaged_tickets_are_not_listed(self, harness: Harness) -> None:
        harness.emulator.human_create("Unrelated bug")
        created(harness.connector.create_many([draft(1)]))
        assert len(list(harness.connector.list_changed_since(None))) == 1

    def test_502_after_create_is_ambiguous_not_retried(self, harness: Harness) -> None:
        harness.emulator.faults.add(
            Fault(502, match=lambda m, _p: m == "POST", after_apply=True, body={"message": "bad"})
        )
        outcomes = harness.connector.create_many([draft(1)])
        assert outcomes[0].ticket is None
        assert outcomes[0].ambiguous
        assert harness.emulator.issue_count() == 1  # the server did create it, once
        found = harness.make_connector().find_by_markers(["pm-000000000001"])
        assert "pm-000000000001" in found
        assert harness.emulator.issue_count() == 1

    def test_rate_limit_honours_retry_after_on_reads(self, harness: Harness) -> None:
        created(harness.connector.create_many([draft(1)]))
        harness.emulator.faults.add(
            Fault(429, match=lambda m, _p: m == "GET", headers={"Retry-After": "1"})
        )
        listed = list(harness.connector.list_changed_since(None))
        assert len(listed) == 1
        assert harness.connector.stats.rate_limit_waits >= 1

    def test_server_error_on_update_raises_tracker_error(self, harness: Harness) -> None:
        (ticket,) = created(harness.connector.create_many([draft(1)]))
        harness.emulator.faults.add(Fault(500, match=lambda m, _p: m in ("PUT", "PATCH"), times=-1))
        with pytest.raises(TrackerError):
            harness.connector.update_fields(ticket.key, FieldChanges(title="x"))
        harness.emulator.faults.clear()

    def test_request_stats_count_reads_and_writes(self, harness: Harness) -> None:
        created(harness.connector.create_many([draft(1)]))
        assert harness.connector.stats.writes >= 1
        before = harness.connector.stats.reads
        list(harness.connector.list_changed_since(None))
        assert harness.connector.stats.reads > before

    def test_no_token_in_repr_or_errors(self, harness: Harness) -> None:
        text = repr(harness.connector) + repr(harness.connector.__dict__)
        assert SECRET_TOKEN not in text
        harness.emulator.faults.add(Fault(500, match=lambda m, _p: m == "GET", times=-1))
        try:
            harness.connector.get_many(["NOPE-1"])
        except (TrackerError, AmbiguousWrite) as exc:
            assert SECRET_TOKEN not in str(exc)
        finally:
            harness.emulator.faults.clear()
