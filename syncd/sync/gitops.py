"""Committing the tool's doc edits in a git work tree, and pushing them safely.

Only the files the tool edited are committed (`git commit -- paths`), so a human's
staged work is never swept into the tool's commit, and a file with uncommitted changes
is never written at all (`dirty`). Pushes never force. A push the remote refused
because it moved is retried after a rebase onto it; where the rebase conflicts, only the
conflicting files of the tool's own commit take the remote's version (the other files'
edits stay in the commit and are pushed). A push refused for any other reason (a
protected branch, a hook) keeps the commit locally; `ahead` sees it on the next run.

Nothing here resets or discards a human's work: a rebase starts only on a clean tree,
and one that stops on a human's commit is aborted, which restores the state before it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from syncd.config import ConfigError, redact

log = structlog.get_logger(__name__)

# git must never stop to ask: no editor, no credential prompt
_QUIET_ENV = {"GIT_EDITOR": "true", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}


class GitError(Exception):
    pass


class GitConfigError(ConfigError):
    """The work tree is in a shape the tool must not commit in (detached HEAD, missing
    branch or upstream): a human has to fix it, so the CLI exits 1."""


@dataclass(frozen=True)
class Identity:
    name: str
    email: str

    def args(self) -> tuple[str, ...]:
        return ("-c", f"user.name={self.name}", "-c", f"user.email={self.email}")


@dataclass
class PushResult:
    pushed: bool = False
    dropped: set[str] = field(default_factory=set)  # top-relative paths that took theirs
    message: str = ""


def clean_stderr(proc: subprocess.CompletedProcess[str], limit: int = 500) -> str:
    """git's own reason, trimmed, with any credentials in a remote URL masked."""
    text = " ".join(line.strip() for line in proc.stderr.splitlines() if line.strip())
    return str(redact(text))[:limit]


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH is the point
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **_QUIET_ENV},
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {clean_stderr(proc)}")
    return proc


def work_tree(path: Path) -> Path | None:
    """Top of the git work tree containing `path`, or None."""
    proc = _git(path, "rev-parse", "--show-toplevel", check=False)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def upstream(root: Path) -> str | None:
    proc = _git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def branch(root: Path) -> str | None:
    """The checked-out branch, or None on a detached HEAD."""
    proc = _git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def check_branch(root: Path, *, push: bool | None) -> None:
    """Raise GitConfigError unless the tool can commit here and push where it should."""
    name = branch(root)
    if name is None:
        raise GitConfigError(
            f"docs.git: the work tree {root} is on a detached HEAD, so a commit would be on"
            f" no branch and never pushed; check out the branch the docs live on"
            f" (git -C {root} switch BRANCH) or set docs.git.commit = false"
        )
    if _git(root, "rev-parse", "-q", "--verify", "HEAD", check=False).returncode != 0:
        raise GitConfigError(
            f"docs.git: branch {name!r} in {root} has no commits yet; commit the docs once"
            " (git add -A && git commit) before syncing"
        )
    merge = _git(root, "config", f"branch.{name}.merge", check=False).stdout.strip()
    remote = _git(root, "config", f"branch.{name}.remote", check=False).stdout.strip()
    tracked = f"{remote}/{merge.removeprefix('refs/heads/')}" if merge else ""
    if tracked and upstream(root) is None:
        raise GitConfigError(
            f"docs.git: branch {name!r} tracks {tracked}, which does not exist; push it"
            f" (git push -u <remote> {name}) or set docs.git.push = false"
        )
    if push and not tracked:
        raise GitConfigError(
            f"docs.git.push = true but branch {name!r} has no upstream; set one"
            f" (git push -u <remote> {name}) or set docs.git.push = false"
        )


def ahead_behind(root: Path) -> tuple[int, int]:
    """(commits on HEAD not upstream, commits upstream not on HEAD); (0, 0) without one."""
    proc = _git(root, "rev-list", "--left-right", "--count", "HEAD...@{u}", check=False)
    if proc.returncode != 0:
        return 0, 0
    ahead, behind = proc.stdout.split()
    return int(ahead), int(behind)


def dirty(root: Path, paths: list[Path]) -> set[Path]:
    """The files among `paths` with uncommitted changes (staged, unstaged or untracked)."""
    if not paths:
        return set()
    top = root.resolve()
    rel = {str(p.resolve().relative_to(top)): p for p in paths}
    out = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *rel)
    return {rel[name] for _xy, name in _status_entries(out.stdout) if name in rel}


