"""Sending the digest over SMTP, at most once per ISO week.

Exactly once per ISO week, also when two senders start together:

* The whole send holds the lease `digest:<ISO week>` in the state store (the same
  mechanism as the sync lease: one upsert under BEGIN IMMEDIATE, renewed while held,
  taken over at once from a holder killed on this host). A second sender waits for it,
  then finds the week sent and stops.
* The record `digest_sent:<ISO week>` (JSON) says how far a send got:

    {"state": "sending", "phase": "connecting" | "data", ...} | {"state": "sent" | "failed"}

  "sending"/"connecting" is written before connecting; "phase": "data" just before the
  message is handed over (SMTP DATA); "sent" when the server accepts it. A run that
  finds "connecting" left behind (its sender died before DATA) knows nothing can have
  been sent and sends; one that finds "data" cannot know whether the message arrived:
  it is "in doubt", and only --force sends again (after a person checked the mailbox).
  "failed" (the server definitely did not take it) may be retried freely.
* A digest for a week before the current one is only sent with --force: `--as-of` a
  past week is for looking, and a stale digest should not land in leadership's inbox.

Transient failures (connection refused or dropped, timeouts, 4xx replies) are retried
with exponential backoff; permanent ones (5xx, bad credentials, TLS verification) are
not. A failure after the message data was handed over is "in doubt" and never retried.

The SMTP password is only ever passed to `SMTP.login`: it is not logged, not put in
results, and smtplib's debug output (which would show AUTH data) is never enabled.
"""

from __future__ import annotations

import ipaddress
import json
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tenacity.wait import wait_base

from syncd.common import logs
from syncd.config import Settings, SmtpSettings
from syncd.digest.addresses import recipients
from syncd.digest.model import Digest, iso_week
from syncd.digest.render import build_message, write_report
from syncd.digest.sources import digest_from
from syncd.sync.lease import LeaseKeeper
from syncd.sync.state import StateStore

log = structlog.get_logger(__name__)

META_PREFIX = "digest_sent:"
LEASE_PREFIX = "digest:"  # the send lock of one ISO week, e.g. "digest:2026-W24"
LOCK_TTL = timedelta(minutes=2)  # a sender killed elsewhere frees the week this soon
LOCK_RENEW = 20.0  # seconds between renewals while sending (retries can take minutes)
LOCK_WAIT = 120.0  # how long a second sender waits for the first to finish
IN_DOUBT_HELP = "the previous send handed the message over (SMTP DATA) and got no answer"
ATTEMPTS = 4
DEFAULT_WAIT: wait_base = wait_exponential(multiplier=2, min=2, max=60)  # 2, 4, 8 s


class SendRefused(Exception):
    """Sending cannot work as configured (no recipients, credentials over plaintext…)."""


class InDoubt(Exception):
    """The connection failed after the message was handed over: it may have been sent."""


class DeliveryFailed(Exception):
    """The last error of `deliver`, with how many attempts were made."""

    def __init__(self, cause: BaseException, attempts: int) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.attempts = attempts

    @property
    def in_doubt(self) -> bool:
        return isinstance(self.cause, InDoubt)


@dataclass(frozen=True)
class SendResult:
    week: str
    sent: bool
    outcome: str  # "sent" | "already-sent" | "in-doubt" | "failed"
    subject: str | None = None
    recipients: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # recipients the server rejected (others got it)
    message_id: str | None = None
    attempts: int = 0
    error: str | None = None
    previous: dict[str, Any] = field(default_factory=dict)  # the record that stopped us

    @property
    def ok(self) -> bool:
        """Nothing left to do this week (sent now, or already sent)."""
        return self.outcome in ("sent", "already-sent")

    def as_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "sent": self.sent,
            "outcome": self.outcome,
            "subject": self.subject,
            "recipients": list(self.recipients),
            "refused": list(self.refused),
            "message_id": self.message_id,
            "attempts": self.attempts,
            "error": self.error,
            "previous": self.previous,
        }

    def __str__(self) -> str:
        # One line for logs (the worker logs str(result)); never includes secrets.
        if self.outcome == "sent":
            n = len(self.recipients)
            return f"{self.week}: sent to {n} recipient(s), attempts={self.attempts}"
        if self.outcome == "already-sent":
            return f"{self.week}: already sent at {self.previous.get('at', '?')}; not sent again"
        return f"{self.week}: {self.outcome}: {self.error}"


class DigestNotSent(Exception):
    """Raised by `build_and_send` when the digest failed or may not have arrived."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(str(result))
        self.result = result


def meta_key(week: str) -> str:
    return META_PREFIX + week


def sent_record(state: StateStore, week: str) -> dict[str, Any] | None:
    raw = state.meta_get(meta_key(week))
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        # Unreadable but present: somebody sent (or began to) — safer to treat as sent.
        return {"state": "sent", "raw": raw}
    return value if isinstance(value, dict) else {"state": "sent", "raw": raw}


def _record(store: StateStore, week: str, /, **fields: Any) -> None:
    store.meta_set(meta_key(week), json.dumps(fields, sort_keys=True, default=str))


# --------------------------------------------------------------------------- SMTP


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the server or network may behave differently in a moment."""
    if isinstance(exc, InDoubt | SendRefused | ssl.SSLError):
        return False  # never resend something possibly sent; config and TLS do not heal
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return False  # e.g. no STARTTLS or no AUTH on this server
    return isinstance(exc, OSError)  # refused, reset, timeout, SMTPServerDisconnected


