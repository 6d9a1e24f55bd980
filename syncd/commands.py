"""Subcommands that work on a configuration: plan, sync, status, state reset, demo."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from connectors.base import Connector
from connectors.registry import UnknownConnector, build
from syncd import logs
from syncd.config import ConfigError, Settings, is_secret_key, load_config
from syncd.engine import Engine, RunResult
from syncd.lease import with_sync_lease
from syncd.state import StateStore

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_CONFIG, EXIT_RETRY = 0, 1, 2


@dataclass
class Context:
    settings: Settings
    state: StateStore
    connectors: dict[str, Connector]
    redactor: logs.Redactor


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the configuration, for log and output redaction."""
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and is_secret_key(key):
            found.append(node)
        elif hasattr(node, "get_secret_value"):
            found.append(node.get_secret_value())

    walk(settings.trackers)
    if settings.smtp.password is not None:
        found.append(settings.smtp.password.get_secret_value())
    return found


@contextlib.contextmanager
def open_context(args: argparse.Namespace) -> Iterator[Context]:
    settings = load_config(getattr(args, "config", None))
    redactor = logs.configure(settings.log.format, settings.log.level, secrets_of(settings))
    connectors: dict[str, Connector] = {}
    try:
        for name, section in settings.trackers.items():
            connectors[name] = build(name, dict(section))
    except UnknownConnector as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:  # the connector's own pydantic model rejected its section
        raise ConfigError(f"trackers: {exc}") from None
    state = StateStore.open(settings.state.path)
    try:
        yield Context(settings, state, connectors, redactor)
    finally:
        for connector in connectors.values():
            connector.close()
        state.close()


def _print_json(data: Any, redactor: logs.Redactor) -> None:
    print(redactor.scrub(json.dumps(data, indent=2, ensure_ascii=False, default=str)))


def _run(args: argparse.Namespace, *, dry_run: bool) -> tuple[RunResult, Context] | int:
    try:
        with open_context(args) as ctx:
            engine = Engine(ctx.settings, ctx.state, ctx.connectors)
            result = engine.run(dry_run=dry_run)
            return result, ctx
    except ConfigError as exc:
        print(f"syncd: configuration error: {exc}", file=sys.stderr)
        for problem in getattr(exc, "problems", []):
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
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
            {"plan": result.plans, "problems": result.problems, "notes": result.notes}, ctx.redactor
        )
        return EXIT_OK
    print(render_plan(result))
    return EXIT_OK


def render_plan(result: RunResult) -> str:
    lines = []
    for entry in result.plans:
        for action in entry["actions"]:
            lines.append(f"{entry['path']}:{entry['line']}  {describe(action, entry)}")
    for problem in result.problems:
        lines.append(f"{problem['path']}:{problem['line']}  problem: {problem['message']}")
    counts = _count_actions(result)
    lines.append(
        f"plan: {counts.get('Create', 0)} to create, {counts.get('UpdateFields', 0)} to update, "
        f"{counts.get('SetStatus', 0)} status pushes, "
        f"{counts.get('WriteTicket', 0) + counts.get('WriteStatus', 0)} doc cells to write, "
        f"{counts.get('RecordConflict', 0)} conflicts ({result.items} items in {result.docs} docs)"
    )
    return "\n".join(lines)


def _count_actions(result: RunResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in result.plans:
        for action in entry["actions"]:
            counts[action["action"]] = counts.get(action["action"], 0) + 1
    return counts


def describe(action: dict[str, Any], entry: dict[str, Any]) -> str:
    kind = action["action"]
    if kind == "Create":
        draft = action["draft"]
        return (
            f"create {entry['tracker']} ticket: {draft['title']!r}"
            f" (assignee {draft['assignee'] or '-'}, due {draft['due'] or '-'})"
        )
    if kind == "UpdateFields":
        return f"update {action['key']}: {action['changes']}"
    if kind == "SetStatus":
        return f"set {action['key']} status to {action['status']}"
    if kind == "WriteTicket":
        return f"write ticket {action['key']} into the doc"
    if kind == "WriteStatus":
        return f"write status {action['status']} into the doc"
    if kind == "RecordConflict":
        return (
            f"conflict on {action['field']}: doc {action['doc_value']!r} vs tracker "
            f"{action['ticket_value']!r} ({action['winner']} wins)"
        )
    return f"{action.get('kind', kind)}: {action.get('message', '')}"


@with_sync_lease
def cmd_sync(args: argparse.Namespace) -> int:
    outcome = _run(args, dry_run=False)
    if isinstance(outcome, int):
        return outcome
    result, ctx = outcome
    summary = result.summary()
    for note in result.notes:
        if note.get("kind") in (
            "error",
            "listing-failed",
            "lookup-failed",
            "write-failed",
            "push",
            "git",
        ):
            log.warning(note["kind"], **{k: v for k, v in note.items() if k != "kind"})
    for problem in result.problems:
        log.warning(
            "doc problem", path=problem["path"], line=problem["line"], message=problem["message"]
        )
    log.info("sync finished", **summary)
    if args.format == "json":
        _print_json(
            {"summary": summary, "notes": result.notes, "problems": result.problems}, ctx.redactor
        )
    return EXIT_RETRY if result.errors else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        print(f"syncd: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    redactor = logs.Redactor(secrets_of(settings))
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
            + (f"  error: {item['error']}" if item["error"] else "")
        )
    print(
        f"{len(items)} items, {len(data['pending_intents'])} pending creates, "
        f"{len(data['conflicts'])} conflicts"
    )
    return EXIT_OK


@with_sync_lease
def cmd_state_reset(args: argparse.Namespace) -> int:
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        print(f"syncd: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not args.yes:
        print(
            "syncd state reset forgets every snapshot, cursor and pending create. Tickets are "
            "re-adopted by their markers on the next sync, so no duplicates are created.\n"
            "Run again with --yes to proceed.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    with StateStore.open(settings.state.path) as state:
        state.reset()
    print(f"state at {settings.state.path} reset")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from syncd.demo import run_demo

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

    from syncd import digest, worker

    digest.register(sub)
    worker.register(sub)
