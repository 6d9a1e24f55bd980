"""Per-block layout the patcher needs beyond the item anchors (list and YAML entries).

Tables use `syncd.documents.tables.TableBlock` / `PlainTable` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.documents.markdown import Line


@dataclass(frozen=True, slots=True)
class ListEntry:
    first: Line
    last: Line  # last line of the item's own text (continuation lines included)
    content_end: int  # offset where appended values go (end of text, before trailing spaces)
    uses_fields: bool  # item already has `**Owner:**`-style fields


@dataclass(frozen=True, slots=True)
class ListBlock:
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class YamlEntry:
    insert_at: int  # offset at the end of the entry's last line (before its newline)
    indent: str  # indentation of the entry's keys
    newline: str
    flow: bool  # `- {item: …}`: keys cannot be appended line-wise
    quote: str  # quote character the entry uses for strings ('"', "'" or "")
    # offset of a one-line flow mapping's closing `}` (new keys go before it); None when
    # the mapping spans lines, which the patcher refuses to extend
    flow_close: int | None = None
    # fields present in a shape the patcher cannot rewrite in place (block scalar, flow
    # sequence, alias, multi-line value, a plain-string entry): why, for the problem
    locked: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class YamlBlock:
    entries: tuple[YamlEntry, ...]
