"""Parse one postmortem into a `Postmortem`: metadata, action items, contributing factors.

Never raises on content: anything it cannot read becomes a `Problem` with a line.
Action items are only taken from action-item sections (by heading), from tables whose
header says they are action items, and from YAML `action_items:` lists — so timeline
bullets, detection checklists and legends inside code fences are not mistaken for them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from syncd import metadata as meta
from syncd.blocks import ListBlock, ListEntry
from syncd.dates import parse_date
from syncd.items import Context, group_list, list_items, plain_table_items, table_items, yaml_items
from syncd.markdown import (
    Fence,
    Heading,
    Line,
    find_fences,
    find_headings,
    front_matter,
    is_list_line,
    split_lines,
)
from syncd.model import ActionItem, Postmortem, Problem, Status
from syncd.tables import TableBlock, read_pipe_table, read_plain_table
from syncd.vocab import (
    ACTION_HEADING,
    FACTORS_HEADING,
    NON_ACTION_HEADING,
    RELATED_HEADING,
    is_placeholder,
    parse_severity,
    status_from_heading,
    strip_markup,
)

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


def parse_text(text: str, path: Path | str = "<text>") -> Postmortem:
    return _Parser(text, Path(path)).parse()


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
        self.headings = find_headings(self.lines, self.hidden)
        self.sections = self._sections()
        self._heading_lines = [h.idx for h in self.headings]
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
            text = strip_markup(heading.text)
            is_action = bool(ACTION_HEADING.match(text)) and not NON_ACTION_HEADING.match(text)
            if NON_ACTION_HEADING.match(text) and not is_action:
                action = False
            else:
                action = is_action or bool(parent and parent.action)
            status = status_from_heading(text) if action else None
            if status is None and parent and action:
                status = parent.status
            category = None
            if action and not is_action:
                category = re.sub(r"\s*\([^)]*\)\s*$", "", text).strip() or None
            elif action and parent and parent.category:
                category = parent.category
            section = Section(
                action=action,
                factors=bool(FACTORS_HEADING.match(text))
                or bool(
                    parent
                    and parent.factors
                    and heading.level > (stack[-1][0].level if stack else 0)
                ),
                related=bool(RELATED_HEADING.match(text)),
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
            data = _yaml().load(body)
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
            if line.idx in self.hidden or line.blank:
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
            if line.idx in self.hidden or any(h.idx == line.idx for h in self.headings):
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
        heading_idx = {h.idx for h in self.headings} | {h.end_idx for h in self.headings}
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
            if any(h.idx == end for h in self.headings):
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
                data = _yaml().load(body)
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
        if (
            prev is not None
            and not prev.blank
            and prev.idx not in {h.end_idx for h in self.headings}
        ):
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
