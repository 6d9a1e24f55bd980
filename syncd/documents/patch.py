"""The lossless patcher: change only the cells the tool owns (ticket, status).

Every edit is a replacement of a span the parser recorded, or an insertion at the end
of a row/line/YAML entry. Nothing else is touched: line endings, padding elsewhere,
alignment rows, a missing final newline all survive byte for byte.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from syncd.documents.blocks import ListBlock, YamlBlock
from syncd.documents.cells import TICKET_REF
from syncd.documents.options import ParseOptions
from syncd.documents.tables import PlainTable, Row, TableBlock, is_malformed
from syncd.documents.verify import Intent, Planned, VerificationFailed, verify_write
from syncd.documents.vocab import DEFAULT_STATUS_EMOJI, DEFAULT_STATUS_TEXT, parse_status
from syncd.model import ActionItem, Postmortem, Span, Status, Style


class PatchError(Exception):
    pass


class WriteRefused(PatchError):
    """The patched text did not verify (see `syncd.documents.verify`); nothing is written."""


@dataclass(frozen=True)
class Edit:
    item: ActionItem  # as parsed from the text being patched
    ticket: str | None = None  # new ticket reference (key or markdown link)
    status: Status | None = None  # new status, written in the document's own vocabulary


@dataclass(frozen=True)
class _Change:
    start: int
    end: int
    text: str
    order: int = 0  # several insertions at one offset keep this order


def escape_inline(value: str) -> str:
    """A tracker value made inert in Markdown prose: one line, no raw HTML tags."""
    return " ".join(value.split()).replace("<", "&lt;").replace(">", "&gt;")


def escape_cell(value: str) -> str:
    """A value safe inside a pipe-table cell: no raw `|`, no line breaks, no HTML."""
    return escape_inline(value).replace("\\|", "|").replace("|", "\\|")


def apply_edits(
    text: str, doc: Postmortem, edits: list[Edit], options: ParseOptions | None = None
) -> str:
    """`text` with `edits` applied, verified by re-reading it with `options` (those `doc`
    was parsed with; without them, the built-in defaults)."""
    changes: list[_Change] = []
    new_columns: dict[int, dict[str, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    cell_writes: _CellWrites = defaultdict(lambda: defaultdict(dict))
    vocab = _Vocabulary(doc)
    for edit in edits:
        anchor = edit.item.anchor
        if anchor is None:
            raise PatchError(f"item at line {edit.item.line} has no anchor")
        block = doc.blocks[anchor.block]
        if edit.status is not None and edit.status != edit.item.status:
            _status_change(edit, block, vocab, changes, new_columns, cell_writes)
        if edit.ticket is not None and edit.ticket != edit.item.ticket:
            _ticket_change(edit, block, changes, new_columns, cell_writes)
    for block_idx, columns in new_columns.items():
        block = doc.blocks[block_idx]
        if "Status" in columns:  # a new Status column states every row's status, not just one
            for item in doc.action_items:
                if item.anchor and item.anchor.block == block_idx:
                    columns["Status"].setdefault(item.anchor.row, vocab.cell(item.status))
        if isinstance(block, PlainTable):
            for name, values in columns.items():
                changes.extend(_add_plain_column(block, name, values))
    for block_idx in set(cell_writes) | set(new_columns):
        block = doc.blocks[block_idx]
        if isinstance(block, TableBlock):
            changes.extend(_table_changes(block, cell_writes[block_idx], new_columns[block_idx]))
    if not changes:
        return text
    new_text = _apply(text, changes)
    try:
        verify_write(
            text,
            doc,
            new_text,
            [Intent(e.item, e.ticket, e.status) for e in edits],
            [Planned(c.start, c.end, c.text) for c in changes],
            options,
        )
    except VerificationFailed as exc:
        raise WriteRefused(str(exc)) from None
    return new_text


_CellWrites = defaultdict[int, defaultdict[int, dict[int, str]]]


def _apply(text: str, changes: list[_Change]) -> str:
    ordered = sorted(changes, key=lambda c: (c.start, c.end, c.order))
    for prev, cur in itertools.pairwise(ordered):
        if cur.start < prev.end:
            raise PatchError(f"overlapping edits at offset {cur.start}")
    out, pos = [], 0
    for change in ordered:
        out.append(text[pos : change.start])
        out.append(change.text)
        pos = change.end
    out.append(text[pos:])
    return "".join(out)


# -- status --------------------------------------------------------------------------


class _Vocabulary:
    """How this document spells each status (a doc that says `Complete` gets `Complete`)."""

    def __init__(self, doc: Postmortem) -> None:
        self.words: dict[Status, str] = {}
        self.emoji = False
        for item in doc.action_items:
            raw = (item.status_raw or "").strip()
            kind = item.anchor.status_kind if item.anchor else "none"
            if not raw or kind not in ("cell",) or parse_status(raw) is not item.status:
                continue  # (an unrecognised word read as open is no spelling of "open")
            if any(ord(ch) > 0x2000 for ch in raw) and len(raw) <= 3:
                self.emoji = True
            self.words.setdefault(item.status, raw)

    def cell(self, status: Status) -> str:
        if status in self.words:
            return self.words[status]
        if self.emoji:
            return DEFAULT_STATUS_EMOJI[status]
        return DEFAULT_STATUS_TEXT[status]

    def bold(self, status: Status, previous: str) -> str:
        word = {
            Status.OPEN: "TODO",
            Status.IN_PROGRESS: "IN PROGRESS",
            Status.DONE: "DONE",
            Status.WONT_DO: "WON'T DO",
        }[status]
        return word if previous.isupper() else word.title().replace("'D", "'d")


_CHECKBOX = {Status.OPEN: " ", Status.IN_PROGRESS: " ", Status.DONE: "x", Status.WONT_DO: "-"}


def _status_change(
    edit: Edit,
    block: object,
    vocab: _Vocabulary,
    changes: list[_Change],
    new_columns: dict[int, dict[str, dict[int, str]]],
    cell_writes: _CellWrites,
) -> None:
    item, status = edit.item, edit.status
    assert item.anchor is not None and status is not None
    anchor = item.anchor
    span = anchor.status
    if anchor.status_kind == "checkbox" and span:
        # a checkbox cannot say "in progress": it stays unticked
        changes.append(_Change(span.start, span.end, _CHECKBOX[status]))
        return
    if anchor.status_kind == "bold" and span:
        changes.append(_Change(span.start, span.end, vocab.bold(status, item.status_raw or "X")))
        return
    word = vocab.cell(status)
    if anchor.style is Style.TABLE:
        assert isinstance(block, TableBlock)
        _refuse_malformed(block, item, "status")
        col = block.columns.get("status")
        if col is None:
            new_columns[anchor.block]["Status"][anchor.row] = escape_cell(word)
            return
        cell_writes[anchor.block][anchor.row][col] = escape_cell(word)
        return
    if anchor.style is Style.PLAIN_TABLE:
        assert isinstance(block, PlainTable)
        if span is None:
            new_columns[anchor.block]["Status"][anchor.row] = word
            return
        changes.append(_Change(span.start, span.end, word))
        return
    if anchor.style is Style.YAML:
        assert isinstance(block, YamlBlock)
        changes.append(_yaml_value(block, item, "status", word, span, order=1))
        return
    if anchor.style is Style.LIST:
        assert isinstance(block, ListBlock)
        entry = block.entries[anchor.row]
        if span:
            changes.append(_Change(span.start, span.end, escape_inline(word)))
        elif entry.uses_fields:
            changes.append(
                _Change(
                    entry.content_end,
                    entry.content_end,
                    f" **Status:** {escape_inline(word)}",
                    order=2,
                )
            )
        else:
            bold = vocab.bold(status, "X")
            changes.append(_Change(entry.content_end, entry.content_end, f" **{bold}**", order=2))


# -- ticket ---------------------------------------------------------------------------


def _ticket_change(
    edit: Edit,
    block: object,
    changes: list[_Change],
    new_columns: dict[int, dict[str, dict[int, str]]],
    cell_writes: _CellWrites,
) -> None:
    item, ticket = edit.item, edit.ticket
    assert item.anchor is not None and ticket is not None
    anchor = item.anchor
    span = anchor.ticket
    if anchor.style is Style.TABLE:
        assert isinstance(block, TableBlock)
        _refuse_malformed(block, item, "ticket")
        col = block.columns.get("ticket")
        if (
            col is not None
            and anchor.status_kind == "bold"
            and span is not None
            and (
                anchor.status is not None
                and span.start <= anchor.status.start
                and _same_cell(block.rows[anchor.row], col, anchor.status.start)
            )
        ):
            # the cell also holds the bold status ("Bug 123 **TODO**"): replace only the
            # reference in front of it
            text = escape_cell(ticket) + ("" if span.end > span.start else " ")
            changes.append(_Change(span.start, span.end, text))
        elif col is None:
            new_columns[anchor.block]["Ticket"][anchor.row] = escape_cell(ticket)
        else:
            cell_writes[anchor.block][anchor.row][col] = escape_cell(ticket)
    elif anchor.style is Style.PLAIN_TABLE:
        if span:
            changes.append(_Change(span.start, span.end, escape_inline(ticket)))
        else:
            new_columns[anchor.block]["Ticket"][anchor.row] = escape_inline(ticket)
    elif anchor.style is Style.YAML:
        assert isinstance(block, YamlBlock)
        changes.append(_yaml_value(block, item, "ticket", ticket, span, order=0))
    elif anchor.style is Style.LIST:
        assert isinstance(block, ListBlock)
        entry = block.entries[anchor.row]
        if span:
            changes.append(_Change(span.start, span.end, escape_inline(ticket)))
        elif entry.uses_fields or not re.fullmatch(TICKET_REF, ticket):
            # a value "(…)" would not read back as a ticket gets an explicit field
            changes.append(
                _Change(
                    entry.content_end,
                    entry.content_end,
                    f" **Ticket:** {escape_inline(ticket)}",
                    order=1,
                )
            )
        else:
            changes.append(
                _Change(
                    entry.content_end, entry.content_end, f" ({escape_inline(ticket)})", order=1
                )
            )


def _refuse_malformed(table: TableBlock, item: ActionItem, what: str) -> None:
    assert item.anchor is not None
    row = table.rows[item.anchor.row]
    if is_malformed(row, table.header):
        raise PatchError(
            f"line {item.line}: this row has {len(row.cells)} cells but the header has "
            f"{len(table.header.cells)}; syncd does not write a {what} into it until it is fixed"
        )


def _same_cell(row: Row, col: int, offset: int) -> bool:
    return col < len(row.cells) and row.cells[col].inner_start <= offset <= row.cells[col].inner_end


# -- tables ------------------------------------------------------------------------


def _set_cell(row: Row, col: int, value: str) -> _Change:
    """Replace one cell's content, keeping its width when the value fits."""
    cell = row.cells[col]
    inner_len = cell.inner_end - cell.inner_start
    lead = cell.start - cell.inner_start
    if inner_len == 0:
        return _Change(cell.inner_start, cell.inner_end, f" {value} ")
    lead = max(1, min(lead, 1)) if cell.start == cell.end else max(lead, 0)
    body = " " * lead + value
    if len(body) + 1 <= inner_len:
        body = body.ljust(inner_len)
    else:
        body += " "
    # keep a cell that had no padding at all (`|a|b|`) tight
    if lead == 0 and cell.end == cell.inner_end:
        body = value
    return _Change(cell.inner_start, cell.inner_end, body)


