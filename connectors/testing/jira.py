"""A loopback Jira (Cloud or Data Center) faithful enough for the `jira` client library.

It serves what `jira` 3.10 actually sends (see API-NOTES §1, §8): `serverInfo`, the
`/field` cache, single and bulk creates, issue GET/PUT, transitions with a small
workflow (To Do → In Progress → Done, plus "Won't Do"), comments, the Cloud
`/search/jql` (nextPageToken) and the Data Center `/search` (startAt), users.

JQL is parsed by a small tokenizer and understands only the subset the connector
uses; anything else is rejected with Jira's 400 error shape, so a connector that
starts sending new syntax fails loudly here instead of silently matching nothing.

Like real Jira, JQL dates are read in the API user's time zone (`user_timezone`) and
timestamps are rendered with that zone's offset ("2024-11-13T19:23:33.246+0200").
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from connectors.testing.emulation import EmulatorServer, Request, Response
from syncd.model import Status

API = r"/rest/api/(?:2|latest)"
ISSUE = r"(?P<ref>[A-Za-z0-9_-]+)"
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$")
MAX_BULK = 50  # Jira's limit on issueUpdates per bulk create

# statusCategory values as recorded from Jira Cloud (API-NOTES §1.4)
CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}
# status name -> (status id, category key)
STATUSES: dict[str, tuple[str, str]] = {
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "Done": ("10001", "done"),
    "Won't Do": ("10002", "done"),
}


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str  # target status name
    resolution: str | None  # what the workflow's post-function sets
    screen: bool  # a transition screen offering the resolution field
    # Statuses it is available from; None: a global transition (from any other status).
    sources: tuple[str, ...] | None = None


# Global transitions: every status can reach every other one, as in a simplified
# team-managed workflow. "Done" has a screen with the resolution field; "Won't Do"
# sets its resolution through a post-function (no screen).
TRANSITIONS = (
    Transition("11", "To Do", "To Do", None, screen=False),
    Transition("21", "In Progress", "In Progress", None, screen=False),
    Transition("31", "Done", "Done", "Done", screen=True),
    Transition("41", "Won't Do", "Won't Do", "Won't Do", screen=False),
)
# The company-managed default: steps, no shortcut. To Do -> In Progress -> Done, with
# "Won't Do" only from In Progress, and every closed status reopening to To Do.
STEPPED_WORKFLOW = (
    Transition("11", "Start Progress", "In Progress", None, screen=False, sources=("To Do",)),
    Transition("21", "Stop Progress", "To Do", None, screen=False, sources=("In Progress",)),
    Transition("31", "Resolve", "Done", "Done", screen=True, sources=("In Progress",)),
    Transition("41", "Won't Do", "Won't Do", "Won't Do", screen=False, sources=("In Progress",)),
    Transition("51", "Reopen", "To Do", None, screen=False, sources=("Done", "Won't Do")),
)
# A workflow with no way into a "done" status at all (a misconfigured project).
NO_DONE_WORKFLOW = (
    Transition("11", "Start Progress", "In Progress", None, screen=False, sources=("To Do",)),
    Transition("21", "Stop Progress", "To Do", None, screen=False, sources=("In Progress",)),
)
RESOLUTIONS = {
    "Done": "10000",
    "Won't Do": "10001",
    "Duplicate": "10002",
    "Cannot Reproduce": "10003",
    "Declined": "10004",
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
ISSUE_TYPES = {"Task": "10002", "Bug": "10004", "Story": "10001"}
FIELDS = (
    ("summary", "Summary", "string"),
    ("description", "Description", "string"),
    ("issuetype", "Issue Type", "issuetype"),
    ("project", "Project", "project"),
    ("labels", "Labels", "array"),
    ("assignee", "Assignee", "user"),
    ("reporter", "Reporter", "user"),
    ("duedate", "Due date", "date"),
    ("priority", "Priority", "priority"),
    ("status", "Status", "status"),
    ("resolution", "Resolution", "resolution"),
    ("created", "Created", "datetime"),
    ("updated", "Updated", "datetime"),
    ("resolutiondate", "Resolved", "datetime"),
    ("statuscategorychangedate", "Status Category Changed", "datetime"),
)
FIELD_IDS = tuple(name for name, _label, _type in FIELDS)
SETTABLE = {
    "summary",
    "description",
    "issuetype",
    "project",
    "labels",
    "assignee",
    "duedate",
    "priority",
    "reporter",
}

NO_ISSUE = "Issue does not exist or you do not have permission to see it."
SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)


class JiraApiError(Exception):
    """Raised inside handlers; becomes a Jira-shaped error answer."""

    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, list(messages), errors)
        self.status = status
        self.messages = list(messages)
        self.errors = errors or {}

    def response(self) -> Response:
        return Response(self.status, {"errorMessages": self.messages, "errors": self.errors})


def not_settable(field: str) -> str:
    return f"Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."


def _unwrap(handler: Callable[[Request, dict[str, str]], Response]) -> Callable[..., Response]:
    """Turn a JiraApiError raised by a handler into its error answer."""

    def wrapped(req: Request, params: dict[str, str]) -> Response:
        try:
            return handler(req, params)
        except JiraApiError as exc:
            return exc.response()

    return wrapped


# -- JQL ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # string | op | punct | word
    text: str  # unquoted value
    pos: int


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # "=", "!=", ">=", ">", "<=", "<", "in"
    values: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s"'(),=!<>~]+)
    )""",
    re.VERBOSE,
)
_CLAUSE_OPS = {
    "project": {"=", "!=", "in"},
    "labels": {"=", "!=", "in"},
    "key": {"=", "in"},
    "issuekey": {"=", "in"},
    "updated": {">=", ">", "<=", "<"},
    "created": {">=", ">", "<=", "<"},
}
_ORDER_FIELDS = {"updated", "created", "key"}


