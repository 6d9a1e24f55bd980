"""Who an action item is, across runs: its marker, its identity in a document, and how
alike two wordings of one item are (a row reworded or a doc renamed keeps its ticket).

Shared by the engine (orphan adoption) and the write-back (re-targeting edits at a doc
a human edited meanwhile); pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from syncd.model import MARKER_PREFIX, ActionItem, Postmortem

SIMILAR = 0.6  # how alike a reworded row must be to keep its ticket
SIMILAR_MOVED = 0.9  # … and a row whose document was renamed meanwhile


def normalise(action: str) -> str:
    return re.sub(r"\s+", " ", action.strip().lower())


def marker_for(rel_path: str, action: str, occurrence: int) -> str:
    """Stable id of an action item that has no ticket yet (see docs/sync.md "Identity")."""
    digest = hashlib.sha256(f"{rel_path}\0{normalise(action)}\0{occurrence}".encode()).hexdigest()
    return f"{MARKER_PREFIX}{digest[:16]}"


def identity(doc: Postmortem, item: ActionItem) -> tuple[str, int]:
    """An item's place in its doc: its normalised action and which occurrence it is."""
    norm = normalise(item.action)
    same = [i for i in doc.action_items if normalise(i.action) == norm]
    occurrence = next((n for n, i in enumerate(same) if i.line == item.line), 0)
    return norm, occurrence


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalise(a), normalise(b)).ratio()


LINKED_PREFIX = "ref:"  # the stored form of a linked item's id: "ref:<tracker>:<key>"


@dataclass(frozen=True)
class ItemId:
    """Who an item is: its marker (a ticket the tool created, or will create), or the
    ticket a human linked in the doc (`linked`: status sync only, no marker).

    The state store keeps the string form (`str(item_id)`); `parse` reads it back, so
    state files written before this type existed read the same.
    """

    kind: Literal["marker", "linked"]
    value: str  # the marker, or the linked ticket's key
    tracker: str = ""  # linked only: whose key it is

    @classmethod
    def marker(cls, marker: str) -> ItemId:
        return cls("marker", marker)

    @classmethod
    def linked(cls, tracker: str, key: str) -> ItemId:
        return cls("linked", key, tracker)

    @classmethod
    def parse(cls, text: str) -> ItemId:
        if text.startswith(LINKED_PREFIX):
            tracker, _, key = text[len(LINKED_PREFIX) :].partition(":")
            return cls.linked(tracker, key)
        return cls.marker(text)

    @property
    def managed(self) -> bool:
        """Created by the tool (carries the marker): doc-owned fields are pushed."""
        return self.kind == "marker"

    def __str__(self) -> str:
        if self.kind == "linked":
            return f"{LINKED_PREFIX}{self.tracker}:{self.value}"
        return self.value
