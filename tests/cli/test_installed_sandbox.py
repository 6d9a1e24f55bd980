"""`syncd sandbox` from an installed wheel: built from a copy of this checkout, installed
into a fresh venv, started from there, synced against, stopped with Ctrl-C.

The wheel is built with pip's own build isolation (setuptools from the package index or
pip's cache, as `make venv` needs anyway). The new venv sees the test interpreter's
site-packages as plain paths for the dependencies — plain, so their .pth hooks (this
checkout's editable install) do not run — and installs only the wheel (`--no-deps
--no-index`): the run needs no network beyond what `make venv` already needed.
"""

from __future__ import annotations

import re
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

from tests.cli.sandbox_process import Sandbox, clean_env, jira_issues
from tests.conftest import ROOT

NOT_SOURCE = ("venv", ".venv", ".git", "build", "*.egg-info", "__pycache__", ".*_cache")


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean_env(), capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    built = run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp_path / "dist",
        source, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("postmortem_syncd-*.whl")
    return wheel


def install(wheel: Path, env_dir: Path) -> Path:
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=env_dir
    )
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib.stdout.strip()) / "_dependencies.pth").write_text("\n".join(outer) + "\n")
    installed = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", wheel, cwd=env_dir,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    return env_dir / "bin"


def test_sandbox_from_an_installed_wheel_syncs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    bin_dir = install(build_wheel(tmp_path), tmp_path / "venv")
    where = run(
        bin_dir / "python", "-c", "import syncd, connectors; print(syncd.__file__)", cwd=tmp_path
    )
    assert where.stdout.startswith(str(tmp_path / "venv")), where  # not this checkout

    docs = tmp_path / "postmortems"
    shutil.copytree(ROOT / "config" / "postmortems", docs)
    sandbox = Sandbox([bin_dir / "syncd", "sandbox", "--workdir", "work"], tmp_path, clean_env())
    try:
        sandbox.wait_for("sandbox ready")
        synced = run(bin_dir / "syncd", "sync", "--once", "--config", sandbox.config, cwd=tmp_path)
        assert synced.returncode == 0, synced.stderr
        issues = jira_issues(sandbox.config)
        assert len(issues) == 9, issues
        copied = (tmp_path / "work" / "postmortems").rglob("*.md")
        written = set(re.findall(r"\bOPS-\d+\b", "".join(p.read_text() for p in copied)))
        assert written == {issue["key"] for issue in issues}
        assert sandbox.interrupt() == 0, sandbox.output()
    finally:
        sandbox.kill()
    assert "stopped" in sandbox.output() and "Traceback" not in sandbox.output()
