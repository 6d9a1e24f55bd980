"""Turning table rows, list items and YAML entries into `ActionItem`s (with anchors)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from syncd.documents.blocks import ListEntry, YamlBlock, YamlEntry
from syncd.documents.cells import (
    AUTOLINK,
    GH_FULL,
    HANDLE,
    INLINE_LINK,
    REF_LINK,
    TICKET_REF,
    URL,
    clean,
    clean_owner,
    has_inline_field,
    inline_fields,
    is_ticket_url,
    jira_keys,
    parse_ticket,
)
from syncd.documents.dates import COMPLETED_ON, parse_date, without_completion
from syncd.documents.markdown import Line
from syncd.documents.sections import starts_with_verb
from syncd.documents.tables import PlainTable, Row, TableBlock
from syncd.documents.vocab import (
    column_for,
    is_placeholder,
    parse_priority,
    parse_status,
    status_from_heading,
    strip_markup,
)
from syncd.model import ActionItem, Anchor, Problem, Span, Status, Style


@dataclass
class Context:
    """Where a block sits: inherited status and category from enclosing headings."""

    ref_date: date | None
    inherited_status: Status | None = None
    category: str | None = None
    problems: list[Problem] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # reference-style link definitions
    explain: dict[int, dict[str, str]] | None = None  # line -> field -> rule that read it
    date_order: str = "mdy"  # numeric day/month order (ParseOptions.date_order)

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


def _due(raw: date | str | None, ctx: Context, line: int) -> tuple[date | None, str | None]:
    if raw is None:
        return None, None
    if isinstance(raw, date):  # a YAML timestamp: the day it names, never a datetime
        day = raw.date() if isinstance(raw, datetime) else raw
        return day, day.isoformat()
    due_text = None if is_placeholder(raw) else strip_markup(raw)
    # "2026-03-10, completed 2026-03-02" in a due cell: only what is not a completion date
    # can say when the item is due ("done 2026-03-04" alone says nothing about it)
    if not (wanted := without_completion(raw)).strip():
        return None, due_text
    result = parse_date(wanted, ctx.ref_date, ctx.date_order)
    if result.problem:
        ctx.problem(line, f"due date: {result.problem}")
    return result.value, due_text


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


def action_columns(table: TableBlock) -> dict[str, int]:
    """The table's columns, with the action column found even when no header names it."""
    cols = dict(table.columns)
    if "action" not in cols:
        taken = set(cols.values())
        free = [i for i in range(len(table.header.cells)) if i not in taken]
        prose = _prose_column(table)
        if prose is not None and (not free or prose != free[0]):
            # "Work item | Owner | Status | Link": the column of sentences is the action,
            # whatever its header first looked like
            cols = {name: idx for name, idx in cols.items() if idx != prose}
            for idx, cell in enumerate(table.header.cells):
                name = column_for(cell.text)
                if idx != prose and name and name not in cols and idx not in cols.values():
                    cols[name] = idx  # "Link" can now be the ticket column
            free = [prose]
        if free:
            cols["action"] = free[0]
    return cols


def table_items(table: TableBlock, block: int, ctx: Context) -> list[ActionItem]:
    cols = table.columns
    if "action" not in cols:
        return []
    items: list[ActionItem] = []
    header_texts = [c.text for c in table.header.cells]
    for row_idx, row in enumerate(table.rows):
        item = _table_row(row, row_idx, cols, block, ctx, header_texts)
        if item is not None:
            items.append(item)
    return items


def _prose_column(table: TableBlock) -> int | None:
    """The column whose cells read most like sentences (3+ words on average)."""
    best, best_words = None, 2.5
    for idx in range(len(table.header.cells)):
        texts = [r.cells[idx].text for r in table.rows if idx < len(r.cells)]
        if not texts:
            continue
        words = sum(len(strip_markup(t).split()) for t in texts) / len(texts)
        if words > best_words:
            best, best_words = idx, words
    return best


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


