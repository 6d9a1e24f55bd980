"""docs/similarity.md quotes command output; it must be what the commands print now."""

from __future__ import annotations

from bench import similarity_docs


def test_generated_blocks_are_current() -> None:
    # Regenerate with `python -m bench.similarity_docs` after changing the vocabulary,
    # the thresholds, the labelled set or the output format.
    assert similarity_docs.main(["--check"]) == 0
