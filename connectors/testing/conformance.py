"""The conformance suite every connector passes against its emulator, through the
real client library. A connector test module subclasses `ConnectorConformance` and
provides a `harness` fixture (see `Harness`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from connectors.base import (
    AmbiguousWrite,
    Connector,
    CreateOutcome,
    FieldChanges,
    TicketDraft,
    TrackerError,
)
from connectors.testing.emulation import Fault
from syncd.model import Status


@dataclass
class Harness:
    connector: Connector
    emulator: Any  # an EmulatorServer subclass exposing human_set_status/issue_count
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
        "marker": f"pm-{n:012x}",
        "title": f"Action item {n}",
        "description": f"From postmortems/2026-06-04-outage.md (item {n})",
        "due": date(2026, 7, 1) + timedelta(days=n),
        "priority": "P1",
    }
    base.update(kw)
    return TicketDraft(**base)


def created(outcomes: list[CreateOutcome]) -> list[Any]:
    assert all(o.ticket for o in outcomes), [o.error for o in outcomes]
    return [o.ticket for o in outcomes]


class ConnectorConformance:
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
        assert "s3cr3t-token" not in text
        harness.emulator.faults.add(Fault(500, match=lambda m, _p: m == "GET", times=-1))
        try:
            harness.connector.get_many(["NOPE-1"])
        except (TrackerError, AmbiguousWrite) as exc:
            assert "s3cr3t-token" not in str(exc)
        finally:
            harness.emulator.faults.clear()
