"""`syncd digest`: print, preview or send the weekly digest.

Exit codes: 0 done (including "already sent this week"); 1 configuration or input
error; 2 the send failed or is in doubt (a retry may help, or a person must check).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from pathlib import Path

import structlog

from syncd.common import logs
from syncd.common.exits import EXIT_CONFIG, EXIT_OK
from syncd.common.exits import EXIT_RETRY as EXIT_SEND
from syncd.common.gcpause import collector_paused
from syncd.config import load_config
from syncd.sync.state import StateError, StateStore

log = structlog.get_logger(__name__)


def _as_of(raw: str | None, tz_name: str) -> date:
    if raw:
        return date.fromisoformat(raw)
    # start-up: zoneinfo reads the tz database; only without --as-of
    from zoneinfo import ZoneInfo

    # "Today" where the readers are: a digest built at 01:00 UTC for a team in
    # America/Los_Angeles is still yesterday's.
    return datetime.now(ZoneInfo(tz_name)).date()


def _parse_date(raw: str) -> str:
    try:
        date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {raw!r}") from None
    return raw


def cmd_digest(args: argparse.Namespace) -> int:
    with collector_paused():
        return _cmd_digest(args)


def _cmd_digest(args: argparse.Namespace) -> int:
    # start-up: computing the digest parses every document; loaded only when it runs
    from syncd.digest.sources import digest_from, load_docs
    from syncd.sync.context import secrets_of

    if args.force and not args.send:
        print("syncd digest: --force only applies to --send", file=sys.stderr)
        return EXIT_CONFIG
    # only --send needs the SMTP password: a preview on a laptop reads no secret file;
    # a ConfigError is printed by `syncd.cli.main`
    settings = load_config(args.config, read_secrets=bool(args.send))
    redactor = logs.configure(settings.log.format, settings.log.level, secrets_of(settings))
    as_of = _as_of(args.as_of, settings.digest.timezone)
    try:
        docs = load_docs(settings)
        state = StateStore.open(_state_path(settings.state.path, sending=bool(args.send)))
    except (FileNotFoundError, StateError) as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    with state:
        digest = digest_from(settings, state, as_of, docs)
        exit_code = EXIT_OK
        if settings.digest.report_path is not None:
            # start-up: jinja2, css_inline and Pillow only when a report is configured
            from syncd.digest.render import write_report

            try:
                print(f"full report: {write_report(digest, settings)}", file=sys.stderr)
            except OSError as exc:
                # Reported, not fatal: the email (which links it) still goes out.
                print(f"syncd digest: could not write the full report: {exc}", file=sys.stderr)
                exit_code = EXIT_SEND
        send_json = None
        if args.preview:
            # start-up: jinja2, css_inline and Pillow only with --preview
            from syncd.digest.render import write_preview

            html, png = write_preview(digest, settings, Path(args.preview))
            print(f"preview: {html} (chart: {png})", file=sys.stderr)
        if args.send:
            # start-up: smtplib and jinja2 only with --send
            from syncd.digest.send import send_digest

            result = send_digest(digest, settings, state, force=args.force)
            send_json = result.as_json()
            print(redactor.scrub(_describe(result)), file=sys.stderr)
            # A past week without --force is a usage mistake, not something to retry.
            refused = result.outcome == "past-week"
            exit_code = EXIT_OK if result.ok else EXIT_CONFIG if refused else EXIT_SEND
            if result.ok:
                # start-up: reminders and Slack only with --send
                from syncd.digest.send import follow_up

                for problem in follow_up(digest, settings, state):
                    print(redactor.scrub(f"syncd digest: {problem}"), file=sys.stderr)
    fmt = args.format or ("text" if not (args.preview or args.send) else None)
    if fmt == "json":
        data = digest.as_json()
        if send_json is not None:
            data["send"] = send_json
        print(redactor.scrub(json.dumps(data, indent=2, ensure_ascii=False)))
    elif fmt == "text":
        # start-up: jinja2 only for text output
        from syncd.digest.render import render_text, subject

        print(redactor.scrub(f"Subject: {subject(digest)}\n\n{render_text(digest, settings)}"))
    return exit_code


def _state_path(path: Path | str, *, sending: bool) -> Path | str:
    """The state file to read; an empty in-memory store when none exists yet and the
    digest is only printed or previewed: such a command creates nothing beside its
    output (a send records the week in the state, so it opens, or creates, the file)."""
    if sending or str(path) == ":memory:" or Path(path).exists():
        return path
    return ":memory:"


def _describe(result: object) -> str:
    # start-up: smtplib and jinja2 only when describing a send
    from syncd.digest.send import SendResult

    assert isinstance(result, SendResult)
    if result.outcome == "sent":
        refused = f"; refused by the server: {', '.join(result.refused)}" if result.refused else ""
        return (
            f"digest {result.week} sent to {len(result.recipients)} recipient(s)"
            f" after {result.attempts} attempt(s){refused}"
        )
    if result.outcome == "already-sent":
        at = result.previous.get("at", "earlier")
        return f"digest {result.week} was already sent ({at}); use --force to send it again"
    if result.outcome == "in-doubt":
        detail = f": {result.error}" if result.error else ""
        return (
            f"digest {result.week} may or may not have been delivered{detail}. Check the"
            " mailbox; use --force to send it again"
        )
    if result.outcome in ("past-week", "busy"):
        return f"digest {result.week} not sent: {result.error}"
    return f"digest {result.week} NOT sent: {result.error}"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "digest",
        help="the weekly leadership digest: print, preview or send it",
        description=(
            "Incidents this week, overdue action items, completion against targets and "
            "recurrence, from the postmortems and the last-synced tickets."
        ),
    )
    p.add_argument("--config", help="TOML config (default: $SYNCD_CONFIG)")
    p.add_argument(
        "--as-of",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="the digest's last day (default: today in [digest] timezone)",
    )
    p.add_argument("--preview", metavar="FILE.html", help="write the HTML email (and its chart)")
    p.add_argument(
        "--format",
        choices=["json", "text"],
        help="print the metrics (json) or the plain-text email (text, the default"
        " unless --preview or --send is given)",
    )
    p.add_argument("--send", action="store_true", help="email it (once per ISO week)")
    p.add_argument("--force", action="store_true", help="with --send: send even if already sent")
    p.set_defaults(func=cmd_digest)
