"""Jira connector (Cloud and Data Center) over the real `jira` client library.

What it relies on, and why (see /work/shared/design/API-NOTES.md §1, §2, §7):

* Identity: every ticket carries the shared label and a marker label (`pm-…`).
  Lookups by marker use JQL on labels, which is consistent right after a create when
  the new issue ids are passed as `reconcileIssues` (Cloud's search is eventually
  consistent otherwise).
* Searching: Cloud only serves `/search/jql` (nextPageToken paging, no total); the old
  `/search` answers 410 there but is still the endpoint on Data Center (startAt).
* Retries: the library's `ResilientSession` retries are off (`max_retries=0`); every
  idempotent call goes through `connectors.retry.call_idempotent`. Creates are never
  retried on a 5xx or a timeout: the caller resolves those by marker lookup.
* The incremental cursor is sent as a JQL relative date ("-15m"): absolute JQL dates
  are read in the API user's profile time zone, which would cost a /myself request per
  process to learn. The cursor itself is Jira's time (the `Date` of the listing's first
  answer), and the window is checked against the `Date` of the answer (see
  `list_changed_since`), so no step of either clock loses a change. `serverInfo` is
  skipped when the deployment is known (configured, or an *.atlassian.net host), so a
  no-change run is exactly one search request.
* Transitions: the transition that moved one issue to a status is remembered, keyed by
  where the issue stood in its workflow (issue type and status ids; for a just-created
  issue, the workflow's initial status), and reused for the next issue in the same spot
  without another `GET …/transitions`. Transition ids are per workflow and numbers
  like 11/21/31 recur across workflows, hence the issue-type key. A cached id that
  Jira refuses (400/409: the workflow differs for this issue, or was edited) is
  forgotten and looked up again; entries also expire after `TRANSITION_CACHE_TTL`.
  So a cold sync costs one transition POST per in-progress/done draft plus one
  lookup per target status, and a status push costs one GET issue plus one POST.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from jira import JIRA, JIRAError
from pydantic import Field, SecretStr, field_validator, model_validator

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
from connectors.batching import create_in_batches
from connectors.cursors import TrackerCursor, http_date
from connectors.markers import marker_from_labels
from connectors.retry import call_idempotent, retry_after_seconds
from connectors.transport import transport_error
from connectors.webhooks import verify_hmac_sha256
from syncd.model import Status

log = logging.getLogger(__name__)

T = TypeVar("T")

BULK_LIMIT = 50  # Jira's maximum issueUpdates per POST /issue/bulk
KEYS_PER_QUERY = 100  # `key in (...)` chunk for get_many
MARKERS_PER_QUERY = 50  # `labels in (...)` chunk for find_by_markers
RECONCILE_LIMIT = 50  # Cloud accepts at most 50 ids in reconcileIssues
CURSOR_OVERLAP = timedelta(minutes=2)  # clock skew and minute-precision JQL dates
# Webhook events that can change what a doc shows; `jira:issue_deleted` is left to the
# scheduled run, whose completed listing is the only safe evidence of a deletion.
WEBHOOK_ISSUE_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated"})
# Only these fields are read; all are system fields whose ids equal their JQL names.
SEARCH_FIELDS = (
    "summary",
    "assignee",
    "duedate",
    "priority",
    "status",
    "labels",
    "updated",
    "resolution",
    "resolutiondate",
)
# `_read_issue` also asks for the issue type: transition ids are only comparable
# between issues of one workflow, which Jira picks per project and issue type.
ISSUE_FIELDS = (*SEARCH_FIELDS, "issuetype")
# How long a transition that worked is reused without looking it up again (a daemon
# outlives workflow edits; a refused cached id is looked up again at once anyway).
TRANSITION_CACHE_TTL = 600.0
# What Jira answers a transition id that is not valid for the issue (400: "Transition
# id 'X' is not valid for this issue", a field the screen lacks) or a conflict (409).
STALE_TRANSITION = frozenset({400, 409})
# Cache key part for a just-created issue: it stands in its workflow's initial status.
_INITIAL = "initial"
# The longest chain of transitions a status push walks (To Do -> In Progress -> Done is 2).
MAX_CHAIN = 6
_CATEGORY_OF = {
    Status.OPEN: "new",
    Status.IN_PROGRESS: "indeterminate",
    Status.DONE: "done",
    Status.WONT_DO: "done",
}
# Status categories one step of a chain may move to, per target, when no transition
# goes straight there: forward only (from a closed status, reopening is a step too).
_STEPS_TOWARDS: dict[Status, tuple[str, ...]] = {
    Status.OPEN: ("indeterminate",),
    Status.IN_PROGRESS: ("new",),
    Status.DONE: ("indeterminate",),
    Status.WONT_DO: ("indeterminate",),
}
WONT_DO_NAMES = {"won't do", "won't fix", "declined", "cancelled", "canceled"}
DEFAULT_PRIORITIES = {"P0": "Highest", "P1": "High", "P2": "Medium", "P3": "Low", "P4": "Lowest"}
_MISSING_KEY = re.compile(
    r"An issue with key '([^']+)' does not exist|The issue key '([^']+)' for field 'key' is invalid"
)
_KEY = re.compile(r"^(?P<project>[A-Za-z][A-Za-z0-9_]*)-(?P<number>\d+)$")
_MD_LINK = re.compile(r"^\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]+)\)$")


class JiraConfig(ConnectorConfig):
    """`[trackers.<name>]` with `kind = "jira"`."""

    kind: Literal["jira"] = Field("jira", description="`jira`.")
    url: str = Field(
        description="The site (`https://example.atlassian.net`) or the Data Center base URL."
    )
    project: str = Field(description="Project key (`OPS`); only this project's keys are read.")
    email: str | None = Field(None, description="Cloud: the API token's account (basic auth).")
    token: SecretStr = Field(
        description="Cloud: an API token of `email`'s account. Data Center: a personal access"
        " token."
    )
    auth: Literal["basic", "bearer"] | None = Field(
        None,
        description="`basic` (email + API token, Cloud) or `bearer` (personal access token,"
        " Data Center). Unset: basic with `email`, else bearer.",
    )
    deployment: Literal["auto", "cloud", "server"] = Field(
        "auto",
        description="`auto`: Cloud on *.atlassian.net, else asks serverInfo once per process;"
        " set it to save that request.",
    )
    issue_type: str = Field("Task", description="Issue type of created tickets.")
    priorities: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES),
        description="Jira priority name per level; keys P0..P4.",
    )
    wont_do_transition: str = Field(
        "Won't Do",
        description="Transition taken for won't do; if absent, any transition to a done"
        " status whose screen takes a won't-do resolution.",
    )
    wont_do_resolution: str | None = Field(
        "Won't Do",
        description="Resolution sent for won't do (unset: none) and recognised on read.",
    )
    done_transition: str | None = Field(
        None, description="Transition taken for done, when the workflow offers several."
    )
    page_size: int = Field(100, ge=1, le=1000, description="Issues per search page.")
    browse_url: str | None = Field(
        None, description="Where people browse (`<browse_url>/browse/OPS-12`), if not `url`."
    )

    @field_validator("url", "browse_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("project")
    @classmethod
    def _project_key(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", value):
            raise ValueError("must be a Jira project key such as OPS")
        return value.upper()

    @field_validator("priorities")
    @classmethod
    def _priority_levels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(DEFAULT_PRIORITIES)
        if unknown:
            raise ValueError(f"keys must be P0..P4, got {sorted(unknown)}")
        return value

    @model_validator(mode="after")
    def _auth_needs_email(self) -> JiraConfig:
        if self.auth == "basic" and not self.email:
            raise ValueError("auth = 'basic' needs `email`")
        return self

    @property
    def auth_scheme(self) -> Literal["basic", "bearer"]:
        if self.auth is not None:
            return self.auth
        return "basic" if self.email else "bearer"


class JiraRequestError(TrackerError):
    """A failed Jira call; `messages` holds Jira's own error texts (never credentials)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        messages: Sequence[str] = (),
        body: Any = None,
    ) -> None:
        super().__init__(message, retryable=retryable, status=status)
        self.messages = tuple(messages)
        self.body = body  # the parsed JSON error reply, e.g. a bulk create's element errors


