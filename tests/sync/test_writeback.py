"""Doc write-back through git, end to end: the real CLI, the Jira and GitHub emulators,
a real work tree with a real bare remote (protected by a pre-receive hook where a test
needs a refused push) and a colleague's clone."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from syncd.config import ConfigError, load_config
from syncd.model import Status
from syncd.sync.context import secrets_of
from syncd.sync.gitops import GitConfigError
from syncd.sync.pullrequest import PullRequests
from syncd.sync.state import StateStore
from syncd.sync.writeback import UNCOMMITTED
from tests.helpers_sync import (
    AUTHOR_NAME,
    GITHUB_ITEMS,
    GITHUB_TOKEN,
    HUMAN,
    JIRA_ITEMS,
    LIST_REL,
    TABLE_REL,
    YAML_REL,
    World,
    git,
    head,
    make_world,
    parsed_items,
)

HOOK_MESSAGE = "GH006: Protected branch update failed for refs/heads/main."


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    yield from make_world(tmp_path, capsys)


def with_upstream(world: World, tmp: Path) -> Path:
    bare = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(world.repo, "remote", "add", "origin", str(bare))
    git(world.repo, "push", "-q", "-u", "origin", "main")
    return bare


def protect(bare: Path) -> None:
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho '{HOOK_MESSAGE}' >&2\nexit 1\n")
    hook.chmod(0o755)


def key_of(world: World, rel: str, prefix: str) -> str:
    item = next(i for i in parsed_items(world.docs, rel) if i.action.startswith(prefix))
    assert item.ticket, item
    return item.ticket


def notes(out: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [n for n in out["notes"] if n["kind"] == kind]


# ---------------------------------------------------------------------------- refused push
def test_refused_push_fails_every_run_with_gits_reason_until_it_is_pushed(
    world: World, tmp_path: Path
) -> None:
    bare = with_upstream(world, tmp_path)
    protect(bare)
    remote_before = git(bare, "rev-parse", "main").strip()

    code, out, _err = world.sync()

    assert code == 2
    [refused] = notes(out, "push")
    assert HOOK_MESSAGE in refused["message"] and "refused" in refused["message"]
    ours = head(world.repo)
    assert git(world.repo, "log", "-1", "--format=%an").strip() == AUTHOR_NAME
    assert git(bare, "rev-parse", "main").strip() == remote_before

    for _ in range(2):  # nothing new to write: the unpushed commit alone keeps it failing
        code, out, _err = world.sync()
        assert code == 2
        assert any(
            "not pushed yet" in n["message"] and HOOK_MESSAGE in n["message"]
            for n in notes(out, "push")
        ), out["notes"]
        assert head(world.repo) == ours  # no second commit for the same edits

    (bare / "hooks" / "pre-receive").unlink()  # an admin lifts the protection
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert git(bare, "rev-parse", "main").strip() == ours
    code, out, _err = world.sync()
    assert code == 0 and notes(out, "push") == []


def test_refused_push_in_plain_output_names_the_reason(world: World, tmp_path: Path) -> None:
    protect(with_upstream(world, tmp_path))
    world.configure(log_format="console")

    code, out, err = world.cli("sync", "--once", "--config", str(world.config))

    assert code == 2
    assert HOOK_MESSAGE in out + err


# ---------------------------------------------------------------------------- tree shape
def test_detached_head_is_a_configuration_error_and_nothing_is_committed(
    world: World,
) -> None:
    git(world.repo, "checkout", "-q", "--detach")
    before = head(world.repo)

    code, _out, err = world.cli("sync", "--once", "--config", str(world.config))

    assert code == 1
    assert "detached HEAD" in err and "check out the branch" in err
    assert "Traceback" not in err
    assert head(world.repo) == before and git(world.repo, "status", "--porcelain") == ""
    assert world.jira.issue_count() == 0  # refused before anything was done


def test_upstream_branch_gone_is_a_configuration_error(world: World, tmp_path: Path) -> None:
    bare = with_upstream(world, tmp_path)
    git(bare, "branch", "-q", "-m", "main", "trunk")
    git(world.repo, "fetch", "-q", "--prune", "origin")

    code, _out, err = world.cli("sync", "--once", "--config", str(world.config))

    assert code == 1
    assert "origin/main, which does not exist" in err


# ---------------------------------------------------------------------------- dirty docs
def test_doc_with_uncommitted_changes_is_skipped_every_run_until_clean(world: World) -> None:
    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    lag = key_of(world, LIST_REL, "Alert when replica lag")
    world.jira.human_set_status(slo, Status.DONE)
    world.github.human_set_status(lag, Status.DONE)
    table = world.docs / TABLE_REL
    saved = table.read_text().replace("Config is code.", "Config is code. (draft note)")
    table.write_text(saved)  # saved, not committed
    commits = int(git(world.repo, "rev-list", "--count", "HEAD"))

    for _ in range(2):
        code, out, _err = world.sync()
        assert code == 2
        [dirty] = [n for n in notes(out, "git") if n.get("path") == TABLE_REL]
        assert "has uncommitted changes; commit or stash them" in dirty["message"]
        assert table.read_text() == saved  # not a byte of the human's file changed
        assert "- [x] Alert when replica lag" in world.doc(LIST_REL)  # the rest lands
    assert int(git(world.repo, "rev-list", "--count", "HEAD")) == commits + 1
    assert git(world.repo, "show", "--name-only", "--format=", "HEAD").split() == [
        f"postmortems/{LIST_REL}"
    ]
    assert git(world.repo, "status", "--porcelain").split() == ["M", f"postmortems/{TABLE_REL}"]

    git(world.repo, *HUMAN, "commit", "-q", "-a", "-m", "Draft note")
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert f"| P0 | Done | {slo} |" in world.doc(TABLE_REL)
    assert "(draft note)" in world.doc(TABLE_REL)
    assert git(world.repo, "log", "-1", "--format=%an").strip() == AUTHOR_NAME
    assert git(world.repo, "status", "--porcelain") == ""


def test_staged_doc_is_not_swept_into_the_tools_commit(world: World) -> None:
    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)
    table = world.docs / TABLE_REL
    table.write_text(table.read_text() + "\nStaged by a human.\n")
    git(world.repo, "add", str(table))

    code, _out, _err = world.sync()

    assert code == 2
    assert git(world.repo, "diff", "--cached", "--name-only").split() == [
        f"postmortems/{TABLE_REL}"
    ]
    assert "Staged by a human." not in git(world.repo, "show", f"HEAD:postmortems/{TABLE_REL}")


def killed_run_left(world: World, rel: str, text: str) -> None:
    """The state a run killed between writing `rel` and committing it leaves behind."""
    (world.docs / rel).write_text(text)
    with StateStore.open(world.state) as state:
        state.meta_set(UNCOMMITTED, json.dumps({rel: hashlib.sha256(text.encode()).hexdigest()}))


def test_a_killed_runs_write_is_committed_where_a_humans_rename_moved_it(world: World) -> None:
    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)
    ours = world.doc(TABLE_REL).replace(f"| Open | {slo} |", f"| Done | {slo} |")
    assert ours != world.doc(TABLE_REL)
    killed_run_left(world, TABLE_REL, ours)
    moved = TABLE_REL.replace(".md", "-renamed.md")
    git(world.repo, "mv", f"postmortems/{TABLE_REL}", f"postmortems/{moved}")
    git(world.repo, *HUMAN, "commit", "-q", "-m", "Rename")  # the rename, not our edit

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert git(world.repo, "status", "--porcelain") == ""
    assert f"| Done | {slo} |" in git(world.repo, "show", f"HEAD:postmortems/{moved}")
    assert git(world.repo, "log", "-1", "--format=%an").strip() == AUTHOR_NAME


def test_a_killed_runs_write_with_a_humans_edit_on_top_is_not_committed(world: World) -> None:
    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)
    ours = world.doc(TABLE_REL).replace(f"| Open | {slo} |", f"| Done | {slo} |")
    killed_run_left(world, TABLE_REL, ours)
    theirs = ours.replace("Config is code.", "Config is code. (draft note)")
    (world.docs / TABLE_REL).write_text(theirs)  # a human saved on top, not committed
    head = git(world.repo, "rev-parse", "HEAD")

    code, out, _err = world.sync()

    assert code == 2
    assert git(world.repo, "rev-parse", "HEAD") == head  # nothing committed under our name
    assert (world.docs / TABLE_REL).read_text() == theirs
    [said] = [n["message"] for n in notes(out, "git") if n.get("path") == TABLE_REL]
    assert "killed before committing" in said and "commit the file" in said
    assert world.sync()[0] == 2  # said every run until it is committed

    git(world.repo, *HUMAN, "commit", "-q", "-a", "-m", "Draft note")
    code, out, _err = world.sync()
    assert code == 0, out["notes"]
    assert f"| Done | {slo} |" in git(world.repo, "show", f"HEAD:postmortems/{TABLE_REL}")


# ---------------------------------------------------------------------------- dropped commit
def test_conflict_drops_only_the_conflicting_doc_and_pushes_the_others(
    world: World, tmp_path: Path
) -> None:
    bare = with_upstream(world, tmp_path)
    assert world.sync()[0] == 0
    world.configure(git_section={"pull": False})  # a colleague pushes mid-run
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    pool = key_of(world, YAML_REL, "Add connection pool")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    doc = other / "postmortems" / TABLE_REL
    doc.write_text(doc.read_text().replace(f"| P0 | Open | {slo} |", f"| P1 | Open | {slo} |"))
    git(other, *HUMAN, "commit", "-q", "-a", "-m", "SLO alert is P1")
    git(other, "push", "-q")
    human_sha = head(other)
    world.jira.human_set_status(slo, Status.DONE)
    world.jira.human_set_status(pool, Status.DONE)

    code, out, _err = world.sync()

    assert code == 2  # the conflicting doc's edit is still due
    dropped = [n for n in notes(out, "push") if n.get("path") == TABLE_REL]
    assert dropped and "conflicted" in dropped[0]["message"]
    assert git(bare, "rev-parse", "main").strip() == head(world.repo)
    assert git(world.repo, "rev-parse", "HEAD~1").strip() == human_sha
    assert git(world.repo, "show", "--name-only", "--format=", "HEAD").split() == [
        f"postmortems/{YAML_REL}"
    ]
    assert f"| P1 | Open | {slo} |" in world.doc(TABLE_REL)  # the human's text wins
    assert 'status: "Done"' in git(bare, "show", f"main:postmortems/{YAML_REL}")

    world.configure()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert f"| P1 | Done | {slo} |" in git(bare, "show", f"main:postmortems/{TABLE_REL}")


# ---------------------------------------------------------------------------- pull requests
BRANCH = "postmortem-syncd/updates"
ONLY_BRANCHES = """#!/bin/sh
# main is protected: only pull requests change it
while read old new ref; do
  if [ "$ref" = "refs/heads/main" ]; then echo "GH006: main is protected" >&2; exit 1; fi
