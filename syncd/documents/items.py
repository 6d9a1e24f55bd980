"""Turning table rows, list items and YAML entries into `ActionItem`s (with anchors)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from syncd.documents.blocks import ListEntry, YamlBlock, YamlEntry
from syncd.documents.cells import (
    HANDLE,
    TICKET_REF,
    clean,
    clean_owner,
    find_ticket_in_prose,
    inline_fields,
    parse_ticket,
)
from syncd.documents.dates import parse_date
from syncd.documents.markdown import Line
from syncd.documents.tables import PlainTable, Row, TableBlock
from syncd.documents.vocab import is_placeholder, parse_priority, parse_status, strip_markup
from syncd.model import ActionItem, Anchor, Problem, Span, Status, Style


@dataclass
class Context:
    """Where a block sits: inherited status and category from enclosing headings."""

    ref_date: date | None
    inherited_status: Status | None = None
    category: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))


_BOLD_STATUS = re.compile(r"(\*\*|__)([A-Za-z][A-Za-z' -]{1,20})\1")


def _bold_status(text: str) -> tuple[Status, re.Match[str]] | None:
    for match in _BOLD_STATUS.finditer(text):
        word = match.group(2).strip()
        status = parse_status(word)
        if status is not None and (word.isupper() or word.lower() in _STRICT_WORDS):
            return status, match
    return None


# Bold words accepted as a status even when not upper-case ("**Done**"), never "**Open**"
# inside a sentence, which is emphasis.
_STRICT_WORDS = {
    "done",
    "complete",
    "completed",
    "in progress",
    "todo",
    "won't do",
    "wont do",
    "cancelled",
    "canceled",
    "not started",
    "wip",
    "fixed",
    "resolved",
}


def _due(raw: str | None, ctx: Context, line: int) -> tuple[date | None, str | None]:
    if raw is None:
        return None, None
    if isinstance(raw, date):  # a YAML timestamp: the day it names, never a datetime
        day = raw.date() if isinstance(raw, datetime) else raw
        return day, day.isoformat()
    result = parse_date(raw, ctx.ref_date)
    if result.problem:
        ctx.problem(line, f"due date: {result.problem}")
    return result.value, (None if is_placeholder(raw) else strip_markup(raw))


def _status(raw: str | None, ctx: Context, line: int) -> Status:
    if raw is None or not strip_markup(raw).strip():
        return ctx.inherited_status or Status.OPEN
    status = parse_status(raw)
    if status is None and is_placeholder(raw):
        return ctx.inherited_status or Status.OPEN
    if status is None:
        ctx.problem(line, f"unrecognised status {strip_markup(raw)!r}; treated as open")
        return Status.OPEN
    return status


def _span(start: int, end: int) -> Span:
    return Span(start, end)


# -- pipe tables ----------------------------------------------------------------------


def table_items(table: TableBlock, block: int, ctx: Context) -> list[ActionItem]:
    cols = dict(table.columns)
    if "action" not in cols:
        taken = set(cols.values())
        free = [i for i in range(len(table.header.cells)) if i not in taken]
        if not free:
            return []
        cols["action"] = free[0]
    items: list[ActionItem] = []
    header_texts = [c.text for c in table.header.cells]
    for row_idx, row in enumerate(table.rows):
        item = _table_row(row, row_idx, cols, block, ctx, header_texts)
        if item is not None:
            items.append(item)
    return items


def _table_row(
    row: Row, row_idx: int, cols: dict[str, int], block: int, ctx: Context, header: list[str]
) -> ActionItem | None:
    texts = [c.text for c in row.cells]
    if texts == header or all(not t or set(t) <= set("-: ") for t in texts):
        return None

    def cell(name: str) -> str | None:
        idx = cols.get(name)
        return texts[idx] if idx is not None and idx < len(texts) else None

    line = row.line.no
    status_raw = cell("status")
    status_span, status_kind = None, "none"
    if "status" in cols and cols["status"] < len(row.cells):
        status_cell = row.cells[cols["status"]]
        status_span, status_kind = _span(status_cell.start, status_cell.end), "cell"
    ticket_span = None
    if "ticket" in cols and cols["ticket"] < len(row.cells):
        ticket_cell = row.cells[cols["ticket"]]
        ticket_span = _span(ticket_cell.start, ticket_cell.end)
    if not (status_raw and status_raw.strip()):
        # "**DONE**" written inside another cell (the SRE book puts it in the Bug column)
        found = _bold_in_row(row, cols)
        if found is not None:
            idx, match = found
            start = row.cells[idx].start
            status_span = _span(start + match.start(2), start + match.end(2))
            status_kind, status_raw = "bold", match.group(2)
            texts[idx] = (texts[idx][: match.start()] + texts[idx][match.end() :]).strip()
            if idx == cols.get("ticket"):  # the ticket part is what precedes the bold word
                rest = row.cells[idx].text[: match.start()].rstrip()
                ticket_span = _span(start, start + len(rest))
    action_raw = cell("action") or ""
    action = clean(action_raw)
    if action is None:
        return None
    if status_raw is None and action_raw.startswith(("✅", "✔")):
        status_raw = action_raw[0]
    if len(row.cells) > len(header) + 1 and row.cells[-1].text:  # tables.is_malformed
        ctx.problem(line, f"row has {len(row.cells)} cells but the header has {len(header)}")
    due, due_raw = _due(cell("due"), ctx, line)
    return ActionItem(
        action=action,
        owner=clean_owner(cell("owner")),
        due=due,
        priority=parse_priority(cell("priority")),
        status=_status(status_raw, ctx, line),
        ticket=parse_ticket(cell("ticket")),
        line=line,
        category=clean(cell("category")) or ctx.category,
        due_raw=due_raw,
        status_raw=strip_markup(status_raw) if status_raw else None,
        anchor=Anchor(Style.TABLE, block, row_idx, status_span, ticket_span, status_kind),
    )


def _bold_in_row(row: Row, cols: dict[str, int]) -> tuple[int, re.Match[str]] | None:
    order = [cols["action"]] + [i for i in range(len(row.cells)) if i != cols["action"]]
    for idx in order:
        if idx < len(row.cells) and (bold := _bold_status(row.cells[idx].text)):
            return idx, bold[1]
    return None


# -- plain fixed-width tables -----------------------------------------------------------


def plain_table_items(table: PlainTable, block: int, ctx: Context) -> list[ActionItem]:
    items = []
    cols = table.columns
    for row_idx, (line, spans) in enumerate(table.rows):

        def text(
            col: str, line: Line = line, spans: tuple[tuple[int, int], ...] = spans
        ) -> str | None:
            idx = cols.get(col)
            if idx is None or idx >= len(spans):
                return None
            start, end = spans[idx]
            return line.text[start:end] or None

        def span(
            col: str, line: Line = line, spans: tuple[tuple[int, int], ...] = spans
        ) -> Span | None:
            idx = cols.get(col)
            if idx is None or idx >= len(spans) or spans[idx][0] == spans[idx][1]:
                return None
            return Span(line.start + spans[idx][0], line.start + spans[idx][1])

        action = clean(text("action"))
        if action is None:
            continue
        due, due_raw = _due(text("due"), ctx, line.no)
        status_raw = text("status")
        items.append(
            ActionItem(
                action=action,
                owner=clean_owner(text("owner")),
                due=due,
                priority=parse_priority(text("priority")),
                status=_status(status_raw, ctx, line.no),
                ticket=parse_ticket(text("ticket")),
                line=line.no,
                category=clean(text("category")) or ctx.category,
                due_raw=due_raw,
                status_raw=status_raw,
                anchor=Anchor(
                    Style.PLAIN_TABLE,
                    block,
                    row_idx,
                    span("status"),
                    span("ticket"),
                    "cell" if "status" in cols else "none",
                ),
            )
        )
    return items


# -- lists ---------------------------------------------------------------------------

_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?:\[([ xX\-~/])\]\s*)?")
_TRAILING_TICKET = re.compile(rf"\s*\(({TICKET_REF})\)\s*$")
_PRIORITY_TAG = re.compile(
    r"^\s*\[(P[0-4]|high|medium|med|low|critical|urgent|blocker|major|minor)\]\s*", re.IGNORECASE
)
_LEADING_TICKET = re.compile(
    r"^\s*((?:[A-Z][A-Z0-9_]+-\d+)|#\d+|[\w.-]+/[\w.-]+#\d+)\s*[:—–-]?\s+(?=\S)"
)
_TAIL_SPLIT = re.compile(r"\s+(?:—|–|--|-)\s+(?=[^—–]*$)")
_CHECK_STATUS = {
    " ": Status.OPEN,
    "x": Status.DONE,
    "X": Status.DONE,
    "-": Status.WONT_DO,
    "~": Status.WONT_DO,
    "/": Status.IN_PROGRESS,
}


@dataclass(frozen=True)
class RawListItem:
    lines: tuple[Line, ...]  # the item's own lines (marker line + continuation)
    indent: int
    children: tuple[RawListItem, ...]


def group_list(lines: list[Line]) -> list[RawListItem]:
    """Nest list lines by indentation; non-marker lines continue the previous item."""
    roots: list[RawListItem] = []
    stack: list[tuple[int, list[Line], list[RawListItem]]] = []

    def close(until_indent: int) -> None:
        while stack and stack[-1][0] >= until_indent:
            indent, own, kids = stack.pop()
            item = RawListItem(tuple(own), indent, tuple(kids))
            (stack[-1][2] if stack else roots).append(item)

    for line in lines:
        match = _ITEM.match(line.text)
        if match:
            indent = len(match.group(1).expandtabs(4))
            close(indent)
            stack.append((indent, [line], []))
        elif stack and not line.blank:
            stack[-1][1].append(line)
    close(-1)
    return roots


def list_items(
    roots: list[RawListItem], block: int, ctx: Context, entries: list[ListEntry]
) -> list[ActionItem]:
    items: list[ActionItem] = []
    for raw in roots:
        first_text = strip_markup(_ITEM.sub("", raw.lines[0].text, count=1)).strip()
        is_group = raw.children and (first_text.endswith(":") or _is_label(raw.lines[0].text))
        if is_group:
            sub = Context(ctx.ref_date, ctx.inherited_status, first_text.rstrip(":"), ctx.problems)
            items.extend(list_items(list(raw.children), block, sub, entries))
            continue
        item = _list_item(raw, block, len(entries), ctx)
        if item is not None:
            entries.append(_entry(raw, item))
            items.append(item)
    return items


def _is_label(text: str) -> bool:
    body = _ITEM.sub("", text, count=1).strip()
    return bool(re.fullmatch(r"(\*\*|__)[^*_]+\1:?", body))


def _entry(raw: RawListItem, item: ActionItem) -> ListEntry:
    last = raw.lines[-1]
    end = last.start + len(last.text.rstrip())
    return ListEntry(raw.lines[0], last, end, uses_fields=bool(inline_fields(_joined(raw))))


def _joined(raw: RawListItem) -> str:
    return " ".join(line.text.strip() for line in raw.lines)


def _list_item(raw: RawListItem, block: int, row: int, ctx: Context) -> ActionItem | None:
    first = raw.lines[0]
    match = _ITEM.match(first.text)
    assert match is not None
    line_no = first.no
    status_span, status_kind, status_raw = None, "none", None
    if match.group(2) is not None:
        status_raw = f"[{match.group(2)}]"
        pos = first.start + match.start(2)
        status_span, status_kind = Span(pos, pos + 1), "checkbox"
    # Work on the item's text as one string, remembering offsets of the first line only
    # (fields written by the tool are appended at the end, never inside).
    body = first.text[match.end() :]
    extra = [ln.text.strip() for ln in raw.lines[1:]]
    text = " ".join([body.strip(), *extra]).strip()
    fields = inline_fields(text)
    values: dict[str, str] = {}
    for fld in fields:
        values.setdefault(fld.name, fld.value)
    if fields:
        text = text[: fields[0].label_start]
    if status_kind == "none":
        # a bold status may sit on any line of a wrapped item (the tool appends it last)
        for line in raw.lines:
            if bold := _bold_status(line.text):
                status_raw = bold[1].group(2)
                status_span = Span(line.start + bold[1].start(2), line.start + bold[1].end(2))
                status_kind = "bold"
                text = text.replace(bold[1].group(0), "", 1)  # the rest stays as written
                break
    if "status" in values:
        status_raw = values["status"]
        located = _locate_value(raw, values["status"], "status")
        if located:
            status_span, status_kind = located, "cell"
    ticket_span = _locate_value(raw, values["ticket"], "ticket") if "ticket" in values else None
    ticket = parse_ticket(values.get("ticket"))
    if ticket is None and (leading := _LEADING_TICKET.match(text)):
        # "- [ ] #123 Add alerting" / "- OPS-12: Add alerting"
        ticket = leading.group(1)
        text = text[leading.end() :]
        ticket_span = _find_on_lines(raw, leading.group(1))
    if ticket is None and (trailing := _TRAILING_TICKET.search(text)):
        ticket = trailing.group(1)
        text = text[: trailing.start()]
        ticket_span = _find_on_lines(raw, trailing.group(1))
    owner_raw, due_raw, priority_raw = (
        values.get("owner"),
        values.get("due"),
        values.get("priority"),
    )
    if tag := _PRIORITY_TAG.match(text):  # "[HIGH] H1: Missing tests", "[P1] Add alert"
        priority_raw = priority_raw or tag.group(1)
        text = text[tag.end() :]
    text, tail = _split_tail(text)
    if tail:
        owner_raw = owner_raw or tail.get("owner")
        due_raw = due_raw or tail.get("due")
        priority_raw = priority_raw or tail.get("priority")
    if owner_raw and "," in owner_raw:
        parts = [p.strip() for p in owner_raw.split(",")]
        kept = [p for p in parts if not re.fullmatch(r"P[0-4]", p, re.I)]
        priority_raw = priority_raw or next((p for p in parts if p not in kept), None)
        owner_raw = ", ".join(kept)
    if ticket is None:
        ticket = find_ticket_in_prose(" ".join(values.get(k, "") for k in ("ticket",)))
    action = clean(text.strip().rstrip("(—–-:;, ").strip())
    if action is None:
        return None
    due, due_text = _due(due_raw, ctx, line_no)
    return ActionItem(
        action=action,
        owner=clean_owner(owner_raw),
        due=due,
        priority=parse_priority(priority_raw),
        status=_CHECK_STATUS[status_raw[1]]
        if status_kind == "checkbox" and status_raw and status_raw[:1] == "["
        else _status(status_raw, ctx, line_no),
        ticket=ticket,
        line=line_no,
        category=values.get("category") or ctx.category,
        due_raw=due_text,
        status_raw=status_raw,
        anchor=Anchor(Style.LIST, block, row, status_span, ticket_span, status_kind),
    )


def _split_tail(text: str) -> tuple[str, dict[str, str]]:
    """`Add alert — @bob, Jun 3` or `Add alert (@bob, due Jun 3)` → metadata tail."""
    tail_match = re.search(r"\s*\(([^()]*)\)\s*$", text) or _TAIL_SPLIT.search(text)
    if not tail_match:
        return text, {}
    tail = (
        tail_match.group(1)
        if tail_match.re.pattern.startswith(r"\s*\(")
        else text[tail_match.end() :]
    )
    handles = HANDLE.findall(tail)
    rest = HANDLE.sub("", tail)
    result: dict[str, str] = {}
    priority = re.search(r"\bP[0-4]\b", rest)
    if priority:
        result["priority"] = priority.group(0)
        rest = rest.replace(priority.group(0), "")
    rest = re.sub(r"\b(owner|due|by|eta|target)\b:?", "", rest, flags=re.I).strip(" ,;:")
    date_result = parse_date(rest) if rest else None
    looks_like_date = (
        bool(rest)
        and date_result is not None
        and (date_result.value is not None or "no year" in (date_result.problem or ""))
    )
    if not handles and not looks_like_date and not priority:
        return text, {}
    if rest and not looks_like_date and len(rest.split()) > 3:
        return text, {}  # the parenthesis is prose that happens to mention someone
    if handles:
        result["owner"] = ", ".join(handles)
    if looks_like_date:
        result["due"] = rest
    return text[: tail_match.start()], result


def _locate_value(raw: RawListItem, value: str, name: str) -> Span | None:
    if not value:
        return None
    return _find_on_lines(raw, value)


def _find_on_lines(raw: RawListItem, needle: str) -> Span | None:
    for line in raw.lines:
        pos = line.text.find(needle)
        if pos != -1:
            return Span(line.start + pos, line.start + pos + len(needle))
    return None


# -- YAML -----------------------------------------------------------------------------

YAML_FIELDS: dict[str, tuple[str, ...]] = {
    "action": ("item", "action", "title", "task", "description", "summary", "name", "what"),
    "owner": ("owner", "assignee", "who", "owners", "dri"),
    "due": ("due", "due_date", "deadline", "target", "target_date", "eta", "by"),
    "status": ("status", "state", "done", "completed"),
    "priority": ("priority", "pri", "prio"),
    "ticket": ("ticket", "jira", "issue", "link", "bug", "tracking", "url"),
    "category": ("type", "category", "kind"),
}

# A YAML entry can fail to read in ways ruamel's node types allow but we did not foresee;
# such an entry becomes a problem, never a crash of the whole run.
_ENTRY_ERRORS = (AttributeError, KeyError, TypeError, IndexError, ValueError)


def yaml_items(
    seq: Any, text: str, lines: list[Line], first_line: int, block: int, ctx: Context
) -> tuple[list[ActionItem], YamlBlock]:
    """Items of a ruamel `action_items` sequence whose YAML starts at line `first_line`."""
    items: list[ActionItem] = []
    entries: list[YamlEntry] = []
    for idx, entry in enumerate(seq):
        try:
            line_no = first_line + seq.lc.item(idx)[0] + 1
        except _ENTRY_ERRORS:
            line_no = first_line + 1
        try:
            found = _yaml_item(
                seq, idx, entry, lines, first_line, line_no, block, len(entries), ctx
            )
        except _ENTRY_ERRORS as exc:
            ctx.problem(line_no, f"action_items entry could not be read ({type(exc).__name__})")
            continue
        if found is not None:
            items.append(found[0])
            entries.append(found[1])
    return items, YamlBlock(tuple(entries))


def _yaml_item(
    seq: Any,
    idx: int,
    entry: Any,
    lines: list[Line],
    first_line: int,
    line_no: int,
    block: int,
    row: int,
    ctx: Context,
) -> tuple[ActionItem, YamlEntry] | None:
    if isinstance(entry, str):
        # `- Fix it`: an item with nothing else; a ticket cannot be added without
        # rewriting the human's line into a mapping, so its fields are locked
        action = clean(entry)
        if action is None:
            return None
        pos = lines[first_line + seq.lc.item(idx)[0]]
        reason = "is a plain string; write it as `- item: …` so syncd can add fields"
        return (
            ActionItem(
                action=action,
                owner=None,
                due=None,
                priority=None,
                status=ctx.inherited_status or Status.OPEN,
                ticket=None,
                line=line_no,
                category=ctx.category,
                anchor=Anchor(Style.YAML, block, row, None, None, "none"),
            ),
            YamlEntry(
                pos.end,
                "",
                pos.newline or "\n",
                False,
                "",
                None,
                (("status", reason), ("ticket", reason)),
            ),
        )
    if not isinstance(entry, dict):
        ctx.problem(line_no, "action_items entry is neither a mapping nor a string")
        return None
    lowered = {str(k).lower(): k for k in entry}

    def get(field_name: str) -> Any:
        for key in YAML_FIELDS[field_name]:
            if key in lowered:
                return entry[lowered[key]]
        return None

    def key_of(field_name: str) -> Any:
        return next((lowered[k] for k in YAML_FIELDS[field_name] if k in lowered), None)

    action = clean(_yaml_text(get("action"))) if get("action") is not None else None
    if action is None:
        ctx.problem(line_no, "action_items entry has no item/action text")
        return None
    status_value = get("status")
    if isinstance(status_value, bool):
        status_value = "done" if status_value else "open"
    due_value = get("due")
    due, due_raw = _due(
        due_value if isinstance(due_value, date) else _yaml_text(due_value), ctx, line_no
    )
    layout = _yaml_entry(entry, lines, first_line)
    spans: dict[str, Span | None] = {}
    locked = list(layout.locked)
    for name in ("status", "ticket"):
        key = key_of(name)
        span, why = _yaml_value_span(entry, key, lines, first_line, layout.flow)
        spans[name] = span
        if why:
            locked.append((name, why))
    layout = YamlEntry(
        layout.insert_at,
        layout.indent,
        layout.newline,
        layout.flow,
        layout.quote,
        layout.flow_close,
        tuple(locked),
    )
    item = ActionItem(
        action=action,
        owner=clean_owner(_yaml_text(get("owner"))),
        due=due,
        priority=parse_priority(_yaml_text(get("priority"))),
        status=_status(_yaml_text(status_value), ctx, line_no),
        ticket=parse_ticket(_yaml_text(get("ticket"))),
        line=line_no,
        category=clean(_yaml_text(get("category"))) or ctx.category,
        due_raw=due_raw,
        status_raw=_yaml_text(status_value),
        anchor=Anchor(
            Style.YAML,
            block,
            row,
            spans["status"],
            spans["ticket"],
            "cell" if spans["status"] else "none",
        ),
    )
    return item, layout


def _yaml_text(value: Any) -> str | None:
    """A YAML value as the text a person meant: dates as ISO dates, lists joined."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if v is not None)
    return str(value)


