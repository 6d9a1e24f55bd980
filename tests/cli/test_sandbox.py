"""`syncd sandbox`: the emulators on loopback, a copy of the user's postmortems, a ready
config, up until Ctrl-C."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from syncd.cli.main import main
from syncd.cli.sandbox import prepare_workdir
from tests.cli.sandbox_process import Sandbox, clean_env, jira_issues, tree_bytes
from tests.conftest import ROOT, SYNCD

EXAMPLES = ROOT / "config" / "postmortems"


def _own_docs(tmp_path: Path) -> Path:
    """A user's folder: postmortems, a file that is not one, a symlink to elsewhere."""
    source = tmp_path / "mine"
    shutil.copytree(EXAMPLES, source)
    (source / "notes.txt").write_text("not a postmortem\n")
    outside = tmp_path / "outside.md"
    outside.write_text("# Elsewhere\n")
    (source / "linked.md").symlink_to(outside)
    return source


def test_sandbox_syncs_a_copy_and_leaves_the_originals_byte_for_byte(tmp_path: Path) -> None:
    source = _own_docs(tmp_path)
    before = tree_bytes(source)
    stamps = {p: p.stat().st_mtime_ns for p in source.rglob("*") if p.is_file()}
    workdir = tmp_path / "work"
    sandbox = Sandbox([SYNCD, "sandbox", source, "--workdir", workdir], tmp_path, clean_env())
    try:
        sandbox.wait_for("sandbox ready")
        assert sandbox.config == workdir.resolve() / "syncd.toml"
        for command in ("plan", "sync --once", "status", "digest --preview"):
            assert f"syncd {command} " in sandbox.output()
        synced = subprocess.run(
            [SYNCD, "sync", "--once", "--config", sandbox.config],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert synced.returncode == 0, synced.stderr
        issues = jira_issues(sandbox.config)
        assert len(issues) == 9  # every open item of the four examples (one is done)
        copied = workdir / "postmortems"
        keys = set(re.findall(r"\bOPS-\d+\b", "".join(p.read_text() for p in copied.rglob("*.md"))))
        assert keys == {issue["key"] for issue in issues}
        assert sandbox.interrupt() == 0, sandbox.output()
    finally:
        sandbox.kill()
    assert "stopped" in sandbox.lines[-2] + sandbox.lines[-1]
    assert str(workdir.resolve()) in sandbox.output()  # says where the work dir is kept
    assert tree_bytes(source) == before
    assert {p: p.stat().st_mtime_ns for p in source.rglob("*") if p.is_file()} == stamps
    # only regular *.md files were copied: not the text file, not through the symlink
    assert sorted(p.name for p in copied.rglob("*") if p.is_file()) == sorted(
        p.name for p in EXAMPLES.rglob("*.md")
    )


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such directory"),
        ("empty", "no *.md files"),
        ("busy-workdir", "is not empty"),
    ],
)
def test_sandbox_refuses_bad_input_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    source = tmp_path / "docs"
    workdir = tmp_path / "work"
    if setup != "missing":
        source.mkdir()
    if setup == "busy-workdir":
        (source / "a.md").write_text("# A\n")
        workdir.mkdir()
        (workdir / "keep.txt").write_text("mine\n")
    assert main(["sandbox", str(source), "--workdir", str(workdir)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    if setup == "busy-workdir":
        assert (workdir / "keep.txt").read_text() == "mine\n"
        assert sorted(p.name for p in workdir.iterdir()) == ["keep.txt"]


def test_demo_help_names_all_three_trackers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("Jira", "GitHub", "Linear")), out


def test_a_workdir_inside_the_docs_folder_does_not_copy_its_own_copies(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    shutil.copytree(EXAMPLES, source)
    workdir, count = prepare_workdir(source, source / "sandbox")
    assert count == len(list(EXAMPLES.rglob("*.md")))
    assert not (workdir / "postmortems" / "sandbox").exists()


def test_the_callers_signal_handlers_are_restored(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["sandbox", str(tmp_path / "missing")]) == 1
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
