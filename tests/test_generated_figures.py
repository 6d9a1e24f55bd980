"""Figures in the READMEs are written by the commands that measure them."""

from __future__ import annotations

from pathlib import Path

from bench.similarity_docs import current

ROOT = Path(__file__).resolve().parents[1]


def test_bench_readme_results_are_a_runs_own() -> None:
    """bench/README.md's Results are written by `make bench` (`bench.run --readme`)."""
    text = (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
    block = current(text, "results")
    assert block is not None and block.startswith("Written by `make bench` on "), block
    assert "| scenario | tier | items |" in block and "precision" in block
