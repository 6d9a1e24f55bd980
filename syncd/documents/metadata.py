"""Postmortem metadata: title, date, severity, status, duration, tags…

Read from front matter, `**Key:** value` lines (several per line allowed, separated by
`|`), `Key: value` lines, one heading per field (`## Date`), and key/value tables.
The first value found wins, in that order of trust.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from syncd.documents.markdown import Line
from syncd.documents.vocab import is_placeholder, strip_markup

KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title", "incident", "incident title", "name"),
    "date": (
        "date",
        "incident date",
        "date of incident",
        "incident_date",
        "occurred",
        "occurred at",
        "occurred on",
        "started",
        "start date",
        "incident start",
        "when",
    ),
    "severity": (
        "severity",
        "sev",
        "severity level",
        "incident severity",
        "impact level",
        "level",
        "incident level",
    ),
    "status": ("status", "postmortem status", "document status", "review status", "doc status"),
    "duration": (
        "duration",
        "outage duration",
        "total duration",
        "incident duration",
        "length",
        "time to resolve",
        "ttr",
        "time to recovery",
        "time to resolution",
        "mttr",
    ),
    "detection": (
        "ttd",
        "time to detection",
        "time to detect",
        "detection time",
        "mttd",
        "time to detection (ttd)",
    ),
    "impact": ("impact", "customer impact", "user impact", "users affected", "business impact"),
    "tags": (
        "tags",
        "services",
        "service",
        "components",
        "component",
        "affected services",
        "systems",
        "affected systems",
        "affected components",
        "labels",
    ),
    "tracker": ("tracker", "syncd_tracker"),
    "project": ("project", "jira_project", "jira project"),
    "owner": ("owner", "authors", "author", "incident commander", "ic"),
    "factor": (
        "root cause",
        "root causes",
        "trigger",
        "contributing factor",
        "contributing factors",
        "cause",
        "causes",
    ),
}
_LOOKUP = {alias: key for key, aliases in KEYS.items() for alias in aliases}

_BOLD_KV = re.compile(
    r"(?:\*\*|__)([^*_:|]{1,40}?)(?::\s*(?:\*\*|__)|(?:\*\*|__)\s*:)\s*([^|]*?)\s*(?=\||(?:\*\*|__)[^*_]{1,40}?:|$)"
)
_PLAIN_KV = re.compile(r"^\s*(?:[-*+]\s+)?([A-Za-z][A-Za-z ()_/]{1,40}?)\s*:\s+(.+?)\s*$")


_SPACES = re.compile(r"\s+")
_PAREN_TAIL = re.compile(r"\s*\(.*\)$")


@functools.lru_cache(maxsize=4096)
def key_for(name: str) -> str | None:
    norm = _SPACES.sub(" ", strip_markup(name).lower().strip().rstrip(":"))
    return _LOOKUP.get(norm) or _LOOKUP.get(_PAREN_TAIL.sub("", norm))


def kv_pairs(line: Line) -> Iterable[tuple[str, str]]:
    """`**Status:** Reviewed | **Severity:** SEV-2` → pairs; or a plain `Key: value` line."""
    found = False
    text = line.text
    if "**" in text or "__" in text:  # _BOLD_KV starts with one of them
        for match in _BOLD_KV.finditer(text):
            found = True
            yield match.group(1).strip(), match.group(2).strip()
    if not found and (plain := _PLAIN_KV.match(line.text)) and key_for(plain.group(1)):
        yield plain.group(1).strip(), plain.group(2).strip()


def front_matter_pairs(data: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(data, dict):
        yield from ((str(k), v) for k, v in data.items())


_STAMP = re.compile(r"\b(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})(?::\d{2})?\b")
_CLOCK = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")


def duration_minutes(text: str | None) -> int | None:
    """How people write durations, in minutes; None when there is none to read.

    "140" (bare minutes) -> 140; "1h 20m", "80 min", "4 hours" -> 80, 80, 240;
    "01:20" (h:mm) -> 80; "14:22 – 14:42 UTC (20 minutes)" -> 20 (the stated total wins);
    "14:22 – 15:02" -> 40; "2026-03-04 23:10 – 2026-03-05 01:00" -> 110 (across midnight).
    """
    if not text or is_placeholder(text):
        return None
    text = strip_markup(str(text)).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return round(float(text))
    total, found = 0.0, False
    for amount, unit in re.findall(
        r"(\d+(?:\.\d+)?)\s*(d|days?|h|hrs?|hours?|m|mins?|minutes?|s|secs?|seconds?)\b", text, re.I
    ):
        found = True
        unit = unit.lower()
        factor = (
            1440
            if unit.startswith("d")
            else 60
            if unit.startswith("h")
            else (1 / 60 if unit.startswith("s") else 1)
        )
        total += float(amount) * factor
    if found:
        return round(total)
    stamps = _STAMP.findall(text)
    if len(stamps) >= 2:
        start, end = (
            datetime.fromisoformat(f"{d}T{int(h):02d}:{m}") for d, h, m in (stamps[0], stamps[1])
        )
        if end >= start:
            return round((end - start).total_seconds() / 60)
        return None
    times = _CLOCK.findall(text)
    if len(times) >= 2:
        start_min = int(times[0][0]) * 60 + int(times[0][1])
        end_min = int(times[1][0]) * 60 + int(times[1][1])
        return (end_min - start_min) % 1440
    if len(times) == 1 and re.fullmatch(r"\d{1,2}:\d{2}", text):
        return int(times[0][0]) * 60 + int(times[0][1])  # "01:20": an h:mm duration
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def split_tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else re.split(r"[,;]", str(value))
    tags = []
    for item in items:
        tag = strip_markup(str(item)).strip().strip("`#").lower()
        if tag and not is_placeholder(tag):
            tags.append(tag)
    return tuple(dict.fromkeys(tags))
