"""The local state store: what was last synced, what is being created, where listings stopped.

One SQLite file in WAL mode. Every public write is a single `BEGIN IMMEDIATE … COMMIT`,
committed before the method returns, because the daemon may be SIGKILLed at any moment
and a half-applied sync step must never be visible after a restart. `synchronous=FULL`
makes a commit survive power loss too: losing the key of a just-created ticket is how
duplicates are born (the marker lookup is the second line of defence, not the first).

The schema is versioned with `PRAGMA user_version`; `MIGRATIONS[i]` upgrades version i to
i+1 inside the same transaction that bumps the version, so a crash mid-migration leaves
the previous version intact. To change the schema, append one function to `MIGRATIONS`.

Datetimes are stored as fixed-width UTC ISO strings, so SQL string comparison is
chronological; naive datetimes are refused rather than guessed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from syncd.sync.snapshots import DocSnapshot, TicketSnapshot

MEMORY = ":memory:"
BUSY_TIMEOUT_MS = 10_000
RUN_LOG_KEEP = 5_000  # newest runs kept; the latest success is always kept as well
# Webhook delivery ids kept for de-duplication: trackers redeliver within hours, so a
# week is ample; the row cap bounds the file under a flood of distinct ids.
DELIVERIES_KEEP = timedelta(days=7)
DELIVERIES_MAX_ROWS = 100_000


class StateError(Exception):
    """The state file cannot be used (not a database, or written by a newer version)."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ItemRecord:
    """What was last synced for one action item, keyed by its stable marker."""

    item_id: str
    tracker: str
    doc_path: str
    ticket_key: str | None = None
    doc: DocSnapshot = field(default_factory=lambda: DocSnapshot())
    ticket: TicketSnapshot = field(default_factory=lambda: TicketSnapshot())
    synced_at: datetime | None = None
    error: str | None = None  # the last failure; set while the item is due (not converged)
    attempts: int = 0  # failed attempts in a row, across runs (backoff, `syncd status`)
    # Not retried before this: set after a refusal that will not heal by itself (a
    # missing transition, a rejected field), growing with `attempts`; None: every run
    # retries (transient trouble: 5xx, timeouts, unknown outcomes, rate limits).
    retry_at: datetime | None = None

    @property
    def failing(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class Intent:
    """A create that was about to be sent: until resolved, look up by marker first."""

    item_id: str
    tracker: str
    created_at: datetime
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class Conflict:
    item_id: str
    field: str
    doc_value: Any  # JSON-decoded (dates come back as date objects)
    ticket_value: Any
    winner: str
    at: datetime


@dataclass(frozen=True)
class Lease:
    """Who may write right now (see `StateStore.acquire_lease`)."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RunRecord:
    started: datetime
    finished: datetime
    ok: bool
    summary: dict[str, Any]


# --------------------------------------------------------------------------- encoding


def _ts(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: state timestamps must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _from_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _from_optional_ts(text: str | None) -> datetime | None:
    return _from_ts(text) if text is not None else None


def _now() -> datetime:
    return datetime.now(UTC)


# Snapshots hold dates and datetimes; tagging them keeps a stored snapshot equal to the
# one that was put, so the planner never sees a spurious "due changed" after a restart.
def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in state")


def _json_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$datetime" in obj:
            return datetime.fromisoformat(obj["$datetime"])
        if "$date" in obj:
            return date.fromisoformat(obj["$date"])
    return obj


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True, separators=(",", ":"))


def _loads(text: str | None) -> Any:
    return json.loads(text, object_hook=_json_hook) if text is not None else None


# --------------------------------------------------------------------------- migrations


def _migration_1_initial(db: sqlite3.Connection) -> None:
    statements = [
        """CREATE TABLE items (
            item_id    TEXT PRIMARY KEY,
            tracker    TEXT NOT NULL,
            doc_path   TEXT NOT NULL,
            ticket_key TEXT,
            doc        TEXT NOT NULL DEFAULT '{}',
            ticket     TEXT NOT NULL DEFAULT '{}',
            synced_at  TEXT,
            error      TEXT,
            attempts   INTEGER NOT NULL DEFAULT 0
        )""",
        # Not UNIQUE: a doc may (wrongly) cite one ticket on two rows, and storing that
        # must not crash a sync; the planner reports it instead.
        "CREATE INDEX items_by_ticket ON items (tracker, ticket_key)",
        "CREATE INDEX items_by_tracker ON items (tracker)",
        """CREATE TABLE intents (
            item_id    TEXT PRIMARY KEY,
            tracker    TEXT NOT NULL,
            created_at TEXT NOT NULL,
            payload    TEXT
        )""",
        """CREATE TABLE cursors (
            tracker TEXT PRIMARY KEY,
            at      TEXT NOT NULL
        )""",
        # Values are JSON text, never NULL, so the UNIQUE constraint de-duplicates None too
        # (SQLite treats NULLs as distinct in UNIQUE).
        """CREATE TABLE conflicts (
            id           INTEGER PRIMARY KEY,
            item_id      TEXT NOT NULL,
            field        TEXT NOT NULL,
            doc_value    TEXT NOT NULL,
            ticket_value TEXT NOT NULL,
            winner       TEXT NOT NULL,
            at           TEXT NOT NULL,
            UNIQUE (item_id, field, doc_value, ticket_value)
        )""",
        "CREATE INDEX conflicts_by_time ON conflicts (at)",
        """CREATE TABLE runs (
            id       INTEGER PRIMARY KEY,
            started  TEXT NOT NULL,
            finished TEXT NOT NULL,
            ok       INTEGER NOT NULL,
            summary  TEXT NOT NULL
        )""",
        """CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    ]
    for statement in statements:
        db.execute(statement)


