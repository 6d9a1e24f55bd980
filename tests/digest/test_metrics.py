"""Digest metrics against hand-computed values on tests/fixtures/digest.

The fixture: eight postmortems from 2025-09-01 to 2026-06-05 plus one undated draft, and
the last-synced tickets in state/synced.json. The digest date is Monday 2026-06-08 (ISO week
2026-W24), so "this week" is Tue 2026-06-02 .. Mon 2026-06-08.

    doc (incident date)          components                    items (due, priority, status)
    2025-09-01 cache-eviction    db-primary, cache             P1 done (no ticket)
    2026-01-15 db-disk-full      db-primary, postgres          OPS-101 P0 done 01-19, OPS-102
                                                               P1 done (no record), OPS-103 P2
                                                               due 04-15 done 05-01 (late)
    2026-03-20 db-failover       db-primary, checkout          OPS-110 P0 due 03-27 done 04-02
                                                               (late), OPS-111 P1 due 04-03 open,
                                                               P2 due 06-30 open (no ticket)
    2026-04-20 search-latency    search                        P1 due 04-27 done (no ticket),
                                                               P2 no due date, open
    2026-05-12 payments-pool     payments, db-primary (Draft)  OPS-120 P0 due 05-19 in progress,
                                                               OPS-121 P1 due 05-22: doc says
                                                               open, ticket done 05-21
    2026-06-03 checkout-config   checkout, config-service      OPS-130 P0 due 06-10 open
                                                               ("<script>… | pipe"), P1 due
                                                               06-20 open, no owner
    2026-06-05 billing-cron      (none)                        P2 due 06-12 open, no-priority
                                                               item due 06-07 open
    (undated) notes-flaky-deploys (Draft)                      open, no owner/due/priority
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syncd.cli import main as cli
from syncd.config import Settings, load_config
from syncd.digest.cli import _as_of
from syncd.digest.metrics import compute
from syncd.digest.model import Digest
from syncd.digest.render import subject
from syncd.digest.sources import digest_from, load_docs
from syncd.documents.parser import parse_text
from syncd.model import Status
from syncd.sync.state import Conflict, ItemRecord, StateStore


def _outside_git(source: Path) -> Path:
    """A copy of the fixture tree outside any git work tree.

    The digest reads the docs' git history (when items were set and ticked); inside this
    repository that would be the project's own commits of the fixture, whose dates have
    nothing to do with the hand-computed numbers below. History is tested on purpose-built
    repositories in test_history.py.
    """
    target = Path(tempfile.mkdtemp(prefix="syncd-digest-fixture-")) / "digest"
    shutil.copytree(source, target)
    atexit.register(shutil.rmtree, target.parent, True)
    return target


FIXTURES = _outside_git(Path(__file__).resolve().parents[1] / "fixtures" / "digest")
AS_OF = date(2026, 6, 8)


# --------------------------------------------------------------------------- helpers
# (imported by test_digest_email.py too)


def fixture_settings(state_path: Path | str = ":memory:", **env: str) -> Settings:
    return load_config(FIXTURES / "syncd.toml", env={"SYNCD_STATE__PATH": str(state_path), **env})


def fixture_records() -> list[ItemRecord]:
    data = json.loads((FIXTURES / "state" / "synced.json").read_text())
    return [ItemRecord(**item) for item in data["items"]]


def fixture_conflicts() -> list[Conflict]:
    data = json.loads((FIXTURES / "state" / "synced.json").read_text())
    return [
        Conflict(
            c["item_id"],
            c["field"],
            c["doc_value"],
            c["ticket_value"],
            c["winner"],
            datetime.fromisoformat(c["at"]),
        )
        for c in data["conflicts"]
    ]


def fill_state(store: StateStore) -> None:
    """Load state/synced.json into a real store, as a sync would have left it."""
    store.put_items(fixture_records())
    for c in fixture_conflicts():
        store.record_conflict(c.item_id, c.field, c.doc_value, c.ticket_value, c.winner, c.at)


def fixture_digest(as_of: date = AS_OF, settings: Settings | None = None) -> Digest:
    settings = settings or fixture_settings()
    return compute(load_docs(settings), fixture_records(), fixture_conflicts(), settings, as_of)


@pytest.fixture(scope="module")
def digest() -> Digest:
    return fixture_digest()


def rows(items, *fields):  # type: ignore[no-untyped-def]
    return [tuple(getattr(i, f) for f in fields) for i in items]


# --------------------------------------------------------------------------- this week


def test_week_and_period(digest: Digest) -> None:
    assert digest.week == "2026-W24"
    assert (digest.period.start, digest.period.end) == (date(2026, 6, 2), AS_OF)


def test_iso_week_uses_the_iso_year() -> None:
    # 2027-01-01 is a Friday: it belongs to 2026's last ISO week.
    assert fixture_digest(date(2027, 1, 1)).week == "2026-W53"


def test_incidents_this_week(digest: Digest) -> None:
    assert rows(digest.incidents, "path", "date", "severity", "duration_minutes", "recurring") == [
        ("2026-06-05-billing-cron.md", date(2026, 6, 5), "SEV3", 30, False),
        # shares only the tag `checkout` with the db failover: not a recurrence
        ("2026-06-03-checkout-config.md", date(2026, 6, 3), "SEV1", 40, False),
    ]
    assert digest.incidents[1].title == "Checkout config push broke checkout"
    assert digest.incidents[1].doc_url == (
        "https://github.com/acme/postmortems/blob/main/2026-06-03-checkout-config.md"
    )


def test_no_incidents_this_week() -> None:
    # 2026-05-19 .. 05-25 has no incident; docs dated after as_of do not exist yet.
    d = fixture_digest(date(2026, 5, 25))
    assert d.incidents == ()
    assert d.recurrence.this_week_incidents == 0
    assert d.recurrence.this_week_rate is None  # not 0%: there was nothing to recur
    # 12 weeks = 2026-03-03 .. 05-25: db-failover (recurs), search and payments (do not:
    # payments is tagged db-primary, but none of its factors names it)
    assert (d.recurrence.incidents, d.recurrence.recurring, d.recurrence.rate) == (3, 1, 0.3333)
    assert rows(d.overdue, "path", "days_overdue") == [
        ("2026-03-20-db-failover.md", 52),  # due 04-03
        ("2026-05-12-payments-pool.md", 6),  # due 05-19
    ]
    assert subject(d) == "Postmortem digest 2026-W22: 0 incidents, 2 overdue, recurrence 33%"


# --------------------------------------------------------------------------- items


def test_overdue_items_with_days_priority_and_ticket(digest: Digest) -> None:
    assert rows(
        digest.overdue, "path", "action", "owner", "due", "days_overdue", "priority", "ticket"
    ) == [
        # 2026-04-03 -> 06-08: 27 days of April + 31 of May + 8 of June
        (
            "2026-03-20-db-failover.md",
            "Update the failover runbook",
            "@sri",
            date(2026, 4, 3),
            66,
            "P1",
            "OPS-111",
        ),
        (
            "2026-05-12-payments-pool.md",
            "Add connection pool utilisation alert",
            "@bob",
            date(2026, 5, 19),
            20,
            "P0",
            "OPS-120",
        ),
        (
            "2026-06-05-billing-cron.md",
            "Document time zone assumptions",
            "@lee",
            date(2026, 6, 7),
            1,
            None,
            None,
        ),
    ]
    # the ticket's status wins over the doc's "Open"
    assert digest.overdue[1].status == "in_progress"


def test_ticket_done_beats_stale_doc_status(digest: Digest) -> None:
    # OPS-121: the doc still says Open, the tracker closed it on 05-21 -> not overdue.
    assert "Fix connection leak in retry path" not in [r.action for r in digest.overdue]


def test_doc_change_after_last_sync_beats_ticket() -> None:
    text = (
        "# T\n\n**Date:** 2026-06-01\n\n## Action items\n"
        "| Action | Owner | Due | Priority | Status | Ticket |\n|---|---|---|---|---|---|\n"
        "| Fix it | @a | 2026-06-03 | P0 | Done | OPS-9 |\n"
    )
    doc = parse_text(text, "x.md")
    record = ItemRecord(
        "ref:jira:OPS-9",
        "jira",
        "x.md",
        "OPS-9",
        doc={"action": "Fix it", "status": "open"},  # doc said open when last synced
        ticket={"status": "open", "updated": "2026-06-02T00:00:00+00:00"},
    )
    d = compute([("x.md", doc)], [record], [], fixture_settings(), AS_OF)
    assert d.overdue == ()  # the doc's newer "Done" wins until the next sync


def test_overdue_grouped_by_owner_and_team(digest: Digest) -> None:
    assert [(g.owner, g.team, len(g.items), g.worst) for g in digest.by_owner] == [
        ("@sri", "platform", 1, 66),
        ("@bob", "platform", 1, 20),
        ("@lee", "billing", 1, 1),  # [digest.teams] billing = ["lee"]: "@" is ignored
    ]


def test_due_soon(digest: Digest) -> None:
    assert rows(digest.due_soon, "action", "due", "days_left", "priority", "ticket") == [
        (
            "Gate config pushes on validation <script>alert(1)</script> | pipe",
            date(2026, 6, 10),
            2,
            "P0",
            "OPS-130",
        ),
        ("Pin cron host time zone to UTC", date(2026, 6, 12), 4, "P2", None),
    ]
    assert digest.due_soon[0].ticket_url == "https://jira.example.com/browse/OPS-130"


def test_item_without_due_date_is_never_overdue(digest: Digest) -> None:
    listed = [r.action for r in (*digest.overdue, *digest.due_soon)]
    assert "Add index-size capacity alert" not in listed
    assert [(r.path, r.action) for r in digest.hygiene.without_due] == [
        ("2026-04-20-search-latency.md", "Add index-size capacity alert"),
        ("notes-flaky-deploys.md", "Collect deploy failure logs"),
    ]


# --------------------------------------------------------------------------- completion


def test_completion_by_priority(digest: Digest) -> None:
    # Deadlines (incident date + 7/14/90 days) that fell in 2026-03-11 .. 06-08:
    # P0: db-failover 03-27 (OPS-110 done 04-02: late), payments 05-19 (OPS-120 open)
    # P1: db-failover 04-03 (OPS-111 open), search 05-04 (done, no ticket, no date:
    #     unknown, not in the rate), payments 05-26 (OPS-121 done 05-21: on time)
    # P2: db-disk-full 04-15 (OPS-103 done 05-01: late); db-failover's is 06-18: not yet
    got = {c.priority: c.as_json() for c in digest.completion}
    assert got["P0"] | {} == {
        "on_time": 0,
        "late": 1,
        "open": 1,
        "total": 2,
        "rate": 0.0,
        "target": 0.9,
        "within_days": 7,
        "met": False,
        "unknown_completion_date": 0,
    }
    assert (got["P1"]["on_time"], got["P1"]["late"], got["P1"]["open"]) == (1, 0, 1)
    assert (got["P1"]["rate"], got["P1"]["target"], got["P1"]["unknown_completion_date"]) == (
        0.5,
        0.8,
        1,
    )
    assert got["P1"]["total"] == 3
    assert (got["P2"]["on_time"], got["P2"]["late"], got["P2"]["total"]) == (0, 1, 1)
    assert (digest.completion_window.start, digest.completion_window.end) == (
        date(2026, 3, 11),
        AS_OF,
    )


def _one_item_digest(status: str, updated: str | None, with_record: bool = True) -> Digest:
    text = (
        "# T\n\n**Date:** 2026-05-01\n\n## Action items\n"
        "| Action | Owner | Due | Priority | Status | Ticket |\n|---|---|---|---|---|---|\n"
        f"| Fix it | @a | 2026-05-05 | P0 | {status} | OPS-9 |\n"
    )
    doc = parse_text(text, "x.md")
    ticket = {"status": {"Done": Status.DONE, "Won't do": Status.WONT_DO}[status].value}
    if updated:
        ticket["updated"] = ticket["completed_at"] = updated
    records = (
        [ItemRecord("ref:jira:OPS-9", "jira", "x.md", "OPS-9", doc={}, ticket=ticket)]
        if with_record
        else []
    )
    return compute([("x.md", doc)], records, [], fixture_settings(), AS_OF)


def test_done_item_that_was_late() -> None:
    # deadline 2026-05-01 + 7 = 05-08; closed 05-09 in UTC -> late
    p0 = _one_item_digest("Done", "2026-05-09T01:00:00+00:00").completion[0]
    assert (p0.on_time, p0.late, p0.open, p0.rate) == (0, 1, 0, 0.0)


def test_done_on_deadline_day_is_on_time() -> None:
    p0 = _one_item_digest("Done", "2026-05-08T23:59:00+00:00").completion[0]
    assert (p0.on_time, p0.late, p0.rate, p0.met) == (1, 0, 1.0, True)


def test_completion_day_is_taken_in_the_digest_time_zone() -> None:
    # 05-09 01:00 UTC is still 05-08 in New York: on time there.
    settings = fixture_settings(SYNCD_DIGEST__TIMEZONE="America/New_York")
    text = (
        "# T\n\n**Date:** 2026-05-01\n\n## Action items\n"
        "| Action | Owner | Due | Priority | Status | Ticket |\n|---|---|---|---|---|---|\n"
        "| Fix it | @a | 2026-05-05 | P0 | Done | OPS-9 |\n"
    )
    record = ItemRecord(
        "r",
        "jira",
        "x.md",
        "OPS-9",
        ticket={"status": "done", "completed_at": "2026-05-09T01:00:00+00:00"},
    )
    d = compute([("x.md", parse_text(text, "x.md"))], [record], [], settings, AS_OF)
    assert d.completion[0].on_time == 1


def test_done_without_completion_date_is_unknown_not_on_time() -> None:
    p0 = _one_item_digest("Done", None, with_record=False).completion[0]
    assert (p0.on_time, p0.unknown_date, p0.total, p0.rate) == (0, 1, 1, None)


def test_a_later_edit_of_a_closed_ticket_does_not_move_its_completion() -> None:
    # Closed 05-08 (on time); a relabel on 05-20 moved `updated`, not `completed_at`.
    d = _one_item_digest("Done", "2026-05-08T10:00:00+00:00")
    assert d.completion[0].on_time == 1
    text = (
        "# T\n\n**Date:** 2026-05-01\n\n## Action items\n"
        "| Action | Owner | Due | Priority | Status | Ticket |\n|---|---|---|---|---|---|\n"
        "| Fix it | @a | 2026-05-05 | P0 | Done | OPS-9 |\n"
    )
    ticket = {
        "status": "done",
        "completed_at": "2026-05-08T10:00:00+00:00",
        "updated": "2026-05-20T10:00:00+00:00",
    }
    record = ItemRecord("r", "jira", "x.md", "OPS-9", ticket=ticket)
    doc = parse_text(text, "x.md")
    p0 = compute([("x.md", doc)], [record], [], fixture_settings(), AS_OF).completion[0]
    assert (p0.on_time, p0.late) == (1, 0)


def test_a_completed_field_in_the_doc_dates_a_doc_only_completion() -> None:
    text = (
        "# T\n\n**Date:** 2026-05-01\n\n## Action items\n"
        "| Action | Owner | Due | Priority | Status | Completed |\n|---|---|---|---|---|---|\n"
        "| Fix it | @a | 2026-05-05 | P0 | Done | 2026-05-10 |\n"
        "| Add a runbook | @b | 2026-05-05 | P0 | Done (completed: 2026-05-04) | |\n"
    )
    doc = parse_text(text, "x.md")
    texts = {"x.md": text.splitlines()}
    p0 = compute([("x.md", doc)], [], [], fixture_settings(), AS_OF, texts=texts).completion[0]
    assert (p0.on_time, p0.late, p0.unknown_date) == (1, 1, 0)


def test_wont_do_is_left_out_of_completion() -> None:
    p0 = _one_item_digest("Won't do", "2026-05-02T00:00:00+00:00").completion[0]
    assert p0.total == 0 and p0.rate is None and p0.met is None


# --------------------------------------------------------------------------- recurrence


def test_recurrence_rate_and_links(digest: Digest) -> None:
    rec = digest.recurrence
    # 12 weeks = 2026-03-17 .. 06-08: failover, search, payments, checkout, billing.
    # Only the failover recurs (the same log-rotation factor as the disk-full incident);
    # payments and checkout share only a tag with earlier incidents -> 1/5
    assert (rec.incidents, rec.recurring, rec.rate, rec.window_days) == (5, 1, 0.2, 180)
    assert (rec.target, rec.over_target) == (0.15, True)
    assert (rec.this_week_incidents, rec.this_week_recurring, rec.this_week_rate) == (2, 0, 0.0)
    [link] = rec.links
    assert (link.incident, link.earlier) == (
        "2026-03-20-db-failover.md",
        "2026-01-15-db-disk-full.md",
    )
    [match] = link.factors
    assert match.sentence == "Log rotation misconfiguration filled the disk on db-primary again."
    assert match.other == "Log rotation misconfiguration filled the data disk on db-primary."
    assert {t.term for t in match.shared} >= {"db-primary", "diskfull", "log"}
    # The disk-full incident's items on 2026-03-19: OPS-101 and OPS-102 closed, OPS-103
    # (closed 05-01) still open.
    assert [(i.ticket, i.done_before) for i in link.earlier_items] == [
        ("OPS-101", True),
        ("OPS-102", True),
        ("OPS-103", False),
    ]
    assert link.verdict == "recurred while 1 of 3 items were still open"
    # 2025-09-01 cache-eviction is tagged db-primary too, but says nothing alike
    assert all(link.earlier != "2025-09-01-cache-eviction.md" for link in rec.links)


def _doc(day: str, factor: str) -> tuple[str, object]:
    text = f"# {day}\n\n**Date:** {day}\n\n## Contributing factors\n- {factor}\n"
    return f"{day}.md", parse_text(text, f"{day}.md")


def test_lookback_window_edge() -> None:
    # The same factor 136 days apart (2025-09-01 -> 2026-01-15).
    docs = [
        _doc("2025-09-01", "Cache TTLs were aligned, so every key expired in the same minute."),
        _doc("2026-01-15", "Aligned cache TTLs expired every key at once."),
    ]
    as_of = date(2026, 1, 20)
    inside = compute(docs, [], [], fixture_settings(), as_of)
    assert (inside.recurrence.incidents, inside.recurrence.recurring) == (1, 1)
    assert inside.recurrence.links[0].earlier == "2025-09-01.md"
    shorter = compute(docs, [], [], fixture_settings(SYNCD_DIGEST__LOOKBACK_DAYS="135"), as_of)
    assert (shorter.recurrence.recurring, shorter.recurrence.rate) == (0, 0.0)
    exact = compute(docs, [], [], fixture_settings(SYNCD_DIGEST__LOOKBACK_DAYS="136"), as_of)
    assert exact.recurrence.recurring == 1  # "within 136 days" includes day 136


def test_recurrence_target_is_configurable() -> None:
    d = fixture_digest(settings=fixture_settings(SYNCD_DIGEST__RECURRENCE_TARGET="25"))
    assert (d.recurrence.rate, d.recurrence.target, d.recurrence.over_target) == (0.2, 0.25, False)


def test_same_day_incidents_do_not_recur_on_each_other() -> None:
    a = parse_text("# A\n\n**Date:** 2026-06-03\n**Services:** api\n", "a.md")
    b = parse_text("# B\n\n**Date:** 2026-06-03\n**Services:** api\n", "b.md")
    d = compute([("a.md", a), ("b.md", b)], [], [], fixture_settings(), AS_OF)
    assert (d.recurrence.incidents, d.recurrence.recurring) == (2, 0)


def test_weekly_series(digest: Digest) -> None:
    assert [w.week for w in digest.weeks] == [f"2026-W{n}" for n in range(13, 25)]
    assert [w.rate for w in digest.weeks] == [
        1.0, None, None, None, 0.0, None, None, None, 0.0, None, None, 0.0,
    ]  # fmt: skip
    # Overdue at the end of each week, from due dates and ticket completion days:
    # W14 (03-30) OPS-110 due 03-27 closed 04-02; W15 it is closed but OPS-111 (due
    # 04-03) is open; W17-W18 OPS-103 (due 04-15, closed 05-01) too; W22 OPS-120 (due
    # 05-19); W24 the no-priority billing item (due 06-07).
    assert [w.overdue for w in digest.weeks] == [0, 1, 1, 1, 2, 2, 1, 1, 1, 2, 2, 3]
    assert digest.weeks[-1].overdue == len(digest.overdue)


def test_recurring_themes(digest: Digest) -> None:
    # db-primary is a tag of disk-full, failover and payments, but only the first two
    # name it in a contributing factor: a tag alone makes no theme.
    assert digest.recurrence.themes == ()


def test_factor_theme_from_similar_text() -> None:
    docs = [
        (
            f"{day}.md",
            parse_text(
                f"# X\n\n**Date:** {day}\n\n## Contributing factors\n- {factor}\n", f"{day}.md"
            ),
        )
        for day, factor in [
            ("2026-03-01", "Certificate renewal cron failed silently"),
            ("2026-04-01", "The certificate renewal job failed silently again"),
            ("2026-05-01", "Certificate renewal failed silently on the edge proxies"),
        ]
    ]
    d = compute(docs, [], [], fixture_settings(), AS_OF)
    assert [(t.kind, len(t.incidents)) for t in d.recurrence.themes] == [("factor", 3)]
    assert d.recurrence.themes[0].name == "Certificate renewal failed silently on the edge proxies"


# --------------------------------------------------------------------------- timing, hygiene


def test_mttr_and_mttd(digest: Digest) -> None:
    # last 12 weeks: durations 20, 90, 25, 40, 30 -> 41.0; detection 5, 3, 10 -> 6.0
    t, p = digest.timing, digest.previous_timing
    assert (t.mttr_minutes, t.with_duration, t.mttd_minutes, t.with_detection) == (41.0, 5, 6.0, 3)
    # the 12 weeks before (2025-12-23 .. 2026-03-16): disk-full 45 min, detected after 12
    assert (p.mttr_minutes, p.mttd_minutes, p.incidents) == (45.0, 12.0, 1)
    assert [w.mttr_minutes for w in digest.weeks][-1] == 35.0  # (40 + 30) / 2


def test_hygiene(digest: Digest) -> None:
    h = digest.hygiene
    assert [(r.path, r.line) for r in h.without_owner] == [
        ("2026-06-03-checkout-config.md", 15),
        ("notes-flaky-deploys.md", 6),
    ]
    assert [r.action for r in h.without_priority] == [
        "Document time zone assumptions",
        "Collect deploy failure logs",
    ]
    # [owners] maps "@sri" and "bob"; carol's only item is done, so she is not listed
    assert h.unmapped_owners == ("@lee", "@maya", "SRE team lead")
    assert h.owners_without_team == ("@maya", "SRE team lead")
    assert [(d.path, d.age_days) for d in h.drafts] == [
        ("notes-flaky-deploys.md", None),
        ("2026-05-12-payments-pool.md", 27),
    ]
    assert [d.path for d in h.undated] == ["notes-flaky-deploys.md"]
    assert [(c.path, c.ticket) for c in h.conflicts] == [("2026-05-12-payments-pool.md", "OPS-120")]
    assert h.conflicts_total == 2  # the April one is not "this week"
    assert [(e.ticket, e.attempts) for e in h.sync_errors] == [("OPS-111", 3)]


# --------------------------------------------------------------------------- JSON, CLI


def test_json_contract(digest: Digest) -> None:
    data = json.loads(json.dumps(digest.as_json()))
    for key in ("week", "as_of", "incidents", "overdue", "due_soon", "completion"):
        assert key in data
    assert set(data["incidents"][0]) >= {"path", "title", "date", "severity"}
    for row in (*data["overdue"], *data["due_soon"]):
        assert set(row) >= {"path", "action", "owner", "due", "days_overdue", "priority", "ticket"}
    assert set(data["completion"]["P0"]) >= {"on_time", "total", "rate", "target"}
    rec = data["recurrence"]
    assert set(rec) >= {"rate", "window_days", "series", "links"}
    assert set(rec["series"][0]) >= {"week", "rate"}
    assert set(rec["links"][0]) >= {"incident", "earlier", "evidence"}
    assert "hygiene" in data


def test_digest_from_state_store_matches_pure_compute(tmp_path: Path) -> None:
    settings = fixture_settings(tmp_path / "state.db")
    with StateStore.open(settings.state.path) as store:
        fill_state(store)
        from_store = digest_from(settings, store, AS_OF)
    assert from_store.as_json() == fixture_digest().as_json()


def test_cli_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    state_path = tmp_path / "state.db"
    with StateStore.open(state_path) as store:
        fill_state(store)
    monkeypatch.setenv("SYNCD_STATE__PATH", str(state_path))
    code = cli.main(
        [
            "digest",
            "--config",
            str(FIXTURES / "syncd.toml"),
            "--as-of",
            "2026-06-08",
            "--format",
            "json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["week"], data["as_of"]) == ("2026-W24", "2026-06-08")
    assert [(r["ticket"], r["days_overdue"]) for r in data["overdue"]] == [
        ("OPS-111", 66),
        ("OPS-120", 20),
        (None, 1),
    ]
    assert data["recurrence"]["rate"] == 0.2
    assert data["completion"]["P1"]["rate"] == 0.5


def test_cli_text_and_preview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("SYNCD_STATE__PATH", str(tmp_path / "state.db"))
    config = str(FIXTURES / "syncd.toml")
    assert cli.main(["digest", "--config", config, "--as-of", "2026-06-08"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Subject: Postmortem digest 2026-W24: 2 incidents,")
    preview = tmp_path / "out" / "digest.html"
    assert (
        cli.main(["digest", "--config", config, "--as-of", "2026-06-08", "--preview", str(preview)])
        == 0
    )
    html = preview.read_text()
    (png,) = (tmp_path / "out").glob("trend-2026-W24-*.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f'src="{png.name}"' in html and "cid:" not in html
    # Another week's preview in the same folder gets its own chart file.
    other = tmp_path / "out" / "digest-w25.html"
    argv = ["digest", "--config", config, "--as-of", "2026-06-15", "--preview", str(other)]
    assert cli.main(argv) == 0
    assert len(list((tmp_path / "out").glob("trend-*.png"))) == 2
    assert "<script" not in html.lower()


def test_cli_reports_a_missing_docs_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("SYNCD_STATE__PATH", str(tmp_path / "state.db"))
    monkeypatch.setenv("SYNCD_DOCS__ROOT", str(tmp_path / "nowhere"))
    assert cli.main(["digest", "--config", str(FIXTURES / "syncd.toml")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert cli.main(["digest", "--config", str(FIXTURES / "syncd.toml"), "--force"]) == 1


def test_cli_rejects_bad_date(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["digest", "--as-of", "2026-13-01"])
    assert exc.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_default_as_of_is_today_in_the_configured_zone() -> None:
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        before = datetime.now(ZoneInfo(zone)).date()
        got = _as_of(None, zone)
        assert got in (before, datetime.now(ZoneInfo(zone)).date())
    assert _as_of("2026-06-08", "UTC") == AS_OF


def test_worker_may_pass_a_datetime() -> None:
    from syncd.digest.send import local_day

    settings = fixture_settings(SYNCD_DIGEST__TIMEZONE="Asia/Tokyo")
    assert local_day(datetime(2026, 6, 7, 16, 0, tzinfo=UTC), settings) == date(2026, 6, 8)
    assert local_day(AS_OF, settings) == AS_OF
