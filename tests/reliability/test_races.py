"""Races with humans: a doc edited between the tool's read and its write.

The `Engine` runs in-process with its connectors' classes swapped for racy subclasses:
the first call of the chosen connector method (`create_many`, `list_changed_since` or
`set_status`) does the real work and then performs a human edit of the document before
returning, i.e. after the engine read the doc and before it writes back. Kinds of edit:
a row added, rows reordered, an action reworded, prose edited, the file renamed, the
file deleted. Phases: the cold sync that creates tickets ("create"), a sync writing a
status a person set in the tracker ("status"), a sync pushing a status a person set in
the doc ("push"). After the racing run, clean runs follow until nothing changes.

Asserted per race: every line the human wrote is there afterwards (modulo the cells the
tool owns), the doc parses to the human's items, no file the human removed came back,
and no duplicate: one ticket per action item, no orphan ticket for a live item.

The git variant: a second clone pushes a human commit while the tool runs, so the
tool's push is rejected and it must rebase (or drop its commit and re-plan): the
remote ends with the human's change and every key, and no duplicate ticket.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.registry import build
from connectors.testing.github import GitHubEmulator
from connectors.testing.jira import JiraEmulator
from syncd.common import logs
from syncd.config import load_config
from syncd.documents.parser import parse_text
from syncd.model import Status
from syncd.sync.engine import Engine
from syncd.sync.state import StateStore
from tests.reliability import report
from tests.reliability.harness import (
    HUMAN_GIT,
    SECRETS,
    Rig,
    action_items,
    canonical_key,
    capture,
    git,
    github_markers,
    human_view,
    item_tuple,
    jira_markers,
    render_doc,
    start_emulators,
)

SEED = 7_000_000
RACES_PER_CASE = 6
KINDS = ("add_row", "reorder", "edit_text", "edit_prose", "rename", "delete")
PHASES = ("create", "status", "push")
HUMAN_LINE = "Human note added during the sync: keep this line ✍️ | with a pipe."


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[JiraEmulator, GitHubEmulator]]:
    pair = start_emulators()
    yield pair
    for emulator in pair:
        emulator.stop()


# ------------------------------------------------------------------------------ running
def make_racy(connector: Any, point: str, fire: Callable[[], None]) -> None:
    """Swap the connector's class for a subclass whose `point` call edits the doc."""
    base = type(connector)

    class Racy(base):  # type: ignore[misc, valid-type]
        def create_many(self, drafts: Any) -> Any:
            out = base.create_many(self, drafts)
            if point == "create_many":
                fire()
            return out

        def list_changed_since(self, since: Any) -> Any:
            out = list(base.list_changed_since(self, since))
            if point == "list_changed_since":
                fire()
            return iter(out)

        def set_status(self, key: str, status: Status) -> Any:
            out = base.set_status(self, key, status)
            if point == "set_status":
                fire()
            return out

    connector.__class__ = Racy


def run_engine(
    rig: Rig, point: str | None = None, edit: Callable[[], None] | None = None
) -> tuple[Any, bool]:
    settings = load_config(rig.config)
    fired: list[bool] = []

    def fire() -> None:
        if not fired and edit is not None:
            fired.append(True)
            edit()

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        logs.configure("json", "warning", SECRETS)
        connectors = {n: build(n, dict(s)) for n, s in settings.trackers.items()}
        if point is not None:
            for connector in connectors.values():
                make_racy(connector, point, fire)
        try:
            with StateStore.open(settings.state.path) as state:
                result = Engine(settings, state, connectors).run()
        finally:
            for connector in connectors.values():
                connector.close()
    capture(out.getvalue(), err.getvalue())
    return result, bool(fired)