def jql_error(message: str) -> JiraApiError:
    return JiraApiError(400, [message])


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(jql, pos)
        if not match:
            raise jql_error(f"Error in the JQL Query: unexpected character at position {pos}.")
        kind = match.lastgroup or "word"
        raw = match.group(kind)
        text = raw
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", raw[1:-1])
        tokens.append(Token(kind, text, match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive-descent parser for `clause (AND clause)* [ORDER BY f [ASC|DESC], ...]`."""

    def __init__(self, jql: str) -> None:
        self.tokens = tokenize(jql)
        self.i = 0

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise jql_error("Error in the JQL Query: the query ended unexpectedly.")
        self.i += 1
        return token

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() == word

    def expect_word(self, word: str) -> None:
        token = self.take()
        if token.kind != "word" or token.text.lower() != word:
            raise self.unexpected(token, f"'{word.upper()}'")

    @staticmethod
    def unexpected(token: Token, expected: str) -> JiraApiError:
        return jql_error(
            f"Error in the JQL Query: Expecting {expected} but got '{token.text}'. "
            f"(line 1, character {token.pos + 1})"
        )

    def parse(self) -> Query:
        clauses: list[Clause] = []
        if self.peek() is not None and not self.is_word("order"):
            clauses.append(self.clause())
            while self.is_word("and"):
                self.take()
                clauses.append(self.clause())
        order: list[tuple[str, bool]] = []
        if self.is_word("order"):
            self.take()
            self.expect_word("by")
            order.append(self.sort_key())
            while (token := self.peek()) is not None and token.text == ",":
                self.take()
                order.append(self.sort_key())
        if (token := self.peek()) is not None:
            raise self.unexpected(token, "'AND' or 'ORDER BY'")
        return Query(tuple(clauses), tuple(order))

    def clause(self) -> Clause:
        token = self.take()
        field = token.text.lower()
        if token.kind not in ("word", "string") or field not in _CLAUSE_OPS:
            raise jql_error(
                f"Field '{token.text}' does not exist or you do not have permission to view it."
            )
        op_token = self.take()
        op = op_token.text.lower() if op_token.kind in ("op", "word") else ""
        if op not in _CLAUSE_OPS[field]:
            raise jql_error(
                f"The operator '{op_token.text}' is not supported by the '{token.text}' field."
            )
        values = self.value_list() if op == "in" else (self.value(),)
        return Clause("key" if field == "issuekey" else field, op, values)

    def value(self) -> str:
        token = self.take()
        if token.kind not in ("word", "string"):
            raise self.unexpected(token, "either a value, 'EMPTY' or a function")
        return token.text

    def value_list(self) -> tuple[str, ...]:
        opening = self.take()
        if opening.text != "(":
            raise self.unexpected(opening, "'('")
        values = [self.value()]
        while (token := self.take()).text == ",":
            values.append(self.value())
        if token.text != ")":
            raise self.unexpected(token, "')'")
        return tuple(values)

    def sort_key(self) -> tuple[str, bool]:
        token = self.take()
        field = token.text.lower()
        if field not in _ORDER_FIELDS:
            raise jql_error(f"Not able to sort using field '{token.text}'.")
        descending = False
        if self.is_word("asc") or self.is_word("desc"):
            descending = self.take().text.lower() == "desc"
        return field, descending


def parse_jql(jql: str) -> Query:
    return _Parser(jql).parse()


_RELATIVE = re.compile(r"^([+-]?)(\d+)([wdhm])$")


def parse_jql_date(text: str, zone: ZoneInfo, now: datetime | None = None) -> datetime:
    """A JQL date: relative to the server's clock ("-15m", "-2d") or absolute, read in
    the API user's time zone as Jira does."""
    if now is not None and (rel := _RELATIVE.match(text.strip())):
        sign = -1 if rel.group(1) == "-" else 1
        unit = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}[rel.group(3)]
        return now + sign * timedelta(**{unit: int(rel.group(2))})
    for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    raise jql_error(
        f"Date value '{text}' for field 'updated' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format."
    )


def _key_sort(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return project, int(number)


# -- the emulator ----------------------------------------------------------------------


class JiraEmulator(EmulatorServer):
    """Jira on 127.0.0.1. `deployment` is "Cloud" or "Server" (Data Center)."""

    CLOUD_USERS: ClassVar[dict[str, str]] = {
        "5b10ac8d82e05b22cc7d4ef5": "Alice Example",
        "5b10a2844c20165700ede21g": "Bob Example",
    }
    SERVER_USERS: ClassVar[dict[str, str]] = {"alice": "Alice Example", "bob": "Bob Example"}

    def __init__(
        self,
        *,
        deployment: str = "Cloud",
        project: str = "OPS",
        latency: float = 0.0,
        seed: int = 0,
        page_size: int = 50,
        token: str | None = None,
        burst: int | None = None,
        workflow: Sequence[Transition] = TRANSITIONS,
    ) -> None:
        super().__init__(latency=latency, seed=seed)
        self.workflow = tuple(workflow)  # the transitions every issue's workflow offers
        if deployment not in ("Cloud", "Server"):
            raise ValueError("deployment must be 'Cloud' or 'Server'")
        self.deployment = deployment
        self.project = project.upper()
        self.project_id = "10000"
        self.page_size = page_size  # the most issues one search page returns
        self.token = token  # None accepts any credentials
        self.burst = burst  # requests per second before answering 429; None = unlimited
        self.user_timezone = "UTC"  # the API user's profile zone (JQL dates, rendering)
        self.calls: list[Request] = []  # every request that reached the routes, with bodies
        self._issues: dict[str, dict[str, Any]] = {}  # id -> stored issue
        self._ids_by_key: dict[str, str] = {}
        self._next_id = 10001
        self._next_number = 1
        self._recent: deque[float] = deque()  # request times inside the burst window
        cloud = deployment == "Cloud"
        self.users: dict[str, str] = dict(self.CLOUD_USERS if cloud else self.SERVER_USERS)
        self.bot_user = "712020:0b4c3c0e-syncd-bot" if cloud else "syncd-bot"
        self.users[self.bot_user] = "postmortem-syncd"
        self._register_routes()

    # -- clock -------------------------------------------------------------------------
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.user_timezone)

    def _stamp(self, when: datetime | None) -> str | None:
        """Jira's timestamp format: milliseconds and an offset without a colon."""
        if when is None:
            return None
        local = when.astimezone(self._zone())
        millis = f"{local.microsecond // 1000:03d}"
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + millis + local.strftime("%z")

    # -- test helpers --------------------------------------------------------------------
    def connector_section(self, **overrides: Any) -> dict[str, Any]:
        """A `[trackers.jira]` config section pointing at this emulator."""
        section: dict[str, Any] = {
            "kind": "jira",
            "url": self.url,
            "project": self.project,
            "token": self.token or "emulator-token",
            "timeout": 5.0,
        }
        if self.deployment == "Cloud":
            section["email"] = "syncd-bot@example.com"
        section["deployment"] = "cloud" if self.deployment == "Cloud" else "server"
        section.update(overrides)
        return section

    def add_user(self, user_id: str, display_name: str) -> None:
        with self.lock:
            self.users[user_id] = display_name

    def human_set_status(self, key: str, status: Status) -> None:
        """What a person does in the UI: move the issue, bumping `updated`."""
        target = {
            Status.OPEN: "To Do",
            Status.IN_PROGRESS: "In Progress",
            Status.DONE: "Done",
            Status.WONT_DO: "Won't Do",
        }[status]
        with self.lock:
            issue = self._lookup(key)
            # A person may take several steps (or an admin bypass): land on the target.
            transition = next(
                (t for t in self.workflow if t.to == target),
                Transition("0", target, target, "Done" if target == "Done" else None, False),
            )
            if target == "Won't Do":
                transition = Transition("0", target, target, "Won't Do", screen=False)
            self._apply_transition(issue, transition, transition.resolution)

    def human_update(self, key: str, **fields: Any) -> None:
        """Edit stored fields directly (summary, duedate, labels, ...), bumping `updated`."""
        with self.lock:
            issue = self._lookup(key)
            issue["fields"].update(fields)
            issue["fields"]["updated"] = self.now()

    def human_create(self, title: str, labels: Iterable[str] = ()) -> str:
        """An issue created by a person, without the tool's shared label. Returns its key."""
        with self.lock:
            issue = self._new_issue({"summary": title, "labels": list(labels)})
            return str(issue["key"])

    def human_delete(self, key: str) -> None:
        """A person deletes the issue: GET answers 404, JQL `key in` 400 "does not exist"."""
        with self.lock:
            issue = self._lookup(key)
            del self._issues[issue["id"]]
            del self._ids_by_key[issue["key"]]

    def issue_count(self) -> int:
        with self.lock:
            return len(self._issues)

    def keys(self) -> list[str]:
        """Issue keys in creation order (what a human would see in the UI)."""
        with self.lock:
            return [issue["key"] for issue in self._issues.values()]

    def issues(self) -> list[dict[str, Any]]:
        """Deep copies of the stored issues (timestamps as datetimes)."""
        with self.lock:
            return copy.deepcopy(list(self._issues.values()))

    def issue(self, key: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._lookup(key))

    def requests_to(self, method: str, path_suffix: str) -> list[Request]:
        """Logged requests whose path ends with `path_suffix`, e.g. ("GET", "/search/jql")."""
        return [r for r in self.calls if r.method == method and r.path.endswith(path_suffix)]

    # -- routing ---------------------------------------------------------------------------
    def _register_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request, dict[str, str]], Response]]] = [
            ("GET", f"{API}/serverInfo", self._server_info),
            ("GET", f"{API}/field", self._fields),
            ("GET", f"{API}/myself", self._myself),
            ("GET", f"{API}/user/search", self._user_search),
            ("GET", f"{API}/project/(?P<project>[^/]+)", self._get_project),
            ("POST", f"{API}/issue", self._create),
            ("POST", f"{API}/issue/bulk", self._create_bulk),
            ("GET", f"{API}/issue/{ISSUE}", self._get_issue),
            ("PUT", f"{API}/issue/{ISSUE}", self._edit_issue),
            ("GET", f"{API}/issue/{ISSUE}/transitions", self._get_transitions),
            ("POST", f"{API}/issue/{ISSUE}/transitions", self._do_transition),
            ("POST", f"{API}/issue/{ISSUE}/comment", self._add_comment),
            ("GET", f"{API}/search/jql", self._search_jql),
            ("POST", f"{API}/search/jql", self._search_jql),
            ("GET", f"{API}/search", self._search_legacy),
            ("POST", f"{API}/search", self._search_legacy),
        ]
        for method, pattern, handler in routes:
            self.route(method, pattern, _unwrap(handler))

    def dispatch(self, req: Request) -> Response:
        with self.lock:
            self.calls.append(req)
        if not self._authenticated(req):
            return JiraApiError(
                401, ["Client must be authenticated to access this resource."]
            ).response()
        if (limited := self._throttle()) is not None:
            return limited
        return super().dispatch(req)

    def _authenticated(self, req: Request) -> bool:
        header = req.headers.get("authorization", "")
        if self.token is None:
            return True
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value == self.token
        if scheme.lower() == "basic":
            try:
                _user, _, password = base64.b64decode(value).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return password == self.token
        return False

    def _throttle(self) -> Response | None:
        """Burst limit per second, answered like Jira Cloud: 429 with integer Retry-After."""
        if self.burst is None:
            return None
        with self.lock:
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.burst:
                headers = {
                    "Retry-After": "1",
                    "X-RateLimit-Limit": str(self.burst),
                    "X-RateLimit-Remaining": "0",
                    "RateLimit-Reason": "jira-burst-based",
                }
                return Response(429, {"errorMessages": ["Rate limit exceeded."]}, headers)
            self._recent.append(now)
        return None

    # -- rendering -----------------------------------------------------------------------
    def _self(self, path: str) -> str:
        return f"{self.url}/rest/api/2/{path}"

    def _user_json(self, user_id: str | None) -> dict[str, Any] | None:
        if user_id is None:
            return None
        name = self.users.get(user_id, user_id)
        if self.deployment == "Cloud":
            return {
                "self": self._self(f"user?accountId={user_id}"),
                "accountId": user_id,
                "accountType": "atlassian",
                "displayName": name,
                "active": True,
                "timeZone": self.user_timezone,
                "avatarUrls": {"48x48": f"{self.url}/avatar/{user_id}"},
            }
        return {
            "self": self._self(f"user?username={user_id}"),
            "name": user_id,
            "key": f"JIRAUSER{int(hashlib.sha256(user_id.encode()).hexdigest()[:4], 16)}",
            "emailAddress": f"{user_id}@example.com",
            "displayName": name,
            "active": True,
            "timeZone": self.user_timezone,
        }

    def _status_json(self, name: str) -> dict[str, Any]:
        status_id, category = STATUSES[name]
        cat_id, colour, cat_name = CATEGORIES[category]
        return {
            "self": self._self(f"status/{status_id}"),
            "description": "",
            "iconUrl": f"{self.url}/images/icons/statuses/generic.png",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": self._self(f"statuscategory/{cat_id}"),
                "id": cat_id,
                "key": category,
                "colorName": colour,
                "name": cat_name,
            },
        }

    def _field_json(self, issue: dict[str, Any], field: str) -> Any:
        stored = issue["fields"]
        value = stored.get(field)
        match field:
            case "assignee" | "reporter":
                return self._user_json(value)
            case "status":
                return self._status_json(value)
            case "priority":
                if value is None:
                    return None
                return {
                    "self": self._self(f"priority/{PRIORITIES[value]}"),
                    "name": value,
                    "id": PRIORITIES[value],
                }
            case "resolution":
                if value is None:
                    return None
                res_id = RESOLUTIONS[value]
                return {
                    "self": self._self(f"resolution/{res_id}"),
                    "id": res_id,
                    "description": "",
                    "name": value,
                }
            case "issuetype":
                return {
                    "self": self._self(f"issuetype/{ISSUE_TYPES[value]}"),
                    "id": ISSUE_TYPES[value],
                    "name": value,
                    "subtask": False,
                }
            case "project":
                return {
                    "self": self._self(f"project/{self.project_id}"),
                    "id": self.project_id,
                    "key": self.project,
                    "name": f"{self.project} project",
                }
            case "created" | "updated" | "resolutiondate" | "statuscategorychangedate":
                return self._stamp(value)
            case "labels":
                return list(value)
            case _:
                return value

    def _issue_json(self, issue: dict[str, Any], fields: Iterable[str] | None) -> dict[str, Any]:
        wanted = FIELD_IDS if fields is None else [f for f in fields if f in FIELD_IDS]
        out: dict[str, Any] = {
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": issue["id"],
            "self": self._self(f"issue/{issue['id']}"),
            "key": issue["key"],
        }
        if fields is None or wanted:
            out["fields"] = {name: self._field_json(issue, name) for name in wanted}
        return out

    # -- storage ---------------------------------------------------------------------------
    def _lookup(self, ref: str) -> dict[str, Any]:
        issue_id = ref if ref.isdigit() else self._ids_by_key.get(ref.upper())
        if issue_id is None or issue_id not in self._issues:
            raise JiraApiError(404, [NO_ISSUE])
        return self._issues[issue_id]

    def _new_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.now()
        issue_id = str(self._next_id)
        key = f"{self.project}-{self._next_number}"
        self._next_id += 1
        self._next_number += 1
        stored: dict[str, Any] = {
            "summary": "",
            "description": None,
            "issuetype": "Task",
            "labels": [],
            "assignee": None,
            "reporter": self.bot_user,
            "duedate": None,
            "priority": "Medium",
            "status": "To Do",
            "resolution": None,
            "created": now,
            "updated": now,
            "resolutiondate": None,
            "statuscategorychangedate": now,
        }
        stored.update(fields)
        issue = {"id": issue_id, "key": key, "fields": stored, "comments": []}
        self._issues[issue_id] = issue
        self._ids_by_key[key] = issue_id
        return issue

    def _apply_transition(
        self, issue: dict[str, Any], transition: Transition, resolution: str | None
    ) -> None:
        stored = issue["fields"]
        now = self.now()
        before = STATUSES[stored["status"]][1]
        after = STATUSES[transition.to][1]
        stored["status"] = transition.to
        stored["resolution"] = resolution if after == "done" else None
        stored["resolutiondate"] = now if after == "done" else None
        if before != after:
            stored["statuscategorychangedate"] = now
        stored["updated"] = now

    # -- field validation (create and edit) --------------------------------------------------
    def _convert_fields(self, raw: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Validate a `fields` object the way Jira does; return the stored form."""
        errors: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if name not in SETTABLE:
                errors[name] = not_settable(name)
                continue
            try:
                converted = self._convert_field(name, value)
            except ValueError as exc:
                errors[name] = str(exc)
                continue
            if name not in ("project", "issuetype") or creating:
                out[name] = converted
        if creating:
            required = {
                "project": "Specify a valid project ID or key",
                "issuetype": "Specify an issue type",
                "summary": "You must specify a summary of the issue.",
            }
            for name, message in required.items():
                if name not in raw:
                    errors.setdefault(name, message)
        if errors:
            raise JiraApiError(400, [], errors)
        return out

    def _convert_field(self, name: str, value: Any) -> Any:
        match name:
            case "summary":
                if not isinstance(value, str) or not value.strip():
                    raise ValueError("You must specify a summary of the issue.")
                if len(value) > 255:
                    raise ValueError("Summary must be less than 255 characters.")
                if "\n" in value or "\r" in value:
                    raise ValueError(
                        "The summary is invalid because it contains newline characters."
                    )
                return value
            case "description":
                if value is not None and not isinstance(value, str):
                    raise ValueError("Operation value must be a string")
                return value
            case "project":
                ref = value.get("key") or value.get("id") if isinstance(value, dict) else None
                if str(ref).upper() not in (self.project, self.project_id):
                    raise ValueError("valid project is required")
                return self.project
            case "issuetype":
                return self._issue_type(value)
            case "labels":
                return self._labels(value)
            case "assignee" | "reporter":
                return self._user_ref(name, value)
            case "duedate":
                return self._due(value)
            case "priority":
                return self._priority(value)
        raise ValueError(f"Field '{name}' is not supported")  # pragma: no cover

    @staticmethod
    def _issue_type(value: Any) -> str:
        if isinstance(value, dict):
            if value.get("name") in ISSUE_TYPES:
                return str(value["name"])
            for type_name, type_id in ISSUE_TYPES.items():
                if str(value.get("id")) == type_id:
                    return type_name
        raise ValueError("Specify a valid issue type")

    @staticmethod
    def _labels(value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("Labels must be a list of strings.")
        for label in value:
            if not label or any(ch.isspace() for ch in label):
                raise ValueError(f"The label '{label}' contains spaces which is invalid.")
            if len(label) > 255:
                raise ValueError("The label must not exceed 255 characters.")
        return list(dict.fromkeys(value))

    def _user_ref(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"Could not find valid 'id' or 'name' in {name} object.")
        if self.deployment == "Cloud":
            if "accountId" not in value:
                # Jira Cloud removed user names (GDPR): only accountId identifies a user.
                raise ValueError(
                    "'accountId' must be the only user identifying query parameter in GDPR "
                    "strict mode."
                )
            user = value["accountId"]
        else:
            user = value.get("name")
            if user is None:
                raise ValueError(f"Could not find valid 'id' or 'name' in {name} object.")
        if user is None:
            return None
        if user not in self.users:
            raise ValueError(f"User '{user}' does not exist.")
        return str(user)

    @staticmethod
    def _due(value: Any) -> str | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(f"Error parsing date string: {value}") from None

    @staticmethod
    def _priority(value: Any) -> str:
        if isinstance(value, dict):
            if value.get("name") in PRIORITIES:
                return str(value["name"])
            for prio_name, prio_id in PRIORITIES.items():
                if str(value.get("id")) == prio_id:
                    return prio_name
        raise ValueError("Specify a valid priority.")

    # -- handlers: metadata ---------------------------------------------------------------------
    def _server_info(self, _req: Request, _p: dict[str, str]) -> Response:
        if self.deployment == "Cloud":
            version, numbers = "1001.0.0-SNAPSHOT", [1001, 0, 0]
        else:
            version, numbers = "9.12.15", [9, 12, 15]
        return Response(
            200,
            {
                "baseUrl": self.url,
                "version": version,
                "versionNumbers": numbers,
                "deploymentType": self.deployment,
                "buildNumber": 100280 if self.deployment == "Cloud" else 9120015,
                "buildDate": "2026-06-01T00:00:00.000+0000",
                "serverTime": self._stamp(self.now()),
                "scmInfo": "0e1c2d3f",
                "serverTitle": "Jira",
            },
        )

    def _fields(self, _req: Request, _p: dict[str, str]) -> Response:
        return Response(
            200,
            [
                {
                    "id": fid,
                    "key": fid,
                    "name": label,
                    "custom": False,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [fid],
                    "schema": {"type": ftype, "system": fid},
                }
                for fid, label, ftype in FIELDS
            ],
        )

    def _myself(self, _req: Request, _p: dict[str, str]) -> Response:
        return Response(200, self._user_json(self.bot_user))

    def _user_search(self, req: Request, _p: dict[str, str]) -> Response:
        query = (req.arg("query") or req.arg("username") or req.arg("accountId") or "").lower()
        with self.lock:
            found = [
                self._user_json(user_id)
                for user_id, name in self.users.items()
                if query and (query in user_id.lower() or query in name.lower())
            ]
        return Response(200, found)

    def _get_project(self, _req: Request, params: dict[str, str]) -> Response:
        if params["project"].upper() not in (self.project, self.project_id):
            raise JiraApiError(404, [f"No project could be found with key '{params['project']}'."])
        return Response(
            200,
            {
                "self": self._self(f"project/{self.project_id}"),
                "id": self.project_id,
                "key": self.project,
                "name": f"{self.project} project",
                "issueTypes": [
                    {"id": i, "name": n, "subtask": False} for n, i in ISSUE_TYPES.items()
                ],
            },
        )

    # -- handlers: create ---------------------------------------------------------------------
    def _create_one(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("fields"), dict):
            raise JiraApiError(400, ["Issue fields are required."])
        fields = self._convert_fields(body["fields"], creating=True)
        fields.pop("project", None)
        issue = self._new_issue(fields)
        return {"id": issue["id"], "key": issue["key"], "self": self._self(f"issue/{issue['id']}")}

    def _create(self, req: Request, _p: dict[str, str]) -> Response:
        with self.lock:
            return Response(201, self._create_one(req.json()))

    def _create_bulk(self, req: Request, _p: dict[str, str]) -> Response:
        body = req.json()
        updates = body.get("issueUpdates") if isinstance(body, dict) else None
        if not isinstance(updates, list) or not updates:
            raise JiraApiError(400, ["issueUpdates is required."])
        if len(updates) > MAX_BULK:
            raise JiraApiError(
                400, [f"Bulk create supports at most {MAX_BULK} issues; {len(updates)} given."]
            )
        created: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.lock:
            for index, update in enumerate(updates):
                try:
                    created.append(self._create_one(update))
                except JiraApiError as exc:
                    errors.append(
                        {
                            "status": exc.status,
                            "elementErrors": {"errorMessages": exc.messages, "errors": exc.errors},
                            "failedElementNumber": index,
                        }
                    )
        return Response(201 if created else 400, {"issues": created, "errors": errors})

    # -- handlers: one issue ------------------------------------------------------------------
    def _get_issue(self, req: Request, params: dict[str, str]) -> Response:
        with self.lock:
            issue = self._lookup(params["ref"])
            return Response(200, self._issue_json(issue, _fields_param(req.query.get("fields"))))

    def _edit_issue(self, req: Request, params: dict[str, str]) -> Response:
        body = req.json() or {}
        with self.lock:
            issue = self._lookup(params["ref"])
            changes = self._convert_fields(body.get("fields") or {}, creating=False)
            changes.update(self._label_updates(issue, body.get("update") or {}))
            stored = issue["fields"]
            # Like Jira, an edit that changes nothing leaves `updated` alone.
            if any(stored.get(name) != value for name, value in changes.items()):
                stored.update(changes)
                stored["updated"] = self.now()
        return Response(204)

    def _label_updates(self, issue: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        """The `update` verbs the client may send: labels add/remove/set, summary set."""
        out: dict[str, Any] = {}
        for name, operations in update.items():
            if name not in ("labels", "summary") or not isinstance(operations, list):
                raise JiraApiError(400, [], {name: f"Field '{name}' cannot be set."})
            if name == "summary":
                for op in operations:
                    out["summary"] = self._convert_field("summary", op.get("set"))
                continue
            labels = list(issue["fields"]["labels"])
            for op in operations:
                if isinstance(op, str):  # `issue.update(labels=[...])` sends plain strings
                    labels = [*labels, op]
                elif "add" in op:
                    labels.append(op["add"])
                elif "remove" in op:
                    labels = [label for label in labels if label != op["remove"]]
                elif "set" in op:
                    labels = list(op["set"])
            try:
                out["labels"] = self._labels(labels)
            except ValueError as exc:
                raise JiraApiError(400, [], {"labels": str(exc)}) from None
        return out

    def _available(self, issue: dict[str, Any]) -> list[Transition]:
        current = issue["fields"]["status"]
        return [
            t
            for t in self.workflow
            if t.to != current and (t.sources is None or current in t.sources)
        ]

    def _transition_json(self, transition: Transition, expand_fields: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": transition.id,
            "name": transition.name,
            "to": self._status_json(transition.to),
            "hasScreen": transition.screen,
            "isGlobal": transition.sources is None,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        if expand_fields:
            out["fields"] = {}
            if transition.screen:
                out["fields"]["resolution"] = {
                    "required": True,
                    "schema": {"type": "resolution", "system": "resolution"},
                    "name": "Resolution",
                    "key": "resolution",
                    "operations": ["set"],
                    "allowedValues": [
                        {"self": self._self(f"resolution/{rid}"), "id": rid, "name": rname}
                        for rname, rid in RESOLUTIONS.items()
                    ],
                }
        return out

    def _get_transitions(self, req: Request, params: dict[str, str]) -> Response:
        expand_fields = "transitions.fields" in (req.arg("expand") or "")
        only = req.arg("transitionId")
        with self.lock:
            issue = self._lookup(params["ref"])
            found = [
                self._transition_json(t, expand_fields)
                for t in self._available(issue)
                if only is None or t.id == only
            ]
        return Response(200, {"expand": "transitions", "transitions": found})

    def _do_transition(self, req: Request, params: dict[str, str]) -> Response:
        body = req.json() or {}
        wanted = str((body.get("transition") or {}).get("id", ""))
        with self.lock:
            issue = self._lookup(params["ref"])
            transition = next((t for t in self._available(issue) if t.id == wanted), None)
            if transition is None:
                raise JiraApiError(400, [f"Transition id '{wanted}' is not valid for this issue."])
            resolution = self._transition_resolution(transition, body.get("fields") or {})
            self._apply_transition(issue, transition, resolution)
            for op in (body.get("update") or {}).get("comment", []):
                self._store_comment(issue, op.get("add", {}).get("body", ""))
        return Response(204)

    @staticmethod
    def _transition_resolution(transition: Transition, fields: dict[str, Any]) -> str | None:
        resolution = transition.resolution
        for name, value in fields.items():
            if name != "resolution" or not transition.screen:
                raise JiraApiError(400, [], {name: not_settable(name)})
            chosen = value.get("name") if isinstance(value, dict) else None
            if chosen not in RESOLUTIONS:
                raise JiraApiError(400, [], {"resolution": f"Resolution '{chosen}' is invalid."})
            resolution = chosen
        return resolution

    def _store_comment(self, issue: dict[str, Any], body: str) -> dict[str, Any]:
        now = self.now()
        comment = {
            "id": str(20000 + sum(len(i["comments"]) for i in self._issues.values())),
            "body": body,
            "author": self.bot_user,
            "created": now,
            "updated": now,
        }
        issue["comments"].append(comment)
        issue["fields"]["updated"] = now
        return comment

    def _add_comment(self, req: Request, params: dict[str, str]) -> Response:
        body = req.json() or {}
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise JiraApiError(400, [], {"comment": "Comment body can not be empty!"})
        with self.lock:
            issue = self._lookup(params["ref"])
            comment = self._store_comment(issue, body["body"])
            return Response(
                201,
                {
                    "self": self._self(f"issue/{issue['id']}/comment/{comment['id']}"),
                    "id": comment["id"],
                    "author": self._user_json(comment["author"]),
                    "body": comment["body"],
                    "created": self._stamp(comment["created"]),
                    "updated": self._stamp(comment["updated"]),
                },
            )

    # -- handlers: search ---------------------------------------------------------------------
    def _search_jql(self, req: Request, _p: dict[str, str]) -> Response:
        if self.deployment != "Cloud":
            raise JiraApiError(404, ["null for uri: " + req.path])
        args = _search_args(req)
        jql = str(args.get("jql") or "")
        limit = max(1, min(_int_arg(args.get("maxResults"), 50), self.page_size))
        offset = self._decode_token(args.get("nextPageToken"), jql)
        fields = _fields_param(args.get("fields"), default=[])
        _int_list(args.get("reconcileIssues"))  # validated; the emulator is always consistent
        if not parse_jql(jql).clauses:
            raise JiraApiError(
                400,
                [
                    "Unbounded JQL queries are not allowed here. Please add a search restriction "
                    "to your query."
                ],
            )
        with self.lock:
            matched = self._run_jql(jql, strict_keys=True)[0]
            page = matched[offset : offset + limit]
            body: dict[str, Any] = {"issues": [self._issue_json(i, fields) for i in page]}
        more = offset + limit < len(matched)
        if more:
            body["nextPageToken"] = self._encode_token(offset + limit, jql)
        body["isLast"] = not more
        return Response(200, body)

    def _search_legacy(self, req: Request, _p: dict[str, str]) -> Response:
        if self.deployment == "Cloud":
            raise JiraApiError(410, [SEARCH_GONE])
        args = _search_args(req)
        jql = str(args.get("jql") or "")
        start = _int_arg(args.get("startAt"), 0)
        limit = max(1, min(_int_arg(args.get("maxResults"), 50), self.page_size))
        validate = str(args.get("validateQuery", "strict")).lower()
        fields = _fields_param(args.get("fields"))
        with self.lock:
            matched, warnings = self._run_jql(jql, strict_keys=validate in ("true", "strict"))
            page = matched[start : start + limit]
            issues = [self._issue_json(i, fields) for i in page]
        return Response(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(matched),
                "issues": issues,
                "warningMessages": warnings if validate == "warn" else [],
            },
        )

    def _encode_token(self, offset: int, jql: str) -> str:
        digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
        raw = json.dumps({"o": offset, "q": digest}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode_token(self, token: Any, jql: str) -> int:
        if not token:
            return 0
        try:
            padded = str(token) + "=" * (-len(str(token)) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded))
            if data["q"] != hashlib.sha256(jql.encode()).hexdigest()[:12]:
                raise ValueError("token from another query")
            return int(data["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            message = "The provided next page token is invalid or expired."
            raise JiraApiError(400, [message]) from None

    def _run_jql(self, jql: str, *, strict_keys: bool) -> tuple[list[dict[str, Any]], list[str]]:
        """Matching issues in query order, plus warnings for unknown keys when not strict."""
        query = parse_jql(jql)
        warnings: list[str] = []
        for clause in query.clauses:
            if clause.field == "key":
                warnings += self._check_keys(clause.values, strict=strict_keys)
            if clause.field == "project":
                for value in clause.values:
                    if value.upper() not in (self.project, self.project_id):
                        raise jql_error(
                            f"The value '{value}' does not exist for the field 'project'."
                        )
        predicates = [self._predicate(clause) for clause in query.clauses]
        matched = [i for i in self._issues.values() if all(p(i) for p in predicates)]
        matched.sort(key=lambda i: int(i["id"]))  # ties keep creation order
        order = query.order or (("key", True),)  # Jira's default: newest key first
        for field, descending in reversed(order):
            matched.sort(key=self._sort_key(field), reverse=descending)
        return matched, warnings

    def _check_keys(self, keys: Iterable[str], *, strict: bool) -> list[str]:
        problems: list[str] = []
        for key in keys:
            if not KEY_RE.match(key):
                problems.append(f"The issue key '{key}' for field 'key' is invalid.")
            elif key.upper() not in self._ids_by_key:
                problems.append(f"An issue with key '{key}' does not exist for field 'key'.")
        if problems and strict:
            raise JiraApiError(400, problems)
        return problems

    def _predicate(self, clause: Clause) -> Callable[[dict[str, Any]], bool]:
        values = clause.values
        match clause.field:
            case "project":
                wanted = any(v.upper() in (self.project, self.project_id) for v in values)
                return lambda _issue: wanted if clause.op != "!=" else not wanted
            case "labels":
                if clause.op == "!=":
                    return lambda issue: values[0] not in issue["fields"]["labels"]
                return lambda issue: any(v in issue["fields"]["labels"] for v in values)
            case "key":
                keys = {v.upper() for v in values}
                return lambda issue: issue["key"] in keys
            case "updated" | "created":
                bound = parse_jql_date(values[0], self._zone(), self.now())
                compare: Callable[[datetime], bool] = {
                    ">=": lambda t: t >= bound,
                    ">": lambda t: t > bound,
                    "<=": lambda t: t <= bound,
                    "<": lambda t: t < bound,
                }[clause.op]
                field = clause.field
                return lambda issue: compare(issue["fields"][field])
        raise jql_error(f"Field '{clause.field}' is not supported.")  # pragma: no cover

    @staticmethod
    def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
        if field == "key":
            return lambda issue: _key_sort(issue["key"])
        return lambda issue: issue["fields"][field]


# -- request argument helpers -----------------------------------------------------------------


def _search_args(req: Request) -> dict[str, Any]:
    """GET parameters or a POST body, as one dict (lists kept for repeated GET params)."""
    if req.method == "POST":
        body = req.json()
        if not isinstance(body, dict):
            raise JiraApiError(400, ["Request body must be a JSON object."])
        return body
    args: dict[str, Any] = {name: values[0] for name, values in req.query.items()}
    for name in ("fields", "reconcileIssues"):
        if name in req.query:
            args[name] = req.query[name]
    return args


def _int_arg(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise JiraApiError(400, [f"'{value}' is not a valid number."]) from None
    if number < 0:
        raise JiraApiError(400, ["Negative values are not allowed."])
    return number


def _int_list(value: Any) -> list[int]:
    if value in (None, "", []):
        return []
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        for part in str(item).split(","):
            if part.strip():
                out.append(_int_arg(part.strip(), 0))
    return out


def _fields_param(value: Any, default: list[str] | None = None) -> list[str] | None:
    """`fields` repeated (`fields=a&fields=b`), comma-separated, or a JSON list.

    Returns None for "all fields" and `default` when the parameter is absent.
    """
    if value is None:
        return default
    items = value if isinstance(value, list) else [value]
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if any(name in ("*all", "*navigable") for name in names):
        return None
    return [name for name in names if not name.startswith("-")]
