"""A minimal 5-field cron matcher for the digest schedule (no dependency needed).

`minute hour day-of-month month day-of-week`, each field `*`, `n`, `a-b`, lists
(`1,15`) and steps (`*/15`, `0-30/10`, `5/20`); months `JAN`…`DEC` and weekdays
`SUN`…`SAT` by name; weekday 0 and 7 are both Sunday. As in Vixie cron, when both
day fields are restricted a day matches if *either* does ("the 1st, or any Monday").

Matching is on local wall time: the caller converts to the schedule's time zone, so
"0 9 * * MON" means 09:00 in `[digest] timezone` across DST changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
# A 5-field expression repeats within 28 years (the Gregorian weekday/leap cycle); a
# search that long finds any date that exists at all (Feb 29 on a given weekday).
_SEARCH_DAYS = 366 * 28


class CronError(ValueError):
    pass


def _parse_field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"empty list element in {text!r}")
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step in {part!r}")
            step = int(step_text)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = _value(a, low, high, names), _value(b, low, high, names)
            if start > end:
                raise CronError(f"range {body!r} runs backwards")
        else:
            start = _value(body, low, high, names)
            end = high if step_text else start  # "5/20": from 5 to the maximum, every 20
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"{text!r} is not a number or name")
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{number} is outside {low}-{high}")
    return number


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        fields = expression.split()
        if len(fields) != 5:
            raise CronError(f"{expression!r}: a cron expression has 5 fields")
        minute, hour, dom, month, dow = fields
        weekdays = _parse_field(dow, 0, 7, _DAYS)
        return cls(
            minutes=_parse_field(minute, 0, 59, {}),
            hours=_parse_field(hour, 0, 23, {}),
            days=_parse_field(dom, 1, 31, {}),
            months=_parse_field(month, 1, 12, _MONTHS),
            weekdays=frozenset(d % 7 for d in weekdays),
            days_restricted=not dom.startswith("*"),
            weekdays_restricted=not dow.startswith("*"),
        )

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return dom or dow
        return dom and dow

    def matches(self, moment: datetime) -> bool:
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and self.matches_day(moment.date())
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after `moment` (naive local wall time;
        tzinfo, if any, is kept as is). Day by day, so a yearly rule costs ~365 steps."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            if self.matches_day(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = start.replace(
                            year=day.year, month=day.month, day=day.day, hour=hour, minute=minute
                        )
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise CronError("the expression never matches a real date")
