"""Faults from the trackers, injected by the emulators at rates up to 30%.

Each scenario syncs a fresh docs tree while the emulators answer a random share of
requests with one kind of fault (seeded `FaultPlan.add_random`): 5xx, 429 with an
integer `Retry-After`, GitHub's 403 secondary limit, connection resets (status 0),
answers slower than the client timeout (with and without the write applied), and 502
after the server created the issue. The sync runs again and again (in-process CLI,
`sync --once --format json`) until it exits 0; then:

- it converged within `MAX_RUNS` runs, with zero duplicate tickets and every row linked;
- every request retried after a 429/403 came at least `Retry-After` seconds later
  (measured in the emulators' timestamped request log);
- no run sent more than `busy_bound` requests (no busy loop);
- every run that had to give up on something exited 2 and named it: a note and a log
  line with the document path and line, or the tracker.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.testing.emulation import Fault
from connectors.testing.github import DOCS, SECONDARY_MESSAGE
from syncd.sync.notes import NoteKind
from tests.reliability import report
from tests.reliability.harness import Rig, check_converged, generate_docs

SEED = 424242
MAX_RUNS = 15
CLIENT_TIMEOUT = 1.0
FAILURE_KINDS = tuple(k.value for k in NoteKind if k.failure)

Maker = Callable[[random.Random], Fault]


def is_create(method: str, path: str) -> bool:
    return method == "POST" and (
        path.endswith("/issue/bulk")
        or path.endswith("/issue")
        or path.endswith("/repos/acme/reliability/issues")
    )


def server_error(rng: random.Random) -> Fault:
    return Fault(rng.choice((500, 502, 503, 504)), body={"message": "injected"})


def too_many(rng: random.Random) -> Fault:
    return Fault(
        429,
        body={"errorMessages": ["Rate limit exceeded."], "message": "rate limited"},
        headers={"Retry-After": str(rng.choice((1, 1, 2)))},
    )


def secondary(rng: random.Random) -> Fault:
    return Fault(
        403,
        body={"message": SECONDARY_MESSAGE, "documentation_url": DOCS},
        headers={"retry-after": "1"},
        match=is_create,
    )


def reset(_rng: random.Random) -> Fault:
    return Fault(0)


def slow(rng: random.Random) -> Fault:
    # beyond the client timeout; half of them apply the write before the (late) answer
    return Fault(504, delay=CLIENT_TIMEOUT + 0.4, after_apply=rng.random() < 0.5)


def created_then_502(_rng: random.Random) -> Fault:
    return Fault(502, body={"message": "Bad Gateway"}, after_apply=True, match=is_create)


def mixed(rng: random.Random) -> Fault:
    return rng.choice((server_error, too_many, reset, slow, created_then_502))(rng)


# name -> (rate, {tracker: maker}, docs, items per doc)
SCENARIOS: dict[str, tuple[float, dict[str, Maker], int, int]] = {
    "5xx": (0.3, {"jira": server_error, "github": server_error}, 8, 4),
    "429-retry-after": (0.3, {"jira": too_many, "github": too_many}, 6, 4),
    "403-secondary": (0.3, {"github": secondary}, 6, 4),
    "connection-reset": (0.3, {"jira": reset, "github": reset}, 8, 4),
    "timeout": (0.2, {"jira": slow, "github": slow}, 4, 3),
    "502-after-create": (0.3, {"jira": created_then_502, "github": created_then_502}, 8, 4),
    "mixed": (0.3, {"jira": mixed, "github": mixed}, 8, 4),
}


def run_scenario(tmp: Path, name: str, seed: int) -> dict[str, Any]:
    rate, makers, n_docs, per_doc = SCENARIOS[name]
    rng = random.Random(seed)
    specs = generate_docs(rng, n_docs, per_doc)
    timeouts = {"timeout": CLIENT_TIMEOUT}
    rig = Rig.create(
        tmp,
        {s.rel: s.text for s in specs},
        seed=seed,
        jira_extra=timeouts,
        github_extra=timeouts,
    )
    try:
        return drive(rig, name, rate, makers, n_docs * per_doc)
    finally:
        rig.stop()


def drive(
    rig: Rig, name: str, rate: float, makers: dict[str, Maker], n_items: int
) -> dict[str, Any]:
    rig.time_logs()
    emulators = {"jira": rig.jira, "github": rig.github}
    for tracker, make in makers.items():
        emulators[tracker].faults.add_random(rate, make)
    busy_bound = 6 * (n_items + 10)
    stats: dict[str, Any] = {"runs": 0, "exit2_runs": 0, "max_requests_per_run": 0}
    retry_gaps: list[float] = []
    violations: list[str] = []
    converged_at = None
    for run in range(1, MAX_RUNS + 1):
        marks = {t: log.mark() for t, log in rig.logs.items()}
        started = time.monotonic()
        code, data, err = rig.sync_inprocess()
        elapsed = time.monotonic() - started
        stats["runs"] += 1
        windows = {t: rig.logs[t].entries[marks[t] :] for t in rig.logs}
        requests = sum(len(w) for w in windows.values())
        stats["max_requests_per_run"] = max(stats["max_requests_per_run"], requests)
        assert requests <= busy_bound, f"run {run} sent {requests} requests (busy loop?)"
        assert elapsed < 120, f"run {run} took {elapsed:.0f} s"
        margins, broken = honoured_retry_after(windows)
        retry_gaps += margins
        violations += broken
        assert code in (0, 2), (code, err[-2000:])
        if code == 2:
            stats["exit2_runs"] += 1
            assert_reports_what_it_waits_for(data, err)
        else:
            assert data["summary"]["errors"] == 0
            if all_linked(rig):
                converged_at = run
                break
    assert converged_at is not None, f"{name}: not converged after {MAX_RUNS} runs"
    injected = Counter(rig.jira.faults.injected) + Counter(rig.github.faults.injected)
    for emulator in emulators.values():
        emulator.faults.clear()
    code, data, _err = rig.sync_inprocess()
    assert code == 0 and data["summary"]["created"] == 0, data["summary"]
    verdict = check_converged(rig, strict_status=False)
    assert verdict.ok(), verdict.problems[:10]
    assert verdict.duplicates == 0 and rig.ticket_count() == n_items
    stats.update(
        converged_in_runs=converged_at,
        items=n_items,
        duplicates=verdict.duplicates,
        status_mismatch=verdict.status_mismatch,
        retry_after_measured=len(retry_gaps),
        faults_injected=dict(injected),
    )
    if retry_gaps:
        stats["min_retry_after_margin_s"] = round(min(retry_gaps), 3)
    stats["retry_after_violations"] = len(violations)
    stats["violation_examples"] = violations[:3]
    return stats


def all_linked(rig: Rig) -> bool:
    verdict = check_converged(rig, check_state=False, strict_status=False)
    return verdict.unlinked == 0 and verdict.ok()


def honoured_retry_after(windows: dict[str, list[Any]]) -> tuple[list[float], list[str]]:
    """For each 429/403 with Retry-After, the margin by which the next request to the
    same endpoint (in the same run) respected it, and the cases where it did not."""
    margins: list[float] = []
    violations: list[str] = []
    for tracker, entries in windows.items():
        for idx, (at, method, path, status, headers) in enumerate(entries):
            wait = {k.lower(): v for k, v in headers.items()}.get("retry-after")
            if status not in (403, 429) or wait is None:
                continue
            nxt = next((e for e in entries[idx + 1 :] if e[1] == method and e[2] == path), None)
            if nxt is None:
                continue
            margin = nxt[0] - at - float(wait)
            if margin < -0.05:
                violations.append(
                    f"{tracker} {method} {path}: sent again {nxt[0] - at:.2f} s after a "
                    f"{status} with Retry-After {wait}"
                )
            else:
                margins.append(margin)
    return margins, violations


def assert_reports_what_it_waits_for(data: dict[str, Any], err: str) -> None:
    failures = [n for n in data["notes"] if n.get("kind") in FAILURE_KINDS]
    assert failures, f"exit 2 without a failure note: {data['notes']}"
    for note in failures:
        assert note.get("tracker") or (note.get("path") and note.get("line")), note
        assert note.get("message"), note
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    warnings = [e for e in logged if e.get("level") == "warning"]
    assert warnings, "exit 2 without a warning in the log"
    named = {n.get("path") or n.get("tracker") for n in failures}
    assert any((w.get("path") or w.get("tracker")) in named for w in warnings), (
        "no log line names the failed document or tracker"
    )


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sync_converges_under_tracker_faults(tmp_path: Path, scenario: str) -> None:
    started = time.monotonic()
    stats = run_scenario(tmp_path, scenario, SEED + list(SCENARIOS).index(scenario))
    stats["seconds"] = int(time.monotonic() - started)
    report.add(f"faults:{scenario}", **stats)
    report.add(
        "faults",
        scenarios=1,
        runs=stats["runs"],
        items=stats["items"],
        duplicates=stats["duplicates"],
        faults_injected=stats["faults_injected"],
        retry_after_measured=stats["retry_after_measured"],
    )
    assert stats["converged_in_runs"] <= MAX_RUNS
    assert stats["duplicates"] == 0
    assert not stats["retry_after_violations"], stats["violation_examples"]


@pytest.mark.soak
@pytest.mark.parametrize("seed", range(5))
def test_sync_converges_under_mixed_faults_soak(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    specs = generate_docs(rng, 20, 6)
    timeouts = {"timeout": CLIENT_TIMEOUT}
    rig = Rig.create(
        tmp_path,
        {s.rel: s.text for s in specs},
        seed=seed,
        jira_extra=timeouts,
        github_extra=timeouts,
    )
    try:
        stats = drive(rig, "mixed-soak", 0.3, {"jira": mixed, "github": mixed}, 120)
    finally:
        rig.stop()
    report.add("faults-soak", **{k: v for k, v in stats.items() if k != "converged_in_runs"})
    assert stats["duplicates"] == 0


# -- deterministic reproductions --------------------------------------------------------------
def github_rig(tmp: Path, n_items: int, status: str = "Open") -> Rig:
    rows = "\n".join(
        f"| Fix thing {n} | @sri | 2026-08-0{1 + n % 9} | P2 | {status} |  |"
        for n in range(n_items)
    )
    doc = (
        "# Postmortem: refunds\n\n## Action items\n\n"
        "| Action | Owner | Due | Priority | Status | Ticket |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n"
    )
    rig = Rig.create(tmp, {"payments/refunds.md": doc})
    rig.time_logs()
    return rig


def test_no_create_is_sent_within_retry_after_of_a_429(tmp_path: Path) -> None:
    rig = github_rig(tmp_path, 12)  # two create chunks of 10
    try:
        rig.github.faults.add(
            Fault(429, headers={"Retry-After": "2"}, body={"message": "slow down"}, match=is_create)
        )
        code, _data, _err = rig.sync_inprocess()
        assert code == 2
        _margins, violations = honoured_retry_after({"github": rig.logs["github"].entries})
        assert not violations, violations
    finally:
        rig.stop()


def test_failed_initial_transition_is_repaired_on_the_next_run(tmp_path: Path) -> None:
    doc = (
        "# Postmortem: db\n\n## Action items\n\n"
        "| Action | Owner | Status | Ticket |\n|---|---|---|---|\n"
        "| Page on replica lag | @sri | In Progress |  |\n"
    )
    rig = Rig.create(tmp_path, {"2026/db.md": doc})
    try:
        rig.jira.faults.add(
            Fault(500, match=lambda m, p: m == "POST" and p.endswith("/transitions"), times=10)
        )
        rig.sync_inprocess()
        rig.jira.faults.clear()
        for _ in range(2):
            rig.sync_inprocess()
        verdict = check_converged(rig)
        assert verdict.ok(), verdict.problems
    finally:
        rig.stop()
