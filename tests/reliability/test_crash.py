"""Crash anywhere: SIGKILL a cold sync of a few hundred items at random moments.

The sync runs as a subprocess (`syncd sync --once`) in its own process group; the
emulators live in this process, so they survive every kill. A kill lands either inside
an emulator's handler of the N-th request (the server applied the write, the answer
never leaves: the worst moment for a create), or after a random wall-clock delay
(start-up, parsing, write-back, git commit). After each kill the sync is run again,
until a run completes. Then the invariants of `harness.check_converged` must hold.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import report
from tests.reliability.harness import Killer, Rig, check_converged, generate_docs, git

SEED = 20260704


def campaign(
    tmp: Path,
    *,
    seed: int,
    min_kills: int,
    n_docs: int,
    per_doc: int,
    delete_state_p: float = 0.0,
    latency: float = 0.003,
) -> dict[str, Any]:
    rng = random.Random(seed)
    totals: dict[str, Any] = {
        "rounds": 0,
        "runs": 0,
        "kills": 0,
        "kills_in_handler": 0,
        "kills_by_timer": 0,
        "state_deleted": 0,
        "items": 0,
        "tickets": 0,
        "duplicates": 0,
        "unlinked": 0,
        "human_lines_changed": 0,
    }
    round_no = 0
    while totals["kills"] < min_kills:
        round_no += 1
        assert round_no <= 20, "kills never landed: is the sync too fast to interrupt?"
        specs = generate_docs(rng, n_docs, per_doc)
        rig = Rig.create(
            tmp / f"round{round_no}",
            {s.rel: s.text for s in specs},
            latency=latency,
            seed=seed + round_no,
        )
        try:
            run_round(rig, rng, totals, min_kills, delete_state_p, n_docs * per_doc)
        finally:
            rig.stop()
    return totals


def run_round(
    rig: Rig,
    rng: random.Random,
    totals: dict[str, Any],
    min_kills: int,
    delete_state_p: float,
    n_items: int,
) -> None:
    killer = Killer(rig)
    totals["rounds"] += 1
    duration = 2.0  # refined by each completed run
    runs = 0
    while True:
        runs += 1
        assert runs <= 60, "the sync did not complete within 60 runs"
        remaining = n_items - rig.ticket_count()
        started = time.monotonic()
        if totals["kills"] < min_kills and rng.random() < 0.65:
            # requests left: ~1 per GitHub create, Jira in bulk, plus listings/transitions
            span = max(3, remaining // 2 + 12)
            target = rng.randint(1, 12) if rng.random() < 0.3 else rng.randint(1, span)
            killed, code, data = killer.run(request=target)
            mode = "kills_in_handler"
        elif totals["kills"] < min_kills:
            killed, code, data = killer.run(delay=rng.uniform(0.05, duration))
            mode = "kills_by_timer"
        else:
            killed, code, data = killer.run()
            mode = ""
        totals["runs"] += 1
        if killed:
            totals["kills"] += 1
            totals[mode] += 1
            totals["stale_leases_broken"] = totals.get("stale_leases_broken", 0) + int(
                rig.break_stale_lease()
            )
            if delete_state_p and rng.random() < delete_state_p:
                rig.delete_state()
                totals["state_deleted"] += 1
            continue
        duration = max(0.3, time.monotonic() - started)
        assert "skipping this run" not in killer.last_stderr, killer.last_stderr[-500:]
        assert code in (0, 2), (code, data)
        if code == 0:
            break
    # the run that completed is followed by one more: nothing left to do
    code, data, _err = rig.run_subprocess()
    assert code == 0, data
    assert data is not None
    summary = data["summary"]
    assert (summary["created"], summary["docs_written"]) == (0, 0), summary
    # Doc status cells overwritten after a kill between a Jira create and its initial
    # transition are counted, not failed here: test_kill_between_create_and_transition
    # pins that defect down.
    verdict = check_converged(rig, strict_status=False)
    totals["status_overwritten"] = totals.get("status_overwritten", 0) + verdict.status_overwritten
    totals["status_mismatch"] = totals.get("status_mismatch", 0) + verdict.status_mismatch
    totals["items"] += verdict.items
    totals["tickets"] += rig.ticket_count()
    totals["duplicates"] += verdict.duplicates
    totals["unlinked"] += verdict.unlinked
    totals["human_lines_changed"] += verdict.human_lines_changed
    assert verdict.ok(), verdict.problems[:20]
    assert rig.ticket_count() == verdict.items
    # A kill between the doc write and `git commit` leaves the edits uncommitted for
    # good (nothing is left to write on later runs): counted here, pinned down by
    # test_kill_between_write_and_commit_leaves_edits_uncommitted.
    dirty = git(rig.repo, "status", "--porcelain").strip()
    totals["rounds_left_uncommitted"] = totals.get("rounds_left_uncommitted", 0) + bool(dirty)
    if dirty:
        print("left uncommitted:", dirty)


def _report(name: str, totals: dict[str, Any], started: float) -> None:
    report.add(name, **totals, seconds=int(time.monotonic() - started))


def test_crash_anywhere_cold_sync(tmp_path: Path) -> None:
    started = time.monotonic()
    totals = campaign(tmp_path, seed=SEED, min_kills=30, n_docs=40, per_doc=6)
    _report("crash", totals, started)
    assert totals["kills"] >= 30
    assert totals["duplicates"] == totals["unlinked"] == totals["human_lines_changed"] == 0


def test_crash_anywhere_with_state_file_deleted(tmp_path: Path) -> None:
    started = time.monotonic()
    totals = campaign(
        tmp_path, seed=SEED + 1, min_kills=12, n_docs=20, per_doc=6, delete_state_p=0.5
    )
    _report("crash-state-deleted", totals, started)
    assert totals["kills"] >= 12 and totals["state_deleted"] >= 3
    assert totals["duplicates"] == totals["unlinked"] == totals["human_lines_changed"] == 0


@pytest.mark.soak
def test_crash_anywhere_soak(tmp_path: Path) -> None:
    started = time.monotonic()
    totals = campaign(
        tmp_path, seed=SEED + 2, min_kills=150, n_docs=60, per_doc=6, delete_state_p=0.2
    )
    _report("crash-soak", totals, started)
    assert totals["duplicates"] == totals["unlinked"] == totals["human_lines_changed"] == 0


# -- deterministic reproductions of what the campaign found ---------------------------------
class Killed(BaseException):
    """Stands in for SIGKILL at one exact point of an in-process run."""


DOC = """\
# Postmortem: DB failover

