"""One universe for the issue-12 convergence cases: the Jira and GitHub emulators on
loopback, a bare git origin, the tool's clone (its docs root) and a human's clone,
and the real `syncd` console script run as a subprocess, as a CronJob would.

Every run's stdout and stderr go to the reliability capture (the security sweep checks
them for secrets) and are kept on the `Run` so a test can assert what a human reading
the plain output would see.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.testing.github import GitHubEmulator
from connectors.testing.jira import TRANSITIONS, JiraEmulator, Transition
from syncd.cli.demo import OWNERS
from syncd.documents.parser import parse_text
from tests.conftest import SYNCD
from tests.helpers_sync import write_config
from tests.reliability.harness import GITHUB_TOKEN, JIRA_TOKEN, REPO, capture, git

HUMAN_GIT = ("-c", "user.name=Human Author", "-c", "user.email=human@example.test")
SUBDIR = "postmortems"

JIRA_REL = "2026/05-checkout.md"
GITHUB_REL = "payments/06-refunds.md"
OTHER_REL = "2026/07-queue.md"


def table_doc(title: str, rows: Sequence[tuple[str, str, str]]) -> str:
    """A postmortem with an action-item table (action, owner, status) and human prose
    around it; the tool adds a Ticket column on its first write."""
    lines = [
        f"# Postmortem: {title}",
        "",
        "## Summary",
        "Customers saw 502s for 14 minutes. | Pipes in prose stay prose.",
        "",
        "## Action items",
        "| # | Action | Owner | Due | Status |",
        "|---|--------|-------|-----|--------|",
    ]
    for n, (action, owner, status) in enumerate(rows, 1):
        lines.append(f"| {n} | {action} | {owner} | 2026-09-0{n} | {status} |")
    lines += ["", "## Lessons", "Config is code.", ""]
    return "\n".join(lines)


DEFAULT_DOCS = {
    JIRA_REL: table_doc(
        "Checkout outage",
        [
            ("Gate config changes behind CI", "@sri", "Open"),
            ("Add a page-severity SLO alert", "@maya", "Open"),
        ],
    ),
    GITHUB_REL: table_doc(
        "Refund delays", [("Alert when replica lag exceeds 60 s", "@lee", "Open")]
    ),
}


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class World:
    tmp: Path
    jira: JiraEmulator
    github: GitHubEmulator
    origin: Path
    tool: Path
    human: Path
    config: Path
    state: Path
    runs: list[Run] = field(default_factory=list)

    @property
    def docs(self) -> Path:
        return self.tool / SUBDIR

    # -- config --------------------------------------------------------------------------
    def configure(self, **extra: Any) -> None:
        jira_extra = extra.pop("jira", {})
        trackers = {
            "jira": self.jira.connector_section(token=JIRA_TOKEN, **jira_extra),
            "github": self.github.connector_section(token=GITHUB_TOKEN, writes_per_minute=60000),
        }
        write_config(
            self.config,
            docs_root=self.docs,
            state_path=self.state,
            trackers=trackers,
            git_section={"push": True, "remote": "origin", **extra.pop("git", {})},
            log_format="console",
            **extra,
        )

    # -- running the real CLI ------------------------------------------------------------
    def syncd(self, *argv: str, timeout: float = 120) -> Run:
        proc = subprocess.run(
            [str(SYNCD), *argv, "--config", str(self.config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        capture(proc.stdout, proc.stderr)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def sync(self, *extra: str) -> Run:
        run = self.syncd("sync", "--once", *extra)
        self.runs.append(run)
        return run

    def status(self) -> dict[str, Any]:
        run = self.syncd("status", "--format", "json")
        assert run.code == 0, str(run)
        data: dict[str, Any] = json.loads(run.out)
        return data

    # -- humans --------------------------------------------------------------------------
    def human_edit(self, rel: str, old: str, new: str, *, push: bool = True) -> None:
        """A colleague edits a doc in their own clone, commits and (by default) pushes."""
        git(self.human, "pull", "-q", "--rebase", "origin", "main")
        path = self.human / SUBDIR / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}:\n{text}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        git(self.human, "add", "-A")
        git(self.human, *HUMAN_GIT, "commit", "-q", "-m", f"Edit {rel}")
        if push:
            git(self.human, "push", "-q", "origin", "main")

    def human_rename(self, rel: str, new_rel: str) -> None:
        git(self.human, "pull", "-q", "--rebase", "origin", "main")
        git(self.human, "mv", f"{SUBDIR}/{rel}", f"{SUBDIR}/{new_rel}")
        git(self.human, *HUMAN_GIT, "commit", "-q", "-m", f"Rename {rel}")
        git(self.human, "push", "-q", "origin", "main")

    # -- looking -------------------------------------------------------------------------
    def origin_text(self, rel: str) -> str:
        return git(self.origin, "show", f"main:{SUBDIR}/{rel}")

    def origin_items(self, rel: str) -> list[Any]:
        return list(parse_text(self.origin_text(rel), Path(rel)).action_items)

    def tool_items(self, rel: str) -> list[Any]:
        path = self.docs / rel
        return list(parse_text(path.read_text(encoding="utf-8"), path).action_items)

    def unpushed(self) -> int:
        return int(git(self.tool, "rev-list", "--count", "origin/main..HEAD").strip() or 0)


def make_world(
    tmp: Path,
    docs: dict[str, str] | None = None,
    *,
    workflow: Sequence[Transition] = TRANSITIONS,
) -> World:
    """Start fresh emulators (the caller stops them: `stop(world)`), a bare origin with
    the docs, the tool's and a human's clone, and a config pointing at all of it."""
    jira = JiraEmulator(token=JIRA_TOKEN, workflow=workflow)
    github = GitHubEmulator(repo=REPO)
    jira.start()
    github.start()
    for owner, ids in OWNERS.items():
        jira.add_user(ids["jira"], owner.lstrip("@").title())
    origin, seed, tool, human = (tmp / n for n in ("origin.git", "seed", "tool", "human"))
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    for rel, text in (DEFAULT_DOCS if docs is None else docs).items():
        path = seed / SUBDIR / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    git(seed, "add", "-A")
    git(seed, *HUMAN_GIT, "commit", "-q", "-m", "Import postmortems")
    git(seed, "remote", "add", "origin", str(origin))
    git(seed, "push", "-q", "-u", "origin", "main")
    for clone in (tool, human):
        git(tmp, "clone", "-q", str(origin), str(clone))
    cfg = tmp / "cfg"
    cfg.mkdir()
    world = World(tmp, jira, github, origin, tool, human, cfg / "syncd.toml", cfg / "state.db")
    world.configure()
    return world


def stop(world: World) -> None:
    world.jira.stop()
    world.github.stop()
