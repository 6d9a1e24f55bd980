"""gitops against real repositories: a work tree cloned from a real bare remote, a second
clone standing for a colleague, and a pre-receive hook standing for a protected branch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from syncd.sync import gitops
from tests.helpers_sync import HUMAN, git, head

BOT = gitops.Identity("pm-sync-bot", "pm-sync-bot@example.test")
BOT_ARGS = ("-c", f"user.name={BOT.name}", "-c", f"user.email={BOT.email}")
DOC_A = "# Checkout outage\n\n| 1 | Gate config changes | @sri | 2026-06-12 | Open |\n| 2 | Alert on errors | Open |\n"
DOC_B = "- [ ] Add a runbook step (@maya)\n"


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(bare remote, the tool's work tree, a colleague's clone), all on `main`."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    (seed / "a.md").write_text(DOC_A)
    (seed / "b.md").write_text(DOC_B)
    git(seed, "add", "-A")
    git(seed, *HUMAN, "commit", "-q", "-m", "Import")
    git(seed, "push", "-q", str(bare), "main")
    tool = tmp_path / "tool"
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(tool))
    git(tmp_path, "clone", "-q", str(bare), str(other))
    return bare, tool, other


def colleague_pushes(other: Path, name: str, old: str, new: str) -> str:
    git(other, "pull", "-q", "--ff-only")
    path = other / name
    path.write_text(path.read_text().replace(old, new))
    git(other, *HUMAN, "commit", "-q", "-a", "-m", f"edit {name}")
    git(other, "push", "-q")
    return head(other)


def bot_commit(tool: Path, edits: dict[str, tuple[str, str]]) -> str:
    for name, (old, new) in edits.items():
        path = tool / name
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))
    sha = gitops.commit(tool, [tool / n for n in edits], "bot edit", BOT)
    assert sha is not None
    return sha


def protect(bare: Path, message: str = "GH006: Protected branch update failed for main") -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    hook.chmod(0o755)


# ---------------------------------------------------------------------------- pull
def test_failed_pull_keeps_local_human_commits_and_dirty_files(
    repos: tuple[Path, Path, Path],
) -> None:
    _bare, tool, other = repos
    colleague_pushes(other, "a.md", "Gate config changes", "Gate all config changes")
    # in the tool's tree: a human's unpushed commit on the same line, and a dirty file
    (tool / "a.md").write_text(DOC_A.replace("Gate config changes", "Gate configs"))
    git(tool, *HUMAN, "commit", "-q", "-a", "-m", "local human work")
    local = head(tool)
    (tool / "b.md").write_text(DOC_B + "- [ ] unsaved thought\n")

    error = gitops.pull(tool, "origin", BOT)

    assert error is not None and "rebase" in error
    assert head(tool) == local
    assert (tool / "a.md").read_text() == DOC_A.replace("Gate config changes", "Gate configs")
    assert (tool / "b.md").read_text() == DOC_B + "- [ ] unsaved thought\n"
    assert not (tool / ".git" / "rebase-merge").exists()


def test_conflicting_local_human_commit_is_left_as_it_was(
    repos: tuple[Path, Path, Path],
) -> None:
    _bare, tool, other = repos
    colleague_pushes(other, "a.md", "Gate config changes", "Gate all config changes")
    (tool / "a.md").write_text(DOC_A.replace("Gate config changes", "Gate configs"))
    git(tool, *HUMAN, "commit", "-q", "-a", "-m", "local human work")
    local = head(tool)

    error = gitops.pull(tool, "origin", BOT)

    assert error is not None and "human@example.test" in error and "by hand" in error
    assert head(tool) == local
    assert git(tool, "status", "--porcelain") == ""


def test_fast_forward_pull_keeps_an_unrelated_dirty_file(repos: tuple[Path, Path, Path]) -> None:
    _bare, tool, other = repos
    theirs = colleague_pushes(other, "a.md", "Gate config changes", "Gate all config changes")
    (tool / "b.md").write_text(DOC_B + "- [ ] unsaved thought\n")

    assert gitops.pull(tool, "origin", BOT) is None

    assert head(tool) == theirs
    assert (tool / "b.md").read_text() == DOC_B + "- [ ] unsaved thought\n"


def test_fast_forward_over_a_dirty_file_it_touches_changes_nothing(
    repos: tuple[Path, Path, Path],
) -> None:
    _bare, tool, other = repos
    before = head(tool)
    colleague_pushes(other, "a.md", "Gate config changes", "Gate all config changes")
    (tool / "a.md").write_text(DOC_A + "| 3 | unsaved row | Open |\n")

    error = gitops.pull(tool, "origin", BOT)

    assert error is not None and "a.md" in error
    assert head(tool) == before
    assert (tool / "a.md").read_text() == DOC_A + "| 3 | unsaved row | Open |\n"


# ---------------------------------------------------------------------------- push
def test_push_refused_by_a_hook_reports_gits_reason_and_keeps_the_commit(
    repos: tuple[Path, Path, Path],
) -> None:
    bare, tool, _other = repos
    protect(bare)
    ours = bot_commit(tool, {"a.md": ("| Open |\n| 2", "| Done |\n| 2")})

    result = gitops.push(tool, "origin", BOT)

    assert not result.pushed and not result.dropped
    assert "GH006: Protected branch update failed for main" in result.message
    assert "pre-receive hook declined" in result.message
    assert head(tool) == ours and gitops.ahead_behind(tool) == (1, 0)

    (bare / "hooks" / "pre-receive").unlink()
    assert gitops.push(tool, "origin", BOT).pushed
    assert git(bare, "rev-parse", "main").strip() == ours


def test_conflict_drops_only_the_conflicting_file_and_pushes_the_rest(
    repos: tuple[Path, Path, Path],
) -> None:
    bare, tool, other = repos
    bot_commit(
        tool,
        {
            "a.md": (
                "Gate config changes | @sri | 2026-06-12 | Open",
                "Gate config changes | @sri | 2026-06-12 | Done",
            ),
            "b.md": ("- [ ]", "- [x]"),
        },
    )
    theirs = colleague_pushes(other, "a.md", "@sri | 2026-06-12 | Open", "@lee | 2026-06-12 | Open")

    result = gitops.push(tool, "origin", BOT)

    assert result.pushed and result.dropped == {"a.md"}
    assert git(bare, "rev-parse", "main").strip() == head(tool)
    assert git(tool, "rev-parse", "HEAD~1").strip() == theirs
    assert git(tool, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split() == ["b.md"]
    assert git(tool, "log", "-1", "--format=%an").strip() == BOT.name
    assert "@lee | 2026-06-12 | Open" in (tool / "a.md").read_text()
    assert (tool / "b.md").read_text().startswith("- [x]")
    assert git(tool, "status", "--porcelain") == ""


def test_edits_in_other_lines_of_the_same_file_both_land(repos: tuple[Path, Path, Path]) -> None:
    bare, tool, other = repos
    bot_commit(tool, {"a.md": ("| Alert on errors | Open |", "| Alert on errors | Done |")})
    colleague_pushes(other, "a.md", "# Checkout outage", "# Checkout outage (reviewed)")

    result = gitops.push(tool, "origin", BOT)

    assert result.pushed and result.dropped == set()
    text = git(bare, "show", "main:a.md")
    assert "(reviewed)" in text and "| Alert on errors | Done |" in text


def test_git_reason_never_shows_credentials_of_a_remote_url() -> None:
    token = "ghp_pushSecret0123456789"  # a made-up credential to look for
    stderr = (
        f"To https://x-access-token:{token}@github.example/acme/docs.git\n"
        " ! [remote rejected] HEAD -> main (protected branch hook declined)\n"
        f"error: failed to push some refs to 'https://bot:{token}@github.example/acme/docs'\n"
    )
    proc = subprocess.CompletedProcess(["git"], 1, "", stderr)

    text = gitops.clean_stderr(proc)

    assert token not in text and token[:6] not in text
    assert "protected branch hook declined" in text and "github.example/acme/docs" in text


# ---------------------------------------------------------------------------- shape of the tree
def test_detached_head_is_a_configuration_error(repos: tuple[Path, Path, Path]) -> None:
    _bare, tool, _other = repos
    git(tool, "checkout", "-q", "--detach")
    with pytest.raises(gitops.GitConfigError, match=r"detached HEAD.*check out the branch"):
        gitops.check_branch(tool, push=None)


def test_branch_without_commits_is_a_configuration_error(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main", str(tmp_path / "empty"))
    with pytest.raises(gitops.GitConfigError, match="no commits yet"):
        gitops.check_branch(tmp_path / "empty", push=None)


def test_upstream_that_is_gone_is_a_configuration_error(repos: tuple[Path, Path, Path]) -> None:
    bare, tool, _other = repos
    git(bare, "branch", "-q", "-m", "main", "trunk")
    git(tool, "fetch", "-q", "--prune", "origin")
    with pytest.raises(gitops.GitConfigError, match="tracks origin/main, which does not exist"):
        gitops.check_branch(tool, push=None)


def test_push_true_without_an_upstream_is_a_configuration_error(tmp_path: Path) -> None:
    repo = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    (repo / "a.md").write_text(DOC_A)
    git(repo, "add", "-A")
    git(repo, *HUMAN, "commit", "-q", "-m", "Import")
    gitops.check_branch(repo, push=None)  # committing without pushing is fine
    with pytest.raises(gitops.GitConfigError, match="no upstream"):
        gitops.check_branch(repo, push=True)


def test_dirty_sees_modified_staged_and_untracked_files(repos: tuple[Path, Path, Path]) -> None:
    _bare, tool, _other = repos
    (tool / "c.md").write_text("new\n")
    (tool / "d.md").write_text("staged\n")
    git(tool, "add", "d.md")
    paths = [tool / n for n in ("a.md", "b.md", "c.md", "d.md")]
    assert gitops.dirty(tool, paths) == {tool / "c.md", tool / "d.md"}
    (tool / "b.md").write_text(DOC_B + "more\n")
    assert gitops.dirty(tool, paths) == {tool / "b.md", tool / "c.md", tool / "d.md"}


def test_modified_lists_changed_tracked_files_under_a_folder_by_their_new_name(
    repos: tuple[Path, Path, Path],
) -> None:
    _bare, tool, _other = repos
    git(tool, "mv", "a.md", "renamed a.md")
    git(tool, *HUMAN, "commit", "-q", "-m", "Rename")
    (tool / "renamed a.md").write_text(DOC_A + "edited\n")
    (tool / "b.md").unlink()  # deleted: nothing to commit there
    (tool / "new.md").write_text("untracked\n")
    assert gitops.modified(tool, tool) == [tool / "renamed a.md"]
    (tool / "docs").mkdir()
    assert gitops.modified(tool, tool / "docs") == []