class RetriedStepRefused(JiraRequestError):
    """A transition refused on a retry: the try before may have moved the issue (a 5xx
    or a lost answer after Jira applied it), so where it stands must be read again."""


@dataclass(frozen=True)
class _Move:
    """One step that worked from a workflow spot towards a target status."""

    transition_id: str
    fields: Mapping[str, Any]  # e.g. the resolution a "done" screen needs
    to_id: str  # the status it lands in
    to_name: str
    to_category: str  # "new", "indeterminate" or "done"
    final: bool  # it lands on the target status; else one step of a chain
    expires: float  # on the connector's monotonic clock


class NoTransitionChain(JiraRequestError):
    """No chain of available transitions leads to the target status. `reached` is where
    the issue stands now (a walk may have taken steps before it found no way on)."""

    def __init__(self, message: str, *, reached: Status) -> None:
        super().__init__(message, retryable=False)
        self.reached = reached


class JiraConnector:
    """The `Connector` for one Jira project."""

    Config: ClassVar[type[ConnectorConfig]] = JiraConfig

    def __init__(
        self,
        name: str,
        config: JiraConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.config = config
        self.capabilities = Capabilities(bulk_create=True, max_bulk=BULK_LIMIT, wont_do=True)
        self.stats = RequestStats()
        self._sleep = sleep  # seam for tests; retry waits go through it
        self._clock = clock  # seam for tests; expires cached transitions
        self._wall = wall_clock  # seam for tests (skew); listing cursors, relative JQL dates
        self._cursor: datetime | None = None
        self._listing = TrackerCursor()  # Jira's `Date` on the answers of a listing
        self._skew = timedelta(0)  # Jira's clock minus ours, as its last answer said
        # (issue type id, status id, target) or (_INITIAL, target) -> a transition that worked
        self._moves: dict[tuple[str, ...], _Move] = {}
        # key -> ticket, while create_many moves that just-created issue (see set_status)
        self._just_created: dict[str, Ticket] = {}
        self._client: JIRA | None = None
        self._connect_lock = threading.Lock()
        self._recent_ids: deque[int] = deque(maxlen=RECONCILE_LIMIT)
        self._browse = (config.browse_url or config.url).rstrip("/")
        self._wont_do_names = WONT_DO_NAMES | (
            {_fold(config.wont_do_resolution)} if config.wont_do_resolution else set()
        )
        self._levels_by_name = {_fold(v): k for k, v in config.priorities.items()}

    def __repr__(self) -> str:
        return (
            f"JiraConnector(name={self.name!r}, url={self.config.url!r}, "
            f"project={self.config.project!r}, deployment={self.config.deployment!r})"
        )

    # -- client and accounting ---------------------------------------------------------------
    def _jira(self) -> JIRA:
        """The client, connected on first use so building a connector costs no request."""
        with self._connect_lock:
            if self._client is None:
                self._client = self._call("connect", self._connect)
            return self._client

    def _connect(self) -> JIRA:
        config = self.config
        token = config.token.get_secret_value()
        auth: dict[str, Any] = (
            {"basic_auth": (config.email, token)}
            if config.auth_scheme == "basic"
            else {"token_auth": token}
        )
        try:
            client = JIRA(
                config.url,
                # serverInfo only tells Cloud from Data Center; skip it when known
                get_server_info=self._deployment() == "auto",
                max_retries=0,  # our retry policy is connectors.retry, not ResilientSession's
                timeout=config.timeout,
                **auth,
            )
        except JIRAError:
            self.stats.errors += 1  # the response hook is not installed yet
            raise
        except (KeyError, TypeError, ValueError):
            # serverInfo answered, but not like Jira (no versionNumbers, not JSON).
            raise JiraRequestError(
                f"jira connect: {config.url} does not look like a Jira server", retryable=False
            ) from None
        finally:
            # The constructor's GET /serverInfo runs before we can hook the session.
            if self._deployment() == "auto":
                self.stats.count("server_info", write=False)
        client._session.hooks["response"].append(self._on_response)
        if self._deployment() != "auto":
            client.deploymentType = "Cloud" if self._deployment() == "cloud" else "Server"
            client._version = (1001, 0, 0) if self._deployment() == "cloud" else (9, 12, 0)
        # We only ask for system fields whose ids equal their JQL names, so the
        # name -> id translation the library fetches GET /field for is the identity;
        # priming it saves one request per process.
        client._fields_cache_value = {field: field for field in SEARCH_FIELDS}
        return client

    def _deployment(self) -> str:
        """Configured deployment; `auto` on an Atlassian Cloud host is Cloud."""
        if self.config.deployment == "auto" and (urlsplit(self.config.url).hostname or "").endswith(
            ".atlassian.net"
        ):
            return "cloud"
        return self.config.deployment

    @property
    def is_cloud(self) -> bool:
        return bool(self._jira()._is_cloud)

    def _on_response(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if (answered := http_date(response.headers)) is not None:
            self._skew = answered - self._now()
        self._listing.observe(response.headers)
        method = (response.request.method or "GET").upper()
        path = urlsplit(response.request.url or "").path
        kind = _request_kind(method, path)
        self.stats.count(kind, write=method != "GET" and kind != "search")
        if response.status_code >= 400:
            self.stats.errors += 1

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        """Run one idempotent step with the shared retry policy and error mapping."""

        def attempt() -> T:
            try:
                return fn()
            except (JIRAError, requests.RequestException) as exc:
                raise self._classify(action, exc) from None

        return call_idempotent(attempt, self.stats, sleep=self._sleep)

    def _classify(self, action: str, exc: Exception) -> TrackerError:
        """Map a library failure to TrackerError without leaking request details.

        `str(JIRAError)` dumps request and response headers, so messages are rebuilt
        from the status code and Jira's own error texts only.
        """
        if isinstance(exc, JIRAError):
            status = exc.status_code
            response = exc.response
            body = _json_body(response)
            messages = _error_messages(body, exc.text)
            message = f"jira {action} failed: HTTP {status}: {'; '.join(messages) or 'no details'}"
            headers = dict(response.headers) if response is not None else {}
            if status == 429 or (status == 503 and retry_after_seconds(headers) is not None):
                return RateLimited(message, retry_after=retry_after_seconds(headers), status=status)
            if status is None:  # raised locally by the library, e.g. bad arguments
                return JiraRequestError(message, retryable=False, messages=messages)
            return JiraRequestError(
                message, retryable=status >= 500, status=status, messages=messages, body=body
            )
        self.stats.errors += 1  # no HTTP answer, so the response hook did not count it
        return transport_error(f"jira {action}", self.config.url, exc, self.config.timeout)

    # -- reading -------------------------------------------------------------------------------
    def list_changed_since(self, since: datetime | None) -> Iterator[Ticket]:
        """All managed tickets updated at or after `since` (Jira's time, less the overlap),
        fetched completely before yielding.

        The window is a relative JQL date: minutes back from Jira's now, estimated from
        our clock and the skew Jira's last answer showed. A fresh process knows no skew,
        and either clock may have been stepped since the cursor was taken, so the
        estimate is checked against the `Date` of Jira's answer: when the window it
        asked for began after `since`, the listing is asked again from Jira's own time
        (one more search, only after a clock moved).
        """
        started = self._now()
        self._listing.begin()
        jql = f'project = "{self.config.project}" AND labels = "{_quote(self.config.label)}"'
        order = " ORDER BY updated ASC"
        if since is None:
            tickets = {t.key: t for t in self._search(jql + order)}
        else:
            if since.tzinfo is None:  # treat a naive cursor as UTC, never as local time
                since = since.replace(tzinfo=UTC)
            start = since - CURSOR_OVERLAP
            minutes = self._minutes_back(start)
            tickets = {t.key: t for t in self._search(f'{jql} AND updated >= "-{minutes}m"{order}')}
            answered = self._listing.last  # no earlier than Jira evaluated the query
            if answered is not None and answered - timedelta(minutes=minutes) > start:
                wider = math.ceil((answered - start).total_seconds() / 60) + 1
                log.info("jira's clock moved: listing again from -%dm (asked -%dm)", wider, minutes)
                tickets.update(
                    (t.key, t) for t in self._search(f'{jql} AND updated >= "-{wider}m"{order}')
                )
        # Jira's time when it began to answer; without a Date header (a proxy stripped
        # it), our own, which the next window measures on the same clock
        self._cursor = self._listing.first or started
        self._listing.end()
        return iter(list(tickets.values()))

    def listing_cursor(self) -> datetime | None:
        """Jira's time (its `Date` header) when the last completed listing began."""
        return self._cursor

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def get_many(self, keys: Sequence[str]) -> TicketsByKey:
        """`key in (...)` per `KEYS_PER_QUERY` keys, one page each: ceil(N/100) searches
        for N existing keys (a chunk with unknown keys costs one more, see `_get_chunk`)."""
        wanted = list(dict.fromkeys(k for key in keys if (k := self.parse_key(key))))
        found = TicketsByKey()
        for chunk in _chunks(wanted, KEYS_PER_QUERY):
            found.update(self._get_chunk(chunk))
        # Unknown keys, and keys Jira answers under another key (the issue was moved to
        # another project: the doc cites a key that no longer names it).
        found.missing = frozenset(k for k in wanted if k not in found)
        return found

    def _get_chunk(self, keys: list[str]) -> dict[str, Ticket]:
        """`key in (...)`; Jira rejects the whole query if one key is unknown (400 naming
        every unknown key), so drop those and ask once more."""
        remaining = list(keys)
        while remaining:
            jql = f"key in ({', '.join(remaining)}) ORDER BY key ASC"
            try:
                return {t.key: t for t in self._search(jql, page_size=KEYS_PER_QUERY)}
            except JiraRequestError as exc:
                missing = _missing_keys(exc)
                if exc.status != 400 or not missing & set(remaining):
                    raise
                remaining = [k for k in remaining if k not in missing]
        return {}

    def find_by_markers(self, markers: Sequence[str]) -> dict[str, Ticket]:
        """Tickets by marker label. The shared label is not required: a ticket whose
        shared label a person removed must still be found, or we would create a twin."""
        wanted = set(markers)
        found: dict[str, Ticket] = {}
        for chunk in _chunks(sorted(wanted), MARKERS_PER_QUERY):
            quoted = ", ".join(f'"{_quote(m)}"' for m in chunk)
            jql = f'project = "{self.config.project}" AND labels in ({quoted}) ORDER BY key ASC'
            for ticket in self._search(jql, reconcile=True):
                for label in ticket.labels:
                    # Oldest key first: if duplicates exist, the original wins.
                    if label in wanted and label not in found:
                        found[label] = ticket
        return found

    def _search(
        self, jql: str, *, reconcile: bool = False, page_size: int | None = None
    ) -> list[Ticket]:
        size = max(page_size or 0, self.config.page_size)
        if self.is_cloud:
            raws = self._search_cloud(jql, reconcile, size)
        else:
            raws = self._search_server(jql, size)
        try:
            return [self._ticket(raw) for raw in raws]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A listing we cannot read entirely is a failed listing, not a shorter one.
            raise JiraRequestError(
                f"jira search: unreadable issue ({type(exc).__name__})", retryable=False
            ) from None

    def _search_cloud(self, jql: str, reconcile: bool, size: int) -> list[dict[str, Any]]:
        """`/search/jql`, following nextPageToken to the end (the reply has no total)."""
        reconcile_ids = list(self._recent_ids) if reconcile else None
        issues: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self._cloud_page(jql, token, reconcile_ids, size)
            issues.extend(_page_issues(page))
            token = page.get("nextPageToken")
            if not token or page.get("isLast"):
                return issues
            if token in seen:
                raise JiraRequestError("jira search: paging token repeated", retryable=True)
            seen.add(token)

    def _cloud_page(
        self, jql: str, token: str | None, reconcile_ids: list[int] | None, size: int
    ) -> dict[str, Any]:
        client = self._jira()
        return self._call(
            "search",
            lambda: client.enhanced_search_issues(
                jql,
                nextPageToken=token,
                maxResults=size,
                fields=list(SEARCH_FIELDS),
                reconcileIssues=reconcile_ids,
                json_result=True,
            ),
        )

    def _search_server(self, jql: str, size: int) -> list[dict[str, Any]]:
        """Data Center `/search`, paging with startAt until `total` is reached."""
        issues: list[dict[str, Any]] = []
        while True:
            page = self._server_page(jql, start=len(issues), size=size)
            batch = _page_issues(page)
            issues.extend(batch)
            if not batch or len(issues) >= int(page.get("total", 0)):
                return issues

    def _server_page(self, jql: str, start: int, size: int) -> dict[str, Any]:
        client = self._jira()
        return self._call(
            "search",
            lambda: client.search_issues(
                jql,
                startAt=start,
                maxResults=size,
                fields=list(SEARCH_FIELDS),
                json_result=True,
            ),
        )

    def _read_issue(self, key: str) -> Ticket:
        return self._ticket(self._read_raw(key))

    def _read_raw(self, key: str) -> dict[str, Any]:
        client = self._jira()
        issue = self._call("get issue", lambda: client.issue(key, fields=",".join(ISSUE_FIELDS)))
        return issue.raw

    # -- writing -------------------------------------------------------------------------------
    def create_many(self, drafts: Sequence[TicketDraft]) -> list[CreateOutcome]:
        outcomes = create_in_batches(drafts, BULK_LIMIT, self._create_chunk)
        return [self._apply_initial_status(o, d) for o, d in zip(outcomes, drafts, strict=True)]

    def _create_chunk(self, drafts: Sequence[TicketDraft]) -> list[CreateOutcome]:
        try:
            client = self._jira()
        except TrackerError as exc:  # nothing was sent: a plain, unambiguous failure
            return [CreateOutcome(d.marker, error=str(exc)) for d in drafts]
        payload = {"issueUpdates": [{"fields": self._create_fields(d)} for d in drafts]}
        try:
            # Only a 429 is retried: Jira refused it outright. A 5xx or a timeout may
            # have created the issues, so those become AmbiguousWrite and stop here.
            reply = call_idempotent(
                lambda: self._post_bulk(client, payload), self.stats, sleep=self._sleep
            )
        except AmbiguousWrite as exc:
            return [CreateOutcome(d.marker, error=str(exc), ambiguous=True) for d in drafts]
        except JiraRequestError as exc:
            # A 400 still lists which elements failed (Jira creates none or some).
            if exc.status == 400 and isinstance(exc.body, dict) and "issues" in exc.body:
                return self._bulk_outcomes(drafts, exc.body)
            return [CreateOutcome(d.marker, error=str(exc)) for d in drafts]
        except RateLimited:  # still limited after the retry budget: nothing created
            raise  # create_in_batches stops the batch here
        except TrackerError as exc:
            return [CreateOutcome(d.marker, error=str(exc)) for d in drafts]
        return self._bulk_outcomes(drafts, reply)

    def _post_bulk(self, client: JIRA, payload: dict[str, Any]) -> dict[str, Any]:
        """One POST /issue/bulk (the library's create_issues would GET each new issue)."""
        url = client._get_url("issue/bulk")
        try:
            body = client._session.post(url, data=json.dumps(payload)).json()
        except JIRAError as exc:
            error = self._classify("bulk create", exc)
            if exc.status_code is not None and exc.status_code < 500:
                raise error from None  # refused outright: nothing was created
            raise AmbiguousWrite(
                f"{error} (may have been applied)", retryable=False, status=exc.status_code
            ) from None
        except requests.RequestException as exc:
            error = self._classify("bulk create", exc)
            raise AmbiguousWrite(f"{error} (may have been applied)", retryable=False) from None
        except ValueError:  # a 2xx we cannot read: the issues probably exist
            raise AmbiguousWrite("jira bulk create: unreadable reply", retryable=False) from None
        if not isinstance(body, dict):
            raise AmbiguousWrite("jira bulk create: unexpected reply", retryable=False)
        return body

    def _bulk_outcomes(
        self, drafts: Sequence[TicketDraft], reply: dict[str, Any]
    ) -> list[CreateOutcome]:
        """Jira lists created issues in input order, skipping the failed elements."""
        failures = {
            int(e.get("failedElementNumber", -1)): _element_error(e)
            for e in reply.get("errors") or []
        }
        created = list(reply.get("issues") or [])
        outcomes: list[CreateOutcome] = []
        for index, draft in enumerate(drafts):
            if index in failures:
                outcomes.append(CreateOutcome(draft.marker, error=failures[index]))
            elif created:
                issue = created.pop(0)
                self._recent_ids.append(int(issue["id"]))
                outcomes.append(CreateOutcome(draft.marker, ticket=self._drafted(draft, issue)))
            else:  # the reply does not account for this draft: it may or may not exist
                outcomes.append(
                    CreateOutcome(draft.marker, error="jira bulk create: no result", ambiguous=True)
                )
        return outcomes

    def _apply_initial_status(self, outcome: CreateOutcome, draft: TicketDraft) -> CreateOutcome:
        """New issues start in the workflow's first status; move them if the draft says so.

        A failed move leaves the outcome's ticket OPEN (what Jira holds): the engine
        takes that as the agreed base, so the next run pushes the doc's status again.
        """
        if outcome.ticket is None or draft.status is Status.OPEN:
            return outcome
        key = outcome.ticket.key
        # Still a `set_status` call (wrappers and subclasses see every transition), told
        # through `_just_created` that the issue's status is known: no read first.
        self._just_created[key] = outcome.ticket
        try:
            ticket = self.set_status(key, draft.status)
        except NoTransitionChain as exc:
            # The ticket exists where the walk left it; the next run pushes again.
            log.warning("created %s but could not set status: %s", key, exc)
            return CreateOutcome(draft.marker, ticket=replace(outcome.ticket, status=exc.reached))
        except TrackerError as exc:
            # The ticket exists; the engine sees the status mismatch on its next run.
            log.warning("created %s but could not set status: %s", key, exc)
            return outcome
        finally:
            self._just_created.pop(key, None)
        return CreateOutcome(draft.marker, ticket=ticket)

    def _labels(self, draft: TicketDraft) -> list[str]:
        labels = [self.config.label, draft.marker, *(_label(x) for x in draft.labels)]
        return list(dict.fromkeys(labels))

    def _create_fields(self, draft: TicketDraft) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "project": {"key": self.config.project},
            "issuetype": {"name": self.config.issue_type},
            "summary": draft.title,
            "description": draft.description,
            "labels": self._labels(draft),
        }
        if draft.assignee:
            fields["assignee"] = self._user(draft.assignee)
        if draft.due:
            fields["duedate"] = draft.due.isoformat()
        if draft.priority and (name := self._priority_name(draft.priority)):
            fields["priority"] = {"name": name}
        return fields

    def _drafted(self, draft: TicketDraft, issue: dict[str, Any]) -> Ticket:
        """The created ticket from what we sent, sparing a GET per issue.

        `updated` is our clock, not Jira's; the next listing brings the server's value.
        """
        key = str(issue["key"])
        priority = draft.priority.upper() if draft.priority else None
        return Ticket(
            key=key,
            url=self._browse_url(key),
            title=draft.title,
            assignee=draft.assignee or None,
            due=draft.due,
            priority=priority if priority and self._priority_name(priority) else None,
            status=Status.OPEN,
            labels=tuple(self._labels(draft)),
            updated=datetime.now(UTC),
            marker=draft.marker,
        )

    def update_fields(self, key: str, changes: FieldChanges) -> Ticket:
        key = self._own_key(key)
        fields = self._edit_fields(changes)
        if fields:
            client = self._jira()
            url = client._get_url(f"issue/{key}")
            body = json.dumps({"fields": fields})
            # One PUT through the session: `Issue.update()` would add a GET before and after.
            self._call("update", lambda: client._session.put(url, data=body))
        return self._read_issue(key)

    def _edit_fields(self, changes: FieldChanges) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name, value in changes.items().items():
            if name == "title":
                fields["summary"] = value
            elif name == "assignee":
                fields["assignee"] = self._user(value) if value else None
            elif name == "due":
                fields["duedate"] = value.isoformat() if value else None
            elif name == "priority" and value is not None:
                # Most Jira schemes require a priority, so "no priority" is not sent.
                priority = self._priority_name(value)
                if priority is None:
                    raise JiraRequestError(f"unknown priority {value!r}", retryable=False)
                fields["priority"] = {"name": priority}
        return fields

    def set_status(self, key: str, status: Status) -> Ticket:
        """Walk the issue's workflow to `status`: see `_walk`.

        One GET of the issue first (its status and issue type), then one POST per step
        when the steps are cached. For an issue `create_many` has just created
        (`_just_created`), not even the GET: it stands in its workflow's initial status.
        The returned ticket is the one read with the new status (and our clock as
        `updated`): every step was chosen for where it leads, and the next listing
        brings Jira's own view.
        """
        key = self._own_key(key)
        if (created := self._just_created.pop(key, None)) is not None:
            # Every issue we create has this project and issue type: one workflow.
            workflow = f"create:{self.config.issue_type}"
            return self._walk(
                key, created, workflow, (_INITIAL, "its initial status", "new"), status
            )
        raw = self._read_raw(key)
        current = self._ticket(raw)
        if current.status is status:
            return current
        fields = raw.get("fields") or {}
        # Transition ids are per workflow, which Jira picks per project and issue type.
        workflow = str((fields.get("issuetype") or {}).get("id") or "")
        return self._walk(key, current, workflow or None, _where(fields), status)

    def _walk(
        self,
        key: str,
        ticket: Ticket,
        workflow: str | None,
        where: tuple[str, str, str],
        target: Status,
    ) -> Ticket:
        """Reach `target` by a chain of transitions, re-reading them after each step.

        Jira shows a user only the transitions out of an issue's current status (the
        workflow graph needs admin rights), so the chain is found step by step: a
        transition that lands on the target if one is available (`done_transition` /
        `wont_do_transition` first), else one step forward (`_STEPS_TOWARDS`) to a
        status not yet visited. To Do -> In Progress -> Done takes two steps. Each step
        that worked is cached per (workflow, status, target), so the next issue in the
        same spot walks the same chain with POSTs only; a cached step Jira refuses
        (400/409: the workflow was edited) is forgotten, the issue read again, and the
        walk goes on from where it really stands. So does a fresh step refused after the
        issue moved: a POST retried after a 5xx whose first try Jira had applied.
        """
        status_id, status_name, category = where
        start = status_name  # the status the walk started from, for the error
        visited = {status_id}
        seen: list[str] = []  # "To Do: Start Progress -> In Progress", for the error
        for _step in range(MAX_CHAIN):
            spot = (workflow, status_id, target.value) if workflow and status_id else None
            move = self._cached_move(spot) if spot is not None else None
            cached = move is not None
            if move is None:
                usable = self._transitions(key)
                seen.append(f"{status_name}: {_describe(usable)}")
                move = self._next_move(usable, target, category, visited)
                if move is None:
                    raise NoTransitionChain(
                        f"jira: no chain of transitions takes {key} from {start!r} to "
                        f"{target.value}: it is in {status_name!r}; transitions seen: "
                        f"{'; '.join(seen)}. Add a transition to the workflow, or name one "
                        "in done_transition / wont_do_transition",
                        reached=self._status_of_category(category, status_name),
                    )
            try:
                self._post_move(key, move)
            except JiraRequestError as exc:
                if exc.status not in STALE_TRANSITION:
                    raise
                if cached and spot is not None:
                    self._moves.pop(spot, None)
                    log.info("cached transition refused on %s; looking it up again", key)
                # Where the issue stands is known unless the POST was retried (a 5xx
                # after Jira applied the first try) or it was just created in a
                # workflow other than the cached one: then read it, and walk on.
                retried = isinstance(exc, RetriedStepRefused)
                if not retried and not (cached and status_id == _INITIAL):
                    if not cached:
                        raise  # refused for where it stands: real (e.g. a required field)
                    continue  # the cached step went stale: look the transitions up again
                raw = self._read_raw(key)
                ticket = self._ticket(raw)
                if ticket.status is target:
                    return ticket
                status_id, status_name, category = _where(raw.get("fields") or {})
                visited.add(status_id)
                continue
            if not cached and spot is not None:
                self._moves[spot] = move
            if move.final:
                return self._moved(ticket, target)
            status_id, status_name, category = move.to_id, move.to_name, move.to_category
            visited.add(status_id)
        raise NoTransitionChain(
            f"jira: {key} did not reach {target.value} within {MAX_CHAIN} transitions "
            f"(it is in {status_name!r}; transitions seen: {'; '.join(seen) or 'cached'})",
            reached=self._status_of_category(category, status_name),
        )

    def _transitions(self, key: str) -> list[dict[str, Any]]:
        """`GET …/transitions` with their screens' fields: where the issue can go now."""
        client = self._jira()
        transitions = self._call(
            "transitions", lambda: client.transitions(key, expand="transitions.fields")
        )
        return [t for t in transitions if t.get("isAvailable", True)]

    def _status_of_category(self, category: str, name: str) -> Status:
        return self._status({"status": {"name": name, "statusCategory": {"key": category}}})

    def _next_move(
        self,
        usable: list[dict[str, Any]],
        target: Status,
        category: str,
        visited: set[str],
    ) -> _Move | None:
        """The transition to take from here: straight to `target`, else one step on."""
        expires = self._clock() + TRANSITION_CACHE_TTL
        direct = self._choose_transition(usable, target)
        if direct is not None:
            transition, fields = direct
            return _move(transition, fields, final=True, expires=expires)
        if self._to_category(usable, _CATEGORY_OF[target]):
            # The target's category is in reach but no transition there suits (e.g. no
            # screen takes a won't-do resolution): walking elsewhere would not help.
            return None
        # From a closed status any open one is a step on (reopen first); otherwise only
        # forward, so a workflow without a way on is left alone, not walked in circles.
        steps = ("indeterminate", "new") if category == "done" else _STEPS_TOWARDS[target]
        for step in steps:
            for transition in self._to_category(usable, step):
                if str((transition.get("to") or {}).get("id")) not in visited:
                    return _move(transition, {}, final=False, expires=expires)
        return None

    def _post_move(self, key: str, move: _Move) -> None:
        client = self._jira()
        fields = dict(move.fields)
        tries = 0

        def post() -> None:
            nonlocal tries
            tries += 1
            # A numeric id makes the library POST directly, without another GET.
            client.transition_issue(key, move.transition_id, fields=fields)

        try:
            self._call("transition", post)
        except JiraRequestError as exc:
            if tries > 1 and exc.status in STALE_TRANSITION:
                raise RetriedStepRefused(
                    str(exc), retryable=False, status=exc.status, messages=exc.messages
                ) from None
            raise

    def _cached_move(self, spot: tuple[str, ...]) -> _Move | None:
        move = self._moves.get(spot)
        if move is not None and move.expires <= self._clock():
            self._moves.pop(spot, None)
            return None
        return move

    @staticmethod
    def _moved(ticket: Ticket, status: Status) -> Ticket:
        """`ticket` after a transition Jira accepted (204, no body to read back)."""
        return replace(ticket, status=status, updated=datetime.now(UTC))

    def _choose_transition(
        self, usable: list[dict[str, Any]], status: Status
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """A transition from here straight to `status`, with the fields its screen needs."""
        by_name = {_fold(t.get("name", "")): t for t in usable}
        if status is Status.WONT_DO:
            named = by_name.get(_fold(self.config.wont_do_transition))
            if named is not None:
                return named, self._resolution_fields(named, wont_do=True)
            # No such transition: any move to "done" whose screen takes a won't-do resolution.
            for candidate in self._to_category(usable, "done"):
                if fields := self._resolution_fields(candidate, wont_do=True):
                    return candidate, fields
        elif status is Status.DONE:
            named = by_name.get(_fold(self.config.done_transition or ""))
            plain = [t for t in self._to_category(usable, "done") if not self._is_wont_do(t)]
            chosen = named or (plain[0] if plain else None)
            if chosen is not None:
                return chosen, self._resolution_fields(chosen, wont_do=False)
        else:
            category = "new" if status is Status.OPEN else "indeterminate"
            matches = self._to_category(usable, category)
            if matches:
                return matches[0], {}
        return None

    @staticmethod
    def _to_category(transitions: Iterable[dict[str, Any]], category: str) -> list[dict[str, Any]]:
        return [
            t
            for t in transitions
            if ((t.get("to") or {}).get("statusCategory") or {}).get("key") == category
        ]

    def _is_wont_do(self, transition: dict[str, Any]) -> bool:
        names = {
            _fold(transition.get("name", "")),
            _fold((transition.get("to") or {}).get("name", "")),
        }
        return bool(names & (self._wont_do_names | {_fold(self.config.wont_do_transition)}))

    def _resolution_fields(self, transition: dict[str, Any], *, wont_do: bool) -> dict[str, Any]:
        """The resolution to send with a transition to "done", or {}.

        Sent only when the transition's screen offers the field (Jira answers 400
        otherwise); the value is the configured / conventional name if the screen
        allows it, else the first allowed value of the right kind.
        """
        field = (transition.get("fields") or {}).get("resolution")
        if field is None or (wont_do and self.config.wont_do_resolution is None):
            return {}
        preferred = [self.config.wont_do_resolution or ""] if wont_do else ["Done", "Fixed"]
        allowed = [str(v.get("name", "")) for v in field.get("allowedValues") or []]
        if not allowed:  # the screen does not list values: trust the configured name
            return {"resolution": {"name": preferred[0]}}
        by_fold = {_fold(name): name for name in allowed}
        kind = [name for name in allowed if (_fold(name) in self._wont_do_names) == wont_do]
        choice = next((by_fold[_fold(p)] for p in preferred if _fold(p) in by_fold), None)
        choice = choice or next(iter(kind), None)
        return {"resolution": {"name": choice}} if choice else {}

    # -- mapping -------------------------------------------------------------------------------
    def _ticket(self, raw: dict[str, Any]) -> Ticket:
        fields = raw.get("fields") or {}
        key = str(raw["key"])
        labels = tuple(fields.get("labels") or ())
        return Ticket(
            key=key,
            url=self._browse_url(key),
            title=str(fields.get("summary") or ""),
            assignee=_user_id(fields.get("assignee")),
            due=date.fromisoformat(fields["duedate"]) if fields.get("duedate") else None,
            priority=self._levels_by_name.get(
                _fold((fields.get("priority") or {}).get("name", ""))
            ),
            status=self._status(fields),
            labels=labels,
            updated=_parse_time(fields.get("updated"), key),
            marker=marker_from_labels(labels, self.config.label),
            completed_at=_parse_time(fields["resolutiondate"], key)
            if fields.get("resolutiondate")
            else None,
        )

    def _status(self, fields: dict[str, Any]) -> Status:
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        if category == "done":
            resolution = _fold((fields.get("resolution") or {}).get("name", ""))
            if (
                resolution in self._wont_do_names
                or _fold(status.get("name", "")) in self._wont_do_names
            ):
                return Status.WONT_DO
            return Status.DONE
        if category == "indeterminate":
            return Status.IN_PROGRESS
        return Status.OPEN  # "new" and "undefined"

    def _user(self, user: str) -> dict[str, str]:
        # Jira Cloud identifies users by accountId only; Data Center by user name.
        return {"accountId": user} if self.is_cloud else {"name": user}

    def _priority_name(self, level: str) -> str | None:
        return self.config.priorities.get(level.upper())

    def _own_key(self, key: str) -> str:
        """A key of this project, normalised; anything else never reaches a URL path."""
        parsed = self.parse_key(key)
        if parsed is None:
            raise JiraRequestError(
                f"jira: {key!r} is not an issue of project {self.config.project}",
                retryable=False,
            )
        return parsed

    def _browse_url(self, key: str) -> str:
        return f"{self._browse}/browse/{key}"

    def _minutes_back(self, when: datetime) -> int:
        """How many minutes before Jira's now `when` (Jira's time) is, by our estimate.

        Absolute JQL dates are read in the API user's profile time zone, which costs a
        /myself request per process to learn; a relative date needs no zone. Rounded
        up to whole minutes, so it only ever widens the window.
        """
        return max(math.ceil((self._now() + self._skew - when).total_seconds() / 60), 1)

    def parse_key(self, text: str) -> str | None:
        """ "OPS-12", "ops-12", "<url>/browse/OPS-12", or a markdown link to one of those."""
        text = text.strip().strip("<>")
        if link := _MD_LINK.match(text):
            return self.parse_key(link["url"]) or self.parse_key(link["text"])
        if match := _KEY.match(text):
            if match["project"].upper() == self.config.project:
                return f"{self.config.project}-{int(match['number'])}"
            return None
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            return None
        for base in (self._browse, self.config.url):
            prefix = urlsplit(base)
            browse = f"{prefix.path.rstrip('/')}/browse/"
            if parts.netloc.lower() == prefix.netloc.lower() and parts.path.startswith(browse):
                key = parts.path[len(browse) :].strip("/")
                return self.parse_key(key) if _KEY.match(key) else None
        return None

    # -- webhooks ---------------------------------------------------------------------------
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify an admin webhook delivery and name the issue it is about.

        Jira signs admin webhooks only when they were registered with a secret (then
        `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body). With a secret
        configured here an unsigned or mis-signed delivery is refused; without one,
        deliveries are accepted unverified (the worker warns at startup) — acceptable
        only because a delivery merely names keys whose truth is re-read from Jira.
        `X-Atlassian-Webhook-Identifier` is stable across Jira's retries: the de-dup id.
        """
        secret = self.config.webhook_secret
        if secret is not None:
            verify_hmac_sha256(
                headers.get("x-hub-signature"),
                secret,
                body,
                name="X-Hub-Signature",
                missing_hint="a webhook_secret is configured, so unsigned deliveries are "
                "refused; register the webhook with the same secret",
            )
        delivery = headers.get("x-atlassian-webhook-identifier") or None
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise WebhookRejected("body is not valid JSON", status=400) from None
        if not isinstance(payload, dict):
            raise WebhookRejected("body is not a JSON object", status=400)
        event = str(payload.get("webhookEvent") or "")
        if event not in WEBHOOK_ISSUE_EVENTS:
            return WebhookEvent(delivery, frozenset(), event)
        issue = payload.get("issue")
        raw_key = issue.get("key") if isinstance(issue, dict) else None
        # parse_key keeps only this project's issues (a site-wide webhook sees them all)
        key = self.parse_key(raw_key) if isinstance(raw_key, str) and _KEY.match(raw_key) else None
        return WebhookEvent(delivery, frozenset({key}) if key else frozenset(), event)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# -- helpers ----------------------------------------------------------------------------------


def _where(fields: dict[str, Any]) -> tuple[str, str, str]:
    """(status id, status name, status category key) of an issue's fields."""
    status = fields.get("status") or {}
    category = str((status.get("statusCategory") or {}).get("key") or "new")
    return str(status.get("id") or ""), str(status.get("name") or "?"), category


def _move(
    transition: dict[str, Any], fields: dict[str, Any], *, final: bool, expires: float
) -> _Move:
    to = transition.get("to") or {}
    return _Move(
        transition_id=str(transition["id"]),
        fields=fields,
        to_id=str(to.get("id") or ""),
        to_name=str(to.get("name") or "?"),
        to_category=str((to.get("statusCategory") or {}).get("key") or "new"),
        final=final,
        expires=expires,
    )


def _describe(transitions: Sequence[dict[str, Any]]) -> str:
    """ "Start Progress -> In Progress, Cancel -> Won't Do" (or "none")."""
    steps = [f"{t.get('name', '?')} -> {(t.get('to') or {}).get('name', '?')}" for t in transitions]
    return ", ".join(steps) or "none"


def _fold(text: str | None) -> str:
    """Case- and apostrophe-insensitive name comparison ("Won’t do" == "Won't Do")."""
    return (text or "").replace("\u2019", "'").strip().casefold()


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _label(value: str) -> str:
    # Jira labels cannot contain whitespace.
    return re.sub(r"\s+", "-", value.strip())


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _page_issues(page: Any) -> list[dict[str, Any]]:
    if not isinstance(page, dict) or not isinstance(page.get("issues"), list):
        raise JiraRequestError("jira search: malformed reply", retryable=True)
    return page["issues"]


def _user_id(user: dict[str, Any] | None) -> str | None:
    if not user:
        return None
    return user.get("accountId") or user.get("name") or user.get("key")


def _parse_time(value: str | None, key: str) -> datetime:
    if not value:
        raise JiraRequestError(f"jira: {key} has no updated time", retryable=False)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return datetime.fromisoformat(value)


def _json_body(response: requests.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _error_messages(body: Any, fallback: str | None) -> list[str]:
    """Jira's error texts: `errorMessages` and `errors` values (see API-NOTES §1.4)."""
    if isinstance(body, dict):
        errors = body.get("errors")
        messages = list(body.get("errorMessages") or [])
        if isinstance(errors, dict):
            messages += [f"{field}: {text}" for field, text in errors.items()]
        if body.get("message"):
            messages.append(str(body["message"]))
        if messages:
            return [str(m) for m in messages]
    return [fallback] if fallback else []


def _missing_keys(exc: JiraRequestError) -> set[str]:
    keys: set[str] = set()
    for message in exc.messages:
        for match in _MISSING_KEY.finditer(message):
            keys.add((match.group(1) or match.group(2)).upper())
    return keys


def _element_error(error: dict[str, Any]) -> str:
    element = error.get("elementErrors") or {}
    texts = list(element.get("errorMessages") or [])
    texts += [f"{field}: {text}" for field, text in (element.get("errors") or {}).items()]
    return f"jira create failed: HTTP {error.get('status', 400)}: {'; '.join(texts) or 'rejected'}"


def _request_kind(method: str, path: str) -> str:
    if "/search" in path:
        return "search"
    if path.endswith("/issue/bulk") or (method == "POST" and path.endswith("/issue")):
        return "create"
    if path.endswith("/transitions"):
        return "transition" if method == "POST" else "transitions"
    if "/issue/" in path:
        return "update" if method == "PUT" else "get"
    return path.rsplit("/", 1)[-1] or "other"
