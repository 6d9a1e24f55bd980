"""Subcommands that work on a configuration: plan, sync, status, state reset, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from syncd.common import logs
from syncd.common.exits import EXIT_CONFIG, EXIT_OK, EXIT_RETRY
from syncd.config import load_config, require_config
from syncd.sync.context import Context, open_context, secrets_of
from syncd.sync.engine import Engine
from syncd.sync.lease import with_sync_lease
from syncd.sync.run import RunResult
from syncd.sync.state import StateError, StateStore

log = structlog.get_logger(__name__)


def _print_json(data: Any, redactor: logs.Redactor) -> None:
    print(redactor.scrub(json.dumps(data, indent=2, ensure_ascii=False, default=str)))


def _run(
    args: argparse.Namespace, *, dry_run: bool, full: bool = False
) -> tuple[RunResult, Context] | int:
    # ConfigError and StateError reach `main`, which prints them the one way
    require_config(getattr(args, "config", None))
    try:
        with open_context(getattr(args, "config", None)) as ctx:
            engine = Engine(ctx.settings, ctx.state, ctx.connectors)
            result = engine.run(dry_run=dry_run, full=full)
            return result, ctx
    except FileNotFoundError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def cmd_plan(args: argparse.Namespace) -> int:
    outcome = _run(args, dry_run=True)
    if isinstance(outcome, int):
        return outcome
    result, ctx = outcome
    if args.format == "json":
        _print_json(
            {
                "plan": result.plans,
                "problems": [p.to_dict() for p in result.problems],
                "notes": result.notes.as_dicts(),
            },
            ctx.redactor,
        )
        return EXIT_OK
    print(render_plan(result))
    return EXIT_OK


def render_plan(result: RunResult) -> str:
    lines = []
    for entry in result.plans:
        for action in entry["actions"]:
            lines.append(f"{entry['path']}:{entry['line']}  {action['text']}")
    for problem in result.problems:
        lines.append(f"{problem.path}:{problem.line}  problem: {problem.message}")
    counts = Counter(a["counts_as"] for entry in result.plans for a in entry["actions"])
    lines.append(
        f"plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['status']} status pushes, {counts['cell']} doc cells to write, "
        f"{counts['conflict']} conflicts ({result.items} items in {result.docs} docs)"
    )
    return "\n".join(lines)


def cmd_sync(args: argparse.Namespace) -> int:
    # before the lease, which would otherwise create a state file on bare defaults
    require_config(getattr(args, "config", None))
    return _leased_sync(args)


@with_sync_lease
def _leased_sync(args: argparse.Namespace) -> int:
    outcome = _run(args, dry_run=False, full=getattr(args, "full", False))
    if isinstance(outcome, int):
        return outcome
    result, ctx = outcome
    summary = result.summary()
    for note in result.failures():
        log.warning(note.kind.value, **{k: v for k, v in note.to_dict().items() if k != "kind"})
    for problem in result.problems:
        log.warning("doc problem", path=problem.path, line=problem.line, message=problem.message)
    log.info("sync finished", **summary)
    if args.format == "json":
        _print_json(
            {
                "summary": summary,
                "notes": result.notes.as_dicts(),
                "problems": [p.to_dict() for p in result.problems],
            },
            ctx.redactor,
        )
    return EXIT_RETRY if result.errors else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_config(require_config(args.config))
    redactor = logs.Redactor(secrets_of(settings))
    path = settings.state.path
    if str(path) != ":memory:" and not Path(path).exists():
        # reading must not create: a status in the wrong directory would leave a state file
        print(f"no sync has run yet: no state file at {path} (run `syncd sync`)")
        return EXIT_OK
    with StateStore.open(settings.state.path) as state:
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
            for r in state.items()
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
    for item in items:
        print(
            f"{item['path']}  {item['ticket'] or '(no ticket)'}  doc={item['doc_status']} "
            f"tracker={item['ticket_status']}"
        )
    failing = [i for i in items if i["error"]]
    for item in failing:
        print(
            f"FAILING {item['path']}  {item['ticket'] or '(no ticket)'}  "
            f"{item['attempts']} failed attempt(s)"
            + (f", next try after {item['retry_at']}" if item["retry_at"] else "")
            + f": {item['error']}"
        )
    pending, conflicts = data["pending_intents"], data["conflicts"]
    assert isinstance(pending, list) and isinstance(conflicts, list)
    print(f"{len(items)} items, {len(pending)} pending creates, {len(conflicts)} conflicts")
    if failing:
        print(f"{len(failing)} failing item(s): retried by every sync until they succeed")
    return EXIT_OK


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

    p = sub.add_parser("plan", help="dry run: what a sync would create, update and write")
    with_config(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("sync", help="reconcile docs and trackers")
    with_config(p)
    p.add_argument("--once", action="store_true", help="one run, then exit (the default)")
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

    p = sub.add_parser("demo", help="the whole loop against loopback Jira and GitHub emulators")
    p.add_argument("--workdir", help="keep the demo repo here (default: a temp dir)")
    p.set_defaults(func=cmd_demo)

    # every command group registers itself; imported here so `syncd parse` never loads them
    from syncd import digest
    from syncd.service import worker

    digest.register(sub)
    worker.register(sub)
