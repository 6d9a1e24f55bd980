"""End to end: the real `syncd` CLI over a real git work tree, with the Jira and GitHub
emulators on loopback (`payments/**` → GitHub, everything else → Jira).

Each test builds its own world (`helpers_sync.make_world`): fresh emulators, a git repo
holding three postmortems (a pipe table without a Ticket column, a YAML block, a
checkbox list), and a config TOML pointing at both.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import syncd.sync.context
import syncd.sync.engine
import syncd.sync.writeback
from connectors.registry import build as real_build
from connectors.testing.emulation import Fault
from syncd.model import Status
from tests.helpers_sync import (
    AUTHOR_EMAIL,
    AUTHOR_NAME,
    DOCS,
    GITHUB_ITEMS,
    HUMAN,
    JIRA_ITEMS,
    JIRA_TOKEN,
    LIST_REL,
    TABLE_REL,
    TOKENS,
    YAML_REL,
    World,
    changed_files,
    commit_count,
    diff_hunks,
    git,
    head,
    make_world,
    parsed_items,
)

ALL_ITEMS = JIRA_ITEMS + GITHUB_ITEMS
DOC_PATHS = sorted(f"postmortems/{rel}" for rel in DOCS)


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_config` merges SYNCD_* variables over the file: keep the caller's out."""
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    yield from make_world(tmp_path, capsys)


# ---------------------------------------------------------------------------- helpers
def title_of(world: World, key: str) -> str:
    if key.startswith("OPS-"):
        return world.jira.issue(key)["fields"]["summary"]
    return world.github.issue(key)["title"]


def keyed_items(world: World) -> dict[str, Any]:
    """Every action item that names a ticket, by key (asserting keys are unique)."""
    found: dict[str, Any] = {}
    for rel in DOCS:
        for item in parsed_items(world.docs, rel):
            if item.ticket:
                assert item.ticket not in found, f"{item.ticket} written twice"
                found[item.ticket] = item
    return found


def assert_every_open_item_has_its_ticket(world: World) -> None:
    for rel in DOCS:
        for item in parsed_items(world.docs, rel):
            if item.status.is_closed and item.ticket is None:
                continue  # closed before it ever had a ticket: none is created
            assert item.ticket, f"{rel}:{item.line} {item.action!r} has no ticket"
            assert title_of(world, item.ticket) == item.action, (rel, item.line, item.ticket)
            if rel.startswith("payments/"):
                assert re.fullmatch(r"acme/reliability#\d+", item.ticket), item.ticket
            else:
                assert re.fullmatch(r"OPS-\d+", item.ticket), item.ticket


def jira_markers(world: World) -> list[str]:
    return [
        label
        for issue in world.jira.issues()
        for label in issue["fields"]["labels"]
        if re.fullmatch(r"pm-[0-9a-f]{16}", label)
    ]


def github_markers(world: World) -> list[str]:
    found = []
    for issue in world.github.issues():
        match = re.search(r"postmortem-syncd:marker=(pm-[0-9a-f]{16})", issue["body"] or "")
        assert match, issue["number"]
        found.append(match[1])
    return found


def assert_only_tool_cells_changed(world: World, rev_a: str, rev_b: str) -> None:
    """Every changed line of the diff is an action-item row (old text + its ticket) or the
    header/separator of an added Ticket column, or an inserted YAML `ticket:` key; each
    key names the ticket whose title is that row's action; and stripping those
    tool-owned additions gives back the old text exactly."""
    for rel in DOCS:
        items = parsed_items(world.docs, rel)
        by_line = {item.line: item for item in items}
        first_row = min(item.line for item in items)
        for hunk in diff_hunks(world.repo, rev_a, rev_b, f"postmortems/{rel}"):
            if not hunk.old:  # a pure insertion: only a YAML `ticket:` key may be inserted
                for offset, line in enumerate(hunk.new):
                    match = re.fullmatch(r'\s+ticket: "(OPS-\d+)"', line)
                    assert match, f"{rel}: unexpected inserted line {line!r}"
                    owner = max(
                        (i for i in items if i.line < hunk.new_start + offset),
                        key=lambda i: i.line,
                    )
                    assert owner.ticket == match[1], (rel, line, owner)
                    assert title_of(world, owner.ticket) == owner.action, (rel, line)
                continue
            assert len(hunk.old) == len(hunk.new), (rel, hunk)
            for offset, (old, new) in enumerate(zip(hunk.old, hunk.new, strict=True)):
                lineno = hunk.new_start + offset
                assert new.startswith(old), (rel, old, new)
                added = new[len(old) :]
                item = by_line.get(lineno)
                if item is None:  # the header and separator rows of the table
                    assert lineno in (first_row - 2, first_row - 1), (rel, lineno, new)
                    assert re.fullmatch(r" Ticket \||-+\|", added), (rel, new)
                else:
                    assert added in (f" {item.ticket} |", f" ({item.ticket})"), (rel, new)
                    assert title_of(world, item.ticket) == item.action, (rel, new)


