"""Linear connector: one Linear team's issues over the GraphQL API, through httpx.

Identity. Every issue the tool creates carries the shared label (`label`, default
`postmortem-action`) and a hidden marker line at the end of its description::

    <!-- postmortem-syncd:marker=pm-1a2b3c4d5e6f -->

`find_by_markers` lists the labelled issues of the team (`issues(filter: …)`, a
database query, consistent right after a create; Linear has no lagging search index in
this path) and reads the marker from each description. The marker regex does not
require the comment delimiters, so an editor that escapes the comment still matches.
As a second line of defence each create also sends a client-chosen issue `id`: a UUID
(v4 format) derived from the team id and the marker. A marker that the listing cannot
find (description edited, label removed) is then looked up by that id, and a create
replayed by mistake fails on the duplicate id instead of making a second issue.

Requests. Every call is one HTTP POST of a GraphQL document, counted in `stats` as
"query <Name>" (read) or "mutation <Name>" (write). Reads and `issueUpdate` (absolute
values, safe to repeat) go through `connectors.retry.call_idempotent`. Creates are
batched: up to `batch_size` aliased `issueCreate` fields in one mutation document.
A create request is never retried: a 5xx, timeout or dropped connection after the
request was sent marks every draft of that batch `ambiguous`, for the engine to
resolve by marker. Team, workflow states and label ids are resolved once per connector
(process) and cached.

Linear API facts this module relies on, and where they were checked:

* Endpoint `https://api.linear.app/graphql`; a personal API key is sent as-is,
  `Authorization: <API_KEY>`; an OAuth access token as `Authorization: Bearer <TOKEN>`
  [linear.app/developers/graphql.md, "Authentication"].
* Pagination is Relay style: `first`/`after`, `pageInfo { hasNextPage endCursor }`,
  50 results by default; results are ordered by `createdAt` unless `orderBy: updatedAt`
  [linear.app/developers/pagination.md]. Filters take comparators `eq, neq, in, nin`
  and, on numbers and dates, `lt, lte, gt, gte` [linear.app/developers/filtering.md].
  `IssueFilter` has `number`, `team`, `labels` (an `IssueLabelCollectionFilter` with
  `some`), `updatedAt` and `id` [Linear SDK generated types, e.g. "number: Comparator
  for the issues number."; rubyists/linear-cli#206 for `labels.some`].
* `IssueCreateInput`: `id` ("The identifier in UUID v4 format. If none is provided,
  the backend will generate one."), `title`, `description` (markdown), `teamId`,
  `assigneeId`, `priority` ("0 = No priority, 1 = Urgent, 2 = High, 3 = Normal,
  4 = Low"), `labelIds`, `stateId`, `dueDate` (TimelessDate) [Linear schema as
  generated in jasonkuhrt/dotfiles packages/linear/src/graffle]. `issueUpdate(id:
  String!, input: IssueUpdateInput!): IssuePayload!`; the id may be the UUID or the
  identifier such as ENG-123 [schema docs; Nango's Linear update-issue action].
* `WorkflowState.type` is one of "triage", "backlog", "unstarted", "started",
  "completed", "canceled", "duplicate" [Linear schema field description].
* Rate limits: a leaky bucket per user/key [linear.app/developers/rate-limiting.md].
  The older published page lists 2,500 requests/hour per user for API keys and OAuth
  apps and 60/hour unauthenticated, with `X-RateLimit-Requests-Limit`, `-Remaining`
  and `-Reset` on every answer [developers.linear.app/docs/graphql/working-with-the-
  graphql-api/rate-limiting]; current third-party write-ups quote 5,000 requests/hour
  per API key, 250,000 complexity points/hour and 10,000 points per query, with
  `X-Complexity` and `X-RateLimit-Complexity-*` headers. Those numbers have moved, so
  nothing here hard-codes them: waits come from the headers. The official SDK reads
  `retry-after`, `x-ratelimit-requests-{limit,remaining,reset}` and
  `x-ratelimit-complexity-{limit,remaining,reset}` and maps HTTP 429 to "Ratelimited"
  [linear/linear packages/sdk/src/error.ts]. A limited request is answered with a
  GraphQL error whose `extensions.code` is "RATELIMITED", observed with HTTP 400 as
  well as 429 [third-party clients' tests]. `-Reset` was documented as epoch seconds
  and is reported as epoch milliseconds by newer clients: both are accepted.
* Webhooks: `Linear-Signature` is the hex HMAC-SHA256 of the raw body keyed with the
  webhook's signing secret; the payload's `webhookTimestamp` (ms) must be within one
  minute of now [linear/linear packages/sdk/src/webhooks/client.ts, `verify`];
  `Linear-Delivery` carries a unique delivery id and `Linear-Event` the entity type;
  the payload is `{action, type, data, url, createdAt, webhookTimestamp, …}` with
  `data.identifier` for issues [linear.app/developers/webhooks; third-party guides].

Not verified against a live workspace: whether Linear keeps an HTML comment in a
markdown description verbatim (hence the lenient marker match and the id fallback),
and Linear's exact error text when a client-chosen issue id already exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator

from connectors.base import (
    AmbiguousWrite,
    Capabilities,
    ConnectorConfig,
    CreateOutcome,
    FieldChanges,
    RateLimited,
    RequestStats,
    Ticket,
    TicketDraft,
    TicketsByKey,
    TrackerError,
    WebhookEvent,
    WebhookRejected,
)
from connectors.batching import RATE_LIMIT_FALLBACK, create_in_batches, refused
from connectors.cursors import TrackerCursor
from connectors.markers import marker_comment, marker_in_text
from connectors.pacing import WritePacer
from connectors.retry import call_idempotent, retry_after_seconds
from connectors.transport import transport_error
from connectors.webhooks import verify_hmac_sha256
from syncd.model import Status

T = TypeVar("T")
log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.linear.app/graphql"
PRIORITIES = ("P0", "P1", "P2", "P3", "P4")
# Linear has four levels plus "no priority" (0). P4 shares Low with P3: a P4 item reads
# back as P3, which the planner pushes at most once (on the first sync of the pair).
DEFAULT_PRIORITIES = {"P0": 1, "P1": 2, "P2": 3, "P3": 4, "P4": 4}
TEAM_KEY = r"[A-Za-z][A-Za-z0-9]*"
KEY_RE = re.compile(rf"(?<![\w-])(?P<team>{TEAM_KEY})-(?P<number>\d+)(?![\w-])")
# https://linear.app/<workspace>/issue/ENG-12/optional-title-slug (any host: emulator, proxies)
URL_RE = re.compile(
    rf"https?://[^\s/]+/[^\s/]+/issue/(?P<team>{TEAM_KEY})-(?P<number>\d+)(?![\w-])"
)

# `since` is sent this much earlier than asked: the caller's clock need not match
# Linear's, and a superset is harmless (reconciling a ticket twice changes nothing).
SINCE_OVERLAP = timedelta(minutes=2)
# `number: {in: …}` chunk for get_many, one page of `first: 50`. Not 100: each issue
# reads up to 50 labels, and Linear caps one query's complexity (10,000 points).
KEYS_PER_QUERY = 50
ISSUE_LABELS_FIRST = 50  # labels read per issue (a connection: it costs complexity)
WEBHOOK_MAX_AGE = 60.0  # seconds; Linear's SDK rejects deliveries older than a minute
WEBHOOK_MAX_SKEW = 60.0  # and, like the SDK, as far in the future (clock skew)
ID_NAMESPACE = "postmortem-syncd"

STATUS_OF_TYPE = {
    "triage": Status.OPEN,
    "backlog": Status.OPEN,
    "unstarted": Status.OPEN,
    "started": Status.IN_PROGRESS,
    "completed": Status.DONE,
    "canceled": Status.WONT_DO,
    "duplicate": Status.WONT_DO,  # closed without doing this issue's work
}
# Where set_status moves an issue, in order of preference (the first existing type).
TARGET_TYPES: dict[Status, tuple[str, ...]] = {
    Status.OPEN: ("unstarted", "backlog", "triage"),
    Status.IN_PROGRESS: ("started",),
    Status.DONE: ("completed",),
    Status.WONT_DO: ("canceled",),
}
RATE_LIMIT_CODES = {"RATELIMITED"}
AUTH_CODES = {"AUTHENTICATION_ERROR", "FORBIDDEN", "UNAUTHENTICATED"}
TRANSIENT_CODES = {"INTERNAL_SERVER_ERROR", "INTERNAL_ERROR", "LOCK_TIMEOUT", "NETWORK_ERROR"}

ISSUE_FIELDS = f"""
      id identifier number title description url priority dueDate createdAt updatedAt completedAt
      state {{ id name type }}
      assignee {{ id }}
      labels(first: {ISSUE_LABELS_FIRST}) {{ nodes {{ id name }} }}"""

LIST_QUERY = f"""query ListIssues($filter: IssueFilter!, $first: Int!, $after: String) {{
  issues(filter: $filter, first: $first, after: $after) {{
    nodes {{{ISSUE_FIELDS}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

TEAM_QUERY = """query Team($team: String!, $label: String!) {
  teams(filter: { key: { eq: $team } }) {
    nodes { id key name states(first: 100) { nodes { id name type position } } }
  }
  issueLabels(filter: { name: { eqIgnoreCase: $label } }, first: 50) {
    nodes { id name team { id } }
  }
}"""

LABELS_QUERY = """query Labels($filter: IssueLabelFilter!) {
  issueLabels(filter: $filter, first: 250) {
    nodes { id name team { id } }
  }
}"""

LABEL_CREATE = """mutation CreateLabel($input: IssueLabelCreateInput!) {
  issueLabelCreate(input: $input) { success issueLabel { id name } }
}"""

UPDATE_MUTATION = f"""mutation UpdateIssue($id: String!, $input: IssueUpdateInput!) {{
  issueUpdate(id: $id, input: $input) {{
    success
    issue {{{ISSUE_FIELDS}
    }}
  }}
}}"""


class LinearConfig(ConnectorConfig):
    """`[trackers.<name>]` with `kind = "linear"`."""

    kind: Literal["linear"] = Field("linear", description="`linear`.")
    url: str = Field(DEFAULT_URL, description="The GraphQL endpoint.")
    team: str = Field(description="Team key (`ENG`: issues are `ENG-12`).")
    token: SecretStr = Field(
        description='A personal API key, or an OAuth access token with `auth = "oauth"`.'
    )
    auth: Literal["api_key", "oauth"] = Field(
        "api_key",
        description="`api_key` sends `Authorization: <key>`; `oauth` sends a Bearer token.",
    )
    priorities: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES),
        description="Linear priority number (0 none, 1 urgent .. 4 low) per level P0..P4.",
    )
    states: dict[Status, str] = Field(
        default_factory=dict,
        description="Workflow state to move issues into per status (`open`, `in_progress`,"
        " `done`, `wont_do`); unset: the first state of the matching type. A state named"
        " here also reads back as that status.",
    )
    page_size: int = Field(default=100, ge=1, le=250, description="Issues per listing page.")
    batch_size: int = Field(
        default=20, ge=1, le=50, description="`issueCreate` calls per create request."
    )
    writes_per_second: float = Field(default=5.0, gt=0, description="Spacing of write requests.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.linear.app/graphql")
        return value

    @field_validator("team")
    @classmethod
    def _team_key(cls, value: str) -> str:
        if not re.fullmatch(TEAM_KEY, value):
            raise ValueError("must be a Linear team key such as ENG")
        return value.upper()

    @field_validator("priorities")
    @classmethod
    def _priority_levels(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = set(value) - set(PRIORITIES)
        if unknown:
            raise ValueError(f"keys must be P0..P4, not {sorted(unknown)}")
        bad = {k: v for k, v in value.items() if not 0 <= v <= 4}
        if bad:
            raise ValueError(f"Linear priorities are 0 (none) to 4 (low), not {bad}")
        return value


@dataclass(frozen=True)
class _State:
    id: str
    name: str
    type: str
    position: float


@dataclass(frozen=True)
class _Team:
    id: str
    key: str
    states: tuple[_State, ...]


class _TokenAuth(httpx.Auth):
    """Adds the Authorization header per request, so the token lives in one SecretStr
    and never in the client's default headers (or any repr of them)."""

    def __init__(self, token: SecretStr, scheme: Literal["api_key", "oauth"]) -> None:
        self._token = token
        self._scheme = scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        secret = self._token.get_secret_value()
        request.headers["Authorization"] = f"Bearer {secret}" if self._scheme == "oauth" else secret
        yield request


class LinearConnector:
    """One Linear team's issues as `Ticket`s."""

    Config: ClassVar[type[ConnectorConfig]] = LinearConfig

    def __init__(
        self,
        name: str,
        config: LinearConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.stats = RequestStats()
        interval = 1.0 / config.writes_per_second
        self.capabilities = Capabilities(bulk_create=True, max_bulk=config.batch_size, wont_do=True)
        self._sleep = sleep
        self._clock = clock
        self._creates_blocked_until = -math.inf  # on `clock`, after a rate-limited create
        self._wall = wall_clock  # webhook timestamps and rate-limit resets are epoch times
        self._pacer = WritePacer(interval, clock, sleep, "linear")
        self._http = httpx.Client(
            timeout=config.timeout,
            auth=_TokenAuth(config.token, config.auth),
            headers={"User-Agent": "postmortem-syncd"},
            transport=transport,
        )
        self._priority_of: dict[int, str] = {}
        for level, number in sorted(config.priorities.items()):
            # 4 reads as "P3" when P3 and P4 share Low; 0 ("No priority") always reads as
            # None, even if a level is mapped to it: unprioritised issues are not P4.
            if number:
                self._priority_of.setdefault(number, level)
        self._status_of_name = {name.casefold(): status for status, name in config.states.items()}
        self._lock = threading.RLock()
        self._team: _Team | None = None
        self._label_ids: dict[str, str] = {}  # casefolded name -> id, usable by our team
        self._cursor = TrackerCursor()

    def __repr__(self) -> str:
        config = self.config
        return (
            f"LinearConnector(name={self.name!r}, url={config.url!r}, team={config.team!r}, "
            f"auth={config.auth!r})"
        )

    def close(self) -> None:
        self._http.close()

    # -- the six operations -------------------------------------------------------------
    def list_changed_since(self, since: datetime | None) -> Iterator[Ticket]:
        """Managed issues updated since `since` minus `SINCE_OVERLAP` (a superset), oldest
        change first.

        Fetched completely before anything is yielded: a page that keeps failing raises,
        it never truncates the listing. Pages follow Linear's default `createdAt` order:
        an issue updated while we page cannot move between pages (with `orderBy:
        updatedAt` it could jump ahead of the cursor and be missed); sorting by update
        time happens here instead.
        """
        issue_filter = self._managed_filter()
        if since is not None:
            aware = since if since.tzinfo else since.replace(tzinfo=UTC)
            issue_filter["updatedAt"] = {"gte": _iso(aware - SINCE_OVERLAP)}
        self._cursor.begin()
        tickets = [self._ticket(raw) for raw in self._list(issue_filter)]
        self._cursor.complete(tickets, since)
        return iter(sorted(tickets, key=lambda t: (t.updated, t.key)))

    def listing_cursor(self) -> datetime | None:
        """Linear's `Date` header on the listing's first page, else the largest
        `updatedAt` it returned (connectors/cursors.py): never the local clock."""
        return self._cursor.value

    def get_many(self, keys: Sequence[str]) -> TicketsByKey:
        """By key, managed or not (a person may link any issue of the team in a doc):
        `number: {in: …}` per `KEYS_PER_QUERY` numbers, ceil(N/50) queries for N keys.
        Issues deleted (trashed), archived or never created are `missing`."""
        wanted = sorted({k for key in keys if (k := self.parse_key(key))}, key=_number)
        raws = self._fetch_raw([_number(k) for k in wanted])
        found = TicketsByKey({key: self._ticket(raw) for key, raw in raws.items()})
        found.missing = frozenset(k for k in wanted if k not in found)
        return found

    def find_by_markers(self, markers: Sequence[str]) -> dict[str, Ticket]:
        wanted = set(markers)
        if not wanted:
            return {}
        found: dict[str, Ticket] = {}
        tickets = [self._ticket(raw) for raw in self._list(self._managed_filter())]
        # Oldest first: if a marker was ever duplicated, the original issue wins.
        for ticket in sorted(tickets, key=lambda t: _number(t.key)):
            if ticket.marker in wanted and ticket.marker not in found:
                found[ticket.marker] = ticket
        missing = sorted(wanted - set(found))
        if missing:
            found.update(self._find_by_derived_ids(missing))
        return found

    def create_many(self, drafts: Sequence[TicketDraft]) -> list[CreateOutcome]:
        if not drafts:
            return []
        blocked = self._creates_blocked_until - self._clock()
        if blocked > 0:
            # The engine calls once per chunk; a refused chunk must not be followed by
            # the next one at once. Refuse here, without a request, until the reset.
            skipped = f"not attempted: rate limited, retry after {math.ceil(blocked)} s"
            return refused(drafts, skipped, blocked)
        try:
            team = self._ensure_team()
            labels = self._ensure_labels(
                [self.config.label, *(name for d in drafts for name in d.labels)]
            )
        except RateLimited as exc:
            return refused(drafts, f"not attempted: {exc}", self._block_creates(exc))
        except TrackerError as exc:
            # Nothing about the drafts was sent yet: a plain error, never ambiguous.
            return [CreateOutcome(d.marker, error=f"not attempted: {exc}") for d in drafts]
        return create_in_batches(
            drafts,
            self.config.batch_size,
            lambda batch: self._create_batch(batch, team, labels),
            on_rate_limit=self._block_creates,
        )

    def _block_creates(self, exc: RateLimited) -> float:
        """Refuse creates locally until the limit resets; returns the wait in seconds."""
        wait = RATE_LIMIT_FALLBACK if exc.retry_after is None else exc.retry_after
        self._creates_blocked_until = self._clock() + wait
        return max(wait, 0.0)

    def update_fields(self, key: str, changes: FieldChanges) -> Ticket:
        canonical = self._own_key(key)
        wanted = changes.items()
        if not wanted:
            return self._require(canonical)
        update: dict[str, Any] = {}
        if "title" in wanted:
            update["title"] = wanted["title"]
        if "assignee" in wanted:
            update["assigneeId"] = wanted["assignee"]
        if "due" in wanted:
            update["dueDate"] = wanted["due"].isoformat() if wanted["due"] else None
        if "priority" in wanted:
            update["priority"] = self._priority_number(wanted["priority"])
        return self._update(canonical, update)

    def set_status(self, key: str, status: Status) -> Ticket:
        canonical = self._own_key(key)
        raw = self._fetch_raw([_number(canonical)]).get(canonical)
        if raw is None:
            raise TrackerError(f"Linear: {canonical} not found", retryable=False, status=404)
        current = self._ticket(raw)
        if current.status is status:
            # Same canonical status: keep the person's finer choice (In Review stays put).
            return current
        target = self._target_state(self._ensure_team(), status)
        return self._update(canonical, {"stateId": target.id})

    def parse_key(self, text: str) -> str | None:
        text = text.strip()
        match = URL_RE.search(text) or KEY_RE.search(text)
        if not match or match["team"].upper() != self.config.team:
            return None  # another team's issue is not ours to sync
        return f"{self.config.team}-{int(match['number'])}"

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify `Linear-Signature` (HMAC-SHA256 of the raw body, hex) in constant time,
        reject deliveries whose `webhookTimestamp` is over a minute old (replays), and
        name the issue the event is about. De-duplication is the worker's job; the id
        it needs is `Linear-Delivery`."""
        secret = self.config.webhook_secret
        if secret is None:
            raise WebhookRejected(f"no webhook_secret configured for tracker {self.name!r}")
        verify_hmac_sha256(
            headers.get("linear-signature"), secret, body, name="Linear-Signature", scheme=None
        )
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise WebhookRejected("body is not JSON", status=400) from None
        if not isinstance(payload, dict):
            raise WebhookRejected("body is not a JSON object", status=400)
        stamp = payload.get("webhookTimestamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            raise WebhookRejected("payload has no webhookTimestamp", status=400)
        age = self._wall() - stamp / 1000.0
        if age > WEBHOOK_MAX_AGE:
            raise WebhookRejected(f"stale delivery: webhookTimestamp is {age:.0f} s old")
        if -age > WEBHOOK_MAX_SKEW:
            raise WebhookRejected(f"webhookTimestamp is {-age:.0f} s in the future")
        keys: set[str] = set()
        data = payload.get("data")
        if payload.get("type") == "Issue" and isinstance(data, dict):
            identifier = data.get("identifier")
            if isinstance(identifier, str) and (key := self.parse_key(identifier)):
                keys.add(key)
        return WebhookEvent(
            delivery_id=headers.get("linear-delivery") or None,
            keys=frozenset(keys),
            kind=f"{payload.get('type')}.{payload.get('action')}",
        )

    # -- reads ------------------------------------------------------------------------------
    def _managed_filter(self) -> dict[str, Any]:
        # By team key and label name: no bootstrap request is needed before a listing.
        return {
            "team": {"key": {"eq": self.config.team}},
            "labels": {"some": {"name": {"eqIgnoreCase": self.config.label}}},
        }

    def _list(self, issue_filter: dict[str, Any], first: int | None = None) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            variables = {
                "filter": issue_filter,
                "first": first or self.config.page_size,
                "after": after,
            }
            data = self._read("ListIssues", LIST_QUERY, variables)
            page = _get(data, "issues")
            nodes += _get(page, "nodes")
            info = _get(page, "pageInfo")
            if not info.get("hasNextPage"):
                return nodes
            after = info.get("endCursor")
            if not after:
                raise TrackerError("Linear ListIssues: hasNextPage without an endCursor")

    def _fetch_raw(self, numbers: Sequence[int]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(numbers), KEYS_PER_QUERY):
            chunk = list(numbers[start : start + KEYS_PER_QUERY])
            issue_filter = {"team": {"key": {"eq": self.config.team}}, "number": {"in": chunk}}
            for raw in self._list(issue_filter, first=KEYS_PER_QUERY):
                found[str(raw["identifier"]).upper()] = raw
        return found

    def _require(self, key: str) -> Ticket:
        raw = self._fetch_raw([_number(key)]).get(key)
        if raw is None:
            raise TrackerError(f"Linear: {key} not found", retryable=False, status=404)
        return self._ticket(raw)

    def _find_by_derived_ids(self, markers: Sequence[str]) -> dict[str, Ticket]:
        """Issues created with the id derived from a marker, wherever they are now."""
        team = self._ensure_team()
        by_id = {self._issue_id(team, marker): marker for marker in markers}
        found: dict[str, Ticket] = {}
        for raw in self._list({"id": {"in": sorted(by_id)}}, first=KEYS_PER_QUERY):
            marker = by_id.get(str(raw.get("id")))
            if marker:
                found[marker] = dataclasses.replace(self._ticket(raw), marker=marker)
        return found

    # -- team, states, labels ------------------------------------------------------------------
    def _ensure_team(self) -> _Team:
        with self._lock:
            if self._team is None:
                self._team = self._read_call(self._load_team)
            return self._team

    def _load_team(self) -> _Team:
        data = self._data(
            "query Team",
            self._request(
                "query Team",
                TEAM_QUERY,
                {"team": self.config.team, "label": self.config.label},
                write=False,
            ),
        )
        teams = _get(_get(data, "teams"), "nodes")
        if not teams:
            raise TrackerError(
                f"Linear: no team with key {self.config.team!r} visible to this token",
                retryable=False,
            )
        raw = teams[0]
        states = tuple(
            _State(str(s["id"]), str(s["name"]), str(s["type"]), float(s.get("position") or 0))
            for s in _get(_get(raw, "states"), "nodes")
        )
        team = _Team(str(raw["id"]), str(raw["key"]), states)
        self._remember_labels(team, _get(_get(data, "issueLabels"), "nodes"))
        return team

    def _remember_labels(self, team: _Team, nodes: Sequence[dict[str, Any]]) -> None:
        for node in nodes:
            owner = (node.get("team") or {}).get("id")
            if owner in (None, team.id):  # workspace labels, or this team's own
                self._label_ids.setdefault(str(node["name"]).casefold(), str(node["id"]))

    def _ensure_labels(self, names: Sequence[str]) -> dict[str, str]:
        """Label ids by casefolded name, creating the missing labels in our team."""
        team = self._ensure_team()
        wanted = list(dict.fromkeys(name for name in names if name))
        with self._lock:
            missing = [n for n in wanted if n.casefold() not in self._label_ids]
            if missing:
                # Label names are matched without case, as people see them in Linear.
                any_name = {"or": [{"name": {"eqIgnoreCase": name}} for name in missing]}
                data = self._read("Labels", LABELS_QUERY, {"filter": any_name})
                self._remember_labels(team, _get(_get(data, "issueLabels"), "nodes"))
            for name in wanted:
                if name.casefold() not in self._label_ids:
                    self._create_label(team, name)
            return {n.casefold(): self._label_ids[n.casefold()] for n in wanted}

    def _create_label(self, team: _Team, name: str) -> None:
        try:
            body = self._request(
                "mutation CreateLabel",
                LABEL_CREATE,
                {"input": {"name": name, "teamId": team.id}},
                write=True,
            )
            payload = _get(self._data("mutation CreateLabel", body), "issueLabelCreate")
            label = payload.get("issueLabel") or {}
            if not payload.get("success") or not label.get("id"):
                raise TrackerError(f"Linear: could not create label {name!r}", retryable=False)
        except AmbiguousWrite:
            # It may exist now: look again next time instead of creating a twin.
            raise TrackerError(
                f"Linear: creating label {name!r} had an unknown outcome", retryable=True
            ) from None
        self._label_ids[name.casefold()] = str(label["id"])

    def _target_state(self, team: _Team, status: Status) -> _State:
        wanted_name = self.config.states.get(status)
        if wanted_name:
            for state in team.states:
                if state.name.casefold() == wanted_name.casefold():
                    return state
            raise TrackerError(
                f"Linear team {team.key} has no workflow state named {wanted_name!r}",
                retryable=False,
            )
        for state_type in TARGET_TYPES[status]:
            candidates = sorted(
                (s for s in team.states if s.type == state_type), key=lambda s: s.position
            )
            if candidates:
                return candidates[0]
        raise TrackerError(
            f"Linear team {team.key} has no {'/'.join(TARGET_TYPES[status])} workflow state",
            retryable=False,
        )

    # -- writes -------------------------------------------------------------------------------
    def _create_batch(
        self, batch: Sequence[TicketDraft], team: _Team, labels: dict[str, str]
    ) -> list[CreateOutcome]:
        """One request with an aliased `issueCreate` per draft; never retried."""
        inputs: dict[str, dict[str, Any]] = {}
        problems: dict[int, str] = {}
        for n, draft in enumerate(batch):
            try:
                inputs[f"i{n}"] = self._create_input(draft, team, labels)
            except TrackerError as exc:
                problems[n] = str(exc)
        if not inputs:
            return [CreateOutcome(d.marker, error=problems[n]) for n, d in enumerate(batch)]
        params = ", ".join(f"${name}: IssueCreateInput!" for name in inputs)
        fields = "".join(
            f"  c{name[1:]}: issueCreate(input: ${name}) {{\n    success\n"
            f"    issue {{{ISSUE_FIELDS}\n    }}\n  }}\n"
            for name in inputs
        )
        document = f"mutation CreateIssues({params}) {{\n{fields}}}"
        try:
            body = self._request("mutation CreateIssues", document, inputs, write=True)
        except RateLimited:
            raise
        except AmbiguousWrite as exc:
            return [
                CreateOutcome(
                    d.marker, error=problems.get(n, str(exc)), ambiguous=n not in problems
                )
                for n, d in enumerate(batch)
            ]
        except TrackerError as exc:  # refused (4xx) or never sent: nothing was created
            return [
                CreateOutcome(d.marker, error=problems.get(n, str(exc)))
                for n, d in enumerate(batch)
            ]
        return self._batch_outcomes(batch, body, problems)

    def _batch_outcomes(
        self, batch: Sequence[TicketDraft], body: dict[str, Any], problems: dict[int, str]
    ) -> list[CreateOutcome]:
        data = body.get("data") if isinstance(body.get("data"), dict) else None
        field_errors: dict[str, tuple[str, bool]] = {}  # alias -> (message, nested)
        for error in body.get("errors") or []:
            path = error.get("path") if isinstance(error, dict) else None
            if isinstance(path, list) and path and isinstance(path[0], str):
                field_errors.setdefault(path[0], (_message(error), len(path) > 1))
        outcomes: list[CreateOutcome] = []
        for n, draft in enumerate(batch):
            alias = f"c{n}"
            payload = (data or {}).get(alias)
            if n in problems:
                outcomes.append(CreateOutcome(draft.marker, error=problems[n]))
            elif isinstance(payload, dict) and isinstance(payload.get("issue"), dict):
                ticket = self._ticket(payload["issue"])
                if ticket.marker != draft.marker:  # the description lost the comment
                    ticket = dataclasses.replace(ticket, marker=draft.marker)
                outcomes.append(CreateOutcome(draft.marker, ticket=ticket))
            elif alias in field_errors and not field_errors[alias][1]:
                # The field itself failed (validation): this issue was not created.
                outcomes.append(CreateOutcome(draft.marker, error=field_errors[alias][0]))
            elif alias in field_errors:  # created, then failed while rendering the answer
                message = field_errors[alias][0]
                outcomes.append(CreateOutcome(draft.marker, error=message, ambiguous=True))
            elif isinstance(payload, dict):
                outcomes.append(CreateOutcome(draft.marker, error="Linear: success=false"))
            else:
                # `issueCreate` returns a non-null payload: one alias failing nulls the whole
                # answer, so this draft's fate is unknown (it may have been created).
                first = next(iter(field_errors.values()), ("no data in the answer", False))[0]
                outcomes.append(
                    CreateOutcome(
                        draft.marker,
                        error=f"outcome unknown: another create in the batch failed ({first})",
                        ambiguous=True,
                    )
                )
        return outcomes

    def _create_input(
        self, draft: TicketDraft, team: _Team, labels: dict[str, str]
    ) -> dict[str, Any]:
        names = [self.config.label, *draft.labels]
        label_ids = [labels[name.casefold()] for name in names if name]
        data: dict[str, Any] = {
            "id": self._issue_id(team, draft.marker),
            "teamId": team.id,
            "title": draft.title,
            "description": self._compose_description(draft),
            "labelIds": list(dict.fromkeys(label_ids)),
        }
        if priority := self._priority_number(draft.priority):
            data["priority"] = priority
        if draft.assignee:
            data["assigneeId"] = draft.assignee
        if draft.due:
            data["dueDate"] = draft.due.isoformat()
        if draft.status is not Status.OPEN:  # created straight into its state: one request
            data["stateId"] = self._target_state(team, draft.status).id
        return data

    def _update(self, key: str, update: dict[str, Any]) -> Ticket:
        def attempt() -> Ticket:
            body = self._request(
                "mutation UpdateIssue", UPDATE_MUTATION, {"id": key, "input": update}, write=True
            )
            payload = _get(self._data("mutation UpdateIssue", body), "issueUpdate")
            if not payload.get("success") or not isinstance(payload.get("issue"), dict):
                raise TrackerError(f"Linear UpdateIssue {key}: success=false", retryable=False)
            return self._ticket(payload["issue"])

        # Absolute values: repeating the update after an unknown outcome is harmless.
        return call_idempotent(attempt, self.stats, sleep=self._sleep)

    def _compose_description(self, draft: TicketDraft) -> str:
        parts = [draft.description.rstrip(), marker_comment(draft.marker)]
        return "\n\n".join(part for part in parts if part) + "\n"

    def _issue_id(self, team: _Team, marker: str) -> str:
        # Salted with the team's id: two workspaces using the same marker text must not
        # collide in Linear's global id space.
        digest = hashlib.sha256(f"{ID_NAMESPACE}:{team.id}:{marker}".encode()).digest()
        return str(uuid.UUID(bytes=digest[:16], version=4))

    # -- mapping ------------------------------------------------------------------------------
    def _ticket(self, raw: dict[str, Any]) -> Ticket:
        state = raw.get("state") or {}
        labels = tuple(str(n["name"]) for n in (raw.get("labels") or {}).get("nodes") or [])
        due = raw.get("dueDate")
        return Ticket(
            key=str(raw["identifier"]).upper(),
            url=str(raw.get("url") or ""),
            title=str(raw.get("title") or ""),
            assignee=(raw.get("assignee") or {}).get("id"),
            due=date.fromisoformat(due[:10]) if due else None,
            priority=self._priority_of.get(int(raw.get("priority") or 0)),
            status=self._status(state),
            labels=labels,
            updated=_parse_time(str(raw.get("updatedAt") or raw.get("createdAt"))),
            marker=marker_in_text(raw.get("description")),
            completed_at=_parse_time(str(raw["completedAt"])) if raw.get("completedAt") else None,
        )

    def _status(self, state: dict[str, Any]) -> Status:
        named = self._status_of_name.get(str(state.get("name") or "").casefold())
        if named is not None:
            return named
        status = STATUS_OF_TYPE.get(str(state.get("type")))
        if status is None:
            log.warning("Linear state %r has unknown type %r", state.get("name"), state.get("type"))
            return Status.OPEN
        return status

    def _priority_number(self, priority: str | None) -> int:
        # None, or a level left out of `priorities`: Linear's "No priority".
        return self.config.priorities.get(priority or "", 0)

    def _own_key(self, key: str) -> str:
        canonical = self.parse_key(key)
        if canonical is None:
            raise TrackerError(
                f"not an issue of Linear team {self.config.team}: {key!r}", retryable=False
            )
        return canonical

    # -- requests ------------------------------------------------------------------------------
    def _read(self, name: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        kind = f"query {name}"
        return self._read_call(lambda: self._data(kind, self._request(kind, query, variables)))

    def _read_call(self, fn: Callable[[], T]) -> T:
        return call_idempotent(fn, self.stats, sleep=self._sleep)

    def _request(
        self, kind: str, query: str, variables: Mapping[str, Any], *, write: bool = False
    ) -> dict[str, Any]:
        """One POST; returns the parsed body (data and any field errors) or raises a
        classified error: RateLimited, AmbiguousWrite (a write may have happened), or
        TrackerError. Messages name the operation, never the token or the variables."""
        if write:
            self._pacer.wait()
        self.stats.count(kind, write=write)
        where = f"Linear {kind}"
        try:
            response = self._http.post(
                self.config.url, json={"query": query, "variables": dict(variables)}
            )
        except httpx.HTTPError as exc:
            self.stats.errors += 1
            raise _transport_error(exc, where, write, self.config) from exc
        self._cursor.observe(response.headers)
        status = response.status_code
        body = _json_body(response)
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        codes = {_code(e) for e in errors}
        if status == 429 or codes & RATE_LIMIT_CODES:
            self.stats.errors += 1
            wait = linear_retry_after(response.headers, now=self._wall())
            detail = _messages(errors) or f"HTTP {status}"
            raise RateLimited(f"{where}: rate limited: {detail}", retry_after=wait, status=status)
        if status >= 500:
            self.stats.errors += 1
            cls = AmbiguousWrite if write else TrackerError
            raise cls(f"{where}: HTTP {status}", retryable=True, status=status)
        if status in (401, 403) or codes & AUTH_CODES:
            self.stats.errors += 1
            detail = _messages(errors) or f"HTTP {status}"
            raise TrackerError(
                f"{where}: not authorised ({detail}); check `token` and `auth`",
                retryable=False,
                status=status,
            )
        if status >= 400 or ("data" not in body and not errors):
            self.stats.errors += 1
            detail = _messages(errors) or f"HTTP {status}"
            raise TrackerError(f"{where}: {detail}", retryable=False, status=status)
        if errors:
            self.stats.errors += 1
        return body

    def _data(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """`data` of an answer that must be complete (reads, single mutations)."""
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if errors:
            transient = any(_code(e) in TRANSIENT_CODES for e in errors)
            raise TrackerError(f"Linear {kind}: {_messages(errors)}", retryable=transient)
        data = body.get("data")
        if not isinstance(data, dict):
            raise TrackerError(f"Linear {kind}: answer without data", retryable=True)
        return data


# -- helpers -----------------------------------------------------------------------------------
def linear_retry_after(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds to wait after a rate-limited answer.

    `Retry-After` wins. Otherwise the latest reset of an exhausted budget (requests,
    complexity, endpoint); a reset is an epoch in seconds or milliseconds (both have
    been documented), or a small number of seconds from now. Falls back to a minute.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    if "retry-after" in lowered:
        wait = retry_after_seconds({"retry-after": lowered["retry-after"]}, now=now)
        if wait is not None:
            return wait
    exhausted: list[float] = []
    others: list[float] = []
    for name, value in lowered.items():
        if not (name.startswith("x-ratelimit-") and name.endswith("-reset")):
            continue
        until = _seconds_until(value, now)
        if until is None:
            continue
        remaining = lowered.get(name.removesuffix("-reset") + "-remaining")
        try:
            spent = remaining is not None and float(remaining) <= 0
        except ValueError:
            spent = False
        (exhausted if spent else others).append(until)
    if exhausted:
        return max(exhausted)
    if others:
        return min(others)
    return RATE_LIMIT_FALLBACK


def _seconds_until(value: str, now: float) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number > 1e11:  # epoch milliseconds
        number /= 1000.0
    elif number < 1e9:  # already relative: seconds from now
        return max(0.0, number)
    return max(0.0, number - now)


def _transport_error(
    exc: httpx.HTTPError, where: str, write: bool, config: LinearConfig
) -> TrackerError:
    what = type(exc).__name__
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    if write and not never_sent:
        return AmbiguousWrite(f"{where}: {what}; the write may have happened", retryable=True)
    return transport_error(where, config.url, exc, config.timeout)


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _code(error: dict[str, Any]) -> str:
    """`extensions.code` ("RATELIMITED"), or the SDK-style `extensions.type`
    ("ratelimited", "authentication error") normalised to the same spelling."""
    extensions = error.get("extensions") or {}
    raw = extensions.get("code") or extensions.get("type") or ""
    return str(raw).strip().upper().replace(" ", "_")


def _message(error: dict[str, Any]) -> str:
    extensions = error.get("extensions") or {}
    return str(extensions.get("userPresentableMessage") or error.get("message") or "error")


def _messages(errors: Sequence[dict[str, Any]]) -> str:
    return "; ".join(dict.fromkeys(_message(e) for e in errors))


def _get(data: dict[str, Any], name: str) -> Any:
    value = data.get(name)
    if value is None:
        raise TrackerError(f"Linear answer lacks {name!r}", retryable=False)
    return value


def _number(key: str) -> int:
    return int(key.rsplit("-", 1)[1])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TrackerError(f"Linear sent an unreadable time {text!r}", retryable=False) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
