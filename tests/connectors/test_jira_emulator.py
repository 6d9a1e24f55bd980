"""The Jira emulator: wire behaviour the `jira` library and the connector rely on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from connectors.testing.jira import JiraEmulator, parse_jql
from syncd.model import Status

TOKEN = "s3cr3t-token"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")


@pytest.fixture
def cloud() -> Iterator[JiraEmulator]:
    with JiraEmulator(token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture
def server() -> Iterator[JiraEmulator]:
    with JiraEmulator(deployment="Server", token=TOKEN) as emulator:
        yield emulator  # type: ignore[misc]


def client(emulator: JiraEmulator) -> JIRA:
    if emulator.deployment == "Cloud":
        return JIRA(emulator.url, basic_auth=("bot@example.com", TOKEN), max_retries=0)
    return JIRA(emulator.url, token_auth=TOKEN, max_retries=0)


def call(emulator: JiraEmulator, method: str, path: str, **kw: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", **kw.pop("headers", {})}
    return requests.request(
        method, f"{emulator.url}/rest/api/2/{path}", headers=headers, timeout=5, **kw
    )


def make_issue(emulator: JiraEmulator, **fields: Any) -> dict[str, Any]:
    body = {
        "fields": {
            "project": {"key": "OPS"},
            "issuetype": {"name": "Task"},
            "summary": "A task",
            **fields,
        }
    }
    response = call(emulator, "POST", "issue", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# -- through the real library -------------------------------------------------------------------


def test_library_create_update_transition_comment_on_cloud(cloud: JiraEmulator) -> None:
    jira = client(cloud)
    assert jira._is_cloud and jira._version == (1001, 0, 0)
    issue = jira.create_issue(
        fields={
            "project": {"key": "OPS"},
            "issuetype": {"name": "Task"},
            "summary": "From the library",
            "labels": ["postmortem-action"],
        }
    )
    assert issue.key == "OPS-1" and issue.fields.status.statusCategory.key == "new"
    issue.update(fields={"summary": "Renamed"})
    assert issue.fields.summary == "Renamed"
    jira.transition_issue(issue, "In Progress")  # by name: GET transitions, then POST
    jira.transition_issue(issue.key, "31")  # numeric: the id travels as an int
    jira.add_comment(issue.key, "closing")
    stored = cloud.issue("OPS-1")["fields"]
    assert (stored["status"], stored["resolution"]) == ("Done", "Done")
    assert cloud.issue("OPS-1")["comments"][0]["body"] == "closing"
    posts = cloud.requests_to("POST", "/transitions")
    assert [r.json()["transition"]["id"] for r in posts] == ["21", 31]


def test_library_search_fetches_all_pages_on_cloud_and_server(
    cloud: JiraEmulator, server: JiraEmulator
) -> None:
    for emulator in (cloud, server):
        for n in range(120):
            make_issue(emulator, summary=f"issue {n}", labels=["pm"])
        jira = client(emulator)
        if emulator.deployment == "Cloud":
            found = jira.enhanced_search_issues("labels = pm", maxResults=False)
        else:
            found = jira.search_issues("labels = pm", maxResults=False)
        assert len({i.key for i in found}) == 120
        assert len(emulator.requests_to("GET", "/field")) == 1  # cached after one non-empty answer


def test_library_sees_json_errors(cloud: JiraEmulator) -> None:
    jira = client(cloud)
    with pytest.raises(JIRAError) as caught:
        jira.create_issue(fields={"project": {"key": "OPS"}, "issuetype": {"name": "Task"}})
    assert caught.value.status_code == 400 and "summary" in str(caught.value.text).lower()


def test_library_bulk_create_and_users(cloud: JiraEmulator, server: JiraEmulator) -> None:
    jira = client(cloud)
    results = jira.create_issues(
        [
            {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "one"},
            {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": ""},
        ],
        prefetch=False,
    )
    assert [r["status"] for r in results] == ["Success", "Error"]
    assert "accountId" in jira.myself() and "name" not in jira.myself()
    assert [u.accountId for u in jira.search_users(query="alice")] == ["5b10ac8d82e05b22cc7d4ef5"]
    assert client(server).myself()["name"] == "syncd-bot"


# -- endpoints -------------------------------------------------------------------------------------


def test_issue_shape(cloud: JiraEmulator) -> None:
    created = make_issue(cloud, duedate="2026-07-01", priority={"name": "High"})
    assert created["self"] == f"{cloud.url}/rest/api/2/issue/{created['id']}"
    by_id = call(cloud, "GET", f"issue/{created['id']}").json()
    by_key = call(cloud, "GET", f"issue/{created['key']}").json()
    assert by_id == by_key
    fields = by_key["fields"]
    assert STAMP.match(fields["updated"]) and STAMP.match(fields["created"])
    assert fields["status"]["statusCategory"] == {
        "self": f"{cloud.url}/rest/api/2/statuscategory/2",
        "id": 2,
        "key": "new",
        "colorName": "blue-gray",
        "name": "To Do",
    }
    assert (fields["duedate"], fields["priority"]["name"], fields["resolution"]) == (
        "2026-07-01",
        "High",
        None,
    )
    only = call(cloud, "GET", f"issue/{created['key']}", params={"fields": "summary,labels"})
    assert set(only.json()["fields"]) == {"summary", "labels"}
    assert call(cloud, "GET", "issue/OPS-99").status_code == 404


def test_users_differ_between_cloud_and_server(cloud: JiraEmulator, server: JiraEmulator) -> None:
    make_issue(cloud, assignee={"accountId": "5b10ac8d82e05b22cc7d4ef5"})
    assert call(cloud, "GET", "issue/OPS-1").json()["fields"]["assignee"]["accountId"]
    rejected = call(
        cloud, "POST", "issue", json={"fields": {"summary": "x", "assignee": {"name": "alice"}}}
    )
    assert rejected.status_code == 400 and "assignee" in rejected.json()["errors"]
    make_issue(server, assignee={"name": "alice"})
    user = call(server, "GET", "issue/OPS-1").json()["fields"]["assignee"]
    assert user["name"] == "alice" and "accountId" not in user


def test_edit_is_204_and_leaves_updated_alone_when_nothing_changes(cloud: JiraEmulator) -> None:
    make_issue(cloud, summary="same")
    before = cloud.issue("OPS-1")["fields"]["updated"]
    cloud.advance_clock(timedelta(minutes=1))
    assert (
        call(cloud, "PUT", "issue/OPS-1", json={"fields": {"summary": "same"}}).status_code == 204
    )
    assert cloud.issue("OPS-1")["fields"]["updated"] == before
    call(cloud, "PUT", "issue/OPS-1", json={"fields": {"summary": "new"}, "update": {}})
    assert cloud.issue("OPS-1")["fields"]["updated"] > before
    bad = call(cloud, "PUT", "issue/OPS-1", json={"fields": {"labels": ["has space"]}})
    assert bad.status_code == 400 and bad.json()["errors"]["labels"]


def test_transitions_and_resolution_rules(cloud: JiraEmulator) -> None:
    make_issue(cloud)
    listed = call(cloud, "GET", "issue/OPS-1/transitions", params={"expand": "transitions.fields"})
    by_name = {t["name"]: t for t in listed.json()["transitions"]}
    assert set(by_name) == {"In Progress", "Done", "Won't Do"}  # not to the current status
    assert "resolution" in by_name["Done"]["fields"] and by_name["Won't Do"]["fields"] == {}
    refused = call(
        cloud,
        "POST",
        "issue/OPS-1/transitions",
        json={"transition": {"id": "41"}, "fields": {"resolution": {"name": "Done"}}},
    )
    assert refused.status_code == 400  # no screen on "Won't Do"
    ok = call(cloud, "POST", "issue/OPS-1/transitions", json={"transition": {"id": 41}})
    assert ok.status_code == 204
    assert cloud.issue("OPS-1")["fields"]["resolution"] == "Won't Do"
    cloud.human_set_status("OPS-1", Status.OPEN)
    assert cloud.issue("OPS-1")["fields"]["resolution"] is None


def test_bulk_limits_and_element_errors(cloud: JiraEmulator) -> None:
    task = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "x"}
    too_many = call(cloud, "POST", "issue/bulk", json={"issueUpdates": [{"fields": task}] * 51})
    assert too_many.status_code == 400 and too_many.json()["errorMessages"]
    mixed = call(
        cloud,
        "POST",
        "issue/bulk",
        json={"issueUpdates": [{"fields": task}, {"fields": {**task, "priority": {"name": "?"}}}]},
    )
    assert mixed.status_code == 201
    (error,) = mixed.json()["errors"]
    assert error["failedElementNumber"] == 1 and "priority" in error["elementErrors"]["errors"]
    assert len(mixed.json()["issues"]) == 1 == cloud.issue_count()


def test_cloud_search_endpoints(cloud: JiraEmulator) -> None:
    for n in range(3):
        make_issue(cloud, summary=f"n{n}", labels=["a"])
    gone = call(cloud, "GET", "search", params={"jql": "project = OPS"})
    assert gone.status_code == 410 and "search/jql" in gone.json()["errorMessages"][0]
    unbounded = call(cloud, "GET", "search/jql", params={"jql": "ORDER BY key"})
    assert unbounded.status_code == 400
    repeated = call(
        cloud,
        "GET",
        "search/jql",
        params={"jql": "labels = a ORDER BY key ASC", "fields": ["summary", "labels"]},
    )
    commas = call(
        cloud,
        "GET",
        "search/jql",
        params={"jql": "labels = a ORDER BY key ASC", "fields": "summary,labels"},
    )
    assert repeated.json() == commas.json()
    assert [i["key"] for i in repeated.json()["issues"]] == ["OPS-1", "OPS-2", "OPS-3"]
    ids_only = call(cloud, "GET", "search/jql", params={"jql": "labels = a"}).json()
    assert set(ids_only["issues"][0]) == {"expand", "id", "self", "key"}
    posted = call(
        cloud,
        "POST",
        "search/jql",
        json={"jql": "labels = a", "fields": ["summary"], "maxResults": 2, "reconcileIssues": []},
    ).json()
    assert len(posted["issues"]) == 2 and posted["isLast"] is False and posted["nextPageToken"]
    bad_token = call(
        cloud, "GET", "search/jql", params={"jql": "labels = a", "nextPageToken": "nope"}
    )
    assert bad_token.status_code == 400


def test_server_search_and_key_validation(server: JiraEmulator) -> None:
    make_issue(server)
    assert call(server, "GET", "search/jql", params={"jql": "project = OPS"}).status_code == 404
    strict = call(server, "GET", "search", params={"jql": "key in (OPS-1, OPS-9)"})
    assert strict.status_code == 400
    assert strict.json()["errorMessages"] == [
        "An issue with key 'OPS-9' does not exist for field 'key'."
    ]
    warn = call(
        server,
        "GET",
        "search",
        params={"jql": "key in (OPS-1, OPS-9)", "validateQuery": "warn"},
    ).json()
    assert [i["key"] for i in warn["issues"]] == ["OPS-1"] and warn["warningMessages"]
    assert warn["total"] == 1 and warn["startAt"] == 0


def test_jql_dates_are_read_in_the_user_zone(cloud: JiraEmulator) -> None:
    make_issue(cloud, labels=["a"])
    cloud.user_timezone = "Asia/Tokyo"  # UTC+9
    stored = cloud.issue("OPS-1")["fields"]["updated"]
    tokyo = (stored + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")
    found = call(cloud, "GET", "search/jql", params={"jql": f'labels = a AND updated >= "{tokyo}"'})
    assert [i["key"] for i in found.json()["issues"]] == ["OPS-1"]
    stamp = call(cloud, "GET", "issue/OPS-1").json()["fields"]["updated"]
    assert stamp.endswith("+0900")


def test_auth_and_burst_limit(cloud: JiraEmulator) -> None:
    assert call(cloud, "GET", "myself", headers={"Authorization": "Bearer x"}).status_code == 401
    cloud.burst = 2
    statuses = [call(cloud, "GET", "myself") for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "1"


def test_human_helpers_and_clock(cloud: JiraEmulator) -> None:
    key = cloud.human_create("Unrelated bug")
    assert cloud.issue(key)["fields"]["labels"] == []
    before = cloud.now()
    cloud.advance_clock(timedelta(hours=1))
    assert cloud.now() - before >= timedelta(hours=1)
    cloud.human_set_status(key, Status.WONT_DO)
    stored = cloud.issue(key)["fields"]
    assert (stored["status"], stored["resolution"]) == ("Won't Do", "Won't Do")
    assert stored["updated"] >= before + timedelta(hours=1)
    section = cloud.connector_section(project="OPS")
    assert section["kind"] == "jira" and section["url"] == cloud.url and section["email"]


# -- JQL ---------------------------------------------------------------------------------------------


def test_jql_parses_the_connector_subset() -> None:
    query = parse_jql(
        'project = OPS AND labels in ("a", \'b c\') AND updated >= "2026-06-04 10:28" '
        "order by updated asc, key DESC"
    )
    assert [(c.field, c.op, c.values) for c in query.clauses] == [
        ("project", "=", ("OPS",)),
        ("labels", "in", ("a", "b c")),
        ("updated", ">=", ("2026-06-04 10:28",)),
    ]
    assert query.order == (("updated", False), ("key", True))
    assert parse_jql("key in (OPS-1, OPS-2)").clauses[0].values == ("OPS-1", "OPS-2")


@pytest.mark.parametrize(
    "jql",
    [
        "project = OPS OR labels = a",
        "summary ~ outage",
        "labels in (a, b",
        'labels = "unterminated',
        "project = OPS ORDER BY priority",
        "updated = 2026-01-01",
        "labels in a",
        "project =",
    ],
)
def test_jql_rejects_what_it_does_not_understand(cloud: JiraEmulator, jql: str) -> None:
    response = call(cloud, "GET", "search/jql", params={"jql": jql})
    assert response.status_code == 400
    assert set(response.json()) == {"errorMessages", "errors"} and response.json()["errorMessages"]


def test_jql_bad_date_and_unknown_project(cloud: JiraEmulator) -> None:
    bad_date = call(cloud, "GET", "search/jql", params={"jql": 'updated >= "yesterday"'})
    assert bad_date.status_code == 400
    unknown = call(cloud, "GET", "search/jql", params={"jql": "project = NOPE"})
    assert unknown.status_code == 400 and "NOPE" in unknown.json()["errorMessages"][0]
