"""`syncd parse` and `syncd lint` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.cli.main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_parse_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "parse", "--format", "json", str(FIXTURES / "seeds"))
    assert code == 0
    docs = json.loads(out)["documents"]
    assert {d["path"] for d in docs} >= {"001-checkout-outage.md", "003-payments-outage.md"}
    checkout = next(d for d in docs if d["path"] == "001-checkout-outage.md")
    assert set(checkout) >= {
        "path",
        "title",
        "date",
        "severity",
        "action_items",
        "contributing_factors",
        "problems",
    }
    assert checkout["action_items"][0] == {
        "action": "Gate config changes behind the CI test suite",
        "owner": "@sri",
        "due": "2026-06-12",
        "priority": None,
        "status": "open",
        "ticket": "OPS-921",
        "line": 35,
    }


def test_lint_flags_the_seeds_bad_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "lint", "--format", "json", str(FIXTURES / "lint" / "bad.md"))
    assert code == 1
    found = {(f["line"], f["rule"]) for f in json.loads(out)["findings"]}
    assert found == {
        (8, "vague-action"),
        (9, "vague-action"),
        (10, "team-owner"),
        (11, "due-before-incident"),
        (12, "missing-owner"),
        (13, "missing-due"),
        (13, "no-ticket"),
    }


def test_lint_passes_good_examples_and_disable_works(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "lint", str(FIXTURES / "lint" / "good.md"))[0] == 0
    bad = str(FIXTURES / "lint" / "bad.md")
    code, out = run(
        capsys,
        "lint",
        "--format",
        "json",
        "--disable",
        "vague-action",
        "--disable",
        "team-owner",
        "--disable",
        "due-before-incident",
        "--disable",
        "missing-owner",
        "--disable",
        "missing-due",
        "--disable",
        "no-ticket",
        bad,
    )
    assert (code, json.loads(out)["findings"]) == (0, [])


def test_lint_text_output_has_file_line_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "lint", str(FIXTURES / "lint" / "bad.md"))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{FIXTURES / 'lint' / 'bad.md'}:8: vague-action:")
    assert "hint:" in first


def test_console_script_is_installed() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "syncd.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("syncd ")


def test_parallel_parse_gives_exactly_the_sequential_result(tmp_path: Path) -> None:
    """Above PARALLEL_FROM documents `syncd parse` forks workers; run it as users do (a
    fresh process: forking inside the test runner, with other tests' threads, is not
    what users run) and compare with parsing one by one here."""
    from bench.corpus import generate
    from syncd.cli import main as cli
    from syncd.documents.discover import DEFAULT_INCLUDE, discover

    generate(tmp_path, docs=cli.PARALLEL_FROM + 20, items_per_doc=2, seed=5)
    jobs = [
        (f, f.relative_to(tmp_path).as_posix()) for f, _ in discover([tmp_path], DEFAULT_INCLUDE)
    ]
    assert len(jobs) >= cli.PARALLEL_FROM
    out = subprocess.run(
        [sys.executable, "-m", "syncd.cli.main", "parse", "--format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["documents"] == [cli._parse_one(job) for job in jobs]


def test_parse_with_a_config_reads_dates_in_its_date_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`syncd parse --config` reads documents as the sync does: its section rules and its
    `date_order` (a dmy team's 03/04/2027 is 3 April), also in the parallel workers."""
    doc = tmp_path / "x.md"
    doc.write_text(
        "# X\n**Date:** 2027-01-05\n\n## Notes\n- Add alerting (@maya, due 03/04/2027)\n"
    )
    config = tmp_path / "syncd.toml"
    config.write_text('[docs]\ndate_order = "dmy"\naction_sections = ["^Notes$"]\n')
    code, out = run(capsys, "parse", "--format", "json", "--config", str(config), str(doc))
    assert code == 0
    [item] = json.loads(out)["documents"][0]["action_items"]
    assert (item["action"], item["due"]) == ("Add alerting", "2027-04-03")
    code, out = run(capsys, "parse", "--format", "json", str(doc))
    assert json.loads(out)["documents"][0]["action_items"] == []  # nothing stayed behind
