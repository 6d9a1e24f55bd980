"""The tutorials run as written: every ```sh / ```console block of docs/tutorial.md (and
of the README's five-minute section), in order, in an empty directory, with the
`syncd sandbox` block started in the background as the page says ("a second terminal")
and stopped with Ctrl-C at the end."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.cli.sandbox_process import Sandbox, clean_env
from tests.conftest import ROOT, SYNCD

FENCE = re.compile(r"^```(sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_blocks(markdown: str) -> list[str]:
    """The blocks' commands as a shell would get them (`$ ` prompts stripped; a console
    block's other lines are output, not commands)."""
    blocks = []
    for kind, body in FENCE.findall(markdown):
        if kind == "console":
            body = "".join(line[2:] + "\n" for line in body.splitlines() if line.startswith("$ "))
        blocks.append(body)
    return blocks


def readme_tutorial() -> str:
    """The README's tutorial section: up to the next heading outside a code block."""
    lines = (ROOT / "README.md").read_text().splitlines(keepends=True)
    start = lines.index("## Five minutes on your own postmortems\n")
    fenced = False
    for end in range(start + 1, len(lines)):
        fenced ^= lines[end].startswith("```")
        if not fenced and lines[end].startswith("## "):
            break
    return "".join(lines[start:end])


PAGES = {
    "docs/tutorial.md": lambda: (ROOT / "docs" / "tutorial.md").read_text(),
    "README.md": readme_tutorial,
}


@pytest.mark.parametrize("page", PAGES)
def test_the_tutorial_commands_work_as_written(tmp_path: Path, page: str) -> None:
    blocks = shell_blocks(PAGES[page]())
    background = [b for b in blocks if b.strip().startswith("syncd sandbox")]
    assert len(background) == 1, "the tutorial starts one sandbox, in its own block"
    text = "".join(blocks)
    for command in ("syncd plan", "syncd sync --once", "syncd status", "syncd digest --preview"):
        assert command in text, command

    env = clean_env()
    env["PATH"] = f"{SYNCD.parent}{os.pathsep}{env.get('PATH', '')}"  # as after `pip install`
    sandbox = None
    try:
        for block in blocks:
            if block is background[0]:
                assert sandbox is None
                sandbox = Sandbox(shlex.split(block.strip()), tmp_path, env)
                sandbox.wait_for("sandbox ready")
                continue
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, done.stderr
        assert sandbox is not None
        assert sandbox.interrupt() == 0, sandbox.output()
    finally:
        if sandbox is not None:
            sandbox.kill()
    # the tickets' keys are in the copies, and only there
    copies = "".join(p.read_text() for p in (tmp_path / "sandbox" / "postmortems").rglob("*.md"))
    originals = "".join(p.read_text() for p in (tmp_path / "postmortems").rglob("*.md"))
    assert re.search(r"\bOPS-\d+\b", copies) and not re.search(r"\bOPS-\d+\b", originals)