def _migration_2_leases_and_deliveries(db: sqlite3.Connection) -> None:
    statements = [
        # One row per lease name ("sync"): who may write docs, tickets and state now.
        # A holder that dies simply stops renewing; `expires_at` frees the row for the
        # next acquirer, so a crash never needs a human to unlock anything.
        """CREATE TABLE leases (
            name        TEXT PRIMARY KEY,
            holder      TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            expires_at  TEXT NOT NULL
        )""",
        # Webhook delivery ids already acted on, so a redelivery or a replay is ignored.
        # Bounded by age and row count (see `record_delivery`); the rowid is the
        # insertion order the row cap trims by.
        """CREATE TABLE webhook_deliveries (
            tracker     TEXT NOT NULL,
            delivery_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (tracker, delivery_id)
        )""",
        "CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (received_at)",
    ]
    for statement in statements:
        db.execute(statement)


def _migration_3_retry_at(db: sqlite3.Connection) -> None:
    # When a failing item is next retried: the backoff across runs.
    db.execute("ALTER TABLE items ADD COLUMN retry_at TEXT")


# Append new migrations here; never edit a shipped one.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (
    _migration_1_initial,
    _migration_2_leases_and_deliveries,
    _migration_3_retry_at,
)
SCHEMA_VERSION = len(MIGRATIONS)

_SELECT_ITEMS = (
    "SELECT item_id, tracker, doc_path, ticket_key, doc, ticket, synced_at, error, attempts,"
    " retry_at FROM items"
)

# Tables `reset()` empties: everything derived from docs and trackers, not the run log.
_RESETTABLE = ("items", "intents", "cursors", "conflicts", "meta")


# --------------------------------------------------------------------------- store


