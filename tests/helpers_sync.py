"""Shared plumbing for the end-to-end sync tests (`tests/sync/test_sync_e2e.py`).

Everything runs on loopback: a Jira and a GitHub emulator, a real git work tree in a
temporary directory, a config TOML written per test, and the real `syncd` CLI.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.testing.github import GitHubEmulator
from connectors.testing.jira import JiraEmulator
from syncd.cli.demo import OWNERS, toml_value

VENV_SYNCD = Path(sys.executable).with_name("syncd")  # the running interpreter's script

# The emulators check these (a wrong one is a 401); both are distinctive strings to
# look for in output.
JIRA_TOKEN = "jira-e2e-secret-7f3a9c1d"
GITHUB_TOKEN = "ghp_e2eSecretToken5b8d2e61"
EMULATOR_TOKEN = "emulator-token"  # what `connector_section()` would put by default
TOKENS = (JIRA_TOKEN, GITHUB_TOKEN, EMULATOR_TOKEN)

AUTHOR_NAME = "pm-sync-bot"
AUTHOR_EMAIL = "pm-sync-bot@example.test"
HUMAN = ("-c", "user.name=Human Author", "-c", "user.email=human@example.test")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# ---------------------------------------------------------------------------- documents
# Jira (default route). A pipe table with a Status column but no Ticket column.
TABLE_REL = "2026-06-04-checkout-outage.md"
TABLE_DOC = """\
# Postmortem: Checkout outage (2026-06-04)

**Status:** Reviewed | **Severity:** SEV-2 | **Owner:** @sri

## Summary
A config change disabled the payments feature flag in production for 22 minutes.

## Action items
| # | Action | Owner | Due | Priority | Status |
|---|--------|-------|-----|----------|--------|
| 1 | Gate config changes behind the CI test suite | @sri | 2026-06-12 | P1 | Open |
| 2 | Add a page-severity SLO alert on checkout errors | @maya | 2026-06-10 | P0 | Open |
| 3 | Build one-command flag rollback | @lee | 2026-06-18 | P2 | Open |

## Lessons
Config is code.
"""

# Jira. A fenced YAML block of action items without `ticket:` keys.
YAML_REL = "2026-05-27-db-connection-leak.md"
YAML_DOC = """\
---
title: Payments DB connection pool exhaustion
date: 2026-05-27
severity: SEV-2
status: Reviewed
---
# Payments DB connection pool exhaustion

## Action Items

```yaml
action_items:
  - item: "Add connection pool utilisation alert (threshold: 80%)"
    owner: "@maya"
    due: "2026-06-03"
    status: "Open"
    priority: "P1"
  - item: "Include pool saturation scenario in load test suite"
    owner: "@lee"
    due: "2026-06-13"
    status: "In Progress"
    priority: "P2"
```
"""

# GitHub (`payments/**`). A checkbox list; the ticked item is closed and gets no ticket.
LIST_REL = "payments/2026-07-02-refund-delays.md"
LIST_DOC = """\
# Refund delays after queue failover

- **Date:** 2026-07-02
- **Severity:** SEV-3

