"""What `plan`, `sync --once` and `status` tell a person, through the real CLI against the
loopback Jira and GitHub emulators: failures and notes in plain output, aligned columns,
exit codes that say who must act, and log lines that parse into real JSON values."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_sync import TOKENS, make_world


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    yield from make_world(tmp_path, capsys)


def log_events(stderr: str) -> dict[str, dict[str, Any]]:
    """Every JSON log line on stderr, by its event name."""
    events = {}
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            events[event["event"]] = event
    return events


def test_json_log_lines_carry_objects_not_python_reprs(world):
    proc = world.console("sync", "--once", "--config", str(world.config))
    assert proc.returncode == 0, proc.stderr
    finished = log_events(proc.stderr)["sync finished"]
    assert isinstance(finished["requests"], dict), finished["requests"]
    assert finished["requests"]["jira"]["writes"] >= 1
    assert "{'" not in proc.stderr
    for token in TOKENS:
        assert token not in proc.stdout + proc.stderr
