"""The Jira connector against its loopback emulator, through the real `jira` library."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import FieldChanges, RateLimited, TrackerError
from connectors.jira import JiraConfig, JiraConnector
from connectors.jira.connector import TRANSITION_CACHE_TTL
from connectors.registry import emulator_class
from connectors.testing.conformance import ConnectorConformance, Harness, created, draft
from connectors.testing.emulation import Fault
from connectors.testing.jira import JiraEmulator
from syncd.model import Status

TOKEN = "s3cr3t-token"
CLOUD_USER = "5b10ac8d82e05b22cc7d4ef5"


class SleepRecorder:
    """Records requested waits and sleeps only briefly, keeping retries fast."""

    def __init__(self, *, real: bool = False) -> None:
        self.waits: list[float] = []
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds if self.real else min(seconds, 0.01))


class Setup:
    def __init__(self, emulator: JiraEmulator) -> None:
        self.emulator = emulator
        self.sleep = SleepRecorder()

    def connector(
        self,
        sleep: SleepRecorder | None = None,
        clock: Any = time.monotonic,
        wall_clock: Any = None,
        **overrides: Any,
    ) -> JiraConnector:
        section = self.emulator.connector_section(**overrides)
        if sleep is not None:
            self.sleep = sleep
        config = JiraConfig.model_validate(section)
        # our clock follows the emulator's: advancing it is time passing for both sides
        # (a clock stepped on one side only is tested on its own)
        return JiraConnector(
            "jira",
            config,
            sleep=self.sleep,
            clock=clock,
            wall_clock=wall_clock or (lambda: self.emulator.now().timestamp()),
        )


@contextmanager
def running(deployment: str = "Cloud", **options: Any) -> Iterator[Setup]:
    emulator = JiraEmulator(deployment=deployment, token=TOKEN, **options)
    emulator.start()
    try:
        yield Setup(emulator)
    finally:
        emulator.stop()


@pytest.fixture
def jira_setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    with running(**getattr(request, "param", {})) as setup:
        yield setup


def _harness(setup: Setup) -> Iterator[Harness]:
    made: list[JiraConnector] = []

    def make() -> JiraConnector:
        made.append(setup.connector())
        return made[-1]

    yield Harness(connector=make(), emulator=setup.emulator, make_connector=make)
    for connector in made:
        connector.close()


class TestJiraCloudConformance(ConnectorConformance):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with running("Cloud") as setup:
            yield from _harness(setup)


class TestJiraServerConformance(ConnectorConformance):
    @pytest.fixture
    def harness(self) -> Iterator[Harness]:
        with running("Server") as setup:
            yield from _harness(setup)


server = pytest.mark.parametrize("jira_setup", [{"deployment": "Server"}], indirect=True)


def paths(emulator: JiraEmulator, method: str, suffix: str) -> list[str]:
    return [r.path for r in emulator.requests_to(method, suffix)]


def calls(emulator: JiraEmulator) -> list[str]:
    """The request log (injected faults included) as "GET issue", "POST transitions", ..."""
    out = []
    for method, path, _status in emulator.request_log:
        if path.endswith("/transitions"):
            what = "transitions"
        elif path.endswith("/issue/bulk"):
            what = "bulk"
        elif "/search" in path:
            what = "search"
        elif "/issue/" in path:
            what = "issue"
        else:
            what = path
        out.append(f"{method} {what}")
    return out


def renumber_workflow(emulator: JiraEmulator) -> None:
    """An admin publishes the workflow again with new transition ids."""
    emulator.workflow = tuple(
        dataclasses.replace(t, id=str(int(t.id) + 100)) for t in emulator.workflow
    )


class TickingClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- creates ---------------------------------------------------------------------------------


def test_bulk_create_of_120_uses_three_requests_and_no_per_issue_gets(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    tickets = created(connector.create_many([draft(n) for n in range(1, 121)]))
    emulator = jira_setup.emulator
    assert len(emulator.requests_to("POST", "/issue/bulk")) == 3
    assert [len(r.json()["issueUpdates"]) for r in emulator.requests_to("POST", "/issue/bulk")] == [
        50,
        50,
        20,
    ]
    assert not [r for r in emulator.calls if r.method == "GET" and "/issue/" in r.path]
    assert connector.stats.by_kind["create"] == 3
    assert len({t.key for t in tickets}) == 120 == emulator.issue_count()


def test_create_payload_carries_labels_description_and_priority(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    connector.create_many([draft(1, labels=("sev 1",), priority="P0")])
    (request,) = jira_setup.emulator.requests_to("POST", "/issue/bulk")
    fields = request.json()["issueUpdates"][0]["fields"]
    assert fields["labels"] == ["postmortem-action", "pm-000000000001", "sev-1"]
    assert fields["priority"] == {"name": "Highest"}
    assert "postmortems/2026-06-04-outage.md" in fields["description"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}


def test_cloud_assignee_is_an_account_id(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1, assignee=CLOUD_USER)]))
    (request,) = jira_setup.emulator.requests_to("POST", "/issue/bulk")
    assert request.json()["issueUpdates"][0]["fields"]["assignee"] == {"accountId": CLOUD_USER}
    assert connector.get_many([ticket.key])[ticket.key].assignee == CLOUD_USER


@server
def test_server_assignee_is_a_user_name(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1, assignee="alice")]))
    (request,) = jira_setup.emulator.requests_to("POST", "/issue/bulk")
    assert request.json()["issueUpdates"][0]["fields"]["assignee"] == {"name": "alice"}
    assert connector.get_many([ticket.key])[ticket.key].assignee == "alice"


def test_rejected_element_is_an_error_and_the_others_are_created(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    outcomes = connector.create_many([draft(1), draft(2, assignee="nobody"), draft(3)])
    assert [o.ticket is not None for o in outcomes] == [True, False, True]
    assert outcomes[1].error and "assignee" in outcomes[1].error
    assert not outcomes[1].ambiguous
    assert jira_setup.emulator.issue_count() == 2


def test_all_elements_rejected_is_a_plain_error(jira_setup: Setup) -> None:
    connector = jira_setup.connector(priorities={"P1": "Urgent"})  # not a priority in Jira
    outcomes = connector.create_many([draft(1), draft(2)])
    assert all(o.error and not o.ambiguous for o in outcomes)
    assert jira_setup.emulator.issue_count() == 0


def test_create_timeout_is_ambiguous_and_not_retried(jira_setup: Setup) -> None:
    emulator = jira_setup.emulator
    emulator.faults.add(Fault(502, match=lambda m, _p: m == "POST", after_apply=True, delay=0.5))
    connector = jira_setup.connector(timeout=0.2)
    (outcome,) = connector.create_many([draft(1)])
    assert outcome.ambiguous and outcome.ticket is None
    assert "s3cr3t" not in (outcome.error or "")
    # the server is still sleeping on the fault: wait until it has logged its answer
    deadline = time.monotonic() + 10
    while not any(r[0] == "POST" for r in emulator.request_log) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(m, status) for m, _path, status in emulator.request_log if m == "POST"] == [
        ("POST", 502)
    ]
    assert len(emulator.requests_to("POST", "/issue/bulk")) == 1
    assert emulator.issue_count() == 1
    assert "pm-000000000001" in connector.find_by_markers(["pm-000000000001"])


def test_create_429_is_retried_after_retry_after(jira_setup: Setup) -> None:
    emulator = jira_setup.emulator
    emulator.faults.add(
        Fault(429, match=lambda m, p: m == "POST", headers={"Retry-After": "3"}, body={})
    )
    connector = jira_setup.connector()
    created(connector.create_many([draft(1)]))
    assert jira_setup.sleep.waits == [3.0]
    assert emulator.issue_count() == 1
    assert connector.stats.rate_limit_waits == 1


def test_draft_created_closed_is_transitioned(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1, status=Status.DONE)]))
    assert ticket.status is Status.DONE
    assert jira_setup.emulator.issue(ticket.key)["fields"]["status"] == "Done"


def test_initial_statuses_cost_one_post_each_and_one_lookup_per_target(
    jira_setup: Setup,
) -> None:
    connector = jira_setup.connector()
    wanted = [Status.IN_PROGRESS, Status.DONE, Status.IN_PROGRESS, Status.WONT_DO, Status.OPEN]
    wanted += [Status.DONE, Status.IN_PROGRESS, Status.WONT_DO]
    drafts = [draft(n, status=s) for n, s in enumerate(wanted, start=1)]

    tickets = created(connector.create_many(drafts))

    emulator = jira_setup.emulator
    assert [t.status for t in tickets] == wanted
    stored = [emulator.issue(t.key)["fields"] for t in tickets]
    assert [(f["status"], f["resolution"]) for f in stored] == [
        ("In Progress", None),
        ("Done", "Done"),
        ("In Progress", None),
        ("Won't Do", "Won't Do"),
        ("To Do", None),
        ("Done", "Done"),
        ("In Progress", None),
        ("Won't Do", "Won't Do"),
    ]
    # No read of the new issues: one lookup per target status, then only POSTs.
    assert calls(emulator) == [
        "POST bulk",
        *["GET transitions", "POST transitions"] * 2,  # in progress, done
        "POST transitions",  # in progress again: cached
        *["GET transitions", "POST transitions"],  # won't do
        *["POST transitions"] * 3,
    ]
    dones = [r.json() for r in emulator.requests_to("POST", "/transitions")]
    assert dones[1]["fields"] == dones[4]["fields"] == {"resolution": {"name": "Done"}}
    assert connector.stats.by_kind["transition"] == 7
    assert connector.stats.by_kind["get"] == 0


def test_cold_create_of_120_in_progress_is_within_a_fifth_of_the_minimum(
    jira_setup: Setup,
) -> None:
    connector = jira_setup.connector()
    created(connector.create_many([draft(n, status=Status.IN_PROGRESS) for n in range(120)]))
    minimum = 3 + 120  # ceil(120/50) bulk creates + one transition each
    assert len(jira_setup.emulator.request_log) == minimum + 1  # + one GET transitions
    assert jira_setup.emulator.issue_count() == 120


def test_failed_initial_transition_leaves_the_ticket_open(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    emulator = jira_setup.emulator
    emulator.faults.add(Fault(400, match=lambda m, p: m == "POST" and p.endswith("/transitions")))

    first, second = created(
        connector.create_many([draft(1, status=Status.DONE), draft(2, status=Status.DONE)])
    )

    # Looked up for that very issue and still refused: no second try, the ticket is
    # reported OPEN (what Jira holds), so the engine pushes the status next run.
    assert first.status is Status.OPEN
    assert emulator.issue(first.key)["fields"]["status"] == "To Do"
    assert second.status is Status.DONE
    assert emulator.issue(second.key)["fields"]["status"] == "Done"
    assert calls(emulator) == ["POST bulk", *["GET transitions", "POST transitions"] * 2]


def test_refused_cached_initial_transition_falls_back_to_a_full_set_status(
    jira_setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = jira_setup.connector()
    emulator = jira_setup.emulator
    created(connector.create_many([draft(1, status=Status.IN_PROGRESS)]))
    renumber_workflow(emulator)
    emulator.reset_log()

    (ticket,) = created(connector.create_many([draft(2, status=Status.IN_PROGRESS)]))
    assert ticket.status is Status.IN_PROGRESS
    assert emulator.issue(ticket.key)["fields"]["status"] == "In Progress"
    assert calls(emulator) == [
        "POST bulk",
        "POST transitions",  # the cached id: 400 "not valid for this issue"
        "GET issue",
        "GET transitions",
        "POST transitions",
    ]
    (_, _, retried) = emulator.requests_to("POST", "/transitions")[-3:]
    assert retried.json()["transition"]["id"] in ("121", 121)

    # The failing entry is gone, the new id is learnt again on the next create.
    emulator.reset_log()
    created(connector.create_many([draft(3, status=Status.IN_PROGRESS)]))
    created(connector.create_many([draft(4, status=Status.IN_PROGRESS)]))
    assert calls(emulator) == [
        "POST bulk",
        "GET transitions",
        "POST transitions",
        "POST bulk",
        "POST transitions",
    ]


def test_initial_transition_that_finds_no_way_leaves_the_ticket_open(jira_setup: Setup) -> None:
    connector = jira_setup.connector(wont_do_transition="Abandon", wont_do_resolution=None)
    (ticket,) = created(connector.create_many([draft(1, status=Status.WONT_DO)]))
    assert ticket.status is Status.OPEN
    assert jira_setup.emulator.issue(ticket.key)["fields"]["status"] == "To Do"


# -- listing -----------------------------------------------------------------------------------


def test_cloud_listing_pages_with_next_page_token_and_never_old_search(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    created(connector.create_many([draft(n) for n in range(1, 131)]))
    emulator = jira_setup.emulator
    emulator.calls.clear()
    assert len(list(connector.list_changed_since(None))) == 130
    searches = emulator.requests_to("GET", "/search/jql")
    assert len(searches) == 3  # the emulator serves at most 50 per page
    assert [r.arg("nextPageToken") is not None for r in searches] == [False, True, True]
    assert not paths(emulator, "GET", "/search") and not paths(emulator, "POST", "/search")
    assert sorted(searches[0].query["fields"]) == sorted(
        [
            *("summary", "assignee", "duedate", "priority", "status", "labels", "updated"),
            *("resolution", "resolutiondate"),
        ]
    )
    assert not paths(emulator, "GET", "/field")  # no fields-cache request


@server
def test_server_listing_pages_with_start_at(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    created(connector.create_many([draft(n) for n in range(1, 131)]))
    emulator = jira_setup.emulator
    emulator.calls.clear()
    assert len(list(connector.list_changed_since(None))) == 130
    searches = emulator.requests_to("GET", "/search")
    assert [r.arg("startAt") for r in searches] == ["0", "50", "100"]
    assert not paths(emulator, "GET", "/search/jql")


def test_listing_jql_has_project_label_cursor_and_order(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    since = datetime.now(UTC) - timedelta(minutes=30, seconds=5)
    list(connector.list_changed_since(since))
    (search,) = jira_setup.emulator.requests_to("GET", "/search/jql")
    # The key is quoted: IN, OR, IS... are valid project keys and JQL reserved words.
    # The cursor is relative to Jira's clock: 30 min ago, minus the 2 min overlap,
    # rounded up to whole minutes - no time zone (and no /myself request) involved.
    assert search.arg("jql") == (
        'project = "OPS" AND labels = "postmortem-action" '
        'AND updated >= "-33m" ORDER BY updated ASC'
    )


def test_no_change_listing_is_one_read(jira_setup: Setup) -> None:
    created(jira_setup.connector().create_many([draft(1), draft(2)]))
    connector = jira_setup.connector()
    list(connector.list_changed_since(None))  # connects: serverInfo, then one search
    jira_setup.emulator.advance_clock(timedelta(minutes=10))  # the creates are old news
    for _ in range(2):
        cursor = connector.listing_cursor()
        assert cursor is not None
        jira_setup.emulator.advance_clock(timedelta(minutes=10))
        before = connector.stats.reads
        assert list(connector.list_changed_since(cursor + timedelta(minutes=5))) == []
        assert connector.stats.reads - before == 1


def test_no_change_listing_with_known_deployment_costs_one_search(jira_setup: Setup) -> None:
    created(jira_setup.connector().create_many([draft(1)]))
    jira_setup.emulator.advance_clock(timedelta(minutes=10))
    jira_setup.emulator.calls.clear()
    deployment = "cloud" if jira_setup.emulator.deployment == "Cloud" else "server"
    connector = jira_setup.connector(deployment=deployment)
    since = jira_setup.emulator.now() - timedelta(minutes=5)
    assert list(connector.list_changed_since(since)) == []
    calls = [r.path.rsplit("/api/2/", 1)[1] for r in jira_setup.emulator.calls]
    assert calls == ["search/jql" if deployment == "cloud" else "search"]


@pytest.mark.parametrize("step", [timedelta(minutes=10), timedelta(minutes=-10)])
def test_a_clock_stepped_between_runs_loses_no_change(jira_setup: Setup, step: timedelta) -> None:
    """Jira's clock jumps ahead of ours (or ours ahead of Jira's) between two runs: the
    relative window estimated on our clock would begin after the cursor; the `Date`
    of Jira's answer shows it, and the listing is asked again from Jira's time."""
    emulator = jira_setup.emulator
    ours = [0.0]  # seconds our clock is off the emulator's

    def wall() -> float:
        return emulator.now().timestamp() + ours[0]

    tickets = created(jira_setup.connector(wall_clock=wall).create_many([draft(1), draft(2)]))
    emulator.advance_clock(timedelta(minutes=10))  # the creates are old news
    connector = jira_setup.connector(wall_clock=wall)  # a fresh process: no skew known
    list(connector.list_changed_since(None))
    cursor = connector.listing_cursor()
    assert cursor is not None and abs((cursor - emulator.now()).total_seconds()) < 5
    emulator.human_set_status(tickets[1].key, Status.DONE)  # right after the run
    emulator.advance_clock(timedelta(minutes=5))  # time passes, on both clocks
    ours[0] -= step.total_seconds()  # Jira ahead by `step` (or we, when it is negative)

    fresh = jira_setup.connector(wall_clock=wall)
    before = fresh.stats.reads
    changed = list(fresh.list_changed_since(cursor))

    keys = [t.key for t in changed]
    if step > timedelta(0):  # Jira ahead: the window was too short, and asked again
        assert keys == [tickets[1].key]
        searches = 2
    else:  # we are ahead: our window is only wider than it needs be (a superset)
        assert tickets[1].key in keys
        searches = 1
    server_info = 1 if fresh._deployment() == "auto" else 0
    assert fresh.stats.reads - before == searches + server_info
    later = fresh.listing_cursor()
    assert later is not None and abs((later - emulator.now()).total_seconds()) < 5
    emulator.advance_clock(timedelta(minutes=10))  # time passes, on both clocks
    before = fresh.stats.reads
    assert list(fresh.list_changed_since(later)) == []
    assert fresh.stats.reads - before == 1  # the skew is known now: no second search


def test_cursor_does_not_depend_on_the_jira_users_time_zone(jira_setup: Setup) -> None:
    emulator = jira_setup.emulator
    emulator.user_timezone = "America/Los_Angeles"
    connector = jira_setup.connector()
    tickets = created(connector.create_many([draft(n) for n in range(1, 4)]))
    emulator.advance_clock(timedelta(minutes=10))
    mark = emulator.now()
    emulator.human_set_status(tickets[2].key, Status.IN_PROGRESS)
    changed = list(connector.list_changed_since(mark))
    assert [(t.key, t.status) for t in changed] == [(tickets[2].key, Status.IN_PROGRESS)]
    assert changed[0].updated.tzinfo is not None


def test_listing_failure_mid_way_raises_instead_of_partial(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    created(connector.create_many([draft(n) for n in range(1, 80)]))
    pages: list[int] = []

    def fail_second_page(method: str, path: str) -> bool:
        if method == "GET" and path.endswith("/search/jql"):
            pages.append(1)
            return len(pages) >= 2
        return False

    jira_setup.emulator.faults.add(Fault(500, match=fail_second_page, times=-1))
    with pytest.raises(TrackerError) as caught:
        connector.list_changed_since(None)
    assert caught.value.retryable


# -- lookups ------------------------------------------------------------------------------------


def test_find_by_markers_passes_recent_ids_to_reconcile(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    tickets = created(connector.create_many([draft(1), draft(2)]))
    found = connector.find_by_markers(["pm-000000000001", "pm-000000000002"])
    assert {m: t.key for m, t in found.items()} == {
        "pm-000000000001": tickets[0].key,
        "pm-000000000002": tickets[1].key,
    }
    (search,) = jira_setup.emulator.requests_to("GET", "/search/jql")
    stored_ids = sorted(i["id"] for i in jira_setup.emulator.issues())
    assert sorted(search.query["reconcileIssues"]) == stored_ids


def test_find_by_markers_ignores_a_missing_shared_label_and_picks_the_oldest(
    jira_setup: Setup,
) -> None:
    connector = jira_setup.connector()
    (first,) = created(connector.create_many([draft(1)]))
    jira_setup.emulator.human_update(first.key, labels=["pm-000000000001"])
    jira_setup.emulator.human_create("A copy", labels=["pm-000000000001"])
    found = connector.find_by_markers(["pm-000000000001"])
    assert found["pm-000000000001"].key == first.key


def test_get_many_chunks_keys_and_drops_unknown_ones(jira_setup: Setup) -> None:
    jira_setup.emulator.page_size = 100
    connector = jira_setup.connector()
    tickets = created(connector.create_many([draft(n) for n in range(1, 151)]))
    jira_setup.emulator.calls.clear()
    keys = [t.key for t in tickets] + ["OPS-999", "OTHER-1", "not a key"]
    got = connector.get_many(keys)
    assert set(got) == {t.key for t in tickets}
    statuses = [s for _m, p, s in jira_setup.emulator.request_log if p.endswith("/search/jql")]
    assert statuses[-3:] == [200, 400, 200]  # second chunk: OPS-999 rejected, then dropped
    assert len(jira_setup.emulator.requests_to("GET", "/search/jql")) == 3


# -- updates and status ----------------------------------------------------------------------------


def test_update_sends_one_put_with_only_changed_fields(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    jira_setup.emulator.calls.clear()
    changed = connector.update_fields(ticket.key, FieldChanges(title="Renamed", due=None))
    (put,) = jira_setup.emulator.requests_to("PUT", f"/issue/{ticket.key}")
    assert put.json() == {"fields": {"summary": "Renamed", "duedate": None}}
    assert [r.method for r in jira_setup.emulator.calls] == ["PUT", "GET"]
    assert (changed.title, changed.due, changed.priority) == ("Renamed", None, "P1")


def test_update_assignee_on_cloud_uses_account_id(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    changed = connector.update_fields(ticket.key, FieldChanges(assignee=CLOUD_USER))
    (put,) = jira_setup.emulator.requests_to("PUT", f"/issue/{ticket.key}")
    assert put.json() == {"fields": {"assignee": {"accountId": CLOUD_USER}}}
    assert changed.assignee == CLOUD_USER


def test_wont_do_sets_the_resolution(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    assert connector.set_status(ticket.key, Status.WONT_DO).status is Status.WONT_DO
    stored = jira_setup.emulator.issue(ticket.key)["fields"]
    assert (stored["status"], stored["resolution"]) == ("Won't Do", "Won't Do")


def test_wont_do_without_such_transition_uses_done_with_resolution(jira_setup: Setup) -> None:
    connector = jira_setup.connector(wont_do_transition="Abandon", wont_do_resolution="Declined")
    (ticket,) = created(connector.create_many([draft(1)]))
    assert connector.set_status(ticket.key, Status.WONT_DO).status is Status.WONT_DO
    stored = jira_setup.emulator.issue(ticket.key)["fields"]
    assert (stored["status"], stored["resolution"]) == ("Done", "Declined")
    (post,) = jira_setup.emulator.requests_to("POST", f"/issue/{ticket.key}/transitions")
    assert post.json()["fields"] == {"resolution": {"name": "Declined"}}


def test_done_sets_resolution_done(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    assert connector.set_status(ticket.key, Status.DONE).status is Status.DONE
    assert jira_setup.emulator.issue(ticket.key)["fields"]["resolution"] == "Done"


def test_set_status_reuses_the_transition_for_the_same_workflow_spot(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    tickets = created(connector.create_many([draft(n) for n in range(1, 4)]))
    emulator = jira_setup.emulator
    emulator.reset_log()

    results = [connector.set_status(t.key, Status.DONE) for t in tickets]

    assert [r.status for r in results] == [Status.DONE] * 3
    assert [emulator.issue(t.key)["fields"]["resolution"] for t in tickets] == ["Done"] * 3
    assert calls(emulator) == [
        *["GET issue", "GET transitions", "POST transitions"],
        *["GET issue", "POST transitions"] * 2,
    ]
    # The read ticket with the new status: nothing re-read after the 204.
    assert (results[0].title, results[0].key) == (tickets[0].title, tickets[0].key)
    # From another status the transitions may differ: looked up again.
    emulator.reset_log()
    assert connector.set_status(tickets[0].key, Status.IN_PROGRESS).status is Status.IN_PROGRESS
    assert calls(emulator) == ["GET issue", "GET transitions", "POST transitions"]


def test_cached_transition_is_per_issue_type(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (task,) = created(connector.create_many([draft(1)]))
    bugs = jira_setup.connector(issue_type="Bug")
    (bug,) = created(bugs.create_many([draft(2)]))
    emulator = jira_setup.emulator
    emulator.reset_log()

    connector.set_status(task.key, Status.IN_PROGRESS)
    connector.set_status(bug.key, Status.IN_PROGRESS)  # another workflow, maybe: look up

    assert calls(emulator) == ["GET issue", "GET transitions", "POST transitions"] * 2
    assert emulator.issue(bug.key)["fields"]["status"] == "In Progress"


def test_refused_cached_transition_is_looked_up_again(
    jira_setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = jira_setup.connector()
    first, second, third = created(connector.create_many([draft(n) for n in range(1, 4)]))
    connector.set_status(first.key, Status.WONT_DO)
    emulator = jira_setup.emulator
    renumber_workflow(emulator)
    emulator.reset_log()

    assert connector.set_status(second.key, Status.WONT_DO).status is Status.WONT_DO
    assert connector.set_status(third.key, Status.WONT_DO).status is Status.WONT_DO

    assert calls(emulator) == [
        *["GET issue", "POST transitions", "GET transitions", "POST transitions"],
        *["GET issue", "POST transitions"],
    ]
    assert [st for _m, path, st in emulator.request_log if path.endswith("/transitions")] == [
        400,
        200,
        204,
        204,
    ]
    assert emulator.issue(third.key)["fields"]["resolution"] == "Won't Do"


def test_other_transition_errors_are_not_retried_with_a_lookup(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    first, second = created(connector.create_many([draft(1), draft(2)]))
    connector.set_status(first.key, Status.IN_PROGRESS)
    emulator = jira_setup.emulator
    emulator.faults.add(Fault(403, match=lambda m, p: m == "POST" and p.endswith("/transitions")))
    emulator.reset_log()
    with pytest.raises(TrackerError) as caught:
        connector.set_status(second.key, Status.IN_PROGRESS)
    assert caught.value.status == 403
    assert calls(emulator) == ["GET issue", "POST transitions"]


def test_cached_transitions_expire(jira_setup: Setup) -> None:
    clock = TickingClock()
    connector = jira_setup.connector(clock=clock)
    tickets = created(connector.create_many([draft(n) for n in range(1, 4)]))
    emulator = jira_setup.emulator
    connector.set_status(tickets[0].key, Status.IN_PROGRESS)
    clock.now += TRANSITION_CACHE_TTL - 1
    emulator.reset_log()
    connector.set_status(tickets[1].key, Status.IN_PROGRESS)
    assert calls(emulator) == ["GET issue", "POST transitions"]
    clock.now += 2
    emulator.reset_log()
    connector.set_status(tickets[2].key, Status.IN_PROGRESS)
    assert calls(emulator) == ["GET issue", "GET transitions", "POST transitions"]


def test_set_status_already_there_is_one_read(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    jira_setup.emulator.calls.clear()
    assert connector.set_status(ticket.key, Status.OPEN).status is Status.OPEN
    assert [r.method for r in jira_setup.emulator.calls] == ["GET"]


def test_missing_issue_is_a_non_retryable_error(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    with pytest.raises(TrackerError) as caught:
        connector.set_status("OPS-404", Status.DONE)
    assert caught.value.status == 404 and not caught.value.retryable
    assert jira_setup.sleep.waits == []


def test_foreign_keys_are_refused_before_any_request(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    for key in ("OTHER-1", "OPS-1/../../myself"):
        with pytest.raises(TrackerError):
            connector.update_fields(key, FieldChanges(title="x"))
    assert jira_setup.emulator.calls == []


# -- rate limits, errors, secrets --------------------------------------------------------------------


def test_read_429_waits_retry_after(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    created(connector.create_many([draft(1)]))
    jira_setup.emulator.faults.add(
        Fault(429, match=lambda m, _p: m == "GET", headers={"Retry-After": "7"}, times=2)
    )
    assert len(list(connector.list_changed_since(None))) == 1
    assert jira_setup.sleep.waits == [7.0, 7.0]
    assert connector.stats.rate_limit_waits == 2


def test_burst_limit_is_survived(jira_setup: Setup) -> None:
    jira_setup.emulator.burst = 4
    connector = jira_setup.connector(sleep=SleepRecorder(real=True))  # let the window pass
    tickets = created(connector.create_many([draft(1), draft(2)]))
    for ticket in tickets:
        connector.set_status(ticket.key, Status.IN_PROGRESS)
    assert 1.0 in jira_setup.sleep.waits
    assert any(status == 429 for _m, _p, status in jira_setup.emulator.request_log)


def test_503_with_retry_after_is_a_rate_limit(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    jira_setup.emulator.faults.add(
        Fault(503, match=lambda m, _p: m == "PUT", headers={"Retry-After": "2"}, times=10)
    )
    with pytest.raises(RateLimited) as caught:
        connector.update_fields(ticket.key, FieldChanges(title="x"))
    assert caught.value.retry_after == 2.0
    assert jira_setup.sleep.waits == [2.0] * 4  # five attempts in all


def test_wrong_token_fails_without_leaking_it(jira_setup: Setup) -> None:
    connector = jira_setup.connector(token="wrong-s3cr3t")
    with pytest.raises(TrackerError) as caught:
        list(connector.list_changed_since(None))
    assert caught.value.status == 401 and not caught.value.retryable
    assert "s3cr3t" not in str(caught.value)


def test_secrets_stay_out_of_repr_and_errors(jira_setup: Setup) -> None:
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    texts = [repr(connector), repr(connector.config), str(connector.config), repr(vars(connector))]
    jira_setup.emulator.faults.add(
        Fault(400, match=lambda m, _p: m == "PUT", body={"errorMessages": ["nope"], "errors": {}})
    )
    with pytest.raises(TrackerError) as caught:
        connector.update_fields(ticket.key, FieldChanges(title="x"))
    texts += [str(caught.value), repr(caught.value)]
    assert "nope" in str(caught.value)
    assert not [t for t in texts if TOKEN in t]


def test_connection_refused_is_retryable_and_counted(jira_setup: Setup) -> None:
    connector = jira_setup.connector(url="http://127.0.0.1:9")
    with pytest.raises(TrackerError) as caught:
        connector.get_many(["OPS-1"])
    assert caught.value.retryable
    assert connector.stats.errors >= 1


# -- config and keys -----------------------------------------------------------------------------------


def test_parse_key_forms(jira_setup: Setup) -> None:
    connector = jira_setup.connector(browse_url="https://jira.example.com")
    url = jira_setup.emulator.url
    cases: dict[str, str | None] = {
        "OPS-12": "OPS-12",
        " ops-12 ": "OPS-12",
        f"{url}/browse/OPS-12": "OPS-12",
        "https://jira.example.com/browse/OPS-7?focusedCommentId=1#c": "OPS-7",
        "[OPS-3](https://jira.example.com/browse/OPS-3)": "OPS-3",
        "<https://jira.example.com/browse/OPS-4>": "OPS-4",
        "OTHER-12": None,
        "https://elsewhere.example.com/browse/OPS-12": None,
        "https://jira.example.com/browse/OTHER-1": None,
        "OPS-12abc": None,
        "#12": None,
        "": None,
    }
    assert {text: connector.parse_key(text) for text in cases} == cases
    (ticket,) = created(connector.create_many([draft(1)]))
    assert ticket.url == f"https://jira.example.com/browse/{ticket.key}"


def test_config_validation() -> None:
    base = {"kind": "jira", "url": "https://x.atlassian.net/", "project": "ops", "token": "t"}
    config = JiraConfig.model_validate(base)
    assert (config.url, config.project, config.auth_scheme) == (
        "https://x.atlassian.net",
        "OPS",
        "bearer",
    )
    assert JiraConfig.model_validate({**base, "email": "a@b.c"}).auth_scheme == "basic"
    for bad in (
        {"projcet": "OPS"},
        {"url": "x.atlassian.net"},
        {"auth": "basic"},
        {"priorities": {"P9": "High"}},
        {"timezone": "Mars/Olympus"},
        {"kind": "github"},
    ):
        with pytest.raises(ValueError):
            JiraConfig.model_validate({**base, **bad})
    assert "**********" in repr(config)
    assert JiraConnector.Config is JiraConfig
    assert emulator_class("jira") is JiraEmulator  # found by entry point, not named


def test_explicit_deployment_overrides_server_info(jira_setup: Setup) -> None:
    # The emulator claims Cloud; "server" forces the Data Center path (/search), which
    # this Cloud emulator answers with 410 like production.
    connector = jira_setup.connector(deployment="server")
    with pytest.raises(TrackerError) as caught:
        list(connector.list_changed_since(None))
    assert caught.value.status == 410


def test_registry_builds_from_a_section(jira_setup: Setup) -> None:
    from connectors import registry

    try:
        built = registry.build("jira", jira_setup.emulator.connector_section())
    except registry.UnknownConnector:
        pytest.skip("package entry points not installed in this venv")
    assert isinstance(built, JiraConnector)
    built.close()


def test_a_naive_cursor_is_read_as_utc(jira_setup: Setup) -> None:
    """A cursor stored without a zone (an older state file) is UTC, never local time."""
    connector = jira_setup.connector()
    (ticket,) = created(connector.create_many([draft(1)]))
    jira_setup.emulator.advance_clock(timedelta(minutes=10))
    mark = jira_setup.emulator.now()
    jira_setup.emulator.human_set_status(ticket.key, Status.DONE)
    changed = list(connector.list_changed_since(mark.replace(tzinfo=None)))
    assert [t.key for t in changed] == [ticket.key]