# -- lists, paragraphs, label lines and heading items -----------------------------------
#
# Every item written as prose (a list item, a paragraph line, `**Action taken:** …`, an
# H3 naming the work) is read by one pipeline, `_read_item`: each step takes its field
# out of the text and names itself in `Context.explain`, so `syncd parse --explain` can
# say which rule read what.

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
_DIGIT = re.compile(r"\d")
_DONE_ON = re.compile(
    r"^(done|completed?|fixed|shipped|finished|closed|resolved|merged)\b(?:\s+(?:on|in)\b.*)?$",
    re.IGNORECASE,
)
_BRACKET_KEY = re.compile(r"^\s*\[((?:[A-Z][A-Z0-9_]+-\d+)|#\d+)\]\s+(?=\S)")
_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[A-Z]{1,3}-?\d+[.:)])\s+(?=\S)")
# "[Media] Investigate …" (not a checkbox, not a priority tag, not a link)
_TEAM_TAG = re.compile(r"^\s*\[([A-Za-z][\w &/.+-]{0,30})\](?![(\[:])\s+(?=\S)")
# "Media + SRE: Investigate …", "Finance Eng: Add …", "@ravi: Write …"
_OWNER_PREFIX = re.compile(
    r"^\s*((?:@[\w.-]+|[A-Z][\w.-]*)(?:\s*(?:\+|&|/|,|\band\b)\s*(?:@[\w.-]+|[A-Z][\w.-]*)"
    r"|\s+[A-Z][\w.-]*){0,3})\s*:\s+(?=\S)"
)
_NOT_OWNER_PREFIX: frozenset[str] = frozenset({
    "note", "notes", "update", "status", "done", "todo", "action", "actions", "fix", "next",
    "step", "summary", "why", "how", "what", "short", "long", "later", "now", "immediate",
    "follow-up", "follow", "ticket", "owner", "due", "priority", "see",
})  # fmt: skip
_STATUS_TAIL = re.compile(
    r"\s*(?:\((?P<paren>[^()]{2,30})\)|[—–-]+\s*(?P<dash>[\w' -]{2,20})|"
    r"(?P<em>[_*])(?P<italic>(?:done|completed?|fixed|shipped|resolved|merged|landed)\b[^_*]*)"
    r"(?P=em))\s*[.]?\s*$",
    re.IGNORECASE,
)
_STRUCK = re.compile(r"^~~(.+)~~\s*[.]?$")
_EMOJI_LEAD = re.compile(r"^\s*(✅|✔️?|☑️?|🔄|⏳|🚧|⬜|🔲|❌|🚫)\s*")
_BOLD_TITLE = re.compile(r"^(\*\*|__)(?P<title>[^*_]{8,200}?)\1\s*(?P<rest>\S.*)?$")
_TICKET_LEAD_WORDS = re.compile(
    r"(?:[,;:]?\s*\(?\s*(?:see|tracked\s+(?:as|in|by)|tracking|ticket|issue|jira|bug|ref)\s*"
    r"[:]?\s*)$",
    re.IGNORECASE,
)
_BY_DATE = re.compile(r"\s+(?:by|before|until|no\s+later\s+than)\s+(?P<date>[^.;()]{4,30}?)\s*$")
_OPENER_DONE = re.compile(r"^(?:we've|we\s+have)\s+(?:now\s+|already\s+)?\w+ed\b", re.I)


@dataclass(frozen=True)
class RawListItem:
    lines: tuple[Line, ...]  # the item's own lines (marker line + continuation)
    indent: int
    children: tuple[RawListItem, ...]
    skip: int = 0  # characters of the first line before the text (no list marker)
    details: tuple[Line, ...] = ()  # lines read for owner/ticket/status but not the text
    status_hint: Status | None = None  # from a label: "**Action taken:**" is done
    rule: str = "list item"
    marker: bool = True  # the first line starts with a list marker


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


def item_text(raw: RawListItem) -> str:
    """The item's own text without its marker (for labels and section scores)."""
    return strip_markup(_ITEM.sub("", raw.lines[0].text[raw.skip :], count=1)).strip()


def is_group_label(text: str) -> bool:
    """`**Review actions**:`, "Short term:", "Actions taken:" — a label over sub-items,
    as opposed to an item whose children are its details."""
    plain = strip_markup(text).strip().rstrip(":").strip()
    if not plain or len(plain.split()) > 6:
        return False
    # ("Prevent:", "Follow up:" are category labels even though they start with a verb)
    return (
        len(plain.split()) <= 2
        or not starts_with_verb(plain)
        or bool(re.match(r"(\*\*|__)", text.strip()))
    )


