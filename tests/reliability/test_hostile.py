"""Hostile values from trackers: pipes, newlines, `<script>`, markdown links, 10 kB
strings, RTL and emoji.

Written back into docs (the patcher, directly, with such ticket values) they must be
escaped: a table stays a table with the same row count, a list stays one line per item,
every item still parses, and no other item changes. Through a real sync, a hostile
GitHub/Jira title (owned by the doc, so never written back) leaves the doc untouched
while a status change still lands in its cell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.documents.parser import parse_text
from syncd.documents.patch import Edit, WriteRefused, apply_edits
from syncd.model import Status
from tests.reliability import report
from tests.reliability.harness import Rig

HOSTILE = {
    "pipe": "OPS-1 | injected | cell",
    "escaped-pipe": "a \\| b | c",
    "newline": "OPS-2\n| x | y |\n## Injected heading",
    "crlf": "OPS-3\r\n- [ ] injected item",
    "script": "<script>alert(document.cookie)</script>",
    "md-link": "[OPS-4](javascript:alert(1)) ![img](http://127.0.0.1:9/x.png)",
    "long": "OPS-5 " + "x" * 10_000,
    "rtl": "\u202eOPS-6 \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "emoji": "OPS-7 🔥🧯✅👩🏽‍🚒",
    "backticks": "`| code |` ``` fence",
    "yaml-ish": '"quoted": value\n  - item: injected',
}

DOCS = {
    "table": (
        "# T\n\n## Action items\n\n| Action | Owner | Status | Ticket |\n|---|---|---|---|\n"
        "| Fix a | @sri | Open |  |\n| Fix b | @lee | Open | OPS-9 |\n| Fix c | @maya | Open |  |\n"
    ),
    "table-no-ticket": (
        "# T\n\n## Action items\n\n| Action | Owner | Status |\n|---|---|---|\n"
        "| Fix a | @sri | Open |\n| Fix b | @lee | Open |\n| Fix c | @maya | Open |\n"
    ),
    "list": "# T\n\n## Action items\n- [ ] Fix a (@sri)\n- [ ] Fix b (@lee)\n- [ ] Fix c (@maya)\n",
    "yaml": (
        "# T\n\n## Action items\n\n```yaml\naction_items:\n  - item: Fix a\n    owner: '@sri'\n"
        "  - item: \"Fix b\"\n    owner: '@lee'\n  - item: Fix c\n    owner: '@maya'\n```\n"
    ),
}


def structure(text: str) -> tuple[int, int, int]:
    lines = text.split("\n")
    return (
        len(lines),
        sum(ln.lstrip().startswith("|") for ln in lines),
        sum(ln.startswith("#") for ln in lines),
    )


@pytest.mark.parametrize("fmt", list(DOCS))
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_ticket_values_are_escaped_by_the_patcher(fmt: str, name: str) -> None:
    text, value = DOCS[fmt], HOSTILE[name]
    doc = parse_text(text)
    target = doc.action_items[0]
    try:
        after = apply_edits(text, doc, [Edit(target, ticket=value, status=Status.DONE)])
    except WriteRefused:
        # verify-before-write: a value that would not read back as written is refused and
        # the document is left as it was -- as safe as escaping it
        report.add("hostile", patcher_cases=1)
        return
    benign = apply_edits(text, doc, [Edit(target, ticket="OPS-1", status=Status.DONE)])
    report.add("hostile", patcher_cases=1)
    assert structure(after) == structure(benign), f"{fmt}/{name}: structure changed:\n{after}"
    again = parse_text(after)
    assert len(again.action_items) == len(doc.action_items)
    first, *rest = again.action_items
    assert (first.action, first.owner) == (target.action, target.owner)
    assert first.ticket, after
    for old, new in zip(doc.action_items[1:], rest, strict=True):
        assert (new.action, new.owner, new.status, new.ticket) == (
            old.action,
            old.owner,
            old.status,
            old.ticket,
        )


@pytest.mark.parametrize("fmt", ["table", "list"])
def test_html_from_a_tracker_is_not_written_raw(fmt: str) -> None:
    text = DOCS[fmt]
    doc = parse_text(text)
    try:
        after = apply_edits(text, doc, [Edit(doc.action_items[0], ticket=HOSTILE["script"])])
    except WriteRefused:
        return  # refused by the verifier: nothing written at all
    assert "<script" not in after.lower()


@pytest.fixture
def synced(tmp_path: Path) -> Rig:
    docs = {
        "payments/hostile.md": DOCS["table"].replace("| OPS-9 |", "|  |"),
        "2026/hostile.md": DOCS["list"],
    }
    rig = Rig.create(tmp_path, docs)
    code, _data, _err = rig.sync_inprocess()
    assert code == 0
    yield rig
    rig.stop()


def test_hostile_titles_through_a_real_sync_leave_docs_intact(synced: Rig) -> None:
    rig = synced
    before = {rel: rig.read(rel) for rel in ("payments/hostile.md", "2026/hostile.md")}
    title = " ".join(HOSTILE.values())[:20_000]
    gh_key = rig.github.keys()[0]
    rig.github.human_edit(gh_key, title=title)
    rig.github.human_set_status(rig.github.keys()[1], Status.DONE)
    rig.jira.human_update("OPS-1", summary=title.replace("\n", " ")[:250])
    rig.jira.human_set_status("OPS-2", Status.DONE)
    for _ in range(2):
        code, data, _err = rig.sync_inprocess()
        assert code == 0, data
    report.add("hostile", real_sync_cases=2)
    for rel, old in before.items():
        new = rig.read(rel)
        assert structure(new) == structure(old), new
        assert "<script" not in new and "javascript:" not in new
        old_doc, new_doc = parse_text(old), parse_text(new)
        assert [i.action for i in new_doc.action_items] == [i.action for i in old_doc.action_items]
        assert sum(i.status is Status.DONE for i in new_doc.action_items) == 1, new
    # the doc owns the title: the next run puts the doc's action text back
    assert rig.github.issue(gh_key)["title"] in ("Fix a", title)
