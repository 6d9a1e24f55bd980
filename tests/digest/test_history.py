"""Completion history against hand-computed numbers: real tracker close times, real git.

Tickets live in the Jira emulator and are read through the real connector; the docs
live in a real git repository whose commits carry chosen dates. Day D is the incident
date of both postmortems; the emulator's clock is moved to D at noon and advanced.

    doc A (incident D, first committed D+1)
      A1 P0 OPS ticket, closed on the tracker at D+5, relabelled and retitled at D+12
      A2 P0 ticket closed at D+9
      A3 P1 ticked in the doc at D+10; its ticket was closed later, at D+20
      A4 P1 no ticket, ticked in the doc at D+15
      A5 P1 no ticket, ticked in the working tree, never committed: completion unknown
    doc B (incident D, written late: first committed D+9)
      B1 P0 no ticket, ticked in the doc at D+12
      B2 P0 no ticket, still open, due D+20

    targets: P0 within 7 days, P1 within 14 days. Digest date D+30.

    target_clock = "incident" (deadline D+7 for P0, D+14 for P1)
      P0: A1 on time (D+5; the D+12 edits do not count), A2 late, B1 late, B2 open
          -> 1 on time / 2 late / 1 open, 0 unknown, rate 1/4 = 0.25
      P1: A3 on time (doc tick D+10 beats the ticket's D+20), A4 late (D+15 > D+14),
          A5 unknown -> 1 / 1 / 0, 1 unknown, rate 1/2 = 0.5
    target_clock = "set" (doc A's items set D+1, doc B's D+9)
      P0: A1 on time (<= D+8), A2 late (D+9 > D+8), B1 on time (<= D+16), B2 open
          -> 2 / 1 / 1, 0 unknown, rate 0.5
      P1: A3 on time, A4 on time (D+15 <= D+15), A5 unknown -> 2 / 0 / 0, 1, rate 1.0
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import FieldChanges, Ticket, TicketDraft
from connectors.jira import JiraConfig, JiraConnector
from connectors.testing.jira import JiraEmulator
from syncd.config import load_config
from syncd.digest import history as history_module
from syncd.digest.history import read_history
from syncd.digest.sources import digest_from
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_text
from syncd.documents.sections import SectionRules
from syncd.model import Status
from syncd.sync.planner import DocSide, ticket_snapshot
from syncd.sync.state import ItemRecord, StateStore

TOKEN = "history-token"


def _git(repo: Path, *args: str, when: datetime | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    if when is not None:
        env |= {"GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat()}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def _row(action: str, prio: str, status: str, ticket: str = "", due: str = "") -> str:
    return f"| {action} | @sam | {due} | {prio} | {status} | {ticket} |\n"


def _doc(day: date, rows: list[str]) -> str:
    return (
        f"# Incident\n\n**Date:** {day.isoformat()}\n\n## Action items\n\n"
        "| Action | Owner | Due | Priority | Status | Ticket |\n|---|---|---|---|---|---|\n"
        + "".join(rows)
    )


@pytest.fixture
def emulator() -> Iterator[JiraEmulator]:
    em = JiraEmulator(deployment="Cloud", token=TOKEN)
    em.start()
    try:
        yield em
    finally:
        em.stop()


class Scenario:
    def __init__(self, root: Path, emulator: JiraEmulator) -> None:
        self.root = root
        self.em = emulator
        now = emulator.now()
        noon = datetime.combine(now.date() + timedelta(days=1), time(12), tzinfo=UTC)
        emulator.advance_clock(noon - now)
        self.d = noon.date()
        self.start = noon
        self.keys: list[str] = []
        self.connector = JiraConnector(
            "jira", JiraConfig.model_validate(emulator.connector_section())
        )

    def at(self, days: int) -> datetime:
        return self.start + timedelta(days=days)

    def move_to(self, days: int) -> None:
        self.em.advance_clock(self.at(days) - self.em.now())

    def create(self, n: int, title: str, prio: str) -> str:
        draft = TicketDraft(marker=f"pm-{n:012x}", title=title, description="d", priority=prio)
        (outcome,) = self.connector.create_many([draft])
        assert outcome.ticket is not None
        return outcome.ticket.key

    def commit(self, name: str, text: str, days: int) -> None:
        (self.root / name).write_text(text)
        _git(self.root, "add", name)
        _git(self.root, "commit", "-qm", f"{name} on D+{days}", when=self.at(days))


def _record(doc_path: str, item: Any, ticket: Ticket | None) -> ItemRecord:
    return ItemRecord(
        item_id=f"pm-{abs(hash(item.action)) % 10**12:012x}",
        tracker="jira",
        doc_path=doc_path,
        ticket_key=ticket.key if ticket else None,
        doc=DocSide.of(item).snapshot(),
        ticket=ticket_snapshot(ticket) if ticket else {},
    )


@pytest.fixture
def scenario(tmp_path: Path, emulator: JiraEmulator) -> Scenario:
    repo = tmp_path / "docs"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    s = Scenario(repo, emulator)
    d = s.d
    k1 = s.create(1, "A1", "P0")
    k2 = s.create(2, "A2", "P0")
    k3 = s.create(3, "A3", "P1")
    s.keys = [k1, k2, k3]

    def doc_a(a3: str, a4: str, a5: str) -> str:
        return _doc(
            d,
            [
                _row("A1 add the alert", "P0", "Open", k1),
                _row("A2 fix the runbook", "P0", "Open", k2),
                _row("A3 rotate the keys", "P1", a3, k3),
                _row("A4 add a dashboard", "P1", a4),
                _row("A5 document the failover", "P1", a5),
            ],
        )

    def doc_b(b1: str) -> str:
        due = (d + timedelta(days=20)).isoformat()
        return _doc(
            d,
            [_row("B1 cap the pool", "P0", b1), _row("B2 shard the queue", "P0", "Open", due=due)],
        )

    s.commit("a.md", doc_a("Open", "Open", "Open"), 1)
    s.move_to(5)
    emulator.human_set_status(k1, Status.DONE)
    s.move_to(9)
    emulator.human_set_status(k2, Status.DONE)
    s.commit("b.md", doc_b("Open"), 9)
    s.commit("a.md", doc_a("Done", "Open", "Open"), 10)
    s.move_to(12)
    # Later edits of a closed ticket: a relabel and a retitle move `updated` only.
    emulator.human_update(k1, labels=["postmortem-action", "sre-reviewed"])
    s.connector.update_fields(k1, FieldChanges(title="A1 add the alert (renamed)"))
    s.commit("b.md", doc_b("Done"), 12)
    s.commit("a.md", doc_a("Done", "Done", "Open"), 15)
    s.move_to(20)
    emulator.human_set_status(k3, Status.DONE)
    # A5 ticked in the working tree only: no commit, no ticket, no `completed:` date.
    (repo / "a.md").write_text(doc_a("Done", "Done", "Done"))
    return s


def _digest(s: Scenario, tmp_path: Path, clock: str) -> Any:
    config = tmp_path / f"syncd-{clock}.toml"
    config.write_text(
        f'[docs]\nroot = "{s.root}"\n[state]\npath = "{tmp_path / "state.db"}"\n'
        f'[digest]\nto = ["leads@example.com"]\ntimezone = "UTC"\ntarget_clock = "{clock}"\n'
    )
    settings = load_config(config, env={})
    tickets = s.connector.get_many(s.keys)
    with StateStore.open(tmp_path / f"state-{clock}.db") as store:
        recs = []
        for path in ("a.md", "b.md"):
            for item in parse_text((s.root / path).read_text(), path).action_items:
                recs.append(_record(path, item, tickets.get(item.ticket or "")))
        store.put_items(recs)
        return digest_from(settings, store, s.d + timedelta(days=30))


def _numbers(digest: Any) -> dict[str, tuple[int, int, int, int, float | None]]:
    return {
        c.priority: (c.on_time, c.late, c.open, c.unknown_date, c.rate)
        for c in digest.completion
        if c.priority in ("P0", "P1")
    }


def test_tickets_carry_close_times_not_edit_times(scenario: Scenario) -> None:
    key = scenario.keys[0]
    t1 = scenario.connector.get_many([key])[key]
    assert t1.completed_at is not None and t1.completed_at.date() == scenario.d + timedelta(5)
    assert t1.updated.date() == scenario.d + timedelta(days=12)


def test_doc_history_dates_when_items_were_set_and_ticked(scenario: Scenario) -> None:
    history = read_history(scenario.root, ["a.md", "b.md"], UTC)
    assert history is not None
    d = scenario.d
    items = {
        i.action[:2]: i
        for p in ("a.md", "b.md")
        for i in parse_text((scenario.root / p).read_text(), p).action_items
    }
    a, b = history["a.md"], history["b.md"]
    got = {k: a.get(v) or b.get(v) for k, v in items.items()}
    assert {
        k: ((h.set_on - d).days, h.done_on and (h.done_on - d).days) for k, h in got.items() if h
    } == {
        "A1": (1, None),
        "A2": (1, None),
        "A3": (1, 10),
        "A4": (1, 15),
        "A5": (1, None),
        "B1": (9, 12),
        "B2": (9, None),
    }


def test_completion_from_the_incident_date(scenario: Scenario, tmp_path: Path) -> None:
    assert _numbers(_digest(scenario, tmp_path, "incident")) == {
        "P0": (1, 2, 1, 0, 0.25),
        "P1": (1, 1, 0, 1, 0.5),
    }


def test_completion_from_when_the_item_was_set(scenario: Scenario, tmp_path: Path) -> None:
    digest = _digest(scenario, tmp_path, "set")
    assert _numbers(digest) == {"P0": (2, 1, 1, 0, 0.5), "P1": (2, 0, 0, 1, 1.0)}
    # B2 (due D+20, still open) is the only overdue item on D+30.
    assert [(r.action, r.days_overdue) for r in digest.overdue] == [("B2 shard the queue", 10)]


def test_history_reuses_the_parse_of_a_version_that_is_the_current_text(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b.md's last commit is its working-tree text: that version is not parsed again
    (the digest parses every doc once already). a.md differs from its last commit (A5
    is ticked only in the working tree), so every one of its versions is parsed."""
    paths = ["a.md", "b.md"]
    before = read_history(scenario.root, paths, UTC)
    texts = {p: (scenario.root / p).read_text() for p in paths}
    current = {p: (t, parse_text(t, p)) for p, t in texts.items()}
    parsed: list[str] = []

    def counting(text: str, path: str, **kw: Any) -> Any:
        parsed.append(path)
        return parse_text(text, path, **kw)

    monkeypatch.setattr(history_module, "parse_text", counting)
    after = read_history(scenario.root, paths, UTC, current)
    assert before is not None and after is not None
    assert Counter(parsed) == {"a.md": 3, "b.md": 1}  # of 3 and 2 committed versions
    for path, (_text, doc) in current.items():
        for item in doc.action_items:
            assert after[path].get(item) == before[path].get(item), item.action


def test_history_reads_old_versions_with_the_configs_section_rules(tmp_path: Path) -> None:
    """A team whose items live under "## Notes" (`action_sections`) gets its old
    versions read the same way, or no item would have a history."""
    root = tmp_path / "docs"
    root.mkdir()
    doc = root / "x.md"
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    doc.write_text(
        "# X\n**Date:** 2027-01-05\n\n## Notes\n- Add alerting (@maya, due 2027-02-01)\n"
    )
    subprocess.run([*git, "add", "x.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    options = ParseOptions(SectionRules(("^Notes$",)))
    (item,) = parse_text(doc.read_text(), "x.md", options=options).action_items
    configured = read_history(root, ["x.md"], UTC, options=options)
    built_in = read_history(root, ["x.md"], UTC)
    assert configured is not None and built_in is not None
    assert configured["x.md"].get(item) is not None
    assert built_in["x.md"].get(item) is None  # the test can tell the two apart
