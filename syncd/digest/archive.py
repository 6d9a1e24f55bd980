"""The postmortem archive as a search index: "have we seen this before?".

`Archive` keeps, in one SQLite file in the state directory (`archive.db` beside
`state.db`), every document's title, date, tags, contributing-factor sentences, action
items and text, with two inverted indexes: specific factor terms -> documents (for
`similar`) and all terms -> documents with their frequency (BM25, for `search`).

Incremental by content hash: `refresh` stats every document; one whose size and mtime
are unchanged is not read. One whose stat changed is read and hashed, and re-parsed only
when its SHA-256 differs (a `touch` or a checkout costs a hash, not a parse). Removed
documents are dropped. So a run after the first reads the directory tree and the
changed files only. The index is a cache: if it is unreadable, or was built by another
version of the vocabulary (`similarity.ANALYSER_VERSION`) or for another root, it is
rebuilt from the documents, and the caller is told why.

Only documents are read: no tracker, no SMTP, no secrets.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from syncd.common.globs import glob_regex
from syncd.digest import similarity

if TYPE_CHECKING:
    from syncd.documents.options import ParseOptions
    from syncd.model import Postmortem

SCHEMA = 4
CANDIDATES = 60  # documents compared in full for `similar`, best upper bounds first
BM25_K1 = 1.2
BM25_B = 0.75
SNIPPET_CHARS = 180

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha TEXT NOT NULL,
    title TEXT,
    day TEXT,
    tags TEXT NOT NULL,      -- JSON list, lower-case
    factors TEXT NOT NULL,   -- JSON [[sentence, {term: [words]}]]: analysed once
    items TEXT NOT NULL,     -- JSON list of action items
    nf INTEGER NOT NULL,     -- distinct factor sentences, for idf
    length INTEGER NOT NULL  -- terms in the text, for BM25
);
CREATE TABLE IF NOT EXISTS bodies (doc INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fterms (term TEXT NOT NULL, doc INTEGER NOT NULL, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dterms (term TEXT NOT NULL, doc INTEGER NOT NULL, tf INTEGER NOT NULL);
-- factor sentences containing each term, kept with fterms: idf without a scan
CREATE TABLE IF NOT EXISTS fdf (term TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
-- every directory walked, with its mtime when listed: all unchanged means no document
-- was added, removed or renamed, and the stored list can be used without a walk
CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS doc_tags (name TEXT NOT NULL, doc INTEGER NOT NULL);
-- covering indexes: a lookup by term never touches the table rows
CREATE INDEX IF NOT EXISTS fterms_term ON fterms (term, doc, n);
CREATE INDEX IF NOT EXISTS fterms_doc ON fterms (doc);
CREATE INDEX IF NOT EXISTS dterms_term ON dterms (term, doc, tf);
CREATE INDEX IF NOT EXISTS dterms_doc ON dterms (doc);
CREATE INDEX IF NOT EXISTS doc_tags_name ON doc_tags (name, doc);
CREATE INDEX IF NOT EXISTS doc_tags_doc ON doc_tags (doc);
-- docs rows are large (factors, items): the freshness check and BM25's length norm
-- read these narrow indexes instead of the table, ~1 MB instead of ~20 at 10k documents
CREATE INDEX IF NOT EXISTS docs_stat ON docs (path, mtime_ns, size, sha);
CREATE INDEX IF NOT EXISTS docs_length ON docs (id, length);
"""


_DELETE_DOC = (
    "DELETE FROM doc_tags WHERE doc = ?",
    "DELETE FROM docs WHERE id = ?",
    "DELETE FROM bodies WHERE doc = ?",
    "DELETE FROM fterms WHERE doc = ?",
    "DELETE FROM dterms WHERE doc = ?",
)


class ArchiveError(Exception):
    """The index cannot be opened or written (the message says what to do)."""


class Refresh(NamedTuple):
    documents: int
    added: int
    changed: int
    removed: int
    rebuilt: str | None  # why the whole index was rebuilt, if it was

    def describe(self) -> str:
        what = f"{self.documents} documents ({self.added} new, {self.changed} changed,"
        what += f" {self.removed} removed)"
        return f"index rebuilt ({self.rebuilt}): {what}" if self.rebuilt else f"index: {what}"


