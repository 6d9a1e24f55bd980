"""Committing the tool's doc edits in a git work tree, and pushing them safely.

Only the files the tool edited are committed (`git commit -- paths`), so a human's
staged work is never swept into the tool's commit. Pushes never force: a rejected
push is retried after `pull --rebase`; if the rebase conflicts, the tool's commit is
dropped (its edits are re-planned on the next run), never the human's.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class GitError(Exception):
    pass


@dataclass(frozen=True)
class GitResult:
    committed: str | None = None  # commit sha
    pushed: bool = False
    dropped: bool = False  # our commit was dropped after a conflicting remote change
    message: str = ""


def _git(
    root: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH is the point
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {proc.stderr.strip()[:500]}")
    return proc


def work_tree(path: Path) -> Path | None:
    """Top of the git work tree containing `path`, or None."""
    proc = _git(path, "rev-parse", "--show-toplevel", check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def upstream(root: Path) -> str | None:
    proc = _git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def pull(root: Path, remote: str) -> str | None:
    """Bring in what people pushed since the last run; returns an error message or None.

    The work tree belongs to the tool; a failed pull leaves it as it was and the run
    goes on with what is there (its later push will rebase again).
    """
    proc = _git(root, "pull", "--rebase", "--quiet", remote, check=False)
    if proc.returncode == 0:
        return None
    _git(root, "rebase", "--abort", check=False)
    return f"git pull from {remote} failed: {proc.stderr.strip()[:300]}"


def commit(root: Path, files: list[Path], message: str, author: str, email: str) -> str | None:
    if not files:
        return None
    rel = [str(f.resolve().relative_to(root.resolve())) for f in files]
    _git(root, "add", "--", *rel)
    status = _git(root, "diff", "--cached", "--quiet", "--", *rel, check=False)
    if status.returncode == 0:
        return None  # nothing actually changed
    _git(
        root,
        "-c",
        f"user.name={author}",
        "-c",
        f"user.email={email}",
        "commit",
        "--no-verify",
        "-q",
        f"--author={author} <{email}>",
        "-m",
        message,
        "--",
        *rel,
    )
    return _git(root, "rev-parse", "HEAD").stdout.strip()


def push(root: Path, remote: str, ours: str | None, attempts: int = 3) -> GitResult:
    """Push HEAD; on rejection rebase onto the remote and retry.

    When our edits conflict with a human's pushed edit, our commit (`ours`) is dropped
    and the remote taken as is: the next run re-reads the docs and re-plans its edits.
    """
    for _attempt in range(attempts):
        proc = _git(root, "push", "--quiet", remote, "HEAD", check=False)
        if proc.returncode == 0:
            return GitResult(committed=ours, pushed=True)
        log.info("git push rejected; rebasing onto the remote", stderr=proc.stderr.strip()[:200])
        rebase = _git(root, "pull", "--rebase", "--quiet", remote, check=False)
        if rebase.returncode != 0:
            _git(root, "rebase", "--abort", check=False)
            if ours:
                drop_last_commit(root, ours)
                _git(root, "pull", "--rebase", "--quiet", remote, check=False)
            return GitResult(
                dropped=True,
                message="our edit conflicted with a pushed change; "
                "dropped it, the next run re-plans it",
            )
        ours = _git(root, "rev-parse", "HEAD").stdout.strip() if ours else None
    return GitResult(
        committed=ours, message=f"push to {remote} still rejected after {attempts} tries"
    )


def drop_last_commit(root: Path, sha: str) -> None:
    """Undo our own commit (only if it is still HEAD), restoring its files to the parent."""
    head = _git(root, "rev-parse", "HEAD").stdout.strip()
    if head != sha:
        return
    files = _git(root, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).stdout.split()
    _git(root, "reset", "--quiet", "--soft", "HEAD~1")
    _git(root, "restore", "--staged", "--worktree", "--source=HEAD", "--", *files)
