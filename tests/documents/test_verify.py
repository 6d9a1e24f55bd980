"""Write-back verification: a faulty low-level edit is refused, the text stays as it was.

The patcher's `_apply` (the step that splices planned values into the text) and its
cell/YAML writers are replaced by corrupting versions; every corrupting write must be
refused with a `WriteRefused` naming a line, for every document format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncd.documents import patch
from syncd.documents.parser import parse_text
from syncd.documents.patch import Edit, PatchError, WriteRefused, apply_edits
from syncd.model import Status

FORMATS = {
    "table": "# T\n\n## Action items\n\n| Action | Owner | Status | Ticket |\n|---|---|---|---|\n"
    "| Fix pool | @a | Open | |\n| Add alert | @b | Open | OPS-2 |\n\nAfter.\n",
    "table-new-column": "# T\n\n## Action items\n\n| Action | Owner |\n|---|---|\n"
    "| Fix pool | @a |\n| Add alert | @b |\n",
    "plain-table": "# T\n\n## Action items\n\n---------------------------------\n"
    "Action      Owner   Status\n---------------------------------\n"
    "Fix pool    @a      Open\nAdd alert   @b      Open\n---------------------------------\n",
    "list": "# T\n\n## Action items\n\n- [ ] Fix pool (@a)\n- [ ] Add alert (@b)\n\nAfter.\n",
    "yaml-fence": "# T\n\n```yaml\naction_items:\n  - item: Fix pool\n    owner: a\n"
    "    status: open\n  - item: Add alert\n    owner: b\n```\n\nAfter.\n",
    "front-matter": "---\ntitle: T\naction_items:\n  - item: Fix pool\n    status: open\n"
    "  - item: Add alert\n    status: open\n---\n\n# T\n",
}


def _edits(text: str) -> tuple[Any, list[Edit]]:
    doc = parse_text(text)
    assert len(doc.action_items) == 2, doc
    return doc, [Edit(doc.action_items[0], ticket="OPS-77", status=Status.DONE)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_honest_patch_verifies(fmt: str) -> None:
    text = FORMATS[fmt]
    doc, edits = _edits(text)
    after = apply_edits(text, doc, edits)
    first, second = parse_text(after).action_items
    assert (first.ticket, first.status) == ("OPS-77", Status.DONE)
    other = doc.action_items[1]
    assert (second.action, second.owner, second.ticket, second.status) == (
        other.action,
        other.owner,
        other.ticket,
        other.status,
    )


def _corrupt_output(how: str) -> Callable[[str, list[Any]], str]:
    """A faulty `_apply`: the right splice, then one kind of damage."""
    honest = patch._apply

    def faulty(text: str, changes: list[Any]) -> str:
        out = honest(text, changes)
        first = min(changes, key=lambda c: c.start)
        if how == "drop-a-char-before":
            cut = max(0, first.start - 3)
            return out[:cut] + out[cut + 1 :]
        if how == "drop-the-last-line":
            return out.rstrip("\n").rsplit("\n", 1)[0] + "\n"
        if how == "duplicate-a-line":
            lines = out.splitlines(keepends=True)
            return "".join(lines[:-1] + lines[-2:])
        if how == "change-line-endings":
            return out.replace("\n", "\r\n")
        if how == "value-shifted-by-one":
            return honest(text, [type(c)(c.start + 1, c.end + 1, c.text, c.order) for c in changes])
        if how == "edit-dropped":
            return honest(text, changes[1:]) if len(changes) > 1 else text + " "
        if how == "edits-applied-twice":
            return honest(out, changes)
        if how == "truncated":
            return out[: len(out) // 2]
        raise AssertionError(how)

    return faulty


CORRUPTIONS = [
    "drop-a-char-before",
    "drop-the-last-line",
    "duplicate-a-line",
    "change-line-endings",
    "value-shifted-by-one",
    "edit-dropped",
    "edits-applied-twice",
    "truncated",
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", CORRUPTIONS)
def test_every_corrupting_splice_is_refused(
    monkeypatch: pytest.MonkeyPatch, fmt: str, how: str
) -> None:
    text = FORMATS[fmt]
    doc, edits = _edits(text)
    monkeypatch.setattr(patch, "_apply", _corrupt_output(how))
    with pytest.raises(WriteRefused, match=r"^line \d+: write refused"):
        apply_edits(text, doc, edits)


def _wrong_value(value: str) -> str:
    return value.replace("OPS-77", "OPS-78").replace("Done", "Open").replace("done", "open")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "how",
    [
        "wrong-value",
        "into-the-next-item",
        "eats-the-neighbour",
        "newline-in-value",
        "appended-to-prose",
        "new-line-after-the-title",
    ],
)
def test_every_corrupting_planned_edit_is_refused(
    monkeypatch: pytest.MonkeyPatch, fmt: str, how: str
) -> None:
    """The planned changes themselves are wrong (what a patcher bug produces)."""
    text = FORMATS[fmt]
    doc, edits = _edits(text)
    honest = patch._apply
    second_line = doc.action_items[1].line
    second_offset = sum(len(x) for x in text.splitlines(keepends=True)[: second_line - 1])

    def faulty(src: str, changes: list[Any]) -> str:
        kind = type(changes[0])
        if how == "wrong-value":
            changes = [kind(c.start, c.end, _wrong_value(c.text), c.order) for c in changes]
        elif how == "into-the-next-item":
            changes = [
                kind(
                    c.start + second_offset - c.start + 2,
                    c.start + second_offset - c.start + 2,
                    c.text,
                    c.order,
                )
                for c in changes
            ]
        elif how == "eats-the-neighbour":
            last = max(changes, key=lambda c: c.end)
            changes = [c for c in changes if c is not last] + [
                kind(last.start, min(len(src), last.end + 4), last.text, last.order)
            ]
        elif how == "appended-to-prose":  # the title line ends at offset 3 in every format
            title_end = src.index("\n", src.index("# T"))
            changes = [*changes, kind(title_end, title_end, " (OPS-77)", 9)]
        elif how == "new-line-after-the-title":
            title_end = src.index("\n", src.index("# T"))
            changes = [*changes, kind(title_end, title_end, "\nticket: OPS-77", 9)]
        elif how == "newline-in-value":
            changes = [kind(c.start, c.end, c.text + "\n- Extra item", c.order) for c in changes]
        return honest(src, changes)

    monkeypatch.setattr(patch, "_apply", faulty)
    # (edits that overlap each other are refused before anything is spliced)
    with pytest.raises(PatchError, match=r"^line \d+: write refused|^overlapping edits"):
        apply_edits(text, doc, edits)


def test_a_refused_write_is_a_patch_error_with_the_line() -> None:
    # the engine reports PatchError per document (kind "write-failed") and keeps the item due
    assert issubclass(WriteRefused, PatchError)
    error = WriteRefused("line 7: write refused, the document was left unchanged: x")
    assert str(error).startswith("line 7:")
