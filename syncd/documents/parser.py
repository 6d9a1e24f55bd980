"""Parse one postmortem into a `Postmortem`: metadata, action items, contributing factors.

Never raises on content: anything it cannot read becomes a `Problem` with a line.
Action items are only taken from action-item sections (by heading), from tables whose
header says they are action items, and from YAML `action_items:` lists — so timeline
bullets, detection checklists and legends inside code fences are not mistaken for them.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from syncd.documents import metadata as meta
from syncd.documents.blocks import ListBlock, ListEntry
from syncd.documents.dates import parse_date
from syncd.documents.items import (
    Context,
    group_list,
    list_items,
    plain_table_items,
    table_items,
    yaml_items,
)
from syncd.documents.markdown import (
    Fence,
    Heading,
    Line,
    find_fences,
    find_headings,
    front_matter,
    is_list_line,
    split_lines,
    unread_lines,
)
from syncd.documents.tables import TableBlock, read_pipe_table, read_plain_table, starts_table
from syncd.documents.vocab import (
    ACTION_HEADING,
    FACTORS_HEADING,
    NON_ACTION_HEADING,
    RELATED_HEADING,
    is_placeholder,
    parse_severity,
    status_from_heading,
    strip_markup,
)
from syncd.model import ActionItem, Postmortem, Problem, Status

MAX_BYTES = 5_000_000  # larger files are refused with a problem, not parsed


@dataclass(frozen=True)
class Section:
    """What the enclosing headings say about a line."""

    action: bool
    factors: bool
    related: bool
    status: Status | None
    category: str | None
    heading: Heading | None


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = True
    return yaml


def load_yaml(body: str) -> Any:
    """`body` as ruamel's round-trip loader reads it (mappings and sequences carry `.lc`).

    The YAML people put in front matter and `action_items:` blocks is nearly always
    flat `key: value` lines and a list of such mappings. That subset is read by
    `_simple_yaml`, which gives the same values and positions as ruamel at a small
    fraction of the cost (the pure-Python ruamel loader was ~65% of parse time);
    anything outside it (comments, anchors, block scalars, escapes, numbers, nested
    mappings, multi-line scalars, …) is handed to ruamel unchanged, errors included.
    """
    data = _simple_yaml(body)
    if data is _FALLBACK:
        try:
            data = _yaml().load(body)
        except (ValueError, OverflowError) as exc:  # e.g. `date: 2026-02-30`
            raise YAMLError(f"invalid value: {exc}") from None
        if _expanded_size(data) > MAX_YAML_NODES:
            raise YAMLError(
                f"expands to more than {MAX_YAML_NODES} values (anchors and aliases); ignored"
            )
    return data


MAX_YAML_NODES = 20_000  # far above any real action_items list; stops alias bombs


def _expanded_size(data: Any) -> int:
    """How many values `data` holds once aliases are expanded, counting only up to just
    past the limit. A billion-laughs document is a small graph that expands
    exponentially: anything that later walks it (str(), json) would never finish."""
    count, stack = 0, [data]
    while stack and count <= MAX_YAML_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
            stack.extend(node.keys())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return count


# -- the simple YAML subset ---------------------------------------------------------------

_FALLBACK: Any = object()


class _Positions:
    """ruamel's `.lc`: 0-based (line, column) of keys, values and sequence items."""

    __slots__ = ("_items", "_keys", "_values")

    def __init__(self) -> None:
        self._keys: dict[Any, tuple[int, int]] = {}
        self._values: dict[Any, tuple[int, int]] = {}
        self._items: list[tuple[int, int]] = []

    def key(self, key: Any) -> tuple[int, int]:
        return self._keys[key]

    def value(self, key: Any) -> tuple[int, int]:
        return self._values[key]

    def item(self, idx: int) -> tuple[int, int]:
        return self._items[idx]


class _Map(dict[Any, Any]):
    __slots__ = ("lc",)

    def __init__(self) -> None:
        super().__init__()
        self.lc = _Positions()

    def put(self, key: str, value: Any, key_at: tuple[int, int], value_at: tuple[int, int]) -> bool:
        if key in self:
            return False  # duplicate keys: left to ruamel
        self[key] = value
        self.lc._keys[key] = key_at
        self.lc._values[key] = value_at
        return True


