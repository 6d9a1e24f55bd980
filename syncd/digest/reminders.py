"""Owner reminders (opt-in `[digest.reminders]`) and the Slack summary.

Each owner with overdue or due-soon items gets at most one email per ISO week listing
them with links. Exactly once per owner per week, by the same means as the leadership
send (`syncd.digest.send`): the lease `reminders:<week>` held for the whole round and
one record per owner, `reminder_sent:<week>:<owner>`, with the phase reached; an owner
whose send is in doubt (DATA handed over, no answer) is not emailed again and is
reported. Owners whose `[owners]` entry has no `email` are listed in the leadership
digest ("no reminder sent") instead of being silently skipped.

The Slack summary goes to `[digest] slack_webhook_url` (an incoming webhook) once per
week (`slack_sent:<week>`), after the email went out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import httpx
import structlog
from tenacity.wait import wait_base

from syncd.config import Settings
from syncd.digest.addresses import domain_of
from syncd.digest.metrics import owner_key
from syncd.digest.model import Digest, ItemRow
from syncd.digest.render import fmt_day, fmt_pct, oneline, subject
from syncd.digest.send import DEFAULT_WAIT, DeliveryFailed, deliver
from syncd.sync.lease import LeaseKeeper
from syncd.sync.state import StateStore

log = structlog.get_logger(__name__)

LEASE_PREFIX = "reminders:"
RECORD_PREFIX = "reminder_sent:"
SLACK_PREFIX = "slack_sent:"
LOCK_TTL = timedelta(minutes=5)
SLACK_TIMEOUT = 10.0


@dataclass(frozen=True)
class OwnerReminder:
    owner: str
    email: str | None
    overdue: tuple[ItemRow, ...]
    due_soon: tuple[ItemRow, ...]


@dataclass
class ReminderResult:
    sent: list[str] = field(default_factory=list)  # owners emailed by this run
    already: list[str] = field(default_factory=list)  # emailed earlier this week
    in_doubt: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (owner, error)
    without_email: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.in_doubt or self.failed)

    def __str__(self) -> str:
        parts = [f"{len(self.sent)} owner reminder(s) sent", f"{len(self.already)} already sent"]
        if self.without_email:
            parts.append(f"no email address for {', '.join(self.without_email)}")
        if self.in_doubt:
            parts.append(f"in doubt (check, then --force): {', '.join(self.in_doubt)}")
        if self.failed:
            parts.append("failed: " + "; ".join(f"{o}: {e}" for o, e in self.failed))
        return ", ".join(parts)


def plan(digest: Digest, settings: Settings) -> list[OwnerReminder]:
    """One reminder per owner with overdue or due-soon items, owners in name order."""
    soon_days = settings.digest.reminders.due_soon_days
    rows: dict[str, tuple[str, list[ItemRow], list[ItemRow]]] = {}
    for row in digest.overdue:
        if row.owner:
            rows.setdefault(owner_key(row.owner), (row.owner, [], []))[1].append(row)
    for row in digest.due_soon:
        if row.owner and row.days_left <= soon_days:
            rows.setdefault(owner_key(row.owner), (row.owner, [], []))[2].append(row)
    return [
        OwnerReminder(owner, settings.owner_email(owner), tuple(late), tuple(soon))
        for _key, (owner, late, soon) in sorted(rows.items())
    ]


def _line(row: ItemRow) -> str:
    where = row.doc_url or row.path
    ticket = f"{row.ticket} {row.ticket_url or ''}".strip() if row.ticket else "no ticket"
    return f"- {oneline(row.action)}\n  due {fmt_day(row.due)}, {ticket}\n  {where}\n"


def message(reminder: OwnerReminder, digest: Digest, settings: Settings) -> EmailMessage:
    assert reminder.email is not None
    text = [f"Hello {reminder.owner},\n", "Your postmortem action items this week:\n"]
    if reminder.overdue:
        text.append(f"\nOVERDUE ({len(reminder.overdue)})\n")
        text.extend(_line(r) for r in reminder.overdue)
    if reminder.due_soon:
        text.append(f"\nDUE SOON ({len(reminder.due_soon)})\n")
        text.extend(_line(r) for r in reminder.due_soon)
    text.append(
        "\nUpdate the item's Status cell in the postmortem (or close its ticket) when done."
        "\n--\npostmortem-syncd: one reminder a week; leadership sees the weekly digest.\n"
    )
    msg = EmailMessage()
    n = len(reminder.overdue)
    msg["Subject"] = f"Your postmortem action items {digest.week}: {n} overdue"
    msg["From"] = settings.digest.from_
    msg["To"] = reminder.email
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(idstring="reminder", domain=domain_of(settings.digest.from_))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content("".join(text), charset="utf-8", cte="quoted-printable")
    return msg


def send_reminders(
    digest: Digest,
    settings: Settings,
    state: StateStore,
    *,
    force: bool = False,
    wait: wait_base = DEFAULT_WAIT,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReminderResult:
    result = ReminderResult()
    if not settings.digest.reminders.enabled:
        return result
    keeper = LeaseKeeper(state, name=LEASE_PREFIX + digest.week, ttl=LOCK_TTL)
    if not keeper.acquire(LOCK_TTL.total_seconds(), poll=0.2):
        result.failed.append(("*", "another process is sending this week's reminders"))
        return result
    with keeper.renewing():
        for reminder in plan(digest, settings):
            _one(reminder, digest, settings, state, force, wait, now, result)
    log.info("owner reminders", week=digest.week, summary=str(result))
    return result


def _one(
    reminder: OwnerReminder,
    digest: Digest,
    settings: Settings,
    state: StateStore,
    force: bool,
    wait: wait_base,
    now: Callable[[], datetime],
    result: ReminderResult,
) -> None:
    if reminder.email is None:
        result.without_email.append(reminder.owner)
        return
    key = f"{RECORD_PREFIX}{digest.week}:{owner_key(reminder.owner)}"
    raw = state.meta_get(key)
    previous = json.loads(raw) if raw else {}
    stage = (previous.get("state"), previous.get("phase"))
    if stage[0] == "sent" and not force:
        result.already.append(reminder.owner)
        return
    if stage == ("sending", "data") and not force:
        result.in_doubt.append(reminder.owner)
        return

    def record(**fields: str) -> None:
        state.meta_set(key, json.dumps({"at": now().isoformat(), **fields}, sort_keys=True))

    record(state="sending", phase="connecting")
    try:
        deliver(
            message(reminder, digest, settings),
            settings.digest.from_,
            (reminder.email,),
            settings.smtp,
            wait=wait,
            before_data=lambda: record(state="sending", phase="data"),
        )
    except DeliveryFailed as exc:
        if exc.in_doubt:
            result.in_doubt.append(reminder.owner)
            return
        record(state="failed", error=str(exc))
        result.failed.append((reminder.owner, str(exc)))
        return
    record(state="sent")
    result.sent.append(reminder.owner)


# --------------------------------------------------------------------------- Slack


def slack_summary(digest: Digest) -> str:
    """The digest's headline in a few lines of Slack mrkdwn-safe plain text."""
    heads = {h.name: h for h in digest.headlines}
    lines = [f"*{subject(digest)}*"]
    for name, label in (
        ("overdue", "Overdue items"),
        ("recurrence_4_weeks", "Recurrence, 4 weeks"),
        ("completion_4_weeks", "Done on time, 4 weeks"),
    ):
        head = heads.get(name)
        if head is None:
            continue

        def show(value: float | None, kind: str = head.kind) -> str:
            if value is None:
                return "n/a"
            return fmt_pct(value) if kind == "rate" else f"{value:g}"

        lines.append(f"{label}: {show(head.value)} (last week {show(head.last_week)})")
    return "\n".join(lines)


def post_slack(digest: Digest, settings: Settings, state: StateStore) -> str | None:
    """Post the summary once per week; returns an error message, or None (posted, already
    posted, or not configured)."""
    url = settings.digest.slack_webhook_url
    key = SLACK_PREFIX + digest.week
    if url is None or state.meta_get(key):
        return None
    try:
        response = httpx.post(
            url.get_secret_value(), json={"text": slack_summary(digest)}, timeout=SLACK_TIMEOUT
        )
    except httpx.HTTPError as exc:
        # The URL is the secret: name the error type only, never the request.
        return f"Slack webhook failed: {type(exc).__name__}"
    if response.status_code >= 300:
        return f"Slack webhook answered {response.status_code}"
    state.meta_set(key, json.dumps({"at": datetime.now(UTC).isoformat()}))
    return None
