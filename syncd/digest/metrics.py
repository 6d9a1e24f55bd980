"""Every number in the digest, computed from parsed postmortems and the state store.

`compute` is a plain function of its inputs and `as_of`: no clock, no tracker calls, so
a test (or a re-run after a failed send) gets exactly the same digest. All days are
calendar days in the digest's configured time zone. README.md beside this file defines
each number; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from statistics import fmean
from urllib.parse import quote

from syncd.config import Settings
from syncd.digest import recurrence
from syncd.digest.model import (
    Completion,
    Digest,
    DocRef,
    EarlierItem,
    Hygiene,
    Incident,
    ItemRef,
    ItemRow,
    Link,
    OwnerGroup,
    Period,
    Recurrence,
    SyncProblem,
    Timing,
    WeekPoint,
)
from syncd.digest.tracked import TrackedItem, track_all
from syncd.model import Postmortem, Status
from syncd.sync.state import Conflict, ItemRecord

WEEK_DAYS = 7
SERIES_WEEKS = 12
DUE_SOON_DAYS = 7
COMPLETION_WINDOW_DAYS = 90
EARLIER_LINKS = 3  # links listed per incident of the rate period before this week

DocUrl = Callable[[str], str | None]


def doc_url_for(settings: Settings) -> DocUrl:
    """`[digest] doc_url`, else `[docs] doc_url`, with the relative path URL-quoted."""
    template = settings.digest.doc_url or settings.docs.doc_url

    def url(rel: str) -> str | None:
        return template.format(path=quote(rel.lstrip("/"), safe="/")) if template else None

    return url


def week_ending(day: date) -> Period:
    return Period(day - timedelta(days=WEEK_DAYS - 1), day)


def owner_key(owner: str) -> str:
    # The same normalisation as Settings.owner_identity: "@Bob", "bob" and " bob " agree.
    return owner.strip().lstrip("@").lower()


def team_of(owner: str | None, teams: dict[str, list[str]]) -> str | None:
    if owner is None:
        return None
    wanted = owner_key(owner)
    return next(
        (team for team, members in teams.items() if any(owner_key(m) == wanted for m in members)),
        None,
    )


def compute(
    docs: Sequence[tuple[str, Postmortem]],
    records: Iterable[ItemRecord],
    conflicts: Iterable[Conflict],
    settings: Settings,
    as_of: date,
    *,
    completion_window_days: int = COMPLETION_WINDOW_DAYS,
    series_weeks: int = SERIES_WEEKS,
) -> Digest:
    """The digest for the week ending on `as_of`.

    `docs` are (path relative to the docs root, parsed doc) pairs — the same relative
    paths the state store records items under.
    """
    records = list(records)
    tz = settings.digest.tz
    doc_url = doc_url_for(settings)
    teams = settings.digest.teams
    period = week_ending(as_of)
    # A doc dated after as_of does not exist yet for a digest of the past (re-runs with
    # --as-of must give what that week's digest would have said).
    known = [(p, d) for p, d in docs if d.date is None or d.date <= as_of]
    tracked = track_all(known, records, tz)
    dated = recurrence.dated_incidents(known, as_of)
    window = settings.digest.lookback_days
    series_start = as_of - timedelta(days=WEEK_DAYS * series_weeks - 1)
    rate_period = Period(series_start, as_of)
    # The recurring flag only for the incidents the digest reports: those of the rate
    # period, which holds every week of the series, and of this week.
    index = recurrence.Recurrences(dated, window)
    recurring = {
        i.path for i in dated if (i.day in rate_period or i.day in period) and index.recurs(i)
    }

    incidents = tuple(
        Incident(
            path=i.path,
            title=i.doc.title or i.path,
            date=i.day,
            severity=i.doc.severity,
            status=i.doc.status,
            duration_minutes=i.doc.duration_minutes,
            detection_minutes=i.doc.detection_minutes,
            doc_url=doc_url(i.path),
            recurring=i.path in recurring,
        )
        for i in sorted(dated, key=lambda d: (d.day, d.path), reverse=True)
        if i.day in period
    )

    overdue = tuple(
        sorted(
            (_row(t, as_of, teams, doc_url) for t in tracked if t.overdue_on(as_of)),
            key=lambda r: (-r.days_overdue, r.path, r.line),
        )
    )
    soon_end = as_of + timedelta(days=DUE_SOON_DAYS)
    due_soon = tuple(
        sorted(
            (
                _row(t, as_of, teams, doc_url)
                for t in tracked
                if t.due is not None and as_of <= t.due <= soon_end and t.open_on(as_of)
            ),
            key=lambda r: (r.due, r.path, r.line),
        )
    )

    spans = _overdue_spans(tracked)
    weeks = tuple(
        _week_point(week_ending(as_of - timedelta(days=WEEK_DAYS * n)), dated, recurring, spans)
        for n in reversed(range(series_weeks))
    )
    previous = Period(
        series_start - timedelta(days=WEEK_DAYS * series_weeks), series_start - timedelta(days=1)
    )
    lookback = Period(as_of - timedelta(days=window), as_of)

    in_rate = [i for i in dated if i.day in rate_period]
    in_week = [i for i in dated if i.day in period]
    # Every link of this week's incidents; the most recent few of the earlier weeks'
    # (an incident can have hundreds: one per earlier incident sharing a busy service).
    items_of: dict[str, list[TrackedItem]] = {}
    for t in tracked:
        items_of.setdefault(t.path, []).append(t)
    rate_links = tuple(
        _with_items(link, items_of.get(link.earlier, ()))
        for i in reversed(in_rate)
        for link in index.links(i, None if i.day in period else EARLIER_LINKS)
    )
    rec = Recurrence(
        period=rate_period,
        window_days=window,
        incidents=len(in_rate),
        recurring=sum(i.path in recurring for i in in_rate),
        this_week_incidents=len(in_week),
        this_week_recurring=sum(i.path in recurring for i in in_week),
        links=rate_links,
        links_total=sum(index.count(i) for i in in_rate),
        themes=recurrence.themes(dated, lookback, index),
        target=round(settings.digest.recurrence_target / 100, 4),
    )
    completion_window = Period(as_of - timedelta(days=completion_window_days - 1), as_of)
    return Digest(
        as_of=as_of,
        timezone=settings.digest.timezone,
        period=period,
        incidents=incidents,
        overdue=overdue,
        by_owner=_group(overdue),
        due_soon=due_soon,
        completion=_completion(tracked, settings, completion_window),
        completion_window=completion_window,
        recurrence=rec,
        weeks=weeks,
        timing=_timing(dated, rate_period),
        previous_timing=_timing(dated, previous),
        hygiene=_hygiene(known, tracked, records, conflicts, settings, as_of, doc_url),
    )


# --------------------------------------------------------------------------- recurrence


def _with_items(link: Link, items: Sequence[TrackedItem]) -> Link:
    """`link` with the earlier incident's action items, each marked done or not by the
    end of the day before the recurrence (a closed item with no known completion day
    counts as done then: see `TrackedItem.open_on`)."""
    before = link.incident_date - timedelta(days=1)
    return replace(
        link,
        earlier_items=tuple(
            EarlierItem(
                t.item.action, t.owner, t.due, t.ticket, t.status.value, not t.open_on(before)
            )
            for t in sorted(items, key=lambda t: t.item.line)
            if t.status is not Status.WONT_DO
        ),
    )


# --------------------------------------------------------------------------- items


def _row(t: TrackedItem, as_of: date, teams: dict[str, list[str]], doc_url: DocUrl) -> ItemRow:
    assert t.due is not None  # callers select items with a due date
    return ItemRow(
        path=t.path,
        line=t.item.line,
        action=t.item.action,
        owner=t.owner,
        team=team_of(t.owner, teams),
        due=t.due,
        days_overdue=(as_of - t.due).days,
        priority=t.priority,
        status=t.status.value,
        ticket=t.ticket,
        ticket_url=t.ticket_url,
        doc_url=doc_url(t.path),
        incident=t.doc.title or t.path,
    )


def _group(rows: Sequence[ItemRow]) -> tuple[OwnerGroup, ...]:
    groups: dict[str | None, list[ItemRow]] = {}
    for row in rows:
        key = owner_key(row.owner) if row.owner else None
        groups.setdefault(key, []).append(row)
    out = [OwnerGroup(items[0].owner, items[0].team, tuple(items)) for items in groups.values()]
    # Worst first: the owner with the oldest overdue item leads the email.
    return tuple(sorted(out, key=lambda g: (-g.worst, -len(g.items), (g.owner or "~").lower())))


# --------------------------------------------------------------------------- completion


def _completion(
    tracked: Sequence[TrackedItem], settings: Settings, window: Period
) -> tuple[Completion, ...]:
    """On-time completion per priority for items whose deadline fell inside `window`.

    deadline = incident date + the priority's `within_days`; on time = completed on or
    before the deadline. Items still open past it count against the rate; "won't do"
    items are left out (nothing was completed, nor is anything still owed).
    """
    out = []
    for priority, target in settings.digest.targets.items():
        on_time = late = still_open = unknown = 0
        for t in tracked:
            if (t.priority or "").upper() != priority.upper() or t.doc.date is None:
                continue
            deadline = t.doc.date + timedelta(days=target.within_days)
            if deadline not in window or t.status is Status.WONT_DO:
                continue
            if t.open_on(window.end):
                still_open += 1
            elif t.closed_on is None:
                # Closed, but nobody recorded when (no ticket, or the doc changed after the
                # last sync): counted by status only, which may flatter the rate.
                on_time += 1
                unknown += 1
            elif t.closed_on <= deadline:
                on_time += 1
            else:
                late += 1
        out.append(
            Completion(
                priority=priority,
                within_days=target.within_days,
                target=round(target.percent / 100, 4),
                on_time=on_time,
                late=late,
                open=still_open,
                unknown_date=unknown,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- trend


def _mean(values: Iterable[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(fmean(known), 1) if known else None


# (due, exists_on, closed_on): TrackedItem.overdue_on(day) for every day, unpacked once.
_Span = tuple[date, date | None, date | None]


def _overdue_spans(tracked: Iterable[TrackedItem]) -> list[_Span]:
    """The items that can be overdue on some day, as plain tuples for `_overdue_on`.

    Items without a due date never are, nor are closed items without a completion day
    (closed throughout, see `TrackedItem.open_on`); an open item's "closed on" is None.
    """
    out = []
    for t in tracked:
        if t.due is None:
            continue
        if not t.status.is_closed:
            out.append((t.due, t.exists_on, None))
        elif t.closed_on is not None:
            out.append((t.due, t.exists_on, t.closed_on))
    return out


def _overdue_on(spans: Iterable[_Span], day: date) -> int:
    """How many items `TrackedItem.overdue_on(day)`, counted from `_overdue_spans`."""
    return sum(
        1
        for due, exists, closed in spans
        if due < day and (exists is None or exists <= day) and (closed is None or closed > day)
    )


def _week_point(
    period: Period,
    dated: Sequence[recurrence.Dated],
    recurring: set[str],
    spans: Sequence[_Span],
) -> WeekPoint:
    inside = [i for i in dated if i.day in period]
    return WeekPoint(
        period=period,
        incidents=len(inside),
        recurring=sum(i.path in recurring for i in inside),
        overdue=_overdue_on(spans, period.end),
        mttr_minutes=_mean(i.doc.duration_minutes for i in inside),
        mttd_minutes=_mean(i.doc.detection_minutes for i in inside),
    )


def _timing(dated: Sequence[recurrence.Dated], period: Period) -> Timing:
    inside = [i for i in dated if i.day in period]
    durations = [i.doc.duration_minutes for i in inside if i.doc.duration_minutes is not None]
    detections = [i.doc.detection_minutes for i in inside if i.doc.detection_minutes is not None]
    return Timing(
        period=period,
        incidents=len(inside),
        with_duration=len(durations),
        mttr_minutes=_mean(durations),
        with_detection=len(detections),
        mttd_minutes=_mean(detections),
    )


# --------------------------------------------------------------------------- hygiene


def _ref(t: TrackedItem) -> ItemRef:
    return ItemRef(t.path, t.item.line, t.item.action, t.owner)


def _hygiene(
    docs: Sequence[tuple[str, Postmortem]],
    tracked: Sequence[TrackedItem],
    records: Sequence[ItemRecord],
    conflicts: Iterable[Conflict],
    settings: Settings,
    as_of: date,
    doc_url: DocUrl,
) -> Hygiene:
    tz = settings.digest.tz
    still_open = [t for t in tracked if t.open_on(as_of)]
    # One spelling per person ("@bob" and "bob" are the same owner), alphabetical.
    spelled: dict[str, str] = {}
    for t in still_open:
        if t.owner:
            spelled.setdefault(owner_key(t.owner), t.owner)
    owners = [spelled[k] for k in sorted(spelled)]
    mapped = {owner_key(k) for k in settings.owners}
    by_id = {r.item_id: r for r in records}
    week = week_ending(as_of)
    recent: list[SyncProblem] = []
    total = 0
    for c in conflicts:
        day = c.at.astimezone(tz).date()
        if day > as_of:
            continue
        total += 1
        if day not in week:
            continue
        rec = by_id.get(c.item_id)
        recent.append(
            SyncProblem(
                path=rec.doc_path if rec else c.item_id,
                ticket=rec.ticket_key if rec else None,
                message=f"{c.field}: doc {c.doc_value!r} vs tracker {c.ticket_value!r}"
                f" ({c.winner} won)",
                at=c.at.isoformat(),
                kind="conflict",
            )
        )
    errors = tuple(
        SyncProblem(r.doc_path, r.ticket_key, r.error, r.attempts)
        for r in sorted(
            (r for r in records if r.error),
            key=lambda r: (r.doc_path, r.ticket_key or "", r.item_id),
        )
    )
    drafts, undated = [], []
    for path, doc in sorted(docs, key=lambda pd: pd[0]):
        ref = DocRef(
            path,
            doc.title or path,
            doc.date,
            (as_of - doc.date).days if doc.date else None,
            doc_url(path),
        )
        if doc.status and "draft" in doc.status.lower():
            drafts.append(ref)
        if doc.date is None:
            undated.append(ref)
    return Hygiene(
        without_owner=tuple(_ref(t) for t in still_open if not t.owner),
        without_due=tuple(_ref(t) for t in still_open if t.due is None),
        without_priority=tuple(_ref(t) for t in still_open if not t.priority),
        owners_configured=bool(settings.owners),
        unmapped_owners=tuple(o for o in owners if settings.owners and owner_key(o) not in mapped),
        teams_configured=bool(settings.digest.teams),
        owners_without_team=tuple(
            o for o in owners if settings.digest.teams and team_of(o, settings.digest.teams) is None
        ),
        conflicts=tuple(recent),
        conflicts_total=total,
        sync_errors=errors,
        drafts=tuple(sorted(drafts, key=lambda d: (d.date or date.min, d.path))),
        undated=tuple(undated),
    )