def _own_positions(entry: Any) -> dict[Any, tuple[int, int, int, int]]:
    """(key line, key col, value line, value col) of the keys written in this entry;
    keys that come from a merge (`<<: *defaults`) have no position of their own."""
    out = {}
    for key in entry:
        try:
            kline, kcol = entry.lc.key(key)
            vline, vcol = entry.lc.value(key)
        except (KeyError, AttributeError, TypeError):
            continue
        out[key] = (kline, kcol, vline, vcol)
    return out


def _scan_quoted(text: str, start: int) -> int | None:
    """End offset (after the closing quote) of the quoted scalar at `start`, or None."""
    quote = text[start]
    pos = start + 1
    while pos < len(text):
        ch = text[pos]
        if quote == '"' and ch == "\\":
            pos += 2
            continue
        if ch == quote:
            if quote == "'" and text[pos + 1 : pos + 2] == "'":  # `''` is an escaped quote
                pos += 2
                continue
            return pos + 1
        pos += 1
    return None


def _after_colon(text: str, key: Any, kcol: int) -> int | None:
    """Offset just after the `:` that ends the key at `kcol` on this line."""
    pos = kcol
    if text[pos : pos + 1] in ("'", '"'):
        end = _scan_quoted(text, pos)
        if end is None:
            return None
        pos = end
    else:
        pos += len(str(key))
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos + 1 if text[pos : pos + 1] == ":" else None