def wrap_connector(monkeypatch: pytest.MonkeyPatch, tracker: str, wrapper: Any) -> None:
    """Patch the connector the CLI builds for `tracker`: `wrapper(connector)` runs on it."""

    def build(name: str, section: dict[str, Any]) -> Any:
        connector = real_build(name, section)
        if name == tracker:
            wrapper(connector)
        return connector

    monkeypatch.setattr(syncd.sync.context, "build", build)


def delete_state(world: World) -> None:
    for path in world.state.parent.glob(world.state.name + "*"):  # the db and its WAL files
        path.unlink()
    assert not world.state.exists()


def with_upstream(world: World, tmp: Path) -> Path:
    bare = tmp / "origin.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(world.repo, "remote", "add", "origin", str(bare))
    git(world.repo, "push", "-q", "-u", "origin", "main")
    return bare


def clone(bare: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(bare), str(where))
    return where


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def human_commit(repo: Path, message: str) -> None:
    git(repo, *HUMAN, "commit", "-q", "-a", "-m", message)


def key_of(world: World, rel: str, action_prefix: str) -> str:
    item = next(i for i in parsed_items(world.docs, rel) if i.action.startswith(action_prefix))
    assert item.ticket, item
    return item.ticket


# ---------------------------------------------------------------------------- 1. first sync
def test_first_sync_creates_one_ticket_per_open_item_and_writes_keys_back(world: World) -> None:
    base = head(world.repo)
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert out["summary"]["created"] == ALL_ITEMS
    assert out["summary"]["errors"] == 0
    assert world.jira.issue_count() == JIRA_ITEMS
    assert world.github.issue_count() == GITHUB_ITEMS
    # exactly one ticket per item: distinct markers, every open row names its own ticket
    assert len(set(jira_markers(world))) == JIRA_ITEMS
    assert len(set(github_markers(world))) == GITHUB_ITEMS
    assert len(keyed_items(world)) == ALL_ITEMS
    assert_every_open_item_has_its_ticket(world)

    # each doc style got its keys the way it spells them
    table = world.doc(TABLE_REL).splitlines()
    assert "| # | Action | Owner | Due | Priority | Status | Ticket |" in table
    assert "|---|--------|-------|-----|----------|--------|--------|" in table
    rows = [line for line in table if re.match(r"\| \d \|", line)]
    assert len(rows) == 3 and all(re.search(r"\| Open \| OPS-\d+ \|$", r) for r in rows)
    assert len(re.findall(r'^    ticket: "OPS-\d+"$', world.doc(YAML_REL), re.M)) == 2
    checklist = [line for line in world.doc(LIST_REL).splitlines() if line.startswith("- [")]
    assert [bool(re.search(r" \(acme/reliability#\d+\)$", line)) for line in checklist] == [
        True,
        True,
        False,  # ticked before the first sync: no ticket
    ]

    # one commit by the configured author, touching only the docs
    assert commit_count(world.repo) == 2
    assert git(world.repo, "rev-parse", "HEAD~1").strip() == base
    assert git(world.repo, "log", "-1", "--format=%an|%ae").strip() == (
        f"{AUTHOR_NAME}|{AUTHOR_EMAIL}"
    )
    assert changed_files(world.repo) == DOC_PATHS
    assert out["summary"]["commit"] == head(world.repo)
    assert git(world.repo, "status", "--porcelain") == ""
    assert_only_tool_cells_changed(world, "HEAD~1", "HEAD")


# ---------------------------------------------------------------------------- 2. no change
def test_rerun_without_changes_makes_no_writes_and_no_commit(world: World) -> None:
    assert world.sync()[0] == 0
    before, commits = world.doc_bytes(), commit_count(world.repo)

    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0
    assert world.writes() == {"jira": 0, "github": 0}, world.counts()
    assert world.reads()["jira"] <= 2, world.jira.request_log
    assert world.reads()["github"] <= 2, world.github.request_log
    assert out["summary"]["commit"] is None
    assert commit_count(world.repo) == commits
    assert world.doc_bytes() == before


def test_rerun_without_changes_default_jira_config_reads_at_most_twice(world: World) -> None:
    assert world.sync()[0] == 0
    world.reset_logs()
    assert world.sync()[0] == 0
    assert world.writes() == {"jira": 0, "github": 0}
    assert world.reads()["jira"] <= 2, world.jira.request_log


