"""A `syncd sandbox` child process, driven the way a person would: read its printed
lines until it says it is ready, use the config it printed, Ctrl-C it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

READY = "sandbox ready"
STARTUP_TIMEOUT = 60.0  # seconds; generous for a loaded 2-core CI machine


class Sandbox:
    def __init__(self, argv: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # end of output

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT) -> str:
        """The first printed line containing `text`; fails with everything printed so far."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"sandbox exited before {text!r}:\n" + self.output())
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + self.output())

    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def config(self) -> Path:
        found = re.search(r"^config: (.+)$", self.output(), re.MULTILINE)
        assert found, self.output()
        return Path(found.group(1))

    def interrupt(self, timeout: float = STARTUP_TIMEOUT) -> int:
        """Ctrl-C, then the exit code once the rest of the output has been read."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def clean_env() -> dict[str, str]:
    """The caller's environment without SYNCD_* (they would override the sandbox config)
    nor Python/pytest settings that would leak this checkout into the child."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "PYTHON", "PYTEST"))}


def jira_issues(config: Path) -> list[dict[str, Any]]:
    """Every issue of the sandbox's Jira project, read over its REST API."""
    section = tomllib.loads(config.read_text())["trackers"]["jira"]
    response = httpx.get(
        f"{section['url']}/rest/api/2/search/jql",
        params={"jql": f"project = {section['project']}", "fields": "summary,labels"},
        auth=(section["email"], section["token"]),
        timeout=10,
    )
    response.raise_for_status()
    issues: list[dict[str, Any]] = response.json()["issues"]
    return issues


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