def _yaml_value_span(
    entry: Any, key: Any, lines: list[Line], first_line: int, flow: bool
) -> tuple[Span | None, str]:
    """Span of the one-line scalar value of `key`, or why there is none."""
    if key is None:
        return None, ""
    own = _own_positions(entry)
    if key not in own:
        return None, ""  # from a merge key (`<<:`): a key of its own overrides it
    kline, kcol, vline, vcol = own[key]
    key_line = lines[first_line + kline]
    colon = _after_colon(key_line.text, key, kcol)
    if colon is None:
        return None, "has a key syncd cannot locate"
    after = key_line.text[colon:]
    if not after.strip() or after.lstrip().startswith("#") or (flow and after.lstrip()[:1] in ",}"):
        if entry[key] is not None:
            return None, "has its value on the next line; write it after the colon"
        # `ticket:` with nothing after it: the value goes right after the colon
        return Span(key_line.start + colon, key_line.start + colon), ""
    if (vline, first_line + vline) != (kline, first_line + kline):
        return None, "has its value on the next line; write it after the colon"
    line = key_line
    rest = line.text[vcol:]
    head = rest[:1]
    if head in ("|", ">"):
        return None, "is a block scalar (`|` / `>`); write it on one line"
    if head in ("[", "{"):
        return None, "is a list or mapping, not one value"
    if head in ("&", "*", "!"):
        return None, "uses an anchor, alias or tag"
    if head in ("'", '"'):
        end = _scan_quoted(rest, 0)
        if end is None:
            return None, "is a quoted value that continues on the next line"
        length = end
    else:
        stop = len(rest)
        comment = re.search(r"\s#", rest)
        if comment:
            stop = comment.start()
        if flow:
            cut = re.search(r",\s|,$|\}|\]", rest)
            if cut:
                stop = min(stop, cut.start())
        length = len(rest[:stop].rstrip())
        if not isinstance(entry[key], str | int | float | date) and entry[key] is not None:
            return None, "is not a plain value"
        nxt = first_line + kline + 1
        if (
            not flow
            and nxt < len(lines)
            and lines[nxt].text.strip()
            and _indent_of(lines[nxt].text) > kcol
            and not lines[nxt].text.lstrip().startswith("#")
        ):
            return None, "continues on the next line; write it on one line"
    if length <= 0:
        return None, "has a value syncd cannot locate"
    return Span(line.start + vcol, line.start + vcol + length), ""


