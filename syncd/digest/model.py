"""What the digest says, as frozen dataclasses, and its JSON form (`syncd digest --format json`).

Rates are fractions (0.0–1.0) rounded to 4 places, or None when there is nothing to
divide by: "no incidents this week" is not "0% recurrence", and the email says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from syncd.digest.similarity import FactorMatch


def iso_week(day: date) -> str:
    """ "2026-W24": the ISO year and week of `day` (the ISO year differs near 1 January)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class Period:
    """Inclusive range of calendar days in the digest's time zone."""

    start: date
    end: date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class Incident:
    path: str
    title: str
    date: date
    severity: str | None
    status: str | None
    duration_minutes: int | None
    detection_minutes: int | None
    doc_url: str | None
    recurring: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "title": self.title,
            "date": self.date.isoformat(),
            "severity": self.severity,
            "status": self.status,
            "duration_minutes": self.duration_minutes,
            "detection_minutes": self.detection_minutes,
            "doc_url": self.doc_url,
            "recurring": self.recurring,
        }


@dataclass(frozen=True)
class ItemRow:
    """One open action item as the digest lists it (overdue or due soon)."""

    path: str
    line: int
    action: str
    owner: str | None
    team: str | None
    due: date
    days_overdue: int  # as_of - due: positive when overdue, 0 or negative when due soon
    priority: str | None
    status: str
    ticket: str | None
    ticket_url: str | None
    doc_url: str | None
    incident: str  # title of the postmortem the item comes from

    @property
    def days_left(self) -> int:
        return -self.days_overdue

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "action": self.action,
            "owner": self.owner,
            "team": self.team,
            "due": self.due.isoformat(),
            "days_overdue": self.days_overdue,
            "priority": self.priority,
            "status": self.status,
            "ticket": self.ticket,
            "ticket_url": self.ticket_url,
            "doc_url": self.doc_url,
            "incident": self.incident,
        }


@dataclass(frozen=True)
class OwnerGroup:
    owner: str | None
    team: str | None
    items: tuple[ItemRow, ...]

    @property
    def worst(self) -> int:
        return max(i.days_overdue for i in self.items)

    def as_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "team": self.team,
            "count": len(self.items),
            "max_days_overdue": self.worst,
        }


@dataclass(frozen=True)
class Completion:
    """On-time completion of one priority's items whose deadline fell in the window."""

    priority: str
    within_days: int
    target: float  # fraction, e.g. 0.9
    on_time: int
    late: int
    open: int  # deadline passed, not completed (as of the digest date)
    unknown_date: int  # done, but no evidence of when: not in the rate, shown apart

    @property
    def known(self) -> int:
        """The items the rate is measured over (completion day known, or still open)."""
        return self.on_time + self.late + self.open

    @property
    def total(self) -> int:
        return self.known + self.unknown_date

    @property
    def rate(self) -> float | None:
        return ratio(self.on_time, self.known)

    @property
    def met(self) -> bool | None:
        return None if self.rate is None else self.rate >= self.target

    def as_json(self) -> dict[str, Any]:
        return {
            "on_time": self.on_time,
            "late": self.late,
            "open": self.open,
            "total": self.total,
            "rate": self.rate,
            "target": self.target,
            "within_days": self.within_days,
            "met": self.met,
            "unknown_completion_date": self.unknown_date,
        }


@dataclass(frozen=True)
class EarlierItem:
    """An action item of the earlier incident, as it stood the day before the recurrence."""

    action: str
    owner: str | None
    due: date | None
    ticket: str | None
    status: str  # its status now
    done_before: bool  # closed before the later incident's date

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "owner": self.owner,
            "due": self.due.isoformat() if self.due else None,
            "ticket": self.ticket,
            "status": self.status,
            "done_before_recurrence": self.done_before,
        }


