"""Linear connector: the shared conformance suite plus Linear's own wire rules (batched
aliased creates, cursor paging, workflow-state types, priorities, RATELIMITED, signed
webhooks), all over real HTTP against the loopback GraphQL emulator."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from connectors.base import (
    Connector,
    FieldChanges,
    RateLimited,
    TrackerError,
    WebhookRejected,
)
from connectors.linear import LinearConfig, LinearConnector
from connectors.linear.connector import linear_retry_after
from connectors.registry import build, connector_class
from connectors.testing.conformance import (
    ConnectorConformance,
    FakeClock,
    Harness,
    created,
    draft,
    fast_sleep,
)
from connectors.testing.emulation import Fault
from connectors.testing.linear import SHARED_LABEL, LinearEmulator
from connectors.testing.linear_gql import GraphQLSyntaxError, parse, resolve_value
from syncd.model import Status

TOKEN = "s3cr3t-token"
SECRET = "whsec-linear-test"


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[LinearEmulator]:
    # One server for the module, reset per test: stopping a server costs 0.05-0.5 s.
    em = LinearEmulator()
    em.start()
    yield em
    em.stop()


@pytest.fixture
def emulator(shared_emulator: LinearEmulator) -> LinearEmulator:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def make(emulator: LinearEmulator) -> Iterator[Any]:
    built: list[LinearConnector] = []

    def make_connector(em: LinearEmulator | None = None, **overrides: Any) -> LinearConnector:
        overrides.setdefault("writes_per_second", 10_000)
        overrides.setdefault("token", TOKEN)
        kwargs = {k: overrides.pop(k) for k in ("sleep", "clock", "wall_clock") if k in overrides}
        kwargs.setdefault("sleep", fast_sleep)
        config = LinearConfig.model_validate((em or emulator).connector_section(**overrides))
        connector = LinearConnector("linear", config, **kwargs)
        built.append(connector)
        return connector

    yield make_connector
    for connector in built:
        connector.close()


@pytest.fixture
def _harness(emulator: LinearEmulator, make: Any) -> Harness:
    return Harness(connector=make(), emulator=emulator, make_connector=make)


class TestLinearConformance(ConnectorConformance):
    @pytest.fixture
    def harness(self, _harness: Harness) -> Harness:
        return _harness


def ops(emulator: LinearEmulator, name: str) -> int:
    return sum(1 for _kind, op_name, _roots in emulator.operations if op_name == name)


def ratelimited_body() -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": "Rate limit exceeded",
                "extensions": {"code": "RATELIMITED", "statusCode": 429},
            }
        ]
    }


# -- creates ---------------------------------------------------------------------------------
def test_creates_are_batched_in_aliased_mutations(emulator: LinearEmulator, make: Any) -> None:
    connector = make(batch_size=20)
    assert connector.capabilities.bulk_create and connector.capabilities.max_bulk == 20
    drafts = [draft(n) for n in range(1, 46)]
    tickets = created(connector.create_many(drafts))
    assert [t.marker for t in tickets] == [d.marker for d in drafts]
    assert [t.key for t in tickets] == [f"ENG-{n}" for n in range(1, 46)]
    assert ops(emulator, "CreateIssues") == 3  # ceil(45 / 20)
    assert connector.stats.by_kind["mutation CreateIssues"] == 3
    assert connector.stats.writes == 3
    sizes = [len(roots) for _k, name, roots in emulator.operations if name == "CreateIssues"]
    assert sizes == [20, 20, 5]


def test_create_writes_marker_labels_priority_due_assignee(
    emulator: LinearEmulator, make: Any
) -> None:
    (ticket,) = created(
        make().create_many([draft(1, assignee="user-bob", labels=("sre",), priority="P2")])
    )
    issue = emulator.issue(ticket.key)
    assert issue["description"].endswith("\n\n<!-- postmortem-syncd:marker=pm-000000000001 -->\n")
    assert issue["labels"] == [SHARED_LABEL, "sre"]  # "sre" created on first use
    assert (issue["priority"], issue["dueDate"], issue["assigneeId"]) == (
        3,
        "2026-07-02",
        "user-bob",
    )
    assert (ticket.priority, ticket.assignee, ticket.status) == ("P2", "user-bob", Status.OPEN)
    assert ticket.url == issue["url"] and "/acme/issue/ENG-1/" in ticket.url


def test_shared_label_is_created_once_when_missing(make: Any) -> None:
    with LinearEmulator(seed_label=False) as em:
        assert em.labels() == []
        created(make(em).create_many([draft(1)]))
        created(make(em).create_many([draft(2)]))  # a new process finds it by name
        assert em.labels() == [SHARED_LABEL]
        assert ops(em, "CreateLabel") == 1
        assert all(issue["labels"] == [SHARED_LABEL] for issue in em.issues())


def test_draft_already_closed_is_created_in_its_state(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1, status=Status.WONT_DO)]))
    assert ticket.status is Status.WONT_DO
    assert emulator.issue(ticket.key)["state"] == "Canceled"
    assert "mutation UpdateIssue" not in connector.stats.by_kind  # one request, no follow-up


def test_5xx_after_create_makes_the_whole_batch_ambiguous(
    emulator: LinearEmulator, make: Any
) -> None:
    emulator.faults.add(Fault(502, match=lambda m, _p: m == "POST", after_apply=True))
    connector = make()
    outcomes = connector.create_many([draft(1), draft(2), draft(3)])
    assert all(o.ambiguous and o.ticket is None for o in outcomes)
    assert ops(emulator, "CreateIssues") == 1  # sent once, never retried
    assert emulator.issue_count() == 3
    found = make().find_by_markers([o.marker for o in outcomes])
    assert sorted(t.key for t in found.values()) == ["ENG-1", "ENG-2", "ENG-3"]


def test_dropped_connection_on_create_is_ambiguous(emulator: LinearEmulator, make: Any) -> None:
    emulator.faults.add(Fault(0, match=lambda m, _p: m == "POST", after_apply=True))
    (outcome,) = make().create_many([draft(1)])
    assert outcome.ambiguous
    assert ops(emulator, "CreateIssues") == 1


def test_create_that_never_connected_is_not_ambiguous(make: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (outcome,) = make(url=f"http://127.0.0.1:{port}/graphql").create_many([draft(1)])
    assert outcome.error and not outcome.ambiguous


def test_per_alias_error_fails_that_draft_and_leaves_the_rest_unknown(
    emulator: LinearEmulator, make: Any
) -> None:
    connector = make()
    outcomes = connector.create_many([draft(1), draft(2, assignee="user-nobody"), draft(3)])
    # issueCreate's payload is non-null: the failing alias nulls the whole answer.
    assert outcomes[1].error and "User" in outcomes[1].error and not outcomes[1].ambiguous
    assert outcomes[0].ambiguous and outcomes[2].ambiguous
    assert emulator.issue_count() == 1  # mutations run in order and stop at the failure
    found = make().find_by_markers([o.marker for o in outcomes])
    assert set(found) == {"pm-000000000001"}


def test_4xx_on_create_is_a_plain_error(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    created(connector.create_many([draft(1)]))  # bootstrap done
    emulator.faults.add(
        Fault(400, match=lambda m, _p: m == "POST", body={"errors": [{"message": "nope"}]})
    )
    outcomes = connector.create_many([draft(2), draft(3)])
    assert all(o.error and not o.ambiguous for o in outcomes)
    assert emulator.issue_count() == 1


def test_replayed_create_cannot_duplicate(emulator: LinearEmulator, make: Any) -> None:
    (ticket,) = created(make().create_many([draft(1)]))
    (again,) = make().create_many([draft(1)])  # a blind retry of the same marker
    assert again.ticket is None and again.error and "already exists" in again.error
    assert emulator.issue_count() == 1
    # Marker text and label both gone: the id derived from the marker still finds it.
    emulator.human_edit(ticket.key, description="rewritten by a person", labelIds=[])
    found = make().find_by_markers(["pm-000000000001"])
    assert found["pm-000000000001"].key == ticket.key
    assert found["pm-000000000001"].marker == "pm-000000000001"


# -- listings ----------------------------------------------------------------------------------
def test_listing_follows_cursors_and_sends_since(emulator: LinearEmulator, make: Any) -> None:
    connector = make(page_size=50)
    created(connector.create_many([draft(n) for n in range(1, 131)]))
    emulator.documents.clear()
    assert len({t.key for t in connector.list_changed_since(None)}) == 130
    pages = [v for q, v in emulator.documents if "ListIssues" in q]
    assert [p["first"] for p in pages] == [50, 50, 50]
    assert pages[0]["after"] is None and pages[1]["after"] and pages[2]["after"]
    assert pages[0]["filter"] == {
        "team": {"key": {"eq": "ENG"}},
        "labels": {"some": {"name": {"eqIgnoreCase": SHARED_LABEL}}},
    }

    emulator.advance_clock(timedelta(minutes=30))
    mark = emulator.now()
    emulator.human_set_status("ENG-7", Status.DONE)
    emulator.documents.clear()
    changed = list(connector.list_changed_since(mark))
    assert [t.key for t in changed] == ["ENG-7"]
    (sent,) = [v["filter"]["updatedAt"]["gte"] for q, v in emulator.documents]
    expected = (mark - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S")
    assert sent.startswith(expected) and sent.endswith("Z")  # since minus the overlap, UTC


def test_listing_is_sorted_by_update_time(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    created(connector.create_many([draft(n) for n in range(1, 4)]))
    emulator.advance_clock(timedelta(seconds=5))
    emulator.human_edit("ENG-1", title="touched")
    assert [t.key for t in connector.list_changed_since(None)] == ["ENG-2", "ENG-3", "ENG-1"]


def test_no_change_listing_is_one_request(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    created(connector.create_many([draft(n) for n in range(1, 4)]))
    emulator.advance_clock(timedelta(minutes=10))
    reads = connector.stats.reads
    emulator.reset_log()
    assert list(connector.list_changed_since(emulator.now())) == []
    assert connector.stats.reads == reads + 1
    assert emulator.request_log == [("POST", "/graphql", 200)]


def test_listing_failure_raises_instead_of_returning_part(
    emulator: LinearEmulator, make: Any
) -> None:
    connector = make(page_size=10)
    created(connector.create_many([draft(n) for n in range(1, 26)]))
    calls = {"n": 0}

    def second_page_on(method: str, _path: str) -> bool:
        calls["n"] += method == "GET"
        return method == "GET" and calls["n"] >= 2

    emulator.faults.add(Fault(500, match=second_page_on, times=-1))
    with pytest.raises(TrackerError):
        list(connector.list_changed_since(None))
    emulator.faults.clear()


def test_get_many_reads_unmanaged_issues_in_one_query(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    tickets = created(connector.create_many([draft(n) for n in range(1, 13)]))
    by_hand = emulator.human_create("Linked by hand in the doc")
    emulator.reset_log()
    got = connector.get_many([t.key for t in tickets] + [by_hand, "ENG-999", "OPS-1"])
    assert set(got) == {t.key for t in tickets} | {by_hand}
    assert got[by_hand].marker is None and got[by_hand].labels == ()
    assert len(emulator.request_log) == 1


def test_stats_count_every_page(emulator: LinearEmulator, make: Any) -> None:
    connector = make(page_size=10)
    created(connector.create_many([draft(n) for n in range(1, 26)]))
    before = connector.stats.reads
    assert len(list(connector.list_changed_since(None))) == 25
    assert connector.stats.reads == before + 3
    assert connector.stats.by_kind["query ListIssues"] == 3
    assert connector.stats.by_kind["query Team"] == 1  # resolved once per connector


# -- status and fields -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("Backlog", Status.OPEN),
        ("Todo", Status.OPEN),
        ("In Progress", Status.IN_PROGRESS),
        ("In Review", Status.IN_PROGRESS),
        ("Done", Status.DONE),
        ("Canceled", Status.WONT_DO),
    ],
)
def test_state_types_read_as_statuses(
    emulator: LinearEmulator, make: Any, state: str, status: Status
) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    emulator.human_move(ticket.key, state)
    assert connector.get_many([ticket.key])[ticket.key].status is status


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (Status.IN_PROGRESS, "In Progress"),
        (Status.DONE, "Done"),
        (Status.WONT_DO, "Canceled"),
    ],
)
def test_statuses_write_the_first_state_of_their_type(
    emulator: LinearEmulator, make: Any, status: Status, state: str
) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    assert connector.set_status(ticket.key, status).status is status
    assert emulator.issue(ticket.key)["state"] == state
    assert connector.set_status(ticket.key, Status.OPEN).status is Status.OPEN
    assert emulator.issue(ticket.key)["state"] == "Todo"  # unstarted before backlog


@pytest.mark.parametrize(
    ("state", "status"), [("Backlog", Status.OPEN), ("In Review", Status.IN_PROGRESS)]
)
def test_same_status_keeps_the_finer_state(
    emulator: LinearEmulator, make: Any, state: str, status: Status
) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    emulator.human_move(ticket.key, state)
    writes = connector.stats.writes
    assert connector.set_status(ticket.key, status).status is status
    assert emulator.issue(ticket.key)["state"] == state
    assert connector.stats.writes == writes


def test_state_name_overrides(emulator: LinearEmulator, make: Any) -> None:
    connector = make(states={"open": "Backlog", "done": "In Review"})
    (ticket,) = created(connector.create_many([draft(1)]))
    assert connector.set_status(ticket.key, Status.DONE).status is Status.DONE
    assert emulator.issue(ticket.key)["state"] == "In Review"  # reads back as done too
    assert connector.set_status(ticket.key, Status.OPEN).status is Status.OPEN
    assert emulator.issue(ticket.key)["state"] == "Backlog"
    broken = make(states={"wont_do": "Won't Fix"})
    with pytest.raises(TrackerError, match="Won't Fix") as caught:
        broken.set_status(ticket.key, Status.WONT_DO)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("level", "number", "read_back"),
    [
        ("P0", 1, "P0"),
        ("P1", 2, "P1"),
        ("P2", 3, "P2"),
        ("P3", 4, "P3"),
        ("P4", 4, "P3"),
        (None, 0, None),
    ],
)
def test_priority_mapping(
    emulator: LinearEmulator, make: Any, level: str | None, number: int, read_back: str | None
) -> None:
    (ticket,) = created(make().create_many([draft(1, priority=level)]))
    assert emulator.issue(ticket.key)["priority"] == number
    assert ticket.priority == read_back


def test_custom_priorities_and_none(emulator: LinearEmulator, make: Any) -> None:
    connector = make(priorities={"P0": 1, "P1": 1, "P2": 2, "P3": 3, "P4": 0})
    (ticket,) = created(connector.create_many([draft(1, priority="P4")]))
    assert (emulator.issue(ticket.key)["priority"], ticket.priority) == (0, None)
    changed = connector.update_fields(ticket.key, FieldChanges(priority="P1"))
    assert (emulator.issue(ticket.key)["priority"], changed.priority) == (1, "P0")
    emulator.human_edit(ticket.key, priority=4)  # Low: not mapped here
    assert connector.get_many([ticket.key])[ticket.key].priority is None


def test_update_is_one_request_and_clears_fields(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1, assignee="user-alice")]))
    emulator.reset_log()
    assert connector.update_fields(ticket.key, FieldChanges(title="New")).title == "New"
    assert len(emulator.request_log) == 1
    cleared = connector.update_fields(
        ticket.key, FieldChanges(due=None, priority=None, assignee=None)
    )
    assert (cleared.due, cleared.priority, cleared.assignee) == (None, None, None)
    issue = emulator.issue(ticket.key)
    assert (issue["dueDate"], issue["priority"], issue["assigneeId"]) == (None, 0, None)
    assert SHARED_LABEL in cleared.labels and cleared.marker == "pm-000000000001"


def test_update_of_a_missing_issue_is_not_retried(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    with pytest.raises(TrackerError) as caught:
        connector.update_fields("ENG-999", FieldChanges(title="x"))
    assert not caught.value.retryable
    assert connector.stats.by_kind["mutation UpdateIssue"] == 1
    with pytest.raises(TrackerError):
        connector.update_fields("OPS-1", FieldChanges(title="x"))  # another team's key


# -- pacing and rate limits --------------------------------------------------------------------
def test_writes_are_paced(make: Any) -> None:
    clock = FakeClock()
    connector = make(writes_per_second=10, batch_size=2, clock=clock.monotonic, sleep=clock.sleep)
    created(connector.create_many([draft(n) for n in range(1, 7)]))  # three create requests
    assert clock.now == pytest.approx(0.2)
    list(connector.list_changed_since(None))  # reads are not paced
    assert clock.now == pytest.approx(0.2)


@pytest.mark.parametrize("unit", ["ms", "s"])
def test_ratelimited_waits_for_the_reset(emulator: LinearEmulator, make: Any, unit: str) -> None:
    clock = FakeClock()
    wall = 1_900_000_000.0
    connector = make(clock=clock.monotonic, sleep=clock.sleep, wall_clock=lambda: wall)
    reset = wall + 3
    headers = {
        "X-RateLimit-Requests-Remaining": "0",
        "X-RateLimit-Requests-Reset": str(int(reset * 1000) if unit == "ms" else int(reset)),
    }
    emulator.faults.add(
        Fault(400, match=lambda m, _p: m == "GET", headers=headers, body=ratelimited_body())
    )
    assert list(connector.list_changed_since(None)) == []
    assert clock.sleeps == [pytest.approx(3.0)]
    assert connector.stats.rate_limit_waits == 1


def test_429_retry_after_wins(emulator: LinearEmulator, make: Any) -> None:
    clock = FakeClock()
    connector = make(clock=clock.monotonic, sleep=clock.sleep)
    emulator.faults.add(Fault(429, match=lambda m, _p: m == "GET", headers={"Retry-After": "7"}))
    list(connector.list_changed_since(None))
    assert clock.sleeps == [7.0]


def test_hourly_limit_exhausted(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    created(connector.create_many([draft(1)]))
    emulator.requests_limit = 0
    with pytest.raises(RateLimited) as caught:
        list(connector.list_changed_since(None))
    assert caught.value.retry_after is not None and 3500 < caught.value.retry_after <= 3601
    outcomes = connector.create_many([draft(2), draft(3)])
    assert all(o.error and not o.ambiguous for o in outcomes)
    assert "rate limited" in (outcomes[0].error or "").lower()
    # The engine's next chunk is refused locally until the reset: no request is sent.
    sent = len(emulator.request_log)
    (later,) = connector.create_many([draft(4)])
    assert re.fullmatch(r"not attempted: rate limited, retry after 3[56]\d\d s", later.error or "")
    assert len(emulator.request_log) == sent


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        # epoch milliseconds, epoch seconds, both budgets: the exhausted one decides
        (
            {"x-ratelimit-requests-remaining": "0", "x-ratelimit-requests-reset": "1900000030000"},
            30.0,
        ),
        (
            {"x-ratelimit-complexity-remaining": "0", "x-ratelimit-complexity-reset": "1900000045"},
            45.0,
        ),
        (
            {
                "x-ratelimit-requests-remaining": "10",
                "x-ratelimit-requests-reset": "1900003600",
                "x-ratelimit-complexity-remaining": "0",
                "x-ratelimit-complexity-reset": "1900000020",
            },
            20.0,
        ),
        ({"x-ratelimit-requests-reset": "5"}, 5.0),  # relative seconds
        ({}, 60.0),
    ],
)
def test_retry_after_from_linear_headers(headers: dict[str, str], expected: float) -> None:
    assert linear_retry_after(headers, now=1_900_000_000.0) == pytest.approx(expected)


# -- auth and secrets ---------------------------------------------------------------------------
def test_api_key_is_sent_bare_and_oauth_as_bearer(emulator: LinearEmulator, make: Any) -> None:
    list(make().list_changed_since(None))
    list(make(auth="oauth").list_changed_since(None))
    assert emulator.auth_schemes == ["api_key", "oauth"]


def test_wrong_token_is_a_permanent_error(emulator: LinearEmulator, make: Any) -> None:
    section = {**emulator.connector_section(), "token": "not-a-key-we-know"}
    connector = LinearConnector("linear", LinearConfig.model_validate(section), sleep=fast_sleep)
    with pytest.raises(TrackerError) as caught:
        list(connector.list_changed_since(None))
    assert not caught.value.retryable and "not authorised" in str(caught.value)
    assert "not-a-key-we-know" not in str(caught.value)
    assert connector.stats.reads == 1  # not retried
    connector.close()


def test_token_not_in_any_error(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    created(connector.create_many([draft(1)]))
    for status in (400, 401, 500, 0, 429):  # 429 last: it pauses creates
        emulator.faults.add(Fault(status, body={"errors": [{"message": "Bad"}]}, times=-1))
        outcome = connector.create_many([draft(status)])[0]
        with pytest.raises(TrackerError) as caught:
            connector.get_many(["ENG-1"])
        emulator.faults.clear()
        assert TOKEN not in (outcome.error or "") and TOKEN not in str(caught.value)
    assert TOKEN not in repr(connector) and TOKEN not in repr(connector.__dict__)


# -- keys, config, registry ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("ENG-12", "ENG-12"),
        ("eng-12", "ENG-12"),
        (" ENG-012 ", "ENG-12"),
        ("https://linear.app/acme/issue/ENG-12/fix-the-pool", "ENG-12"),
        ("https://linear.app/acme/issue/ENG-12", "ENG-12"),
        ("[ENG-12](https://linear.app/acme/issue/ENG-12/fix)", "ENG-12"),
        ("http://127.0.0.1:8080/acme/issue/ENG-3/x", "ENG-3"),
        ("tracked in ENG-7, see thread", "ENG-7"),
        ("OPS-12", None),
        ("https://linear.app/acme/issue/OPS-3/x", None),
        ("XENG-12", None),
        ("ENG-12b", None),
        ("#12", None),
        ("12", None),
        ("", None),
    ],
)
def test_parse_key(make: Any, text: str, key: str | None) -> None:
    assert make().parse_key(text) == key


def test_config_is_strict(emulator: LinearEmulator) -> None:
    section = emulator.connector_section()
    assert LinearConfig.model_validate({**section, "team": "eng"}).team == "ENG"
    for bad in (
        {"teem": "ENG"},
        {"team": "EN G"},
        {"priorities": {"P9": 1}},
        {"priorities": {"P1": 7}},
        {"page_size": 251},
        {"batch_size": 0},
        {"states": {"closed": "Done"}},
        {"auth": "basic"},
        {"url": "api.linear.app/graphql"},
    ):
        with pytest.raises(ValidationError):
            LinearConfig.model_validate({**section, **bad})


def test_registry_builds_it_from_a_tracker_section(emulator: LinearEmulator) -> None:
    # Exactly what `[trackers.linear]` holds once the TOML file is read.
    section = {"kind": "linear", "url": f"{emulator.url}/graphql", "team": "ENG", "token": TOKEN}
    emulator.tokens.add(TOKEN)
    assert connector_class("linear") is LinearConnector
    connector = build("linear", dict(section))
    assert isinstance(connector, LinearConnector) and isinstance(connector, Connector)
    assert connector.name == "linear" and connector.config.url.endswith("/graphql")
    assert TOKEN not in repr(connector) and TOKEN not in repr(connector.config)
    assert list(connector.list_changed_since(None)) == []
    connector.close()
    default = LinearConfig.model_validate({"kind": "linear", "team": "ENG", "token": TOKEN})
    assert default.url == "https://api.linear.app/graphql"


# -- webhooks --------------------------------------------------------------------------------------
@pytest.fixture
def hooked(emulator: LinearEmulator, make: Any) -> tuple[LinearConnector, str]:
    connector = make(webhook_secret=SECRET)
    (ticket,) = created(connector.create_many([draft(1)]))
    return connector, ticket.key


def test_webhook_signature_ok(emulator: LinearEmulator, hooked: Any) -> None:
    connector, key = hooked
    headers, body = emulator.webhook_delivery(key, secret=SECRET, delivery_id="d-1")
    event = connector.parse_webhook(headers, body)
    assert (event.keys, event.delivery_id, event.kind) == (frozenset({key}), "d-1", "Issue.update")


def test_webhook_replayed_delivery_keeps_its_id(emulator: LinearEmulator, hooked: Any) -> None:
    connector, key = hooked
    headers, body = emulator.webhook_delivery(key, secret=SECRET, delivery_id="d-7")
    first = connector.parse_webhook(headers, body)
    again = connector.parse_webhook(headers, body)  # a redelivery inside the minute
    assert first.delivery_id == again.delivery_id == "d-7"  # the worker de-duplicates


@pytest.mark.parametrize("attack", ["forged", "tampered", "missing", "garbage"])
def test_webhook_bad_signature_is_rejected(
    emulator: LinearEmulator, hooked: Any, attack: str
) -> None:
    connector, key = hooked
    headers, body = emulator.webhook_delivery(key, secret="someone-elses-secret")
    if attack == "tampered":
        headers, body = emulator.webhook_delivery(key, secret=SECRET)
        body = body.replace(b'"update"', b'"remove"')
    elif attack == "missing":
        del headers["linear-signature"]
    elif attack == "garbage":
        headers["linear-signature"] = "zz\u00e9 not hex"
    with pytest.raises(WebhookRejected) as caught:
        connector.parse_webhook(headers, body)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("offset_ms", "accepted"), [(-61_000, False), (-55_000, True), (30_000, True), (120_000, False)]
)
def test_webhook_timestamp_window(
    emulator: LinearEmulator, hooked: Any, offset_ms: int, accepted: bool
) -> None:
    connector, key = hooked
    stamp = int(time.time() * 1000) + offset_ms
    headers, body = emulator.webhook_delivery(key, secret=SECRET, timestamp_ms=stamp)
    if accepted:
        assert connector.parse_webhook(headers, body).keys == {key}
    else:
        with pytest.raises(WebhookRejected):
            connector.parse_webhook(headers, body)


def test_webhook_for_other_things_names_no_ticket(emulator: LinearEmulator, hooked: Any) -> None:
    connector, _key = hooked
    import hashlib
    import hmac

    def signed(payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        body = json.dumps(payload).encode()
        sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return {"linear-signature": sig}, body

    now = int(time.time() * 1000)
    comment = {"type": "Comment", "action": "create", "webhookTimestamp": now, "data": {"id": "c"}}
    other_team = {
        "type": "Issue",
        "action": "update",
        "webhookTimestamp": now,
        "data": {"identifier": "OPS-4"},
    }
    for payload in (comment, other_team):
        event = connector.parse_webhook(*signed(payload))
        assert event.keys == frozenset() and event.delivery_id is None
    headers, body = signed({"type": "Issue"})  # signed but no timestamp
    with pytest.raises(WebhookRejected):
        connector.parse_webhook(headers, body)
    sig = hmac.new(SECRET.encode(), b"not json", hashlib.sha256).hexdigest()
    with pytest.raises(WebhookRejected) as caught:
        connector.parse_webhook({"linear-signature": sig}, b"not json")
    assert caught.value.status == 400


def test_webhook_without_secret_is_refused(emulator: LinearEmulator, make: Any) -> None:
    # `webhook_secret_file` is the config loader's job: tests/connectors/test_secret_files.py
    (ticket,) = created(make(webhook_secret=SECRET).create_many([draft(1)]))
    headers, body = emulator.webhook_delivery(ticket.key, secret=SECRET)
    with pytest.raises(WebhookRejected, match="no webhook_secret"):
        make().parse_webhook(headers, body)


# -- the emulator and its parser, through plain httpx --------------------------------------------
def post(
    emulator: LinearEmulator, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{emulator.url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": "emulator-token"},
    )


def test_emulator_validates_documents(emulator: LinearEmulator) -> None:
    bad_field = post(emulator, "{ issues { nodes { id nope } } }")
    assert bad_field.status_code == 400
    assert bad_field.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    bad_filter = post(emulator, '{ issues(filter: { colour: { eq: "red" } }) { nodes { id } } }')
    assert bad_filter.status_code == 400
    unparsable = post(emulator, "{ issues { nodes { id }")
    assert unparsable.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    no_auth = httpx.post(f"{emulator.url}/graphql", json={"query": "{ viewer { id } }"})
    assert no_auth.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"


def test_emulator_answers_with_rate_headers_and_edges(emulator: LinearEmulator) -> None:
    emulator.human_create("one")
    emulator.advance_clock(timedelta(seconds=1))
    emulator.human_create("two")
    answer = post(
        emulator,
        """query Q($n: Int = 1) {
          issues(first: $n, orderBy: updatedAt) {
            edges { cursor node { identifier team { key } } }
            pageInfo { hasNextPage endCursor }
          }
        }""",
    )
    assert answer.status_code == 200
    assert int(answer.headers["X-RateLimit-Requests-Remaining"]) == 4999
    assert int(answer.headers["X-RateLimit-Requests-Reset"]) > time.time() * 1000
    assert int(answer.headers["X-Complexity"]) > 0
    issues = answer.json()["data"]["issues"]
    assert issues["pageInfo"]["hasNextPage"] is True
    assert issues["edges"][0]["node"] == {"identifier": "ENG-2", "team": {"key": "ENG"}}


def test_parser_reads_literals_variables_and_block_strings() -> None:
    op = parse(
        '''mutation M($x: [String!]! = ["a"]) {
          # a comment
          made: issueCreate(input: { title: """
              Block
                text
          """, n: -1.5e2, ok: true, none: null, order: updatedAt, tags: $x }) { success }
        }'''
    )
    assert (op.kind, op.name, op.variables["x"]) == ("mutation", "M", ("[String!]!", ["a"]))
    (made,) = op.selections
    assert (made.alias, made.name, made.key) == ("made", "issueCreate", "made")
    value = resolve_value(made.args["input"], {"x": ["b"]})
    assert value == {
        "title": "Block\n  text",
        "n": -150.0,
        "ok": True,
        "none": None,
        "order": "updatedAt",
        "tags": ["b"],
    }
    for broken in ("{ a ", "query { ...F }", "{ a @include(if: true) }", "subscription { a }"):
        with pytest.raises(GraphQLSyntaxError):
            parse(broken)


def test_due_dates_round_trip_as_dates(emulator: LinearEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1, due=date(2026, 12, 31))]))
    assert ticket.due == date(2026, 12, 31)
    assert emulator.issue(ticket.key)["dueDate"] == "2026-12-31"


def test_labels_are_matched_without_case(make: Any) -> None:
    with LinearEmulator(seed_label=False) as em:
        made = httpx.post(
            f"{em.url}/graphql",
            json={
                "query": 'mutation { issueLabelCreate(input: { name: "Postmortem-Action" }) { success } }'
            },
            headers={"Authorization": "emulator-token"},
        )
        assert made.json()["data"]["issueLabelCreate"]["success"] is True
        connector = make(em)
        (ticket,) = created(connector.create_many([draft(1, labels=("SRE",))]))
        created(connector.create_many([draft(2, labels=("sre",))]))
        assert em.labels() == ["Postmortem-Action", "SRE"]  # nothing created twice
        assert [t.key for t in connector.list_changed_since(None)] == [ticket.key, "ENG-2"]
