"""A loopback GitHub REST emulator, faithful enough for PyGithub 2.x.

It serves one repository's issues (plus pull requests, which the issues list returns
too; the pulls API is in `github_pulls.py`), milestones, comments, search and
`/rate_limit`, with GitHub's wire details where a client can trip on them (see
API-NOTES.md §3–4, §8):

- every `url` and `Link` target is built from the emulator's own
  `http://127.0.0.1:<port>`; PyGithub asserts host and port on each one;
- `Link: <url>; rel="next", <url>; rel="last"` paging, `per_page` capped at 100;
- `since` keeps issues with `updated_at >= since`; datetimes are `...THH:MM:SSZ`;
- `state_reason` is stored and echoed, and ignored unless `state` changes;
- `x-ratelimit-*` headers on every routed answer; the primary limit (5000/h), the
  search limit (30/min) and, optionally, the secondary content-creation limits
  (`secondary_limit_per_minute`, GitHub's 80; `secondary_limit_per_hour`, GitHub's
  500; sliding windows of accepted content-creating requests) answer 403 with
  GitHub's exact messages and a `retry-after` until the window's oldest request ages
  out.

The emulator has its own clock (`now()`, `advance_clock()`); `clock_scale` > 1 makes
it run faster than wall time so benchmarks can cross minute-long rate windows.
"""

from __future__ import annotations

import math
import shlex
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from connectors.testing.emulation import EmulatorServer, Request, Response
from connectors.testing.github_pulls import PullsMixin, _Pull
from syncd.model import Status

DOCS = "https://docs.github.com/rest"
PRIMARY_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
API_USER = "syncd-bot"  # the login behind any token
HUMAN = "alice"  # who acts through the `human_*` helpers
IN_PROGRESS_LABEL = "in progress"

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_STATE_REASONS = {"completed", "not_planned", "duplicate", "reopened", None}


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _error(status: int, message: str, **extra: Any) -> Response:
    return Response(status, {"message": message, "documentation_url": DOCS, **extra})


def _int_arg(req: Request, name: str, default: int) -> int:
    try:
        return int(req.arg(name) or default)
    except ValueError:
        return default


@dataclass
class _Issue:
    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    milestone: int | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    is_pull_request: bool = False
    version: int = 1  # bumped on every change; feeds the ETag


@dataclass
class _Milestone:
    number: int
    title: str
    description: str | None
    due_on: datetime | None
    created_at: datetime
    state: str = "open"


