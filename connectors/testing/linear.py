"""A loopback Linear GraphQL emulator, faithful enough for the Linear connector.

One workspace with one team (default key ENG) behind `POST /graphql`. Requests are
parsed for real (`connectors.testing.linear_gql`): operation, aliases, arguments, variables and
selection sets; answers follow GraphQL's format. What a client can trip on:

- `Authorization: <api key>` or `Authorization: Bearer <oauth token>`; an unknown token
  gets `AUTHENTICATION_ERROR` (HTTP 400, as Linear answers);
- unknown fields, arguments, input fields or filter keys are validation errors
  (`GRAPHQL_VALIDATION_FAILED`, HTTP 400): a typo in the connector fails loudly;
- connections take `first` (1..250, default 50), `after`, `filter`, `orderBy`
  (`createdAt` ascending by default, `updatedAt` most recent first); cursors are
  opaque; `pageInfo { hasNextPage endCursor }`;
- filters: `eq neq in nin lt lte gt gte eqIgnoreCase containsIgnoreCase null`, `and`,
  `or`, collection filters `some`/`every`, nested `team`/`state`/`labels`/`assignee`;
- mutations (`issueCreate`, `issueUpdate`, `issueLabelCreate`) run in order; they
  return non-null payloads, so one failing field nulls `data` and stops the rest
  (graphql-js semantics), with the error's `path` naming the alias;
- issue `id` may be chosen by the client (UUID); `issueUpdate(id:)` takes the UUID or
  the identifier;
- `X-RateLimit-Requests-{Limit,Remaining,Reset}` (reset in epoch ms),
  `X-Complexity` and `X-RateLimit-Complexity-*` on every answer; past the hourly
  request limit: `RATELIMITED` (HTTP 400 by default, `ratelimit_status = 429` to vary).

Faults come from `EmulatorServer`; `fault_key` presents queries as GET, `issueUpdate`
as PATCH and other mutations as POST so the shared conformance faults apply.
The emulator has its own clock (`now()`, `advance_clock()`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from connectors.testing.emulation import EmulatorServer, Request, Response
from connectors.testing.linear_gql import Field, GraphQLSyntaxError, Operation, parse, resolve_value
from syncd.model import Status

DEFAULT_TOKEN = "emulator-token"  # noqa: S105 - the loopback emulator's fixed key
ORG = "acme"
SHARED_LABEL = "postmortem-action"
USERS = {"user-alice": "Alice", "user-bob": "Bob", "user-carol": "Carol"}
# (name, type) in workflow order; position = index. Todo is the default for new issues.
STATES = (
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("In Review", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
)
DEFAULT_STATE = "Todo"
HUMAN_STATE = {
    Status.OPEN: "Todo",
    Status.IN_PROGRESS: "In Progress",
    Status.DONE: "Done",
    Status.WONT_DO: "Canceled",
}
COMPLEXITY_LIMIT = 250_000
MAX_FIRST = 250
COMPARATORS = {
    "eq",
    "neq",
    "in",
    "nin",
    "lt",
    "lte",
    "gt",
    "gte",
    "eqIgnoreCase",
    "neqIgnoreCase",
    "contains",
    "containsIgnoreCase",
    "startsWith",
    "endsWith",
    "null",
}
# What each connection's `filter` may name (None: a scalar; [x]: a collection of x).
_TEAM_FILTER: dict[str, Any] = {"id": None, "key": None, "name": None}
_STATE_FILTER: dict[str, Any] = {"id": None, "name": None, "type": None}
_LABEL_FILTER: dict[str, Any] = {"id": None, "name": None, "team": _TEAM_FILTER}
_USER_FILTER: dict[str, Any] = {"id": None}
FILTERS: dict[str, dict[str, Any]] = {
    "Issue": {
        **dict.fromkeys(
            (
                "id",
                "number",
                "title",
                "description",
                "priority",
                "dueDate",
                "createdAt",
                "updatedAt",
            )
        ),
        "team": _TEAM_FILTER,
        "state": _STATE_FILTER,
        "assignee": _USER_FILTER,
        "labels": [_LABEL_FILTER],
    },
    "IssueLabel": _LABEL_FILTER,
    "Team": _TEAM_FILTER,
    "WorkflowState": _STATE_FILTER,
    "User": _USER_FILTER,
}
ISSUE_INPUT = {
    "id",
    "title",
    "description",
    "teamId",
    "assigneeId",
    "priority",
    "labelIds",
    "stateId",
    "dueDate",
    "estimate",
}
ISSUE_UPDATE = ISSUE_INPUT - {"id", "teamId"}
LABEL_INPUT = {"name", "teamId", "color", "description"}
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Invalid(Exception):
    """The document does not fit the schema: HTTP 400, no data (nothing executed)."""


class _Nodes(list[Any]):
    """A connection's nodes. Carries a prototype node so that the selection on an empty
    page is still checked: a misspelt field must fail before any issue exists."""

    def __init__(self, items: Iterable[Any], prototype: Callable[[], Any]) -> None:
        super().__init__(items)
        self.prototype = prototype


class _FieldError(Exception):
    """A resolver failed: a GraphQL error with a path; the answer's data becomes null."""

    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Team:
    id: str
    key: str
    name: str
    created_at: datetime
    next_number: int = 1

    @property
    def updated_at(self) -> datetime:
        return self.created_at