def _table_changes(
    table: TableBlock, writes: dict[int, dict[int, str]], new_columns: dict[str, dict[int, str]]
) -> list[_Change]:
    """All edits of one table, one set of changes per row.

    New columns go after the header's last cell; a ragged row gets the empty cells it
    lacks so every value lands under its header.
    """
    # new columns go after every cell that holds text, also a row's cells beyond its header,
    # so adding a column never writes over what a person typed
    width = max(
        [len(table.header.cells)]
        + [
            max(i for i, c in enumerate(row.cells) if c.text) + 1
            for row in table.rows
            if any(c.text for c in row.cells[len(table.header.cells) :])
        ]
    )
    names = list(new_columns)
    changes: list[_Change] = []
    if names:
        header = {width + k: name for k, name in enumerate(names)}
        changes.extend(_row_changes(table.header, header))
        if table.separator is not None:
            sep = {width + k: "-" * max(3, len(name)) for k, name in enumerate(names)}
            changes.extend(_row_changes(table.separator, sep, separator=True))
    for row_idx, row in enumerate(table.rows):
        row_writes = dict(writes.get(row_idx, {}))
        for k, name in enumerate(names):
            row_writes[width + k] = new_columns[name].get(row_idx, "")
        if row_writes:
            changes.extend(_row_changes(row, row_writes))
    return changes


