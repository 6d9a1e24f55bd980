from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from syncd.model import Status
from syncd.sync import state as state_module
from syncd.sync.state import (
    SCHEMA_VERSION,
    Conflict,
    Intent,
    ItemRecord,
    StateError,
    StateStore,
)

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "state.db"


@pytest.fixture
def store(db_path: Path):
    with StateStore.open(db_path) as s:
        yield s


def item(item_id: str = "pm-1a2b3c4d5e6f", **overrides) -> ItemRecord:
    fields = {
        "item_id": item_id,
        "tracker": "jira",
        "doc_path": "2024/db-outage.md",
        "ticket_key": "OPS-1",
        "doc": {
            "action": "Add a replica lag alert",
            "owner": "@sri",
            "due": date(2024, 6, 1),
            "priority": "P1",
            "status": Status.OPEN,
        },
        "ticket": {
            "title": "Add a replica lag alert",
            "assignee": "5b10",
            "due": date(2024, 6, 1),
            "priority": "P1",
            "status": Status.IN_PROGRESS,
            "updated": T0,
        },
        "synced_at": T0,
    }
    fields.update(overrides)
    return ItemRecord(**fields)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


# ----------------------------------------------------------------------------- opening


def test_open_creates_parent_dirs_wal_and_schema(db_path):
    with StateStore.open(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert s._db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert db_path.is_file()
    assert {"items", "intents", "cursors", "conflicts", "runs", "meta"} <= tables(db_path)
    assert user_version(db_path) == SCHEMA_VERSION


def test_migrates_an_empty_file(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.touch()  # zero bytes: a valid, empty SQLite database
    with StateStore.open(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        s.put_item(item())
    assert user_version(db_path) == SCHEMA_VERSION


def test_reopen_is_idempotent_and_keeps_data(db_path):
    with StateStore.open(db_path) as s:
        s.put_item(item())
        s.set_cursor("jira", T0)
    for _ in range(3):
        with StateStore.open(db_path) as s:
            assert s.schema_version == SCHEMA_VERSION
            assert s.get_item("pm-1a2b3c4d5e6f") == item()
            assert s.get_cursor("jira") == T0


def test_a_version_2_file_keeps_its_items_and_gains_retry_at(db_path, monkeypatch):
    """A state file written before migration 3 (items without `retry_at`) upgrades in
    place: its rows read as before, not waiting on any backoff."""
    monkeypatch.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS[:2])
    with StateStore.open(db_path) as s:
        s._db.execute(
            "INSERT INTO items (item_id, tracker, doc_path, ticket_key, error, attempts)"
            " VALUES ('ref:jira:OPS-9', 'jira', 'a.md', 'OPS-9', 'boom', 3)"
        )
    assert user_version(db_path) == 2
    monkeypatch.undo()
    with StateStore.open(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION
        old = s.get_item("ref:jira:OPS-9")
        assert old is not None and old.attempts == 3 and old.retry_at is None and old.failing
        s.put_item(item(error="refused", attempts=2, retry_at=T0))
        assert s.get_item("pm-1a2b3c4d5e6f") == item(error="refused", attempts=2, retry_at=T0)


def test_adding_a_migration_is_one_function(db_path, monkeypatch):
    with StateStore.open(db_path) as s:
        s.put_item(item())

    calls = []

    def migration_2(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("CREATE TABLE extra (name TEXT PRIMARY KEY)")

    monkeypatch.setattr(state_module, "MIGRATIONS", (*state_module.MIGRATIONS, migration_2))
    with StateStore.open(db_path) as s:
        assert s.schema_version == state_module.SCHEMA_VERSION + 1
        assert s.get_item("pm-1a2b3c4d5e6f") == item()  # v1 data carried over
    with StateStore.open(db_path) as s:
        assert s.schema_version == state_module.SCHEMA_VERSION + 1
    assert calls == [1]  # applied exactly once
    assert "extra" in tables(db_path)


def test_failed_migration_leaves_previous_version_intact(db_path, monkeypatch):
    with StateStore.open(db_path) as s:
        s.put_item(item())

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        db.execute("DELETE FROM items")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(state_module, "MIGRATIONS", (*state_module.MIGRATIONS, broken))
    with pytest.raises(RuntimeError, match="migration bug"):
        StateStore.open(db_path)
    monkeypatch.undo()

    assert user_version(db_path) == SCHEMA_VERSION
    assert "half_done" not in tables(db_path)
    with StateStore.open(db_path) as s:
        assert s.get_item("pm-1a2b3c4d5e6f") == item()


def test_newer_schema_is_refused(db_path):
    with StateStore.open(db_path):
        pass
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(StateError, match="newer than this program"):
        StateStore.open(db_path)


def test_not_a_database_is_a_state_error(tmp_path):
    bogus = tmp_path / "state.db"
    bogus.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable state file"):
        StateStore.open(bogus)


def test_memory_store():
    with StateStore.open(":memory:") as s:
        s.put_item(item())
        assert s.items() == [item()]
        assert s.path == ":memory:"


# ----------------------------------------------------------------------------- items


def test_item_round_trip_preserves_types(store):
    rec = item(
        doc={"due": date(2024, 6, 1), "owner": None, "tags": ["a", "b"], "status": Status.DONE},
        ticket={"updated": datetime(2024, 5, 2, 1, 2, 3, 456789, tzinfo=UTC), "due": None},
        synced_at=datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    store.put_item(rec)
    back = store.get_item(rec.item_id)
    assert back == rec
    assert back is not None
    assert back.doc["due"] == date(2024, 6, 1)
    assert isinstance(back.ticket["updated"], datetime)
    assert back.synced_at == rec.synced_at
    assert back.synced_at is not None and back.synced_at.utcoffset() == timedelta(0)


def test_minimal_item_defaults(store):
    store.put_item(ItemRecord("pm-x", "github", "a.md"))
    assert store.get_item("pm-x") == ItemRecord(
        item_id="pm-x",
        tracker="github",
        doc_path="a.md",
        ticket_key=None,
        doc={},
        ticket={},
        synced_at=None,
        error=None,
        attempts=0,
    )


def test_put_item_upserts(store):
    store.put_item(item())
    store.put_item(item(ticket_key="OPS-2", error="x", attempts=3))
    assert store.get_item("pm-1a2b3c4d5e6f") == item(ticket_key="OPS-2", error="x", attempts=3)
    assert len(store.items()) == 1


def test_items_filter_and_lookup_by_ticket(store):
    store.put_items(
        [
            item("pm-a", tracker="jira", ticket_key="OPS-1"),
            item("pm-b", tracker="github", ticket_key="acme/r#1"),
            item("pm-c", tracker="jira", ticket_key=None),
        ]
    )
    assert [r.item_id for r in store.items()] == ["pm-a", "pm-b", "pm-c"]
    assert [r.item_id for r in store.items("jira")] == ["pm-a", "pm-c"]
    assert store.items("linear") == []
    found = store.item_by_ticket("github", "acme/r#1")
    assert found is not None and found.item_id == "pm-b"
    assert store.item_by_ticket("jira", "acme/r#1") is None
    assert store.get_item("pm-nope") is None


def test_same_ticket_on_two_items_does_not_crash(store):
    store.put_items([item("pm-b", ticket_key="OPS-9"), item("pm-a", ticket_key="OPS-9")])
    found = store.item_by_ticket("jira", "OPS-9")
    assert found is not None and found.item_id == "pm-a"


def test_put_items_is_all_or_nothing(store):
    good = item("pm-good")
    bad = item("pm-bad", doc={"x": object()})  # not storable
    with pytest.raises(TypeError):
        store.put_items([good, bad])
    assert store.items() == []


def test_delete_item(store):
    store.put_items([item("pm-a"), item("pm-b")])
    store.delete_item("pm-a")
    store.delete_item("pm-never")
    assert [r.item_id for r in store.items()] == ["pm-b"]


def test_record_error_counts_attempts(store):
    store.put_item(item())
    assert store.record_error("pm-1a2b3c4d5e6f", "HTTP 500") == 1
    assert store.record_error("pm-1a2b3c4d5e6f", "HTTP 502") == 2
    rec = store.get_item("pm-1a2b3c4d5e6f")
    assert rec is not None and (rec.error, rec.attempts) == ("HTTP 502", 2)
    assert rec.doc == item().doc  # nothing else touched
    with pytest.raises(KeyError):
        store.record_error("pm-unknown", "x")


def test_naive_datetimes_are_refused(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_item(item(synced_at=datetime(2024, 1, 1)))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_cursor("jira", datetime(2024, 1, 1))


# ----------------------------------------------------------------------------- intents


def test_intents_record_and_list(store):
    store.record_intents("jira", ["pm-a", "pm-b"], {"doc_path": "x.md"}, at=T0)
    store.record_intents("github", ["pm-c"], None, at=T0 + timedelta(seconds=1))
    assert store.pending_intents("jira") == [
        Intent("pm-a", "jira", T0, {"doc_path": "x.md"}),
        Intent("pm-b", "jira", T0, {"doc_path": "x.md"}),
    ]
    assert [i.item_id for i in store.pending_intents()] == ["pm-a", "pm-b", "pm-c"]
    assert store.pending_intents("github")[0].payload is None


def test_resolve_intent_sets_key_on_existing_item(store):
    store.put_item(item(ticket_key=None))
    store.record_intents("jira", ["pm-1a2b3c4d5e6f"], None)
    store.resolve_intent("pm-1a2b3c4d5e6f", "OPS-42")
    assert store.pending_intents() == []
    assert store.get_item("pm-1a2b3c4d5e6f") == item(ticket_key="OPS-42")


def test_resolve_intent_for_a_new_item_keeps_the_key(store):
    store.record_intents("jira", ["pm-new"], {"doc_path": "2024/x.md", "title": "t"})
    store.resolve_intent("pm-new", "OPS-7")
    assert store.get_item("pm-new") == ItemRecord("pm-new", "jira", "2024/x.md", "OPS-7")
    assert store.item_by_ticket("jira", "OPS-7") is not None


def test_resolve_intent_without_key_just_closes_it(store):
    store.put_item(item(ticket_key=None))
    store.record_intents("jira", ["pm-1a2b3c4d5e6f", "pm-other"], None)
    store.resolve_intent("pm-1a2b3c4d5e6f", None)
    assert [i.item_id for i in store.pending_intents()] == ["pm-other"]
    assert store.get_item("pm-1a2b3c4d5e6f") == item(ticket_key=None)


def test_resolve_intent_is_atomic(store, db_path):
    store.put_item(item(ticket_key=None))
    store.record_intents("jira", ["pm-1a2b3c4d5e6f"], None)
    # Make the key write fail after the intent's DELETE has run in the same transaction.
    store._db.execute(
        "CREATE TRIGGER fail_key BEFORE UPDATE OF ticket_key ON items"
        " BEGIN SELECT RAISE(ABORT, 'injected'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="injected"):
        store.resolve_intent("pm-1a2b3c4d5e6f", "OPS-42")
    # Neither half happened: the intent is still pending, so the next run looks up by
    # marker instead of creating a second ticket.
    with StateStore.open(db_path) as other:
        assert [i.item_id for i in other.pending_intents()] == ["pm-1a2b3c4d5e6f"]
        rec = other.get_item("pm-1a2b3c4d5e6f")
        assert rec is not None and rec.ticket_key is None
    store._db.execute("DROP TRIGGER fail_key")
    store.resolve_intent("pm-1a2b3c4d5e6f", "OPS-42")
    assert store.pending_intents() == []


def test_resolving_something_never_recorded(store):
    with pytest.raises(KeyError):
        store.resolve_intent("pm-ghost", "OPS-1")
    store.resolve_intent("pm-ghost", None)  # closing nothing is harmless
    assert store.items() == []


# ----------------------------------------------------------------------------- cursors


def test_cursors(store):
    assert store.get_cursor("jira") is None
    store.set_cursor("jira", T0)
    store.set_cursor("jira", T0 + timedelta(minutes=5))
    berlin = datetime(2024, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    store.set_cursor("github", berlin)
    assert store.get_cursor("jira") == T0 + timedelta(minutes=5)
    got = store.get_cursor("github")
    assert got == berlin and got is not None and got.tzinfo is not None
    assert got.utcoffset() == timedelta(0)


# ----------------------------------------------------------------------------- conflicts


def test_conflicts_are_deduplicated(store):
    assert store.record_conflict("pm-a", "due", date(2024, 6, 1), date(2024, 7, 1), "tracker", T0)
    assert not store.record_conflict(
        "pm-a", "due", date(2024, 6, 1), date(2024, 7, 1), "tracker", T0 + timedelta(hours=1)
    )
    # None values de-duplicate too (NULLs would not, in a SQLite UNIQUE index)
    assert store.record_conflict("pm-a", "owner", None, "5b10", "doc", T0)
    assert not store.record_conflict("pm-a", "owner", None, "5b10", "doc", T0)
    # a new disagreement on the same field is a new conflict
    assert store.record_conflict("pm-a", "due", date(2024, 6, 1), date(2024, 8, 1), "tracker", T0)
    assert store.conflicts() == [
        Conflict("pm-a", "due", date(2024, 6, 1), date(2024, 7, 1), "tracker", T0),
        Conflict("pm-a", "owner", None, "5b10", "doc", T0),
        Conflict("pm-a", "due", date(2024, 6, 1), date(2024, 8, 1), "tracker", T0),
    ]


def test_conflicts_since(store):
    store.record_conflict("pm-a", "status", "open", "done", "tracker", T0)
    store.record_conflict("pm-b", "status", "open", "done", "tracker", T0 + timedelta(days=8))
    recent = store.conflicts(since=T0 + timedelta(days=7))
    assert [c.item_id for c in recent] == ["pm-b"]
    assert len(store.conflicts()) == 2


# ----------------------------------------------------------------------------- runs & meta


def test_run_log(store):
    assert store.last_success() is None and store.last_runs(5) == []
    store.record_run(T0, T0 + timedelta(seconds=3), True, {"created": 2})
    store.record_run(T0 + timedelta(minutes=5), T0 + timedelta(minutes=6), False, {"error": "x"})
    runs = store.last_runs(5)
    assert [r.ok for r in runs] == [False, True]  # newest first
    assert runs[1].summary == {"created": 2}
    assert store.last_runs(1)[0].summary == {"error": "x"}
    assert store.last_success() == T0 + timedelta(seconds=3)


def test_run_log_is_bounded_but_keeps_last_success(store, monkeypatch):
    monkeypatch.setattr(state_module, "RUN_LOG_KEEP", 3)
    store.record_run(T0, T0, True, {})
    for i in range(1, 10):
        store.record_run(T0 + timedelta(minutes=i), T0 + timedelta(minutes=i), False, {})
    count = store._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert count <= 4
    assert store.last_success() == T0


def test_meta(store):
    assert store.meta_get("digest:2024-W18") is None
    store.meta_set("digest:2024-W18", "sent")
    store.meta_set("digest:2024-W18", "sent-again")
    assert store.meta_get("digest:2024-W18") == "sent-again"


# ----------------------------------------------------------------------------- reset


def test_reset_keeps_nothing_that_could_cause_a_duplicate(store):
    store.put_item(item())
    store.record_intents("jira", ["pm-pending"], None)
    store.set_cursor("jira", T0)
    store.record_conflict("pm-a", "due", None, "2024-01-01", "tracker", T0)
    store.meta_set("k", "v")
    store.record_run(T0, T0, True, {"n": 1})

    store.reset()

    assert store.items() == []
    assert store.item_by_ticket("jira", "OPS-1") is None
    assert store.pending_intents() == []
    # No cursor: the next listing is a full one, so every existing ticket is seen and
    # re-adopted by its marker rather than re-created.
    assert store.get_cursor("jira") is None
    assert store.conflicts() == []
    assert store.meta_get("k") is None
    assert store.last_success() == T0  # the run log survives
    store.put_item(item())  # and the store is usable afterwards
    assert store.schema_version == SCHEMA_VERSION


# ----------------------------------------------------------------------------- concurrency


def test_two_connections_stay_consistent(db_path):
    with StateStore.open(db_path) as seed:
        seed.put_item(item("pm-counter"))

    batch = 20
    rounds = 60
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            with StateStore.open(db_path) as s:
                for n in range(rounds):
                    s.record_error("pm-counter", f"{tag}-{n}")
                    s.put_items(
                        item(f"pm-{tag}-{i:02d}", doc={"round": n}, ticket_key=None)
                        for i in range(batch)
                    )
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            with StateStore.open(db_path) as s:
                for _ in range(rounds):
                    for tag in ("a", "b"):
                        rows = s.items()
                        rounds_seen = Counter(
                            r.doc["round"] for r in rows if r.item_id.startswith(f"pm-{tag}-")
                        )
                        # a batch is one transaction: never half of one round visible
                        assert len(rounds_seen) <= 1, rounds_seen
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in ("a", "b")]
    threads.append(threading.Thread(target=reader))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors

    with StateStore.open(db_path) as s:
        counter = s.get_item("pm-counter")
        assert counter is not None and counter.attempts == 2 * rounds  # no lost increment
        assert len(s.items()) == 1 + 2 * batch
        assert {r.doc["round"] for r in s.items() if r.item_id != "pm-counter"} == {rounds - 1}


def test_one_store_shared_between_threads(store):
    store.put_item(item("pm-shared"))

    def bump() -> None:
        for _ in range(50):
            store.record_error("pm-shared", "x")
            store.items()

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    rec = store.get_item("pm-shared")
    assert rec is not None and rec.attempts == 200


# ----------------------------------------------------------------------------- crash safety

CRASH_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from syncd.sync.state import ItemRecord, StateStore

    BATCH = 40
    store = StateStore.open(sys.argv[1])
    n = 0
    while True:
        now = datetime.now(UTC)
        ids = [f"pm-{i:03d}" for i in range(BATCH)]
        store.record_intents("jira", ids, {"round": n})
        store.put_items(
            ItemRecord(i, "jira", "x.md", None, {"round": n, "pad": "x" * 2000}, {}, now)
            for i in ids
        )
        for i in ids[:5]:
            store.resolve_intent(i, f"OPS-{n}")
        store.record_run(now, now, True, {"round": n})
        if n == 0:
            print("ready", flush=True)
        n += 1
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_sigkill_mid_write_leaves_a_valid_store(tmp_path, delay):
    path = tmp_path / "state.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(path)],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    with StateStore.open(path) as s:
        assert s._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert s.schema_version == SCHEMA_VERSION
        rows = s.items()
        assert len(rows) == 40
        # every put_items batch landed whole: one round across all items
        assert len({r.doc["round"] for r in rows}) == 1
        # an intent is either pending or resolved into a key, never lost in between
        pending = {i.item_id for i in s.pending_intents()}
        for r in rows[:5]:
            assert (r.item_id in pending) or r.ticket_key is not None
        assert s.last_success() is not None
        s.put_item(item())  # writable after the crash