@dataclass(frozen=True)
class Link:
    """`incident` recurs on `earlier`: a contributing factor of each says the same."""

    incident: str
    incident_date: date
    earlier: str
    earlier_date: date
    factors: tuple[FactorMatch, ...]  # best first; never empty
    components: tuple[tuple[str, str, str], ...] = ()  # (name, our sentence, theirs)
    earlier_items: tuple[EarlierItem, ...] = ()

    @property
    def evidence(self) -> str:
        return f"{'; '.join(m.describe() for m in self.factors)}: also in {self.earlier}"

    @property
    def verdict(self) -> str:
        """Seed 004's question: were the earlier incident's action items done first?"""
        items = self.earlier_items
        if not items:
            return "the earlier incident had no action items"
        still_open = sum(not i.done_before for i in items)
        if still_open == 0:
            return f"all {len(items)} were done: the fix was not enough"
        return f"recurred while {still_open} of {len(items)} items were still open"

    def as_json(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "incident_date": self.incident_date.isoformat(),
            "earlier": self.earlier,
            "earlier_date": self.earlier_date.isoformat(),
            "evidence": self.evidence,
            "factors": [m.as_json() for m in self.factors],
            "components": [{"name": n, "sentence": a, "other": b} for n, a, b in self.components],
            "earlier_items": [i.as_json() for i in self.earlier_items],
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class WeekPoint:
    """One week of the trend: the 7 days ending on `period.end`, labelled by its ISO week.

    The rolling fields cover the 4 weeks ending with this one: a week with one incident
    would otherwise swing the recurrence rate between 0% and 100%.
    """

    period: Period
    incidents: int
    recurring: int
    overdue: int
    mttr_minutes: float | None
    mttd_minutes: float | None
    due_soon: int = 0  # open items due in the 7 days after period.end
    rolling_incidents: int = 0
    rolling_recurring: int = 0
    rolling_on_time: int = 0  # items whose deadline fell in the 4 weeks: done on time
    rolling_known: int = 0  # ... on time + late + still open (unknown dates left out)

    @property
    def week(self) -> str:
        return iso_week(self.period.end)

    @property
    def rate(self) -> float | None:
        return ratio(self.recurring, self.incidents)

    @property
    def rolling_rate(self) -> float | None:
        return ratio(self.rolling_recurring, self.rolling_incidents)

    @property
    def rolling_completion(self) -> float | None:
        return ratio(self.rolling_on_time, self.rolling_known)


@dataclass(frozen=True)
class Headline:
    """A headline number beside last week's value and its 12-week average."""

    name: str
    value: float | None
    last_week: float | None
    average: float | None  # mean over the series weeks that have a value
    kind: str = "count"  # "count" | "rate"

    @property
    def change(self) -> float | None:
        if self.value is None or self.last_week is None:
            return None
        return round(self.value - self.last_week, 4)

    def as_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "last_week": self.last_week,
            "change": self.change,
            "average_12_weeks": self.average,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class TeamRow:
    """Overdue and completion for one team (owner -> team from [digest.teams]) and priority."""

    team: str  # "(no team)" for owners in no team
    priority: str  # "(none)" for items without a priority
    overdue: int
    on_time: int
    late: int
    open: int
    unknown_date: int

    @property
    def rate(self) -> float | None:
        return ratio(self.on_time, self.on_time + self.late + self.open)

    def as_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "priority": self.priority,
            "overdue": self.overdue,
            "on_time": self.on_time,
            "late": self.late,
            "open": self.open,
            "unknown_completion_date": self.unknown_date,
            "rate": self.rate,
        }


@dataclass(frozen=True)
class PostmortemCompletion:
    """SEV1/SEV2 postmortems completed (out of Draft) within N business days."""

    severities: tuple[str, ...]
    within_business_days: int
    target: float
    on_time: int
    late: int
    open: int  # still Draft (or not committed) and past the deadline
    unknown_date: int  # completed, but no git history says when

    @property
    def rate(self) -> float | None:
        return ratio(self.on_time, self.on_time + self.late + self.open)

    @property
    def met(self) -> bool | None:
        return None if self.rate is None else self.rate >= self.target

    def as_json(self) -> dict[str, Any]:
        return {
            "severities": list(self.severities),
            "within_business_days": self.within_business_days,
            "target": self.target,
            "on_time": self.on_time,
            "late": self.late,
            "open": self.open,
            "unknown_completion_date": self.unknown_date,
            "rate": self.rate,
            "met": self.met,
        }


