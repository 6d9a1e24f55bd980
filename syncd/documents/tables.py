"""Tokenising tables with exact spans: GFM pipe tables (lenient) and fixed-width plain
text tables between dashed rules."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from syncd.documents.markdown import Line
from syncd.documents.vocab import column_for


@dataclass(frozen=True, slots=True)
class Cell:
    start: int  # content span (trimmed), absolute offsets
    end: int
    inner_start: int  # between the pipes, padding included
    inner_end: int
    text: str  # raw content


@dataclass(frozen=True, slots=True)
class Row:
    line: Line
    cells: tuple[Cell, ...]
    leading_pipe: bool
    trailing_pipe: bool


@dataclass(frozen=True, slots=True)
class TableBlock:
    header: Row
    separator: Row | None
    rows: tuple[Row, ...]
    columns: dict[str, int]  # canonical column → cell index


@dataclass(frozen=True, slots=True)
class PlainTable:
    rules: tuple[Line, ...]  # dashed rule lines that belong to the table
    header: Line
    starts: tuple[int, ...]  # column start positions (character columns in the line)
    rows: tuple[tuple[Line, tuple[tuple[int, int], ...]], ...]  # line, per-cell (start,end)
    columns: dict[str, int]


_SEPARATOR_CELL = re.compile(r"^\s*:?-{1,}:?\s*$")


def split_row(line: Line) -> Row | None:
    """Split a pipe-table line into cells, honouring `\\|` and code spans."""
    text = line.text
    bounds: list[int] = []
    if "\\" not in text and "`" not in text:  # no escapes, no code spans: every pipe counts
        i = text.find("|")
        while i != -1:
            bounds.append(i)
            i = text.find("|", i + 1)
        return _row(line, text, bounds)
    i, in_code = 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            i += 2
            continue
        if ch == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            if in_code == 0:
                closing = text.find("`" * run, i + run)
                if closing != -1:
                    in_code = run
            elif run == in_code:
                in_code = 0
            i += run
            continue
        if ch == "|" and not in_code:
            bounds.append(i)
        i += 1
    return _row(line, text, bounds)


def _row(line: Line, text: str, bounds: list[int]) -> Row | None:
    if not bounds:
        return None
    stripped = text.strip()
    leading = stripped.startswith("|")
    trailing = stripped.endswith("|") and not stripped.endswith("\\|") and len(stripped) > 1
    edges = ([] if leading else [-1]) + bounds + ([] if trailing else [len(text)])
    cells = []
    for left, right in itertools.pairwise(edges):
        inner_start, inner_end = left + 1, right
        raw = text[inner_start:inner_end]
        lead = len(raw) - len(raw.lstrip(" \t"))
        content = raw.strip(" \t")
        start = inner_start + lead
        cells.append(
            Cell(
                line.start + start,
                line.start + start + len(content),
                line.start + inner_start,
                line.start + inner_end,
                content,
            )
        )
    return Row(line, tuple(cells), leading, trailing)


def is_separator(row: Row) -> bool:
    return (
        bool(row.cells)
        and all(_SEPARATOR_CELL.match(c.text) for c in row.cells if c.text)
        and any(c.text for c in row.cells)
    )


def header_columns(cells: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for idx, text in enumerate(cells):
        col = column_for(text)
        if col and col not in columns:
            columns[col] = idx
    return columns


def read_pipe_table(lines: list[Line], idx: int, hidden: set[int]) -> tuple[TableBlock, int] | None:
    """A table starting at `idx`; returns it and the index after it."""
    header = split_row(lines[idx]) if idx not in hidden else None
    if header is None or not header.cells:
        return None
    nxt = idx + 1
    separator = None
    if (
        nxt < len(lines)
        and nxt not in hidden
        and (row := split_row(lines[nxt]))
        and is_separator(row)
    ):
        separator, nxt = row, nxt + 1
    if len(header.cells) < 2 and not (
        separator is not None and len(separator.cells) == 1 and column_for(header.cells[0].text)
    ):
        return None  # one column only as GFM has it: `| Action |` over `|---|`
    rows: list[Row] = []
    while nxt < len(lines) and nxt not in hidden and not lines[nxt].blank:
        if _BLOCK_START.match(lines[nxt].text):
            break  # `> Note | x`, `- see | x`: another block starts, as in GFM
        row = split_row(lines[nxt])
        if row is None:
            break
        rows.append(row)
        nxt += 1
    if separator is None and not rows:
        return None  # (checked first: most such lines are `**A:** x | **B:** y` metadata)
    columns = header_columns([c.text for c in header.cells])
    if separator is None and len(columns) < 2:
        return None  # without a delimiter row only a clearly labelled header makes a table
    return TableBlock(header, separator, tuple(rows), columns), nxt


def starts_table(lines: list[Line], idx: int, hidden: set[int]) -> bool:
    """A header row followed by a delimiter row starts at `idx` (used inside lists)."""
    found = read_pipe_table(lines, idx, hidden)
    return found is not None and found[0].separator is not None


def is_malformed(row: Row, header: Row) -> bool:
    """More cells than the header, the extra ones holding text (the parser reports it)."""
    return len(row.cells) > len(header.cells) + 1 and bool(row.cells[-1].text)


# Lines that start another block and so end a table (GFM): quote, list item, heading, fence.
_BLOCK_START = re.compile(r"^ {0,3}(?:>|[-*+](?:\s|$)|\d{1,9}[.)](?:\s|$)|#{1,6}(?:\s|$)|```|~~~)")

_RULE = re.compile(r"^\s*[-=]{5,}\s*$")
_GAP = re.compile(r"\S+(?: \S+)*")  # runs separated by two or more spaces (or tabs)


def _runs(text: str) -> list[tuple[int, int]]:
    expanded = text.replace("\t", "  ")
    if expanded != text:
        return []  # tabs make character columns ambiguous; handled by split fallback
    return [(m.start(), m.end()) for m in _GAP.finditer(text)]


def is_rule(line: Line) -> bool:
    return bool(_RULE.match(line.text))


def read_plain_table(lines: list[Line], idx: int, stop: int) -> tuple[PlainTable, int] | None:
    """`-----` / `Action  Owner  Due Date  Status` / `-----` / rows / `-----`."""
    rules: list[Line] = []
    pos = idx
    if is_rule(lines[pos]):
        rules.append(lines[pos])
        pos += 1
    if pos + 1 >= stop:
        return None
    header = lines[pos]
    runs = _runs(header.text)
    names = [header.text[a:b] for a, b in runs]
    columns = header_columns(names)
    if len(runs) < 2 or len(columns) < 2 or "action" not in columns or not is_rule(lines[pos + 1]):
        return None
    rules.append(lines[pos + 1])
    starts = tuple(a for a, _b in runs)
    rows: list[tuple[Line, tuple[tuple[int, int], ...]]] = []
    pos += 2
    while pos < stop and not lines[pos].blank:
        line = lines[pos]
        if is_rule(line):
            rules.append(line)
            pos += 1
            break
        rows.append((line, _slice(line.text, starts)))
        pos += 1
    return PlainTable(tuple(rules), header, starts, tuple(rows), columns), pos


def _slice(text: str, starts: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """Cells of one row: by 2+-space gaps when they line up with the header, else by column."""
    runs = _runs(text)
    if len(runs) == len(starts):
        return tuple(runs)
    spans = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        piece = text[start:end] if start < len(text) else ""
        lead = len(piece) - len(piece.lstrip())
        content = piece.strip()
        spans.append((min(start + lead, len(text)), min(start + lead + len(content), len(text))))
    return tuple(spans)