def list_items(
    roots: list[RawListItem], block: int, ctx: Context, entries: list[ListEntry]
) -> list[ActionItem]:
    items: list[ActionItem] = []
    for raw in roots:
        head = _ITEM.sub("", raw.lines[0].text, count=1).strip()
        first_text = item_text(raw)
        # `- **Short term:**` / `- Prevent:` over sub-items is a label; `- Replace X (@wei):`
        # over sub-bullets is an item whose children are its details
        bold_label = _is_label(raw.lines[0].text)
        if raw.children and (bold_label or (first_text.endswith(":") and is_group_label(head))):
            status = status_from_label(first_text) or ctx.inherited_status
            sub = Context(
                ctx.ref_date,
                status,
                first_text.rstrip(":").strip(),
                ctx.problems,
                ctx.refs,
                ctx.explain,
                ctx.date_order,
            )
            items.extend(list_items(list(raw.children), block, sub, entries))
            continue
        item = read_item(raw, block, len(entries), ctx)
        if item is not None:
            entries.append(_entry(raw, item))
            items.append(item)
    return items


def status_from_label(text: str) -> Status | None:
    """ "Actions taken:", "Completed", "In progress (next 2 weeks):", "Done:" …"""
    plain = strip_markup(text).lower().strip().rstrip(":").strip()
    if re.search(r"\b(?:actions?\s+taken|taken|completed|done|fixed|finished|erledigt)\b", plain):
        return Status.DONE
    if re.search(r"\bin[\s-]progress\b|\bongoing\b|\bunderway\b", plain):
        return Status.IN_PROGRESS
    return status_from_heading(text)


def _is_label(text: str) -> bool:
    body = _ITEM.sub("", text, count=1).strip()
    return bool(re.fullmatch(r"(\*\*|__)[^*_]+\1:?|(\*\*|__)[^*_]+:\2", body))


def _entry(raw: RawListItem, item: ActionItem) -> ListEntry:
    last = raw.lines[-1]
    end = last.start + len(last.text.rstrip())
    return ListEntry(raw.lines[0], last, end, uses_fields=has_inline_field(_joined(raw)))


def _joined(raw: RawListItem) -> str:
    return " ".join(line.text.strip() for line in raw.lines)


