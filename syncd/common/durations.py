"""Human durations for configuration: "30s", "5m", "1h30m", "2d", or a number of seconds.

Config files are written by people, so "5m" beats `PT5M`; the ISO 8601 form is still
accepted because that is what pydantic itself emits for a timedelta.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}
# Longest unit names first so "ms" is not read as "m" followed by garbage.
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_ISO = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?",
    re.IGNORECASE,
)


def parse_duration(value: str | float | timedelta) -> timedelta:
    """Parse "1h30m", "30s", "250ms", "2d", 90, "90" or "PT5M" into a timedelta.

    Negative durations are rejected: every duration in the config is a wait or a margin.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):  # bool is an int subclass; `true` is never a duration
        raise ValueError("expected a duration such as '30s', '5m' or '1h30m'")
    elif isinstance(value, int | float):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        result = _parse_text(value.strip())
    else:
        raise ValueError("expected a duration such as '30s', '5m' or '1h30m'")
    if result < timedelta(0):
        raise ValueError("a duration cannot be negative")
    return result


def _parse_text(text: str) -> timedelta:
    if _NUMBER.fullmatch(text):
        return timedelta(seconds=float(text))
    iso = _ISO.fullmatch(text)
    if iso and any(iso.groupdict().values()):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        return timedelta(
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    compact = text.replace(" ", "")
    pieces: list[tuple[str, str]] = _PART.findall(compact)
    # Re-joining what matched must give back the whole text, else there was junk
    # ("5 minutes", "1h30", "5x") that we would otherwise silently ignore.
    if not pieces or "".join(n + u for n, u in pieces).lower() != compact.lower():
        raise ValueError(f"invalid duration {text!r}: use e.g. '30s', '5m', '1h30m' or seconds")
    total = timedelta(0)
    for number, unit in pieces:
        total += float(number) * _UNITS[unit.lower()]
    return total


def format_duration(value: timedelta) -> str:
    """The shortest compact form that parses back to `value` ("1h30m", "45s", "0s")."""
    remaining = value
    out = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        count, remaining = divmod(remaining, size)
        if count:
            out.append(f"{count}{unit}")
    if remaining:
        # Below a second: whole milliseconds when exact, else fractional seconds.
        if remaining % _UNITS["ms"]:
            out.append(f"{remaining.total_seconds():.6f}".rstrip("0") + "s")
        else:
            out.append(f"{remaining // _UNITS['ms']}ms")
    return "".join(out) or "0s"
