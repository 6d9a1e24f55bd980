"""Every number in the digest, computed from parsed postmortems and the state store.

`compute` is a plain function of its inputs and `as_of`: no clock, no tracker calls, so
a test (or a re-run after a failed send) gets exactly the same digest. All days are
calendar days in the digest's configured time zone. docs/digest.md defines
each number; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from statistics import fmean
from urllib.parse import quote

from syncd.config import Settings
from syncd.digest import recurrence
from syncd.digest.history import DocHistory
from syncd.digest.model import (
    Completion,
    Digest,
    DocRef,
    EarlierItem,
    Headline,
    Hygiene,
    Incident,
    ItemRef,
    ItemRow,
    Link,
    OwnerGroup,
    Period,
    PostmortemCompletion,
    Recurrence,
    SyncProblem,
    TeamRow,
    Timing,
    WeekPoint,
)
from syncd.digest.tracked import TrackedItem, track_all
from syncd.model import Postmortem, Status
from syncd.sync.state import Conflict, ItemRecord

WEEK_DAYS = 7
SERIES_WEEKS = 12
ROLLING_WEEKS = 4  # trend rates are over the 4 weeks ending with each week
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
    history: Mapping[str, DocHistory] | None = None,
    texts: Mapping[str, Sequence[str]] | None = None,
) -> Digest:
    """The digest for the week ending on `as_of`.

    `docs` are (path relative to the docs root, parsed doc) pairs — the same relative
    paths the state store records items under. `history` (the docs' git history, see
    `syncd.digest.history`) and `texts` (each doc's lines) add evidence of when items
    were set and done; without them only tracker close times are known.
    """
    records = list(records)
    tz = settings.digest.tz
    doc_url = doc_url_for(settings)
    teams = settings.digest.teams
    period = week_ending(as_of)
    # A doc dated after as_of does not exist yet for a digest of the past (re-runs with
    # --as-of must give what that week's digest would have said).
    known = [(p, d) for p, d in docs if d.date is None or d.date <= as_of]
    tracked = track_all(known, records, tz, history, texts, settings.docs.date_order)
    dated = recurrence.dated_incidents(known, as_of)
    window = settings.digest.lookback_days
    series_start = as_of - timedelta(days=WEEK_DAYS * series_weeks - 1)
    rate_period = Period(series_start, as_of)
    # The recurring flag only for the incidents the digest reports: those of the rate
    # period, which holds every week of the series, and of this week.
    index = recurrence.Recurrences(dated, window)
    # ... and of the 3 weeks before the series, which the first rolling 4-week points need.
    extended = Period(series_start - timedelta(days=WEEK_DAYS * (ROLLING_WEEKS - 1)), as_of)
    recurring = {
        i.path for i in dated if (i.day in extended or i.day in period) and index.recurs(i)
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
    weeks = _rolling(
        [
            _week_point(week_ending(as_of - timedelta(days=WEEK_DAYS * n)), dated, recurring, spans)
            for n in reversed(range(series_weeks + ROLLING_WEEKS - 1))
        ],
        tracked,
        settings,
    )[ROLLING_WEEKS - 1 :]
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
    due_soon_count = len(due_soon)
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
        headlines=_headlines(weeks, due_soon_count),
        by_team=_by_team(tracked, settings, completion_window, as_of),
        postmortems=_postmortems(dated, history, settings, rate_period),
        owners_without_email=_without_email((*overdue, *due_soon), settings),
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

    deadline = clock start (`[digest] target_clock`: the incident date, or the day the
    item was set) + the priority's `within_days`; on time = completed on or before the
    deadline. Items still open past it count against the rate; "won't do" items are
    left out (nothing was completed, nor is anything still owed). Done items with no
    known completion day are counted apart and left out of the rate: counting them on
    time would flatter it, counting them late would invent lateness.
    """
    clock = settings.digest.target_clock
    out = []
    for priority, target in settings.digest.targets.items():
        on_time = late = still_open = unknown = 0
        for t in tracked:
            start = t.clock_start(clock)
            if (t.priority or "").upper() != priority.upper() or start is None:
                continue
            deadline = start + timedelta(days=target.within_days)
            if deadline not in window or t.status is Status.WONT_DO:
                continue
            if t.open_on(window.end):
                still_open += 1
            elif t.closed_on is None:
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
    out: list[tuple[date, date | None, date | None]] = []
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


def _due_soon_on(spans: Iterable[_Span], day: date) -> int:
    """Items open at the end of `day` (and existing) with a due date in the 7 days after."""
    end = day + timedelta(days=DUE_SOON_DAYS)
    return sum(
        1
        for due, exists, closed in spans
        if day <= due <= end
        and (exists is None or exists <= day)
        and (closed is None or closed > day)
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
        due_soon=_due_soon_on(spans, period.end),
    )


def _outcome(t: TrackedItem, deadline: date, day: date) -> str | None:
    """How an item with `deadline` stood at the end of `day`: "on_time", "late", "open",
    "unknown" (done, no date known), or None ("won't do": neither done nor owed)."""
    if t.status is Status.WONT_DO:
        return None
    if t.open_on(day):
        return "open"
    if t.closed_on is None:
        return "unknown"
    return "on_time" if t.closed_on <= deadline else "late"


def _deadlines(
    tracked: Iterable[TrackedItem], settings: Settings
) -> list[tuple[TrackedItem, str, date]]:
    """(item, its priority as configured, its completion deadline) for targeted items."""
    clock = settings.digest.target_clock
    targets = {p.upper(): (p, t.within_days) for p, t in settings.digest.targets.items()}
    out = []
    for t in tracked:
        found = targets.get((t.priority or "").upper())
        start = t.clock_start(clock)
        if found is not None and start is not None:
            out.append((t, found[0], start + timedelta(days=found[1])))
    return out


def _rolling(
    points: list[WeekPoint], tracked: Sequence[TrackedItem], settings: Settings
) -> tuple[WeekPoint, ...]:
    """Each point with its 4-week recurrence and completion (all priorities) filled in."""
    due = _deadlines(tracked, settings)
    out = []
    for n, point in enumerate(points):
        window = points[max(0, n - ROLLING_WEEKS + 1) : n + 1]
        span = Period(window[0].period.start, point.period.end)
        on_time = known = 0
        for t, _priority, deadline in due:
            if deadline not in span:
                continue
            outcome = _outcome(t, deadline, point.period.end)
            if outcome in ("on_time", "late", "open"):
                known += 1
                on_time += outcome == "on_time"
        out.append(
            replace(
                point,
                rolling_incidents=sum(w.incidents for w in window),
                rolling_recurring=sum(w.recurring for w in window),
                rolling_on_time=on_time,
                rolling_known=known,
            )
        )
    return tuple(out)


def _average(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(fmean(known), 4) if known else None


def _headlines(weeks: Sequence[WeekPoint], due_soon: int) -> tuple[Headline, ...]:
    """Each headline number, last week's value and the series' (12-week) average."""
    last = weeks[-2] if len(weeks) > 1 else None

    def line(name: str, kind: str, get: Callable[[WeekPoint], float | None]) -> Headline:
        return Headline(
            name,
            get(weeks[-1]) if weeks else None,
            get(last) if last else None,
            _average(get(w) for w in weeks),
            kind,
        )

    heads = [
        line("incidents", "count", lambda w: w.incidents),
        line("overdue", "count", lambda w: w.overdue),
        line("due_soon", "count", lambda w: w.due_soon),
        line("recurrence_4_weeks", "rate", lambda w: w.rolling_rate),
        line("completion_4_weeks", "rate", lambda w: w.rolling_completion),
        line("mttr_minutes", "minutes", lambda w: w.mttr_minutes),
    ]
    # This week's due-soon count is the digest's own list (same rule; kept identical).
    heads[2] = replace(heads[2], value=due_soon)
    return tuple(heads)


def _by_team(
    tracked: Sequence[TrackedItem], settings: Settings, window: Period, as_of: date
) -> tuple[TeamRow, ...]:
    """Overdue (now) and completion (deadlines in the completion window) per team and
    priority; teams from `[digest.teams]`, "(no team)" for everyone else."""
    teams = settings.digest.teams
    rows: dict[tuple[str, str], list[int]] = {}

    def bucket(t: TrackedItem) -> list[int]:
        key = (team_of(t.owner, teams) or "(no team)", (t.priority or "(none)").upper())
        return rows.setdefault(key, [0, 0, 0, 0, 0])

    for t in tracked:
        if t.overdue_on(as_of):
            bucket(t)[0] += 1
    slots = {"on_time": 1, "late": 2, "open": 3, "unknown": 4}
    for t, _priority, deadline in _deadlines(tracked, settings):
        if deadline in window and (outcome := _outcome(t, deadline, window.end)) is not None:
            bucket(t)[slots[outcome]] += 1
    return tuple(
        TeamRow(team, prio, *counts)
        for (team, prio), counts in sorted(
            rows.items(), key=lambda kv: (kv[0][0] == "(no team)", kv[0][0], kv[0][1])
        )
    )


def _without_email(rows: Iterable[ItemRow], settings: Settings) -> tuple[str, ...]:
    """Owners a reminder cannot reach; only asked when reminders are on."""
    if not settings.digest.reminders.enabled:
        return ()
    spelled: dict[str, str] = {}
    for row in rows:
        if row.owner and settings.owner_email(row.owner) is None:
            spelled.setdefault(owner_key(row.owner), row.owner)
    return tuple(spelled[k] for k in sorted(spelled))


def add_business_days(day: date, n: int) -> date:
    """`n` working days (Monday to Friday) after `day`."""
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def _postmortems(
    dated: Sequence[recurrence.Dated],
    history: Mapping[str, DocHistory] | None,
    settings: Settings,
    period: Period,
) -> PostmortemCompletion:
    """SEV1/SEV2 postmortems of `period` completed within N business days of the incident.

    Completed = the commit that took the doc out of Draft (or first committed it, for a
    doc without a status); a doc still in Draft past the deadline is open. Incidents
    whose deadline is still ahead and are not complete yet are not counted.
    """
    cfg = settings.digest
    wanted = {s.upper().replace("-", "") for s in cfg.postmortem_severities}
    on_time = late = still_open = unknown = 0
    for i in dated:
        severity = (i.doc.severity or "").upper().replace("-", "")
        if i.day not in period or severity not in wanted:
            continue
        deadline = add_business_days(i.day, cfg.postmortem_within_business_days)
        doc_history = history.get(i.path) if history else None
        done = doc_history.completed_on if doc_history else None
        draft = bool(i.doc.status) and "draft" in (i.doc.status or "").lower()
        if draft or (doc_history is not None and done is None):
            if deadline < period.end:
                still_open += 1
        elif done is None:
            unknown += 1  # not in git history (uncommitted, or no repository)
        elif done <= deadline:
            on_time += 1
        else:
            late += 1
    return PostmortemCompletion(
        severities=tuple(cfg.postmortem_severities),
        within_business_days=cfg.postmortem_within_business_days,
        target=round(cfg.postmortem_target_percent / 100, 4),
        on_time=on_time,
        late=late,
        open=still_open,
        unknown_date=unknown,
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
        SyncProblem(r.doc_path, r.ticket_key, r.error or "", r.attempts)
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