class _Fields:
    """Values read so far, and which rule read each (for `--explain`)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.rules: dict[str, str] = {}

    def put(self, name: str, value: str | None, rule: str) -> None:
        if value and name not in self.values:
            self.values[name] = value
            # a rule that already decided the field (the checkbox) keeps its name
            self.rules.setdefault(name, rule)


def read_item(raw: RawListItem, block: int, row: int, ctx: Context) -> ActionItem | None:
    first = raw.lines[0]
    match = _ITEM.match(first.text) if raw.marker else None
    line_no = first.no
    found = _Fields()
    status_span, status_kind, status_raw = None, "none", None
    if match is not None and match.group(2) is not None:
        status_raw = f"[{match.group(2)}]"
        pos = first.start + match.start(2)
        status_span, status_kind = Span(pos, pos + 1), "checkbox"
        found.rules["status"] = "checkbox"
    # The item's text as one string (fields written by the tool go at the end, never inside)
    body = first.text[match.end() :] if match is not None else first.text[raw.skip :]
    if match is None and raw.marker:
        return None
    if raw.rule == "heading":
        body = _NUMBERING.sub("", body, count=1)  # "### 1. Add canary deploys"
    extra = [ln.text.strip() for ln in raw.lines[1:]]
    text = " ".join([body.strip(), *extra]).strip()
    details = " ".join(ln.text.strip() for ln in raw.details)
    fields = inline_fields(text)
    for fld in fields:
        found.put(
            fld.name, fld.value, f"inline field '{text[fld.label_start : fld.value_start].strip()}'"
        )
    if fields:
        text = text[: fields[0].label_start]
    for fld in inline_fields(details):
        found.put(fld.name, fld.value, "field in the section body")
    if status_kind == "none":
        # a bold status may sit on any line of a wrapped item (the tool appends it last)
        for line in raw.lines:
            if bold := _bold_status(line.text):
                status_raw = bold[1].group(2)
                status_span = Span(line.start + bold[1].start(2), line.start + bold[1].end(2))
                status_kind = "bold"
                found.rules["status"] = "bold status word"
                text = text.replace(bold[1].group(0), "", 1)  # the rest stays as written
                break
    if "status" in found.values:
        status_raw = found.values["status"]
        located = _find_on_lines(raw, found.values["status"])
        if located:
            status_span, status_kind = located, "cell"
    ticket_span = _find_on_lines(raw, found.values["ticket"]) if "ticket" in found.values else None
    text, owner_raw = _owner_value(found, text)
    text = text.strip()
    if raw.children and text.endswith(":"):
        text = text[:-1].rstrip()  # "Replace X (@wei, Oct 1):" over its details
    # (status marks leave the text even when another status wins: the text stays stable
    # when the tool appends its own status word)
    # (each shape below is tried only when its tell-tale character is there: this runs
    # for every item of every document)
    if "~~" in text and (struck := _STRUCK.match(text)):
        text = struck.group(1)
        if status_raw is None:
            status_raw = "struck out"
            found.rules["status"] = "struck-out text"
    if not text[:1].isascii() and (emoji := _EMOJI_LEAD.match(text)):
        text = text[emoji.end() :]
        if status_raw is None:
            status_raw = emoji.group(1)
            found.rules["status"] = "leading status emoji"
    if text[:2] in ("**", "__"):
        text = _bold_title(text, found)
    ticket = parse_ticket(found.values.get("ticket")) if "ticket" in found.values else None
    if ticket is None and (leading := _LEADING_TICKET.match(text)):
        # "- [ ] #123 Add alerting" / "- OPS-12: Add alerting"
        ticket = leading.group(1)
        text = text[leading.end() :]
        ticket_span = _find_on_lines(raw, leading.group(1))
        found.rules["ticket"] = "ticket before the text"
    if ticket is None:
        text, ticket, rule, written = (
            _link_ticket(text, ctx) if "http" in text or "][" in text else (text, None, "", "")
        )
        if ticket is not None:
            # the whole link is the ticket's place: a new reference replaces all of it
            ticket_span = _find_on_lines(raw, written) if written else None
            found.rules["ticket"] = rule
    if tag := _PRIORITY_TAG.match(text):  # "[HIGH] H1: Missing tests", "[P1] Add alert"
        found.put("priority", tag.group(1), "[priority] tag")
        text = text[tag.end() :]
    bracketed = text.lstrip()[:1] == "["
    if (
        ticket is None and bracketed and (bracket := _BRACKET_KEY.match(text))
    ):  # "[OPS-77] Rotate keys"
        ticket = bracket.group(1)
        text = text[bracket.end() :]
        ticket_span = _find_on_lines(raw, bracket.group(1))
        found.rules["ticket"] = "[KEY] before the text"
    if owner_raw is None and bracketed and (team := _TEAM_TAG.match(text)):
        owner_raw = team.group(1)
        text = text[team.end() :]
        found.rules["owner"] = "[Team] prefix"
    if owner_raw is None and ":" in text[:80] and (prefix := _OWNER_PREFIX.match(text)):
        words = prefix.group(1).lower().replace("-", " ").split()
        if not (set(words) & _NOT_OWNER_PREFIX) and starts_with_verb(text[prefix.end() :]):
            owner_raw = prefix.group(1)
            text = text[prefix.end() :]
            found.rules["owner"] = "'Owner: text' prefix"
    for _ in range(3):  # "(@bob, P1) — done", "(STOR-119, DONE)": tails nest
        if raw.children:
            text = text.rstrip().removesuffix(":")
        text, tail = _split_tail(text)
        if not tail:
            break
        for name in ("owner", "due", "priority", "ticket", "status"):
            if name == "owner" and owner_raw is None and tail.get("owner"):
                owner_raw = tail["owner"]
                found.rules["owner"] = "metadata tail"
            elif name != "owner":
                found.put(name, tail.get(name), "metadata tail")
    if ticket is None and (trailing := _TRAILING_TICKET.search(text)):
        ticket = trailing.group(1)
        text = text[: trailing.start()]
        ticket_span = _find_on_lines(raw, trailing.group(1))
        found.rules["ticket"] = "(ticket) at the end"
    if ticket is None and "ticket" in found.values:
        ticket = parse_ticket(found.values["ticket"])
        ticket_span = _find_on_lines(raw, found.values["ticket"])
    if status_raw is None and "status" in found.values:
        status_raw = found.values["status"]
    if "~~" in text and (
        struck := _STRUCK.match(text.strip())
    ):  # "~~Drop X~~ (OPS-1)": the ticket came after
        text = struck.group(1)
        if status_raw is None:
            status_raw = "struck out"
            found.rules["status"] = "struck-out text"
    if tail_status := _status_tail(text):
        text = tail_status[0]
        if status_raw is None:
            status_raw = tail_status[1]
            found.rules["status"] = "status word at the end"
    if ticket is None:
        before = text
        text, ticket = _prose_ticket(text)
        if ticket is None:
            _rest, ticket = _prose_ticket(details)
            if ticket is not None:
                found.rules["ticket"] = "key in the section body"
        else:
            found.rules["ticket"] = "key in the text"
        # a key that left the text is the ticket's place; one kept inside the sentence is
        # not (a new reference is appended instead, so the action text stays the same)
        if ticket is not None and text != before:
            ticket_span = _find_on_lines(raw, ticket)
    if status_raw is None and details and (body_status := _status_in_details(details)):
        status_raw = body_status
        found.rules["status"] = "status word in the section body"
    if owner_raw is None and details:
        handles = HANDLE.findall(details)
        if len(handles) == 1:
            owner_raw = handles[0]
            found.rules["owner"] = "handle in the section body"
    due_raw = found.values.get("due")
    tail_digits = _DIGIT.search(text, max(0, len(text) - 40)) is not None  # dates have one
    if due_raw is None and tail_digits and (by := _BY_DATE.search(text.rstrip(" ."))):
        result = parse_date(by.group("date"), ctx.ref_date, ctx.date_order)
        if result.value is not None:
            due_raw = by.group("date")
            text = text.rstrip(" .")[: by.start()]
            found.rules["due"] = "'by <date>' at the end"
    priority_raw = found.values.get("priority")
    if owner_raw:
        owner_raw, extra_fields = _split_owner(owner_raw)
        if priority_raw is None and extra_fields.get("priority"):
            priority_raw = extra_fields["priority"]
            found.rules["priority"] = found.rules.get("owner", "owner") + " (P0..P4 after it)"
        due_raw = due_raw or extra_fields.get("due")
        if extra_fields.get("due"):
            found.rules["due"] = found.rules.get("owner", "owner") + " (date after the owner)"
    action = clean(text.strip().rstrip("(—–-:;, ").strip())
    if action is None:
        return None
    if status_raw is None and raw.status_hint is not None:
        found.rules["status"] = "label"
    due, due_text = _due(due_raw, ctx, line_no)
    if status_kind == "checkbox" and status_raw and status_raw[:1] == "[":
        status = _CHECK_STATUS[status_raw[1]]
    elif status_raw == "struck out":
        status = Status.DONE
    elif status_raw is None and raw.status_hint is not None:
        status = raw.status_hint
    else:
        status = _status(status_raw, ctx, line_no)
    if ctx.explain is not None:
        rules = {"action": raw.rule, **found.rules}
        if "owner" in found.rules or owner_raw:
            rules.setdefault("owner", "owner")
        if due_raw:
            rules.setdefault("due", found.rules.get("due", "due field"))
        if status_raw is None and "status" not in rules:
            rules["status"] = "heading" if ctx.inherited_status else "default (open)"
        ctx.explain[line_no] = rules
    return ActionItem(
        action=action,
        owner=clean_owner(owner_raw),
        due=due,
        priority=parse_priority(priority_raw),
        status=status,
        ticket=ticket,
        line=line_no,
        category=found.values.get("category") or ctx.category,
        due_raw=due_text,
        status_raw=None if status_raw == "struck out" else status_raw,
        anchor=Anchor(Style.LIST, block, row, status_span, ticket_span, status_kind),
    )


def _owner_value(found: _Fields, text: str) -> tuple[str, str | None]:
    owner = found.values.get("owner")
    if owner is None:
        return text, None
    # "Owner: @storage-oncall. (STOR-120)" — the owner ends at a sentence or a parenthesis
    for match in re.finditer(r"\.\s|\s\(", owner + " "):
        token = owner[: match.start()].split()[-1:] if match.start() else []
        if match.group(0).startswith(".") and token and re.fullmatch(r"[A-Z]", token[0]):
            continue  # "J. Park": an initial, not the end of a sentence
        owner = owner[: match.start()]
        break
    owner = owner.strip().rstrip(".)")
    return text, owner or None


def _split_owner(owner: str) -> tuple[str, dict[str, str]]:
    """`@bob, P0, due 2026-11-27` as an owner value: the owner is only `@bob`."""
    owner = owner.strip().rstrip(")").strip()
    if "," not in owner and ";" not in owner:
        return owner, {}
    parts: list[str] = []
    for part in (p.strip() for p in re.split(r"[,;]", owner)):
        if parts and re.fullmatch(r"(?:\d{4}|'\d{2})", part):
            parts[-1] += f", {part}"
        elif part:
            parts.append(part)
    kept: list[str] = []
    extra: dict[str, str] = {}
    for part in parts:
        if re.fullmatch(r"P[0-4]", part, re.I):
            extra.setdefault("priority", part)
            continue
        if COMPLETED_ON.fullmatch(strip_markup(part)):
            continue  # "@bob, completed 2026-03-02": a completion date, not a due date
        words = re.sub(r"^(?:due|by|eta|target|deadline)\b:?\s*", "", part, flags=re.I)
        if _looks_like_date(words):
            extra.setdefault("due", words)
            continue
        kept.append(part)
    return ", ".join(kept), extra


def _looks_like_date(text: str) -> bool:
    if not text or not re.search(r"\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", text, re.I):
        return False
    # (whether a date is readable does not depend on the day/month order: a numeric date
    # is only ambiguous when both readings are valid)
    result = parse_date(text, order="mdy")
    return result.value is not None or "no year" in (result.problem or "")


def _bold_title(text: str, found: _Fields) -> str:
    """`**Add a circuit breaker.** Why it matters…` — the bold title is the item."""
    match = _BOLD_TITLE.match(text.strip())
    if match is None or not match.group("rest"):
        return text
    title = match.group("title").strip()
    if len(title.split()) < 3 or title.endswith(":"):
        return text
    return title


def _link_ticket(text: str, ctx: Context) -> tuple[str, str | None, str, str]:
    """A ticket written as a link: `[tracking issue](…/issues/77).`, `[issue][ref]`,
    `<https://…/issues/12>` or a bare ticket URL; the link leaves the action text."""
    candidates: list[tuple[int, int, str, str]] = []
    for m in INLINE_LINK.finditer(text):
        label_ticket = jira_keys(m.group(1))
        if is_ticket_url(m.group(2)):
            value = label_ticket[0] if label_ticket else m.group(2)
            candidates.append((m.start(), m.end(), value, "link to a ticket"))
    for m in REF_LINK.finditer(text):
        url = ctx.refs.get((m.group(2) or m.group(1)).strip().lower())
        if url and is_ticket_url(url):
            candidates.append((m.start(), m.end(), url, "reference-style link"))
    for m in AUTOLINK.finditer(text):
        if is_ticket_url(m.group(1)):
            candidates.append((m.start(), m.end(), m.group(1), "<autolink>"))
    if not candidates:
        for m in URL.finditer(text):
            url = m.group(0).rstrip(".,;:")
            if is_ticket_url(url) and not text[: m.start()].rstrip().endswith("]("):
                candidates.append((m.start(), m.start() + len(url), url, "ticket URL"))
    if not candidates:
        return text, None, "", ""
    start, end, value, rule = candidates[0]
    written = text[start:end]
    before, after = text[:start], text[end:]
    label = INLINE_LINK.match(written) or REF_LINK.match(written)
    if not before.strip() and label is not None and len(label.group(1).split()) >= 3:
        if _TRAILING_TICKET.search(after):  # a reference the tool appended wins
            return label.group(1) + after, None, "", ""
        # "- [Add rate limiting](…/issues/5)": the link text is the action; a new
        # reference is appended rather than written over the link
        return label.group(1) + after.rstrip(" .,;"), value, rule + " (its text is the item)", ""
    if not after.strip(" .,;:)"):
        # the link closes the item: drop it with "see", "tracked in", a dash or a colon
        before = _TICKET_LEAD_WORDS.sub("", before.rstrip())
        before = re.sub(r"\s*(?:[—–:-]+|\()\s*$", "", before)
        return before.rstrip(" ,;("), value, rule, written
    return text, value, rule, written


def _prose_ticket(text: str) -> tuple[str, str | None]:
    """A Jira key in running text; `(Jira OPS-412)`, `tracked as OPS-413`, or a bare key at
    the end leave the action text, a key mid-sentence stays in it."""
    keys = jira_keys(text, prose=True)
    if not keys:
        gh = GH_FULL.search(text)
        if gh is None:
            return text, None
        keys = [gh.group(0)]
    key = keys[-1] if text.rstrip(" .)").endswith(keys[-1]) else keys[0]
    pos = text.rfind(key)
    after = text[pos + len(key) :]
    if not after.strip(" .,;)"):
        before = text[:pos].rstrip()
        before = _TICKET_LEAD_WORDS.sub("", before)
        before = re.sub(r"\s*(?:[—–:-]+|\()\s*$", "", before).rstrip(" ,;(")
        return before, key
    return text, key


def _status_tail(text: str) -> tuple[str, str] | None:
    """`… (DONE)`, `… — done`, `… _done in v4.2_` at the end of the item."""
    match = _STATUS_TAIL.search(text)
    if match is None:
        return None
    word = match.group("paren") or match.group("dash") or match.group("italic") or ""
    status = parse_status(word)
    if status is None or not word.strip():
        return None
    if match.group("paren") or match.group("dash"):
        norm = strip_markup(word).lower().strip()
        if (
            norm not in _STRICT_WORDS
            and not word.strip().isupper()
            and norm
            not in ("done", "closed", "fixed", "shipped", "merged", "won't do", "wont do", "open")
        ):
            return None
    return text[: match.start()], word


def _status_in_details(text: str) -> str | None:
    for match in re.finditer(r"\b(DONE|COMPLETED?|IN PROGRESS|WON'T DO|FIXED)\b", text):
        return match.group(1)
    return None


def _split_tail(text: str) -> tuple[str, dict[str, str]]:
    """`Add alert — @bob, Jun 3`, `Add alert (@bob, due Jun 3)`, `(STOR-119, DONE)`."""
    tail_match = re.search(r"\s*\(([^()]*)\)\s*[.]?\s*$", text) or _TAIL_SPLIT.search(text)
    if not tail_match:
        return text, {}
    paren = tail_match.re.pattern.startswith(r"\s*\(")
    tail = tail_match.group(1) if paren else text[tail_match.end() :]
    parts: list[str] = []
    for part in (p.strip() for p in re.split(r"[,;]", tail.strip(" ."))):
        if parts and re.fullmatch(r"(?:\d{4}|'\d{2})", part):
            parts[-1] += f", {part}"  # "due July 11, 2024": the year belongs to the date
        elif part:
            parts.append(part)
    result: dict[str, str] = {}
    owners: list[str] = []
    for part in parts:
        bare = re.sub(r"^(?:owner|owners|who|dri)\b\s*:?\s*", "", part, flags=re.I)
        if HANDLE.fullmatch(bare) or (bare != part and bare):
            owners.append(bare)
            continue
        if re.fullmatch(r"P[0-4]", part, re.I):
            result.setdefault("priority", part.upper())
            continue
        # "(done on 2026-06-09)", "(completed: 2026-03-02)", "— closed 2026-03-05": when it
        # was done, never when it is due
        if done := _DONE_ON.match(part) or COMPLETED_ON.fullmatch(part):
            result.setdefault("status", done.group(1))
            continue
        dated = re.sub(r"^(?:due|by|eta|target|deadline|until)\b:?\s*", "", part, flags=re.I)
        if _looks_like_date(dated):
            result.setdefault("due", dated)
            continue
        if re.fullmatch(TICKET_REF, part):
            result.setdefault("ticket", part)
            continue
        status = parse_status(part)
        norm = part.lower()
        if status is not None and (
            part.isupper()
            or norm in _STRICT_WORDS
            or norm in ("done", "closed", "fixed", "shipped", "merged", "open")
        ):
            result.setdefault("status", part)
            continue
        if HANDLE.search(part) and len(part.split()) <= 3:
            owners.extend(HANDLE.findall(part))
            continue
        return text, {}  # prose in the parenthesis: leave it all in the text
    if not parts:
        return text, {}
    if owners:
        result["owner"] = ", ".join(owners)
    if not result:
        return text, {}
    return text[: tail_match.start()], result


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