class GitHubEmulator(PullsMixin, EmulatorServer):
    """One GitHub repository on 127.0.0.1; see the module docstring for the wire rules."""

    def __init__(
        self,
        *,
        repo: str = "acme/reliability",
        latency: float = 0.0,
        seed: int = 0,
        secondary_limit_per_minute: int | None = None,
        secondary_limit_per_hour: int | None = None,
        clock_scale: float = 1.0,
        token: str | None = None,
    ) -> None:
        super().__init__(latency=latency, seed=seed, clock_scale=clock_scale)
        self.repo = repo
        self.token = token  # None accepts any credentials; else only this one (401)
        self.secondary_limit_per_minute = secondary_limit_per_minute
        self.secondary_limit_per_hour = secondary_limit_per_hour
        self._register_routes()
        self._init_state()

    def _init_state(self) -> None:
        self.primary_limit = 5000  # per hour; tests may lower it
        self.search_limit = 30  # per minute
        self.search_index_lag = timedelta(0)  # search misses changes younger than this
        self.secondary_limit_hits = 0
        self.request_queries: list[tuple[str, str, dict[str, list[str]]]] = []
        self._issues: dict[int, _Issue] = {}
        self._deleted: set[int] = set()  # numbers of issues a person deleted: 410 Gone
        self._milestones: dict[int, _Milestone] = {}
        self._pulls: dict[int, _Pull] = {}  # pull requests made through the pulls API
        self._labels: dict[str, str] = {}  # name -> color; created implicitly
        self._next_number = 1  # issues and pull requests share one sequence, as on GitHub
        self._next_id = 1
        self.reset_clock()
        self._core_window = (self._now_ts(), 0)  # (window start, requests used)
        self._search_window = (self._now_ts(), 0)
        # accepted content-creating requests (emulated time) in the last minute / hour
        self._creations: deque[float] = deque()
        self._creations_hour: deque[float] = deque()

    def reset(self) -> None:
        """Forget all issues, limits, faults and logs: a fresh tracker on the same port.

        Lets a test module share one server (stopping one costs half a second).
        """
        with self.lock:
            self.faults.clear()
            self.faults.injected.clear()
            self.request_log.clear()
            self._init_state()

    # -- clock ------------------------------------------------------------------------
    def _stamp(self) -> datetime:
        # GitHub timestamps have one-second resolution; storing them truncated keeps
        # `since` comparisons consistent with what clients see.
        return self.now().replace(microsecond=0)

    def _real_seconds(self, emulated: float) -> float:
        """Wall-clock seconds a client must wait for `emulated` seconds to pass here."""
        return emulated / self.clock_scale

    # -- routes ---------------------------------------------------------------------------
    def _register_routes(self) -> None:
        issue = rf"{_REPO}/issues/(?P<number>\d+)"
        self.route("GET", _REPO, self._get_repo)
        self.route("GET", rf"{_REPO}/issues", self._list_issues)
        self.route("POST", rf"{_REPO}/issues", self._create_issue)
        self.route("GET", issue, self._get_issue)
        self.route("PATCH", issue, self._edit_issue)
        self.route("POST", rf"{issue}/comments", self._create_comment)
        self.route("GET", rf"{_REPO}/milestones", self._list_milestones)
        self.route("POST", rf"{_REPO}/milestones", self._create_milestone)
        self.route("GET", r"/search/issues", self._search_issues)
        self.route("GET", r"/rate_limit", self._rate_limit)
        self._register_pull_routes()

    def dispatch(self, req: Request) -> Response:
        if not req.headers.get("authorization"):
            return _error(401, "Requires authentication")
        if self.token is not None and not self._authenticated(req.headers["authorization"]):
            return _error(401, "Bad credentials")
        with self.lock:
            self.request_queries.append((req.method, req.path, req.query))
            resource = "search" if req.path.startswith("/search/") else "core"
            limited = self._charge(resource) if req.path != "/rate_limit" else None
            if limited is None and self._is_content_creation(req):
                limited = self._check_secondary()
            resp = limited or super().dispatch(req)
            if resp.status == 304:  # conditional hits are free on GitHub
                self._refund(resource)
            resp.headers.update(self._rate_headers(resource))
            return resp

    def _authenticated(self, header: str) -> bool:
        """`token X` or `Bearer X` (PyGithub sends the former) carrying the token."""
        scheme, _, value = header.partition(" ")
        return scheme.lower() in ("token", "bearer") and value == self.token

    def _repo_matches(self, params: dict[str, str]) -> bool:
        return f"{params['owner']}/{params['name']}".lower() == self.repo.lower()

    def _get_repo(self, _req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):
            return _error(404, "Not Found")
        owner, name = self.repo.split("/")
        api = f"{self.url}/repos/{self.repo}"
        return Response(
            200,
            {
                "id": 1,
                "node_id": "R_1",
                "name": name,
                "full_name": self.repo,
                "owner": self._user(owner),
                "private": False,
                "html_url": f"{self.url}/{self.repo}",
                "url": api,
                "issues_url": f"{api}/issues{{/number}}",
                "labels_url": f"{api}/labels{{/name}}",
                "milestones_url": f"{api}/milestones{{/number}}",
                "has_issues": True,
                "open_issues_count": sum(i.state == "open" for i in self._issues.values()),
                "default_branch": "main",
            },
        )

    def _list_issues(self, req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):
            return _error(404, "Not Found")
        state = req.arg("state", "open")
        if state not in ("open", "closed", "all"):
            return _error(422, "Validation Failed")
        wanted = [name for name in (req.arg("labels") or "").split(",") if name]
        since = _parse_iso(req.arg("since") or "") if req.arg("since") else None
        if req.arg("since") and since is None:
            return _error(422, "Validation Failed")
        found = [
            issue
            for issue in self._issues.values()
            if state in ("all", issue.state)
            and all(name in issue.labels for name in wanted)
            and (since is None or issue.updated_at >= since)
        ]
        found = self._sorted(found, req.arg("sort", "created"), req.arg("direction", "desc"))
        page, headers = self._paginate(req, found)
        return Response(200, [self._issue_json(issue) for issue in page], headers)

    def _create_issue(self, req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):
            return _error(404, "Not Found")
        data = req.json() or {}
        if not isinstance(data.get("title"), str) or not data["title"]:
            return _error(422, "Validation Failed", errors=[{"field": "title", "code": "missing"}])
        issue = self._new_issue(data["title"], data.get("body"), API_USER)
        problem = self._apply_fields(issue, data, API_USER)
        if problem:
            del self._issues[issue.number]
            return problem
        location = f"{self.url}/repos/{self.repo}/issues/{issue.number}"
        return Response(201, self._issue_json(issue), {"Location": location})

    def _get_issue(self, req: Request, params: dict[str, str]) -> Response:
        issue = self._issues.get(int(params["number"]))
        if self._repo_matches(params) and int(params["number"]) in self._deleted:
            return _error(410, "This issue was deleted")
        if not self._repo_matches(params) or issue is None:
            return _error(404, "Not Found")
        etag = self._etag(issue)
        if req.headers.get("if-none-match") == etag:
            return Response(304, None, {"ETag": etag})
        return Response(200, self._issue_json(issue), {"ETag": etag})

    def _edit_issue(self, req: Request, params: dict[str, str]) -> Response:
        issue = self._issues.get(int(params["number"]))
        if not self._repo_matches(params) or issue is None:
            return _error(404, "Not Found")
        data = req.json()
        if not isinstance(data, dict):
            return _error(400, "Problems parsing JSON")
        problem = self._apply_fields(issue, data, API_USER)
        if problem:
            return problem
        return Response(200, self._issue_json(issue), {"ETag": self._etag(issue)})

    def _create_comment(self, req: Request, params: dict[str, str]) -> Response:
        issue = self._issues.get(int(params["number"]))
        if not self._repo_matches(params) or issue is None:
            return _error(404, "Not Found")
        body = (req.json() or {}).get("body")
        if not isinstance(body, str) or not body:
            return _error(422, "Validation Failed", errors=[{"field": "body", "code": "missing"}])
        comment_id = self._take_id()
        api = f"{self.url}/repos/{self.repo}/issues"
        comment = {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "body": body,
            "user": self._user(API_USER),
            "created_at": _iso(self._stamp()),
            "updated_at": _iso(self._stamp()),
            "url": f"{api}/comments/{comment_id}",
            "html_url": f"{self._html_url(issue)}#issuecomment-{comment_id}",
            "issue_url": f"{api}/{issue.number}",
        }
        issue.comments.append(comment)
        self._touch(issue)
        return Response(201, comment)

    def _list_milestones(self, req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):
            return _error(404, "Not Found")
        state = req.arg("state", "open")
        found = [m for m in self._milestones.values() if state in ("all", m.state)]
        page, headers = self._paginate(req, sorted(found, key=lambda m: m.number))
        return Response(200, [self._milestone_json(m) for m in page], headers)

    def _create_milestone(self, req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):
            return _error(404, "Not Found")
        data = req.json() or {}
        title = data.get("title")
        if not isinstance(title, str) or not title:
            return _error(422, "Validation Failed", errors=[{"field": "title", "code": "missing"}])
        if any(m.title == title for m in self._milestones.values()):
            return _error(
                422, "Validation Failed", errors=[{"field": "title", "code": "already_exists"}]
            )
        due_on = _parse_iso(data["due_on"]) if data.get("due_on") else None
        number = len(self._milestones) + 1
        milestone = _Milestone(number, title, data.get("description"), due_on, self._stamp())
        self._milestones[number] = milestone
        return Response(201, self._milestone_json(milestone))

    def _search_issues(self, req: Request, _params: dict[str, str]) -> Response:
        query = req.arg("q") or ""
        try:
            tokens = shlex.split(query)
        except ValueError:
            tokens = query.split()
        visible_before = self.now() - self.search_index_lag
        found = [
            issue
            for issue in self._issues.values()
            if issue.updated_at <= visible_before and self._search_match(issue, tokens)
        ]
        found = self._sorted(found, req.arg("sort", "created"), req.arg("order", "desc"))
        page, headers = self._paginate(req, found)
        items = [{**self._issue_json(issue), "score": 1.0} for issue in page]
        body = {"total_count": len(found), "incomplete_results": False, "items": items}
        return Response(200, body, headers)

    def _rate_limit(self, _req: Request, _params: dict[str, str]) -> Response:
        core = self._rate_status("core")
        resources = {"core": core, "search": self._rate_status("search")}
        return Response(200, {"resources": resources, "rate": core})

    # -- issue model ----------------------------------------------------------------------
    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _new_issue(self, title: str, body: str | None, user: str, *, pr: bool = False) -> _Issue:
        stamp = self._stamp()
        issue = _Issue(self._next_number, title, body, user, stamp, stamp, is_pull_request=pr)
        self._issues[issue.number] = issue
        self._next_number += 1
        return issue

    def _touch(self, issue: _Issue) -> None:
        issue.updated_at = self._stamp()
        issue.version += 1

    def _apply_fields(self, issue: _Issue, data: dict[str, Any], actor: str) -> Response | None:
        """Apply a create/edit payload; a validation problem comes back as a 422."""
        labels = data.get("labels")
        if labels is not None:
            names = [item["name"] if isinstance(item, dict) else item for item in labels]
            if not all(isinstance(name, str) and name for name in names):
                return _error(422, "Validation Failed", errors=[{"field": "labels"}])
            for name in names:
                self._labels.setdefault(name, "ededed")  # labels are created implicitly
            issue.labels = list(dict.fromkeys(names))
        if "assignees" in data or "assignee" in data:
            logins = data.get("assignees")
            if logins is None:
                logins = [data["assignee"]] if data.get("assignee") else []
            issue.assignees = [str(login) for login in logins]
        if "milestone" in data:
            milestone = data["milestone"] or None  # PyGithub sends "" to clear it
            if milestone is not None and int(milestone) not in self._milestones:
                return _error(422, "Validation Failed", errors=[{"field": "milestone"}])
            issue.milestone = int(milestone) if milestone is not None else None
        if isinstance(data.get("title"), str):
            issue.title = data["title"]
        if "body" in data:
            issue.body = data["body"]
        problem = self._apply_state(issue, data, actor)
        if problem:
            return problem
        self._touch(issue)
        return None

    def _apply_state(self, issue: _Issue, data: dict[str, Any], actor: str) -> Response | None:
        state = data.get("state", issue.state)
        reason = data.get("state_reason")
        if state not in ("open", "closed") or reason not in _STATE_REASONS:
            return _error(422, "Validation Failed", errors=[{"field": "state"}])
        if state == issue.state:
            return None  # GitHub: state_reason is "ignored unless state is changed"
        issue.state = state
        if state == "closed":
            issue.state_reason = reason or "completed"
            issue.closed_at, issue.closed_by = self._stamp(), actor
        else:
            issue.state_reason = "reopened"
            issue.closed_at = issue.closed_by = None
        return None

    @staticmethod
    def _sorted(issues: list[_Issue], sort: str | None, direction: str | None) -> list[_Issue]:
        def key(issue: _Issue) -> tuple[Any, int]:
            if sort == "updated":
                return (issue.updated_at, issue.number)
            if sort == "comments":
                return (len(issue.comments), issue.number)
            return (issue.created_at, issue.number)

        return sorted(issues, key=key, reverse=direction != "asc")

    def _search_match(self, issue: _Issue, tokens: list[str]) -> bool:
        """Does `issue` satisfy a search query (free terms AND the simple qualifiers)?"""
        fields: tuple[str, ...] = ("title", "body")
        terms: list[str] = []
        for token in tokens:
            qualifier, colon, value = token.partition(":")
            if not colon or qualifier not in ("repo", "label", "is", "in", "state"):
                terms.append(token.lower())
            elif qualifier == "in":
                fields = tuple(value.split(","))
            elif not self._qualifier_match(issue, qualifier, value):
                return False
        title = issue.title if "title" in fields else ""
        body = (issue.body or "") if "body" in fields else ""
        text = f"{title} {body}".lower()
        return all(term in text for term in terms)

    def _qualifier_match(self, issue: _Issue, qualifier: str, value: str) -> bool:
        if qualifier == "repo":
            return value.lower() == self.repo.lower()
        if qualifier == "label":
            return value in issue.labels
        return self._is_match(issue, value)

    @staticmethod
    def _is_match(issue: _Issue, value: str) -> bool:
        return {
            "issue": not issue.is_pull_request,
            "pr": issue.is_pull_request,
            "open": issue.state == "open",
            "closed": issue.state == "closed",
        }.get(value, True)

    # -- JSON shapes -----------------------------------------------------------------------
    def _user(self, login: str) -> dict[str, Any]:
        return {
            "login": login,
            "id": sum(map(ord, login)),
            "type": "User",
            "url": f"{self.url}/users/{login}",
            "html_url": f"{self.url}/{login}",
        }

    def _html_url(self, issue: _Issue) -> str:
        kind = "pull" if issue.is_pull_request else "issues"
        return f"{self.url}/{self.repo}/{kind}/{issue.number}"

    def _issue_json(self, issue: _Issue) -> dict[str, Any]:
        api = f"{self.url}/repos/{self.repo}"
        url = f"{api}/issues/{issue.number}"
        body: dict[str, Any] = {
            "id": 10_000 + issue.number,
            "node_id": f"I_{issue.number}",
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": self._html_url(issue),
            "labels": [self._label_json(name) for name in issue.labels],
            "assignee": self._user(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self._user(login) for login in issue.assignees],
            "user": self._user(issue.user),
            "milestone": self._milestone_json(self._milestones[issue.milestone])
            if issue.milestone
            else None,
            "locked": False,
            "comments": len(issue.comments),
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at),
            "closed_by": self._user(issue.closed_by) if issue.closed_by else None,
            "author_association": "MEMBER",
        }
        if issue.is_pull_request:
            body["pull_request"] = {
                "url": f"{api}/pulls/{issue.number}",
                "html_url": self._html_url(issue),
            }
        return body

    def _label_json(self, name: str) -> dict[str, Any]:
        return {
            "id": sum(map(ord, name)),
            "node_id": f"LA_{name}",
            "url": f"{self.url}/repos/{self.repo}/labels/{name}",
            "name": name,
            "color": self._labels.get(name, "ededed"),
            "default": False,
            "description": None,
        }

    def _milestone_json(self, milestone: _Milestone) -> dict[str, Any]:
        url = f"{self.url}/repos/{self.repo}/milestones/{milestone.number}"
        linked = [i for i in self._issues.values() if i.milestone == milestone.number]
        return {
            "id": 500 + milestone.number,
            "node_id": f"MI_{milestone.number}",
            "number": milestone.number,
            "title": milestone.title,
            "description": milestone.description,
            "state": milestone.state,
            "due_on": _iso(milestone.due_on),
            "url": url,
            "html_url": f"{self.url}/{self.repo}/milestone/{milestone.number}",
            "labels_url": f"{url}/labels",
            "creator": self._user(API_USER),
            "open_issues": sum(i.state == "open" for i in linked),
            "closed_issues": sum(i.state == "closed" for i in linked),
            "created_at": _iso(milestone.created_at),
            "updated_at": _iso(milestone.created_at),
            "closed_at": None,
        }

    @staticmethod
    def _etag(issue: _Issue) -> str:
        return f'W/"{issue.number}-{issue.version}"'

    def _paginate(self, req: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        per_page = min(max(_int_arg(req, "per_page", 30), 1), 100)
        page = max(_int_arg(req, "page", 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)

        def link(target: int) -> str:
            query = {name: values[0] for name, values in req.query.items()}
            query["page"] = str(target)
            return f"{self.url}{req.path}?{urlencode(query)}"

        # PyGithub splits this header on ", " and "; ": keep exactly GitHub's format.
        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < last:
            links += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        if page > 1:
            links.append(f'<{link(1)}>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return items[(page - 1) * per_page : page * per_page], headers

    # -- rate limits -------------------------------------------------------------------------
    def _window(self, resource: str) -> tuple[float, int, int, float]:
        """(start, used, limit, length) of the current window, rolled over if it expired."""
        if resource == "search":
            (start, used), limit, length = self._search_window, self.search_limit, 60.0
        else:
            (start, used), limit, length = self._core_window, self.primary_limit, 3600.0
        if self._now_ts() >= start + length:
            start, used = self._now_ts(), 0
        return start, used, limit, length

    def _store_window(self, resource: str, start: float, used: int) -> None:
        if resource == "search":
            self._search_window = (start, used)
        else:
            self._core_window = (start, used)

    def _charge(self, resource: str) -> Response | None:
        start, used, limit, _length = self._window(resource)
        if used >= limit:
            self._store_window(resource, start, used)
            return _error(403, PRIMARY_MESSAGE)
        self._store_window(resource, start, used + 1)
        return None

    def _refund(self, resource: str) -> None:
        start, used, _limit, _length = self._window(resource)
        self._store_window(resource, start, max(used - 1, 0))

    def _rate_status(self, resource: str) -> dict[str, int]:
        start, used, limit, length = self._window(resource)
        reset_in = self._real_seconds(start + length - self._now_ts())
        # `reset` is a wall-clock epoch so clients can compute their wait directly,
        # whatever this emulator's clock scale or offset.
        return {
            "limit": limit,
            "used": used,
            "remaining": max(limit - used, 0),
            "reset": math.ceil(time.time() + reset_in),
        }

    def _rate_headers(self, resource: str) -> dict[str, str]:
        status = self._rate_status(resource)
        headers = {f"x-ratelimit-{name}": str(value) for name, value in status.items()}
        headers["x-ratelimit-resource"] = resource
        return headers

    @staticmethod
    def _is_content_creation(req: Request) -> bool:
        return req.method == "POST" and req.path.endswith(("/issues", "/comments", "/milestones"))

    def _check_secondary(self) -> Response | None:
        """GitHub's content-creation limits: N per minute and M per hour, sliding."""
        now = self._now_ts()
        windows = [
            (self._creations, self.secondary_limit_per_minute, 60.0),
            (self._creations_hour, self.secondary_limit_per_hour, 3600.0),
        ]
        wait = 0.0
        for sent, limit, length in windows:
            while sent and sent[0] <= now - length:
                sent.popleft()
            if limit is not None and len(sent) >= limit:
                oldest = sent[len(sent) - limit] if limit > 0 else now
                wait = max(wait, oldest + length - now)
        if wait > 0:
            self.secondary_limit_hits += 1
            resp = _error(403, SECONDARY_MESSAGE)
            resp.headers["retry-after"] = str(max(math.ceil(self._real_seconds(wait)), 1))
            return resp
        for sent, limit, _length in windows:
            if limit is not None:
                sent.append(now)
        return None

    # -- test helpers ---------------------------------------------------------------------------
    def _issue_for(self, key: str | int) -> _Issue:
        number = key if isinstance(key, int) else int(str(key).rsplit("#", 1)[-1])
        return self._issues[number]

    def human_set_status(self, key: str | int, status: Status) -> None:
        """A person closes, reopens or starts an issue in the web UI."""
        with self.lock:
            issue = self._issue_for(key)
            labels = [name for name in issue.labels if name != IN_PROGRESS_LABEL]
            if status is Status.IN_PROGRESS:
                labels.append(IN_PROGRESS_LABEL)
            data: dict[str, Any] = {"labels": labels}
            if status is Status.DONE:
                data.update(state="closed", state_reason="completed")
            elif status is Status.WONT_DO:
                data.update(state="closed", state_reason="not_planned")
            else:
                data["state"] = "open"
            self._apply_fields(issue, data, HUMAN)

    def human_edit(self, key: str | int, **fields: Any) -> None:
        """A person edits fields (title, body, labels, assignees, milestone) in the UI."""
        with self.lock:
            self._apply_fields(self._issue_for(key), fields, HUMAN)

    def human_create(self, title: str, *, body: str = "", labels: Iterable[str] = ()) -> str:
        """An issue a person opened by hand (without the shared label unless given)."""
        with self.lock:
            issue = self._new_issue(title, body, HUMAN)
            self._apply_fields(issue, {"labels": list(labels)}, HUMAN)
            return f"{self.repo}#{issue.number}"

    def human_delete(self, key: str | int) -> None:
        """A repository admin deletes the issue: it answers 410 Gone from then on."""
        with self.lock:
            issue = self._issue_for(key)
            del self._issues[issue.number]
            self._deleted.add(issue.number)

    def human_create_pr(self, title: str, labels: Iterable[str] = ()) -> str:
        """A pull request: `GET /issues` returns it too, with a `pull_request` key."""
        with self.lock:
            issue = self._new_issue(title, "", HUMAN, pr=True)
            self._apply_fields(issue, {"labels": list(labels)}, HUMAN)
            return f"{self.repo}#{issue.number}"

    def issue_count(self) -> int:
        """Issues (not pull requests) that exist, open or closed."""
        with self.lock:
            return sum(not issue.is_pull_request for issue in self._issues.values())

    def keys(self) -> list[str]:
        """Issue keys ("owner/repo#n") in creation order, pull requests excluded."""
        with self.lock:
            return [
                f"{self.repo}#{n}"
                for n, issue in sorted(self._issues.items())
                if not issue.is_pull_request
            ]

    def issues(self) -> list[dict[str, Any]]:
        """Every issue (not pull request) as the API would render it, by number."""
        with self.lock:
            return [
                self._issue_json(issue)
                for _number, issue in sorted(self._issues.items())
                if not issue.is_pull_request
            ]

    def issue(self, key: str | int) -> dict[str, Any]:
        with self.lock:
            return self._issue_json(self._issue_for(key))

    def milestones(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._milestone_json(m) for _n, m in sorted(self._milestones.items())]

    def connector_section(self, **overrides: Any) -> dict[str, Any]:
        """A `[trackers.github]` config section pointing at this emulator."""
        if not self.url:
            raise RuntimeError("start the emulator before asking for its config section")
        token = self.token or "emulator-token"
        section = {"kind": "github", "url": self.url, "repo": self.repo, "token": token}
        return {**section, **overrides}
