"""Who an action item is, across runs: its marker, its identity in a document, and how
alike two wordings of one item are (a row reworded or a doc renamed keeps its ticket).

Shared by the engine (orphan adoption) and the write-back (re-targeting edits at a doc
a human edited meanwhile); pure functions, no I/O.
"""

from __future__ import annotations

import difflib
import hashlib
import re

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
