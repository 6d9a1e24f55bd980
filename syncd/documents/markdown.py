"""Line-level structure of a Markdown document: lines with offsets, front matter,
code fences and headings (ATX, setext and the bold/colon "pseudo headings" people
type instead).

Hand-written rather than taken from a CommonMark parser because the parser must keep
exact character offsets for every cell and accept what GFM rejects (tables whose
delimiter row does not match the header, tables without one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Line:
    idx: int  # 0-based
    start: int  # offset of the first character
    end: int  # offset just after the content (before the line ending)
    text: str
    newline: str  # "", "\n", "\r\n" or "\r"

    @property
    def no(self) -> int:
        return self.idx + 1

    @property
    def blank(self) -> bool:
        return not self.text.strip()


def split_lines(text: str) -> list[Line]:
    if "\r" not in text:  # the common case: "\n" endings only, no regex needed
        lines: list[Line] = []
        pos = 0
        parts = text.split("\n")
        last = len(parts) - 1
        for idx, part in enumerate(parts):
            end = pos + len(part)
            if idx < last:
                lines.append(Line(idx, pos, end, part, "\n"))
            elif part or not lines:
                lines.append(Line(idx, pos, end, part, ""))
            pos = end + 1
        return lines
    lines = []
    pos = 0
    for match in _NEWLINE.finditer(text):
        lines.append(Line(len(lines), pos, match.start(), text[pos : match.start()], match.group()))
        pos = match.end()
    if pos < len(text) or not lines:
        lines.append(Line(len(lines), pos, len(text), text[pos:], ""))
    return lines


@dataclass(frozen=True, slots=True)
class Fence:
    open_idx: int
    close_idx: int  # index of the closing fence line (or last line if unclosed)
    info: str

    def body(self) -> range:
        return range(self.open_idx + 1, self.close_idx)


@dataclass(frozen=True, slots=True)
class Heading:
    idx: int  # line index of the heading text
    level: int  # 1..6, 7 for pseudo headings ("**Action Items:**", "Action Items:")
    text: str
    end_idx: int  # last line index belonging to the heading (setext underline)


_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`]*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_PSEUDO = re.compile(
    r"^ {0,3}(?:\*\*|__)([^*_:|]{2,60}?):?(?:\*\*|__):?\s*$|^ {0,3}([A-Z][\w &/()'.-]{2,50}):\s*$"
)
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")


def front_matter(lines: list[Line]) -> range | None:
    """Line range of YAML front matter (between `---` fences at the very top)."""
    if not lines or lines[0].text.rstrip() != "---":
        return None
    for line in lines[1:]:
        if line.text.rstrip() in ("---", "..."):
            return range(1, line.idx)
    return None


def find_fences(lines: list[Line], skip: range | None) -> list[Fence]:
    fences: list[Fence] = []
    idx = skip.stop + 1 if skip else 0
    while idx < len(lines):
        match = _FENCE.match(lines[idx].text)
        if not match:
            idx += 1
            continue
        marker = match.group(2)
        close = len(lines)
        for j in range(idx + 1, len(lines)):
            stripped = lines[j].text.strip()
            if stripped.startswith(marker[0] * len(marker)) and not stripped.strip(marker[0]):
                close = j
                break
        fences.append(Fence(idx, min(close, len(lines) - 1), match.group(3).strip().lower()))
        idx = close + 1
    return fences


def find_headings(lines: list[Line], hidden: set[int]) -> list[Heading]:
    """Headings outside code fences / front matter (`hidden` line indexes)."""
    headings: list[Heading] = []
    for line in lines:
        if line.idx in hidden:
            continue
        text = line.text
        if "#" in text[:4] and (match := _ATX.match(text)):
            headings.append(
                Heading(line.idx, len(match.group(1)), (match.group(2) or "").strip(), line.idx)
            )
            continue
        nxt = lines[line.idx + 1] if line.idx + 1 < len(lines) else None
        if (
            nxt is not None
            and nxt.text[:4].lstrip(" ")[:1] in ("=", "-")  # cheap test before _SETEXT
            and nxt.idx not in hidden
            and not line.blank
            and "|" not in text
            and not _LIST_MARK.match(text)
            and (setext := _SETEXT.match(nxt.text))
            and (line.idx == 0 or lines[line.idx - 1].blank or setext.group(1)[0] == "=")
            and len(text.split("  ")) < 3  # "Action  Owner  Due" above dashes is a plain table
        ):
            headings.append(
                Heading(line.idx, 1 if setext.group(1)[0] == "=" else 2, text.strip(), nxt.idx)
            )
            continue
        if (
            text.rstrip().endswith((":", "**", "__"))  # cheap test before _PSEUDO
            and (match := _PSEUDO.match(text))
            and (line.idx == 0 or lines[line.idx - 1].blank or (nxt is not None and not nxt.blank))
        ):
            title = (match.group(1) or match.group(2) or "").strip()
            headings.append(Heading(line.idx, 7, title, line.idx))
    # A setext underline must not also count as something else.
    underlines = {h.end_idx for h in headings if h.end_idx > h.idx}
    if not underlines:
        return headings
    return [h for h in headings if not any(o.idx < h.idx <= o.end_idx for o in headings)]


def is_list_line(text: str) -> bool:
    return bool(_LIST_MARK.match(text))


_COMMENT_OPEN = re.compile(r"^ {0,3}<!--")
_LIST_CONTENT_INDENT = 2  # lines indented this far after a list item belong to it


def unread_lines(lines: list[Line], hidden: set[int]) -> set[int]:
    """Lines GitHub does not render as Markdown text, so nothing in them is read:
    HTML comment blocks (`<!--` at the start of a line, through the line with `-->`)
    and indented code blocks (4+ spaces after a blank line, outside a list)."""
    out: set[int] = set()
    count = len(lines)
    idx = 0
    while idx < count:
        text = lines[idx].text
        # (a cheap test first: this runs for every line of every document)
        if "<!--" in text[:8] and idx not in hidden and _COMMENT_OPEN.match(text):
            end = idx
            while (
                end < count
                and "-->" not in lines[end].text[(text.find("<!--") + 4 if end == idx else 0) :]
            ):
                end += 1
            out.update(range(idx, min(end, count - 1) + 1))
            idx = end + 1
            continue
        idx += 1
    code = False
    last_kind = "none"  # kind of the last non-blank line: none | list | text
    prev_blank = True  # (the line before the first one counts as blank)
    for line in lines:
        text = line.text
        blank = not text.strip()
        if line.idx in hidden or line.idx in out:
            code, last_kind = False, "none"
            prev_blank = blank
            continue
        if blank:
            prev_blank = True
            continue
        first = text[:1]
        if first == " " or first == "\t":
            indent = len(text[: len(text) - len(text.lstrip(" \t"))].expandtabs(4))
        else:
            indent = 0
        if indent >= 4 and (code or (prev_blank and last_kind != "list")):
            code = True
            out.add(line.idx)
            prev_blank = False
            continue
        code = False
        prev_blank = False
        if is_list_line(text) or (indent >= _LIST_CONTENT_INDENT and last_kind == "list"):
            last_kind = "list"
        else:
            last_kind = "text"
    return out
