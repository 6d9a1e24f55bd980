"""The document model: what a postmortem says, independent of how it was written.

Everything here is a frozen dataclass so parsed documents can be shared, hashed and
compared without defensive copies. Where a value lives in the text (needed by the
patcher to edit it in place) is kept in an `Anchor`, excluded from equality so two
items that say the same thing compare equal wherever they sit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

# Every action-item marker starts with this (the engine makes them; Jira keeps them as
# labels, GitHub and Linear in a hidden body line: connectors/markers.py).
MARKER_PREFIX = "pm-"


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"

    @property
    def is_closed(self) -> bool:
        return self in (Status.DONE, Status.WONT_DO)


class Style(StrEnum):
    """How an action item is written; decides how the patcher edits it."""

    TABLE = "table"  # markdown pipe table row
    PLAIN_TABLE = "plain_table"  # fixed-width table between dashed rules
    YAML = "yaml"  # action_items: list (fenced block or front matter)
    LIST = "list"  # bullet or checkbox list item


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclass(frozen=True)
class Span:
    """Half-open character range [start, end) into the document text."""

    start: int
    end: int


@dataclass(frozen=True)
class Anchor:
    """Where the tool-owned values of one item live in the text.

    `status` / `ticket` are the spans of the existing values (cell content without
    padding, the checkbox mark, the YAML scalar); None when the item has no such
    cell. `block` identifies the table/list/YAML block the item belongs to, so the
    patcher can add a missing column or key for the whole block at once.
    """

    style: Style
    block: int  # index of the block inside the document (see Postmortem.blocks)
    row: int  # index of the item inside its block
    status: Span | None = None
    ticket: Span | None = None
    status_kind: str = "cell"  # cell | checkbox | bold | heading | emoji | none


@dataclass(frozen=True)
class ActionItem:
    action: str
    owner: str | None
    due: date | None
    priority: str | None
    status: Status
    ticket: str | None
    line: int  # 1-based line of the item in the document
    category: str | None = None
    due_raw: str | None = None
    status_raw: str | None = None
    anchor: Anchor | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Postmortem:
    path: Path
    title: str | None
    date: date | None
    severity: str | None
    status: str | None
    action_items: tuple[ActionItem, ...]
    contributing_factors: tuple[str, ...] = ()
    related_incidents: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    duration_minutes: int | None = None
    impact: str | None = None
    detection_minutes: int | None = None
    tags: tuple[str, ...] = ()  # services / components / tags from metadata
    tracker: str | None = None  # front matter may route the doc to a tracker
    project: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()  # raw key/value pairs, first wins
    blocks: tuple[object, ...] = field(default=(), compare=False, repr=False)
    # in a doc with no items: (line, heading, item-like lines) of sections not read that
    # look like they hold follow-ups (lint `possible-missed-items`)
    skipped_sections: tuple[tuple[int, str, int], ...] = field(default=(), compare=False)
