"""A refused write-back, end to end: the real `syncd sync` against the loopback Jira
emulator in a real git repo. The document stays byte-identical, the refusal is reported
with file and line on every run, and the item is never ticketed twice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from syncd.documents import patch
from tests.helpers_sync import World, make_world

STRING_ENTRY = (
    "# Postmortem: Cache stampede\n\n**Date:** 2026-05-02\n\n## Action items\n\n"
    "```yaml\naction_items:\n  - Add request coalescing to the cache client\n```\n"
)
TABLE = (
    "# Postmortem: Queue backlog\n\n**Date:** 2026-05-03\n\n## Action items\n\n"
    "| Action | Owner | Status |\n|---|---|---|\n| Alert on queue age | @sri | Open |\n"
)


@pytest.fixture
def world(tmp_path: Any, capsys: Any) -> Iterator[World]:
    yield from make_world(
        tmp_path, capsys, {"2026-05-02-cache.md": STRING_ENTRY, "2026-05-03-queue.md": TABLE}
    )


def _refusals(summary: dict[str, Any]) -> list[dict[str, Any]]:
    text = repr(summary)
    assert "write-failed" in text or "write refused" in text or "plain string" in text, text
    notes = summary.get("notes") or []
    return [n for n in notes if n.get("kind") == "write-failed"]


def test_a_document_the_patcher_refuses_stays_identical_and_is_reported(world: World) -> None:
    before = world.doc("2026-05-02-cache.md")
    code, summary, _err = world.sync()
    assert code == 2  # not silent: a write it could not do is a retry-later run
    assert world.doc("2026-05-02-cache.md") == before
    refused = _refusals(summary)
    assert any(n["path"] == "2026-05-02-cache.md" and "line 9:" in n["message"] for n in refused), (
        refused
    )
    assert re.search(
        r"\| Alert on queue age \| @sri \| Open \| [A-Z]+-\d+ \|", world.doc("2026-05-03-queue.md")
    )
    posts = world.post_count()
    # the next run reports it again and creates nothing new
    world.reset_logs()
    _code, again, _err = world.sync()
    assert any(n["path"] == "2026-05-02-cache.md" for n in _refusals(again))
    assert world.post_count() == 0, posts
    assert world.doc("2026-05-02-cache.md") == before


def test_a_corrupting_write_is_refused_by_verification(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    honest = patch._apply

    def corrupting(text: str, changes: list[Any]) -> str:
        return honest(text, changes).replace("Alert on queue age", "Alert on queue")

    monkeypatch.setattr(patch, "_apply", corrupting)
    before = world.doc("2026-05-03-queue.md")
    _code, summary, _err = world.sync()
    assert world.doc("2026-05-03-queue.md") == before
    refused = [n for n in _refusals(summary) if n["path"] == "2026-05-03-queue.md"]
    assert refused and "line 9: write refused" in refused[0]["message"], refused
    monkeypatch.setattr(patch, "_apply", honest)
    world.reset_logs()
    _code, _summary, _err = world.sync()  # fixed: the key lands, no second ticket
    assert re.search(
        r"\| Alert on queue age \| @sri \| Open \| [A-Z]+-\d+ \|", world.doc("2026-05-03-queue.md")
    )
    assert world.post_count() == 0