@dataclass
class _State:
    id: str
    name: str
    type: str
    position: float
    team_id: str
    created_at: datetime

    @property
    def updated_at(self) -> datetime:
        return self.created_at


@dataclass
class _Label:
    id: str
    name: str
    team_id: str | None
    created_at: datetime
    color: str = "#bec2c8"

    @property
    def updated_at(self) -> datetime:
        return self.created_at


@dataclass
class _Issue:
    id: str
    number: int
    team_id: str
    title: str
    description: str | None
    state_id: str
    created_at: datetime
    updated_at: datetime
    priority: int = 0
    assignee_id: str | None = None
    due: str | None = None
    label_ids: list[str] = field(default_factory=list)
    estimate: int | None = None
    completed_at: datetime | None = None  # set entering a "completed" state


class LinearEmulator(EmulatorServer):
    """One Linear workspace on 127.0.0.1; see the module docstring for the wire rules."""

    def __init__(
        self,
        *,
        team: str = "ENG",
        latency: float = 0.0,
        seed: int = 0,
        clock_scale: float = 1.0,
        seed_label: bool = True,
    ) -> None:
        super().__init__(latency=latency, seed=seed, clock_scale=clock_scale)
        self.team_key = team.upper()
        self.seed_label = seed_label  # an admin already made the shared label
        self.route("POST", r"/graphql", self._graphql)
        self._init_state()

    def _init_state(self) -> None:
        self.tokens: set[str] = {DEFAULT_TOKEN}
        self.requests_limit = 5000  # per hour; tests may lower it
        self.ratelimit_status = 400
        self.auth_schemes: list[str] = []  # "api_key" | "oauth", per request
        self.operations: list[tuple[str, str | None, list[str]]] = []  # kind, name, root fields
        self.documents: list[tuple[str, dict[str, Any]]] = []  # query text, variables
        self.reset_clock()
        self._window = (self._now_ts(), 0)
        self._complexity_used = 0
        self._ids = itertools.count(1)
        self._sync_id = itertools.count(1)
        self._users = dict(USERS)
        now = self._stamp()
        self._team = _Team(self._new_id("team"), self.team_key, "Engineering", now)
        self._states = [
            _State(self._new_id("state"), name, kind, float(i), self._team.id, now)
            for i, (name, kind) in enumerate(STATES)
        ]
        self._labels: list[_Label] = []
        if self.seed_label:
            self._labels.append(_Label(self._new_id("label"), SHARED_LABEL, None, now))
        self._issues: dict[str, _Issue] = {}  # by id

    def reset(self) -> None:
        """Forget all issues, limits, faults and logs: a fresh workspace on the same port."""
        with self.lock:
            self.faults.clear()
            self.faults.injected.clear()
            self.request_log.clear()
            self._init_state()

    # -- clock ------------------------------------------------------------------------
    def _stamp(self) -> datetime:
        # Linear timestamps carry milliseconds; store them truncated so filter
        # comparisons match what clients read back.
        now = self.now()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _new_id(self, kind: str) -> str:
        # Deterministic UUID-shaped ids (Linear ids are UUIDs).
        digest = hashlib.sha256(f"{kind}:{next(self._ids)}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    # -- HTTP ----------------------------------------------------------------------------
    def fault_key(self, req: Request) -> tuple[str, str]:
        try:
            operation = parse(str(json.loads(req.body)["query"]))
        except (ValueError, KeyError, TypeError, GraphQLSyntaxError):
            return req.method, req.path
        if operation.kind == "query":
            return "GET", req.path
        roots = {f.name for f in operation.selections}
        return ("PATCH" if "issueUpdate" in roots else "POST"), req.path

    def _graphql(self, req: Request, _params: dict[str, str]) -> Response:
        with self.lock:
            token, scheme = _credentials(req.headers.get("authorization", ""))
            if token not in self.tokens:
                return self._answer(
                    400,
                    errors=[
                        _error("Authentication required, not authenticated", "AUTHENTICATION_ERROR")
                    ],
                )
            self.auth_schemes.append(scheme)
            if not self._charge():
                message = (
                    f"Rate limit exceeded. Only {self.requests_limit} requests are allowed "
                    "per 1 hour."
                )
                return self._answer(self.ratelimit_status, errors=[_error(message, "RATELIMITED")])
            try:
                envelope = json.loads(req.body or b"null")
                query = envelope["query"]
                variables = envelope.get("variables") or {}
                if not isinstance(query, str) or not isinstance(variables, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return self._answer(400, errors=[_error("Bad request body", "BAD_USER_INPUT")])
            try:
                operation = parse(query)
            except GraphQLSyntaxError as exc:
                return self._answer(400, errors=[_error(str(exc), "GRAPHQL_PARSE_FAILED")])
            self.operations.append(
                (operation.kind, operation.name, [f.name for f in operation.selections])
            )
            self.documents.append((query, variables))
            try:
                data, errors = self._execute(operation, variables)
            except _Invalid as exc:
                return self._answer(400, errors=[_error(str(exc), "GRAPHQL_VALIDATION_FAILED")])
            return self._answer(200, data=data, errors=errors)

    def _answer(
        self, status: int, *, data: Any = None, errors: list[dict[str, Any]] | None = None
    ) -> Response:
        body: dict[str, Any] = {"data": data}
        if errors:
            body["errors"] = errors
        cost = _complexity(data)
        self._complexity_used += cost
        return Response(status, body, self._rate_headers(cost))

    # -- rate limits ---------------------------------------------------------------------
    def _current_window(self) -> tuple[float, int]:
        start, used = self._window
        if self._now_ts() >= start + 3600:
            start, used = self._now_ts(), 0
            self._complexity_used = 0
        return start, used

    def _charge(self) -> bool:
        start, used = self._current_window()
        if used >= self.requests_limit:
            self._window = (start, used)
            return False
        self._window = (start, used + 1)
        return True

    def _rate_headers(self, cost: int) -> dict[str, str]:
        start, used = self._current_window()
        # Reset as a wall-clock epoch (ms) so a client's wait is right at any clock scale.
        reset_ms = math.ceil(
            (time.time() + (start + 3600 - self._now_ts()) / self.clock_scale) * 1000
        )
        return {
            "X-RateLimit-Requests-Limit": str(self.requests_limit),
            "X-RateLimit-Requests-Remaining": str(max(self.requests_limit - used, 0)),
            "X-RateLimit-Requests-Reset": str(reset_ms),
            "X-Complexity": str(cost),
            "X-RateLimit-Complexity-Limit": str(COMPLEXITY_LIMIT),
            "X-RateLimit-Complexity-Remaining": str(
                max(COMPLEXITY_LIMIT - self._complexity_used, 0)
            ),
            "X-RateLimit-Complexity-Reset": str(reset_ms),
        }

    # -- execution -------------------------------------------------------------------------
    def _execute(
        self, operation: Operation, supplied: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        variables = {name: default for name, (_t, default) in operation.variables.items()}
        variables.update(supplied)
        for name, (type_text, _default) in operation.variables.items():
            if type_text.endswith("!") and variables.get(name) is None:
                raise _Invalid(
                    f'Variable "${name}" of required type "{type_text}" was not provided.'
                )
        roots: dict[str, Callable[[dict[str, Any]], Any]]
        if operation.kind == "query":
            roots = {
                "teams": self._q_teams,
                "team": self._q_team,
                "issues": self._q_issues,
                "issue": self._q_issue,
                "issueLabels": self._q_labels,
                "workflowStates": self._q_states,
                "users": self._q_users,
                "viewer": lambda _args: self._user_obj("user-alice"),
            }
        else:
            roots = {
                "issueCreate": self._m_issue_create,
                "issueUpdate": self._m_issue_update,
                "issueLabelCreate": self._m_label_create,
            }
        data: dict[str, Any] = {}
        for fld in operation.selections:
            if fld.name not in roots:
                parent = "Query" if operation.kind == "query" else "Mutation"
                raise _Invalid(f'Cannot query field "{fld.name}" on type "{parent}".')
            try:
                args = _args(fld, variables)
                data[fld.key] = self._project(roots[fld.name](args), fld, variables)
            except _FieldError as exc:
                # Every root field here is non-null: the error nulls the whole answer, and
                # (as in graphql-js) the remaining mutation fields are not executed.
                return None, [_error(str(exc), exc.code, path=[fld.key])]
        return data, []

    def _project(self, value: Any, fld: Field, variables: dict[str, Any]) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            if not value and isinstance(value, _Nodes) and fld.selections:
                self._project(value.prototype(), fld, variables)  # validation only
            return [self._project(item, fld, variables) for item in value]
        if not fld.selections:
            if isinstance(value, dict):
                raise _Invalid(f'Field "{fld.name}" must have a selection of subfields.')
            return value
        if not isinstance(value, dict):
            raise _Invalid(f'Field "{fld.name}" must not have a selection since it is a scalar.')
        out: dict[str, Any] = {}
        for sub in fld.selections:
            if sub.name == "__typename":
                out[sub.key] = value.get("__typename")
                continue
            if sub.name not in value:
                raise _Invalid(
                    f'Cannot query field "{sub.name}" on type "{value.get("__typename", "?")}".'
                )
            raw = value[sub.name]
            if callable(raw):
                raw = raw(_args(sub, variables))
            elif sub.args:
                raise _Invalid(f'Unknown argument on field "{sub.name}".')
            out[sub.key] = self._project(raw, sub, variables)
        return out

    # -- object shapes ------------------------------------------------------------------------
    def _team_obj(self, team: _Team) -> dict[str, Any]:
        return {
            "__typename": "Team",
            "id": team.id,
            "key": team.key,
            "name": team.name,
            "states": lambda args: self._connection(
                [s for s in self._states if s.team_id == team.id],
                args,
                "WorkflowState",
                self._state_obj,
                _state_view,
            ),
            "labels": lambda args: self._connection(
                [lb for lb in self._labels if lb.team_id in (None, team.id)],
                args,
                "IssueLabel",
                self._label_obj,
                self._label_view,
            ),
        }

    def _state_obj(self, state: _State) -> dict[str, Any]:
        return {
            "__typename": "WorkflowState",
            "id": state.id,
            "name": state.name,
            "type": state.type,
            "position": state.position,
            "color": "#95a2b3",
            "team": lambda _args: self._team_obj(self._team),
        }

    def _label_obj(self, label: _Label) -> dict[str, Any]:
        return {
            "__typename": "IssueLabel",
            "id": label.id,
            "name": label.name,
            "color": label.color,
            "team": (lambda _args: self._team_obj(self._team)) if label.team_id else None,
        }

    def _user_obj(self, user_id: str) -> dict[str, Any]:
        name = self._users[user_id]
        return {
            "__typename": "User",
            "id": user_id,
            "name": name,
            "displayName": name.lower(),
            "email": f"{name.lower()}@example.com",
        }

    def _issue_obj(self, issue: _Issue) -> dict[str, Any]:
        labels = [lb for lb in self._labels if lb.id in issue.label_ids]
        state = self._state(issue.state_id)
        return {
            "__typename": "Issue",
            "id": issue.id,
            "identifier": self._identifier(issue),
            "number": issue.number,
            "title": issue.title,
            "description": issue.description,
            "url": self._url(issue),
            "priority": issue.priority,
            "priorityLabel": ["No priority", "Urgent", "High", "Medium", "Low"][issue.priority],
            "estimate": issue.estimate,
            "dueDate": issue.due,
            "createdAt": _iso(issue.created_at),
            "updatedAt": _iso(issue.updated_at),
            "completedAt": _iso(issue.completed_at) if issue.completed_at else None,
            "archivedAt": None,
            "state": self._state_obj(state),
            "assignee": self._user_obj(issue.assignee_id) if issue.assignee_id else None,
            "team": self._team_obj(self._team),
            "labels": lambda args: self._connection(
                labels, args, "IssueLabel", self._label_obj, self._label_view
            ),
        }

    def _identifier(self, issue: _Issue) -> str:
        return f"{self._team.key}-{issue.number}"

    def _url(self, issue: _Issue) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", issue.title.lower()).strip("-")[:60] or "issue"
        return f"{self.url}/{ORG}/issue/{self._identifier(issue)}/{slug}"

    def _state(self, state_id: str) -> _State:
        return next(s for s in self._states if s.id == state_id)

    # -- filter views (what a filter may test) -----------------------------------------------
    def _issue_view(self, issue: _Issue) -> dict[str, Any]:
        state = self._state(issue.state_id)
        return {
            "id": issue.id,
            "number": issue.number,
            "title": issue.title,
            "description": issue.description,
            "priority": issue.priority,
            "dueDate": issue.due,
            "createdAt": issue.created_at,
            "updatedAt": issue.updated_at,
            "team": {"id": self._team.id, "key": self._team.key, "name": self._team.name},
            "state": _state_view(state),
            "assignee": {"id": issue.assignee_id} if issue.assignee_id else None,
            "labels": [self._label_view(lb) for lb in self._labels if lb.id in issue.label_ids],
        }

    def _label_view(self, label: _Label) -> dict[str, Any]:
        team = {"id": self._team.id, "key": self._team.key} if label.team_id else None
        return {"id": label.id, "name": label.name, "team": team}

    # -- connections ------------------------------------------------------------------------
    def _connection(
        self,
        records: list[Any],
        args: dict[str, Any],
        typename: str,
        render: Callable[[Any], dict[str, Any]],
        view: Callable[[Any], dict[str, Any]],
    ) -> dict[str, Any]:
        unknown = set(args) - {"first", "after", "filter", "orderBy", "includeArchived"}
        if unknown:
            raise _Invalid(f'Unknown argument "{sorted(unknown)[0]}" on a {typename} connection.')
        if args.get("filter"):
            _check_filter(FILTERS[typename], args["filter"], typename)
            records = [r for r in records if _matches(view(r), args["filter"], typename)]
        order = args.get("orderBy") or "createdAt"
        if order == "createdAt":
            records = sorted(records, key=lambda r: (r.created_at, r.id))
        elif order == "updatedAt":
            records = sorted(records, key=lambda r: (r.updated_at, r.id), reverse=True)
        else:
            raise _Invalid(f'Value "{order}" does not exist in "PaginationOrderBy" enum.')
        first = args.get("first")
        first = 50 if first is None else first
        if not isinstance(first, int) or not 0 < first <= MAX_FIRST:
            raise _FieldError(f"first must be between 1 and {MAX_FIRST}")
        start = 0
        if args.get("after"):
            try:
                after_id = base64.b64decode(str(args["after"]), validate=True).decode()
                start = [r.id for r in records].index(after_id) + 1
            except (ValueError, UnicodeDecodeError):
                raise _FieldError("Invalid cursor") from None
        page = records[start : start + first]

        def cursor(record: Any) -> str:
            return base64.b64encode(record.id.encode()).decode()

        def edge(record: Any) -> dict[str, Any]:
            return {
                "__typename": f"{typename}Edge",
                "node": render(record),
                "cursor": cursor(record),
            }

        def prototype() -> Any:
            return render(self._prototype(typename))

        return {
            "__typename": f"{typename}Connection",
            "nodes": _Nodes([render(r) for r in page], prototype),
            "edges": _Nodes([edge(r) for r in page], lambda: edge(self._prototype(typename))),
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": start + first < len(records),
                "hasPreviousPage": start > 0,
                "startCursor": cursor(page[0]) if page else None,
                "endCursor": cursor(page[-1]) if page else None,
            },
        }

    def _prototype(self, typename: str) -> Any:
        """A throwaway record of `typename`, rendered only to check selections."""
        when = self._team.created_at
        if typename == "Issue":
            state = self._states[0].id
            return _Issue("prototype", 0, self._team.id, "prototype", None, state, when, when)
        if typename == "IssueLabel":
            return _Label("prototype", "prototype", None, when)
        if typename == "WorkflowState":
            return self._states[0]
        if typename == "User":
            return _Record(next(iter(self._users)), when)
        return self._team

    # -- query roots ---------------------------------------------------------------------------
    def _q_teams(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._connection([self._team], args, "Team", self._team_obj, _team_view)

    def _q_team(self, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, {"id"}, "team")
        wanted = str(args.get("id"))
        if wanted not in (self._team.id, self._team.key):
            raise _FieldError("Entity not found: Team", "INVALID_INPUT")
        return self._team_obj(self._team)

    def _q_issues(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._connection(
            list(self._issues.values()), args, "Issue", self._issue_obj, self._issue_view
        )

    def _q_issue(self, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, {"id"}, "issue")
        return self._issue_obj(self._find_issue(str(args.get("id"))))

    def _q_labels(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._connection(self._labels, args, "IssueLabel", self._label_obj, self._label_view)

    def _q_states(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._connection(self._states, args, "WorkflowState", self._state_obj, _state_view)

    def _q_users(self, args: dict[str, Any]) -> dict[str, Any]:
        now = self._team.created_at
        users = [_Record(uid, now) for uid in self._users]
        return self._connection(
            users, args, "User", lambda r: self._user_obj(r.id), lambda r: {"id": r.id}
        )

    # -- mutations -----------------------------------------------------------------------------
    def _m_issue_create(self, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, {"input"}, "issueCreate")
        data = args.get("input")
        if not isinstance(data, dict):
            raise _Invalid('Argument "input" of type "IssueCreateInput!" is required.')
        _input_fields(data, ISSUE_INPUT, "IssueCreateInput")
        if data.get("teamId") != self._team.id:
            raise _FieldError("Entity not found: Team - Could not find referenced Team.")
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _FieldError("title must not be empty")
        issue_id = data.get("id") or self._new_id("issue")
        if not isinstance(issue_id, str) or not _UUID_RE.match(issue_id):
            raise _FieldError("id must be a UUID")
        if issue_id in self._issues:
            raise _FieldError("An issue with this id already exists")
        now = self._stamp()
        default = next(s for s in self._states if s.name == DEFAULT_STATE)
        issue = _Issue(
            issue_id, self._team.next_number, self._team.id, title, None, default.id, now, now
        )
        self._apply(issue, {k: v for k, v in data.items() if k not in ("id", "teamId", "title")})
        self._team.next_number += 1
        self._issues[issue.id] = issue
        return self._payload("IssuePayload", issue=self._issue_obj(issue))

    def _m_issue_update(self, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, {"id", "input"}, "issueUpdate")
        data = args.get("input")
        if not isinstance(data, dict):
            raise _Invalid('Argument "input" of type "IssueUpdateInput!" is required.')
        _input_fields(data, ISSUE_UPDATE, "IssueUpdateInput")
        issue = self._find_issue(str(args.get("id")))
        before = _snapshot(issue)
        self._apply(issue, data)
        if _snapshot(issue) != before:
            issue.updated_at = self._stamp()
        return self._payload("IssuePayload", issue=self._issue_obj(issue))

    def _m_label_create(self, args: dict[str, Any]) -> dict[str, Any]:
        _only(args, {"input"}, "issueLabelCreate")
        data = args.get("input")
        if not isinstance(data, dict):
            raise _Invalid('Argument "input" of type "IssueLabelCreateInput!" is required.')
        _input_fields(data, LABEL_INPUT, "IssueLabelCreateInput")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _FieldError("name must not be empty")
        team_id = data.get("teamId")
        if team_id not in (None, self._team.id):
            raise _FieldError("Entity not found: Team")
        if any(lb.name.casefold() == name.casefold() for lb in self._labels):
            raise _FieldError("Duplicate label name")
        label = _Label(
            self._new_id("label"), name, team_id, self._stamp(), data.get("color") or "#bec2c8"
        )
        self._labels.append(label)
        return self._payload("IssueLabelPayload", issueLabel=self._label_obj(label))

    def _payload(self, typename: str, **fields: Any) -> dict[str, Any]:
        return {
            "__typename": typename,
            "success": True,
            "lastSyncId": next(self._sync_id),
            **fields,
        }

    def _apply(self, issue: _Issue, data: dict[str, Any]) -> None:
        """Validate everything first, then change: a failed update changes nothing."""
        changes: dict[str, Any] = {}
        if "title" in data:
            if not isinstance(data["title"], str) or not data["title"].strip():
                raise _FieldError("title must not be empty")
            changes["title"] = data["title"]
        if "description" in data:
            changes["description"] = data["description"]
        if "priority" in data:
            priority = data["priority"]
            if priority is None:
                priority = 0
            if (
                not isinstance(priority, int)
                or isinstance(priority, bool)
                or not 0 <= priority <= 4
            ):
                raise _FieldError("priority must be an integer from 0 to 4")
            changes["priority"] = priority
        if "assigneeId" in data:
            if data["assigneeId"] is not None and data["assigneeId"] not in self._users:
                raise _FieldError("Entity not found: User - Could not find referenced User.")
            changes["assignee_id"] = data["assigneeId"]
        if "dueDate" in data:
            due = data["dueDate"]
            if due is not None and not (
                isinstance(due, str) and _DATE_RE.match(due) and _valid_date(due)
            ):
                raise _FieldError("dueDate must be a date (YYYY-MM-DD)")
            changes["due"] = due
        if "stateId" in data:
            if not any(
                s.id == data["stateId"] and s.team_id == issue.team_id for s in self._states
            ):
                raise _FieldError("Entity not found: WorkflowState")
            changes["state_id"] = data["stateId"]
            if data["stateId"] != issue.state_id:
                # Linear stamps completedAt on entering a completed state, clears it on leaving.
                done = self._state(data["stateId"]).type == "completed"
                changes["completed_at"] = self._stamp() if done else None
        if "labelIds" in data:
            ids = list(dict.fromkeys(data["labelIds"] or []))
            usable = {lb.id for lb in self._labels if lb.team_id in (None, issue.team_id)}
            if not set(ids) <= usable:
                raise _FieldError("Entity not found: IssueLabel")
            changes["label_ids"] = ids
        if "estimate" in data:
            changes["estimate"] = data["estimate"]
        for name, value in changes.items():
            setattr(issue, name, value)

    def _find_issue(self, wanted: str) -> _Issue:
        if wanted in self._issues:
            return self._issues[wanted]
        for issue in self._issues.values():
            if self._identifier(issue).upper() == wanted.upper():
                return issue
        raise _FieldError("Entity not found: Issue - Could not find referenced Issue.")

    # -- test helpers ---------------------------------------------------------------------------
    def _issue_for(self, key: str) -> _Issue:
        return self._find_issue(key)

    def human_set_status(self, key: str, status: Status) -> None:
        """A person moves an issue to the usual state for `status` in the web UI."""
        self.human_move(key, HUMAN_STATE[status])

    def human_move(self, key: str, state_name: str) -> None:
        """A person moves an issue to the workflow state called `state_name`."""
        with self.lock:
            issue = self._issue_for(key)
            state = next(s for s in self._states if s.name == state_name)
            if issue.state_id != state.id:
                issue.state_id = state.id
                issue.updated_at = self._stamp()
                issue.completed_at = issue.updated_at if state.type == "completed" else None

    def human_edit(self, key: str, **fields: Any) -> None:
        """A person edits fields (API names: title, description, priority, dueDate, …)."""
        with self.lock:
            issue = self._issue_for(key)
            self._apply(issue, fields)
            issue.updated_at = self._stamp()

    def human_delete(self, key: str) -> None:
        """A person deletes the issue (Linear moves it to the trash): no query finds it."""
        with self.lock:
            del self._issues[self._issue_for(key).id]

    def human_create(self, title: str, *, description: str = "", labels: Iterable[str] = ()) -> str:
        """An issue a person opened by hand (without the shared label unless given)."""
        with self.lock:
            now = self._stamp()
            default = next(s for s in self._states if s.name == DEFAULT_STATE)
            issue = _Issue(
                self._new_id("issue"),
                self._team.next_number,
                self._team.id,
                title,
                description,
                default.id,
                now,
                now,
            )
            self._team.next_number += 1
            issue.label_ids = [lb.id for lb in self._labels if lb.name in set(labels)]
            self._issues[issue.id] = issue
            return self._identifier(issue)

    def add_user(self, user_id: str, name: str) -> None:
        with self.lock:
            self._users[user_id] = name

    def issue_count(self) -> int:
        with self.lock:
            return len(self._issues)

    def keys(self) -> list[str]:
        """Issue identifiers in creation order."""
        with self.lock:
            return [
                self._identifier(i) for i in sorted(self._issues.values(), key=lambda i: i.number)
            ]

    def issue(self, key: str) -> dict[str, Any]:
        """One issue as plain data (the API's field names, nested objects flattened)."""
        with self.lock:
            issue = self._issue_for(key)
            state = self._state(issue.state_id)
            return {
                "id": issue.id,
                "identifier": self._identifier(issue),
                "number": issue.number,
                "title": issue.title,
                "description": issue.description,
                "priority": issue.priority,
                "dueDate": issue.due,
                "assigneeId": issue.assignee_id,
                "state": state.name,
                "stateType": state.type,
                "labels": [lb.name for lb in self._labels if lb.id in issue.label_ids],
                "url": self._url(issue),
                "createdAt": _iso(issue.created_at),
                "updatedAt": _iso(issue.updated_at),
            }

    def issues(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.issue(key) for key in self.keys()]

    def labels(self) -> list[str]:
        with self.lock:
            return [lb.name for lb in self._labels]

    def state_names(self) -> list[str]:
        return [name for name, _type in STATES]

    def connector_section(self, **overrides: Any) -> dict[str, Any]:
        """A `[trackers.linear]` section pointing at this emulator. A `token` passed here
        becomes one the emulator accepts."""
        if not self.url:
            raise RuntimeError("start the emulator before asking for its config section")
        if isinstance(overrides.get("token"), str):
            self.tokens.add(overrides["token"])
        section = {
            "kind": "linear",
            "url": f"{self.url}/graphql",
            "team": self.team_key,
            "token": DEFAULT_TOKEN,
        }
        return {**section, **overrides}

    def webhook_delivery(
        self,
        key: str,
        *,
        secret: str,
        action: str = "update",
        timestamp_ms: int | None = None,
        delivery_id: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and raw body of the webhook Linear would POST for `key`, signed with
        `secret` (`Linear-Signature` = hex HMAC-SHA256 of the body)."""
        with self.lock:
            issue = self._issue_for(key)
            state = self._state(issue.state_id)
            stamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
            payload = {
                "action": action,
                "type": "Issue",
                "createdAt": _iso(self._stamp()),
                "organizationId": "org-1",
                "url": self._url(issue),
                "webhookTimestamp": stamp,
                "webhookId": "webhook-1",
                "data": {
                    "id": issue.id,
                    "identifier": self._identifier(issue),
                    "number": issue.number,
                    "title": issue.title,
                    "priority": issue.priority,
                    "teamId": issue.team_id,
                    "stateId": state.id,
                    "state": {"id": state.id, "name": state.name, "type": state.type},
                    "updatedAt": _iso(issue.updated_at),
                },
            }
        body = json.dumps(payload).encode()
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json; charset=utf-8",
            "linear-delivery": delivery_id or str(uuid.uuid4()),
            "linear-event": "Issue",
            "linear-signature": signature,
            "user-agent": "Linear-Webhook",
        }
        return headers, body


@dataclass
class _Record:
    id: str
    created_at: datetime

    @property
    def updated_at(self) -> datetime:
        return self.created_at


def _credentials(header: str) -> tuple[str, str]:
    """(token, scheme): personal API keys come bare, OAuth tokens as `Bearer …`."""
    header = header.strip()
    if header.lower().startswith("bearer "):
        return header[7:].strip(), "oauth"
    return header, "api_key"


def _error(message: str, code: str, *, path: list[Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "extensions": {
            "code": code,
            "type": code.lower().replace("_", " "),
            "userPresentableMessage": message,
        },
    }
    if path is not None:
        error["path"] = path
    return error


def _args(fld: Field, variables: dict[str, Any]) -> dict[str, Any]:
    try:
        return {name: resolve_value(value, variables) for name, value in fld.args.items()}
    except KeyError as exc:
        raise _Invalid(f'Variable "${exc.args[0]}" is not defined.') from None


def _only(args: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(args) - allowed
    if unknown:
        raise _Invalid(f'Unknown argument "{sorted(unknown)[0]}" on field "{where}".')


def _input_fields(data: dict[str, Any], allowed: set[str], typename: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise _Invalid(f'Field "{sorted(unknown)[0]}" is not defined by type "{typename}".')


def _snapshot(issue: _Issue) -> tuple[Any, ...]:
    return (
        issue.title,
        issue.description,
        issue.priority,
        issue.assignee_id,
        issue.due,
        issue.state_id,
        tuple(issue.label_ids),
        issue.estimate,
    )


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _state_view(state: _State) -> dict[str, Any]:
    return {"id": state.id, "name": state.name, "type": state.type}


def _team_view(team: _Team) -> dict[str, Any]:
    return {"id": team.id, "key": team.key, "name": team.name}


def _complexity(data: Any) -> int:
    """A rough cost: one point per object in the answer (Linear's is per field/object)."""
    if isinstance(data, dict):
        return 1 + sum(_complexity(v) for v in data.values())
    if isinstance(data, list):
        return sum(_complexity(v) for v in data)
    return 0


# -- filters -----------------------------------------------------------------------------------
def _check_filter(schema: Any, flt: Any, where: str) -> None:
    """Reject filter keys the type does not have, even when no record would be tested."""
    if not isinstance(flt, dict):
        raise _Invalid(f"Expected an input object in the {where} filter, got {flt!r}.")
    for key, cond in flt.items():
        if key in ("and", "or"):
            if not isinstance(cond, list):
                raise _Invalid(f'"{key}" expects a list of filters in {where}.')
            for item in cond:
                _check_filter(schema, item, where)
        elif key in COMPARATORS:
            if schema is not None and key != "null":
                raise _Invalid(f'Comparator "{key}" is not defined on {where}.')
        elif key in ("some", "every"):
            if not isinstance(schema, list):
                raise _Invalid(f'Field "{key}" is not defined by type "{where}Filter".')
            _check_filter(schema[0], cond, where)
        elif isinstance(schema, list):
            _check_filter(schema[0], {key: cond}, where)
        elif isinstance(schema, dict) and key in schema:
            _check_filter(schema[key], cond, f"{where}.{key}")
        else:
            raise _Invalid(f'Field "{key}" is not defined by type "{where}Filter".')


# -- filter evaluation ------------------------------------------------------------------------
def _matches(view: Any, flt: Any, where: str) -> bool:
    if not isinstance(flt, dict):
        raise _Invalid(f"Expected an input object in the {where} filter, got {flt!r}.")
    for key, cond in flt.items():
        if key == "and":
            ok = all(_matches(view, c, where) for c in cond)
        elif key == "or":
            ok = any(_matches(view, c, where) for c in cond)
        elif key in COMPARATORS:
            ok = _compare(view, key, cond)
        elif key in ("some", "every"):
            if not isinstance(view, list):
                raise _Invalid(
                    f'Field "{key}" is not defined on a non-collection in {where} filter.'
                )
            hits = (_matches(item, cond, where) for item in view)
            ok = any(hits) if key == "some" else all(hits)
        elif isinstance(view, list):  # a collection filtered by its members' fields: "some"
            ok = any(_matches(item, {key: cond}, where) for item in view)
        else:
            if not isinstance(view, dict) and view is not None:
                raise _Invalid(f'Field "{key}" is not defined in the {where} filter.')
            if view is None:
                ok = False
            elif key not in view:
                raise _Invalid(f'Field "{key}" is not defined by type "{where}Filter".')
            else:
                ok = _matches(view[key], cond, f"{where}.{key}")
        if not ok:
            return False
    return True


def _compare(value: Any, op: str, target: Any) -> bool:
    if op == "null":
        return (value is None) == bool(target)
    if value is None:
        return op in ("neq", "nin", "neqIgnoreCase")
    if isinstance(value, datetime):
        target = _as_time(target)
    if op in ("in", "nin"):
        if not isinstance(target, list):
            raise _Invalid(f'"{op}" expects a list.')
        values = [_as_time(t) if isinstance(value, datetime) else t for t in target]
        return (value in values) == (op == "in")
    if op.endswith("IgnoreCase"):
        left, right = str(value).casefold(), str(target).casefold()
        return {
            "eqIgnoreCase": left == right,
            "neqIgnoreCase": left != right,
            "containsIgnoreCase": right in left,
        }[op]
    try:
        return {
            "eq": lambda: value == target,
            "neq": lambda: value != target,
            "lt": lambda: value < target,
            "lte": lambda: value <= target,
            "gt": lambda: value > target,
            "gte": lambda: value >= target,
            "contains": lambda: str(target) in str(value),
            "startsWith": lambda: str(value).startswith(str(target)),
            "endsWith": lambda: str(value).endswith(str(target)),
        }[op]()
    except TypeError:
        raise _Invalid(f"Cannot compare {value!r} with {target!r}.") from None


def _as_time(text: Any) -> datetime:
    if isinstance(text, datetime):
        return text
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        # Linear also accepts ISO-8601 durations ("-P2W"); the connector never sends them.
        raise _FieldError(f"Invalid date: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
