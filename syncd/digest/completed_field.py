"""A completion date written in the document: `completed: 2026-03-04` beside an item.

People record it three ways, all read here from the doc text around the item's line:

* inline on the item's line: `- [x] Add alerting (completed: 2026-03-04)`, or in any
  cell of its table row (`| done, completed 2026-03-04 |`);
* a table column headed "Completed", "Completed on", "Done on", "Closed on" or
  "Resolved on", whose cell in the item's row holds the date;
* a YAML item key `completed_at:` / `completed_on:` / `done_on:` (plain `completed:` is
  already read as the item's status by the parser, so its date is taken here too).

The parser does not model this field, so it is read from the text rather than added to
ActionItem: the digest is its only reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from syncd.documents.dates import parse_date

_WORD = r"(?:completed|done|closed|resolved|finished)(?:[ _](?:on|at|date))?"
_INLINE = re.compile(rf"\b{_WORD}\s*[:=]?\s*(\d{{4}}-\d{{2}}-\d{{2}})\b", re.IGNORECASE)
_HEADER = re.compile(rf"^\s*{_WORD}\s*$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}")
_YAML_ITEM = re.compile(r"^\s*-\s")  # the next YAML list item ends this one


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_column(lines: Sequence[str], idx: int, order: str) -> date | None:
    """The date in the item's cell under a "Completed"-like header, if its table has one."""
    if not lines[idx].lstrip().startswith("|"):
        return None
    top = idx
    while top > 0 and lines[top - 1].lstrip().startswith("|"):
        top -= 1
    if top + 1 >= len(lines) or not _SEPARATOR.match(lines[top + 1]):
        return None
    header = _cells(lines[top])
    row = _cells(lines[idx])
    for col, name in enumerate(header):
        if _HEADER.match(name) and col < len(row):
            return parse_date(row[col], order=order).value
    return None


def completed_on(text_lines: Sequence[str], line: int, order: str = "mdy") -> date | None:
    """The completion date written for the item starting at 1-based `line`, or None;
    a numeric day/month date in a "Completed" cell is read in `order` ("mdy"/"dmy")."""
    idx = line - 1
    if not 0 <= idx < len(text_lines):
        return None
    if (found := _table_column(text_lines, idx, order)) is not None:
        return found
    candidates = [text_lines[idx]]
    # A YAML or multi-line list item continues on the more-indented lines below it.
    indent = len(text_lines[idx]) - len(text_lines[idx].lstrip())
    for below in text_lines[idx + 1 : idx + 12]:
        stripped = below.lstrip()
        if not stripped or len(below) - len(stripped) <= indent or _YAML_ITEM.match(below):
            break
        candidates.append(below)
    for text in candidates:
        if match := _INLINE.search(text):
            return parse_date(match.group(1), order=order).value
    return None