def _status_entries(porcelain_z: str) -> Iterator[tuple[str, str]]:
    """(XY status, path from the top) of each `git status --porcelain -z` entry."""
    entries = porcelain_z.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        if entry[0] in "RC":  # a rename carries its source as the next entry
            i += 1
        yield entry[:2], entry[3:]


def modified(top: Path, under: Path) -> list[Path]:
    """Tracked files below `under` whose work-tree text differs from HEAD (staged or
    not), as paths below `under`."""
    base = under.resolve()
    try:
        scope = base.relative_to(top.resolve()).as_posix() or "."
    except ValueError:
        return []
    out = _git(top, "status", "--porcelain", "-z", "--untracked-files=no", "--", scope)
    return [
        under / (top.resolve() / name).relative_to(base)
        for xy, name in _status_entries(out.stdout)
        if "D" not in xy
    ]


def fetch(root: Path, remote: str) -> str | None:
    proc = _git(root, "fetch", "--quiet", remote, check=False)
    return None if proc.returncode == 0 else f"git fetch {remote} failed: {clean_stderr(proc)}"


def pull(root: Path, remote: str, me: Identity) -> str | None:
    """Bring in what people pushed since the last run; returns an error message or None.

    Never discards anything: a fast-forward keeps uncommitted files git does not have to
    touch (and refuses, changing nothing, when it would have to); local commits are
    rebased only on a clean tree (git refuses otherwise), and a conflicting rebase is
    aborted, which puts back every local commit exactly as it was.
    """
    error = fetch(root, remote)
    if error is not None:
        return error
    ahead, behind = ahead_behind(root)
    if behind == 0:
        return None
    if ahead == 0:
        proc = _git(root, "merge", "--ff-only", "--quiet", "@{u}", check=False)
        if proc.returncode == 0:
            return None
        return f"git pull from {remote} failed: {clean_stderr(proc)}"
    dropped, error = rebase(root, me)
    if dropped:
        log.info("local edits that conflicted with the remote took its version", files=dropped)
    return error


def rebase(root: Path, me: Identity) -> tuple[set[str], str | None]:
    """Rebase HEAD onto its upstream. Where a commit of the tool's (`me`) conflicts, its
    conflicting files take the upstream version and the rest of it is kept; a conflict
    in anybody else's commit aborts the rebase. Returns (files dropped, error or None)."""
    dropped: set[str] = set()
    proc = _git(root, *me.args(), "-c", "rebase.autoStash=false", "rebase", "@{u}", check=False)
    while proc.returncode != 0:
        stopped = _git(root, "rev-parse", "-q", "--verify", "REBASE_HEAD", check=False)
        if stopped.returncode != 0:  # refused to start (uncommitted changes) or worse
            _abort_rebase(root)
            return dropped, f"git rebase failed: {clean_stderr(proc)}"
        sha = stopped.stdout.strip()
        author = _git(root, "log", "-1", "--format=%ae", sha).stdout.strip()
        if author != me.email:
            _abort_rebase(root)
            return dropped, (
                f"a local commit {sha[:10]} by {author} conflicts with the remote; the tool"
                " left it as it was: rebase or push it by hand"
            )
        conflicted = _git(root, "diff", "--name-only", "--diff-filter=U").stdout.split("\n")
        for path in filter(None, conflicted):
            _take_upstream(root, path)
            dropped.add(path)
        if _git(root, "diff", "--cached", "--quiet", check=False).returncode == 0:
            proc = _git(root, *me.args(), "rebase", "--skip", check=False)
        else:
            proc = _git(root, *me.args(), "rebase", "--continue", check=False)
    return dropped, None


def _take_upstream(root: Path, path: str) -> None:
    """During a rebase, HEAD is the upstream plus what was replayed so far."""
    if _git(root, "cat-file", "-e", f"HEAD:{path}", check=False).returncode == 0:
        _git(root, "checkout", "HEAD", "--", path)
    else:
        _git(root, "rm", "-q", "--force", "--", path)