# ------------------------------------------------------------------------------ human edits
@dataclass
class Race:
    rig: Rig
    rel: str
    fmt: str
    tracker: str
    rng: random.Random
    human_text: str | None = None  # the doc as the human left it (None: deleted)
    final_rel: str = ""
    added_action: str | None = None

    @property
    def path(self) -> Path:
        return self.rig.docs / self.rel

    def item_spans(self, lines: list[str]) -> list[tuple[int, int]]:
        """(start, end) line-index ranges of each action item, in document order."""
        doc = parse_text("\n".join(lines))
        starts = [i.line - 1 for i in doc.action_items]
        if self.fmt != "yaml":
            return [(s, s + 1) for s in starts]
        spans = []
        for s in starts:
            e = s + 1
            while (
                e < len(lines) and lines[e].startswith("    ") and not lines[e].startswith("  - ")
            ):
                e += 1
            spans.append((s, e))
        return spans

    def new_item_lines(self, action: str) -> list[str]:
        if self.fmt == "table":
            return [f"| 9 | {action} | @lee | 2026-09-01 | P2 | Open |  |"]
        if self.fmt == "list":
            return [f"- [ ] {action} (@lee, due 2026-09-01)"]
        return [
            f'  - item: "{action}"',
            '    owner: "@lee"',
            '    due: "2026-09-01"',
            '    status: "Open"',
            '    priority: "P2"',
        ]

    def edit(self, kind: str) -> None:
        """The human's edit, applied to whatever the file says right now."""
        if kind == "delete":
            self.path.unlink()
            self.human_text = None
            return
        if kind == "rename":
            new = self.path.with_name("renamed-" + self.path.name)
            self.path.rename(new)
            self.final_rel = new.relative_to(self.rig.docs).as_posix()
            self.human_text = new.read_text(encoding="utf-8")
            return
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        spans = self.item_spans(lines)
        if kind == "add_row":
            self.added_action = f"Human-added follow-up {self.rng.randrange(10**6)}"
            at = self.rng.choice(spans)[1]
            lines[at:at] = self.new_item_lines(self.added_action)
        elif kind == "reorder":
            blocks = [lines[s:e] for s, e in spans]
            order = list(range(len(blocks)))
            while order == sorted(order):
                self.rng.shuffle(order)
            start, end = spans[0][0], spans[-1][1]
            lines[start:end] = [ln for k in order for ln in blocks[k]]
        elif kind == "edit_text":
            s, _e = self.rng.choice(spans)
            doc = parse_text(text)
            item = next(i for i in doc.action_items if i.line - 1 == s)
            lines[s] = lines[s].replace(item.action, item.action + " — reworded by a human", 1)
        elif kind == "edit_prose":
            idx = lines.index("## Lessons") + 1
            lines.insert(idx, HUMAN_LINE)
            lines = [
                ln.replace("the pager fired late", "the pager fired 9 min late") for ln in lines
            ]
        new_text = "\n".join(lines)
        self.path.write_text(new_text, encoding="utf-8")
        self.human_text = new_text

    def set_doc_status(self, index: int, word: str) -> None:
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        s, e = self.item_spans(lines)[index]
        if self.fmt == "table":
            lines[s] = (
                lines[s]
                .replace("| Open |", f"| {word} |")
                .replace("| In Progress |", f"| {word} |")
            )
        elif self.fmt == "list":
            lines[s] = lines[s].replace("[ ]", "[x]", 1)
        else:
            for k in range(s, e):
                lines[k] = re.sub(r'status: "[^"]*"', f'status: "{word}"', lines[k])
        self.path.write_text("\n".join(lines), encoding="utf-8")


def new_race(
    tmp: Path, emulators: tuple[JiraEmulator, GitHubEmulator], rng: random.Random, race_id: str
) -> Race:
    fmt = rng.choice(("table", "list", "yaml"))
    tracker = rng.choice(("jira", "github"))
    items = action_items(rng, int(race_id.split("-")[-1]), rng.randint(3, 5))
    for it in items:
        it["status"] = "Open"
    rel = f"{'payments/' if tracker == 'github' else '2026/'}{race_id}.md"
    text = render_doc(f"race {race_id}", fmt, items, seed=rng.randrange(100))
    rig = Rig.create(tmp, {rel: text}, emulators=emulators)
    return Race(rig, rel, fmt, tracker, rng, final_rel=rel)


def tickets_by_marker(rig: Rig) -> dict[str, list[str]]:
    return {**jira_markers(rig.jira), **github_markers(rig.github)}


