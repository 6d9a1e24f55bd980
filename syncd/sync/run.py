"""What one run works on and what it reports: the docs as read, their items, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from connectors.base import TrackerError
from syncd.model import ActionItem, Postmortem
from syncd.sync.identity import ItemId
from syncd.sync.notes import Notes, Problem, RunNote


@dataclass
class LoadedDoc:
    rel: str
    path: Path
    text: str
    prefix: str  # a BOM to restore on write
    doc: Postmortem
    tracker: str | None


@dataclass(frozen=True)
class DocItem:
    ident: ItemId
    tracker: str
    loaded: LoadedDoc
    item: ActionItem
    key: str | None  # ticket key named in the doc, resolved by the connector

    @property
    def item_id(self) -> str:
        """The stored form of `ident`: the key of its state record and doc edits."""
        return str(self.ident)


@dataclass
class RunResult:
    docs: int = 0
    items: int = 0
    created: int = 0
    updated: int = 0
    status_pushed: int = 0
    doc_edits: int = 0
    docs_written: int = 0
    conflicts: int = 0
    errors: int = 0
    notes: Notes = field(default_factory=Notes)
    problems: list[Problem] = field(default_factory=list)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    plans: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None
    duration_s: float = 0.0

    def failures(self) -> list[RunNote]:
        """The notes saying what this run could not do (why it exits 2)."""
        return self.notes.failures()

    def summary(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "items": self.items,
            "created": self.created,
            "updated": self.updated,
            "status_pushed": self.status_pushed,
            "doc_edits": self.doc_edits,
            "docs_written": self.docs_written,
            "conflicts": self.conflicts,
            "errors": self.errors,
            "problems": len(self.problems),
            "requests": self.requests,
            "commit": self.commit,
            "duration_s": round(self.duration_s, 3),
        }


class RunObserver(Protocol):
    """What a run tells its caller as it goes (the CLI's progress display)."""

    def phase(self, name: str, done: int, total: int, tracker: str | None = None) -> None:
        """`done` of `total` in phase `name`: parse, list, create, write back."""

    def tracker_failed(self, tracker: str, error: TrackerError) -> None:
        """A tracker could not be listed; its items are skipped this run."""


class SilentObserver:
    def phase(self, name: str, done: int, total: int, tracker: str | None = None) -> None:
        pass

    def tracker_failed(self, tracker: str, error: TrackerError) -> None:
        pass
