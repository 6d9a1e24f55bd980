"""`syncd run` (the long-running worker) and `syncd lease` on the command line.

The worker itself lives in `syncd.service.daemon`, imported only when `syncd run` starts: every
other command loads this module too (to register its subcommands), and should not pay
for the HTTP server and Prometheus client it does not use.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from syncd.common.exits import EXIT_CONFIG, EXIT_OK

ONCE_LEASE_WAIT = 30.0


# --------------------------------------------------------------------------- signals


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[str], None]) -> Iterator[None]:
    """SIGTERM/SIGINT ask the worker to stop; a second one acts immediately (the
    default handlers come back), for an operator who really means it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum).name)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    # start-up: the worker stack (prometheus, WSGI server) only for `syncd run`
    import structlog

    from syncd.config import require_config
    from syncd.sync.context import open_context
    from syncd.sync.state import StateError

    try:
        from syncd.service.daemon import Worker  # optional dependency: see below
    except ImportError as exc:  # prometheus-client is needed by the worker only
        print(f"syncd run: a dependency is missing: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    log = structlog.get_logger("syncd.service.worker")

    # a ConfigError reaches `syncd.cli.main`, which prints every one the same way
    require_config(getattr(args, "config", None))
    try:
        with open_context(getattr(args, "config", None)) as ctx:
            try:
                worker = Worker(
                    ctx.settings,
                    ctx.state,
                    ctx.connectors,
                    once=args.once,
                    lease_wait=_lease_wait(args),
                    redact=ctx.redactor.scrub,
                )
            except OSError as exc:  # the HTTP port: in use, or not ours to bind
                host, port = ctx.settings.server.host, ctx.settings.server.port
                log.error("cannot listen", host=host, port=port, error=exc)
                print(f"syncd: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
                return EXIT_CONFIG
            with stop_on_signals(worker.request_stop):
                return worker.run()
    except StateError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _lease_wait(args: argparse.Namespace) -> float | None:
    if args.lease_wait is not None:
        return None if args.lease_wait < 0 else float(args.lease_wait)
    return ONCE_LEASE_WAIT if args.once else None  # a daemon stands by; a one-shot gives up


def cmd_lease(args: argparse.Namespace) -> int:
    # start-up: `syncd lease` is registered with every command but rarely run
    from syncd.config import load_config, require_config
    from syncd.sync.lease import SYNC_LEASE, describe
    from syncd.sync.state import StateStore

    settings = load_config(require_config(args.config))  # errors: printed by main
    with StateStore.open(settings.state.path) as state:
        lease = state.get_lease(SYNC_LEASE)
        if args.lease_command == "show":
            print(f"sync lease {describe(lease)}" if lease else "sync lease: free")
            return EXIT_OK
        if not args.yes:
            print(
                "syncd lease break removes the sync lease whoever holds it. Do it only when "
                "the holder is gone (a live holder notices at its next renewal and stops "
                "writing, but may finish the step in flight). Run again with --yes.",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        removed = state.release_lease(SYNC_LEASE)
        print(f"sync lease broken ({describe(lease)})" if removed and lease else "sync lease: free")
        return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="long-running worker: scheduled sync, webhooks, metrics")
    p.add_argument("--config", help="TOML config (default: $SYNCD_CONFIG)")
    p.add_argument("--once", action="store_true", help="one reconcile (with the lease), then exit")
    p.add_argument(
        "--lease-wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a lease another syncd holds, then exit 0 (default: stand "
        "by for ever; 30 with --once; negative: for ever)",
    )
    p.set_defaults(func=cmd_run)

    lease = sub.add_parser("lease", help="show or break the sync lease (one writer at a time)")
    lease_sub = lease.add_subparsers(dest="lease_command", required=True)
    for name, text in (("show", "who holds the lease"), ("break", "remove a stuck lease")):
        q = lease_sub.add_parser(name, help=text)
        q.add_argument("--config", help="TOML config (default: $SYNCD_CONFIG)")
        if name == "break":
            q.add_argument("--yes", action="store_true")
        q.set_defaults(func=cmd_lease)
