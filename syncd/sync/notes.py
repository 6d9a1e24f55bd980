"""What a run reports besides its counts: typed notes and document problems.

`RunResult.notes` holds `RunNote`s; `to_dict()` gives the JSON shape every output uses
(keys `path`, `line`, `kind`, `message`, `tracker`, each only when set), so
`syncd sync --format json` reads as it always has. Whether a kind means "something
was not done" (the run exits 2, and the note is logged as a warning) is decided here,
once, by `NoteKind.failure`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class NoteKind(StrEnum):
    # something not done: the run exits 2 until it is
    ERROR = "error"  # an item's write failed; its record is due
    DEAD_REF = "dead-ref"  # a row names (or was synced with) a ticket that does not exist
    RETRY_LATER = "retry-later"  # a failing item waiting out its backoff
    LISTING_FAILED = "listing-failed"  # a tracker could not be read: its items wait
    WRITE_FAILED = "write-failed"  # a doc could not be written
    PUSH = "push"  # git refused our push
    GIT = "git"  # another git failure
    # reported, nothing left undone by this run
    NO_TRACKER = "no-tracker"
    FOREIGN_REF = "foreign-ref"
    REMOVED_FROM_DOC = "removed-from-doc"
    CREATE_LIMIT = "create-limit"
    STOPPED = "stopped"
    RATE_LIMITED = "rate-limited"
    UNMAPPED_OWNER = "unmapped-owner"
    CLOSED_WITHOUT_TICKET = "closed-without-ticket"
    RECOVERED = "recovered"  # the run cleared debris a killed run left (a git lock)
    PULL_REQUEST_CLOSED = "pull-request-closed"  # the tool's PR held only stale edits

    @property
    def failure(self) -> bool:
        return self in _FAILURES


_FAILURES = frozenset(
    {
        NoteKind.ERROR,
        NoteKind.DEAD_REF,
        NoteKind.RETRY_LATER,
        NoteKind.LISTING_FAILED,
        NoteKind.WRITE_FAILED,
        NoteKind.PUSH,
        NoteKind.GIT,
    }
)


@dataclass(frozen=True)
class RunNote(Mapping[str, Any]):
    """One note. Also a read-only mapping of its JSON form, so code written against
    the dict notes (`note["path"]`, `note.get("kind")`) keeps working."""

    kind: NoteKind
    message: str
    path: str | None = None
    line: int | None = None
    tracker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.path is not None:
            data["path"] = self.path
        if self.line is not None:
            data["line"] = self.line
        data["kind"] = self.kind.value
        data["message"] = self.message
        if self.tracker is not None:
            data["tracker"] = self.tracker
        return data

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


class Notes(list[RunNote]):
    """The run's notes, in the order they happened (typed: see `RunNote`)."""

    def failures(self) -> list[RunNote]:
        return [n for n in self if n.kind.failure]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [n.to_dict() for n in self]


@dataclass(frozen=True)
class Problem:
    """A document the parser could not read fully (per file, never fatal)."""

    path: str
    line: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "message": self.message}
