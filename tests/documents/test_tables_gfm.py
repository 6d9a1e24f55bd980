"""Tables as GitHub renders them (markdown-it-py's GFM table rule is the oracle), with the
leniencies listed in docs/formats.md, and column additions that never lose text."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from syncd.documents.parser import parse_text
from syncd.documents.patch import Edit, PatchError, apply_edits
from syncd.model import Status

GFM = MarkdownIt("commonmark").enable("table")
HEAD = "# Incident\n\n## Action items\n\n"


def gfm_rows(text: str) -> int:
    """Body rows GitHub renders (rows in every table of the document)."""
    tokens = GFM.parse(text)
    return sum(1 for t in tokens if t.type == "tr_open") - sum(
        1 for t in tokens if t.type == "thead_open"
    )


TABLE = "| Action | Owner |\n|---|---|\n| Fix pool | @a |\n"


@pytest.mark.parametrize(
    "text",
    [
        HEAD + "<!--\n" + TABLE + "-->\n",
        HEAD + "<!-- old plan:\n" + TABLE + "-->\n\nText.\n",
        HEAD + "Text.\n\n    | Action | Owner |\n    |---|---|\n    | Fix pool | @a |\n",
    ],
    ids=["comment", "comment-with-text", "indented-code"],
)
def test_nothing_in_comments_or_indented_code_is_read(text: str) -> None:
    assert gfm_rows(text) == 0
    assert parse_text(text).action_items == ()


@pytest.mark.parametrize("after", ["> Note | x\n", "- see | x\n", "1. see | x\n", "## Next | x\n"])
def test_a_block_after_a_table_is_not_a_row(after: str) -> None:
    text = HEAD + TABLE + after
    assert gfm_rows(text) == 1
    assert [i.action for i in parse_text(text).action_items] == ["Fix pool"]


def test_a_single_column_table_is_read_and_gets_a_ticket_column() -> None:
    text = HEAD + "| Action |\n|---|\n| Fix pool |\n| Add alert |\n"
    assert gfm_rows(text) == 2
    doc = parse_text(text)
    assert [i.action for i in doc.action_items] == ["Fix pool", "Add alert"]
    after = apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-1")])
    assert [i.ticket for i in parse_text(after).action_items] == ["OPS-1", None]


def test_a_table_nested_in_a_list_item_is_read() -> None:
    text = HEAD + "- Follow-ups agreed in the review\n\n  " + TABLE.replace("\n|", "\n  |")
    assert gfm_rows(text) == 1
    doc = parse_text(text)
    assert "Fix pool" in [i.action for i in doc.action_items]
    item = next(i for i in doc.action_items if i.action == "Fix pool")
    after = apply_edits(text, doc, [Edit(item, ticket="OPS-4")])
    again = next(i for i in parse_text(after).action_items if i.action == "Fix pool")
    assert again.ticket == "OPS-4"


def test_extra_cells_survive_a_new_ticket_column() -> None:
    text = (
        HEAD + "| Action | Owner |\n|---|---|\n| Fix pool | @a | see INC-4 |\n| Add alert | @b |\n"
    )
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[1], ticket="OPS-2")])
    assert "see INC-4" in after
    rows = [i for i in parse_text(after).action_items]
    assert [(i.action, i.ticket) for i in rows] == [("Fix pool", None), ("Add alert", "OPS-2")]


def test_a_row_flagged_malformed_is_never_written() -> None:
    text = (
        HEAD + "| Action | Owner |\n|---|---|\n| Fix pool | @a | x | more |\n| Add alert | @b |\n"
    )
    doc = parse_text(text)
    assert any("cells but the header" in p.message for p in doc.problems)
    with pytest.raises(PatchError, match=r"^line 7: this row has 4 cells"):
        apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-1", status=Status.DONE)])
    # the other rows still take a column that leaves the malformed row's text intact
    after = apply_edits(text, doc, [Edit(doc.action_items[1], ticket="OPS-2")])
    assert "| Fix pool | @a | x | more |" in after
    assert parse_text(after).action_items[1].ticket == "OPS-2"
