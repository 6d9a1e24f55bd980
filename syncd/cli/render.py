"""Plain output of `plan`, `sync` and `status`: aligned item rows, then every note and
failure grouped by kind and de-duplicated, then one summary line.

Input is what a run returns (`RunResult`: the planner's actions per item, the notes,
the problems) and the documents themselves, re-read for the owner as written there
(never a tracker account id) and for the key a sync wrote back.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.cli.failures import TrackerFailure
from syncd.config import Settings
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_file
from syncd.model import ActionItem
from syncd.sync.run import RunResult

ACTION_WIDTH = 44  # an action longer than this is cut with "…": rows stay one line
MAX_LOCATIONS = 8  # a group lists this many doc:line places, then "and N more"

HEADERS = ("doc:line", "action", "owner", "due", "ticket", "what")

LABELS = {
    "unmapped-owner": "unmapped owner",
    "foreign-ref": "foreign ticket reference",
    "removed-from-doc": "removed from its doc",
    "no-tracker": "no tracker for doc",
    "closed-without-ticket": "closed without a ticket",
    "error": "failed item",
    "dead-ref": "dead ticket reference",
    "write-failed": "doc write failed",
    "push": "git push failed",
    "git": "git",
    "recovered": "recovered",
    "pull-request-closed": "stale pull request closed",
    "create-limit": "creates deferred",
    "rate-limited": "rate limited",
    "stopped": "stopped early",
    "listing-failed": "tracker listing failed",
    "problem": "doc problem",
}
HINTS = {
    "unmapped-owner": "add the owner to [owners] with their tracker account",
    "foreign-ref": "the doc routes to another tracker: fix [routing] or the reference",
    "removed-from-doc": "nothing to do if intended; the ticket is left as it is",
    "no-tracker": "add a [[routing.rules]] entry or routing.default",
    "error": "retried on the next run",
    "dead-ref": (
        "check the key and that the token can see it; put the right key in the ticket cell, "
        "or empty the cell to get a new ticket"
    ),
    "write-failed": "retried on the next run",
    "push": "retried on the next run",
    "create-limit": "the next run continues",
    "rate-limited": "the next run continues",
    "stopped": "the next run continues",
    "problem": "fix the line in the doc (see `syncd parse --explain`)",
}


ITEM_FAILURES = frozenset({"error", "dead-ref"})  # note kinds that mean "this item failed"


@dataclass(frozen=True)
class Row:
    where: str
    action: str
    owner: str
    due: str
    ticket: str
    what: str

    def cells(self) -> tuple[str, ...]:
        return (self.where, self.action, self.owner, self.due, self.ticket, self.what)


def table(rows: Sequence[Row]) -> list[str]:
    """Rows under a header, each column as wide as its widest cell (the last one free)."""
    if not rows:
        return []
    cells = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in cells
    ]


def short(text: str, width: int = ACTION_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


class DocIndex:
    """The action items of documents under the docs root, found by action text (lines
    can move when a sync writes a key into a YAML block), read once per document."""

    def __init__(self, root: Path, options: ParseOptions) -> None:
        self.root = root
        self.options = options  # the run's parse settings, or its items are not found
        self._docs: dict[str, dict[str, list[ActionItem]]] = {}

    def find(self, rel: str, action: str, line: int | None = None) -> ActionItem | None:
        if rel not in self._docs:
            by_text: dict[str, list[ActionItem]] = defaultdict(list)
            try:
                doc, _text = parse_file(self.root / rel, options=self.options)
                for item in doc.action_items:
                    by_text[_norm(item.action)].append(item)
            except OSError:
                pass  # gone since the run: the row shows what the run knew
            self._docs[rel] = by_text
        same = self._docs[rel].get(_norm(action), [])
        return next((i for i in same if i.line == line), same[0] if same else None)


def owner_name(settings: Settings, account: str | None) -> str:
    """The doc name ([owners] key) of a tracker account id, else the id itself."""
    if not account:
        return "-"
    for name, ids in settings.owners.items():
        if account in ids.values():
            return name
    return account


# ------------------------------------------------------------------------------ notes
def _location(note: Mapping[str, Any]) -> str:
    if note.get("path"):
        return f"{note['path']}:{note['line']}" if note.get("line") else str(note["path"])
    return str(note.get("tracker") or "")


def render_notes(notes: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per (kind, message): how many places, which, and what to do."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for note in notes:
        kind, message = str(note.get("kind", "note")), str(note.get("message", ""))
        groups[(kind, message)].append(_location(note))
    lines = []
    for (kind, message), places in sorted(groups.items()):
        places = sorted(set(p for p in places if p))
        shown = ", ".join(places[:MAX_LOCATIONS])
        if len(places) > MAX_LOCATIONS:
            shown += f", … and {len(places) - MAX_LOCATIONS} more"
        count = f" ({len(places)} item{'s' if len(places) != 1 else ''})" if places else ""
        hint = f"; {HINTS[kind]}" if kind in HINTS else ""
        where = f": {shown}" if shown else ""
        lines.append(f"  {LABELS.get(kind, kind)}: {message}{count}{where}{hint}")
    return lines


def _problems_as_notes(result: RunResult) -> list[dict[str, Any]]:
    return [{**p.to_dict(), "kind": "problem"} for p in result.problems]


def _sections(
    notes: list[dict[str, Any]], failures: Sequence[TrackerFailure], rows: list[str]
) -> list[str]:
    out = list(rows)
    failed = {f.tracker for f in failures}
    if failures:
        out.append("tracker failures (their items were skipped):")
        out += [f"  {f.line()}" for f in failures]
    # a failed listing is explained above, with what to do: not twice
    notes = [
        n for n in notes if not (n.get("kind") == "listing-failed" and n.get("tracker") in failed)
    ]
    if notes:
        out.append("notes (shown on every run until resolved):")
        out += render_notes(notes)
    return out


# ------------------------------------------------------------------------------- plan
def _describe(action: Mapping[str, Any], settings: Settings, *, done: bool) -> str:
    kind = action["action"]
    if kind == "Create":
        return (
            f"created {action['tracker']} ticket"
            if done
            else f"create {action['tracker']} ticket, write its key"
        )
    if kind == "UpdateFields":
        changes = ", ".join(
            f"{name} → {owner_name(settings, value) if name == 'assignee' else value or '-'}"
            for name, value in sorted(action["changes"].items())
        )
        return f"{'pushed' if done else 'push'} {changes}"
    if kind == "SetStatus":
        return f"{'pushed' if done else 'push'} ticket status {action['status']}"
    if kind == "WriteTicket":
        return f"{'wrote' if done else 'write'} key {action['key']} into the doc"
    if kind == "WriteStatus":
        return f"{'wrote' if done else 'write'} status {action['status']} into the doc"
    if kind == "RecordConflict":
        return (
            f"conflict on {action['field']}: doc {action['doc_value']} vs tracker"
            f" {action['ticket_value']}; {action['winner']} wins"
        )
    return str(kind)


def _ticket_of(actions: Sequence[Mapping[str, Any]], doc_item: ActionItem | None) -> str:
    for action in actions:
        if action.get("key"):
            return str(action["key"])
    if doc_item is not None and doc_item.ticket:
        return doc_item.ticket
    return "(new)" if any(a["action"] == "Create" for a in actions) else "-"


def item_rows(
    result: RunResult,
    settings: Settings,
    *,
    done: bool,
    failed: Mapping[tuple[str, int], str] | None = None,
) -> list[Row]:
    """One row per item with something to do (or done), in (doc, line) order."""
    index = DocIndex(settings.docs.root, ParseOptions.from_settings(settings.docs))
    rows = []
    for entry in sorted(result.plans, key=lambda e: (e["path"], e["line"])):
        actions = [a for a in entry["actions"] if a["action"] != "Note"]
        if not actions:
            continue  # only notes: they are grouped below
        doc_item = index.find(entry["path"], entry["action_text"], entry["line"])
        draft = next((a["draft"] for a in actions if a["action"] == "Create"), None)
        owner = doc_item.owner if doc_item and doc_item.owner else None
        due = doc_item.due.isoformat() if doc_item and doc_item.due else None
        if draft is not None:
            owner = owner or owner_name(settings, draft["assignee"])
            due = due or draft["due"]
        what = "; ".join(_describe(a, settings, done=done) for a in actions)
        error = (failed or {}).get((entry["path"], entry["line"]))
        if error is not None:
            what = f"FAILED: {error}"
        rows.append(
            Row(
                f"{entry['path']}:{entry['line']}",
                short(entry["action_text"]),
                owner or "-",
                due or "-",
                _ticket_of(actions, doc_item if done or draft is None else None),
                what,
            )
        )
    return rows


def count_plan(result: RunResult) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for entry in result.plans:
        for action in entry["actions"]:
            counts[action["action"]] += 1
    return counts


def render_plan(result: RunResult, settings: Settings, failures: Sequence[TrackerFailure]) -> str:
    notes = result.notes.as_dicts() + _problems_as_notes(result)
    for entry in result.plans:
        notes += [
            {
                "path": entry["path"],
                "line": entry["line"],
                "kind": a["kind"],
                "message": a["message"],
            }
            for a in entry["actions"]
            if a["action"] == "Note"
        ]
    lines = _sections(notes, failures, table(item_rows(result, settings, done=False)))
    counts = count_plan(result)
    # every create writes its new key into the doc: a cell to write like any other
    cells = counts["WriteTicket"] + counts["WriteStatus"] + counts["Create"]
    lines.append(
        f"plan: {counts['Create']} to create, {counts['UpdateFields']} to update,"
        f" {counts['SetStatus']} status pushes, {cells} doc cells to write,"
        f" {counts['RecordConflict']} conflicts ({result.items} items in {result.docs} docs)"
        + (f"; {len(failures)} tracker(s) failed" if failures else "")
    )
    return "\n".join(lines)


# ------------------------------------------------------------------------------- sync
def render_sync(result: RunResult, settings: Settings, failures: Sequence[TrackerFailure]) -> str:
    failed = {
        (str(n["path"]), int(n["line"])): str(n["message"])
        for n in result.notes.as_dicts()
        if n.get("kind") == "error" and n.get("path") and n.get("line")
    }
    item_table = item_rows(result, settings, done=True, failed=failed)
    rows = table(item_table)
    # a failed item's error is on its row already; one with no row (a dead reference is
    # never planned) keeps its note
    on_rows = {row.where for row in item_table}
    notes = [
        n
        for n in result.notes.as_dicts()
        if not (n.get("kind") == "error" and f"{n.get('path')}:{n.get('line')}" in on_rows)
    ]
    lines = _sections(notes + _problems_as_notes(result), failures, rows)
    commit = f", commit {result.commit[:12]}" if result.commit else ""
    lines.append(
        f"sync: {result.created} created, {result.updated} updated,"
        f" {result.status_pushed} status pushes, {result.doc_edits} doc cells written in"
        f" {result.docs_written} docs, {result.conflicts} conflicts, {result.errors} failed"
        f" ({result.items} items in {result.docs} docs, {result.duration_s:.1f} s{commit})"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- status
def render_status(
    records: Sequence[Any],
    settings: Settings,
    notes: list[dict[str, Any]],
    pending: int,
    conflicts: int,
    last_run: str,
) -> tuple[str, int]:
    """The items as last synced, in (doc, line) order, and how many are failing: by
    their stored error, or by the last sync's failed-item notes."""
    index = DocIndex(settings.docs.root, ParseOptions.from_settings(settings.docs))
    failed = {
        (str(n["path"]), int(n["line"])): str(n["message"])
        for n in notes
        if n.get("kind") in ITEM_FAILURES and n.get("path") and n.get("line")
    }
    shown: set[tuple[str, int]] = set()
    rows = []
    for record in records:
        doc = record.doc or {}
        action = str(doc.get("action") or record.ticket.get("title") or "")
        found = index.find(record.doc_path, action) if action else None
        line = found.line if found else 0
        state = f"doc {doc.get('status', '-')}, tracker {record.ticket.get('status', '-')}"
        error = record.error or failed.get((record.doc_path, line))
        if error:
            shown.add((record.doc_path, line))
            state = f"FAILING: {error}"
        rows.append(
            (
                (record.doc_path, line),
                Row(
                    f"{record.doc_path}:{line}" if line else record.doc_path,
                    short(action),
                    str(doc.get("owner") or "-"),
                    str(doc.get("due") or "-"),
                    record.ticket_key or "(no ticket)",
                    state,
                ),
            )
        )
    lines = table([row for _key, row in sorted(rows, key=lambda r: r[0])])
    rest = [n for n in notes if (n.get("path"), n.get("line")) not in shown]
    if rest:
        lines.append("notes from the last sync (shown until resolved):")
        lines += render_notes(rest)
    failing = len(shown) + sum(1 for n in rest if n.get("kind") in ITEM_FAILURES)
    lines.append(
        f"status: {len(records)} items, {failing} failing, {pending} pending creates,"
        f" {conflicts} conflicts; last sync {last_run}"
    )
    return "\n".join(lines), failing
