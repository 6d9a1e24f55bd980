"""Figures in the READMEs are written by the commands that measure them: the bench
results by `make bench`, the Guarantees by `make soak` (only from a green run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import guarantees_docs
from bench.similarity_docs import current

ROOT = Path(__file__).resolve().parents[1]


def test_bench_readme_results_are_a_runs_own() -> None:
    """bench/README.md's Results are written by `make bench` (`bench.run --readme`)."""
    text = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    block = current(text, "results")
    assert block is not None and block.startswith("Written by `make bench` on "), block
    assert "| scenario | tier | items |" in block and "precision" in block


GREEN = {
    "failed_tests": 0,
    "model_based": {
        "examples": 10000,
        "engine_runs": 9000,
        "kills": 1500,
        "faults": {"502+applied": 700, "push-rejected": 170},
        "max_clean_runs_to_converge": 1,
    },
    "end_to_end_cases": {
        "covered": [str(n) for n in range(1, 10)],
        "max_clean_runs_to_converge": 1,
    },
}
README_STUB = "# x\n<!-- BEGIN generated:guarantees -->\n<!-- END generated:guarantees -->\n"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    readme, figures = tmp_path / "README.md", tmp_path / "figures" / "guarantees.json"
    readme.write_text(README_STUB, encoding="utf-8")
    monkeypatch.setattr(guarantees_docs, "README", readme)
    monkeypatch.setattr(guarantees_docs, "FIGURES", figures)
    return readme, figures


def test_a_green_run_writes_the_guarantees_block_and_check_sees_it_current(
    tmp_path: Path, paths: tuple[Path, Path]
) -> None:
    readme, figures = paths
    run = tmp_path / "run.json"
    run.write_text(json.dumps(GREEN), encoding="utf-8")
    assert guarantees_docs.main(["--from", str(run)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "10,000 examples" in text and "1,500 kills" in text and "9 of 9" in text
    assert json.loads(figures.read_text(encoding="utf-8")) == GREEN
    assert guarantees_docs.main(["--check"]) == 0
    readme.write_text(text.replace("10,000", "12,000"), encoding="utf-8")
    assert guarantees_docs.main(["--check"]) == 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda f: {**f, "failed_tests": 1},
        lambda f: {k: v for k, v in f.items() if k != "failed_tests"},
        lambda f: {**f, "model_based": {**f["model_based"], "max_clean_runs_to_converge": 3}},
        lambda f: {**f, "model_based": {**f["model_based"], "max_clean_runs_to_converge": None}},
        lambda f: {**f, "model_based": {**f["model_based"], "examples": 400}},
        lambda f: {**f, "end_to_end_cases": {**f["end_to_end_cases"], "covered": ["1", "2"]}},
    ],
)
def test_a_red_or_slow_run_is_refused_and_nothing_is_written(
    tmp_path: Path, paths: tuple[Path, Path], spoil: Any
) -> None:
    readme, figures = paths
    run = tmp_path / "run.json"
    run.write_text(json.dumps(spoil(GREEN)), encoding="utf-8")
    assert guarantees_docs.main(["--from", str(run)]) == 1
    assert readme.read_text(encoding="utf-8") == README_STUB and not figures.exists()