def _indent_of(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _flow_close(text: str, open_at: int) -> int | None:
    """Offset of the `}` matching the `{` at `open_at` on one line (quotes respected)."""
    depth, pos = 0, open_at
    while pos < len(text):
        ch = text[pos]
        if ch in ("'", '"'):
            end = _scan_quoted(text, pos)
            if end is None:
                return None
            pos = end
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return pos if ch == "}" else None
        elif ch == "#" and pos > 0 and text[pos - 1] in " \t":
            return None
        pos += 1
    return None


def _yaml_entry(entry: Any, lines: list[Line], first_line: int) -> YamlEntry:
    own = _own_positions(entry)
    if not own:
        raise KeyError("no key of its own")
    # a null value (`ticket:`) is positioned by ruamel at the next token: not ours
    last = max(p[0] if entry[key] is None else max(p[0], p[2]) for key, p in own.items())
    key_line, key_col = min((p[0], p[1]) for p in own.values())
    head_line = lines[first_line + key_line]
    before = head_line.text[:key_col].rstrip()
    flow = before.endswith(("{", ","))
    flow_close = None
    if flow:
        open_at = head_line.text.rfind("{", 0, key_col)
        close = _flow_close(head_line.text, open_at) if open_at != -1 else None
        flow_close = head_line.start + close if close is not None else None
    # a multi-line value (block scalar, folded string) extends to the next less-indented line
    idx = first_line + last
    while (
        not flow
        and idx + 1 < len(lines)
        and lines[idx + 1].text.strip()
        and _indent_of(lines[idx + 1].text) > key_col
    ):
        idx += 1
    line = lines[idx]
    # follow the quoting the entry already uses, so inserted values look like their siblings
    body = "".join(lines[i].text for i in range(first_line + key_line, idx + 1))
    quotes = [ch for ch in body if ch in "'\""]
    quote = quotes[0] if quotes else ""
    return YamlEntry(line.end, " " * key_col, line.newline or "\n", flow, quote, flow_close)
