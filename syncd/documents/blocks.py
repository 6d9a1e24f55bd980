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


@dataclass(frozen=True, slots=True)
class YamlBlock:
    entries: tuple[YamlEntry, ...]
