"""GitHub Issues connector, through PyGithub.

Identity. Every ticket the tool creates carries the shared label (`label`, default
`postmortem-action`) and a hidden marker at the end of its body::

    <!-- postmortem-syncd:marker=pm-1a2b3c4d5e6f -->

Markers are found by *listing* the labelled issues and reading bodies, never through
the search API (its index lags by up to minutes and ignores HTML comments).

Due dates. GitHub issues have no due-date field. With `due = "body"` (the default)
the connector writes a visible line into the body, between the description and the
marker, and reads it back from there::

    **Due:** 2026-07-01

People can see and edit it in the UI; the connector only ever rewrites that one
line. With `due = "milestone"` the date lives in a milestone titled `Due 2026-07-01`
whose `due_on` is that day, created on first use and shared between issues.

Priority is one label per level (`priority_labels`). Status: open → OPEN, or
IN_PROGRESS when `in_progress_label` is present; closed with `state_reason`
`not_planned` → WONT_DO; any other close → DONE.

Requests. PyGithub's own retry is off (`retry=None`): `GithubRetry` re-POSTs on 5xx,
which is how duplicate issues are born. Idempotent calls (reads, PATCHes that set
absolute values) go through `connectors.retry.call_idempotent`; creates never do,
and a 5xx or dropped connection on a create is reported as ambiguous.

Pacing (GitHub's secondary limits, API-NOTES §4: at most 80 content-creating
requests a minute and 500 an hour, writes serial). Every write is spaced
`60 / writes_per_minute` seconds apart (default 76/min, 95% of 80; measured on the
emulator: 75.9 creates/min, no limit hit) instead of PyGithub's fixed 1 s. On top,
content-creating requests (POSTs: issues, milestones) are held to `creates_per_hour`
(default 480) in any sliding hour: when the hour's budget is spent, a create waits
if a slot frees within `HOURLY_MAX_WAIT`, else it is refused locally with
`RateLimited(retry_after=…)`, which stops the create batch before GitHub throttles
the token. The window lives in this connector object: it spans the runs of one
daemon process, not separate CLI runs.
Every HTTP request, pages included, is counted in `stats` by a hook on the
requester's `requestJsonAndCheck`, the one entry point PyGithub's REST calls use.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar

import requests
from github import Auth, Github, GithubException
from github.GithubObject import NotSet, Opt
from github.Issue import Issue
from github.Milestone import Milestone
from github.Requester import Requester
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
from connectors.batching import create_in_batches
from connectors.cursors import TrackerCursor
from connectors.markers import marker_comment, marker_in_text, marker_start
from connectors.pacing import CreationBudget, WritePacer
from connectors.retry import call_idempotent, retry_after_seconds
from connectors.transport import transport_error
from connectors.webhooks import verify_hmac_sha256
from syncd.model import Status

T = TypeVar("T")
log = logging.getLogger(__name__)

DUE_RE = re.compile(r"^\*\*Due:\*\*[ \t]*(?P<due>\d{4}-\d{2}-\d{2})[ \t]*$", re.MULTILINE)
DUE_BLOCK_RE = re.compile(DUE_RE.pattern + r"\n?(?:[ \t]*\n)?", re.MULTILINE)  # line + blank
KEY_RE = re.compile(r"(?<![\w/.#-])(?:(?P<repo>[\w.-]+/[\w.-]+))?#(?P<number>\d+)\b")
URL_RE = re.compile(
    r"https?://[^\s/]+/(?:\S*/)?(?P<repo>[\w.-]+/[\w.-]+)/issues/(?P<number>\d+)(?![\w/])"
)

# `since` is sent this much earlier than asked: GitHub's bound is second-granular and
# documented only as "after", and the caller's clock need not match GitHub's.
# Callers therefore get a superset; reconciling a ticket twice is harmless.
SINCE_OVERLAP = timedelta(minutes=2)
# Above this many keys, one listing of all managed issues is cheaper than a GET each.
MANY_KEYS = 10
# GitHub's advice when a secondary limit answers without `retry-after`.
SECONDARY_WAIT = 60.0
PRIORITIES = ("P0", "P1", "P2", "P3", "P4")
# The hourly content-creation budget: a create waits for a slot that frees within this
# many seconds; a longer wait stops the batch (RateLimited) for a later run.
HOURLY_MAX_WAIT = 60.0
HOUR = 3600.0


class GitHubConfig(ConnectorConfig):
    """`[trackers.<name>]` with `kind = "github"`."""

    kind: Literal["github"] = Field("github", description="`github`.")
    url: str = Field(
        "https://api.github.com",
        description="The API; GitHub Enterprise Server: `https://HOST/api/v3`.",
    )
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="`owner/name`.")
    token: SecretStr = Field(
        description="A personal access token (classic or fine-grained) or an app installation"
        " token."
    )
    priority_labels: dict[str, str] = Field(
        default_factory=lambda: {p: f"priority: {p}" for p in PRIORITIES},
        description="Label per level P0..P4; two on one issue: the more urgent wins.",
    )
    in_progress_label: str = Field(
        "in progress", description="An open issue with this label is in progress."
    )
    due: Literal["body", "milestone"] = Field(
        "body",
        description="`body`: a `**Due:** 2026-07-01` line in the issue body; `milestone`: a"
        " milestone with that due date, created on first use.",
    )
    # GitHub allows 80 content-creating requests a minute and asks for serial writes;
    # 76 keeps a 5% margin (measured on the emulator: 75.9 creates/min, 0 limit hits).
    writes_per_minute: float = Field(
        default=76.0, gt=0, description="Spacing of writes (GitHub allows 80 a minute)."
    )
    # ... and 500 an hour: content-creating requests allowed in any sliding hour.
    creates_per_hour: int = Field(
        default=480,
        gt=0,
        description="Content-creating requests in any sliding hour (GitHub allows 500).",
    )
    page_size: int = Field(default=100, ge=1, le=100, description="Issues per listing page.")

    @field_validator("priority_labels")
    @classmethod
    def _known_priorities(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(PRIORITIES)
        if unknown:
            raise ValueError(f"priority_labels keys must be P0..P4, not {sorted(unknown)}")
        return value


class GitHubConnector:
    """One GitHub repository's issues as `Ticket`s."""

    Config: ClassVar[type[ConnectorConfig]] = GitHubConfig

    def __init__(
        self,
        name: str,
        config: GitHubConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.config = config
        self.stats = RequestStats()
        interval = 60.0 / config.writes_per_minute
        self.capabilities = Capabilities(bulk_create=False, max_bulk=1, wont_do=True)
        self._sleep = sleep
        self._pacer = WritePacer(interval, clock, sleep, "github")
        self._creations = CreationBudget(config.creates_per_hour, HOUR, clock)
        self._github = Github(
            auth=Auth.Token(config.token.get_secret_value()),
            base_url=config.url.rstrip("/"),
            timeout=max(1, math.ceil(config.timeout)),
            per_page=config.page_size,
            retry=None,  # GithubRetry re-POSTs on 5xx: duplicates. We retry ourselves.
            seconds_between_requests=None,
            seconds_between_writes=None,  # paced by WritePacer instead
            lazy=True,  # no GET before a PATCH; one requester shared by every object
        )
        self._cursor = TrackerCursor()  # before the first request: the hook feeds it
        self._instrument(self._github.requester)
        self._repo = self._github.get_repo(config.repo)
        self._priority_of = {label: p for p, label in config.priority_labels.items()}
        self._milestones: dict[date, Milestone] | None = None

    def __repr__(self) -> str:
        config = self.config
        return f"GitHubConnector(name={self.name!r}, repo={config.repo!r}, url={config.url!r})"

    def close(self) -> None:
        self._github.close()

    # -- the six operations -------------------------------------------------------------
    def list_changed_since(self, since: datetime | None) -> Iterator[Ticket]:
        """Managed issues updated since `since` minus `SINCE_OVERLAP` (a superset).

        Fetched completely before anything is yielded: a failed page raises, it never
        truncates the listing.
        """
        self._cursor.begin()
        tickets = self._idempotent(lambda: self._list_managed(since))
        self._cursor.complete(tickets, since)
        return iter(tickets)

    def listing_cursor(self) -> datetime | None:
        """GitHub's `Date` header on the listing's first page (see connectors/cursors.py)."""
        return self._cursor.value

    def get_many(self, keys: Sequence[str]) -> TicketsByKey:
        """Few keys: a GET each. More than `MANY_KEYS`: one listing of every managed issue
        (`state=all`, the shared label, 100 a page), then a GET for each key the listing
        lacks (a removed label, an issue linked by hand, a deleted one: 404/410).

        Why not search or GraphQL: PyGithub has no GraphQL batching, and the search API
        lags by minutes, caps queries at 256 characters and five boolean operators (so
        about 20 numbers a query) and has its own 30-a-minute limit. The labelled listing
        is consistent and costs ceil(M/100) reads for M managed issues, the same order as
        the N known tickets of a full reconcile (every managed issue is known).
        """
        numbers = {self._number_of(key) for key in keys if self.parse_key(key)}
        found = TicketsByKey()
        if len(numbers) > MANY_KEYS:
            wanted = {self._key(n) for n in numbers}
            listed = self._idempotent(lambda: self._list_managed(None))
            found.update({t.key: t for t in listed if t.key in wanted})
        missing: set[str] = set()
        for number in sorted(numbers):
            if self._key(number) not in found:
                ticket = self._idempotent(functools.partial(self._fetch_ticket, number))
                if ticket is None:
                    missing.add(self._key(number))
                else:
                    found[ticket.key] = ticket
        found.missing = frozenset(missing)
        return found

    def find_by_markers(self, markers: Sequence[str]) -> dict[str, Ticket]:
        wanted = set(markers)
        if not wanted:
            return {}
        tickets = self._idempotent(lambda: self._list_managed(None))
        found: dict[str, Ticket] = {}
        # Oldest first: if a marker was ever duplicated, the original issue wins.
        for ticket in sorted(tickets, key=lambda t: self._number_of(t.key)):
            if ticket.marker in wanted and ticket.marker not in found:
                found[ticket.marker] = ticket
        return found

    def create_many(self, drafts: Sequence[TicketDraft]) -> list[CreateOutcome]:
        # One issue per request; a 403/429 is a definite "no" and stops the batch.
        return create_in_batches(drafts, 1, self._create_one)

    def _create_one(self, batch: Sequence[TicketDraft]) -> list[CreateOutcome]:
        (draft,) = batch
        try:
            return [CreateOutcome(draft.marker, ticket=self._create(draft))]
        except RateLimited:
            raise  # create_in_batches stops here
        except AmbiguousWrite as exc:
            return [CreateOutcome(draft.marker, error=str(exc), ambiguous=True)]
        except TrackerError as exc:
            return [CreateOutcome(draft.marker, error=str(exc))]

    def update_fields(self, key: str, changes: FieldChanges) -> Ticket:
        number = self._number_of(key)
        wanted = changes.items()
        issue = self._repo.get_issue(number)  # lazy: no request yet
        if not wanted:
            return self._idempotent(lambda: self._ticket(issue.complete()))
        if "priority" in wanted or ("due" in wanted and self.config.due == "body"):
            # Labels and body are replaced wholesale by a PATCH: start from the current ones.
            self._idempotent(issue.complete)
        edit = self._edit_for(issue, wanted)
        self._idempotent(lambda: issue.edit(**edit))  # absolute values: safe to repeat
        return self._ticket(issue)

    def set_status(self, key: str, status: Status) -> Ticket:
        issue = self._repo.get_issue(self._number_of(key))
        if status.is_closed:
            return self._close(issue, "completed" if status is Status.DONE else "not_planned")
        self._idempotent(issue.complete)  # the in-progress label is toggled in a replaced set
        labels = [
            name for name in self._label_names(issue) if name != self.config.in_progress_label
        ]
        if status is Status.IN_PROGRESS:
            labels.append(self.config.in_progress_label)
        edit: dict[str, Any] = {}
        if issue.state != "open":
            edit.update(state="open", state_reason="reopened")
        if labels != self._label_names(issue):
            edit["labels"] = labels
        if edit:
            self._idempotent(lambda: issue.edit(**edit))
        return self._ticket(issue)

    def parse_key(self, text: str) -> str | None:
        text = text.strip()
        match = URL_RE.search(text) or KEY_RE.search(text)
        if not match:
            return None
        repo = match["repo"] or self.config.repo
        if repo.lower() != self.config.repo.lower():
            return None  # another repository's issue is not ours to sync
        return self._key(int(match["number"]))

    # -- webhooks ---------------------------------------------------------------------------
    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify `X-Hub-Signature-256` and name the issue an `issues` event is about.

        A secret is required: without one anybody could make the worker reconcile on
        demand. The HMAC is checked over the raw bytes before the JSON is parsed, so an
        unsigned body never reaches the parser. `ping` and every other event verify
        but name no keys (nothing to do); so does an issue of another repository.
        """
        secret = self.config.webhook_secret
        if secret is None:
            raise WebhookRejected(
                f"no webhook_secret is configured for tracker {self.name!r}: GitHub "
                "deliveries cannot be verified, so none are accepted",
                status=401,
            )
        verify_hmac_sha256(
            headers.get("x-hub-signature-256"), secret, body, name="X-Hub-Signature-256"
        )
        delivery = headers.get("x-github-delivery") or None
        event = headers.get("x-github-event", "")
        if not event:
            raise WebhookRejected("missing X-GitHub-Event header", status=400)
        payload = _json_object(body)
        if event != "issues":
            return WebhookEvent(delivery, frozenset(), event)
        action = str(payload.get("action") or "")
        kind = f"issues.{action}" if action else "issues"
        issue = payload.get("issue")
        repo = payload.get("repository")
        full_name = repo.get("full_name") if isinstance(repo, dict) else None
        number = issue.get("number") if isinstance(issue, dict) else None
        if (
            not isinstance(full_name, str)
            or full_name.lower() != self.config.repo.lower()
            or not isinstance(number, int)
            or isinstance(number, bool)
            or number <= 0
            or (isinstance(issue, dict) and issue.get("pull_request"))
        ):
            return WebhookEvent(delivery, frozenset(), kind)
        return WebhookEvent(delivery, frozenset({self._key(number)}), kind)

    # -- reads ------------------------------------------------------------------------------
    def _list_managed(self, since: datetime | None) -> list[Ticket]:
        after: Opt[datetime] = NotSet
        if since is not None:
            aware = since if since.tzinfo else since.replace(tzinfo=UTC)
            # PyGithub formats `since` without converting zones: hand it UTC.
            after = aware.astimezone(UTC) - SINCE_OVERLAP
        issues = self._repo.get_issues(
            state="all", labels=[self.config.label], since=after, sort="updated", direction="asc"
        )
        return [self._ticket(issue) for issue in issues if not _is_pull_request(issue)]

    def _fetch_ticket(self, number: int) -> Ticket | None:
        """The issue, or None when there is none: 404 (never existed, or the token cannot
        see it), 410 (deleted), or a pull request (no issue to sync)."""
        try:
            issue = self._repo.get_issue(number).complete()
        except TrackerError as exc:
            if exc.status in (404, 410):  # missing, deleted or transferred away
                return None
            raise
        return None if _is_pull_request(issue) else self._ticket(issue)

    # -- writes -------------------------------------------------------------------------------
    def _create(self, draft: TicketDraft) -> Ticket:
        milestone = self._milestone_or_error(draft.due) if self.config.due == "milestone" else None
        labels = [self.config.label, *draft.labels]
        if draft.priority in self.config.priority_labels:
            labels.append(self.config.priority_labels[draft.priority])
        if draft.status is Status.IN_PROGRESS:
            labels.append(self.config.in_progress_label)
        issue = self._repo.create_issue(
            title=draft.title,
            body=self._compose_body(draft),
            labels=list(dict.fromkeys(labels)),
            assignees=[draft.assignee] if draft.assignee else NotSet,
            milestone=milestone if milestone is not None else NotSet,
        )
        ticket = self._ticket(issue)
        if draft.status.is_closed:
            try:
                ticket = self.set_status(ticket.key, draft.status)
            except TrackerError as exc:
                # The issue exists; reporting an error would invite a duplicate create.
                # The next run sees the open ticket and closes it then.
                log.warning("created %s but could not close it: %s", ticket.key, exc)
        return ticket

    def _close(self, issue: Issue, reason: str) -> Ticket:
        self._idempotent(lambda: issue.edit(state="closed", state_reason=reason))
        if issue.state_reason not in (reason, None):  # None: a server without reasons
            # GitHub ignores state_reason unless the state changes: an issue already
            # closed for another reason must be reopened to be closed again.
            self._idempotent(lambda: issue.edit(state="open"))
            self._idempotent(lambda: issue.edit(state="closed", state_reason=reason))
        return self._ticket(issue)

    def _edit_for(self, issue: Issue, wanted: dict[str, Any]) -> dict[str, Any]:
        edit: dict[str, Any] = {}
        if "title" in wanted:
            edit["title"] = wanted["title"]
        if "assignee" in wanted:
            edit["assignees"] = [wanted["assignee"]] if wanted["assignee"] else []
        if "due" in wanted and self.config.due == "body":
            edit["body"] = _with_due(issue.body or "", wanted["due"])
        elif "due" in wanted:
            edit["milestone"] = self._milestone(wanted["due"]) if wanted["due"] else None
        if "priority" in wanted:
            keep = [n for n in self._label_names(issue) if n not in self._priority_of]
            if self.config.label not in keep:
                keep.insert(0, self.config.label)
            new = self.config.priority_labels.get(wanted["priority"] or "")
            edit["labels"] = [*keep, new] if new else keep
        return edit

    def _compose_body(self, draft: TicketDraft) -> str:
        parts = [draft.description.rstrip()]
        if draft.due and self.config.due == "body":
            parts.append(f"**Due:** {draft.due.isoformat()}")
        parts.append(marker_comment(draft.marker))
        return "\n\n".join(part for part in parts if part) + "\n"

    def _milestone_or_error(self, due: date | None) -> Milestone | None:
        """The milestone for a create; its failure must not look like an ambiguous create."""
        if due is None:
            return None
        try:
            return self._milestone(due)
        except RateLimited:
            raise
        except TrackerError as exc:
            raise TrackerError(f"milestone for {due}: {exc}", status=exc.status) from exc

    def _milestone(self, due: date) -> Milestone:
        if self._milestones is None:
            listed = self._idempotent(lambda: list(self._repo.get_milestones(state="all")))
            self._milestones = {
                m.due_on.astimezone(UTC).date(): m for m in reversed(listed) if m.due_on
            }
        if due not in self._milestones:
            try:
                self._milestones[due] = self._repo.create_milestone(
                    title=f"Due {due.isoformat()}", due_on=due
                )
            except TrackerError:
                self._milestones = None  # it may exist after all: list again next time
                raise
        return self._milestones[due]

    # -- mapping ------------------------------------------------------------------------------
    def _ticket(self, issue: Issue) -> Ticket:
        labels = tuple(self._label_names(issue))
        body = issue.body or ""
        updated = issue.updated_at
        return Ticket(
            key=self._key(issue.number),
            url=issue.html_url,
            title=issue.title,
            assignee=issue.assignees[0].login if issue.assignees else None,
            due=self._due_of(issue, body),
            priority=self._priority(labels),
            status=self._status(issue, labels),
            labels=labels,
            updated=updated if updated.tzinfo else updated.replace(tzinfo=UTC),
            marker=marker_in_text(body),
            completed_at=_aware(issue.closed_at) if issue.state == "closed" else None,
        )

    def _due_of(self, issue: Issue, body: str) -> date | None:
        if self.config.due == "body":
            match = DUE_RE.search(body)
            return date.fromisoformat(match["due"]) if match else None
        milestone = issue.milestone
        return milestone.due_on.astimezone(UTC).date() if milestone and milestone.due_on else None

    def _priority(self, labels: Sequence[str]) -> str | None:
        found = sorted(self._priority_of[name] for name in labels if name in self._priority_of)
        return found[0] if found else None  # two priority labels: the more urgent wins

    def _status(self, issue: Issue, labels: Sequence[str]) -> Status:
        if issue.state == "closed":
            return Status.WONT_DO if issue.state_reason == "not_planned" else Status.DONE
        return Status.IN_PROGRESS if self.config.in_progress_label in labels else Status.OPEN

    @staticmethod
    def _label_names(issue: Issue) -> list[str]:
        return [label.name for label in issue.labels]

    def _key(self, number: int) -> str:
        return f"{self.config.repo}#{number}"

    def _number_of(self, key: str) -> int:
        canonical = self.parse_key(key)
        if canonical is None:
            raise TrackerError(f"not an issue of {self.config.repo}: {key!r}", retryable=False)
        return int(canonical.rsplit("#", 1)[1])

    # -- requests ------------------------------------------------------------------------------
    def _idempotent(self, fn: Callable[[], T]) -> T:
        return call_idempotent(fn, self.stats, sleep=self._sleep)

    def _instrument(self, requester: Requester) -> None:
        """Count, pace and classify every request PyGithub sends through `requester`."""
        send = requester.requestJsonAndCheck

        def instrumented(verb: str, url: str, *args: Any, **kwargs: Any) -> Any:
            write = verb != "GET"
            if write:
                self._pacer.wait()
            if verb == "POST":  # content creation: issues, milestones
                self._take_creation_slot(_endpoint(url))
            self.stats.count(f"{verb} {_endpoint(url)}", write=write)
            try:
                headers, data = send(verb, url, *args, **kwargs)
            except (GithubException, requests.RequestException, AssertionError) as exc:
                self.stats.errors += 1
                raise _classify(exc, verb, _endpoint(url), self.config) from exc
            self._cursor.observe(headers)
            return headers, data

        requester.requestJsonAndCheck = instrumented  # type: ignore[method-assign]

    def _take_creation_slot(self, endpoint: str) -> None:
        """Hold content creation to `creates_per_hour`: wait briefly, or refuse locally."""
        while (wait := self._creations.take()) > 0:
            if wait > HOURLY_MAX_WAIT:
                limit = self.config.creates_per_hour
                raise RateLimited(
                    f"GitHub POST {endpoint}: not sent, {limit} content-creating requests "
                    f"in the last hour (creates_per_hour; GitHub allows 500); "
                    f"next slot in {wait:.0f} s",
                    retry_after=wait,
                )
            self._sleep(wait)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected("body is not valid JSON", status=400) from None
    if not isinstance(payload, dict):
        raise WebhookRejected("body is not a JSON object", status=400)
    return payload


def _is_pull_request(issue: Issue) -> bool:
    # `GET /issues` returns pull requests too. Their html_url says /pull/; reading the
    # optional `pull_request` attribute instead would make PyGithub fetch each issue.
    return "/pull/" in issue.html_url


def _with_due(body: str, due: date | None) -> str:
    """`body` with its `**Due:**` line set to `due` (or removed); nothing else changes."""
    if due is None:
        return DUE_BLOCK_RE.sub("", body, count=1)
    line = f"**Due:** {due.isoformat()}"
    if DUE_RE.search(body):
        return DUE_RE.sub(line, body, count=1)
    start = marker_start(body)
    if start is not None:  # keep the marker last
        return f"{body[:start]}{line}\n\n{body[start:]}"
    return f"{body.rstrip()}\n\n{line}\n"


def _endpoint(url: str) -> str:
    """`/repos/o/r/issues/12?x=1` → `issues/{n}`: a request kind for `stats.by_kind`."""
    path = re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0]
    path = re.sub(r"^(/api/v3)?/repos/[^/]+/[^/]+", "", path).strip("/") or "repo"
    return re.sub(r"/\d+(?=/|$)", "/{n}", path)


def _message(exc: GithubException) -> str:
    data = exc.data
    message = data.get("message") if isinstance(data, dict) else None
    return str(message or exc.status)


def _classify(exc: Exception, verb: str, endpoint: str, config: GitHubConfig) -> TrackerError:
    """One failed request → RateLimited / AmbiguousWrite / TrackerError (no secrets)."""
    where = f"GitHub {verb} {endpoint}"
    write = verb != "GET"
    if isinstance(exc, GithubException):
        status, message = exc.status, _message(exc)
        headers = {k.lower(): str(v) for k, v in (exc.headers or {}).items()}
        if _is_rate_limit(status, message, headers):
            wait = retry_after_seconds(headers)
            return RateLimited(
                f"{where}: {status} {message}",
                retry_after=SECONDARY_WAIT if wait is None else wait,
                status=status,
            )
        if status >= 500:
            kind = AmbiguousWrite if write else TrackerError
            return kind(f"{where}: {status} {message}", retryable=True, status=status)
        return TrackerError(f"{where}: {status} {message}", retryable=False, status=status)
    if isinstance(exc, requests.RequestException):
        what = type(exc).__name__
        if write and not _never_sent(exc):
            return AmbiguousWrite(f"{where}: {what}; the write may have happened")
        return transport_error(where, config.url, exc, config.timeout)
    return TrackerError(f"{where}: GitHub sent a URL outside the configured url", retryable=False)


def _is_rate_limit(status: int, message: str, headers: dict[str, str]) -> bool:
    if status == 429:
        return True
    return status == 403 and (
        Requester.isRateLimitError(message)
        or "retry-after" in headers
        or headers.get("x-ratelimit-remaining") == "0"
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    return type(reason).__name__ == "NewConnectionError"


def _aware(moment: datetime | None) -> datetime | None:
    # PyGithub returns naive datetimes in some versions; GitHub's times are UTC.
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