@dataclass(frozen=True)
class Theme:
    """A component or factor shared by at least three incidents in the lookback window."""

    kind: str  # "component" | "factor"
    name: str
    incidents: tuple[str, ...]  # paths, oldest first
    evidence: tuple[tuple[str, str], ...] = ()  # (path, the sentence naming it), oldest first

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "count": len(self.incidents),
            "incidents": list(self.incidents),
            "evidence": [{"incident": p, "sentence": s} for p, s in self.evidence],
        }


@dataclass(frozen=True)
class Recurrence:
    period: Period  # incidents whose recurrence the headline rate measures
    window_days: int  # how far back an earlier incident may be
    incidents: int
    recurring: int
    this_week_incidents: int
    this_week_recurring: int
    # Every link of this week's incidents, then the `EARLIER_LINKS` most recent of each
    # earlier incident of `period`; newest incident first (see metrics.compute).
    links: tuple[Link, ...]
    links_total: int  # links of all incidents in `period`, listed or not
    themes: tuple[Theme, ...]
    target: float = 0.15  # the rate should stay below this ([digest] recurrence_target)

    @property
    def rate(self) -> float | None:
        return ratio(self.recurring, self.incidents)

    @property
    def over_target(self) -> bool | None:
        """True when the rate is at or over its target; None with no incidents."""
        return None if self.rate is None else self.rate >= self.target

    @property
    def this_week_rate(self) -> float | None:
        return ratio(self.this_week_recurring, self.this_week_incidents)


@dataclass(frozen=True)
class Timing:
    """Mean time to recovery / detection over a period, from the docs that state them."""

    period: Period
    incidents: int
    with_duration: int
    mttr_minutes: float | None
    with_detection: int
    mttd_minutes: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.period.as_json(),
            "incidents": self.incidents,
            "with_duration": self.with_duration,
            "mttr_minutes": self.mttr_minutes,
            "with_detection": self.with_detection,
            "mttd_minutes": self.mttd_minutes,
        }


@dataclass(frozen=True)
class ItemRef:
    path: str
    line: int
    action: str
    owner: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "action": self.action, "owner": self.owner}


@dataclass(frozen=True)
class SyncProblem:
    path: str
    ticket: str | None
    message: str
    attempts: int = 0
    at: str | None = None  # ISO timestamp, for conflicts
    kind: str = "error"  # "error" | "conflict"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "ticket": self.ticket,
            "message": self.message,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass(frozen=True)
class DocRef:
    path: str
    title: str
    date: date | None
    age_days: int | None = None
    doc_url: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "title": self.title,
            "date": self.date.isoformat() if self.date else None,
            "age_days": self.age_days,
            "doc_url": self.doc_url,
        }


@dataclass(frozen=True)
class Hygiene:
    without_owner: tuple[ItemRef, ...]
    without_due: tuple[ItemRef, ...]
    without_priority: tuple[ItemRef, ...]
    owners_configured: bool
    unmapped_owners: tuple[str, ...]
    teams_configured: bool
    owners_without_team: tuple[str, ...]
    conflicts: tuple[SyncProblem, ...]  # recorded during this week's period
    conflicts_total: int
    sync_errors: tuple[SyncProblem, ...]
    drafts: tuple[DocRef, ...]
    undated: tuple[DocRef, ...]

    @property
    def count(self) -> int:
        """Headline number: distinct things someone should fix."""
        return (
            len(self.without_owner)
            + len(self.without_due)
            + len(self.without_priority)
            + len(self.unmapped_owners)
            + len(self.conflicts)
            + len(self.sync_errors)
            + len(self.drafts)
            + len(self.undated)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "items_without_owner": [i.as_json() for i in self.without_owner],
            "items_without_due": [i.as_json() for i in self.without_due],
            "items_without_priority": [i.as_json() for i in self.without_priority],
            "owners_configured": self.owners_configured,
            "unmapped_owners": list(self.unmapped_owners),
            "teams_configured": self.teams_configured,
            "owners_without_team": list(self.owners_without_team),
            "conflicts": [c.as_json() for c in self.conflicts],
            "conflicts_total": self.conflicts_total,
            "sync_errors": [e.as_json() for e in self.sync_errors],
            "drafts": [d.as_json() for d in self.drafts],
            "undated": [d.as_json() for d in self.undated],
        }