class OpenItem(NamedTuple):
    action: str
    owner: str | None
    due: str | None
    ticket: str | None
    status: str
    line: int

    def as_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "owner": self.owner,
            "due": self.due,
            "ticket": self.ticket,
            "status": self.status,
            "line": self.line,
        }


class Similar(NamedTuple):
    path: str
    title: str | None
    date: str | None
    comparison: similarity.Comparison
    open_items: tuple[OpenItem, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "title": self.title,
            "date": self.date,
            "score": self.comparison.score,
            "factors": [m.as_json() for m in self.comparison.factors],
            "components": [
                {"name": n, "sentence": a, "other": b} for n, a, b in self.comparison.components
            ],
            "open_action_items": [i.as_json() for i in self.open_items],
        }


class Hit(NamedTuple):
    path: str
    title: str | None
    date: str | None
    score: float
    line: int
    snippet: str

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "title": self.title,
            "date": self.date,
            "score": self.score,
            "line": self.line,
            "snippet": self.snippet,
        }


class Subject(NamedTuple):
    """The document `similar` looks from: parsed now, or taken from the index."""

    path: str | None  # relative to the root when it is in the archive
    title: str | None
    day: str | None
    tags: tuple[str, ...]
    factors: tuple[similarity.Terms, ...]


def subject_of(doc: Postmortem, rel: str | None) -> Subject:
    return Subject(
        rel,
        doc.title,
        doc.date.isoformat() if doc.date else None,
        tuple(t.lower() for t in doc.tags),
        tuple(similarity.terms(s) for s in similarity.sentences_of(doc.contributing_factors)),
    )


def _dump_terms(factors: Sequence[similarity.Terms]) -> str:
    return json.dumps(
        [[t.text, {k: list(v) for k, v in t.surface.items()}, sorted(t.weak)] for t in factors]
    )


def _load_terms(raw: str) -> tuple[similarity.Terms, ...]:
    return tuple(
        similarity.Terms(text, {k: tuple(v) for k, v in surface.items()}, frozenset(weak))
        for text, surface, weak in json.loads(raw)
    )


def _walk(
    root: Path, include: Sequence[str], exclude: Sequence[str], dirs: dict[str, int]
) -> Iterator[os.DirEntry[str]]:
    """Documents under `root` (the same selection as `documents.discover`: globs on the
    path relative to the root, no hidden directories, no symlinks), as directory entries
    so their stat is one call."""
    # one alternation per side: two regex calls per file instead of one per pattern
    inc = re.compile("|".join(f"(?:{glob_regex(p).pattern})" for p in include) or "(?!)")
    exc = re.compile("|".join(f"(?:{glob_regex(p).pattern})" for p in exclude) or "(?!)")
    stack = [(str(root), "")]
    while stack:
        top, prefix = stack.pop()
        try:
            # stat before listing: an entry added meanwhile leaves a newer mtime behind,
            # which the next run notices
            dirs[prefix] = os.stat(top).st_mtime_ns
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if not entry.name.startswith("."):
                    stack.append((entry.path, rel + "/"))
            elif inc.fullmatch(rel) and not exc.fullmatch(rel):
                yield entry


def _stat_key(entry: os.DirEntry[str]) -> tuple[int, int] | None:
    try:
        st = entry.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _rel(entry: os.DirEntry[str], root: str) -> str:
    return entry.path[len(root) :].lstrip(os.sep).replace(os.sep, "/")


# `[docs] action_sections`, `ignore_sections` and `date_order` as the config spells them.
# Kept raw until a document must be parsed: building the parser's options imports the
# parser (about 70 ms), and a lookup in an unchanged archive never needs it.
ParseSettings = tuple[tuple[str, ...], tuple[str, ...], str]
DEFAULT_PARSE: ParseSettings = ((), (), "mdy")