def _row_changes(row: Row, writes: dict[int, str], *, separator: bool = False) -> list[_Change]:
    changes = [_set_cell(row, col, value) for col, value in writes.items() if col < len(row.cells)]
    beyond = [col for col in writes if col >= len(row.cells)]
    if not beyond:
        return changes
    last = max(beyond)
    tight = separator and bool(row.cells) and row.cells[-1].start == row.cells[-1].inner_start
    cells = []
    for col in range(len(row.cells), last + 1):
        value = writes.get(col, "")
        if separator and (tight or not value):  # `|---|` rows keep their own dash width
            value = "-" * max(3, len(row.cells[-1].text.strip(":"))) if tight else (value or "---")
        cells.append(value if tight else (f" {value} " if value else "  "))
    if row.trailing_pipe:
        pos = row.line.start + row.line.text.rstrip().rfind("|") + 1
        changes.append(_Change(pos, pos, "".join(f"{c}|" for c in cells), order=1))
    else:
        # without a closing pipe the last cell runs to the line end, padding included
        text = "".join(f"|{c}" if tight else f" |{c.rstrip()}" for c in cells)
        changes.append(_Change(row.line.end, row.line.end, text, order=1))
    return changes


def _add_plain_column(table: PlainTable, name: str, values: dict[int, str]) -> list[_Change]:
    lines = [table.header] + [line for line, _spans in table.rows]
    column = max(len(line.text.rstrip()) for line in lines) + 2
    changes = []
    for idx, line in enumerate(lines):
        value = name if idx == 0 else values.get(idx - 1, "")
        if not value:
            continue
        end = len(line.text.rstrip())
        changes.append(
            _Change(line.start + end, line.start + end, " " * (column - end) + value, order=1)
        )
    for rule in table.rules:
        width = column + max(len(name), *(len(v) for v in values.values()))
        rule_text = rule.text.rstrip()
        if len(rule_text) < width and rule_text.strip(" -=") == "":
            changes.append(
                _Change(
                    rule.start + len(rule_text),
                    rule.start + len(rule_text),
                    rule_text.strip()[0] * (width - len(rule_text)),
                    order=1,
                )
            )
    return changes


