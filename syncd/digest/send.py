"""Sending the digest over SMTP, at most once per ISO week.

Idempotency lives in the state store under `digest_sent:<ISO week>`, a JSON record:

    {"state": "sending" | "sent" | "failed", "at": …, "message_id": …, …}

* "sending" is written *before* the message goes out and "sent" right after the server
  accepts it. A run that finds either refuses to send again unless forced: a CronJob
  retried after a crash mid-send must not email leadership twice. (The price: after
  such a crash someone checks the mailbox and sends with --force.)
* "failed" is written when the server definitely did not take the message (refused,
  unreachable): the next run may try again.

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
from datetime import UTC, date, datetime
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
from syncd.digest.model import Digest
from syncd.digest.render import build_message
from syncd.digest.sources import digest_from
from syncd.sync.state import StateStore

log = structlog.get_logger(__name__)

META_PREFIX = "digest_sent:"
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
        refused = retrying(_deliver_once, msg, sender, rcpts, smtp, context)
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
) -> SendResult:
    week = digest.week
    previous = sent_record(state, week)
    if previous and previous.get("state") in ("sent", "sending") and not force:
        outcome = "already-sent" if previous.get("state") == "sent" else "in-doubt"
        log.info("digest not sent", week=week, outcome=outcome, previous=previous)
        return SendResult(week, False, outcome, previous=previous)

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
    _record(state, week, state="sending", at=now().isoformat(), **common)
    try:
        refused, attempts = deliver(
            msg,
            settings.digest.from_,
            envelope,
            settings.smtp,
            ssl_context=ssl_context,
            wait=wait,
        )
    except DeliveryFailed as exc:
        error = redactor.scrub(str(exc))
        if exc.in_doubt:
            # Leave "sending" in place: only a person can tell whether it arrived.
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
    result = send_digest(digest, settings, state, force=force, ssl_context=ssl_context, wait=wait)
    if not result.ok:
        raise DigestNotSent(result)
    return result
