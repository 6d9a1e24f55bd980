"""The patcher changes only tool-owned cells; everything else survives byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.documents.parser import parse_file, parse_text
from syncd.documents.patch import Edit, apply_edits, write_atomic
from syncd.model import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL_DOCS = sorted(FIXTURES.rglob("*.md"))


def edited_lines(before: str, after: str) -> set[int]:
    """Indexes of lines that differ (documents keep their line count in these tests)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return {i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y}


@pytest.mark.parametrize("path", ALL_DOCS, ids=lambda p: p.name)
def test_no_edits_is_identity_and_every_item_edit_lands(path: Path) -> None:
    doc, text = parse_file(path)
    assert text is not None
    assert apply_edits(text, doc, []) == text
    edits = [
        Edit(item, ticket=f"OPS-{900 + n}", status=Status.DONE if n % 2 == 0 else Status.WONT_DO)
        for n, item in enumerate(doc.action_items)
    ]
    after = apply_edits(text, doc, edits)
    again = parse_text(after, path)
    assert len(again.action_items) == len(doc.action_items)
    for n, (old, new) in enumerate(zip(doc.action_items, again.action_items, strict=True)):
        assert new.ticket == f"OPS-{900 + n}"
        assert (new.action, new.owner, new.due, new.priority) == (
            old.action,
            old.owner,
            old.due,
            old.priority,
        )
        expected = Status.DONE if n % 2 == 0 else Status.WONT_DO
        assert new.status is expected, (new.line, new.status_raw)


def test_only_the_two_cells_change_and_crlf_and_missing_newline_survive() -> None:
    text = (
        "# T\r\n\r\n## Action Items\r\n"
        "| Action    | Owner | Status      | Ticket |\r\n"
        "|-----------|-------|-------------|--------|\r\n"
        "| Fix a     | @a    | Open        |        |\r\n"
        "| Fix b     | @b    | In Progress | OPS-1  |"
    )
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-2", status=Status.DONE)])
    assert after == text.replace("| Open        |        |", "| Done        | OPS-2  |")
    assert not after.endswith("\n")


def test_adding_a_ticket_column_touches_header_separator_and_rows_only() -> None:
    text = "Intro | not a table\n\n## Action items\n| # | Action | Owner |\n|---|---|---|\n| 1 | Fix a | @a |\n| 2 | Fix b |\n\nOutro\n"
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[1], ticket="OPS-7")])
    assert after.splitlines()[3:7] == [
        "| # | Action | Owner | Ticket |",
        "|---|---|---|---|",
        "| 1 | Fix a | @a |  |",
        "| 2 | Fix b |  | OPS-7 |",
    ]
    assert edited_lines(text, after) == {3, 4, 5, 6}


def test_values_are_escaped_in_cells() -> None:
    text = "## Action Items\n| Action | Ticket |\n|---|---|\n| Fix | |\n"
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[0], ticket="A|B\nC")])
    assert "| A\\|B C |" in after
    assert parse_text(after).action_items[0].action == "Fix"


def test_status_written_in_the_documents_own_vocabulary() -> None:
    text = (
        "## Action Items\n| Action | Status |\n|---|---|\n| a | Complete |\n| b | Not Started |\n"
    )
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[1], status=Status.DONE)])
    assert after.endswith("| b | Complete    |\n")


def test_checkbox_bold_and_list_fields() -> None:
    text = "## Action Items\n- [ ] Add alert (@a)\n- **TODO** Write runbook\n- Fix it **Owner:** @c\n- Plain item\n"
    doc = parse_text(text)
    edits = [Edit(i, status=Status.DONE, ticket=f"OPS-{n}") for n, i in enumerate(doc.action_items)]
    after = apply_edits(text, doc, edits)
    assert after.splitlines()[1:] == [
        "- [x] Add alert (@a) (OPS-0)",
        "- **DONE** Write runbook (OPS-1)",
        "- Fix it **Owner:** @c **Ticket:** OPS-2 **Status:** Done",
        "- Plain item (OPS-3) **DONE**",
    ]
    assert [(i.status, i.ticket) for i in parse_text(after).action_items] == [
        (Status.DONE, f"OPS-{n}") for n in range(4)
    ]


