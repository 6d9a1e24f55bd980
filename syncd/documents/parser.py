"""Parse one postmortem into a `Postmortem`: metadata, action items, contributing factors.

Never raises on content: anything it cannot read becomes a `Problem` with a line.
Action items are only taken from action sections (scored from heading words, content
shape and place: see `sections.py`), from tables whose header says they are action
items, and from YAML `action_items:` lists — so timeline bullets, detection checklists
and legends inside code fences are not mistaken for them.
"""

from __future__ import annotations

import bisect
import dataclasses
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
from syncd.documents.cells import REF_DEFINITION
from syncd.documents.dates import parse_date
from syncd.documents.items import (
    Context,
    RawListItem,
    action_columns,
    group_list,
    is_group_label,
    item_text,
    list_items,
    plain_table_items,
    status_from_label,
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
from syncd.documents.options import ParseOptions, resolve
from syncd.documents.sections import (
    THRESHOLD,
    Score,
    SectionRules,
    compile_rules,
    content_score,
    heading_score,
    line_shape,
    place_score,
    starts_with_verb,
)
from syncd.documents.tables import TableBlock, read_pipe_table, read_plain_table, starts_table
from syncd.documents.vocab import (
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

# "Going forward, we will do the following:" before a list outside an action section
_INTRO = re.compile(
    r"\b(?:going\s+forward|we\s+will|we'll|we\s+are\s+(?:going\s+to|taking)|next\s+steps|"
    r"following\s+(?:steps|actions|changes|improvements|follow-ups)|to\s+prevent|"
    r"follow-?ups?|action\s+items)\b",
    re.IGNORECASE,
)
_ITEM_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
# `**Action taken:** Upgraded …` — a bold label that says "this line is an action"
_ACTION_LABEL = re.compile(
    r"^\s*(\*\*|__)((?:actions?|fix|fixes|follow[\s-]?ups?|next\s+steps?|to-?dos?|"
    r"remediations?|ma(?:ß|ss)nahmen?|対策)(?:\s+(?:taken|items?|required|needed|planned|"
    r"done|completed))?)\s*:?\s*\1\s*:?\s+(?=\S)",
    re.IGNORECASE,
)
# "We've added …", "We have now moved …" (done work, written as prose); "we will …" and
# "we are adding …" are verb-led already (sections.starts_with_verb)
_OPENER = re.compile(r"^(?:we've|we\s+have)\s+(?:now\s+|already\s+|also\s+)?\w+ed\b", re.I)


def _opens_item(text: str) -> bool:
    plain = strip_markup(text).strip()
    return bool(plain) and (starts_with_verb(plain) or bool(_OPENER.match(plain)))


@dataclass(slots=True)  # (not frozen: a frozen init costs per field, once per heading)
class Section:
    """What the enclosing headings say about a line."""

    action: bool
    factors: bool
    related: bool
    status: Status | None
    category: str | None
    heading: Heading | None
    score: Score | None = None
    reason: str = ""  # why taken or not, for --explain
    has_blocks: bool = False  # its own lines hold a list or a table
    heading_item: bool = False  # the heading itself is an action item ("## Pin firmware")


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
            text_end = (body.count("\n"), len(body) - body.rfind("\n") - 1)
            where = (nxt, 0) if nxt < count else text_end
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


@functools.lru_cache(maxsize=4096)
def _heading_kind(raw: str) -> tuple[bool, bool]:
    """Whether a heading names contributing factors, and related incidents (the same few
    headings recur in every doc)."""
    text = strip_markup(raw)
    return bool(FACTORS_HEADING.match(text)), bool(RELATED_HEADING.match(text))


@functools.lru_cache(maxsize=4096)
def _heading_status(raw: str) -> tuple[Status | None, str | None]:
    """The status and category a taken section's heading gives its items (only asked of
    taken sections: most headings, and every title, are not)."""
    text = strip_markup(raw)
    return (
        status_from_label(text) or status_from_heading(text),
        re.sub(r"\s*\([^)]*\)\s*$", "", text).strip() or None,
    )


INTERNAL_ERROR = "syncd could not read this document (internal error"


def parse_text(
    text: str,
    path: Path | str = "<text>",
    rules: SectionRules | None = None,
    *,
    options: ParseOptions | None = None,
) -> Postmortem:
    """Parse `text` with `options` (see options.py; without them, the built-in
    defaults); `rules`, if given, replace the options' section rules."""
    try:
        return _Parser(text, Path(path), resolve(rules, options)).parse()
    except (RecursionError, MemoryError):
        return _failed(Path(path), "document is nested too deeply to read")
    except Exception as exc:  # a parser bug must not stop the run for every other document
        return _failed(Path(path), f"{INTERNAL_ERROR} {type(exc).__name__}); please report it")


@dataclass(frozen=True)
class SectionReport:
    """One heading as `syncd parse --explain` shows it."""

    line: int
    level: int
    heading: str
    taken: bool
    score: Score | None
    reason: str


@dataclass(frozen=True)
class Explanation:
    doc: Postmortem
    sections: tuple[SectionReport, ...]
    rules: dict[int, dict[str, str]]  # item line -> field -> rule that read it


def explain_file(
    path: Path, rules: SectionRules | None = None, *, options: ParseOptions | None = None
) -> Explanation:
    """Parse `path` recording why each section was (not) taken and who read each field."""
    text = path.read_text(encoding="utf-8", errors="replace").removeprefix("\ufeff")
    parser = _Parser(text, path, resolve(rules, options), explain=True)
    doc = parser.parse()
    reports = tuple(
        SectionReport(
            h.idx + 1,
            h.level,
            strip_markup(h.text),
            sec.action,
            sec.score,
            sec.reason,
        )
        for h, sec in zip(parser.headings, parser.sections, strict=True)
    )
    return Explanation(doc, reports, parser.explain or {})


def parse_file(
    path: Path, rules: SectionRules | None = None, *, options: ParseOptions | None = None
) -> tuple[Postmortem, str | None]:
    """Parse a file; returns the document and its text (None if unreadable). `options`
    and `rules` as for `parse_text`."""
    options = resolve(rules, options)
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
        doc = parse_text(text, path, options=options)
        return doc, "\ufeff" + text
    return parse_text(text, path, options=options), text


def _failed(path: Path, message: str, line: int = 1) -> Postmortem:
    return Postmortem(path, None, None, None, None, (), problems=(Problem(line, message),))


class _Parser:
    def __init__(self, text: str, path: Path, options: ParseOptions, explain: bool = False) -> None:
        self.text = text
        self.path = path
        self.rules = options.rules
        self.date_order = options.date_order
        self.explain: dict[int, dict[str, str]] | None = {} if explain else None
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
        self.sections: list[Section] = []  # scored once front matter overrides are known
        self.refs: dict[str, str] = {}
        self.ref_lines: set[int] = set()
        if "]:" in text:
            for line in self.lines:
                if line.idx not in self.hidden and (ref := REF_DEFINITION.match(line.text)):
                    self.refs.setdefault(ref.group(1).strip().lower(), ref.group(2))
                    self.ref_lines.add(line.idx)
        self._heading_lines = [h.idx for h in self.headings]
        self._heading_set = set(self._heading_lines)
        self._heading_ends = {h.end_idx for h in self.headings}
        self.factors: list[str] = []
        self.related: list[str] = []

    # -- sections -------------------------------------------------------------------
    def _own_lines(self, pos: int, need_units: bool = True) -> tuple[list[str], bool]:
        """Top-level list items and paragraph lines directly under heading `pos` (up to the
        next heading of any level), and whether a list or table is among them (with
        `need_units=False`, only the latter, answered at the first such line)."""
        heading = self.headings[pos]
        stop = self.headings[pos + 1].idx if pos + 1 < len(self.headings) else len(self.lines)
        if not need_units:
            hidden, refs = self.hidden, self.ref_lines
            for line in self.lines[heading.end_idx + 1 : stop]:
                if line.idx in hidden:
                    return [], True
                text = line.text
                if line.idx not in refs and (is_list_line(text) or text.count("|") >= 2):
                    return [], True
            return [], False
        units: list[str] = []
        blocks, in_list = False, False
        for line in self.lines[heading.end_idx + 1 : stop]:
            if line.idx in self.hidden:
                blocks = True  # a fenced block (YAML items, a plain table) is not prose
                continue
            if line.idx in self.ref_lines:
                continue
            if line.blank:
                continue
            text = line.text
            if is_list_line(text):
                blocks = True
                in_list = True
                if len(text) - len(text.lstrip()) <= 3:
                    units.append(text)
                continue
            if "|" in text and text.count("|") >= 2:
                blocks = True
                continue
            if in_list and text.startswith((" ", "\t")):
                continue  # continuation of a list item
            in_list = False
            units.append(text)
        return units, blocks

    def _front_matter_rules(self) -> SectionRules:
        """`action_sections:` / `ignore_sections:` in front matter (a regex or a list)."""
        data = self.fm_data if isinstance(self.fm_data, dict) else {}
        found: dict[str, tuple[str, ...]] = {}
        for key in ("action_sections", "ignore_sections"):
            value = data.get(key)
            if value is None:
                continue
            patterns = tuple(str(v) for v in (value if isinstance(value, list) else [value]))
            errors = compile_rules(patterns)
            for error in errors:
                self.problems.append(Problem(1, f"front matter {key}: invalid regex {error}"))
            found[key] = () if errors else patterns
        if not found:
            return self.rules
        own = SectionRules(
            found.get("action_sections", ()), found.get("ignore_sections", ()), "front matter"
        )
        return SectionRules(
            own.action + self.rules.action, own.ignore + self.rules.ignore, "front matter"
        )

    def _sections(self) -> list[Section]:
        rules = self._front_matter_rules()
        overridden = bool(rules.action or rules.ignore)
        explaining = self.explain is not None
        stack: list[tuple[Heading, Section]] = []
        result = []
        count = len(self.headings)
        first_h1 = next((i for i, h in enumerate(self.headings) if h.level == 1), None)
        for pos, heading in enumerate(self.headings):
            while stack and stack[-1][0].level >= heading.level:
                stack.pop()
            parent = stack[-1][1] if stack else None
            in_taken = parent is not None and parent.action
            head, parts = heading_score(heading.text)
            is_title = pos == first_h1 and pos == 0 and count > 1
            place = place_score(pos, count, heading.level, is_title)
            forced, why = rules.verdict(strip_markup(heading.text)) if overridden else (None, "")
            # The content part is most of the cost, so it is only worked out when it can
            # change the outcome (or is being explained): a +3 or -4 heading decides alone
            # (see sections.py); under a taken section only a neutral heading's content can
            # make it "negative"; elsewhere only when some content score (-3 .. +3) would
            # put the total on the other side of THRESHOLD.
            if explaining:
                need_content = True
            elif forced is not None or head >= 3 or head < 0:
                need_content = False
            elif in_taken:
                need_content = head == 0
            else:
                need_content = head + place - 3 < THRESHOLD <= head + place + 3
            units, blocks = self._own_lines(pos, need_units=need_content)
            content, seen = content_score(units) if need_content else (0.0, 0)
            if head >= 3 and not is_title:
                content, place = max(content, -0.5), max(place, 0.0)
            score = Score(head, content, place, seen, parts)
            heading_item = False
            if forced is not None:
                action, reason = forced, why
            elif in_taken and not score.negative:
                action, reason = True, "inside a taken section"
                plain = strip_markup(heading.text)
                heading_item = (
                    not blocks
                    and heading.level <= 6
                    and len(plain.split()) >= 3
                    and starts_with_verb(plain)
                )
            elif in_taken:
                action, reason = False, "own heading or content says it is not follow-up work"
            else:
                total = score.total
                action = total >= THRESHOLD
                reason = f"score {total:g} {'>=' if action else '<'} {THRESHOLD:g}"
            status = category = None
            if action:
                own_status, own_category = _heading_status(heading.text)
                status = own_status or (parent.status if parent else None)
                if head < 3 and in_taken:
                    category = own_category
                elif parent is not None:
                    category = parent.category
            factors, related = _heading_kind(heading.text)
            section = Section(
                action=action,
                # (a heading on the stack is always of a higher level than this one)
                factors=factors or bool(parent and parent.factors),
                related=related,
                status=status,
                category=category,
                heading=heading,
                score=score,
                reason=reason,
                has_blocks=blocks,
                heading_item=heading_item,
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
            refs=self.refs,
            explain=self.explain,
            date_order=self.date_order,
        )

    # -- main ------------------------------------------------------------------------
    def parse(self) -> Postmortem:
        self._front_matter()
        self.sections = self._sections()
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
            skipped_sections=() if self.items else self._skipped_sections(),
        )

    def _skipped_sections(self) -> tuple[tuple[int, str, int], ...]:
        """Sections not read whose lines look like follow-ups: two or more verb-led lines
        with an owner, date, ticket or checkbox (or three verb-led ones)."""
        found = []
        for pos, (heading, section) in enumerate(zip(self.headings, self.sections, strict=True)):
            if section.action or (section.score and section.score.heading < 0):
                continue
            units, _blocks = self._own_lines(pos)
            shapes = [line_shape(u) for u in units]
            backed = sum(1 for s in shapes if s.action_like and s.evidence and not s.against)
            verbs = sum(1 for u in units if starts_with_verb(_ITEM_MARK.sub("", u)))
            if backed >= 2 or verbs >= 3:
                found.append((heading.idx + 1, strip_markup(heading.text), max(backed, verbs)))
        return tuple(found)

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
            result = parse_date(text, order=self.date_order)
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
            if "|" in (meta.as_text(value) or "") or "[" in text:
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
            named = meta.key_for(heading.text)
            if (
                named in ("date", "severity", "status", "duration", "detection")
                and named not in self.meta
            ):
                nxt = self._next_text_line(heading.end_idx + 1)
                if nxt is not None and named is not None:
                    self._set(named, nxt.text.strip().lstrip("-* "), nxt.no)

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
                result = parse_date(match.group(0), order=self.date_order)
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
                elif not in_action and self._introduced(idx):
                    self._list(idx, end, section, "list introduced by a sentence")
                elif not in_action and self._labelled_groups(idx, end, section):
                    pass
                elif section and section.factors:
                    self._factor_list(idx, end)
                elif section and section.related:
                    self.related.extend(self._top_level_texts(idx, end))
                idx = end
                continue
            if (
                in_action
                and section is not None
                and not section.has_blocks
                and not section.heading_item
                and idx not in self.ref_lines
            ):
                idx = self._paragraph_items(idx, section)
                continue
            if section and section.factors and not section.action:
                self._factor_paragraph(idx)
            idx += 1
        self._heading_items()
        self._factor_headings()

    # -- items that are not in an action list ------------------------------------------
    def _introduced(self, idx: int) -> bool:
        """A list right after "Going forward, we will do the following:"."""
        prev = idx - 1
        while prev >= 0 and self.lines[prev].blank:
            prev -= 1
        if prev < 0 or prev in self.hidden or prev in self._heading_set:
            return False
        text = strip_markup(self.lines[prev].text).strip().lower()
        return text.endswith(":") and bool(_INTRO.search(text))

    def _labelled_groups(self, start: int, end: int, section: Section | None) -> bool:
        """`- **Review actions**:` with sub-items, in a section that is not itself an action
        section (incident logs with several incidents per file)."""
        if not any(
            ln.text.rstrip().endswith((":", ":**", ":__")) and ln.text[:1] not in (" ", "\t")
            for ln in self.lines[start:end]
        ):
            return False  # (cheap test first: a label line ends with a colon)
        roots = group_list(self.lines[start:end])
        chosen = [
            r
            for r in roots
            if r.children
            and is_group_label(_ITEM_MARK.sub("", r.lines[0].text, count=1))
            and heading_score(item_text(r).rstrip(":"))[0] >= 3
        ]
        if not chosen:
            return False
        self._roots(chosen, section)
        return True

    def _paragraph_items(self, idx: int, section: Section) -> int:
        """Paragraphs and plain lines under an action heading that has no list or table:
        each line opening like work ("Add …", "We will …", `**Action taken:** …`) starts an
        item; other lines continue it. Returns the index after the paragraph."""
        stop = self._section_end(idx)
        groups: list[list[Line]] = []
        labels: list[tuple[int, Status | None]] = []
        j = idx
        while j < stop:
            line = self.lines[j]
            if line.blank or j in self.hidden or j in self._heading_set or is_list_line(line.text):
                break
            if j in self.ref_lines:
                j += 1
                continue
            label = _ACTION_LABEL.match(line.text)
            rest = line.text[label.end() :] if label else line.text
            opener = bool(label) or _opens_item(rest)
            if opener or not groups:
                groups.append([line])
                labels.append(
                    (label.end(), status_from_label(label.group(2))) if label else (0, None)
                )
            else:
                groups[-1].append(line)
            j += 1
        found = []
        for group, (skip, status) in zip(groups, labels, strict=True):
            head = strip_markup(group[0].text[skip:]).strip()
            if not skip and not _opens_item(head):
                continue
            if head.endswith((":", "?")) and len(group) == 1:
                continue
            found.append(
                RawListItem(
                    tuple(group),
                    0,
                    (),
                    skip=skip or len(group[0].text) - len(group[0].text.lstrip()),
                    status_hint=status,
                    rule="bold label line" if skip else "paragraph line in an action section",
                    marker=False,
                )
            )
        if found:
            self._roots(found, section)
        return max(j, idx + 1)

    def _heading_items(self) -> None:
        """ "## Pin firmware and roll updates through a canary rack" under "# Remediations":
        the heading is the item, its paragraph the details (owner, ticket, status)."""
        for pos, section in enumerate(self.sections):
            if not section.heading_item or section.heading is None:
                continue
            heading = section.heading
            stop = self.headings[pos + 1].idx if pos + 1 < len(self.headings) else len(self.lines)
            details = tuple(
                ln
                for ln in self.lines[heading.end_idx + 1 : stop]
                if not ln.blank and ln.idx not in self.hidden
            )
            line = self.lines[heading.idx]
            skip = len(line.text) - len(line.text.lstrip(" #"))
            raw = RawListItem(
                (line,), 0, (), skip=skip, details=details, rule="heading", marker=False
            )
            parent = self._parent_section(pos)
            self._roots([raw], parent or section)

    def _parent_section(self, pos: int) -> Section | None:
        level = self.headings[pos].level
        for back in range(pos - 1, -1, -1):
            if self.headings[back].level < level:
                return self.sections[back]
        return None

    def _roots(self, roots: list[RawListItem], section: Section | None) -> None:
        entries: list[ListEntry] = []
        block_index = len(self.blocks)
        self.blocks.append(None)  # reserve the slot; entries are known after parsing
        found = list_items(roots, block_index, self.context(section), entries)
        self.blocks[block_index] = ListBlock(tuple(entries))
        self.items.extend(found)

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
            columns = action_columns(table)
            if columns != table.columns:  # the patcher edits by these columns too
                table = dataclasses.replace(table, columns=columns)
            self.blocks.append(table)
            self.items.extend(table_items(table, len(self.blocks) - 1, self.context(section)))
        elif len(table.header.cells) == 2 and not in_action:
            for row in (table.header, *table.rows):
                if len(row.cells) >= 2:
                    self._set(meta.key_for(row.cells[0].text), row.cells[1].text, row.line.no)

    def _list(self, start: int, end: int, section: Section | None, rule: str = "list item") -> None:
        lines = [ln for ln in self.lines[start:end]]
        roots = group_list(lines)
        if rule != "list item":
            roots = [RawListItem(r.lines, r.indent, r.children, rule=rule) for r in roots]
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
        ctx = Context(
            ref_date=self.meta.get("date"), problems=self.problems, date_order=self.date_order
        )
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
