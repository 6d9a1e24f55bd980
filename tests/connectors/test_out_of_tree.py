"""A connector from another repository passes the shipped conformance suite.

The fixture package (tests/fixtures/outoftree: the Memo tracker's connector and emulator,
registered by entry points only) is installed into a fresh venv layered on the running
interpreter's site-packages, and the suite runs there in a separate pytest process. This
proves the suite, the registry and the shared helpers work from an installed
postmortem-syncd, with nothing from this repository's tests/ on the path. Offline:
`--no-deps --no-build-isolation`, and the new venv gets no pip of its own.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

from connectors.testing.conformance import ConnectorConformance
from tests.conftest import FIXTURES

PACKAGE = FIXTURES / "outoftree"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_out_of_tree_connector_passes_the_shipped_suite(tmp_path: Path) -> None:
    source = tmp_path / "memo"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # Layer the new venv on the running interpreter's packages (postmortem-syncd, pytest,
    # httpx, setuptools): `addsitedir` also runs their .pth files (the editable install).
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    inner = Path(purelib.stdout.strip())
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in outer]
    (inner / "_outer_site.pth").write_text("\n".join(lines) + "\n")

    installed = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
        "--no-deps", "--no-build-isolation", "--no-index", source, cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    # Installed, not imported from the source tree: the suite must find it by entry point.
    shutil.rmtree(source / "memo_tracker")

    found = run(
        python, "-c",
        "from connectors.registry import available_kinds, emulator_class;"
        "print(available_kinds(), emulator_class('memo').__module__)",
        cwd=tmp_path,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    assert "'memo'" in found.stdout and "memo_tracker.emulator" in found.stdout

    result = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=source)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    # every test of the shipped suite ran (none skipped or deselected)
    expected = sum(
        len(getattr(getattr(ConnectorConformance, name), "pytestmark", [None])[0].args[1])
        if hasattr(getattr(ConnectorConformance, name), "pytestmark")
        else 1
        for name in dir(ConnectorConformance)
        if name.startswith("test_")
    )
    assert summary.startswith(f"{expected} passed"), (summary, expected)
