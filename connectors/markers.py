"""The action-item marker as trackers carry it, in one place.

Every ticket the tool creates carries its item's marker (`pm-` and 16 hex digits, made
by the engine). Jira stores it as a label; GitHub and Linear as a hidden line at the end
of the body / description::

    <!-- postmortem-syncd:marker=pm-1a2b3c4d5e6f7a8b -->
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from syncd.model import MARKER_PREFIX

MARKER_COMMENT = "<!-- postmortem-syncd:marker={marker} -->"
# Lenient on purpose: the comment delimiters are not required (an editor may escape
# them) and hyphens only count between word characters, so "pm-ab12-->" yields "pm-ab12".
MARKER_RE = re.compile(r"postmortem-syncd:marker=(?P<marker>[\w.:]+(?:-[\w.:]+)*)")
# The whole hidden line, for code that must keep it last in a body.
MARKER_LINE_RE = re.compile(r"(?:<!--\s*)?" + MARKER_RE.pattern)
# A label shaped like the tool's markers, as opposed to a person's "pm-review".
MARKER_SHAPE = re.compile(rf"{re.escape(MARKER_PREFIX)}[0-9a-f]{{6,}}")

__all__ = [
    "MARKER_COMMENT",
    "MARKER_PREFIX",
    "MARKER_RE",
    "marker_comment",
    "marker_from_labels",
    "marker_in_text",
    "marker_start",
]


def marker_comment(marker: str) -> str:
    """The hidden line that carries `marker` in a body or description."""
    return MARKER_COMMENT.format(marker=marker)


def marker_in_text(text: str | None) -> str | None:
    """The marker written by `marker_comment` somewhere in `text`, if any."""
    match = MARKER_RE.search(text or "")
    return match["marker"] if match else None


def marker_from_labels(labels: Sequence[str], shared_label: str) -> str | None:
    """The marker among a ticket's labels (Jira). A label shaped like the tool's markers
    wins over another `pm-…` label a person added."""
    candidates = [
        label for label in labels if label.startswith(MARKER_PREFIX) and label != shared_label
    ]
    shaped = [c for c in candidates if MARKER_SHAPE.fullmatch(c)]
    return next(iter(shaped or candidates), None)


def marker_start(text: str) -> int | None:
    """Where the marker line begins in `text` (its `<!--` if present), or None."""
    match = MARKER_LINE_RE.search(text)
    return match.start() if match else None