done
"""


def pull_request_world(world: World, tmp: Path) -> Path:
    bare = with_upstream(world, tmp)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(ONLY_BRANCHES)
    hook.chmod(0o755)
    world.github.git_remote = bare
    world.configure(git_section={"mode": "pull-request", "pull_request.tracker": "github"})
    return bare


def open_pulls(world: World) -> list[dict[str, Any]]:
    return [p for p in world.github.pulls() if p["state"] == "open"]


def waiting(out: dict[str, Any]) -> list[str]:
    return [n["message"] for n in notes(out, "push") if "wait in pull request" in n["message"]]


def test_pull_request_edits_land_when_merged_and_are_never_written_twice(
    world: World, tmp_path: Path
) -> None:
    bare = pull_request_world(world, tmp_path)
    before, main_before = world.doc_bytes(), git(bare, "rev-parse", "main").strip()

    code, out, _err = world.sync()

    assert code == 2  # edits wait for a merge: not done yet
    [pull] = open_pulls(world)
    assert waiting(out) and f"#{pull['number']}" in waiting(out)[0]
    assert pull["head"]["ref"] == BRANCH and pull["base"]["ref"] == "main"
    assert world.doc_bytes() == before and git(world.repo, "status", "--porcelain") == ""
    assert git(bare, "rev-parse", "main").strip() == main_before
    tip = git(bare, "rev-parse", BRANCH).strip()
    assert git(bare, "log", "-1", "--format=%an", BRANCH).strip() == AUTHOR_NAME
    assert git(bare, "rev-parse", f"{BRANCH}~1").strip() == main_before
    assert "| OPS-" in git(bare, "show", f"{BRANCH}:postmortems/{TABLE_REL}")
    tickets = (world.jira.issue_count(), world.github.issue_count())
    assert tickets == (JIRA_ITEMS, GITHUB_ITEMS)

    for _ in range(2):  # still due, still the same edits: no new commit, no new PR
        code, out, _err = world.sync()
        assert code == 2 and waiting(out)
        assert git(bare, "rev-parse", BRANCH).strip() == tip
        assert [p["number"] for p in open_pulls(world)] == [pull["number"]]
        assert (world.jira.issue_count(), world.github.issue_count()) == tickets

    world.github.human_merge_pull(pull["number"])
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert world.github.pulls()[0]["merged"] is True and open_pulls(world) == []
    assert "| OPS-" in world.doc(TABLE_REL)  # pulled with the merge
    assert git(world.repo, "rev-parse", "HEAD").strip() == git(bare, "rev-parse", "main").strip()
    assert git(bare, "rev-parse", BRANCH).strip() == tip
    assert (world.jira.issue_count(), world.github.issue_count()) == tickets
    world.reset_logs()
    code, out, _err = world.sync()
    assert code == 0 and world.writes() == {"jira": 0, "github": 0}, world.counts()
    assert GITHUB_TOKEN not in "\n".join(world.outputs)

    # a later edit goes on a branch rebuilt on the new main, in a new pull request
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)
    code, out, _err = world.sync()
    assert code == 2
    [second] = open_pulls(world)
    assert second["number"] != pull["number"]
    assert git(bare, "rev-parse", f"{BRANCH}~1").strip() == git(bare, "rev-parse", "main").strip()
    assert f"| Done | {slo} |" in git(bare, "show", f"{BRANCH}:postmortems/{TABLE_REL}")


def test_pull_request_closed_without_merging_is_reported_and_replaced(
    world: World, tmp_path: Path
) -> None:
    bare = pull_request_world(world, tmp_path)
    assert world.sync()[0] == 2
    [first] = open_pulls(world)
    world.github.human_close_pull(first["number"])

    code, out, _err = world.sync()

    assert code == 2
    assert any(
        f"#{first['number']}" in n["message"] and "closed without merging" in n["message"]
        for n in notes(out, "push")
    ), out["notes"]
    assert open_pulls(world) == []  # the reviewer's close is respected for this run

    code, out, _err = world.sync()

    assert code == 2
    [fresh] = open_pulls(world)
    assert fresh["number"] != first["number"] and waiting(out)
    assert "| OPS-" in git(bare, "show", f"{BRANCH}:postmortems/{TABLE_REL}")

    world.github.human_merge_pull(fresh["number"])
    code, out, _err = world.sync()
    assert code == 0, out["notes"]
    assert "| OPS-" in world.doc(TABLE_REL)


def test_pull_request_mode_without_a_token_is_a_configuration_error(world: World) -> None:
    world.configure(git_section={"mode": "pull-request"})

    code, _out, err = world.cli("sync", "--once", "--config", str(world.config))

    assert code == 1
    assert "docs.git.pull_request.token" in err and "token_file" in err


def test_pulls_api_of_the_emulator_through_pygithub(world: World, tmp_path: Path) -> None:
    bare = with_upstream(world, tmp_path)
    world.github.git_remote = bare
    git(world.repo, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    client = PullRequests(world.github.url, GITHUB_TOKEN, world.github.repo)
    try:
        assert client.find_open(BRANCH, "main") is None
        pull = client.create(BRANCH, "main", "title", "body")
        assert pull.open and not pull.merged and pull.url.endswith(f"/pull/{pull.number}")
        assert client.find_open(BRANCH, "main") == pull
        assert client.find_open(BRANCH, "other-base") is None
        client.update(pull.number, "new title", "new body")
        assert (client.get(pull.number).title, client.get(pull.number).body) == (
            "new title",
            "new body",
        )
        world.github.human_close_pull(pull.number)
        closed = client.get(pull.number)
        assert not closed.open and not closed.merged
        assert client.find_open(BRANCH, "main") is None
        again = client.create(BRANCH, "main", "again", "body")
        sha = world.github.human_merge_pull(again.number)
        assert client.get(again.number).merged
        assert git(bare, "rev-parse", "main").strip() == sha
        assert world.github.issue_count() == 0  # pull requests are not issues
    finally:
        client.close()
    wrong = PullRequests(world.github.url, GITHUB_TOKEN, "acme/elsewhere")
    with pytest.raises(GitConfigError, match="404"):
        wrong.find_open(BRANCH, "main")
    assert GITHUB_TOKEN not in "\n".join(world.outputs)


def test_pull_request_repo_github_does_not_know_stops_before_any_write(
    world: World, tmp_path: Path
) -> None:
    pull_request_world(world, tmp_path)
    world.configure(
        git_section={
            "mode": "pull-request",
            "pull_request.tracker": "github",
            "pull_request.repo": "acme/elsewhere",
        }
    )

    code, _out, err = world.cli("sync", "--once", "--config", str(world.config))

    assert code == 1
    assert "docs.git.pull_request" in err and "404" in err and "acme/elsewhere" in err
    assert world.jira.issue_count() == 0 and world.github.issue_count() == 0
    assert GITHUB_TOKEN not in "\n".join(world.outputs)


def test_pull_request_settings_reuse_a_github_tracker_or_take_their_own_token_file(
    tmp_path: Path,
) -> None:
    secret = "ghp_prTokenFromAFile4c1d"  # a made-up credential to look for
    (tmp_path / "pr-token").write_text(secret + "\n")
    base = '[trackers.jira]\nkind = "jira"\nurl = "http://127.0.0.1:1"\ntoken = "j-0000"\n'
    own = tmp_path / "own.toml"
    own.write_text(
        base + '[docs.git]\nmode = "pull-request"\n[docs.git.pull_request]\n'
        'repo = "acme/docs"\ntoken_file = "pr-token"\n'
    )
    assert load_config(own, env={}).pull_request_target() == (
        "https://api.github.com",
        secret,
        "acme/docs",
    )
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        base + '[docs.git]\nmode = "pull-request"\n[docs.git.pull_request]\ntracker = "jira"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(wrong, env={})
    assert "docs.git.pull_request.tracker: 'jira' is not a configured GitHub tracker" in str(
        caught.value
    )
    missing = tmp_path / "missing.toml"
    missing.write_text(base + '[docs.git]\nmode = "pull-request"\n')
    with pytest.raises(ConfigError, match=r"pull_request\.token: required"):
        load_config(missing, env={})
    assert secret in secrets_of(load_config(own, env={}))  # so every output redacts it


def test_pull_request_whose_edits_are_no_longer_due_is_closed_not_left_to_be_merged(
    world: World, tmp_path: Path
) -> None:
    """Merged late, a stale pull request would write "Done" over a reopened ticket's row,
    and the next run would push that back and close the ticket again."""
    bare = pull_request_world(world, tmp_path)
    assert world.sync()[0] == 2
    [keys] = open_pulls(world)
    world.github.human_merge_pull(keys["number"])
    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)
    assert world.sync()[0] == 2
    [stale] = open_pulls(world)
    assert f"| Done | {slo} |" in git(bare, "show", f"{BRANCH}:postmortems/{TABLE_REL}")

    world.jira.human_set_status(slo, Status.OPEN)  # reopened before anyone merged
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert open_pulls(world) == []
    closed = [p for p in world.github.pulls() if p["number"] == stale["number"]]
    assert closed[0]["state"] == "closed" and closed[0]["merged"] is False
    assert any(f"#{stale['number']}" in n["message"] for n in notes(out, "pull-request-closed"))
    assert f"| Done | {slo} |" not in world.doc(TABLE_REL)
    code, out, _err = world.sync()  # closed by the tool: not "closed without merging"
    assert code == 0 and not notes(out, "push"), out["notes"]
    assert world.jira.issue(slo)["fields"]["status"] == "To Do"  # not closed again