class _Seq(list[Any]):
    __slots__ = ("lc",)

    def __init__(self) -> None:
        super().__init__()
        self.lc = _Positions()


# `key:` then spaces and a value, or the end of the line
_SIMPLE_KEY = re.compile(r"([A-Za-z_][\w.-]*(?: [\w.-]+)*):(?: +|$)")
_SIMPLE_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_PLAIN_START_BAD = frozenset("-?:,[]{}#&*!|>'\"%@`")
_NULLS = frozenset({"null", "Null", "NULL", "~"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
# words some YAML versions resolve to something other than a string
_AMBIGUOUS = frozenset({"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n"})


def _simple_scalar(text: str) -> Any:
    """A one-line scalar: quoted without escapes, or a plain string / date / bool / null."""
    text = text.rstrip(" ")
    if not text:
        return _FALLBACK
    first = text[0]
    if first == '"':
        inner = text[1:-1]
        if len(text) >= 2 and text[-1] == '"' and '"' not in inner and "\\" not in inner:
            return inner
        return _FALLBACK
    if first == "'":
        inner = text[1:-1]
        if len(text) >= 2 and text[-1] == "'" and "'" not in inner:
            return inner
        return _FALLBACK
    if first in _PLAIN_START_BAD or ": " in text or " #" in text or text[-1] == ":":
        return _FALLBACK
    if text.lower() in _AMBIGUOUS:
        if text in _NULLS:
            return None
        return _BOOLS.get(text, _FALLBACK)
    if first.isdigit() or first in "+.":
        match = _SIMPLE_DATE.fullmatch(text)
        if match is None:
            return _FALLBACK  # numbers, times, odd dates: ruamel decides
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return _FALLBACK
    return text


def _simple_flow_seq(text: str, line: int, col: int) -> Any:
    """`[a, b, c]` of plain words (front-matter tags); positions as ruamel reports them."""
    text = text.rstrip(" ")
    if not (text.startswith("[") and text.endswith("]")):
        return _FALLBACK
    inner = text[1:-1]
    if any(ch in inner for ch in "[]{}\"'#:"):
        return _FALLBACK
    seq = _Seq()
    if not inner.strip():
        return seq
    offset = col + 1
    for part in inner.split(","):
        word = part.strip(" ")
        value = _simple_scalar(word)
        if not word or value is _FALLBACK:
            return _FALLBACK
        seq.append(value)
        seq.lc._items.append((line, offset + len(part) - len(part.lstrip(" "))))
        offset += len(part) + 1
    return seq


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _simple_key(match: re.Match[str]) -> str | None:
    key = match.group(1)
    if key.lower() in _AMBIGUOUS or key[0].isdigit():
        return None
    return key


def _simple_yaml(body: str) -> Any:
    """Top-level `key: value` lines whose values are scalars, `[a, b]` or a block list
    of scalars / flat `key: value` mappings. Returns `_FALLBACK` for anything else."""
    if "\t" in body or "\r" in body:
        return _FALLBACK
    lines = body.split("\n")
    root = _Map()
    idx, count = 0, len(lines)
    while idx < count:
        text = lines[idx]
        if not text.strip(" "):
            idx += 1
            continue
        match = _SIMPLE_KEY.match(text)
        if match is None or text[0] == " ":
            return _FALLBACK
        key = _simple_key(match)
        if key is None:
            return _FALLBACK
        rest = text[match.end() :]
        if rest.strip(" "):
            value = (
                _simple_flow_seq(rest, idx, match.end())
                if rest.startswith("[")
                else _simple_scalar(rest)
            )
            if value is _FALLBACK or not root.put(key, value, (idx, 0), (idx, match.end())):
                return _FALLBACK
            idx += 1
            continue
        nxt = idx + 1
        while nxt < count and not lines[nxt].strip(" "):
            nxt += 1
        if nxt >= count or (_indent(lines[nxt]) == 0 and not lines[nxt].startswith("- ")):
            # `key:` with nothing under it is null; ruamel puts the value at the next token
            # (at the end of the text: where the text ends, as ruamel's stream end)
            end = (body.count("\n"), len(body) - body.rfind("\n") - 1)
            where = (nxt, 0) if nxt < count else end
            if not root.put(key, None, (idx, 0), where):
                return _FALLBACK
            idx = nxt
            continue
        dash = _indent(lines[nxt])
        if not lines[nxt][dash:].startswith("- "):
            return _FALLBACK  # a nested mapping or a multi-line scalar
        seq, end = _simple_block_seq(lines, nxt, dash)
        if seq is _FALLBACK or not root.put(key, seq, (idx, 0), (nxt, dash)):
            return _FALLBACK
        idx = end
    return root if root else None


def _simple_block_seq(lines: list[str], start: int, dash: int) -> tuple[Any, int]:
    """Items `- scalar` or `- key: value` (+ `  key: value` lines) at indent `dash`."""
    seq = _Seq()
    idx, count = start, len(lines)
    while idx < count:
        text = lines[idx]
        if not text.strip(" "):
            idx += 1
            continue
        indent = _indent(text)
        if indent < dash or (indent == dash == 0 and not text.startswith("- ")):
            break  # back to the parent mapping
        if indent != dash or not text.startswith("- ", dash):
            return _FALLBACK, idx
        col = dash + 2 + _indent(text[dash + 2 :])
        content = text[col:]
        match = _SIMPLE_KEY.match(content)
        if match is None:
            value = _simple_scalar(content)
            if value is _FALLBACK or not content:
                return _FALLBACK, idx
            seq.append(value)
            seq.lc._items.append((idx, col))
            idx += 1
            continue
        entry = _Map()
        item_line = idx
        while True:
            key = _simple_key(match)
            at = col + match.end()
            # (an empty value is null, positioned by ruamel at the next token: left to it)
            value = _FALLBACK if key is None else _simple_scalar(text[at:])
            if key is None or value is _FALLBACK:
                return _FALLBACK, idx
            if not entry.put(key, value, (idx, col), (idx, at)):
                return _FALLBACK, idx
            idx += 1
            while idx < count and not lines[idx].strip(" "):
                idx += 1
            if idx >= count:
                break
            text = lines[idx]
            indent = _indent(text)
            if indent <= dash:
                break  # the next item, or the parent mapping
            match = _SIMPLE_KEY.match(text[col:]) if indent == col else None
            if match is None:
                return _FALLBACK, idx
        seq.lc._items.append((item_line, col))
        seq.append(entry)
    return seq, idx


@dataclass(frozen=True)
class _HeadingWords:
    """What a heading's own text says (the same few headings recur in every doc)."""

    is_action: bool
    non_action: bool
    factors: bool
    related: bool
    status: Status | None
    category: str | None


@functools.lru_cache(maxsize=4096)
def _heading_words(raw: str) -> _HeadingWords:
    text = strip_markup(raw)
    non_action = bool(NON_ACTION_HEADING.match(text))
    return _HeadingWords(
        is_action=bool(ACTION_HEADING.match(text)) and not non_action,
        non_action=non_action,
        factors=bool(FACTORS_HEADING.match(text)),
        related=bool(RELATED_HEADING.match(text)),
        status=status_from_heading(text),
        category=re.sub(r"\s*\([^)]*\)\s*$", "", text).strip() or None,
    )


INTERNAL_ERROR = "syncd could not read this document (internal error"


def parse_text(text: str, path: Path | str = "<text>") -> Postmortem:
    try:
        return _Parser(text, Path(path)).parse()
    except (RecursionError, MemoryError):
        return _failed(Path(path), "document is nested too deeply to read")
    except Exception as exc:  # a parser bug must not stop the run for every other document
        return _failed(Path(path), f"{INTERNAL_ERROR} {type(exc).__name__}); please report it")


def parse_file(path: Path) -> tuple[Postmortem, str | None]:
    """Parse a file; returns the document and its text (None if unreadable)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return _failed(path, f"cannot read file: {exc.strerror or exc}"), None
    if len(raw) > MAX_BYTES:
        return _failed(
            path, f"file is {len(raw)} bytes; larger than {MAX_BYTES} is not parsed"
        ), None
    if b"\x00" in raw[:8192]:
        return _failed(path, "binary file (NUL bytes); not a Markdown document"), None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _failed(path, f"invalid UTF-8 at byte {exc.start}", line), None
    if text.startswith("\ufeff"):
        text = text[1:]
        doc = parse_text(text, path)
        return doc, "\ufeff" + text
    return parse_text(text, path), text


def _failed(path: Path, message: str, line: int = 1) -> Postmortem:
    return Postmortem(path, None, None, None, None, (), problems=(Problem(line, message),))


class _Parser:
    def __init__(self, text: str, path: Path) -> None:
        self.text = text
        self.path = path
        self.lines = split_lines(text)
        self.problems: list[Problem] = []
        self.blocks: list[object] = []
        self.items: list[ActionItem] = []
        self.meta: dict[str, Any] = {}
        self.fm_data: Any = None
        self._pending_fm_items: Any = None
        self.fm = front_matter(self.lines)
        self.hidden: set[int] = set()
        if self.fm is not None:
            self.hidden.update(range(0, self.fm.stop + 1))
        self.fences = find_fences(self.lines, self.fm)
        for fence in self.fences:
            self.hidden.update(range(fence.open_idx, fence.close_idx + 1))
        self.hidden.update(unread_lines(self.lines, self.hidden))  # comments, indented code
        self.headings = find_headings(self.lines, self.hidden)
        self.sections = self._sections()
        self._heading_lines = [h.idx for h in self.headings]
        self._heading_set = set(self._heading_lines)
        self._heading_ends = {h.end_idx for h in self.headings}
        self.factors: list[str] = []
        self.related: list[str] = []

    # -- sections -------------------------------------------------------------------
    def _sections(self) -> list[Section]:
        stack: list[tuple[Heading, Section]] = []
        result = []
        for heading in self.headings:
            while stack and stack[-1][0].level >= heading.level:
                stack.pop()
            parent = stack[-1][1] if stack else None
            words = _heading_words(heading.text)
            is_action = words.is_action
            if words.non_action and not is_action:
                action = False
            else:
                action = is_action or bool(parent and parent.action)
            status = words.status if action else None
            if status is None and parent and action:
                status = parent.status
            category = None
            if action and not is_action:
                category = words.category
            elif action and parent and parent.category:
                category = parent.category
            section = Section(
                action=action,
                factors=words.factors
                or bool(
                    parent
                    and parent.factors
                    and heading.level > (stack[-1][0].level if stack else 0)
                ),
                related=words.related,
                status=status,
                category=category,
                heading=heading,
            )
            stack.append((heading, section))
            result.append(section)
        return result

    def section_at(self, idx: int) -> Section | None:
        pos = bisect.bisect_right(self._heading_lines, idx) - 1
        return self.sections[pos] if pos >= 0 else None

    def context(self, section: Section | None) -> Context:
        return Context(
            ref_date=self.meta.get("date"),
            inherited_status=section.status if section else None,
            category=section.category if section else None,
            problems=self.problems,
        )

    # -- main ------------------------------------------------------------------------
    def parse(self) -> Postmortem:
        self._front_matter()
        self._metadata()
        title = self.meta.get("title") or self._title()
        if "date" not in self.meta and (fallback := self._date_fallback(title)):
            self.meta["date"] = fallback  # year-less due dates resolve against it
        if self._pending_fm_items is not None and self.fm is not None:
            self._yaml_items(self._pending_fm_items, self.fm.start)
        self._walk()
        self._fenced_yaml()
        incident_date = self.meta.get("date")
        tags = self.meta.get("tags", ())
        return Postmortem(
            path=self.path,
            title=title,
            date=incident_date,
            severity=parse_severity(self.meta.get("severity")),
            status=self.meta.get("status"),
            action_items=tuple(sorted(self.items, key=lambda i: i.line)),
            contributing_factors=tuple(dict.fromkeys(f for f in self.factors if f)),
            related_incidents=tuple(self.related),
            problems=tuple(sorted(set(self.problems), key=lambda p: (p.line, p.message))),
            duration_minutes=meta.duration_minutes(self.meta.get("duration")),
            impact=self.meta.get("impact"),
            detection_minutes=meta.duration_minutes(self.meta.get("detection")),
            tags=tags,
            tracker=self.meta.get("tracker"),
            project=self.meta.get("project"),
            metadata=tuple((k, str(v)) for k, v in self.meta.items() if k != "tags"),
            blocks=tuple(self.blocks),
        )

    # -- metadata -----------------------------------------------------------------------
    def _set(self, key: str | None, value: Any, line: int) -> None:
        if key is None or key in self.meta or value is None:
            return
        if key == "tags":
            tags = meta.split_tags(value)
            if tags:
                self.meta[key] = tags
            return
        text = meta.as_text(value)
        if text is None or is_placeholder(strip_markup(text)):
            return
        text = strip_markup(text)
        if key == "date":
            result = parse_date(text)
            if result.value is None:
                if result.problem:
                    self.problems.append(Problem(line, f"incident date: {result.problem}"))
                return
            self.meta[key] = result.value
            return
        if key in ("duration", "detection") and meta.duration_minutes(text) is None:
            if re.search(r"\[[^\]]*\]", text):
                return  # a template slot ("[X] minutes"): nothing written yet
            # Said but unreadable: MTTR/MTTD would silently leave the incident out.
            self.problems.append(
                Problem(
                    line,
                    f"{key} {text!r} is not a duration: write minutes (140), 1h 20m,"
                    " 01:20, 80 min, or start and end times",
                )
            )
            return
        if key == "status":
            text = re.split(r"\s*\|\s*", text)[0].strip()
            if "|" in meta.as_text(value) or "[" in text:
                return  # template "Draft | Reviewed | Final": no real value yet
        self.meta[key] = text

    def _front_matter(self) -> None:
        if self.fm is None:
            return
        body = "".join(
            self.text[self.lines[i].start : self.lines[i].end] + self.lines[i].newline
            for i in self.fm
        )
        try:
            data = load_yaml(body)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = (mark.line + 2) if mark else 1
            self.problems.append(Problem(line, f"front matter is not valid YAML: {_yaml_msg(exc)}"))
            return
        except RecursionError:
            self.problems.append(Problem(1, "front matter is nested too deeply"))
            return
        self.fm_data = data
        if not isinstance(data, dict):
            if data is not None:
                self.problems.append(Problem(1, "front matter is not a YAML mapping"))
            return
        for key, value in meta.front_matter_pairs(data):
            if key.lower() == "action_items":
                continue
            canonical = meta.key_for(key)
            if key.lower() in ("contributing_factors", "factors", "root_causes"):
                self.factors.extend(str(v) for v in (value or []) if v)
            elif key.lower() in ("related", "related_incidents"):
                self.related.extend(str(v) for v in (value or []) if v)
            self._set(canonical, value, 1)
        if "action_items" in data:
            self._pending_fm_items = data["action_items"]

    def _metadata(self) -> None:
        for line in self.lines:
            # every key/value form has a colon (see metadata.kv_pairs)
            if ":" not in line.text or line.idx in self.hidden or line.blank:
                continue
            section = self.section_at(line.idx)
            if section and section.action:
                continue
            if section and section.heading and section.heading.idx == line.idx:
                continue
            for key, value in meta.kv_pairs(line):
                canonical = meta.key_for(key)
                if canonical == "factor":  # "Root Causes: …" on one line
                    text = strip_markup(value)
                    if text and not is_placeholder(text):
                        self.factors.append(text)
                    continue
                self._set(canonical, value, line.no)
        # "## Date" followed by the value on the next line
        for heading in self.headings:
            key = meta.key_for(heading.text)
            if (
                key in ("date", "severity", "status", "duration", "detection")
                and key not in self.meta
            ):
                nxt = self._next_text_line(heading.end_idx + 1)
                if nxt is not None:
                    self._set(key, nxt.text.strip().lstrip("-* "), nxt.no)

    def _next_text_line(self, idx: int) -> Line | None:
        for line in self.lines[idx : idx + 4]:
            if line.idx in self.hidden or line.idx in self._heading_set:
                return None
            if not line.blank:
                return line
        return None

    def _title(self) -> str | None:
        for heading in self.headings:
            if heading.level == 1:
                return strip_markup(heading.text) or None
        for heading in self.headings:
            if heading.level <= 6:
                return strip_markup(heading.text) or None
        return None

    def _date_fallback(self, title: str | None) -> date | None:
        for source in (title or "", self.path.name):
            if match := re.search(r"(\d{4})-(\d{2})-(\d{2})", source):
                result = parse_date(match.group(0))
                if result.value:
                    return result.value
        return None

    # -- body walk ---------------------------------------------------------------------
    def _walk(self) -> None:
        idx = 0
        heading_idx = self._heading_set | self._heading_ends
        while idx < len(self.lines):
            line = self.lines[idx]
            if idx in self.hidden or line.blank or idx in heading_idx:
                idx += 1
                continue
            section = self.section_at(idx)
            in_action = bool(section and section.action)
            if "|" in line.text and (found := read_pipe_table(self.lines, idx, self.hidden)):
                table, nxt = found
                self._table(table, section)
                idx = nxt
                continue
            if in_action and (plain := read_plain_table(self.lines, idx, self._section_end(idx))):
                table_plain, nxt = plain
                self.blocks.append(table_plain)
                self.items.extend(
                    plain_table_items(table_plain, len(self.blocks) - 1, self.context(section))
                )
                idx = nxt
                continue
            if is_list_line(line.text):
                end = self._list_end(idx)
                if in_action and not self._section_has_table(idx):
                    self._list(idx, end, section)
                elif section and section.factors:
                    self._factor_list(idx, end)
                elif section and section.related:
                    self.related.extend(self._top_level_texts(idx, end))
                idx = end
                continue
            if section and section.factors and not section.action:
                self._factor_paragraph(idx)
            idx += 1
        self._factor_headings()

    def _section_end(self, idx: int) -> int:
        pos = bisect.bisect_right(self._heading_lines, idx)
        return self._heading_lines[pos] if pos < len(self._heading_lines) else len(self.lines)

    def _section_has_table(self, idx: int) -> bool:
        """Lists next to an action table are definitions or rationale, not items."""
        start_pos = bisect.bisect_right(self._heading_lines, idx) - 1
        start = self._heading_lines[start_pos] if start_pos >= 0 else 0
        for j in range(start, self._section_end(idx)):
            if j in self.hidden:
                continue
            text = self.lines[j].text
            if "|" in text and (found := read_pipe_table(self.lines, j, self.hidden)):
                table = found[0]
                if self._is_action_table(table, True):
                    return True
        return False

    def _list_end(self, idx: int) -> int:
        end = idx
        while end < len(self.lines):
            line = self.lines[end]
            if end in self.hidden:
                break
            if end in self._heading_set:
                break
            if line.blank:
                nxt = end + 1
                if nxt < len(self.lines) and (
                    is_list_line(self.lines[nxt].text)
                    or self.lines[nxt].text.startswith(("  ", "\t"))
                ):
                    end += 1
                    continue
                break
            if "|" in line.text and not is_list_line(line.text) and not line.text.startswith(" "):
                break
            if "|" in line.text and starts_table(self.lines, end, self.hidden):
                break  # a table nested in the list item is read as a table
            end += 1
        return end

    def _is_action_table(self, table: TableBlock, in_action: bool) -> bool:
        cols = set(table.columns)
        supporting = cols & {"owner", "due", "status", "ticket", "priority"}
        if "action" in cols and supporting:
            return True
        return in_action and ("action" in cols or len(supporting) >= 2)

    def _table(self, table: TableBlock, section: Section | None) -> None:
        in_action = bool(section and section.action)
        excluded = (
            section is not None
            and not section.action
            and section.heading is not None
            and bool(NON_ACTION_HEADING.match(strip_markup(section.heading.text)))
        )
        if not excluded and self._is_action_table(table, in_action):
            self.blocks.append(table)
            self.items.extend(table_items(table, len(self.blocks) - 1, self.context(section)))
        elif len(table.header.cells) == 2 and not in_action:
            for row in (table.header, *table.rows):
                if len(row.cells) >= 2:
                    self._set(meta.key_for(row.cells[0].text), row.cells[1].text, row.line.no)

    def _list(self, start: int, end: int, section: Section | None) -> None:
        lines = [ln for ln in self.lines[start:end]]
        roots = group_list(lines)
        entries: list[ListEntry] = []
        block_index = len(self.blocks)
        self.blocks.append(None)  # reserve the slot; entries are known after parsing
        found = list_items(roots, block_index, self.context(section), entries)
        self.blocks[block_index] = ListBlock(tuple(entries))
        self.items.extend(found)

    # -- YAML in fences ----------------------------------------------------------------
    def _fenced_yaml(self) -> None:
        for fence in self.fences:
            body_lines = list(fence.body())
            if not body_lines:
                continue
            has_key = any(
                self.lines[i].text.lstrip().startswith("action_items:") for i in body_lines
            )
            if not has_key:
                section = self.section_at(fence.open_idx)
                if section and section.action:
                    self._fenced_plain_table(fence, section)
                continue
            body = "".join(self.lines[i].text + "\n" for i in body_lines)
            try:
                data = load_yaml(body)
            except YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = body_lines[0] + 1 + (mark.line if mark else 0)
                self.problems.append(
                    Problem(line, f"action_items block is not valid YAML: {_yaml_msg(exc)}")
                )
                continue
            except RecursionError:
                self.problems.append(Problem(fence.open_idx + 1, "YAML block is nested too deeply"))
                continue
            if isinstance(data, dict) and "action_items" in data:
                self._yaml_items(data["action_items"], body_lines[0])

    def _fenced_plain_table(self, fence: Fence, section: Section) -> None:
        idx = fence.open_idx + 1
        while idx < fence.close_idx:
            plain = read_plain_table(self.lines, idx, fence.close_idx)
            if plain:
                table, idx = plain
                self.blocks.append(table)
                self.items.extend(
                    plain_table_items(table, len(self.blocks) - 1, self.context(section))
                )
            else:
                idx += 1

    def _yaml_items(self, seq: Any, first_line: int) -> None:
        if seq is None:
            return
        if not isinstance(seq, list):
            self.problems.append(Problem(first_line + 1, "action_items is not a list"))
            return
        ctx = Context(ref_date=self.meta.get("date"), problems=self.problems)
        items, block = yaml_items(seq, self.text, self.lines, first_line, len(self.blocks), ctx)
        self.blocks.append(block)
        self.items.extend(items)

    # -- contributing factors and related incidents -----------------------------------
    def _top_level_texts(self, start: int, end: int) -> list[str]:
        roots = group_list(self.lines[start:end])
        texts = []
        for raw in roots:
            text = " ".join(ln.text.strip() for ln in raw.lines)
            text = strip_markup(re.sub(r"^(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s*)?", "", text)).strip()
            if text and not is_placeholder(text):
                texts.append(text)
        return texts

    def _factor_list(self, start: int, end: int) -> None:
        self.factors.extend(self._top_level_texts(start, end))

    def _factor_paragraph(self, idx: int) -> None:

        section = self.section_at(idx)
        if section is None or section.heading is None:
            return
        if not FACTORS_HEADING.match(strip_markup(section.heading.text)):
            return  # under "### Factor 1: name" the name is the factor
        # only the first paragraph of a "Root cause" section; sub-headed factors handled below
        prev = self.lines[idx - 1] if idx else None
        if prev is not None and not prev.blank and prev.idx not in self._heading_ends:
            return
        paragraph = []
        for ln in self.lines[idx : self._section_end(idx)]:
            if ln.blank or ln.idx in self.hidden or is_list_line(ln.text) or "|" in ln.text:
                break
            paragraph.append(ln.text.strip())
        text = strip_markup(" ".join(paragraph))
        if (
            text
            and not is_placeholder(text)
            and not text.startswith(("->", "→"))
            and len(text) > 12
        ):
            self.factors.append(text)

    def _factor_headings(self) -> None:
        for heading, section in zip(self.headings, self.sections, strict=True):
            if not section.factors or FACTORS_HEADING.match(strip_markup(heading.text)):
                continue
            name = re.sub(
                r"^(?:factor|cause)\s*\d*\s*[:.-]\s*", "", strip_markup(heading.text), flags=re.I
            )
            if name and not is_placeholder(name):
                self.factors.append(name)


def _yaml_msg(exc: YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).splitlines()[0]
