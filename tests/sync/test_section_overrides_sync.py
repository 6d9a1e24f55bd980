"""`[docs] action_sections` reaches `syncd sync`: a section only the config names as an
action section gets its tickets, written back and verified like any other (real CLI,
git work tree and Jira emulator on loopback, as in test_sync_e2e)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_sync import World, git, make_world

DOC = """# Outage of the widget service

**Date:** 2026-03-01

## Summary

Widgets broke for an hour.

## Homework

We talked it through in the review.
Everyone agreed on the list below.
It was a long meeting.

- Add a canary for widget deploys (@sri)
- Alert on the widget error rate (@sri)
"""


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    yield from make_world(tmp_path, capsys)


def test_config_action_sections_are_synced_and_written_back(world: World) -> None:
    doc = world.docs / "widgets.md"
    doc.write_text(DOC, encoding="utf-8")
    git(world.repo, "add", "-A")
    git(world.repo, "commit", "-qm", "widgets postmortem")
    code, _out, _err = world.sync()
    assert code == 0
    assert "OPS-" not in doc.read_text()  # "Homework" scores too low on its own

    config = world.config.read_text()
    world.config.write_text(
        config.replace("[docs]\n", '[docs]\naction_sections = ["^Homework$"]\n', 1)
    )
    code, out, _err = world.sync()
    assert code == 0, out["notes"]
    items = [line for line in doc.read_text().splitlines() if line.startswith("- ")]
    assert len(items) == 2 and all(" (OPS-" in line for line in items), items
    # the rest of the document is byte-identical
    assert doc.read_text().split("- Add")[0] == DOC.split("- Add")[0]
