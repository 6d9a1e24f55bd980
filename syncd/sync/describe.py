"""Planner actions described once: the text `syncd plan` prints and the JSON of
`syncd plan --format json`, from the same function, so the two cannot drift."""

from __future__ import annotations

from datetime import date
from typing import Any

from syncd.sync.planner import (
    Action,
    Create,
    ItemPlan,
    Note,
    RecordConflict,
    SetStatus,
    UpdateFields,
    WriteStatus,
    WriteTicket,
)
from syncd.sync.run import DocItem

# What an action counts as in the plan's one-line total (`syncd plan`).
COUNTS = ("create", "update", "status", "cell", "conflict", "note")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def describe(action: Action) -> tuple[str, dict[str, Any]]:
    """The action as one line of text and as JSON (stable keys: `action` is the
    action's name, `counts_as` one of COUNTS, then its fields)."""
    match action:
        case Create(draft=draft):
            data = {
                "draft": {
                    "title": draft.title,
                    "assignee": draft.assignee,
                    "due": _iso(draft.due),
                    "priority": draft.priority,
                },
            }
            text = (
                f"create {action.tracker} ticket: {draft.title!r}"
                f" (assignee {draft.assignee or '-'}, due {_iso(draft.due) or '-'})"
            )
            return text, {
                "action": "Create",
                "counts_as": "create",
                "tracker": action.tracker,
                **data,
            }
        case UpdateFields(key=key, changes=changes):
            fields = {k: _iso(v) for k, v in changes.items().items()}
            return f"update {key}: {fields}", {
                "action": "UpdateFields",
                "counts_as": "update",
                "tracker": action.tracker,
                "key": key,
                "changes": fields,
            }
        case SetStatus(key=key, status=status):
            return f"set {key} status to {status.value}", {
                "action": "SetStatus",
                "counts_as": "status",
                "tracker": action.tracker,
                "key": key,
                "status": status.value,
            }
        case WriteTicket(key=key):
            return f"write ticket {key} into the doc", {
                "action": "WriteTicket",
                "counts_as": "cell",
                "key": key,
            }
        case WriteStatus(status=status):
            return f"write status {status.value} into the doc", {
                "action": "WriteStatus",
                "counts_as": "cell",
                "status": status.value,
            }
        case RecordConflict():
            text = (
                f"conflict on {action.field}: doc {action.doc_value!r} vs tracker "
                f"{action.ticket_value!r} ({action.winner} wins)"
            )
            return text, {
                "action": "RecordConflict",
                "counts_as": "conflict",
                "field": action.field,
                "doc_value": action.doc_value,
                "ticket_value": action.ticket_value,
                "winner": action.winner,
            }
        case Note(kind=kind, message=message):
            return f"{kind}: {message}", {
                "action": "Note",
                "counts_as": "note",
                "kind": kind,
                "message": message,
            }
    raise TypeError(f"not a planner action: {action!r}")  # pragma: no cover - exhaustive


def action_text(action: Action) -> str:
    return describe(action)[0]


def plan_json(item: DocItem, plan: ItemPlan) -> dict[str, Any]:
    """One item's plan for `syncd plan --format json`; each action also carries `text`."""
    actions = []
    for action in plan.actions:
        text, data = describe(action)
        actions.append({**data, "text": text})
    return {
        "item": item.item_id,
        "path": item.loaded.rel,
        "line": item.item.line,
        "action_text": item.item.action,
        "tracker": item.tracker,
        "actions": actions,
    }