def test_yaml_patched_in_place_with_comments_kept() -> None:
    text = "## Action Items\n```yaml\naction_items:\n  # keep me\n  - item: Fix  # trailing\n    status: 'open'\n  - {item: Other, owner: '@b'}\n```\n"
    doc = parse_text(text)
    after = apply_edits(
        text,
        doc,
        [
            Edit(doc.action_items[0], status=Status.DONE, ticket="OPS-1"),
            Edit(doc.action_items[1], ticket="OPS-2"),
        ],
    )
    assert "# keep me" in after and "# trailing" in after
    assert "    status: 'Done'\n    ticket: 'OPS-1'\n" in after
    assert "- {item: Other, owner: '@b', ticket: 'OPS-2'}" in after
    assert [(i.status, i.ticket) for i in parse_text(after).action_items] == [
        (Status.DONE, "OPS-1"),
        (Status.OPEN, "OPS-2"),
    ]


def test_write_atomic_keeps_bytes_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_bytes(b"a\r\nb")
    path.chmod(0o640)
    write_atomic(path, "x\r\ny")
    assert path.read_bytes() == b"x\r\ny"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["doc.md"]


# -- property: generated tables ---------------------------------------------------------

HEADERS = {
    "action": ["Action", "Action Item", "Task", "Item"],
    "owner": ["Owner", "Who", "Assignee"],
    "due": ["Due", "Due Date", "Target date"],
    "status": ["Status"],
    "ticket": ["Ticket", "Jira", "Issue"],
}
words = (
    st.text(alphabet=st.sampled_from("abcdefgh xyz-_.`"), min_size=1, max_size=18)
    .map(str.strip)
    .filter(
        lambda s: (
            s
            and not s.startswith(("-", "_", "`", "."))
            and s.count("`") == 0
            and not re.fullmatch(r"x+", s)
        )
    )
)


@st.composite
def table_docs(draw: st.DrawFn) -> tuple[str, list[str]]:
    columns = draw(st.permutations(["action", "owner", "due", "status", "ticket"]))
    columns = [c for c in columns if c == "action" or draw(st.booleans())]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    outer = draw(st.booleans())
    pad = draw(st.sampled_from(["", " ", "  "]))
    rows = draw(
        st.lists(
            st.tuples(
                words,
                st.sampled_from(["@ann", "@bo", "Kim Lee", ""]),
                st.sampled_from(["2026-01-05", "Jan 9", ""]),
                st.sampled_from(["Open", "Done", "In Progress", ""]),
                st.sampled_from(["OPS-1", "#4", ""]),
            ),
            min_size=1,
            max_size=5,
        )
    )

    def line(cells: list[str]) -> str:
        body = "|".join(f"{pad}{c}{pad}" for c in cells)
        return f"|{body}|" if outer else body

    header = [draw(st.sampled_from(HEADERS[c])) for c in columns]
    out = [
        "# Generated",
        "**Date:** 2026-01-01",
        "",
        "## Action Items",
        line(header),
        line(["---"] * len(columns)),
    ]
    index = {"action": 0, "owner": 1, "due": 2, "status": 3, "ticket": 4}
    for row in rows:
        out.append(line([row[index[c]] for c in columns]))
    tail = draw(st.sampled_from(["", newline, newline + "After." + newline]))
    return newline.join(out) + tail, columns


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=table_docs(), choice=st.data())
def test_property_edits_change_only_owned_cells(
    data: tuple[str, list[str]], choice: st.DataObject
) -> None:
    text, columns = data
    doc = parse_text(text)
    assert apply_edits(text, doc, []) == text
    if not doc.action_items:
        return
    target = choice.draw(st.sampled_from(doc.action_items))
    status = choice.draw(st.sampled_from(list(Status)))
    after = apply_edits(text, doc, [Edit(target, ticket="NEW-42", status=status)])
    again = parse_text(after)
    for old, new in zip(doc.action_items, again.action_items, strict=True):
        assert (new.action, new.owner, new.due) == (old.action, old.owner, old.due)
        if old.line == target.line:
            assert (new.ticket, new.status) == ("NEW-42", status)
        else:
            assert new.ticket == old.ticket
    changed = edited_lines(text, after)
    table_lines = set(range(4, 4 + 2 + len(doc.blocks[0].rows)))  # type: ignore[attr-defined]
    assert changed <= table_lines
    if "ticket" in columns and "status" in columns:
        assert changed == {target.line - 1}
    assert after.count("\r\n") == text.count("\r\n")


def test_stale_temp_files_of_a_killed_write_are_removed(tmp_path: Path) -> None:
    from syncd.documents.patch import remove_stale_temp_files

    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / ".doc.md.abc123.syncd-tmp"
    stale.write_text("half")
    keep = tmp_path / "sub" / "doc.md"
    keep.write_text("x")
    other = tmp_path / ".notes.tmp"
    other.write_text("y")
    assert remove_stale_temp_files(tmp_path) == 1
    assert not stale.exists() and keep.exists() and other.exists()
