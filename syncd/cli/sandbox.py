"""`syncd sandbox [DOCS_DIR]`: try the tool on your own postmortems, safely.

Starts the bundled Jira, GitHub and Linear emulators on 127.0.0.1, copies the *.md files
of DOCS_DIR into a fresh git repository (the originals are only read), writes a ready
config there and prints the commands to run against it. It stays up until Ctrl-C
(SIGINT or SIGTERM): then the emulators stop, the process exits 0 and the work directory
is kept, so the copied documents (with the ticket keys written into them) and their git
history can still be read.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from syncd.common.exits import EXIT_CONFIG, EXIT_OK

DEFAULT_DOCS = Path("postmortems")
READY = "sandbox ready"  # the line scripts (and the tests) wait for
KINDS = ("jira", "github", "linear")


class SandboxError(Exception):
    """A user error before anything started (no such folder, no documents, busy workdir)."""


def markdown_files(source: Path, skip: Path | None = None) -> list[Path]:
    """Every regular *.md file under `source`, sorted, listed before anything is copied
    and without `skip` (a work directory inside `source` would otherwise copy its own
    copies); symlinks are not followed (the tool itself never reads through them)."""
    found = []
    for path in sorted(source.rglob("*.md")):
        if not path.is_file() or path.is_symlink():
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        rel = path.relative_to(source)
        if not any((source / part).is_symlink() for part in _parents(rel)):
            found.append(path)
    return found


def _parents(rel: Path) -> list[Path]:
    return [Path(*rel.parts[: i + 1]) for i in range(len(rel.parts) - 1)]


def copy_docs(source: Path, target: Path) -> int:
    """Copy the documents byte for byte (only reading `source`); the count copied."""
    count = 0
    for path in markdown_files(source, skip=target.resolve().parent):
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        count += 1
    return count


def sandbox_owners(docs: Path) -> dict[str, dict[str, str]]:
    """A sandbox identity in every tracker for each owner written in the documents, so
    the plan shows assignees instead of "unmapped owner" notes."""
    # start-up: the parser only once the documents are there
    from syncd.documents.discover import DEFAULT_INCLUDE, discover
    from syncd.documents.parser import parse_file

    owners: dict[str, dict[str, str]] = {}
    for file, _root in discover([docs], DEFAULT_INCLUDE):
        for item in parse_file(file)[0].action_items:
            if item.owner and item.owner not in owners:
                slug = re.sub(r"[^a-z0-9]+", "-", item.owner.lower()).strip("-") or "owner"
                owners[item.owner] = {
                    "jira": f"sandbox-{slug}",
                    "github": slug,
                    "linear": f"user-{slug}",
                    "email": f"{slug}@example.com",
                }
    return owners


def prepare_workdir(source: Path, workdir: Path | None) -> tuple[Path, int]:
    """The work directory with postmortems/ copied and committed; (dir, documents)."""
    # start-up: the emulators' helpers load only for `syncd sandbox`
    from syncd.cli.demo import commit_docs

    if not source.is_dir():
        raise SandboxError(
            f"no such directory: {source} (give the folder holding your postmortems:"
            " syncd sandbox DIR)"
        )
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="syncd-sandbox-"))
    elif workdir.exists() and any(workdir.iterdir()):
        raise SandboxError(f"--workdir {workdir} is not empty; name a new or empty directory")
    workdir.mkdir(parents=True, exist_ok=True)
    workdir = workdir.resolve()
    count = copy_docs(source, workdir / "postmortems")
    if count == 0:
        workdir.rmdir()
        raise SandboxError(f"no *.md files under {source}; nothing to try the tool on")
    commit_docs(workdir, f"Import {count} postmortems from {source}")
    return workdir, count


def instructions(
    workdir: Path, source: Path, count: int, emulators: dict[str, Any], default: str
) -> str:
    config = workdir / "syncd.toml"
    cfg, work = shlex.quote(str(config)), shlex.quote(str(workdir))  # copy-pasteable
    preview = shlex.quote(str(workdir / "digest.html"))
    urls = "\n".join(f"  {kind:7} {emulator.url}" for kind, emulator in emulators.items())
    return f"""\
syncd sandbox: {count} postmortems copied from {source} into {workdir / "postmortems"}
  (a git repository of its own; the originals are not touched)
emulators on loopback (tickets go to {default} unless a document's front matter says
`tracker: jira|github|linear`):
{urls}
config: {config}

Next, in another terminal:
  syncd plan --config {cfg}
  syncd sync --once --config {cfg}
  syncd status --config {cfg}
  syncd digest --preview {preview} --config {cfg}
  git -C {work} log -p -1        # the ticket keys written into your copies

{READY}; Ctrl-C stops the emulators (the work directory is kept)"""


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    """SIGINT (Ctrl-C) and SIGTERM set `stop`; the handlers they replace, to restore."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    return {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}


def run_sandbox(source: Path, workdir: Path | None, default: str) -> int:
    stop = threading.Event()
    # from the start: a Ctrl-C while copying or starting still ends in a clean stop
    previous = _stop_on_signals(stop)
    try:
        return _run(source, workdir, default, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(source: Path, workdir: Path | None, default: str, stop: threading.Event) -> int:
    # start-up: the emulators (HTTP servers) load only for `syncd sandbox`
    from syncd.cli.demo import start_emulators, stop_emulators, tracker_sections, write_config

    try:
        workdir, count = prepare_workdir(source, workdir)
    except SandboxError as exc:
        print(f"syncd sandbox: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    owners = sandbox_owners(workdir / "postmortems")
    emulators = start_emulators(owners)
    try:
        write_config(
            workdir / "syncd.toml",
            tracker_sections(emulators),
            [],
            default,
            owners,
            header=f"syncd sandbox for {source.resolve()}: emulators on 127.0.0.1, valid while"
            " it runs",
        )
        print(instructions(workdir, source, count, emulators, default), flush=True)
        stop.wait()
    finally:
        stop_emulators(emulators)
    print(
        f"\nsyncd sandbox: stopped; the emulators are closed. The work directory is kept:"
        f" {workdir}\n  (its syncd.toml now points at closed ports; remove it with"
        f" rm -rf {shlex.quote(str(workdir))})",
        flush=True,
    )
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else None
    return run_sandbox(Path(args.docs_dir), workdir, args.tracker)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sandbox",
        help="try it on your own postmortems: loopback Jira, GitHub and Linear emulators",
        description=(
            "Copy DOCS_DIR's *.md files into a temporary git repository (the originals are"
            " never touched), start the bundled Jira, GitHub and Linear emulators on"
            " 127.0.0.1, write a ready config and print the commands to run against it."
            " Stays up until Ctrl-C, then exits 0 and keeps the work directory."
        ),
    )
    p.add_argument(
        "docs_dir",
        nargs="?",
        default=str(DEFAULT_DOCS),
        metavar="DOCS_DIR",
        help="the folder holding your postmortems (default: ./postmortems)",
    )
    p.add_argument("--workdir", help="a new or empty directory to work in (default: a temp dir)")
    p.add_argument(
        "--tracker",
        choices=KINDS,
        default="jira",
        help="where tickets go unless a document's front matter names another (default: jira)",
    )
    p.set_defaults(func=cmd_sandbox)
