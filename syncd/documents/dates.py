"""Due dates as people write them: ISO, `Oct 15`, `May 30th, 2019`, `01/30/2020`, `Q3 2026`,
`15 Oct 26`, `Mar 1 '28`, and superseded ones (`~~2026-09-15~~ 2026-10-30`, `A → B`).

A date without a year (a day or a quarter) means the first such date on or after the
incident date. A numeric day/month date is read in the configured order (`[docs]
date_order`, "mdy" by default); when both numbers could be the month it is reported
as a problem naming the order assumed, so a wrong reading is never silent.
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


_ISO = re.compile(r"\b(\d{4})([-/.])(\d{1,2})\2(\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})\b")
# `release 2026.10.1`, `v2026.10.1`, `2026.10.1.4`: versions, not dates
_VERSION = re.compile(
    r"(?:\b(?:v|ver|version|release|rel|build|tag|tagged)\s*[-:]?\s*|\d\.|v)$", re.IGNORECASE
)
_STRUCK = re.compile(r"~~.*?~~|<(del|s|strike)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_SUPERSEDED = re.compile(r"\s*(?:→|->|=>|⇒|➔|⟶|\bmoved to\b|\bpushed to\b|\bnow\b)\s*", re.I)
DATE_ORDERS = ("mdy", "dmy")


_QUARTER = re.compile(r"\b(?:end\s+of\s+)?Q([1-4])\s*(?:FY)?\s*'?(\d{2}|\d{4})?\b", re.IGNORECASE)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# years: `2026`, or two digits after an apostrophe (`'26`) or after the month name in
# day-month order (`15 Oct 26`) or a comma (`Oct 15, 26`)
_MONTH_DAY = re.compile(
    rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:(?:,?\s+|,?\s*)(\d{{4}}|'\d{{2}})|,\s*(\d{{2}}))?(?![\d:])"
    rf"|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})(?:,?\s+(\d{{4}}|'?\d{{2}}))?(?![\d:])",
    re.IGNORECASE,
)
# A completion date: "completed: 2026-03-02", "done on Mar 2", "closed 2026-03-05",
# "**Resolved at:** 3/4/2026". It says when the work finished, so it is never read as the
# due date (the digest reads it as the completion date: syncd/digest/completed_field.py).
_DAY = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s*(?:\d{{4}}|'\d{{2}}))?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?:\d{{4}}|'\d{{2}}))?)(?![\d/.-]*\d)"
)
COMPLETED_ON = re.compile(
    r"(?:\*\*|__)?\b(done|completed?|closed|resolved|finished|fixed|shipped|merged|landed)"
    r"(?:[ _](?:on|at|in|date))?(?:\*\*|__)?\s*[:=]?\s*(?:\*\*|__)?\s*"
    rf"{_DAY}(?:\*\*|__)?",
    re.IGNORECASE,
)


def without_completion(text: str) -> str:
    """`text` with its completion dates taken out (`2026-03-10, completed 2026-03-02` →
    `2026-03-10`): what is left is all that can say when the item is due."""
    kept, found = COMPLETED_ON.subn(" ", text)
    return kept.strip(" ,;/|()[]-—–") if found else text


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


_PLAIN_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_date(raw: str | None, ref: date | None = None, order: str = "mdy") -> DateResult:
    """Read a due/incident date; a numeric day/month date in `order` ("mdy"/"dmy", the
    `[docs] date_order` of the configuration). Never raises; unreadable text yields a
    problem."""
    if raw is not None and len(raw) == 10 and (iso := _PLAIN_ISO.fullmatch(raw)):
        # most dates are written `2026-03-10` and nothing else: read as `_parse_date`
        # would (no markup, no superseded part, no version, year given, order moot)
        value = _safe(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        return DateResult(value, None if value else f"invalid date {raw!r}")
    return _parse_date(raw, ref, order)


def _latest(raw: str) -> str:
    """What is left of a superseded date: struck-out text dropped, the last of `A → B`."""
    text = _STRUCK.sub(" ", raw)
    parts = [p for p in _SUPERSEDED.split(text) if p.strip()]
    return parts[-1] if parts else text


def _is_version(text: str, match: re.Match[str]) -> bool:
    """`release 2026.10.1`, `v2026.10.1`, `2026.10.1.4` are versions, not dates."""
    if match.group(2) != ".":
        return False
    before, after = text[: match.start()], text[match.end() : match.end() + 2]
    return bool(_VERSION.search(before)) or (after[:1] == "." and after[1:2].isdigit())


def _year(text: str) -> int:
    year = int(text.lstrip("'"))
    return year + 2000 if year < 100 else year


@functools.lru_cache(maxsize=8192)
def _parse_date(raw: str | None, ref: date | None, order: str) -> DateResult:
    if raw is None or is_placeholder(raw):
        return DateResult(None)
    text = _NOISE.sub("", strip_markup(_latest(raw))).strip().strip("()")
    if not text or is_placeholder(text) or text.lower() in _NOT_DATES:
        return DateResult(None, None if is_placeholder(text) else f"not a date: {raw.strip()!r}")
    iso = next((m for m in _ISO.finditer(text) if not _is_version(text, m)), None)
    if iso is not None:
        value = _safe(int(iso.group(1)), int(iso.group(3)), int(iso.group(4)))
        return DateResult(value, None if value else f"invalid date {iso.group(0)!r}")
    if _ISO.search(text):
        return DateResult(None, f"not a date (a version number?): {raw.strip()!r}")
    if match := _NUMERIC.search(text):
        return _numeric(match, order)
    if match := _MONTH_DAY.search(text):
        month_name = match.group(1) or match.group(6)
        day = int(match.group(2) or match.group(5))
        year_text = match.group(3) or match.group(4) or match.group(7)
        month = _month_number(month_name)
        if year_text:
            value = _safe(_year(year_text), month, day)
            return DateResult(value, None if value else f"invalid date {match.group(0)!r}")
        return _yearless(month, day, ref)
    if match := _QUARTER.search(text):
        return _quarter(int(match.group(1)), match.group(2), ref)
    return _fallback(text, raw)


def _numeric(match: re.Match[str], order: str) -> DateResult:
    """`03/04/2026`, `12.03.2027`: in `order`, unless one number cannot be a month."""
    first, second, year = int(match.group(1)), int(match.group(3)), _year(match.group(4))
    if first > 12:
        month, day = second, first
    elif second > 12:
        month, day = first, second
    else:
        month, day = (first, second) if order == "mdy" else (second, first)
    value = _safe(year, month, day)
    if value is None:
        return DateResult(None, f"invalid date {match.group(0)!r}")
    if first <= 12 and second <= 12 and first != second:
        spelled = "month/day" if order == "mdy" else "day/month"
        return DateResult(
            value,
            f"ambiguous date {match.group(0)!r} read as {spelled} ({value.isoformat()}, "
            f'date_order = "{order}"); write it as {value.isoformat()} to be sure',
        )
    return DateResult(value)


def _quarter(quarter: int, year_text: str | None, ref: date | None) -> DateResult:
    end_month = quarter * 3

    def end_of(year: int) -> date:
        return date(year, end_month, calendar.monthrange(year, end_month)[1])

    if year_text:
        return DateResult(end_of(_year(year_text)))
    if ref is None:
        return DateResult(None, "quarter has no year and the incident date is unknown")
    # like a year-less day: the first such quarter ending on or after the incident
    value = end_of(ref.year)
    return DateResult(value if value >= ref else end_of(ref.year + 1))


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
