"""The digest reads documents with the configured `[docs] action_sections`, like sync."""

from __future__ import annotations

from pathlib import Path

from syncd.config import load_config
from syncd.digest.sources import load_docs

DOC = """# Outage of the widget service

**Date:** 2026-03-01

## Homework

We talked it through in the review.
Everyone agreed on the list below.
It was a long meeting.

- Add a canary for widget deploys (@sri)
- Alert on the widget error rate (@sri)
"""


def test_digest_counts_items_of_sections_named_in_the_config(tmp_path: Path) -> None:
    docs = tmp_path / "postmortems"
    docs.mkdir()
    (docs / "widgets.md").write_text(DOC, encoding="utf-8")
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[docs]\nroot = "{docs}"\n')
    named = tmp_path / "named.toml"
    named.write_text(f'[docs]\nroot = "{docs}"\naction_sections = ["^Homework$"]\n')
    assert [len(d.action_items) for _rel, d in load_docs(load_config(plain))] == [0]
    assert [len(d.action_items) for _rel, d in load_docs(load_config(named))] == [2]
    assert [len(d.action_items) for _rel, d in load_docs(load_config(plain))] == [0]