## Action items

| # | Action | Owner | Due | Priority | Status | Ticket |
|---|--------|-------|-----|----------|--------|--------|
| 1 | Page on replica lag | @sri | 2026-07-20 | P1 | In Progress |  |
| 2 | Runbook for failover | @maya | 2026-07-22 | P2 | Open |  |
"""


@pytest.fixture
def small_rig(tmp_path: Path) -> Any:
    rig = Rig.create(tmp_path, {"2026/db-failover.md": DOC})
    yield rig
    rig.stop()


def test_kill_between_write_and_commit_leaves_edits_uncommitted(
    small_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncd.sync import gitops

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(gitops, "commit", die)
        with pytest.raises(Killed):
            small_rig.sync_inprocess()
    assert "OPS-1" in small_rig.read("2026/db-failover.md")  # the write happened
    for _ in range(2):
        code, _data, _err = small_rig.sync_inprocess()
        assert code == 0
    assert git(small_rig.repo, "status", "--porcelain").strip() == ""


def test_kill_between_create_and_transition_then_state_lost_keeps_doc_status(
    small_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.jira.connector import JiraConnector

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(JiraConnector, "set_status", die)
        with pytest.raises(Killed):
            small_rig.sync_inprocess()
    assert small_rig.jira.issue_count() == 2  # created, never transitioned
    small_rig.delete_state()
    code, _data, _err = small_rig.sync_inprocess()
    assert code == 0
    verdict = check_converged(small_rig)
    assert verdict.ok(), verdict.problems


def test_two_kills_in_a_row_around_the_initial_transition_keep_doc_status(
    small_rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.jira.connector import JiraConnector

    def die(*_args: Any, **_kwargs: Any) -> None:
        raise Killed

    for _ in range(2):
        with monkeypatch.context() as m:
            m.setattr(JiraConnector, "set_status", die)
            with pytest.raises(Killed):
                small_rig.sync_inprocess()
    code, _data, _err = small_rig.sync_inprocess()
    assert code == 0
    verdict = check_converged(small_rig)
    assert verdict.ok(), verdict.problems