@dataclass(frozen=True)
class Digest:
    as_of: date
    timezone: str
    period: Period  # "this week": the 7 days ending on as_of
    incidents: tuple[Incident, ...]
    overdue: tuple[ItemRow, ...]  # most overdue first
    by_owner: tuple[OwnerGroup, ...]  # overdue items grouped, worst owner first
    due_soon: tuple[ItemRow, ...]  # soonest first
    completion: tuple[Completion, ...]
    completion_window: Period  # deadlines that fell in here are counted
    recurrence: Recurrence
    weeks: tuple[WeekPoint, ...]  # oldest first; the last one is this week
    timing: Timing
    previous_timing: Timing
    hygiene: Hygiene
    headlines: tuple[Headline, ...] = ()
    by_team: tuple[TeamRow, ...] = ()
    postmortems: PostmortemCompletion | None = None
    # With [digest.reminders] on: owners of overdue/due-soon items with no email address.
    owners_without_email: tuple[str, ...] = ()

    @property
    def week(self) -> str:
        return iso_week(self.as_of)

    def as_json(self) -> dict[str, Any]:
        rec = self.recurrence
        return {
            "week": self.week,
            "as_of": self.as_of.isoformat(),
            "timezone": self.timezone,
            "period": self.period.as_json(),
            "incidents": [i.as_json() for i in self.incidents],
            "overdue": [i.as_json() for i in self.overdue],
            "overdue_by_owner": [g.as_json() for g in self.by_owner],
            "due_soon": [i.as_json() for i in self.due_soon],
            "completion": {c.priority: c.as_json() for c in self.completion},
            "completion_window": {
                **self.completion_window.as_json(),
                "days": self.completion_window.days,
            },
            "recurrence": {
                "rate": rec.rate,
                "target": rec.target,
                "over_target": rec.over_target,
                "incidents": rec.incidents,
                "recurring": rec.recurring,
                "window_days": rec.window_days,
                "period": rec.period.as_json(),
                "this_week": {
                    "incidents": rec.this_week_incidents,
                    "recurring": rec.this_week_recurring,
                    "rate": rec.this_week_rate,
                },
                "series": [
                    {
                        "week": w.week,
                        **w.period.as_json(),
                        "incidents": w.incidents,
                        "recurring": w.recurring,
                        "rate": w.rate,
                        "rolling_4_weeks": {
                            "incidents": w.rolling_incidents,
                            "recurring": w.rolling_recurring,
                            "rate": w.rolling_rate,
                        },
                    }
                    for w in self.weeks
                ],
                "links": [link.as_json() for link in rec.links],
                "links_total": rec.links_total,
                "themes": [t.as_json() for t in rec.themes],
            },
            "overdue_series": [
                {"week": w.week, "end": w.period.end.isoformat(), "overdue": w.overdue}
                for w in self.weeks
            ],
            "timing": {
                "current": self.timing.as_json(),
                "previous": self.previous_timing.as_json(),
                "series": [
                    {
                        "week": w.week,
                        "mttr_minutes": w.mttr_minutes,
                        "mttd_minutes": w.mttd_minutes,
                    }
                    for w in self.weeks
                ],
            },
            "hygiene": self.hygiene.as_json(),
            "headlines": {h.name: h.as_json() for h in self.headlines},
            "completion_series": [
                {
                    "week": w.week,
                    "rolling_4_weeks": {
                        "on_time": w.rolling_on_time,
                        "known": w.rolling_known,
                        "rate": w.rolling_completion,
                    },
                }
                for w in self.weeks
            ],
            "by_team": [row.as_json() for row in self.by_team],
            "postmortem_completion": self.postmortems.as_json() if self.postmortems else None,
            "owners_without_email": list(self.owners_without_email),
        }