class StateStore:
    """SQLite-backed sync state. Safe to share between threads of one process, and
    several processes may open the same file (writes serialise on SQLite's lock)."""

    def __init__(self, db: sqlite3.Connection, path: Path | str) -> None:
        self._db = db
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path | str) -> StateStore:
        """Open (creating parent directories and the schema as needed) and migrate."""
        in_memory = str(path) == MEMORY
        if not in_memory:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(
                str(path),
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state file {path}: {exc}") from exc
        db.row_factory = sqlite3.Row
        store = cls(db, MEMORY if in_memory else path)
        try:
            store._configure(in_memory)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StateError(f"{path} is not a usable state file: {exc}") from exc
        except BaseException:
            db.close()
            raise
        return store

    def _configure(self, in_memory: bool) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._db.execute("PRAGMA foreign_keys = ON")
        if not in_memory:
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(f"cannot switch {self.path} to WAL mode (got {mode})")
        self._db.execute("PRAGMA synchronous = FULL")

    def _migrate(self) -> None:
        target = len(MIGRATIONS)
        while (version := self.schema_version) < target:
            with self._tx() as db:
                # Re-read under the write lock: another process may have migrated while
                # we waited for it, and running a migration twice would fail.
                current = db.execute("PRAGMA user_version").fetchone()[0]
                if current != version:
                    continue
                MIGRATIONS[current](db)
                db.execute(f"PRAGMA user_version = {current + 1}")
        if self.schema_version > target:
            raise StateError(
                f"{self.path} has schema version {self.schema_version}, newer than this "
                f"program understands ({target}); upgrade postmortem-syncd"
            )

    @property
    def schema_version(self) -> int:
        with self._lock:
            version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
            return version

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on exit, rolled back on any exception.

        IMMEDIATE takes the write lock up front, so two connections never both read
        inside a transaction and then deadlock trying to upgrade to write.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ items

    def get_item(self, item_id: str) -> ItemRecord | None:
        rows = self._query(_SELECT_ITEMS + " WHERE item_id = ?", (item_id,))
        return _item(rows[0]) if rows else None

    def items(self, tracker: str | None = None) -> list[ItemRecord]:
        if tracker is None:
            rows = self._query(_SELECT_ITEMS + " ORDER BY item_id")
        else:
            rows = self._query(
                _SELECT_ITEMS + " WHERE tracker = ? ORDER BY item_id",
                (tracker,),
            )
        return [_item(row) for row in rows]

    def item_by_ticket(self, tracker: str, key: str) -> ItemRecord | None:
        """The item synced with ticket `key` (the first by item_id if a doc cites it twice)."""
        rows = self._query(
            _SELECT_ITEMS + " WHERE tracker = ? AND ticket_key = ? ORDER BY item_id LIMIT 1",
            (tracker, key),
        )
        return _item(rows[0]) if rows else None

    def put_item(self, rec: ItemRecord) -> None:
        self.put_items([rec])

    def put_items(self, recs: Iterable[ItemRecord]) -> None:
        """Upsert every record in one transaction: all of them land, or none."""
        rows = [_item_row(rec) for rec in recs]  # encode first: a bad value aborts nothing
        with self._tx() as db:
            db.executemany(
                "INSERT INTO items (item_id, tracker, doc_path, ticket_key, doc, ticket,"
                " synced_at, error, attempts, retry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (item_id) DO UPDATE SET tracker = excluded.tracker,"
                " doc_path = excluded.doc_path, ticket_key = excluded.ticket_key,"
                " doc = excluded.doc, ticket = excluded.ticket, synced_at = excluded.synced_at,"
                " error = excluded.error, attempts = excluded.attempts,"
                " retry_at = excluded.retry_at",
                rows,
            )

    def delete_item(self, item_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM items WHERE item_id = ?", (item_id,))

    def record_error(self, item_id: str, message: str) -> int:
        """Store the latest error of an item and count the attempt; returns the count.

        Raises KeyError for an unknown item: put it first (with its tracker and doc),
        so a failure is never recorded against nothing and silently lost.
        """
        with self._tx() as db:
            # fetchall: a RETURNING statement must be drained before COMMIT.
            rows = db.execute(
                "UPDATE items SET error = ?, attempts = attempts + 1 WHERE item_id = ?"
                " RETURNING attempts",
                (message, item_id),
            ).fetchall()
        if not rows:
            raise KeyError(item_id)
        attempts: int = rows[0][0]
        return attempts

    # ------------------------------------------------------------------ intents

    def record_intents(
        self,
        tracker: str,
        item_ids: Sequence[str],
        payload: dict[str, Any] | None = None,
        *,
        at: datetime | None = None,
        payloads: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """Note that creates are about to be sent for `item_ids` (one transaction).

        Call before sending. A `payload["doc_path"]` is used if the item has no record
        yet when the intent is resolved.
        """
        created = _ts(at or _now())
        encoded = _dumps(payload) if payload is not None else None
        per_item = payloads or {}
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO intents (item_id, tracker, created_at, payload)"
                " VALUES (?, ?, ?, ?)",
                [
                    (
                        item_id,
                        tracker,
                        created,
                        _dumps(per_item[item_id]) if item_id in per_item else encoded,
                    )
                    for item_id in item_ids
                ],
            )

    def resolve_intent(self, item_id: str, ticket_key: str | None) -> None:
        """Close an intent; with `ticket_key`, store the key on the item atomically.

        The key and the intent's removal commit together: after a crash there is either
        a pending intent (look up by marker) or a stored key, never neither.
        """
        self.resolve_intents([(item_id, ticket_key)])

    def resolve_intents(self, resolved: Sequence[tuple[str, str | None]]) -> None:
        """`resolve_intent` for a whole bulk create, in one transaction."""
        with self._tx() as db:
            for item_id, ticket_key in resolved:
                intent = db.execute(
                    "SELECT tracker, payload FROM intents WHERE item_id = ?", (item_id,)
                ).fetchone()
                db.execute("DELETE FROM intents WHERE item_id = ?", (item_id,))
                if ticket_key is not None:
                    _store_key(db, item_id, ticket_key, intent)

    def pending_intents(self, tracker: str | None = None) -> list[Intent]:
        sql = "SELECT item_id, tracker, created_at, payload FROM intents"
        params: tuple[str, ...] = ()
        if tracker is not None:
            sql += " WHERE tracker = ?"
            params = (tracker,)
        rows = self._query(sql + " ORDER BY created_at, item_id", params)
        return [
            Intent(
                item_id=row["item_id"],
                tracker=row["tracker"],
                created_at=_from_ts(row["created_at"]),
                payload=_loads(row["payload"]),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ cursors

    def get_cursor(self, tracker: str) -> datetime | None:
        rows = self._query("SELECT at FROM cursors WHERE tracker = ?", (tracker,))
        return _from_ts(rows[0]["at"]) if rows else None

    def set_cursor(self, tracker: str, at: datetime) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cursors (tracker, at) VALUES (?, ?)"
                " ON CONFLICT (tracker) DO UPDATE SET at = excluded.at",
                (tracker, _ts(at)),
            )

    # ------------------------------------------------------------------ conflicts

    def record_conflict(
        self,
        item_id: str,
        field: str,
        doc_value: Any,
        ticket_value: Any,
        winner: str,
        at: datetime | None = None,
    ) -> bool:
        """Record a both-sides-changed conflict once; True if it was new.

        The same item, field and pair of values is one conflict however many runs see
        it, so the digest does not report a standing disagreement every five minutes.
        """
        with self._tx() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO conflicts"
                " (item_id, field, doc_value, ticket_value, winner, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    item_id,
                    field,
                    _dumps(doc_value),
                    _dumps(ticket_value),
                    winner,
                    _ts(at or _now()),
                ),
            )
            return cursor.rowcount == 1

    def conflicts(self, since: datetime | None = None) -> list[Conflict]:
        sql = "SELECT item_id, field, doc_value, ticket_value, winner, at FROM conflicts"
        params: tuple[str, ...] = ()
        if since is not None:
            sql += " WHERE at >= ?"
            params = (_ts(since),)
        rows = self._query(sql + " ORDER BY at, id", params)
        return [
            Conflict(
                item_id=row["item_id"],
                field=row["field"],
                doc_value=_loads(row["doc_value"]),
                ticket_value=_loads(row["ticket_value"]),
                winner=row["winner"],
                at=_from_ts(row["at"]),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ run log

    def record_run(
        self, started: datetime, finished: datetime, ok: bool, summary: dict[str, Any]
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (started, finished, ok, summary) VALUES (?, ?, ?, ?)",
                (_ts(started), _ts(finished), int(ok), _dumps(summary)),
            )
            # Bounded log; the newest success survives so `last_success` stays truthful.
            db.execute(
                "DELETE FROM runs WHERE id <= (SELECT MAX(id) FROM runs) - ?"
                " AND id IS NOT (SELECT MAX(id) FROM runs WHERE ok = 1)",
                (RUN_LOG_KEEP,),
            )

    def last_runs(self, n: int = 10) -> list[RunRecord]:
        """The newest `n` runs, newest first."""
        rows = self._query(
            "SELECT started, finished, ok, summary FROM runs ORDER BY id DESC LIMIT ?", (n,)
        )
        return [
            RunRecord(
                started=_from_ts(row["started"]),
                finished=_from_ts(row["finished"]),
                ok=bool(row["ok"]),
                summary=_loads(row["summary"]),
            )
            for row in rows
        ]

    def last_success(self) -> datetime | None:
        rows = self._query("SELECT MAX(finished) AS at FROM runs WHERE ok = 1")
        return _from_optional_ts(rows[0]["at"])

    # ------------------------------------------------------------------ meta

    def meta_get(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def meta_set(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------ leases

    def acquire_lease(
        self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None
    ) -> tuple[bool, Lease]:
        """Take (or renew) lease `name` for `holder` until now + `ttl`, if it is free,
        expired, or already ours. Returns (acquired, the lease as it now stands).

        One upsert under BEGIN IMMEDIATE: two processes racing for a free lease are
        serialised by SQLite's write lock, and the loser's conditional UPDATE matches
        nothing, so exactly one of them gets it.
        """
        at = now or _now()
        with self._tx() as db:
            db.execute(
                "INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " acquired_at = CASE WHEN leases.holder = excluded.holder"
                " THEN leases.acquired_at ELSE excluded.acquired_at END,"
                " expires_at = excluded.expires_at"
                " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                (name, holder, _ts(at), _ts(at + ttl), _ts(at)),
            )
            row = db.execute(
                "SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = ?",
                (name,),
            ).fetchone()
        lease = _lease(row)
        return lease.holder == holder, lease

    def renew_lease(
        self, name: str, holder: str, ttl: timedelta, *, now: datetime | None = None
    ) -> bool:
        """Extend our lease; False if it is no longer ours (expired and taken over,
        or broken by an operator): the caller must stop writing at once."""
        at = now or _now()
        with self._tx() as db:
            updated = db.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                (_ts(at + ttl), name, holder),
            ).rowcount
        return updated == 1

    def release_lease(self, name: str, holder: str | None = None) -> bool:
        """Give the lease up (only if `holder` holds it; any holder when None: the
        operator's "break a stuck lease"). True if a row was removed."""
        with self._tx() as db:
            if holder is None:
                removed = db.execute("DELETE FROM leases WHERE name = ?", (name,)).rowcount
            else:
                removed = db.execute(
                    "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
                ).rowcount
        return removed == 1

    def get_lease(self, name: str) -> Lease | None:
        rows = self._query(
            "SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = ?", (name,)
        )
        return _lease(rows[0]) if rows else None

    # ------------------------------------------------------------------ webhook deliveries

    def record_delivery(
        self,
        tracker: str,
        delivery_id: str,
        *,
        now: datetime | None = None,
        keep: timedelta = DELIVERIES_KEEP,
        max_rows: int = DELIVERIES_MAX_ROWS,
    ) -> bool:
        """Remember a webhook delivery id; False if it was already seen (a replay).

        The table is trimmed in the same transaction, by age and by row count, so a
        flood of distinct ids cannot grow the state file without bound.
        """
        at = now or _now()
        with self._tx() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (tracker, delivery_id, received_at)"
                " VALUES (?, ?, ?)",
                (tracker, delivery_id, _ts(at)),
            ).rowcount
            if inserted:
                db.execute(
                    "DELETE FROM webhook_deliveries WHERE received_at < ?", (_ts(at - keep),)
                )
                db.execute(
                    "DELETE FROM webhook_deliveries"
                    " WHERE rowid <= (SELECT MAX(rowid) FROM webhook_deliveries) - ?",
                    (max_rows,),
                )
        return inserted == 1

    def delivery_count(self) -> int:
        rows = self._query("SELECT COUNT(*) AS n FROM webhook_deliveries")
        count: int = rows[0]["n"]
        return count

    def ping(self) -> None:
        """A cheap read that fails if the state file is unusable (for readiness)."""
        self._query("SELECT 1 FROM meta LIMIT 1")

    # ------------------------------------------------------------------ reset

    def reset(self) -> None:
        """Forget all sync state except the run log, in one transaction.

        Safe because identity lives on the tickets: the next run re-adopts every ticket
        by its marker instead of creating it again. Nothing kept here (only `runs`) can
        make a later run skip that adoption.
        """
        with self._tx() as db:
            for table in _RESETTABLE:
                db.execute(f"DELETE FROM {table}")  # noqa: S608  # nosec B608 - names from a fixed tuple


# --------------------------------------------------------------------------- row mapping


def _lease(row: sqlite3.Row) -> Lease:
    return Lease(
        name=row["name"],
        holder=row["holder"],
        acquired_at=_from_ts(row["acquired_at"]),
        expires_at=_from_ts(row["expires_at"]),
    )


def _item(row: sqlite3.Row) -> ItemRecord:
    return ItemRecord(
        item_id=row["item_id"],
        tracker=row["tracker"],
        doc_path=row["doc_path"],
        ticket_key=row["ticket_key"],
        doc=_loads(row["doc"]),
        ticket=_loads(row["ticket"]),
        synced_at=_from_optional_ts(row["synced_at"]),
        error=row["error"],
        attempts=row["attempts"],
        retry_at=_from_optional_ts(row["retry_at"]),
    )


def _item_row(rec: ItemRecord) -> tuple[Any, ...]:
    return (
        rec.item_id,
        rec.tracker,
        str(rec.doc_path),
        rec.ticket_key,
        _dumps(rec.doc),
        _dumps(rec.ticket),
        _ts(rec.synced_at) if rec.synced_at is not None else None,
        rec.error,
        rec.attempts,
        _ts(rec.retry_at) if rec.retry_at is not None else None,
    )


def _store_key(
    db: sqlite3.Connection, item_id: str, ticket_key: str, intent: tuple[str, str | None] | None
) -> None:
    updated = db.execute(
        "UPDATE items SET ticket_key = ? WHERE item_id = ?", (ticket_key, item_id)
    ).rowcount
    if updated:
        return
    if intent is None:
        raise KeyError(f"{item_id}: no item record and no pending intent to resolve")
    # A brand-new item has no record until the run finishes; keep the key anyway so a
    # crash before then cannot lose it.
    tracker, payload = intent
    doc_path = (_loads(payload) or {}).get("doc_path", "")
    db.execute(
        "INSERT INTO items (item_id, tracker, doc_path, ticket_key) VALUES (?, ?, ?, ?)",
        (item_id, tracker, str(doc_path), ticket_key),
    )