# ---------------------------------------------------------------------------- 3. tracker status
def test_owner_closing_tickets_updates_exactly_those_status_cells(world: World) -> None:
    assert world.sync()[0] == 0
    before = {rel: world.doc(rel) for rel in DOCS}
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    pool = key_of(world, YAML_REL, "Add connection pool")
    lag = key_of(world, LIST_REL, "Alert when replica lag")
    runbook = key_of(world, LIST_REL, "Add a runbook step")
    world.jira.human_set_status(slo, Status.DONE)
    world.jira.human_set_status(pool, Status.WONT_DO)
    world.github.human_set_status(lag, Status.DONE)
    world.github.human_set_status(runbook, Status.WONT_DO)
    commits = commit_count(world.repo)

    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert out["summary"]["created"] == 0
    assert world.writes() == {"jira": 0, "github": 0}, world.counts()  # only the docs move
    expected = {
        TABLE_REL: before[TABLE_REL].replace(f"| P0 | Open | {slo} |", f"| P0 | Done | {slo} |"),
        YAML_REL: before[YAML_REL].replace(
            '    status: "Open"\n    priority: "P1"', '    status: "Won\'t Do"\n    priority: "P1"'
        ),
        LIST_REL: before[LIST_REL]
        .replace("- [ ] Alert when replica lag", "- [x] Alert when replica lag")
        .replace("- [ ] Add a runbook step", "- [-] Add a runbook step"),
    }
    for rel in DOCS:
        assert expected[rel] != before[rel]
        assert world.doc(rel) == expected[rel], rel
    assert commit_count(world.repo) == commits + 1
    assert changed_files(world.repo) == DOC_PATHS
    assert git(world.repo, "log", "-1", "--format=%an").strip() == AUTHOR_NAME
    statuses = {item.ticket: item.status for item in keyed_items(world).values()}
    assert statuses[slo] is Status.DONE and statuses[pool] is Status.WONT_DO
    assert statuses[lag] is Status.DONE and statuses[runbook] is Status.WONT_DO

    world.reset_logs()
    assert world.sync()[0] == 0  # converged: nothing flaps back
    assert world.writes() == {"jira": 0, "github": 0}
    assert commit_count(world.repo) == commits + 1


# ---------------------------------------------------------------------------- 4. doc edits
def test_doc_edits_flow_to_the_tickets(world: World) -> None:
    assert world.sync()[0] == 0
    gate = key_of(world, TABLE_REL, "Gate config")
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    rollback = key_of(world, TABLE_REL, "Build one-command")
    pool = key_of(world, YAML_REL, "Add connection pool")
    lag = key_of(world, LIST_REL, "Alert when replica lag")
    runbook = key_of(world, LIST_REL, "Add a runbook step")
    table, yaml_doc, checklist = (world.docs / r for r in (TABLE_REL, YAML_REL, LIST_REL))
    edit(table, "Gate config changes behind the CI test suite", "Gate every config change on CI")
    edit(table, "| @maya | 2026-06-10 | P0 | Open |", "| @lee | 2026-06-10 | P0 | Open |")
    edit(table, "| @lee | 2026-06-18 | P2 | Open |", "| @lee | 2026-06-25 | P2 | Done |")
    edit(
        yaml_doc,
        'due: "2026-06-03"\n    status: "Open"',
        'due: "2026-06-30"\n    status: "Won\'t do"',
    )
    edit(
        checklist,
        "- [ ] Alert when replica lag exceeds 60 s (@sri, due 2026-07-20)",
        "- [ ] Alert when replica lag exceeds 30 s (@maya, due 2026-07-22)",
    )
    edit(checklist, "- [ ] Add a runbook step", "- [x] Add a runbook step")
    human_commit(world.repo, "Tighten the follow-ups")
    commits = commit_count(world.repo)

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert out["summary"]["created"] == 0
    assert world.jira.issue_count() == JIRA_ITEMS and world.github.issue_count() == GITHUB_ITEMS
    fields = {key: world.jira.issue(key)["fields"] for key in (gate, slo, rollback, pool)}
    assert fields[gate]["summary"] == "Gate every config change on CI"
    assert fields[slo]["assignee"] == "5b10ac8d82e05b22cc7d4ef7"  # @lee
    assert fields[rollback]["duedate"] == "2026-06-25"
    assert fields[rollback]["status"] == "Done"
    assert fields[pool]["duedate"] == "2026-06-30"
    assert fields[pool]["status"] == "Won't Do"
    issue = world.github.issue(lag)
    assert issue["title"] == "Alert when replica lag exceeds 30 s"
    assert [a["login"] for a in issue["assignees"]] == ["maya"]
    assert "**Due:** 2026-07-22" in issue["body"] and "**Due:** 2026-07-20" not in issue["body"]
    assert issue["state"] == "open"
    closed = world.github.issue(runbook)
    assert (closed["state"], closed["state_reason"]) == ("closed", "completed")
    # the doc already says all of it: nothing to write back or commit
    assert commit_count(world.repo) == commits
    assert git(world.repo, "status", "--porcelain") == ""

    world.reset_logs()
    assert world.sync()[0] == 0
    assert world.writes() == {"jira": 0, "github": 0}, world.counts()