# -- YAML --------------------------------------------------------------------------


def _yaml_scalar(value: str, quote: str) -> str:
    if quote == "'":
        return "'" + value.replace("'", "''").replace("\n", " ") + "'"
    return json.dumps(value, ensure_ascii=False)


def _yaml_value(
    block: YamlBlock, item: ActionItem, key: str, word: str, span: Span | None, order: int
) -> _Change:
    """Replace the value of `key`, fill an empty `key:`, or add the key to the entry; a
    value in a shape that cannot be rewritten in place refuses the whole document."""
    assert item.anchor is not None
    entry = block.entries[item.anchor.row]
    reason = dict(entry.locked).get(key)
    if reason:
        raise PatchError(f"line {item.line}: the YAML {key} of this item {reason}")
    value = _yaml_scalar(word, entry.quote)
    if span is not None and span.start == span.end:  # `ticket:` with nothing after it
        return _Change(span.start, span.end, f" {value}")
    if span is not None:
        return _Change(span.start, span.end, value)
    return _yaml_insert(block, item, key, value, order)


def _yaml_insert(block: YamlBlock, item: ActionItem, key: str, value: str, order: int) -> _Change:
    assert item.anchor is not None
    entry = block.entries[item.anchor.row]
    if entry.flow:
        if entry.flow_close is None:
            raise PatchError(
                f"line {item.line}: this item is a YAML flow mapping over several lines; "
                f"syncd cannot add `{key}:` to it, write it on one line or as a block mapping"
            )
        # `- {item: x, owner: y}` → add the key before the closing brace
        return _Change(entry.flow_close, entry.flow_close, f", {key}: {value}", order=order)
    return _Change(
        entry.insert_at,
        entry.insert_at,
        f"{entry.newline}{entry.indent}{key}: {value}",
        order=order,
    )


# -- files ---------------------------------------------------------------------------


TEMP_SUFFIX = ".syncd-tmp"


def remove_stale_temp_files(root: Path) -> int:
    """Temp files a killed run left between writing and renaming (`write_atomic`).

    Only files with our prefix and suffix are touched; the caller holds the sync lease,
    so no write of ours is in flight."""
    removed = 0
    for stale in root.rglob(f".*{TEMP_SUFFIX}"):
        if stale.is_file() and not stale.is_symlink():
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def write_atomic(path: Path, text: str, *, prefix: str = "") -> None:
    """Replace `path` with `text` atomically, keeping its permissions; bytes exactly."""
    data = (prefix + text).encode("utf-8")
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