## Follow-ups
- [ ] Alert when replica lag exceeds 60 s (@sri, due 2026-07-20)
- [ ] Add a runbook step to check lag before failover (@maya, due 2026-07-15)
- [x] Drain the delayed refunds (@lee, due 2026-07-03)
"""

DOCS = {TABLE_REL: TABLE_DOC, YAML_REL: YAML_DOC, LIST_REL: LIST_DOC}
OPEN_ITEMS = {TABLE_REL: 3, YAML_REL: 2, LIST_REL: 2}
JIRA_ITEMS = OPEN_ITEMS[TABLE_REL] + OPEN_ITEMS[YAML_REL]
GITHUB_ITEMS = OPEN_ITEMS[LIST_REL]


# ---------------------------------------------------------------------------- git
def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def init_repo(repo: Path, docs: dict[str, str | bytes], *, subdir: str = "postmortems") -> None:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    for rel, text in docs.items():
        path = repo / subdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    git(repo, "add", "-A")
    git(repo, *HUMAN, "commit", "-q", "-m", "Import postmortems")


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def commit_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD").strip())


def changed_files(repo: Path, rev: str = "HEAD") -> list[str]:
    out = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", rev)
    return sorted(out.split())


# ---------------------------------------------------------------------------- config
def write_config(
    path: Path,
    *,
    docs_root: Path,
    state_path: Path,
    trackers: dict[str, dict[str, Any]],
    routing_rules: Sequence[tuple[str, str]] = (("payments/**", "github"),),
    default: str = "jira",
    git_section: dict[str, Any] | None = None,
    sync_section: dict[str, Any] | None = None,
    log_format: str = "json",
    log_level: str = "info",
) -> None:
    def table(name: str, values: dict[str, Any]) -> list[str]:
        return [f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in values.items()), ""]

    lines = table("docs", {"root": str(docs_root)})
    lines += table(
        "docs.git",
        {"author_name": AUTHOR_NAME, "author_email": AUTHOR_EMAIL, **(git_section or {})},
    )
    lines += table("state", {"path": str(state_path)})
    lines += table("log", {"format": log_format, "level": log_level})
    if sync_section:
        lines += table("sync", sync_section)
    for name, section in trackers.items():
        lines += table(f"trackers.{name}", section)
    lines += ["[routing]", f"default = {toml_value(default)}", ""]
    for match, tracker in routing_rules:
        lines += ["[[routing.rules]]", f"match = {toml_value(match)}"]
        lines += [f"tracker = {toml_value(tracker)}", ""]
    for owner, ids in OWNERS.items():
        lines += table(f'owners."{owner}"', ids)
    path.write_text("\n".join(lines))


# ---------------------------------------------------------------------------- the world
@dataclass
class World:
    """One test's universe: emulators, a git work tree with docs, a config, the CLI."""

    tmp: Path
    jira: JiraEmulator
    github: GitHubEmulator
    repo: Path
    docs: Path
    config: Path
    state: Path
    outputs: list[str] = field(default_factory=list)  # every stdout/stderr captured
    capsys: Any = None

    # -- config ------------------------------------------------------------------------
    def trackers(
        self, jira: dict[str, Any] | None = None, github: dict[str, Any] | None = None
    ) -> dict[str, dict[str, Any]]:
        return {
            "jira": self.jira.connector_section(**{"token": JIRA_TOKEN, **(jira or {})}),
            "github": self.github.connector_section(
                **{"token": GITHUB_TOKEN, "writes_per_minute": 60000, **(github or {})}
            ),
        }

    def configure(self, **kwargs: Any) -> None:
        """(Re)write the config; `jira=`/`github=` override keys of those sections."""
        trackers = self.trackers(kwargs.pop("jira", None), kwargs.pop("github", None))
        write_config(
            self.config, docs_root=self.docs, state_path=self.state, trackers=trackers, **kwargs
        )

    # -- running -------------------------------------------------------------------------
    def cli(self, *argv: str) -> tuple[int, str, str]:
        """`syncd.cli.main.main` in-process; returns (exit code, stdout, stderr)."""
        from syncd.cli.main import main

        assert self.capsys is not None
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        self.outputs += [captured.out, captured.err]
        return code, captured.out, captured.err

    def sync(self) -> tuple[int, dict[str, Any], str]:
        code, out, err = self.cli(
            "sync", "--once", "--config", str(self.config), "--format", "json"
        )
        return code, json.loads(out), err

    def plan(self) -> tuple[int, dict[str, Any]]:
        code, out, _err = self.cli("plan", "--config", str(self.config), "--format", "json")
        return code, json.loads(out)

    def status(self) -> tuple[int, dict[str, Any]]:
        code, out, _err = self.cli("status", "--config", str(self.config), "--format", "json")
        return code, json.loads(out)

    def console(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The installed console script, in a subprocess."""
        proc = subprocess.run(
            [str(VENV_SYNCD), *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env=env,
        )
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    # -- looking -------------------------------------------------------------------------
    def doc(self, rel: str) -> str:
        return (self.docs / rel).read_text(encoding="utf-8")

    def doc_bytes(self) -> dict[str, bytes]:
        return {
            p.relative_to(self.docs).as_posix(): p.read_bytes()
            for p in sorted(self.docs.rglob("*"))
            if p.is_file()
        }

    def reset_logs(self) -> None:
        self.jira.reset_log()
        self.github.reset_log()

    def counts(self) -> dict[str, dict[str, int]]:
        return {"jira": dict(self.jira.counts()), "github": dict(self.github.counts())}

    def writes(self) -> dict[str, int]:
        return {
            name: sum(n for method, n in counts.items() if method in WRITE_METHODS)
            for name, counts in self.counts().items()
        }

    def reads(self) -> dict[str, int]:
        return {name: counts.get("GET", 0) for name, counts in self.counts().items()}

    def post_count(self) -> int:
        return sum(counts.get("POST", 0) for counts in self.counts().values())


def make_world(
    tmp: Path, capsys: Any, docs: dict[str, str | bytes] | None = None
) -> Iterator[World]:
    """Generator for a fixture: starts both emulators, builds the repo and a config."""
    jira = JiraEmulator(token=JIRA_TOKEN)
    github = GitHubEmulator(token=GITHUB_TOKEN)
    jira.start()
    github.start()
    for owner, ids in OWNERS.items():
        jira.add_user(ids["jira"], owner.lstrip("@").title())
    repo = tmp / "repo"
    init_repo(repo, dict(DOCS) if docs is None else docs)
    cfg_dir = tmp / "cfg"
    cfg_dir.mkdir()
    world = World(
        tmp=tmp,
        jira=jira,
        github=github,
        repo=repo,
        docs=repo / "postmortems",
        config=cfg_dir / "syncd.toml",
        state=cfg_dir / "state" / "state.db",
        capsys=capsys,
    )
    world.configure()
    try:
        yield world
    finally:
        jira.stop()
        github.stop()


# ---------------------------------------------------------------------------- diff checks
@dataclass
class Hunk:
    old_start: int
    old: list[str]
    new_start: int
    new: list[str]


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def diff_hunks(repo: Path, rev_a: str, rev_b: str, path: str) -> list[Hunk]:
    """Hunks of `git diff -U0 rev_a rev_b -- path` with their line numbers."""
    hunks: list[Hunk] = []
    for line in git(repo, "diff", "-U0", rev_a, rev_b, "--", path).splitlines():
        if match := _HUNK.match(line):
            hunks.append(Hunk(int(match[1]), [], int(match[2]), []))
        elif hunks and line.startswith("-") and not line.startswith("---"):
            hunks[-1].old.append(line[1:])
        elif hunks and line.startswith("+") and not line.startswith("+++"):
            hunks[-1].new.append(line[1:])
    return hunks


def parsed_items(docs: Path, rel: str) -> list[Any]:
    from syncd.documents.parser import parse_file

    doc, _text = parse_file(docs / rel)
    return list(doc.action_items)
