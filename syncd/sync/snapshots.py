"""The two last-synced snapshots an item's record keeps, as typed JSON shapes.

Both are stored as JSON in the state file and compared field by field by the planner.
`total=False`: a state written by an older version, or a record that only got its key
(the run died before snapshotting), may lack fields; readers use `.get`.
"""

from __future__ import annotations

from typing import TypedDict


class DocSnapshot(TypedDict, total=False):
    """An action item as its doc said it when last synced (dates as ISO strings)."""

    action: str
    owner: str | None
    due: str | None
    priority: str | None
    status: str


class TicketSnapshot(TypedDict, total=False):
    """A ticket as the tracker returned it when last synced (times as ISO strings)."""

    url: str | None
    title: str
    assignee: str | None
    due: str | None
    priority: str | None
    status: str
    updated: str
    completed_at: str | None  # the tracker's completion time: the digest's evidence
