"""Progress of a run: rich's live display on a terminal (rendered into a StringIO with
force_terminal), one structured log line at most every 10 s elsewhere (an injected
clock), and both through the real CLI against the loopback emulators."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import structlog
from rich.console import Console

from syncd.cli import progress
from syncd.cli.progress import LogDisplay, TerminalDisplay
from syncd.common import logs
from tests.helpers_sync import make_world


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def json_log(capsys: pytest.CaptureFixture[str]) -> Any:
    logs.configure("json", "info")

    def lines() -> list[dict[str, Any]]:
        err = capsys.readouterr().err
        return [json.loads(line) for line in err.splitlines() if line.startswith("{")]

    return lines


def test_off_a_terminal_a_progress_line_at_most_every_10_s(json_log):
    clock = FakeClock()
    display = LogDisplay(clock)
    for done in range(100):  # 100 items over 25 s: lines at 10 and 20 s only
        clock.now += 0.25
        display.phase("create", done, 100, "github")
    lines = [e for e in json_log() if e["event"] == "progress"]
    assert [(e["done"], e["total"], e["tracker"]) for e in lines] == [
        (39, 100, "github"),
        (79, 100, "github"),
    ]
    # a long wait is said when it starts, with what it waits for and for how long
    clock.now += 1
    display.wait("github write pacing", 42.0, "pacing")
    last = json_log()[-1]
    assert last["waiting"] == "github write pacing" and last["wait_s"] == 42.0
    # a retry is always said: something failed
    display.wait("jira search: 127.0.0.1:1 sent no answer; retry 2 of 5", 1.5, "retry")
    assert json_log()[-1]["event"] == "retrying"


def test_on_a_terminal_each_phase_has_a_bar_and_a_wait_shows_its_time_left():
    out = io.StringIO()
    clock = FakeClock()
    display = TerminalDisplay(Console(file=out, force_terminal=True, width=120), clock)
    with display:
        display.phase("parse", 3, 3, None)
        display.phase("create", 4, 10, "github")
        display.wait("github write pacing", 37.0, "pacing")
        clock.now += 5
        display.progress.refresh()
    text = out.getvalue()
    assert "parse" in text and "3/3" in text
    assert "create github" in text and "4/10" in text
    assert "waiting 37 s: github write pacing" in text
    assert "waiting 32 s: github write pacing" in text  # it counts down


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> Any:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)
    yield from make_world(tmp_path, capsys)


def test_cli_sync_off_a_terminal_logs_progress_lines(world, monkeypatch):
    clock = FakeClock()

    def ticking() -> float:  # every look at the clock is 4 s later: a slow run
        clock.now += 4
        return clock.now

    monkeypatch.setattr(progress, "CLOCK", ticking)
    code, _out, err = world.cli("sync", "--once", "--config", str(world.config))
    assert code == 0, err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    ticks = [e for e in lines if e["event"] == "progress"]
    assert ticks, err
    assert {e["phase"] for e in ticks} <= {"parse", "list", "create", "write back"}
    assert all(isinstance(e["done"], int) and isinstance(e["total"], int) for e in ticks)


def test_cli_sync_on_a_terminal_shows_phases_and_pacing_waits(world):
    structlog.reset_defaults()
    world.configure(github={"writes_per_minute": 60})  # 1 s between GitHub writes
    code, out, err = world.cli(
        "sync", "--once", "--config", str(world.config), "--progress", "always"
    )
    assert code == 0, err
    for phase in ("parse", "list", "create jira", "create github", "write back"):
        assert phase in err, err
    assert "github write pacing" in err
    assert out.splitlines()[-1].startswith("sync: 7 created")  # stdout stays plain
