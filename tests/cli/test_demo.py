"""`syncd demo` (what `make demo` runs): the full loop on all three trackers."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from syncd.cli.main import main
from syncd.documents.parser import parse_file


def test_demo_runs_the_full_loop_on_jira_github_and_linear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out

    # the kept config's emulators are gone: say so, and where live ones come from
    assert "ports will be closed" in out and f"syncd sandbox {workdir / 'postmortems'}" in out

    docs = workdir / "postmortems"
    keys = {}
    for path in sorted(docs.rglob("*.md")):
        for item in parse_file(path)[0].action_items:
            keys[(path.relative_to(docs).as_posix(), item.action)] = (item.ticket, item.status)
    linear = {a: t for (p, a), t in keys.items() if p.startswith("linear/")}
    github = {a: t for (p, a), t in keys.items() if p.startswith("payments/")}
    jira = {a: t for (p, a), t in keys.items() if "/" not in p}
    # created and written back, in each tracker's key form
    assert all(re.fullmatch(r"ENG-\d+", t or "") for t, _s in linear.values())
    assert all(re.fullmatch(r"OPS-\d+", t or "") for t, _s in jira.values())
    assert sum(bool(t) for t, _s in github.values()) == 2  # the third was done already
    # an owner closed one ticket per tracker: the doc followed
    assert ("ENG-1", "wont_do") in {(t, s.value) for t, s in linear.values()}
    assert ("OPS-1", "done") in {(t, s.value) for t, s in jira.values()}
    # the third run changed nothing and wrote nothing to any tracker
    third = out.split("=== 6.")[1].split("requests this run")[0]
    summary = json.loads(third[third.index("{") :])["summary"]
    assert summary["created"] == summary["doc_edits"] == summary["errors"] == 0
    assert {name: r["writes"] for name, r in summary["requests"].items()} == {
        "jira": 0,
        "github": 0,
        "linear": 0,
    }
    log = subprocess.run(
        ["git", "-C", str(workdir), "log", "--format=%an|%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert log[-1] == "demo|Import example postmortems"
    assert [line.split("|")[0] for line in log[:-1]] == ["postmortem-syncd"] * 2