class Archive:
    def __init__(
        self,
        conn: sqlite3.Connection,
        root: Path,
        rebuilt: str | None,
        parse: ParseSettings = DEFAULT_PARSE,
    ) -> None:
        self._db = conn
        self.root = root
        self._rebuilt = rebuilt
        self._stems_learnt = False
        self._parse = parse
        self._options: ParseOptions | None = None

    def parse_options(self) -> ParseOptions:
        """The parser's options for this archive's documents (the config's [docs])."""
        if self._options is None:
            # start-up: the parser's modules only when a document is parsed
            from syncd.documents.options import ParseOptions
            from syncd.documents.sections import SectionRules

            action, ignore, order = self._parse
            try:
                self._options = ParseOptions(SectionRules(action, ignore, "config"), order)
            except ValueError as exc:
                raise ArchiveError(f"[docs] {exc}") from None
        return self._options

    @classmethod
    def open(cls, root: Path, db_path: Path, parse: ParseSettings = DEFAULT_PARSE) -> Archive:
        if not root.is_dir():
            raise ArchiveError(f"docs root {root} is not a directory")
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(
                f"cannot create the state directory {db_path.parent}: {exc}"
            ) from None
        root_key = str(root.resolve())
        rebuilt: str | None = None
        try:
            conn = cls._connect(db_path)
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            rebuilt = f"the index was unreadable: {exc}"
            cls._remove(db_path)
            conn = cls._connect(db_path)
            meta = {}
        wanted = {
            "schema": str(SCHEMA),
            "analyser": similarity.ANALYSER_VERSION,
            "root": root_key,
            "parse": json.dumps(parse),  # documents read with other settings: re-read
        }
        if meta and {k: meta.get(k) for k in wanted} != wanted:
            if meta.get("root") != root_key:
                why = "it was built for another docs root"
            elif meta.get("schema") != wanted["schema"]:
                why = "it was built by another version of syncd"
            elif meta.get("parse") != wanted["parse"]:
                why = "the [docs] parse settings changed"
            else:
                why = "the vocabulary changed"
            rebuilt = rebuilt or why
            conn.close()
            cls._remove(db_path)
            conn = cls._connect(db_path)
        if not meta or rebuilt:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", wanted.items())
        return cls(conn, root, rebuilt, parse)

    @staticmethod
    def _connect(db_path: Path) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA_SQL)
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise ArchiveError(f"cannot open the index {db_path}: {exc}") from None
            raise
        return conn

    @staticmethod
    def _remove(db_path: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ refresh

    def refresh(self, include: Sequence[str], exclude: Sequence[str] = ()) -> Refresh:
        """Bring the index in line with the documents (see the module docstring)."""
        db = self._db
        globs = json.dumps([list(include), list(exclude)])
        if self._quick_unchanged(globs):
            (count,) = db.execute("SELECT COUNT(*) FROM docs").fetchone()
            return Refresh(count, 0, 0, 0, self._rebuilt)
        root = str(self.root)
        dirs: dict[str, int] = {}
        seen: dict[str, os.DirEntry[str]] = {
            _rel(e, root): e for e in _walk(self.root, include, exclude, dirs)
        }
        db.execute("BEGIN IMMEDIATE")  # a second run waits instead of indexing twice
        try:
            stored = {
                path: (doc_id, mtime, size, sha)
                for doc_id, path, mtime, size, sha in db.execute(
                    "SELECT id, path, mtime_ns, size, sha FROM docs INDEXED BY docs_stat"
                )
            }
            added = changed = 0
            for rel, entry in seen.items():
                try:
                    st = entry.stat()
                except OSError:
                    continue
                old = stored.get(rel)
                if old is not None and (old[1], old[2]) == (st.st_mtime_ns, st.st_size):
                    continue
                try:
                    raw = Path(entry.path).read_bytes()
                except OSError:
                    continue
                # start-up: hashlib (OpenSSL) only when a document's stat changed
                from hashlib import sha256

                sha = sha256(raw).hexdigest()
                if old is not None and old[3] == sha:
                    db.execute(
                        "UPDATE docs SET mtime_ns = ?, size = ? WHERE id = ?",
                        (st.st_mtime_ns, st.st_size, old[0]),
                    )
                    continue
                self.learn_stems()  # before the first parse: most words are known
                if old is not None:
                    self._delete(old[0])
                    changed += 1
                else:
                    added += 1
                self._insert(rel, Path(entry.path), st.st_mtime_ns, st.st_size, sha)
            gone = [v[0] for path, v in stored.items() if path not in seen]
            for doc_id in gone:
                self._delete(doc_id)
            db.execute("DELETE FROM dirs")
            db.executemany("INSERT INTO dirs VALUES (?, ?)", dirs.items())
            totals = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(nf), 0), COALESCE(SUM(length), 0) FROM docs"
            ).fetchone()
            meta = [("globs", globs), ("totals", json.dumps(totals))]
            if added or changed:
                stems = json.dumps(similarity.known_stems(), separators=(",", ":"))
                meta.append(("stems", stems))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Refresh(len(seen), added, changed, len(gone), self._rebuilt)

    def _quick_unchanged(self, globs: str) -> bool:
        """True when no document was added, removed, renamed or written since the last
        refresh: same globs, every walked directory's mtime and every document's stat
        as recorded. Costs one stat per directory and per document, no listing."""
        db = self._db
        row = db.execute("SELECT value FROM meta WHERE key = 'globs'").fetchone()
        if row is None or row[0] != globs:
            return False
        # The loop below is the whole cost of a lookup's freshness check at 10,000
        # documents: one stat each, with no per-path join or attribute lookups.
        root = os.path.join(str(self.root), "")
        stat = os.stat
        try:
            for rel, mtime in db.execute("SELECT path, mtime_ns FROM dirs"):
                if stat(root + rel).st_mtime_ns != mtime:
                    return False
            for rel, mtime, size in db.execute(
                "SELECT path, mtime_ns, size FROM docs INDEXED BY docs_stat"
            ):
                st = stat(root + rel)
                if st.st_mtime_ns != mtime or st.st_size != size:
                    return False
        except OSError:
            return False
        return True

    def learn_stems(self) -> None:
        """Hand `similarity` the stems this index was built with: analysing a query or a
        draft then loads the stemmer only for a word the archive does not contain."""
        if self._stems_learnt:
            return
        self._stems_learnt = True
        row = self._db.execute("SELECT value FROM meta WHERE key = 'stems'").fetchone()
        if row is not None:
            similarity.learn_stems(json.loads(row[0]))

    def _totals(self) -> tuple[int, int, int]:
        """(documents, factor sentences, text terms), kept by `refresh`."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'totals'").fetchone()
        if row is None:
            return (0, 0, 0)
        docs, sentences, length = json.loads(row[0])
        return int(docs), int(sentences), int(length)

    def _delete(self, doc_id: int) -> None:
        self._db.execute(
            "UPDATE fdf SET n = n -"
            " (SELECT f.n FROM fterms f WHERE f.doc = ? AND f.term = fdf.term)"
            " WHERE term IN (SELECT term FROM fterms WHERE doc = ?)",
            (doc_id, doc_id),
        )
        for statement in _DELETE_DOC:
            self._db.execute(statement, (doc_id,))

    def _insert(self, rel: str, path: Path, mtime_ns: int, size: int, sha: str) -> None:
        # start-up: the Markdown parser only when a document changed since the last run
        from syncd.documents.parser import parse_file

        doc, text = parse_file(path, options=self.parse_options())
        text = text or ""
        factors = [similarity.terms(s) for s in similarity.sentences_of(doc.contributing_factors)]
        items = [
            {
                "action": i.action,
                "owner": i.owner,
                "due": i.due.isoformat() if i.due else None,
                "ticket": i.ticket,
                "status": i.status.value,
                "line": i.line,
            }
            for i in doc.action_items
        ]
        body_terms = Counter(t for line in text.splitlines() for t in similarity.analyse(line).set)
        cur = self._db.execute(
            "INSERT INTO docs (path, mtime_ns, size, sha, title, day, tags, factors, items,"
            " nf, length) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rel,
                mtime_ns,
                size,
                sha,
                doc.title,
                doc.date.isoformat() if doc.date else None,
                json.dumps([t.lower() for t in doc.tags]),
                _dump_terms(factors),
                json.dumps(items),
                len(factors),
                sum(body_terms.values()),
            ),
        )
        doc_id = cur.lastrowid
        self._db.execute("INSERT INTO bodies VALUES (?, ?)", (doc_id, text))
        self._db.executemany(
            "INSERT INTO doc_tags VALUES (?, ?)",
            [(t, doc_id) for t in dict.fromkeys(t.lower() for t in doc.tags)],
        )
        factor_terms: Counter[str] = Counter()
        for f in factors:
            factor_terms.update(f.set)
        self._db.executemany(
            "INSERT INTO fterms VALUES (?, ?, ?)", [(t, doc_id, n) for t, n in factor_terms.items()]
        )
        self._db.executemany(
            "INSERT INTO fdf VALUES (?, ?) ON CONFLICT (term) DO UPDATE SET n = n + excluded.n",
            list(factor_terms.items()),
        )
        self._db.executemany(
            "INSERT INTO dterms VALUES (?, ?, ?)", [(t, doc_id, n) for t, n in body_terms.items()]
        )

    # ------------------------------------------------------------------ lookups

    def subject(self, rel: str) -> Subject | None:
        row = self._db.execute(
            "SELECT title, day, tags, factors FROM docs WHERE path = ?", (rel,)
        ).fetchone()
        if row is None:
            return None
        return Subject(rel, row[0], row[1], tuple(json.loads(row[2])), _load_terms(row[3]))

    def _known(self) -> frozenset[str]:
        return frozenset(name for (name,) in self._db.execute("SELECT DISTINCT name FROM doc_tags"))

    def _factor_idf(self, wanted: set[str]) -> similarity.Idf:
        n = self._totals()[1]
        df = dict(self._in("SELECT term, n FROM fdf WHERE term IN ({})", wanted))
        return similarity.Idf(df, int(n))

    def _in(self, sql: str, values: set[str] | list[str]) -> list[Any]:
        out: list[Any] = []
        values = list(values)
        for k in range(0, len(values), 500):  # SQLite's variable limit
            chunk = values[k : k + 500]
            out.extend(self._db.execute(sql.format(",".join("?" * len(chunk))), chunk))
        return out

    def similar(self, subject: Subject, top: int = 5) -> list[Similar]:
        """The past incidents that share a contributing factor with `subject`, best first
        (best factor score, then how many factors match, then most recent)."""
        known = self._known() | frozenset(subject.tags)
        me = similarity.stored_profile(subject.path or "(new)", subject.factors, known)
        specific = {t for f in me.factors for t in f.specific}
        if not specific:
            return []
        idf = self._factor_idf(specific)
        # Candidates: documents sharing >= MIN_SHARED specific factor terms, heaviest
        # shared terms first (an upper bound of the score); only the best CANDIDATES get
        # the full comparison (in a busy archive thousands share a common word). SQLite
        # does the counting: far faster than walking the postings in Python.
        values = ",".join("(?, ?)" for _t in specific)
        params: list[Any] = [x for t in sorted(specific) for x in (t, idf(t))]
        # The ranking reads only the (covering) term index; document rows, which are
        # large, are read for the few best, and later or same documents dropped then.
        params += [similarity.MIN_SHARED, CANDIDATES * 4]
        ranked = self._db.execute(
            f"WITH q(term, w) AS (VALUES {values})"  # noqa: S608  # nosec B608 - only "(?, ?)"
            " SELECT f.doc FROM fterms f JOIN q ON q.term = f.term"
            " GROUP BY f.doc HAVING COUNT(*) >= ? ORDER BY SUM(q.w) DESC, f.doc DESC LIMIT ?",
            params,
        ).fetchall()
        order = {doc_id: n for n, (doc_id,) in enumerate(ranked)}
        rows = self._in(
            "SELECT id, path, title, day, factors, items FROM docs WHERE id IN ({})",
            [str(d) for d in order],
        )
        candidates = sorted(
            (
                r
                for r in rows
                if r[1] != subject.path
                and (subject.day is None or r[3] is None or r[3] <= subject.day)
            ),
            key=lambda r: order[r[0]],
        )[:CANDIDATES]
        profiles = {
            r[0]: similarity.stored_profile(r[1], _load_terms(r[4]), known) for r in candidates
        }
        every = set().union(*(f.set for f in me.factors))
        for p in profiles.values():
            for f in p.factors:
                every |= f.set
        idf = self._factor_idf(every)
        found = []
        for r in candidates:
            c = similarity.compare(me, profiles[r[0]], idf)
            if c.related:
                items = tuple(
                    OpenItem(i["action"], i["owner"], i["due"], i["ticket"], i["status"], i["line"])
                    for i in json.loads(r[5])
                    if i["status"] not in ("done", "wont_do")
                )
                found.append(Similar(r[1], r[2], r[3], c, items))
        found.sort(
            key=lambda s: (
                -s.comparison.score,
                -len(s.comparison.factors),
                _neg_day(s.date),
                s.path,
            )
        )
        return found[:top]

    def search(self, query: str, top: int = 10) -> list[Hit]:
        """BM25 over the documents' text; each hit with the line that matches best."""
        self.learn_stems()
        analysed = similarity.analyse(query)
        wanted = sorted(analysed.set)
        if not wanted:
            return []
        n_docs, _sentences, total = self._totals()
        if not n_docs:
            return []
        avg = total / n_docs
        df = dict(
            self._in("SELECT term, COUNT(*) FROM dterms WHERE term IN ({}) GROUP BY term", wanted)
        )
        idf = {t: math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        if not idf:
            return []
        # BM25 summed by SQLite: thousands of postings for a common word stay in C.
        values = ",".join("(?, ?)" for _t in idf)
        params: list[Any] = [x for t, w in sorted(idf.items()) for x in (t, w)]
        best = self._db.execute(
            f"WITH q(term, w) AS (VALUES {values})"  # noqa: S608  # nosec B608 - only "(?, ?)"
            " SELECT t.doc, SUM(q.w * t.tf * (? + 1) / (t.tf + ? * (1 - ? + ? * d.length / ?)))"
            " AS s FROM dterms t JOIN q ON q.term = t.term"
            " JOIN docs d INDEXED BY docs_length ON d.id = t.doc"
            " GROUP BY t.doc ORDER BY s DESC, t.doc LIMIT ?",
            [*params, BM25_K1, BM25_K1, BM25_B, BM25_B, avg, top],
        ).fetchall()
        out = []
        for doc_id, score in best:
            path, title, day = self._db.execute(
                "SELECT path, title, day FROM docs WHERE id = ?", (doc_id,)
            ).fetchone()
            (text,) = self._db.execute(
                "SELECT text FROM bodies WHERE doc = ?", (doc_id,)
            ).fetchone()
            line, snippet = _snippet(text, idf, analysed)
            out.append(Hit(path, title, day, round(score, 3), line, snippet))
        return out


def _neg_day(day: str | None) -> int:
    return -date.fromisoformat(day).toordinal() if day else 0


_MARKUP = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#+|\|)?\s*(?:\[[ xX]\]\s*)?")


def _snippet(text: str, idf: dict[str, float], query: similarity.Terms) -> tuple[int, str]:
    """(line number, text) of the line that holds the heaviest query terms.

    A term counts as present when the line contains the first four letters of the term
    or of a query word that produced it: stems are prefixes of their words (almost
    always), and this needs no stemming of the document, which keeps `search` fast.
    """
    probes = {t: {t[:4], *(w[:4] for w in query.surface.get(t, ()))} for t in idf if len(t) >= 2}
    best: tuple[float, int, str] = (0.0, 0, "")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("# "):
            continue  # the title is printed anyway
        lowered = line.lower()
        weight = sum(idf[t] for t, ps in probes.items() if any(p in lowered for p in ps))
        if weight > best[0]:
            best = (weight, n, line)
    _w, n, line = best
    shown = _MARKUP.sub("", line).strip()
    if len(shown) > SNIPPET_CHARS:
        shown = shown[: SNIPPET_CHARS - 1].rstrip() + "…"
    return n, shown
