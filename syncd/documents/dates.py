"""Due dates as people write them: ISO, `Oct 15`, `May 30th, 2019`, `01/30/2020`, `Q3 2026`.

A date without a year means the first such date on or after the incident date.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime

from dateutil import parser as dateutil_parser

from syncd.documents.vocab import is_placeholder, strip_markup


@dataclass(frozen=True)
class DateResult:
    value: date | None
    problem: str | None = None  # set when the text looked like a date but could not be read


_ISO = re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")
_US = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})\b")
_QUARTER = re.compile(r"\b(?:end\s+of\s+)?Q([1-4])\s*(?:FY)?\s*'?(\d{2}|\d{4})?\b", re.IGNORECASE)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b"
    rf"|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})(?:,?\s+(\d{{4}}))?\b",
    re.IGNORECASE,
)
_NOISE = re.compile(r"^(?:due|by|before|on|target|eta|deadline)[:\s]+", re.IGNORECASE)
_NOT_DATES = {
    "asap",
    "ongoing",
    "done",
    "complete",
    "completed",
    "n/a",
    "na",
    "none",
    "never",
    "next sprint",
    "this sprint",
    "this week",
    "next week",
    "continuous",
    "recurring",
}


def _safe(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _yearless(month: int, day: int, ref: date | None) -> DateResult:
    if ref is None:
        return DateResult(None, "date has no year and the incident date is unknown")
    for year in (ref.year, ref.year + 1):
        candidate = _safe(year, month, day)
        if candidate and candidate >= ref:
            return DateResult(candidate)
    return DateResult(None, f"invalid date {month}/{day}")


@functools.lru_cache(maxsize=8192)
def parse_date(raw: str | None, ref: date | None = None) -> DateResult:
    """Read a due/incident date. Never raises; unreadable text yields a problem."""
    if raw is None or is_placeholder(raw):
        return DateResult(None)
    text = _NOISE.sub("", strip_markup(raw)).strip().strip("()")
    if not text or is_placeholder(text) or text.lower() in _NOT_DATES:
        return DateResult(None, None if is_placeholder(text) else f"not a date: {raw.strip()!r}")
    if match := _ISO.search(text):
        value = _safe(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        return DateResult(value, None if value else f"invalid date {match.group(0)!r}")
    if match := _US.search(text):
        first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        year += 2000 if year < 100 else 0
        # US order unless the first number cannot be a month (then it is day/month).
        month, day = (first, second) if first <= 12 else (second, first)
        value = _safe(year, month, day)
        return DateResult(value, None if value else f"invalid date {match.group(0)!r}")
    if match := _MONTH_DAY.search(text):
        month_name = match.group(1) or match.group(5)
        day = int(match.group(2) or match.group(4))
        year_text = match.group(3) or match.group(6)
        month = _month_number(month_name)
        if year_text:
            value = _safe(int(year_text), month, day)
            return DateResult(value, None if value else f"invalid date {match.group(0)!r}")
        return _yearless(month, day, ref)
    if match := _QUARTER.search(text):
        quarter = int(match.group(1))
        year = int(match.group(2)) if match.group(2) else (ref.year if ref else None)
        if year is None:
            return DateResult(None, "quarter has no year and the incident date is unknown")
        year += 2000 if year < 100 else 0
        end_month = quarter * 3
        return DateResult(date(year, end_month, calendar.monthrange(year, end_month)[1]))
    return _fallback(text, raw)


def _fallback(text: str, raw: str) -> DateResult:
    """Anything dateutil reads unambiguously, with a year and a day given."""
    try:
        one = dateutil_parser.parse(text, default=datetime(1, 1, 1))
        two = dateutil_parser.parse(text, default=datetime(2, 2, 2))
    except (ValueError, OverflowError):
        return DateResult(None, f"could not read date {raw.strip()!r}")
    if one.year != two.year or one.day != two.day:
        return DateResult(None, f"incomplete date {raw.strip()!r}")
    return DateResult(one.date())


@functools.lru_cache(maxsize=256)  # calendar.month_abbr formats all 12 names per use
def _month_number(name: str) -> int:
    key = name.lower().rstrip(".")[:3]
    return list(calendar.month_abbr).index(key.capitalize())
