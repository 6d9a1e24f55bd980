"""`syncd demo`: the whole loop on the example postmortems, against loopback emulators.

plan → sync (tickets created, keys written back in a git commit) → an owner closes a
ticket in each tracker → sync (status cells updated, committed) → a no-change sync
(zero writes). Everything runs on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from connectors.registry import connector_class
from syncd.model import Status


def examples_dir() -> Path:
    """config/postmortems in a checkout; the installed copy otherwise (see pyproject)."""
    checkout = Path(__file__).resolve().parent.parent / "config" / "postmortems"
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "postmortem-syncd" / "postmortems"

OWNERS = {
    "@sri": {"jira": "5b10ac8d82e05b22cc7d4ef5", "github": "sri", "email": "sri@example.com"},
    "@maya": {"jira": "5b10ac8d82e05b22cc7d4ef6", "github": "maya", "email": "maya@example.com"},
    "@lee": {"jira": "5b10ac8d82e05b22cc7d4ef7", "github": "lee", "email": "lee@example.com"},
}


def start_emulator(kind: str) -> Any:
    """Start the emulator a connector ships (its `emulator = "module:Class"`)."""
    module_name, _, class_name = connector_class(kind).emulator.partition(":")
    emulator = getattr(importlib.import_module(module_name), class_name)()
    emulator.start()
    return emulator


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
) -> None:
    lines = [
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
    for owner, ids in OWNERS.items():
        lines += ["", f'[owners."{owner}"]']
        lines.extend(f"{k} = {toml_value(v)}" for k, v in ids.items())
    path.write_text("\n".join(lines) + "\n")


def git(repo: Path, *args: str) -> str:
    argv = ["git", "-C", str(repo), *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603


def run_demo(workdir: Path | None = None) -> int:
    from syncd.cli import main

    tmp = None
    if workdir is None:
        tmp = tempfile.mkdtemp(prefix="syncd-demo-")
        workdir = Path(tmp)
    workdir.mkdir(parents=True, exist_ok=True)
    docs = workdir / "postmortems"
    if docs.exists():
        shutil.rmtree(docs)
    shutil.copytree(examples_dir(), docs)
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "-c", "user.name=demo", "-c", "user.email=demo@localhost", "add", "postmortems")
    git(
        workdir,
        "-c",
        "user.name=demo",
        "-c",
        "user.email=demo@localhost",
        "commit",
        "-q",
        "-m",
        "Import example postmortems",
    )
    jira, github = start_emulator("jira"), start_emulator("github")
    for owner, ids in OWNERS.items():
        jira.add_user(ids["jira"], owner.lstrip("@").title())
    config = workdir / "syncd.toml"
    try:
        write_config(
            config,
            {
                "jira": jira.connector_section(),
                "github": github.connector_section(writes_per_minute=6000),
            },
            [("payments/**", "github")],
            "jira",
        )
        step = _stepper()
        step("The example postmortems (Jira by default, payments/** routed to GitHub)")
        main(["parse", str(docs)])
        step("syncd plan: what a first sync would do")
        main(["plan", "--config", str(config)])
        step("syncd sync --once: create tickets, write their keys back, commit")
        code = main(["sync", "--once", "--config", str(config)])
        print(
            f"exit code {code}; Jira now has {jira.issue_count()} issues, "
            f"GitHub {github.issue_count()}"
        )
        print(git(workdir, "log", "--oneline", "-3"))
        print(git(workdir, "show", "--stat", "--format=%s (by %an)", "HEAD"))
        step("Owners close tickets: one in Jira (Done), one in GitHub (closed as not planned)")
        jira_key = _first_key(jira)
        github_key = _first_key(github)
        jira.human_set_status(jira_key, Status.DONE)
        github.human_set_status(github_key, Status.WONT_DO)
        print(f"closed {jira_key} and {github_key}")
        step("syncd sync --once: the status cells follow")
        main(["sync", "--once", "--config", str(config)])
        print(git(workdir, "show", "--format=%s (by %an)%n", "HEAD"))
        step("syncd sync --once again: nothing changed, so no writes")
        jira.reset_log()
        github.reset_log()
        main(["sync", "--once", "--config", str(config), "--format", "json"])
        print(f"requests this run: Jira {dict(jira.counts())}, GitHub {dict(github.counts())}")
        step("syncd status")
        main(["status", "--config", str(config)])
        print(f"\nDemo repo: {workdir}" + (" (temporary, removed now)" if tmp else ""))
        return 0
    finally:
        jira.stop()
        github.stop()
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