def _abort_rebase(root: Path) -> None:
    git_dir = Path(_git(root, "rev-parse", "--absolute-git-dir").stdout.strip())
    if (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists():
        _git(root, "rebase", "--abort", check=False)


def commit(root: Path, files: list[Path], message: str, me: Identity) -> str | None:
    if not files:
        return None
    rel = [str(f.resolve().relative_to(root.resolve())) for f in files]
    _git(root, "add", "--", *rel)
    status = _git(root, "diff", "--cached", "--quiet", "--", *rel, check=False)
    if status.returncode == 0:
        return None  # nothing actually changed
    _git(
        root,
        *me.args(),
        "commit",
        "--no-verify",
        "-q",
        f"--author={me.name} <{me.email}>",
        "-m",
        message,
        "--",
        *rel,
    )
    return head(root)


def head(root: Path) -> str:
    return _git(root, "rev-parse", "HEAD").stdout.strip()


def push(root: Path, remote: str, me: Identity, attempts: int = 3) -> PushResult:
    """Push HEAD. When the remote moved, rebase onto it (`rebase`) and retry; when it
    refused for another reason, report git's reason and keep the commits."""
    result = PushResult()
    for _attempt in range(attempts):
        proc = _git(root, "push", "--quiet", remote, "HEAD", check=False)
        if proc.returncode == 0:
            result.pushed = True
            return result
        reason = clean_stderr(proc)
        fetched = fetch(root, remote)
        if fetched is not None or ahead_behind(root)[1] == 0:
            # the remote did not move: a protected branch, a hook, permissions, network
            result.message = f"git push to {remote} was refused: {reason}"
            return result
        log.info("git push rejected; rebasing onto the remote", stderr=reason[:200])
        dropped, error = rebase(root, me)
        result.dropped |= dropped
        if error is not None:
            result.message = error
            return result
        if ahead_behind(root)[0] == 0:  # everything we had is now upstream (or dropped)
            result.pushed = True
            return result
    result.message = f"push to {remote} still rejected after {attempts} tries"
    return result


# ---------------------------------------------------------------------------- branch builds
# Pull-request mode commits on a branch that is never checked out: the tree is built in
# a private index file, so the work tree (and a human's uncommitted work in it) is never
# touched.
def rev(root: Path, ref: str) -> str | None:
    proc = _git(root, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def tree_of(root: Path, ref: str) -> str:
    return _git(root, "rev-parse", f"{ref}^{{tree}}").stdout.strip()


def tree_with(root: Path, base: str, files: dict[str, bytes], index: Path) -> str:
    """The tree of `base` with `files` (top-relative path -> bytes) replaced."""
    env = {"GIT_INDEX_FILE": str(index)}
    _run(root, env, "read-tree", base)
    for rel, data in sorted(files.items()):
        blob = _run(root, env, "hash-object", "-w", f"--path={rel}", "--stdin", data=data)
        listed = _run(root, env, "ls-files", "-s", "--", rel)
        mode = listed.split(" ", 1)[0] if listed else "100644"
        _run(root, env, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{rel}")
    return _run(root, env, "write-tree")


def commit_tree(root: Path, tree: str, parent: str, message: str, me: Identity) -> str:
    env = {
        "GIT_AUTHOR_NAME": me.name,
        "GIT_AUTHOR_EMAIL": me.email,
        "GIT_COMMITTER_NAME": me.name,
        "GIT_COMMITTER_EMAIL": me.email,
    }
    return _run(root, env, "commit-tree", tree, "-p", parent, "-m", message)


def authors(root: Path, base: str, tip: str) -> set[str]:
    """Author emails of the commits on `tip` that are not on `base`."""
    out = _git(root, "log", "--format=%ae", f"{base}..{tip}").stdout
    return {line for line in out.splitlines() if line}


def push_branch(root: Path, remote: str, sha: str, branch: str, expected: str | None) -> str | None:
    """Point `remote`'s `branch` at `sha`, only if it is still at `expected` (None: absent);
    returns git's reason when refused. The branch is the tool's own: rewriting it is how it
    follows the base branch, and the lease keeps anything pushed meanwhile."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
    proc = _git(root, "push", "--quiet", lease, remote, f"{sha}:refs/heads/{branch}", check=False)
    return None if proc.returncode == 0 else f"git push of {branch} refused: {clean_stderr(proc)}"


def _run(root: Path, env: dict[str, str], *args: str, data: bytes | None = None) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH is the point
        input=data,
        capture_output=True,
        check=False,
        env={**os.environ, **_QUIET_ENV, **env},
        timeout=120,
    )
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {args[0]} failed: {str(redact(stderr))[:300]}")
    return proc.stdout.decode("utf-8", "replace").strip()
