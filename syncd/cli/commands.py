"""Subcommands that work on a configuration: plan, sync, status, state reset, demo."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from connectors.base import listening_for_waits
from syncd.cli.failures import TrackerFailure
from syncd.cli.progress import RunReporter, choose_display
from syncd.cli.render import render_plan, render_status, render_sync
from syncd.common import logs
from syncd.common.exits import EXIT_CONFIG, EXIT_OK, EXIT_RETRY
from syncd.config import Settings, load_config, require_config
from syncd.sync.context import open_context, secrets_of
from syncd.sync.engine import Engine
from syncd.sync.lease import with_sync_lease
from syncd.sync.run import RunResult
from syncd.sync.state import StateError, StateStore

log = structlog.get_logger(__name__)


def _print_json(data: Any, redactor: logs.Redactor) -> None:
    print(redactor.scrub(json.dumps(data, indent=2, ensure_ascii=False, default=str)))


LAST_NOTES = "cli_last_sync_notes"  # state meta: the last sync's notes, for `status`


@dataclass
class Outcome:
    result: RunResult
    settings: Settings
    redactor: logs.Redactor
    failures: list[TrackerFailure]

    def exit_code(self) -> int:
        """1 when a human must fix a tracker's configuration or token, 2 when something
        is left for a later run, 0 when nothing is left undone."""
        if any(f.exit_code == EXIT_CONFIG for f in self.failures):
            return EXIT_CONFIG
        return EXIT_RETRY if self.result.errors else EXIT_OK


def _run(args: argparse.Namespace, *, dry_run: bool, full: bool = False) -> Outcome | int:
    # ConfigError and StateError reach `main`, which prints them the one way
    require_config(getattr(args, "config", None))
    try:
        with open_context(getattr(args, "config", None)) as ctx:
            reporter = RunReporter(ctx.settings, choose_display(getattr(args, "progress", "auto")))
            with reporter.display, listening_for_waits(reporter.display.wait):
                engine = Engine(ctx.settings, ctx.state, ctx.connectors, observer=reporter)
                result = engine.run(dry_run=dry_run, full=full)
            if not dry_run:
                ctx.state.meta_set(LAST_NOTES, json.dumps(_lasting_notes(result, reporter)))
            return Outcome(result, ctx.settings, ctx.redactor, reporter.failures)
    except FileNotFoundError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _lasting_notes(result: RunResult, reporter: RunReporter) -> list[dict[str, Any]]:
    """What `status` repeats until the next sync: notes, problems, tracker failures with
    what to do (a failed listing's raw note is replaced by its explanation)."""
    failed = {f.tracker for f in reporter.failures}
    notes = [
        n
        for n in result.notes.as_dicts()
        if not (n.get("kind") == "listing-failed" and n.get("tracker") in failed)
    ]
    notes += [{**p.to_dict(), "kind": "problem"} for p in result.problems]
    notes += [
        {
            "tracker": f.tracker,
            "kind": "listing-failed",
            "message": f"{f.what}: {f.detail}; {f.todo}",
        }
        for f in reporter.failures
    ]
    return notes


def cmd_plan(args: argparse.Namespace) -> int:
    outcome = _run(args, dry_run=True)
    if isinstance(outcome, int):
        return outcome
    result = outcome.result
    if args.format == "json":
        _print_json(
            {
                "plan": result.plans,
                "problems": [p.to_dict() for p in result.problems],
                "notes": result.notes.as_dicts(),
            },
            outcome.redactor,
        )
    else:
        print(outcome.redactor.scrub(render_plan(result, outcome.settings, outcome.failures)))
    return outcome.exit_code()


def cmd_sync(args: argparse.Namespace) -> int:
    # before the lease, which would otherwise create a state file on bare defaults
    require_config(getattr(args, "config", None))
    return _leased_sync(args)


@with_sync_lease
def _leased_sync(args: argparse.Namespace) -> int:
    outcome = _run(args, dry_run=False, full=getattr(args, "full", False))
    if isinstance(outcome, int):
        return outcome
    result = outcome.result
    summary = result.summary()
    # Each note reaches a CronJob's log (stdout and stderr together) exactly once: plain
    # output prints it on stdout, so its log line drops to debug; with --format json the
    # document is for a program, and the warning log line is the record people read.
    note_log = log.warning if args.format == "json" else log.debug
    for note in result.failures():
        note_log(note.kind.value, **{k: v for k, v in note.to_dict().items() if k != "kind"})
    for problem in result.problems:
        note_log("doc problem", path=problem.path, line=problem.line, message=problem.message)
    log.info("sync finished", **summary)
    if args.format == "json":
        _print_json(
            {
                "summary": summary,
                "notes": result.notes.as_dicts(),
                "problems": [p.to_dict() for p in result.problems],
            },
            outcome.redactor,
        )
    else:
        print(outcome.redactor.scrub(render_sync(result, outcome.settings, outcome.failures)))
    return outcome.exit_code()


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_config(require_config(args.config))
    redactor = logs.Redactor(secrets_of(settings))
    path = settings.state.path
    if str(path) != ":memory:" and not Path(path).exists():
        # reading must not create: a status in the wrong directory would leave a state file
        print(f"no sync has run yet: no state file at {path} (run `syncd sync`)")
        return EXIT_OK
    with StateStore.open(settings.state.path) as state:
        records = state.items()
        last_notes = json.loads(state.meta_get(LAST_NOTES) or "[]")
        items = [
            {
                "item": r.item_id,
                "tracker": r.tracker,
                "path": r.doc_path,
                "ticket": r.ticket_key,
                "doc_status": r.doc.get("status"),
                "ticket_status": r.ticket.get("status"),
                "synced_at": r.synced_at.isoformat() if r.synced_at else None,
                "error": r.error,
                "attempts": r.attempts,
                "retry_at": r.retry_at.isoformat() if r.retry_at else None,
            }
            for r in records
        ]
        runs = state.last_runs(1)
        data = {
            "items": items,
            "pending_intents": [i.item_id for i in state.pending_intents()],
            "conflicts": [
                {
                    "item": c.item_id,
                    "field": c.field,
                    "doc": c.doc_value,
                    "tracker": c.ticket_value,
                    "winner": c.winner,
                    "at": c.at.isoformat(),
                }
                for c in state.conflicts()
            ],
            "last_run": (
                {
                    "started": runs[0].started.isoformat(),
                    "ok": runs[0].ok,
                    "summary": runs[0].summary,
                }
                if runs
                else None
            ),
        }
    if args.format == "json":
        _print_json(data, redactor)
        return EXIT_OK
    text, failing = render_status(
        records,
        settings,
        last_notes,
        len(data["pending_intents"]),  # type: ignore[arg-type]  # built as a list above
        len(data["conflicts"]),  # type: ignore[arg-type]  # built as a list above
        _last_run_text(runs),
    )
    print(redactor.scrub(text))
    return EXIT_RETRY if failing or data["pending_intents"] else EXIT_OK


def _last_run_text(runs: list[Any]) -> str:
    if not runs:
        return "never"
    run = runs[0]
    errors = (run.summary or {}).get("errors", 0)
    return f"{run.started:%Y-%m-%d %H:%M} UTC, {'ok' if run.ok else f'{errors} failed'}"


def cmd_state_reset(args: argparse.Namespace) -> int:
    require_config(getattr(args, "config", None))  # before the lease opens a state file
    return _leased_state_reset(args)


@with_sync_lease
def _leased_state_reset(args: argparse.Namespace) -> int:
    settings = load_config(require_config(args.config))
    if not args.yes:
        print(
            "syncd state reset forgets every snapshot, cursor and pending create. Tickets are "
            "re-adopted by their markers on the next sync, so no duplicates are created.\n"
            "Run again with --yes to proceed.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        with StateStore.open(settings.state.path) as state:
            state.reset()
    except StateError as exc:
        # a corrupt or foreign file: keep it for a post-mortem of its own, start afresh
        aside = _move_aside(Path(settings.state.path))
        print(f"syncd: {exc}; moved it to {aside}", file=sys.stderr)
        with StateStore.open(settings.state.path):
            pass
    print(f"state at {settings.state.path} reset")
    return EXIT_OK


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    path.rename(aside)
    for suffix in ("-wal", "-shm"):  # SQLite's companions belong to the moved file
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(aside.with_name(aside.name + suffix))
    return aside


def cmd_demo(args: argparse.Namespace) -> int:
    # the demo pulls in the emulators (HTTP servers): only for `syncd demo`
    from syncd.cli.demo import run_demo

    return run_demo(Path(args.workdir) if args.workdir else None)


def register(sub: Any) -> None:
    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML config (default: $SYNCD_CONFIG)")

    def with_progress(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--progress",
            choices=["auto", "always", "log", "never"],
            default="auto",
            help="auto: a live display on a terminal, a progress log line at most every"
            " 10 s elsewhere; always: the live display even off a terminal; log: the log"
            " lines; never: neither",
        )

    p = sub.add_parser("plan", help="dry run: what a sync would create, update and write")
    with_config(p)
    with_progress(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("sync", help="reconcile docs and trackers")
    with_config(p)
    p.add_argument("--once", action="store_true", help="one run, then exit (the default)")
    with_progress(p)
    p.add_argument(
        "--full",
        action="store_true",
        help="read every known ticket by key (also done every sync.full_reconcile_every)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("status", help="items, tickets and sync state")
    with_config(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_status)

    state = sub.add_parser("state", help="manage the state store")
    state_sub = state.add_subparsers(dest="state_command", required=True)
    p = state_sub.add_parser("reset", help="forget local state (tickets are re-adopted)")
    with_config(p)
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_state_reset)

    p = sub.add_parser(
        "demo",
        help="the whole loop against loopback Jira, GitHub and Linear emulators",
        description="The whole loop on the example postmortems against loopback Jira, GitHub"
        " and Linear emulators: plan, sync, an owner closes a ticket, sync, a no-change sync,"
        " status. The emulators stop when it ends; `syncd sandbox` keeps them up.",
    )
    p.add_argument("--workdir", help="keep the demo repo here (default: a temp dir)")
    p.set_defaults(func=cmd_demo)

    # every command group registers itself; imported here so `syncd parse` never loads them
    from syncd import digest
    from syncd.service import worker

    digest.register(sub)
    worker.register(sub)
