"""GitHub connector: the shared conformance suite plus GitHub's own wire hazards,
all through the real PyGithub client against the loopback emulator."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from typing import Any

import pytest
from github import Auth, Github, GithubException
from pydantic import ValidationError

from connectors.base import Connector, FieldChanges, RateLimited, TrackerError
from connectors.github import GitHubConfig, GitHubConnector
from connectors.github.connector import HOURLY_MAX_WAIT
from connectors.registry import build
from connectors.testing.conformance import (
    ConnectorConformance,
    FakeClock,
    Harness,
    created,
    draft,
    fast_sleep,
)
from connectors.testing.emulation import Fault
from connectors.testing.github import SECONDARY_MESSAGE, GitHubEmulator
from syncd.model import Status

TOKEN = "s3cr3t-token"
REPO = "acme/reliability"


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[GitHubEmulator]:
    # One server for the module, reset per test: stopping a server costs 0.5 s.
    em = GitHubEmulator(repo=REPO)
    em.start()
    yield em
    em.stop()


@pytest.fixture
def emulator(shared_emulator: GitHubEmulator) -> GitHubEmulator:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def make(emulator: GitHubEmulator) -> Iterator[Any]:
    built: list[GitHubConnector] = []

    def make_connector(em: GitHubEmulator | None = None, **overrides: Any) -> GitHubConnector:
        overrides.setdefault("writes_per_minute", 60_000)
        sleep = overrides.pop("sleep", fast_sleep)
        clock = overrides.pop("clock", time.monotonic)
        section = (em or emulator).connector_section(token=TOKEN, **overrides)
        config = GitHubConfig.model_validate(section)
        connector = GitHubConnector("github", config, clock=clock, sleep=sleep)
        built.append(connector)
        return connector

    yield make_connector
    for connector in built:
        connector.close()


@pytest.fixture
def _harness(emulator: GitHubEmulator, make: Any) -> Harness:
    return Harness(connector=make(), emulator=emulator, make_connector=make)


class TestGitHubConformance(ConnectorConformance):
    @pytest.fixture
    def harness(self, _harness: Harness) -> Harness:
        return _harness


def plain_github(emulator: GitHubEmulator) -> Github:
    return Github(
        auth=Auth.Token(TOKEN),
        base_url=emulator.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def posts(emulator: GitHubEmulator) -> int:
    return emulator.counts()["POST"]


# -- listings -------------------------------------------------------------------------------
def test_pull_requests_are_filtered_out(emulator: GitHubEmulator, make: Any) -> None:
    pr = emulator.human_create_pr("Fix the pool", labels=["postmortem-action"])
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    assert [t.key for t in connector.list_changed_since(None)] == [ticket.key]
    assert set(connector.find_by_markers(["pm-000000000001"])) == {"pm-000000000001"}
    assert connector.get_many([pr, ticket.key]).keys() == {ticket.key}
    assert emulator.issue_count() == 1


def test_unmanaged_issue_is_still_readable_by_key(emulator: GitHubEmulator, make: Any) -> None:
    key = emulator.human_create("Linked by hand in the doc")
    got = make().get_many([key, f"{REPO}#999"])
    assert list(got) == [key]
    assert got[key].marker is None


def test_listing_sends_since_and_follows_link_pages(emulator: GitHubEmulator, make: Any) -> None:
    connector = make(page_size=50)
    created(connector.create_many([draft(n) for n in range(1, 131)]))
    emulator.advance_clock(timedelta(minutes=30))
    mark = emulator.now() - timedelta(minutes=10)
    emulator.human_set_status(f"{REPO}#7", Status.DONE)
    emulator.request_queries.clear()

    listed = list(connector.list_changed_since(mark))
    assert [t.key for t in listed] == [f"{REPO}#7"]

    emulator.advance_clock(timedelta(minutes=30))
    emulator.request_queries.clear()
    for n in range(1, 131):  # touch everything: three pages of 50
        emulator.human_edit(n, title=f"Edited {n}")
    listed = list(connector.list_changed_since(emulator.now() - timedelta(minutes=1)))
    assert len({t.key for t in listed}) == 130

    pages = [query for method, path, query in emulator.request_queries if method == "GET"]
    assert [q.get("page", ["1"])[0] for q in pages] == ["1", "2", "3"]
    first = pages[0]
    assert first["state"] == ["all"]
    assert first["labels"] == ["postmortem-action"]
    assert (first["sort"], first["direction"], first["per_page"]) == (["updated"], ["asc"], ["50"])
    sent = first["since"][0]
    expected = (emulator.now() - timedelta(minutes=3)).astimezone(UTC)
    assert sent[:13] == expected.strftime("%Y-%m-%dT%H")  # since minus the 2-minute overlap
    assert sent.endswith("Z")


def test_no_change_listing_with_cursor_is_one_read(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    created(connector.create_many([draft(n) for n in range(1, 4)]))
    emulator.advance_clock(timedelta(minutes=10))
    reads = connector.stats.reads
    emulator.reset_log()

    assert list(connector.list_changed_since(emulator.now())) == []
    assert connector.stats.reads == reads + 1
    assert emulator.request_log == [("GET", f"/repos/{REPO}/issues", 200)]


def test_get_many_uses_one_listing_for_many_keys(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    tickets = created(connector.create_many([draft(n) for n in range(1, 13)]))
    by_hand = emulator.human_create("Not managed")
    emulator.reset_log()

    got = connector.get_many([t.key for t in tickets] + [by_hand])
    assert set(got) == {t.key for t in tickets} | {by_hand}
    assert emulator.request_log == [
        ("GET", f"/repos/{REPO}/issues", 200),
        ("GET", f"/repos/{REPO}/issues/13", 200),
    ]


def test_listing_failure_raises_instead_of_returning_part(
    emulator: GitHubEmulator, make: Any
) -> None:
    connector = make(page_size=10)
    created(connector.create_many([draft(n) for n in range(1, 26)]))
    emulator.faults.add(Fault(500, match=lambda m, p: m == "GET", times=-1))
    with pytest.raises(TrackerError):
        list(connector.list_changed_since(None))
    emulator.faults.clear()


# -- creates ----------------------------------------------------------------------------------
def test_502_on_create_is_sent_once_and_ambiguous(emulator: GitHubEmulator, make: Any) -> None:
    emulator.faults.add(Fault(502, match=lambda m, _p: m == "POST", after_apply=True))
    outcomes = make().create_many([draft(1), draft(2)])
    assert outcomes[0].ambiguous and outcomes[0].ticket is None
    assert outcomes[1].ticket is not None
    assert posts(emulator) == 2  # one POST per draft: PyGithub's re-POST is off
    assert emulator.issue_count() == 2


def test_dropped_connection_on_create_is_ambiguous(emulator: GitHubEmulator, make: Any) -> None:
    emulator.faults.add(Fault(0, match=lambda m, _p: m == "POST", after_apply=True))
    (outcome,) = make().create_many([draft(1)])
    assert outcome.ambiguous
    assert posts(emulator) == 1


def test_create_that_never_connected_is_not_ambiguous(make: Any) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (outcome,) = make(url=f"http://127.0.0.1:{port}").create_many([draft(1)])
    assert outcome.error and not outcome.ambiguous


def test_422_on_create_is_a_plain_error(emulator: GitHubEmulator, make: Any) -> None:
    emulator.faults.add(Fault(422, match=lambda m, _p: m == "POST", body={"message": "nope"}))
    outcomes = make().create_many([draft(1), draft(2)])
    assert outcomes[0].error and not outcomes[0].ambiguous
    assert outcomes[1].ticket is not None


def test_create_writes_body_marker_labels_and_assignee(emulator: GitHubEmulator, make: Any) -> None:
    (ticket,) = created(make().create_many([draft(1, assignee="bob", labels=("sre",))]))
    (issue,) = emulator.issues()
    assert issue["body"].endswith(
        "**Due:** 2026-07-02\n\n<!-- postmortem-syncd:marker=pm-000000000001 -->\n"
    )
    assert {label["name"] for label in issue["labels"]} == {
        "postmortem-action",
        "sre",
        "priority: P1",
    }
    assert ticket.assignee == "bob"


def test_draft_already_done_is_created_closed(emulator: GitHubEmulator, make: Any) -> None:
    (ticket,) = created(make().create_many([draft(1, status=Status.WONT_DO)]))
    assert ticket.status is Status.WONT_DO
    assert emulator.issues()[0]["state_reason"] == "not_planned"


# -- pacing and rate limits ----------------------------------------------------------------
def test_writes_are_paced(make: Any) -> None:
    clock = FakeClock()
    connector = make(writes_per_minute=600, clock=clock.monotonic, sleep=clock.sleep)
    created(connector.create_many([draft(n) for n in range(1, 11)]))
    assert clock.now == pytest.approx(0.9)
    list(connector.list_changed_since(None))  # reads are not paced
    assert clock.now == pytest.approx(0.9)


def test_default_pacing_stays_under_githubs_content_limits(emulator: GitHubEmulator) -> None:
    config = GitHubConfig.model_validate(emulator.connector_section(token=TOKEN))
    assert config.writes_per_minute == 76  # 95% of GitHub's 80 a minute
    assert config.creates_per_hour == 480  # 96% of GitHub's 500 an hour
    connector = GitHubConnector("github", config)
    assert connector._pacer.interval == pytest.approx(60 / 76)
    connector.close()


def test_hourly_budget_stops_the_batch_before_github_would(
    emulator: GitHubEmulator, make: Any
) -> None:
    clock = FakeClock()
    connector = make(creates_per_hour=3, clock=clock.monotonic, sleep=clock.sleep)

    outcomes = connector.create_many([draft(n) for n in range(1, 6)])

    assert [o.ticket is not None for o in outcomes] == [True, True, True, False, False]
    assert not any(o.ambiguous for o in outcomes)
    refused = outcomes[3]
    assert "creates_per_hour" in (refused.error or "") and "not sent" in (refused.error or "")
    assert refused.retry_after == pytest.approx(3600, abs=0.01)  # the first create ages out
    assert outcomes[4].retry_after == refused.retry_after
    assert (outcomes[4].error or "").startswith("not attempted: rate limited")
    assert emulator.counts()["POST"] == 3 and emulator.issue_count() == 3
    assert max(clock.sleeps) < 1  # refused at once, not slept on
    assert connector.stats.errors == 0  # nothing was sent, nothing failed on the wire


def test_hourly_budget_waits_for_a_slot_that_frees_soon(make: Any) -> None:
    clock = FakeClock()
    connector = make(creates_per_hour=2, clock=clock.monotonic, sleep=clock.sleep)
    created(connector.create_many([draft(1), draft(2)]))
    clock.now = 3600 - 30  # the first create leaves the window in 30 s

    (ticket,) = created(connector.create_many([draft(3)]))

    assert ticket.title == "Action item 3"
    assert max(clock.sleeps) == pytest.approx(30, abs=0.01)  # < HOURLY_MAX_WAIT: waited
    assert HOURLY_MAX_WAIT > 30
    assert clock.now == pytest.approx(3600, abs=0.01)


def test_hourly_budget_slides(make: Any) -> None:
    clock = FakeClock()
    connector = make(creates_per_hour=2, clock=clock.monotonic, sleep=clock.sleep)
    created(connector.create_many([draft(1)]))
    clock.now = 1800.0
    created(connector.create_many([draft(2)]))
    clock.now = 3601.0  # the first create aged out, the second did not
    outcomes = connector.create_many([draft(3), draft(4)])
    assert [o.ticket is not None for o in outcomes] == [True, False]
    assert outcomes[1].retry_after == pytest.approx(1800 - 1, abs=0.01)
    clock.now = 1800.0 + 3600.0
    created(connector.create_many([draft(4)]))


def test_hourly_budget_counts_milestone_creates(emulator: GitHubEmulator, make: Any) -> None:
    clock = FakeClock()
    connector = make(due="milestone", creates_per_hour=2, clock=clock.monotonic, sleep=clock.sleep)
    outcomes = connector.create_many([draft(1), draft(2)])  # milestone + issue, then refused
    assert [o.ticket is not None for o in outcomes] == [True, False]
    assert outcomes[1].retry_after is not None and outcomes[1].retry_after > HOURLY_MAX_WAIT
    assert emulator.counts()["POST"] == 2


def test_emulated_hourly_secondary_limit_stops_the_batch(make: Any) -> None:
    with GitHubEmulator(repo=REPO, secondary_limit_per_hour=3) as em:
        connector = make(em)  # budget 480: only GitHub's (emulated) 3 an hour applies
        outcomes = connector.create_many([draft(n) for n in range(1, 6)])
        assert [o.ticket is not None for o in outcomes] == [True, True, True, False, False]
        assert "secondary rate limit" in (outcomes[3].error or "")
        assert outcomes[3].retry_after is not None and 3590 <= outcomes[3].retry_after <= 3600
        assert em.secondary_limit_hits == 1 and em.issue_count() == 3
        em.advance_clock(timedelta(minutes=59))
        assert connector.create_many([draft(4)])[0].error
        em.advance_clock(timedelta(minutes=2))
        created(connector.create_many([draft(4)]))


def test_hourly_budget_under_githubs_limit_means_no_limit_hits(make: Any) -> None:
    clock = FakeClock()
    with GitHubEmulator(repo=REPO, secondary_limit_per_hour=5) as em:
        connector = make(em, creates_per_hour=4, clock=clock.monotonic, sleep=clock.sleep)
        outcomes = connector.create_many([draft(n) for n in range(1, 7)])
        assert [o.ticket is not None for o in outcomes] == [True] * 4 + [False] * 2
        assert em.secondary_limit_hits == 0 and em.issue_count() == 4


def test_emulator_minute_and_hour_limits_together() -> None:
    with GitHubEmulator(repo=REPO, secondary_limit_per_minute=2, secondary_limit_per_hour=3) as em:
        gh = plain_github(em)
        repo = gh.get_repo(REPO)
        repo.create_issue("one")
        repo.create_issue("two")
        with pytest.raises(GithubException) as minute:
            repo.create_issue("three")
        assert minute.value.status == 403 and 55 <= int(minute.value.headers["retry-after"]) <= 60
        em.advance_clock(timedelta(seconds=61))
        repo.create_issue("three")
        with pytest.raises(GithubException) as hour:
            repo.create_issue("four")
        assert 3500 <= int(hour.value.headers["retry-after"]) <= 3540
        assert em.secondary_limit_hits == 2 and em.issue_count() == 3
        gh.close()


def test_read_waits_exactly_retry_after(emulator: GitHubEmulator, make: Any) -> None:
    clock = FakeClock()
    connector = make(clock=clock.monotonic, sleep=clock.sleep)
    emulator.faults.add(Fault(429, match=lambda m, _p: m == "GET", headers={"Retry-After": "3"}))
    assert list(connector.list_changed_since(None)) == []
    assert clock.sleeps == [3.0]
    assert (connector.stats.rate_limit_waits, connector.stats.errors) == (1, 1)


def test_secondary_limit_stops_the_batch(make: Any) -> None:
    with GitHubEmulator(repo=REPO, secondary_limit_per_minute=3) as em:
        outcomes = make(em).create_many([draft(n) for n in range(1, 6)])
        assert [o.ticket is not None for o in outcomes] == [True, True, True, False, False]
        assert not any(o.ambiguous for o in outcomes)
        assert "secondary rate limit" in (outcomes[3].error or "")
        assert (outcomes[4].error or "").startswith("not attempted: rate limited, retry after")
        assert em.secondary_limit_hits == 1
        assert em.counts()["POST"] == 4 and em.issue_count() == 3


def test_secondary_limit_clears_after_a_minute(make: Any) -> None:
    with GitHubEmulator(repo=REPO, secondary_limit_per_minute=2, clock_scale=600) as em:
        connector = make(em)
        created(connector.create_many([draft(1), draft(2)]))
        assert connector.create_many([draft(3)])[0].error
        time.sleep(0.12)  # 72 emulated seconds
        created(connector.create_many([draft(3)]))


@pytest.mark.parametrize(("headers", "expected"), [({"retry-after": "7"}, 7.0), ({}, 60.0)])
def test_secondary_limit_is_rate_limited_with_retry_after(
    emulator: GitHubEmulator, make: Any, headers: dict[str, str], expected: float
) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    emulator.faults.add(
        Fault(
            403,
            match=lambda m, _p: m == "PATCH",
            body={"message": SECONDARY_MESSAGE},
            headers=headers,
            times=-1,
        )
    )
    with pytest.raises(RateLimited) as caught:
        connector.update_fields(ticket.key, FieldChanges(title="x"))
    emulator.faults.clear()
    assert caught.value.retry_after == expected
    assert connector.stats.rate_limit_waits == 4  # retried, honouring the wait, then gave up


def test_primary_limit_waits_for_the_reset(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    emulator.primary_limit = 0
    with pytest.raises(RateLimited) as caught:
        list(connector.list_changed_since(None))
    assert caught.value.retry_after is not None and 3500 < caught.value.retry_after <= 3601
    assert "API rate limit exceeded" in str(caught.value)


def test_every_answer_has_rate_limit_headers(emulator: GitHubEmulator) -> None:
    gh = plain_github(emulator)
    list(gh.get_repo(REPO).get_issues())
    assert gh.rate_limiting == (4998, 5000)  # GET /repos/o/r, then GET …/issues
    gh.close()


# -- status and fields -----------------------------------------------------------------------
def test_close_reasons_are_sent(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    done, dropped = created(connector.create_many([draft(1), draft(2)]))
    connector.set_status(done.key, Status.DONE)
    connector.set_status(dropped.key, Status.WONT_DO)
    reasons = [(i["state"], i["state_reason"]) for i in emulator.issues()]
    assert reasons == [("closed", "completed"), ("closed", "not_planned")]

    reopened = connector.set_status(done.key, Status.OPEN)
    assert reopened.status is Status.OPEN
    assert emulator.issue(done.key)["state_reason"] == "reopened"


def test_changing_the_close_reason_of_a_closed_issue(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    connector.set_status(ticket.key, Status.DONE)
    assert connector.set_status(ticket.key, Status.WONT_DO).status is Status.WONT_DO
    assert emulator.issue(ticket.key)["state_reason"] == "not_planned"


def test_human_in_progress_and_close_are_read_back(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    emulator.human_set_status(ticket.key, Status.IN_PROGRESS)
    assert connector.get_many([ticket.key])[ticket.key].status is Status.IN_PROGRESS
    emulator.human_set_status(ticket.key, Status.WONT_DO)
    assert connector.get_many([ticket.key])[ticket.key].status is Status.WONT_DO


def test_title_only_update_is_one_patch(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    emulator.reset_log()
    assert connector.update_fields(ticket.key, FieldChanges(title="New")).title == "New"
    assert emulator.request_log == [("PATCH", f"/repos/{REPO}/issues/1", 200)]


def test_due_line_is_rewritten_in_place(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    (ticket,) = created(connector.create_many([draft(1)]))
    emulator.human_edit(
        ticket.key, body=emulator.issue(ticket.key)["body"] + "\nNotes by a human.\n"
    )
    connector.update_fields(ticket.key, FieldChanges(due=date(2026, 12, 24), assignee="carol"))
    body = emulator.issue(ticket.key)["body"]
    assert "**Due:** 2026-12-24" in body and "2026-07-02" not in body
    assert body.endswith("Notes by a human.\n")

    cleared = connector.update_fields(ticket.key, FieldChanges(due=None, priority=None))
    assert (cleared.due, cleared.priority, cleared.assignee) == (None, None, "carol")
    assert "**Due:**" not in emulator.issue(ticket.key)["body"]
    assert "postmortem-action" in cleared.labels


def test_milestone_mode_round_trips(emulator: GitHubEmulator, make: Any) -> None:
    connector = make(due="milestone")
    drafts = [draft(1, due=date(2026, 7, 1)), draft(2, due=date(2026, 7, 1)), draft(3)]
    tickets = created(connector.create_many(drafts))
    assert [t.due for t in tickets] == [date(2026, 7, 1), date(2026, 7, 1), date(2026, 7, 4)]
    assert [m["title"] for m in emulator.milestones()] == ["Due 2026-07-01", "Due 2026-07-04"]
    assert "**Due:**" not in emulator.issues()[0]["body"]

    fresh = make(due="milestone")
    fresh.update_fields(tickets[2].key, FieldChanges(due=date(2026, 7, 1)))
    assert len(emulator.milestones()) == 2  # found by listing, not created again
    assert make(due="milestone").get_many([tickets[2].key])[tickets[2].key].due == date(2026, 7, 1)
    cleared = fresh.update_fields(tickets[2].key, FieldChanges(due=None))
    assert cleared.due is None


# -- keys, config, secrets -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("acme/reliability#12", "acme/reliability#12"),
        ("ACME/Reliability#12", "acme/reliability#12"),
        ("#12", "acme/reliability#12"),
        (" #12 ", "acme/reliability#12"),
        ("https://github.com/acme/reliability/issues/12", "acme/reliability#12"),
        ("https://github.com/acme/reliability/issues/12#issuecomment-1", "acme/reliability#12"),
        ("[#12](https://github.com/acme/reliability/issues/12)", "acme/reliability#12"),
        ("http://127.0.0.1:8080/acme/reliability/issues/12", "acme/reliability#12"),
        ("https://ghe.example.com/acme/reliability/issues/12", "acme/reliability#12"),
        ("other/repo#12", None),
        ("https://github.com/acme/reliability/pull/12", None),
        ("https://github.com/other/repo/issues/12", None),
        ("OPS-12", None),
        ("12", None),
        ("", None),
    ],
)
def test_parse_key(make: Any, text: str, key: str | None) -> None:
    assert make().parse_key(text) == key


def test_config_is_strict(emulator: GitHubEmulator) -> None:
    section = emulator.connector_section()
    with pytest.raises(ValidationError):
        GitHubConfig.model_validate({**section, "writes_per_minut": 10})
    with pytest.raises(ValidationError):
        GitHubConfig.model_validate({**section, "priority_labels": {"P9": "x"}})
    with pytest.raises(ValidationError):
        GitHubConfig.model_validate({**section, "repo": "no-slash"})
    with pytest.raises(ValidationError):
        GitHubConfig.model_validate({**section, "page_size": 101})


def test_registry_builds_it(emulator: GitHubEmulator) -> None:
    connector = build("github", emulator.connector_section(token=TOKEN))
    assert isinstance(connector, GitHubConnector) and isinstance(connector, Connector)
    assert TOKEN not in repr(connector) and TOKEN not in repr(connector.config)
    connector.close()


def test_token_not_in_any_error(emulator: GitHubEmulator, make: Any) -> None:
    connector = make()
    for status in (401, 403, 500, 0):
        emulator.faults.add(Fault(status, body={"message": "Bad credentials"}, times=-1))
        outcome = connector.create_many([draft(status)])[0]
        with pytest.raises(TrackerError) as caught:
            connector.get_many(["#1"])
        emulator.faults.clear()
        assert TOKEN not in (outcome.error or "") and TOKEN not in str(caught.value)


def test_stats_count_every_page(emulator: GitHubEmulator, make: Any) -> None:
    connector = make(page_size=10)
    created(connector.create_many([draft(n) for n in range(1, 26)]))
    before = connector.stats.reads
    assert len(list(connector.list_changed_since(None))) == 25
    assert connector.stats.reads == before + 3
    assert connector.stats.by_kind["GET issues"] == 3
    assert connector.stats.by_kind["POST issues"] == 25


# -- the emulator itself, through plain PyGithub ----------------------------------------------
def test_emulator_search_and_etag(emulator: GitHubEmulator, make: Any) -> None:
    created(make().create_many([draft(1), draft(2)]))
    emulator.human_create("pm-000000000001 mentioned elsewhere")
    gh = plain_github(emulator)
    found = gh.search_issues("pm-000000000001 is:issue", repo=REPO, label="postmortem-action")
    assert [issue.number for issue in found] == [1]

    issue = gh.get_repo(REPO).get_issue(2)
    assert issue.update() is False  # 304 on If-None-Match
    emulator.human_edit(2, title="changed")
    assert issue.update() is True and issue.title == "changed"
    gh.close()