# ------------------------------------------------------------------------------ one race
def run_race(tmp: Path, emulators: Any, kind: str, phase: str, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    race = new_race(tmp, emulators, rng, f"{kind}-{phase}-{seed % 100000}")
    before = set(tickets_by_marker(race.rig))
    fired = False
    if phase == "create":
        point = "create_many" if rng.random() < 0.7 else "list_changed_since"
        _result, fired = run_engine(race.rig, point, lambda: race.edit(kind))
    else:
        run_engine(race.rig)  # clean cold sync: keys written
        doc = parse_text(race.path.read_text(encoding="utf-8"))
        if phase == "status":  # a person closes the first ticket in the tracker
            key = canonical_key(doc.action_items[0].ticket)
            assert key is not None
            emulator = race.rig.jira if key.startswith("OPS-") else race.rig.github
            emulator.human_set_status(key, Status.DONE)
            point = "list_changed_since"
        else:  # a person ticks the second item done in the doc
            race.set_doc_status(1, "Done")
            human_commits(race.rig)
            point = "set_status"
        _result, fired = run_engine(race.rig, point, lambda: race.edit(kind))
    assert fired, f"the {point} hook never ran"
    # the tool never writes into or commits a doc with uncommitted changes: it waits
    # (exit 2, a note) until the person who saved it commits, as they do here
    human_commits(race.rig)
    for _ in range(3):  # clean runs until nothing changes
        result, _ = run_engine(race.rig)
        if not (result.created or result.docs_written or result.status_pushed or result.updated):
            break
    else:
        raise AssertionError("no fixed point after 3 clean runs")
    return check_race(race, before, kind, phase)


def human_commits(rig: Rig) -> None:
    git(rig.repo, "add", "-A")
    git(rig.repo, *HUMAN_GIT, "commit", "-q", "--allow-empty", "-m", "Human edit")


def check_race(race: Race, before: set[str], kind: str, phase: str) -> dict[str, int]:
    counts = {"races": 1, "duplicates": 0, "human_edits_lost": 0}
    rig = race.rig
    markers = tickets_by_marker(rig)
    new = {m: keys for m, keys in markers.items() if m not in before}
    tickets = [k for keys in new.values() for k in keys]
    counts["duplicates"] += sum(len(keys) - 1 for keys in new.values())
    if race.human_text is None:  # deleted: must stay deleted
        assert not (rig.docs / race.rel).exists(), "the tool re-created a deleted doc"
        assert counts["duplicates"] == 0, new
        return counts
    if race.final_rel != race.rel:
        assert not (rig.docs / race.rel).exists(), "the tool re-created the renamed doc"
    final = (rig.docs / race.final_rel).read_text(encoding="utf-8")
    if human_view(final) != human_view(race.human_text):
        counts["human_edits_lost"] += 1
    assert human_view(final) == human_view(race.human_text), (
        f"human text lost ({kind}/{phase}):\n--- human\n{race.human_text}\n--- final\n{final}"
    )
    doc, human = parse_text(final), parse_text(race.human_text)
    assert [item_tuple(i, status=False) for i in doc.action_items] == [
        item_tuple(i, status=False) for i in human.action_items
    ]
    if race.added_action:
        assert any(i.action == race.added_action and i.ticket for i in doc.action_items)
    keys = [canonical_key(i.ticket) for i in doc.action_items]
    assert all(keys), f"unlinked items ({kind}/{phase}): {doc.action_items}"
    assert len(set(keys)) == len(keys), f"two rows share a ticket: {keys}"
    orphans = set(tickets) - set(keys)
    counts["duplicates"] += len(orphans)
    assert counts["duplicates"] == 0, (
        f"{kind}/{phase}: {len(tickets)} tickets for {len(keys)} items; orphans {orphans}"
    )
    if phase == "push":  # the human's "Done" reached the tracker and stayed in the doc
        assert sum(i.status is Status.DONE for i in doc.action_items) >= 1
    return counts


# ------------------------------------------------------------------------------ the tests
KNOWN: dict[tuple[str, str], Any] = {}  # (kind, phase) -> xfail mark for a known defect


def cases() -> list[Any]:
    out = []
    for kind in KINDS:
        for phase in PHASES:
            marks = [KNOWN[(kind, phase)]] if (kind, phase) in KNOWN else []
            out.append(pytest.param(kind, phase, marks=marks, id=f"{kind}-{phase}"))
    return out


@pytest.mark.parametrize(("kind", "phase"), cases())
def test_races_with_humans(tmp_path: Path, emulators: Any, kind: str, phase: str) -> None:
    totals = {"races": 0, "duplicates": 0, "human_edits_lost": 0}
    try:
        for n in range(RACES_PER_CASE):
            seed = SEED + KINDS.index(kind) * 1000 + PHASES.index(phase) * 100 + n
            counts = run_race(tmp_path / f"race{n}", emulators, kind, phase, seed)
            for key, value in counts.items():
                totals[key] += value
    finally:
        report.add("races", **totals, by_kind={f"{kind}/{phase}": totals["races"]})


@pytest.mark.soak
@pytest.mark.parametrize(("kind", "phase"), cases())
def test_races_with_humans_soak(tmp_path: Path, emulators: Any, kind: str, phase: str) -> None:
    for n in range(40):
        seed = SEED + 500_000 + KINDS.index(kind) * 1000 + PHASES.index(phase) * 100 + n
        counts = run_race(tmp_path / f"race{n}", emulators, kind, phase, seed)
        report.add("races-soak", **counts)


# ------------------------------------------------------------------------------ git remote
GIT_VARIANTS = ("other-doc", "same-doc-far", "same-doc-near")


def remote_rig(tmp: Path, emulators: Any, rng: random.Random, tag: str) -> tuple[Rig, Path, Path]:
    """A bare origin, the tool's clone (its docs root) and a human's clone."""
    from tests.reliability.harness import write_config

    origin, seed_clone, tool, human = (tmp / n for n in ("origin.git", "seed", "tool", "human"))
    tmp.mkdir(parents=True, exist_ok=True)
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    files = {}
    for name in ("a", "b"):
        items = action_items(rng, rng.randrange(1000), 4)
        for it in items:
            it["status"] = "Open"
        files[f"2026/{tag}-{name}.md"] = render_doc(f"{tag} {name}", "table", items)
    from tests.reliability.harness import init_repo

    init_repo(seed_clone, files)
    git(seed_clone, "remote", "add", "origin", str(origin))
    git(seed_clone, "push", "-q", "-u", "origin", "main")
    for clone in (tool, human):
        git(tmp, "clone", "-q", str(origin), str(clone))
    jira, github = emulators
    config = write_config(
        tmp / "cfg" / "syncd.toml",
        docs_root=tool / "postmortems",
        state_path=tmp / "cfg" / "state.db",
        jira=jira,
        github=github,
        git_section={"push": True, "remote": "origin"},
    )
    rig = Rig(
        tmp, jira, github, tool, tool / "postmortems", config, tmp / "cfg" / "state.db", files
    )
    return rig, origin, human


def run_git_race(tmp: Path, emulators: Any, variant: str, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    tag = f"git-{variant}-{seed % 10000}"
    rig, origin, human = remote_rig(tmp, emulators, rng, tag)
    a, b = (f"postmortems/2026/{tag}-{n}.md" for n in ("a", "b"))
    before = set(tickets_by_marker(rig))
    human_lines: dict[str, str] = {}

    def human_pushes() -> None:
        target = b if variant == "other-doc" else a
        path = human / target
        lines = path.read_text(encoding="utf-8").split("\n")
        if variant == "same-doc-near":  # right under the table the tool is editing
            at = max(i for i, ln in enumerate(lines) if ln.startswith("|")) + 1
            line = f"Reviewed by the incident commander on day {rng.randrange(99)}."
        else:
            at = lines.index("## Summary") + 1
            line = f"Human summary edit {rng.randrange(10**6)} pushed from another clone."
        lines.insert(at, line)
        human_lines[target] = line
        path.write_text("\n".join(lines), encoding="utf-8")
        git(human, *HUMAN_GIT, "commit", "-q", "-am", "Human edit")
        git(human, "push", "-q", "origin", "main")

    result, fired = run_engine(rig, "create_many", human_pushes)
    assert fired
    rejected = any(n.get("kind") == "push" for n in result.notes)
    for _ in range(3):
        result, _ = run_engine(rig)
        if not (result.created or result.docs_written):
            break
    counts = {"races": 1, "duplicates": 0, "human_edits_lost": 0, "push_notes": int(rejected)}
    git(human, "pull", "-q", "--rebase", "origin", "main")
    head = git(origin, "rev-parse", "main").strip()
    assert git(rig.repo, "rev-parse", "HEAD").strip() == head, "the tool's commits were not pushed"
    for rel in (a, b):
        text = git(origin, "show", f"main:{rel}")
        if rel in human_lines and human_lines[rel] not in text.split("\n"):
            counts["human_edits_lost"] += 1
        doc = parse_text(text)
        keys = [canonical_key(i.ticket) for i in doc.action_items]
        assert all(keys), f"{variant}: unlinked rows on the remote:\n{text}"
        assert len(set(keys)) == len(keys)
    new = {m: k for m, k in tickets_by_marker(rig).items() if m not in before}
    counts["duplicates"] = sum(len(k) - 1 for k in new.values())
    assert counts == {**counts, "duplicates": 0, "human_edits_lost": 0}, counts
    assert len(new) == 8
    return counts


@pytest.mark.parametrize("variant", GIT_VARIANTS)
def test_races_with_a_moving_git_remote(tmp_path: Path, emulators: Any, variant: str) -> None:
    totals = {"races": 0, "duplicates": 0, "human_edits_lost": 0, "push_notes": 0}
    try:
        for n in range(7):
            seed = SEED + 90_000 + GIT_VARIANTS.index(variant) * 100 + n
            for key, value in run_git_race(tmp_path / f"g{n}", emulators, variant, seed).items():
                totals[key] += value
    finally:
        report.add("races-git", **totals)