# ---------------------------------------------------------------------------- 5. lost state
@pytest.mark.parametrize("how", ["state-reset", "delete-file"])
def test_lost_state_readopts_tickets_without_duplicates(world: World, how: str) -> None:
    assert world.sync()[0] == 0
    before, commits = world.doc_bytes(), commit_count(world.repo)
    if how == "state-reset":
        code, out, _err = world.cli("state", "reset", "--config", str(world.config))
        assert code == 1 and world.state.exists()  # refuses without --yes
        code, out, _err = world.cli("state", "reset", "--yes", "--config", str(world.config))
        assert code == 0 and "reset" in out
    else:
        delete_state(world)

    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert out["summary"]["created"] == 0
    assert world.post_count() == 0, world.counts()
    assert world.jira.issue_count() == JIRA_ITEMS and world.github.issue_count() == GITHUB_ITEMS
    assert world.doc_bytes() == before
    assert commit_count(world.repo) == commits
    _code, status = world.status()
    assert sorted(i["ticket"] for i in status["items"]) == sorted(keyed_items(world))


def test_state_lost_after_write_back_failed_readopts_by_marker(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tickets are created but the docs cannot be written (read-only file system; we
    run as root in CI, where chmod would not stop the write); then the state is lost."""
    before = world.doc_bytes()

    def read_only(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(syncd.sync.writeback, "write_atomic", read_only)
    code, out, _err = world.sync()
    monkeypatch.undo()

    assert code == 2
    assert {n["path"] for n in out["notes"] if n["kind"] == "write-failed"} == set(DOCS)
    assert world.jira.issue_count() == JIRA_ITEMS and world.github.issue_count() == GITHUB_ITEMS
    assert world.doc_bytes() == before and commit_count(world.repo) == 1

    delete_state(world)
    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert out["summary"]["created"] == 0 and world.post_count() == 0
    assert world.jira.issue_count() == JIRA_ITEMS and world.github.issue_count() == GITHUB_ITEMS
    assert_every_open_item_has_its_ticket(world)
    assert commit_count(world.repo) == 2
    assert_only_tool_cells_changed(world, "HEAD~1", "HEAD")


def test_crash_after_create_then_state_lost_readopts_by_marker(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies right after Jira created the issues (before keys are stored or
    written back), and the state file is lost with it."""

    def die_after_create(connector: Any) -> None:
        create_many = connector.create_many

        def crashing(drafts: Any) -> Any:
            create_many(drafts)
            raise KeyboardInterrupt  # SIGINT between the create and the write-back

        connector.create_many = crashing

    wrap_connector(monkeypatch, "jira", die_after_create)
    before = world.doc_bytes()
    with pytest.raises(KeyboardInterrupt):
        world.sync()
    monkeypatch.undo()
    assert world.jira.issue_count() == JIRA_ITEMS
    assert world.doc_bytes() == before

    delete_state(world)
    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert world.jira.issue_count() == JIRA_ITEMS and world.github.issue_count() == GITHUB_ITEMS
    assert world.jira.counts().get("POST", 0) == 0, world.jira.request_log
    assert out["summary"]["created"] == GITHUB_ITEMS  # GitHub was never reached before
    assert_every_open_item_has_its_ticket(world)
    assert_only_tool_cells_changed(world, "HEAD~1", "HEAD")


# ---------------------------------------------------------------------------- 6. 502 after create
def _post_to(suffix: str) -> Any:
    return lambda method, path: method == "POST" and path.endswith(suffix)


def test_jira_502_after_bulk_create_creates_no_duplicate(world: World) -> None:
    world.jira.faults.add(Fault(502, match=_post_to("/issue/bulk"), after_apply=True))
    jira_docs = {rel: world.doc(rel) for rel in (TABLE_REL, YAML_REL)}

    code, out, _err = world.sync()

    assert code == 2
    assert world.jira.faults.injected["502+applied"] == 1
    assert world.jira.issue_count() == JIRA_ITEMS  # the server did create them
    unknown = [n for n in out["notes"] if n["kind"] == "error"]
    assert len(unknown) == JIRA_ITEMS and all("unknown" in n["message"] for n in unknown)
    assert {rel: world.doc(rel) for rel in jira_docs} == jira_docs  # no key was learnt

    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert world.jira.issue_count() == JIRA_ITEMS
    assert len(world.jira.requests_to("POST", "/issue/bulk")) == 1  # the faulted one, ever
    assert len(set(jira_markers(world))) == JIRA_ITEMS
    keys = [k for k in keyed_items(world) if k.startswith("OPS-")]
    assert sorted(keys) == sorted(world.jira.keys())
    for key, item in keyed_items(world).items():
        assert title_of(world, key) == item.action


def test_jira_502_after_bulk_create_keeps_the_docs_status(world: World) -> None:
    world.jira.faults.add(Fault(502, match=_post_to("/issue/bulk"), after_apply=True))
    assert world.sync()[0] == 2
    assert world.sync()[0] == 0
    saturation = next(
        i for i in parsed_items(world.docs, YAML_REL) if i.action.startswith("Include pool")
    )
    assert saturation.status is Status.IN_PROGRESS, world.doc(YAML_REL)
    assert world.jira.issue(saturation.ticket)["fields"]["status"] == "In Progress"


def test_failed_initial_transition_is_retried_on_the_next_run(world: World) -> None:
    world.jira.faults.add(Fault(400, match=_post_to("/transitions")))
    world.sync()
    saturation = next(
        i for i in parsed_items(world.docs, YAML_REL) if i.action.startswith("Include pool")
    )
    assert saturation.ticket and world.jira.issue(saturation.ticket)["fields"]["status"] == "To Do"

    code, _out, _err = world.sync()

    assert code == 0
    assert world.jira.issue(saturation.ticket)["fields"]["status"] == "In Progress"
    assert "In Progress" in world.doc(YAML_REL)


def test_github_502_after_create_creates_no_duplicate(world: World) -> None:
    world.github.faults.add(
        Fault(502, match=_post_to("/repos/acme/reliability/issues"), after_apply=True)
    )

    code, out, _err = world.sync()

    assert code == 2
    assert world.github.faults.injected["502+applied"] == 1
    assert world.github.issue_count() == GITHUB_ITEMS
    lines = [line for line in world.doc(LIST_REL).splitlines() if line.startswith("- [ ]")]
    assert [("acme/reliability#" in line) for line in lines] == [False, True]
    assert any(
        n["kind"] == "error" and n["path"] == LIST_REL and "unknown" in n["message"]
        for n in out["notes"]
    )

    world.reset_logs()
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert world.github.issue_count() == GITHUB_ITEMS
    assert world.github.counts().get("POST", 0) == 0
    assert len(set(github_markers(world))) == GITHUB_ITEMS
    assert_every_open_item_has_its_ticket(world)


# ---------------------------------------------------------------------------- 7. concurrent edit
NEW_ROW_4 = "| 4 | Add a canary stage for config pushes | @maya | 2026-06-20 | P1 | Open |\n"
NEW_ROW_5 = "| 5 | Alert on feature-flag flips in production | @sri | 2026-06-22 | P2 | Open |\n"


def _human_edits_table_while(world: World, monkeypatch: pytest.MonkeyPatch, edits: Any) -> None:
    """While the Jira connector is creating tickets, a human saves the table doc."""

    def meddle(connector: Any) -> None:
        create_many = connector.create_many

        def creating(drafts: Any) -> Any:
            outcomes = create_many(drafts)
            edits(world.docs / TABLE_REL)
            return outcomes

        connector.create_many = creating

    wrap_connector(monkeypatch, "jira", meddle)


def test_human_edit_during_sync_is_kept_and_keys_land_on_the_right_rows(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.sync()[0] == 0
    gate = key_of(world, TABLE_REL, "Gate config")
    path = world.docs / TABLE_REL
    edit(path, "\n\n## Lessons", "\n" + NEW_ROW_4.rstrip("\n") + "\n\n## Lessons")
    human_commit(world.repo, "One more follow-up")

    def human(doc: Path) -> None:  # append a row, reword a row that already has its key
        text = doc.read_text(encoding="utf-8")
        text = text.replace("Gate config changes behind the CI test suite", "Gate config on CI")
        text = text.replace("\n\n## Lessons", "\n" + NEW_ROW_5.rstrip("\n") + "\n\n## Lessons")
        doc.write_text(text, encoding="utf-8")

    _human_edits_table_while(world, monkeypatch, human)
    code, out, _err = world.sync()
    monkeypatch.undo()

    # the human's save is uncommitted work: not written into, not committed, reported
    assert code == 2
    assert any(
        n["kind"] == "git" and n.get("path") == TABLE_REL and "uncommitted changes" in n["message"]
        for n in out["notes"]
    )
    assert out["summary"]["created"] == 1
    saved = world.doc(TABLE_REL)
    assert "| Gate config on CI |" in saved and "| 5 | Alert on feature-flag flips" in saved
    rows = {i.action: i.ticket for i in parsed_items(world.docs, TABLE_REL)}
    assert rows["Add a canary stage for config pushes"] is None  # waits for a clean file
    assert git(world.repo, "status", "--porcelain").strip() == f"M postmortems/{TABLE_REL}"
    assert git(world.repo, "log", "-1", "--format=%an").strip() != AUTHOR_NAME

    human_commit(world.repo, "Reword, and one more")
    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert out["summary"]["created"] == 1
    assert world.jira.issue_count() == JIRA_ITEMS + 2
    rows = {i.action: i.ticket for i in parsed_items(world.docs, TABLE_REL)}
    assert rows["Gate config on CI"] == gate and title_of(world, gate) == "Gate config on CI"
    canary = rows["Add a canary stage for config pushes"]
    assert canary and title_of(world, canary) == "Add a canary stage for config pushes"
    flips = rows["Alert on feature-flag flips in production"]
    assert flips and title_of(world, flips) == "Alert on feature-flag flips in production"
    assert git(world.repo, "status", "--porcelain") == ""


def test_row_reworded_while_its_ticket_is_created_gets_no_duplicate(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def human(doc: Path) -> None:
        edit(doc, "| Build one-command flag rollback |", "| Build a one-command flag rollback |")
        edit(doc, "\n\n## Lessons", "\n" + NEW_ROW_4.rstrip("\n") + "\n\n## Lessons")

    _human_edits_table_while(world, monkeypatch, human)
    assert world.sync()[0] == 2  # the doc is saved, not committed: the tool waits
    monkeypatch.undo()
    human_commit(world.repo, "Reword, and one more")
    assert world.sync()[0] == 0

    text = world.doc(TABLE_REL)
    assert "| Build a one-command flag rollback |" in text
    assert "| 4 | Add a canary stage for config pushes |" in text
    assert world.jira.issue_count() == JIRA_ITEMS + 1  # the new row only
    rows = {i.action: i.ticket for i in parsed_items(world.docs, TABLE_REL)}
    assert all(rows.values()), rows
    assert len(set(rows.values())) == len(rows)


# ---------------------------------------------------------------------------- 8. git push
def test_commits_are_pushed_to_the_upstream(world: World, tmp_path: Path) -> None:
    bare = with_upstream(world, tmp_path)

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert git(bare, "rev-parse", "main").strip() == head(world.repo) == out["summary"]["commit"]
    assert git(bare, "log", "-1", "--format=%an").strip() == AUTHOR_NAME


def test_remote_that_moved_is_rebased_onto_and_pushed(world: World, tmp_path: Path) -> None:
    bare = with_upstream(world, tmp_path)
    assert world.sync()[0] == 0
    other = clone(bare, tmp_path / "other")
    edit(
        other / "postmortems" / YAML_REL,
        "# Payments DB connection pool exhaustion",
        "# Payments DB connection pool exhaustion (reviewed)",
    )
    human_commit(other, "Mark as reviewed")
    git(other, "push", "-q")
    human_sha = head(other)
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert head(world.repo) == git(bare, "rev-parse", "main").strip()
    assert git(world.repo, "rev-parse", "HEAD~1").strip() == human_sha  # rebased on top
    assert git(world.repo, "log", "-1", "--format=%an").strip() == AUTHOR_NAME
    assert changed_files(world.repo) == [f"postmortems/{TABLE_REL}"]
    assert "(reviewed)" in world.doc(YAML_REL)
    assert f"| P0 | Done | {slo} |" in world.doc(TABLE_REL)
    assert git(world.repo, "status", "--porcelain") == ""


def _conflicting_push(world: World, tmp_path: Path) -> tuple[Path, str, str]:
    """The tool's status edit and a human's pushed edit touch the same table row.

    The tool pulls before each run; `pull = false` stands for a human pushing between
    that pull and the tool's push, which is the window these tests are about.
    """
    bare = with_upstream(world, tmp_path)
    assert world.sync()[0] == 0
    world.configure(git_section={"pull": False})
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    other = clone(bare, tmp_path / "other")
    edit(other / "postmortems" / TABLE_REL, f"| P0 | Open | {slo} |", f"| P1 | Open | {slo} |")
    human_commit(other, "SLO alert is P1")
    git(other, "push", "-q")
    world.jira.human_set_status(slo, Status.DONE)
    return bare, slo, head(other)


def test_conflicting_remote_change_drops_own_commit_and_human_wins(
    world: World, tmp_path: Path
) -> None:
    bare, slo, human_sha = _conflicting_push(world, tmp_path)

    code, out, _err = world.sync()

    assert code == 2  # the dropped edit is retried by the next run
    assert any(n["kind"] == "push" and "dropped" in n["message"] for n in out["notes"])
    assert git(bare, "rev-parse", "main").strip() == human_sha
    assert head(world.repo) == human_sha
    assert f"| P1 | Open | {slo} |" in world.doc(TABLE_REL)
    assert git(world.repo, "status", "--porcelain") == ""
    assert world.jira.issue(slo)["fields"]["status"] == "Done"  # the owner's close stands


def test_conflicting_remote_change_next_run_reapplies_the_tools_edit(
    world: World, tmp_path: Path
) -> None:
    bare, slo, human_sha = _conflicting_push(world, tmp_path)
    assert world.sync()[0] == 2
    world.configure()  # pulling again (the default)

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert world.jira.issue(slo)["fields"]["status"] == "Done"
    assert f"| P1 | Done | {slo} |" in world.doc(TABLE_REL)
    assert git(world.repo, "rev-parse", "HEAD~1").strip() == human_sha
    assert git(bare, "rev-parse", "main").strip() == head(world.repo)


def test_each_run_pulls_what_people_pushed_first(world: World, tmp_path: Path) -> None:
    bare, slo, human_sha = _conflicting_push(world, tmp_path)
    world.configure()  # default: pull --rebase before reading the docs

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert git(world.repo, "rev-parse", "HEAD~1").strip() == human_sha
    assert f"| P1 | Done | {slo} |" in world.doc(TABLE_REL)
    assert git(bare, "rev-parse", "main").strip() == head(world.repo)


# ---------------------------------------------------------------------------- 9. plan, status
def test_plan_status_and_no_token_in_any_output(world: World) -> None:
    world.configure(log_level="debug")
    before = world.doc_bytes()

    proc = world.console("plan", "--config", str(world.config), "--format", "json")

    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    creates = [
        (p["path"], a["draft"]["title"])
        for p in plan
        for a in p["actions"]
        if a["action"] == "Create"
    ]
    assert len(creates) == ALL_ITEMS
    expected = {
        (rel, item.action)
        for rel in DOCS
        for item in parsed_items(world.docs, rel)
        if not item.status.is_closed
    }
    assert set(creates) == expected
    assert {p["tracker"] for p in plan if p["path"] == LIST_REL} == {"github"}
    assert {p["tracker"] for p in plan if p["path"] != LIST_REL} == {"jira"}
    assert world.writes() == {"jira": 0, "github": 0}, world.counts()
    assert world.jira.issue_count() == 0 and world.github.issue_count() == 0
    assert world.doc_bytes() == before and commit_count(world.repo) == 1

    code, text, _err = world.cli("plan", "--config", str(world.config))
    assert code == 0 and f"plan: {ALL_ITEMS} to create" in text

    assert world.sync()[0] == 0
    code, status = world.status()
    assert code == 0
    assert sorted(i["ticket"] for i in status["items"]) == sorted(keyed_items(world))
    assert {(i["path"], i["ticket"]) for i in status["items"]} == {
        (rel, item.ticket) for rel in DOCS for item in parsed_items(world.docs, rel) if item.ticket
    }
    assert status["pending_intents"] == []

    # a rejected credential: the error is reported, the token is not
    wrong = "wrong-jira-token-0d4c2b"
    world.configure(log_level="debug", jira={"token": wrong})
    code, out, _err = world.sync()
    assert code == 1  # a rejected token: a human must act (issue 14: exit codes)
    assert any(n["kind"] == "listing-failed" and "401" in n["message"] for n in out["notes"])

    outputs = "\n".join(world.outputs)
    assert "sync finished" in outputs  # the logs were captured too
    for secret in (*TOKENS, wrong):
        assert secret not in outputs
    for secret in (JIRA_TOKEN, wrong):
        basic = base64.b64encode(f"syncd-bot@example.com:{secret}".encode()).decode()
        assert basic not in outputs


# ---------------------------------------------------------------------------- 10. malformed docs
BROKEN_YAML = """\
# Cache stampede

## Action items

```yaml
action_items:
  - item: "Add request coalescing
    owner: [
```
"""


def test_malformed_docs_are_reported_and_the_rest_is_synced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs: dict[str, Any] = {
        **DOCS,
        "bad-utf8.md": b"# Bad bytes\n\nfine\n\xff\xfe not UTF-8\n",
        "broken-yaml.md": BROKEN_YAML,
    }
    gen = make_world(tmp_path, capsys, docs)
    world = next(gen)
    try:
        bad = {rel: (world.docs / rel).read_bytes() for rel in ("bad-utf8.md", "broken-yaml.md")}

        code, out, err = world.sync()

        assert code == 0, out["notes"]  # a doc problem is reported, not a failure
        assert out["summary"]["errors"] == 0 and out["summary"]["created"] == ALL_ITEMS
        problems = {p["path"]: p for p in out["problems"]}
        assert set(problems) == {"bad-utf8.md", "broken-yaml.md"}
        assert problems["bad-utf8.md"]["line"] == 4
        assert "UTF-8" in problems["bad-utf8.md"]["message"]
        assert 6 <= problems["broken-yaml.md"]["line"] <= 9
        assert "YAML" in problems["broken-yaml.md"]["message"]
        logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert {(e["path"], e["line"]) for e in logged if e.get("event") == "doc problem"} == {
            (p["path"], p["line"]) for p in out["problems"]
        }
        assert_every_open_item_has_its_ticket(world)
        assert changed_files(world.repo) == DOC_PATHS
        assert {rel: (world.docs / rel).read_bytes() for rel in bad} == bad

        # people reading the console log and the plan see file and line too
        world.configure(log_format="console")
        code, out_text, err = world.cli("sync", "--once", "--config", str(world.config))
        assert code == 0
        # plain output carries each problem once, on stdout; the log does not repeat it
        assert "bad-utf8.md:4" in out_text and "broken-yaml.md" in out_text
        assert "bad-utf8.md" not in err
        code, text, _err = world.cli("plan", "--config", str(world.config))
        assert code == 0
        assert any(
            "doc problem: invalid UTF-8" in line and "bad-utf8.md:4" in line
            for line in text.splitlines()
        ), text
    finally:
        gen.close()


# ---------------------------------------------------------------------------- console script
def test_console_script_sync_roundtrip(world: World) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_CONFIG"] = str(world.config)

    first = world.console("sync", "--once", env=env)
    assert first.returncode == 0, first.stderr
    assert world.jira.issue_count() == JIRA_ITEMS and world.github.issue_count() == GITHUB_ITEMS
    assert_every_open_item_has_its_ticket(world)
    assert commit_count(world.repo) == 2

    world.reset_logs()
    again = world.console("sync", "--once", "--format", "json", env=env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["summary"]
    assert summary["created"] == 0 and summary["commit"] is None
    assert world.writes() == {"jira": 0, "github": 0}

    status = world.console("status", env=env)
    assert status.returncode == 0
    assert f"status: {ALL_ITEMS} items, 0 failing, 0 pending creates, 0 conflicts" in status.stdout
    outputs = "\n".join(world.outputs)
    assert all(secret not in outputs for secret in TOKENS)


def test_deleted_row_keeps_its_ticket_and_a_similar_new_row_gets_its_own(world: World) -> None:
    """A row whose key reached the doc and was then deleted is 'removed', not an orphan
    for a similar new row to take over (that would retitle someone's ticket)."""
    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    before = world.jira.issue_count()
    path = world.docs / TABLE_REL
    lines = path.read_text().split("\n")
    row = next(i for i, line in enumerate(lines) if slo in line)
    lines[row] = (
        "| 2 | Add a page-severity SLO alert on checkout latency | @maya | 2026-06-10 | P0 | Open | |"
    )
    path.write_text("\n".join(lines))
    human_commit(world.repo, "Latency, not errors")

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert world.jira.issue_count() == before + 1
    assert title_of(world, slo) == "Add a page-severity SLO alert on checkout errors"
    assert any(n["kind"] == "removed-from-doc" and slo in n["message"] for n in out["notes"])


def test_git_lock_left_by_a_killed_run_is_cleared(world: World) -> None:
    """SIGKILL inside `git commit` leaves .git/index.lock; git refuses to work until it is
    gone. The next run removes it when the state says the git command was ours and its
    process is dead."""
    import socket
    import subprocess
    import sys

    from syncd.sync.state import StateStore

    assert world.sync()[0] == 0
    slo = key_of(world, TABLE_REL, "Add a page-severity")
    world.jira.human_set_status(slo, Status.DONE)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with StateStore.open(world.state) as state:
        state.meta_set("git_operation_holder", f"{socket.gethostname()}:{dead}:git")
    lock = world.repo / ".git" / "index.lock"
    lock.write_text("")

    code, out, _err = world.sync()

    assert code == 0, out["notes"]
    assert not lock.exists()
    # said once, as what it is: cleared debris, not a git failure the run left undone
    assert [n["kind"] for n in out["notes"] if "index.lock" in n["message"]] == ["recovered"]
    assert f"| Done | {slo} |" in world.doc(TABLE_REL)
    assert git(world.repo, "status", "--porcelain") == ""