def _connect(smtp: SmtpSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if smtp.ssl:
        return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    if smtp.starttls:
        client.ehlo()
        client.starttls(context=context)
    return client


def _deliver_once(
    msg: EmailMessage,
    sender: str,
    rcpts: tuple[str, ...],
    smtp: SmtpSettings,
    context: ssl.SSLContext,
    before_data: Callable[[], None] = lambda: None,
) -> dict[str, tuple[int, bytes]]:
    data = msg.as_bytes(policy=policy.SMTP)  # CRLF line ends, as DATA requires
    with _connect(smtp, context) as client:
        client.ehlo_or_helo_if_needed()
        if smtp.username:
            client.login(smtp.username, smtp.password.get_secret_value() if smtp.password else "")
        code, reply = client.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in rcpts:
            code, reply = client.rcpt(rcpt)
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
        if len(refused) == len(rcpts):
            client.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        before_data()  # from here on, a crash leaves the send "in doubt"
        try:
            code, reply = client.data(data)
        except smtplib.SMTPResponseException:
            raise  # the server answered: it definitely refused the message
        except OSError as exc:
            raise InDoubt(f"connection lost while sending the message ({exc})") from exc
        if code != 250:
            # data() *returns* the reply to the final "."; only sendmail() raises on it.
            raise smtplib.SMTPDataError(code, reply)
        return refused


def deliver(
    msg: EmailMessage,
    sender: str,
    rcpts: tuple[str, ...],
    smtp: SmtpSettings,
    *,
    ssl_context: ssl.SSLContext | None = None,
    attempts: int = ATTEMPTS,
    wait: wait_base = DEFAULT_WAIT,
    before_data: Callable[[], None] = lambda: None,
) -> tuple[dict[str, tuple[int, bytes]], int]:
    """Send with retries; returns (refused recipients, attempts used).

    Raises DeliveryFailed with the last error once retries are exhausted, or at once
    for a permanent error.
    """
    problem = _config_problem(rcpts, smtp)
    if problem is not None:
        raise DeliveryFailed(SendRefused(problem), 0)
    context = ssl_context or ssl.create_default_context()
    used = 0

    def count(_state: RetryCallState) -> None:
        nonlocal used
        used += 1

    def warn(retry: RetryCallState) -> None:
        exc = retry.outcome.exception() if retry.outcome else None
        log.warning(
            "digest send failed; retrying",
            attempt=retry.attempt_number,
            error=f"{type(exc).__name__}: {exc}",
            wait_s=round(retry.next_action.sleep if retry.next_action else 0, 1),
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception(is_transient),
        before=count,
        before_sleep=warn,
        reraise=True,
    )
    try:
        refused = retrying(_deliver_once, msg, sender, rcpts, smtp, context, before_data)
    except OSError as exc:  # smtplib's and ssl's errors are all OSErrors
        raise DeliveryFailed(exc, used) from exc
    except InDoubt as exc:
        raise DeliveryFailed(exc, used) from exc
    return refused, used


def _config_problem(rcpts: tuple[str, ...], smtp: SmtpSettings) -> str | None:
    if not rcpts:
        return "no recipients: set [digest] to (or cc, or team addresses)"
    if smtp.username and smtp.password is None:
        return "smtp.username is set but no smtp.password (or password_file)"
    if smtp.username and not (smtp.ssl or smtp.starttls) and not _is_loopback(smtp.host):
        return (
            f"refusing to send SMTP credentials to {smtp.host} without TLS:"
            " set smtp.starttls or smtp.ssl"
        )
    return None


# --------------------------------------------------------------------------- the job


def send_digest(
    digest: Digest,
    settings: Settings,
    state: StateStore,
    *,
    force: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    wait: wait_base = DEFAULT_WAIT,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    this_week: str | None = None,
    lock_wait: float = LOCK_WAIT,
) -> SendResult:
    """Send `digest` unless its week is done, under the week's lease.

    `this_week` is the current ISO week (default: from `now` in the digest's time zone);
    an older digest is refused unless `force`.
    """
    week = digest.week
    current = this_week or iso_week(local_day(now(), settings))
    if week < current and not force:
        error = f"{week} is a past week (this is {current}); use --force to send it anyway"
        log.warning("digest not sent", week=week, outcome="past-week")
        return SendResult(week, False, "past-week", error=error)
    keeper = LeaseKeeper(state, name=LEASE_PREFIX + week, ttl=LOCK_TTL, renew_every=LOCK_RENEW)
    if not keeper.acquire(lock_wait, poll=0.2):
        holder = keeper.other.holder if keeper.other else "?"
        error = f"another sender ({holder}) is sending {week}; not sent by this run"
        log.warning("digest not sent", week=week, outcome="busy", holder=holder)
        return SendResult(week, False, "busy", error=error)
    with keeper.renewing():
        return _send_locked(digest, settings, state, force, ssl_context, wait, now)


def _send_locked(
    digest: Digest,
    settings: Settings,
    state: StateStore,
    force: bool,
    ssl_context: ssl.SSLContext | None,
    wait: wait_base,
    now: Callable[[], datetime],
) -> SendResult:
    week = digest.week
    previous = sent_record(state, week)
    state_was = previous.get("state") if previous else None
    # A "sending" record without a phase comes from before phases were recorded: it may
    # have got as far as DATA, so it is in doubt.
    never_started = (
        previous is not None and state_was == "sending" and previous.get("phase") == "connecting"
    )
    if state_was in ("sent", "sending") and not force and not never_started:
        outcome = "already-sent" if state_was == "sent" else "in-doubt"
        log.info("digest not sent", week=week, outcome=outcome, previous=previous)
        error = None if outcome == "already-sent" else IN_DOUBT_HELP
        return SendResult(week, False, outcome, error=error, previous=previous or {})
    if never_started:
        log.info("previous send of this week never reached DATA; sending", week=week)

    rcpt = recipients(settings)
    msg = build_message(digest, settings, to=rcpt, now=now())
    envelope = rcpt.envelope
    base = SendResult(
        week,
        False,
        "failed",
        subject=str(msg["Subject"]),
        recipients=envelope,
        message_id=str(msg["Message-ID"]),
    )
    redactor = logs.Redactor(
        [settings.smtp.password.get_secret_value()] if settings.smtp.password else []
    )
    common = {"message_id": base.message_id, "recipients": len(envelope), "forced": force}
    _record(state, week, state="sending", phase="connecting", at=now().isoformat(), **common)

    def handing_over() -> None:
        _record(state, week, state="sending", phase="data", at=now().isoformat(), **common)

    try:
        refused, attempts = deliver(
            msg,
            settings.digest.from_,
            envelope,
            settings.smtp,
            ssl_context=ssl_context,
            wait=wait,
            before_data=handing_over,
        )
    except DeliveryFailed as exc:
        error = redactor.scrub(str(exc))
        if exc.in_doubt:
            # Leave "sending"/"data" in place: only a person can tell whether it arrived.
            log.error("digest send in doubt", week=week, error=error, attempts=exc.attempts)
            return replace(base, outcome="in-doubt", error=error, attempts=exc.attempts)
        _record(state, week, state="failed", at=now().isoformat(), error=error, **common)
        log.error("digest send failed", week=week, error=error, attempts=exc.attempts)
        return replace(base, error=error, attempts=exc.attempts)
    _record(
        state,
        week,
        state="sent",
        at=now().isoformat(),
        refused=sorted(refused),
        **common,
    )
    log.info("digest sent", week=week, attempts=attempts, refused=sorted(refused), **common)
    return replace(
        base, sent=True, outcome="sent", attempts=attempts, refused=tuple(sorted(refused))
    )


def local_day(moment: date, settings: Settings) -> date:
    """A datetime (the worker passes "now") becomes its day in the digest's time zone."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(settings.digest.tz).date()
    return moment


def build_and_send(
    settings: Settings,
    state: StateStore,
    as_of: date,
    force: bool = False,
    *,
    ssl_context: ssl.SSLContext | None = None,
    wait: wait_base = DEFAULT_WAIT,
) -> SendResult:
    """The scheduled job: compute the digest for `as_of` from docs and state, and send it
    unless this ISO week's digest already went out (or `force`).

    Returns the result when the week is done (sent now or before); raises DigestNotSent
    (carrying the result) when it failed or is in doubt, so a scheduler that treats an
    exception as failure counts it right.
    """
    day = local_day(as_of, settings)
    digest = digest_from(settings, state, day)
    try:
        write_report(digest, settings)
    except OSError as exc:
        # The email still goes out; the worker's log says what to fix, every week.
        log.error("could not write the full digest report", error=str(exc))
    result = send_digest(
        digest,
        settings,
        state,
        force=force,
        ssl_context=ssl_context,
        wait=wait,
        this_week=iso_week(day),  # the worker's clock, not this process's
    )
    if not result.ok:
        raise DigestNotSent(result)
    follow_up(digest, settings, state, wait=wait)
    return result


def follow_up(
    digest: Digest, settings: Settings, state: StateStore, *, wait: wait_base = DEFAULT_WAIT
) -> list[str]:
    """After the leadership email: owner reminders and the Slack summary, each once a
    week. Returns what went wrong, in words (also logged); never raises for delivery."""
    # the reminders module imports this one: loaded here, after both exist
    from syncd.digest.reminders import post_slack, send_reminders

    problems = []
    reminders = send_reminders(digest, settings, state, wait=wait)
    if settings.digest.reminders.enabled:
        (log.info if reminders.ok else log.error)("owner reminders", summary=str(reminders))
        if not reminders.ok or reminders.without_email:
            problems.append(str(reminders))
    if (slack := post_slack(digest, settings, state)) is not None:
        log.error("slack summary not posted", error=slack)
        problems.append(slack)
    return problems
