"""`syncd demo`: the whole loop on the example postmortems, against loopback emulators.

plan → sync (tickets created, keys written back in a git commit) → an owner closes a
ticket in each tracker → sync (status cells updated, committed) → a no-change sync
(zero writes). Everything runs on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from connectors.registry import emulator_class
from syncd.model import Status


def examples_dir() -> Path:
    """config/postmortems in a checkout; the installed copy otherwise (see pyproject)."""
    checkout = Path(__file__).resolve().parents[2] / "config" / "postmortems"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "postmortem-syncd" / "postmortems"


OWNERS = {
    "@sri": {
        "jira": "5b10ac8d82e05b22cc7d4ef5",
        "github": "sri",
        "linear": "user-sri",
        "email": "sri@example.com",
    },
    "@maya": {
        "jira": "5b10ac8d82e05b22cc7d4ef6",
        "github": "maya",
        "linear": "user-maya",
        "email": "maya@example.com",
    },
    "@lee": {
        "jira": "5b10ac8d82e05b22cc7d4ef7",
        "github": "lee",
        "linear": "user-lee",
        "email": "lee@example.com",
    },
}
# kind -> (routing glob, or None for the default tracker); one emulator each
TRACKERS = {"jira": None, "github": "payments/**", "linear": "linear/**"}
# demo-only settings: no write pacing against a local emulator
OVERRIDES: dict[str, dict[str, Any]] = {"github": {"writes_per_minute": 6000}}


# the bundled emulators that check a token when given one: the config written for them
# (`connector_section`) carries the same, so a sandbox behaves as the real service would
CHECKED_TOKENS = {"jira": "emulator-token", "github": "emulator-token"}


def start_emulator(kind: str) -> Any:
    """Start the emulator registered for `kind` (entry-point group `syncd.emulators`)."""
    cls = emulator_class(kind)
    bundled = cls.__module__.startswith("connectors.testing.")
    options = {"token": CHECKED_TOKENS[kind]} if bundled and kind in CHECKED_TOKENS else {}
    emulator = cls(**options)
    emulator.start()
    return emulator


def start_emulators(owners: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One emulator per kind in TRACKERS, on 127.0.0.1, knowing every owner's identity."""
    emulators: dict[str, Any] = {}
    try:
        for kind in TRACKERS:
            emulators[kind] = start_emulator(kind)
    except BaseException:
        stop_emulators(emulators)
        raise
    for kind, emulator in emulators.items():
        if hasattr(emulator, "add_user"):  # trackers that check assignees exist
            for owner, ids in owners.items():
                emulator.add_user(ids[kind], owner.lstrip("@").title())
    return emulators


def stop_emulators(emulators: dict[str, Any]) -> None:
    for emulator in emulators.values():
        emulator.stop()


def tracker_sections(emulators: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`[trackers.KIND]` sections pointing at the running emulators."""
    return {k: e.connector_section(**OVERRIDES.get(k, {})) for k, e in emulators.items()}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    sections: dict[str, dict[str, Any]],
    routing_rules: list[tuple[str, str]],
    default: str,
    owners: dict[str, dict[str, str]] = OWNERS,
    header: str = "",
) -> None:
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines += [
        "[docs]",
        'root = "postmortems"',
        "",
        "[state]",
        'path = ".syncd/state.db"',
        "",
        "[log]",
        'format = "console"',
        'level = "warning"',
        "",
    ]
    for name, section in sections.items():
        lines.append(f"[trackers.{name}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in section.items())
        lines.append("")
    lines += ["[routing]", f'default = "{default}"']
    for match, tracker in routing_rules:
        lines += ["", "[[routing.rules]]", f'match = "{match}"', f'tracker = "{tracker}"']
    for owner, ids in owners.items():
        lines += ["", f"[owners.{toml_value(owner)}]"]
        lines.extend(f"{k} = {toml_value(v)}" for k, v in ids.items())
    path.write_text("\n".join(lines) + "\n")


def git(repo: Path, *args: str) -> str:
    argv = ["git", "-C", str(repo), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603


def commit_docs(workdir: Path, message: str) -> None:
    """Make `workdir` a git repository whose first commit holds postmortems/, so the
    tool's write-back commits show exactly what it changed."""
    author = ["-c", "user.name=demo", "-c", "user.email=demo@localhost"]
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, *author, "add", "postmortems")
    git(workdir, *author, "commit", "-q", "-m", message)


def run_demo(workdir: Path | None = None) -> int:
    # main imports this module lazily (through commands); a top-level import would be circular
    from syncd.cli.main import main

    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="syncd-demo-")
        workdir = Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    docs = workdir / "postmortems"
    if docs.exists():
        shutil.rmtree(docs)
    shutil.copytree(examples_dir(), docs)
    commit_docs(workdir, "Import example postmortems")
    emulators = start_emulators(OWNERS)
    config = workdir / "syncd.toml"
    try:
        write_config(
            config,
            tracker_sections(emulators),
            [(glob, kind) for kind, glob in TRACKERS.items() if glob],
            next(kind for kind, glob in TRACKERS.items() if glob is None),
        )
        counts = lambda: ", ".join(f"{k} {e.issue_count()}" for k, e in emulators.items())  # noqa: E731
        step = _stepper()
        step(
            "The example postmortems (Jira by default, payments/** to GitHub, linear/** to Linear)"
        )
        main(["parse", str(docs)])
        step("syncd plan: what a first sync would do")
        main(["plan", "--config", str(config)])
        step("syncd sync --once: create tickets, write their keys back, commit")
        code = main(["sync", "--once", "--config", str(config)])
        print(f"exit code {code}; tickets now: {counts()}")
        print(git(workdir, "log", "--oneline", "-3"))
        print(git(workdir, "show", "--stat", "--format=%s (by %an)", "HEAD"))
        step("Owners close one ticket in each tracker (Linear's as won't do)")
        for kind, emulator in emulators.items():
            key = _first_key(emulator)
            emulator.human_set_status(key, Status.WONT_DO if kind == "linear" else Status.DONE)
            print(f"closed {kind} {key}")
        step("syncd sync --once: the status cells follow")
        main(["sync", "--once", "--config", str(config)])
        print(git(workdir, "show", "--format=%s (by %an)%n", "HEAD"))
        step("syncd sync --once again: nothing changed, so no writes")
        for emulator in emulators.values():
            emulator.reset_log()
        main(["sync", "--once", "--config", str(config), "--format", "json"])
        print(
            "requests this run: "
            + ", ".join(f"{k} {dict(e.counts())}" for k, e in emulators.items())
        )
        step("syncd status")
        main(["status", "--config", str(config)])
        print(f"\nDemo repo: {workdir}" + (" (temporary, removed now)" if tmp else ""))
        if not tmp:
            print(
                f"Its {config.name} points at the demo's emulators, which stop now, so its"
                " ports will be closed. To run plan/sync/status yourself against live"
                f" emulators: syncd sandbox {docs}"
            )
        return 0
    finally:
        stop_emulators(emulators)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _first_key(emulator: Any) -> str:
    return str(emulator.keys()[0])


def _stepper() -> Any:
    count = [0]

    def step(title: str) -> None:
        count[0] += 1
        print(f"\n=== {count[0]}. {title} ===\n", flush=True)

    return step
