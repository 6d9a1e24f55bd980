"""Write-back verification: a patched document is written only if it reads back as
exactly the intended change.

The patcher plans a list of span replacements and then applies them. This module
checks the result independently of how it was produced, so a bug anywhere in the
patcher (a value landing in the next row, an edit over a closing fence, an escape
that breaks the YAML) is refused instead of committed:

1. every byte outside the planned spans is identical, and each planned span is a
   value the tool owns (an edited item's status/ticket value or cell) or an insertion
   at the end of a line / YAML entry;
2. the patched text re-parses to the same items in the same order, with the same
   problems, and only the edited items' ticket and status differ — each now reading
   as intended.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from syncd.documents.blocks import ListBlock, YamlBlock
from syncd.documents.cells import parse_ticket
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_text
from syncd.documents.tables import PlainTable, TableBlock
from syncd.model import ActionItem, Postmortem, Status, Style


class VerificationFailed(Exception):
    """The patched text did not verify; the document must stay byte-identical."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: write refused, the document was left unchanged: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Planned:
    """One planned replacement of old[start:end] by `text` (an insertion if start == end)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Intent:
    """What one edit is meant to achieve on one item (None: leave that field alone)."""

    item: ActionItem
    ticket: str | None
    status: Status | None


def verify_write(
    old: str,
    doc: Postmortem,
    new: str,
    intents: Sequence[Intent],
    planned: Iterable[Planned],
    options: ParseOptions | None = None,
) -> None:
    """Raise `VerificationFailed` unless `new` is `old` with exactly the intended changes.
    `options` are those `doc` was parsed with (the patched text is re-read with them)."""
    ordered = sorted(planned, key=lambda p: (p.start, p.end))
    _check_bytes(old, doc, new, intents, ordered)
    _check_reparse(doc, new, intents, options)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, max(0, min(offset, len(text)))) + 1


# -- 1. bytes outside the owned spans ------------------------------------------------


def _owned_spans(doc: Postmortem, intents: Sequence[Intent]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for intent in intents:
        anchor = intent.item.anchor
        if anchor is None:
            continue
        spans.extend((s.start, s.end) for s in (anchor.status, anchor.ticket) if s is not None)
        block = doc.blocks[anchor.block] if anchor.block < len(doc.blocks) else None
        if anchor.style is Style.TABLE and isinstance(block, TableBlock):
            row = block.rows[anchor.row]
            for name in ("status", "ticket"):
                col = block.columns.get(name)
                if col is not None and col < len(row.cells):
                    cell = row.cells[col]
                    spans.append((cell.inner_start, cell.inner_end))
    return spans


def _block_extent(block: object) -> tuple[int, int] | None:
    """First and last offset of the lines a table or list block occupies."""
    if isinstance(block, TableBlock):
        lines = [block.header.line] + [row.line for row in block.rows]
    elif isinstance(block, PlainTable):
        lines = [*block.rules, block.header] + [line for line, _spans in block.rows]
    elif isinstance(block, ListBlock):
        lines = [e.first for e in block.entries] + [e.last for e in block.entries]
    else:
        return None
    return min(ln.start for ln in lines), max(ln.end for ln in lines)


def _insertion_point(
    old: str, doc: Postmortem, intents: Sequence[Intent], pos: int, text: str
) -> bool:
    """Insertions go at the end of a line of an edited item's table or list (trailing
    blanks allowed), or at the end / closing brace of an edited YAML entry; only a new
    YAML key starts a line of its own."""
    blocks = {i.item.anchor.block for i in intents if i.item.anchor is not None}
    for idx in blocks:
        block = doc.blocks[idx] if idx < len(doc.blocks) else None
        if isinstance(block, YamlBlock) and any(
            pos in (e.insert_at, e.flow_close) for e in block.entries
        ):
            return True
        extent = _block_extent(block)
        if extent is None or "\n" in text or not extent[0] <= pos <= extent[1]:
            continue
        end = old.find("\n", pos)
        if not old[pos : len(old) if end == -1 else end].strip(" \t\r"):
            return True
    return False


def _check_bytes(
    old: str, doc: Postmortem, new: str, intents: Sequence[Intent], ordered: list[Planned]
) -> None:
    owned = _owned_spans(doc, intents)
    pos_old = pos_new = 0
    for change in ordered:
        if change.start < pos_old:
            raise VerificationFailed(_line_of(old, change.start), "two edits overlap")
        inside = any(a <= change.start and change.end <= b for a, b in owned)
        if change.start == change.end:
            if not inside and not _insertion_point(old, doc, intents, change.start, change.text):
                raise VerificationFailed(
                    _line_of(old, change.start), "an insertion inside human text"
                )
        elif not inside:
            raise VerificationFailed(
                _line_of(old, change.start), "an edit outside the owned values"
            )
        if ("\n" in change.text or "\r" in change.text) and not (
            change.start == change.end and change.text.startswith(("\n", "\r"))
        ):
            raise VerificationFailed(_line_of(old, change.start), "an edit that breaks a line")
        keep = old[pos_old : change.start]
        if new[pos_new : pos_new + len(keep)] != keep:
            raise VerificationFailed(
                _line_of(old, _first_difference(keep, new[pos_new:]) + pos_old),
                "text outside the owned values would change",
            )
        pos_new += len(keep) + len(change.text)
        pos_old = change.end
    if new[pos_new:] != old[pos_old:]:
        raise VerificationFailed(
            _line_of(old, _first_difference(old[pos_old:], new[pos_new:]) + pos_old),
            "text outside the owned values would change",
        )


def _first_difference(a: str, b: str) -> int:
    for idx, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return idx
    return min(len(a), len(b))


# -- 2. the patched text re-reads as intended -------------------------------------------


def _same_except_owned(a: ActionItem, b: ActionItem) -> bool:
    return (a.action, a.owner, a.due, a.priority, a.category, a.due_raw) == (
        b.action,
        b.owner,
        b.due,
        b.priority,
        b.category,
        b.due_raw,
    )


def _ticket_reads_as(value: str | None, intended: str) -> bool:
    one_line = " ".join(intended.split())  # the patcher writes values on one line
    wanted = (intended, one_line, parse_ticket(one_line))
    # the patcher writes `<` as `&lt;` (no raw HTML from a tracker): it reads back escaped
    if value is None:
        return False
    read = html.unescape(value)
    return value in wanted or read in wanted or " ".join(read.split()) in wanted


def _status_ok(old: ActionItem, new: ActionItem, intended: Status) -> bool:
    if new.status is intended:
        return True
    # a checkbox cannot say "in progress": it stays unticked
    checkbox = old.anchor is not None and old.anchor.status_kind == "checkbox"
    return checkbox and intended is Status.IN_PROGRESS and new.status is Status.OPEN


def _check_reparse(
    doc: Postmortem, new: str, intents: Sequence[Intent], options: ParseOptions | None
) -> None:
    again = parse_text(new, doc.path, options=options)
    before, after = doc.action_items, again.action_items
    if len(after) != len(before):
        line = next(
            (a.line for a, b in zip(before, after, strict=False) if a.action != b.action),
            before[-1].line if before else 1,
        )
        raise VerificationFailed(
            line, f"the document would read as {len(after)} items instead of {len(before)}"
        )
    new_problems = Counter(p.message for p in again.problems) - Counter(
        p.message for p in doc.problems
    )
    if new_problems:
        message = next(iter(new_problems))
        line = next((p.line for p in again.problems if p.message == message), 1)
        raise VerificationFailed(line, f"the patched document has a new problem: {message}")
    by_item = {id(i.item): i for i in intents}
    by_value = {(i.item, i.item.line): i for i in intents}  # an equal item parsed anew
    for old_item, new_item in zip(before, after, strict=True):
        intent = by_item.get(id(old_item)) or by_value.get((old_item, old_item.line))
        if not _same_except_owned(old_item, new_item):
            raise VerificationFailed(old_item.line, "an item's text, owner or dates would change")
        if intent is None:
            if (new_item.ticket, new_item.status) != (old_item.ticket, old_item.status):
                raise VerificationFailed(old_item.line, "an item that was not edited would change")
            continue
        if intent.ticket is not None and intent.ticket != old_item.ticket:
            if not _ticket_reads_as(new_item.ticket, intent.ticket):
                raise VerificationFailed(old_item.line, "the ticket would not read back as written")
        elif new_item.ticket != old_item.ticket:
            raise VerificationFailed(old_item.line, "the ticket would change unasked")
        if intent.status is not None and intent.status != old_item.status:
            if not _status_ok(old_item, new_item, intent.status):
                raise VerificationFailed(old_item.line, "the status would not read back as written")
        elif new_item.status != old_item.status:
            raise VerificationFailed(old_item.line, "the status would change unasked")
