"""Doc write-back: patch the cells the tool owns, commit, push.

An edit counts as landed only when its doc was written and its commit kept; `land`
drops from the run's batch the records of items whose edit did not land, so they keep
their old snapshot and the next run plans the same writes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from syncd.config import Settings
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_file, parse_text
from syncd.documents.patch import Edit, PatchError, apply_edits, write_atomic
from syncd.sync import gitops
from syncd.sync.identity import SIMILAR, identity, similarity
from syncd.sync.lease import holder_is_dead
from syncd.sync.notes import NoteKind, RunNote
from syncd.sync.planner import DocSide
from syncd.sync.prmode import PullRequestMode
from syncd.sync.run import LoadedDoc, RunObserver, RunResult, SilentObserver
from syncd.sync.snapshots import DocSnapshot
from syncd.sync.state import ItemRecord, StateStore

GIT_HOLDER = "git_operation_holder"  # state meta: host:pid of a git command in flight
# state meta: {doc path: sha256 of the bytes the tool wrote} for docs a run may have
# written and not committed (killed in between); the next run commits them first
UNCOMMITTED = "docs_written_not_committed"


@dataclass(frozen=True)
class _Staged:
    """A doc's new text, verified, not yet written."""

    loaded: LoadedDoc
    new_text: str
    remapped: dict[tuple[str, int], tuple[str, Edit]]

    @property
    def data(self) -> bytes:
        return (self.loaded.prefix + self.new_text).encode("utf-8")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class WriteBack:
    def __init__(
        self,
        settings: Settings,
        state: StateStore,
        observer: RunObserver | None = None,
        options: ParseOptions | None = None,
    ) -> None:
        self.observer: RunObserver = observer or SilentObserver()
        self.options = options or ParseOptions.from_settings(settings.docs)
        self.settings = settings
        self.state = state
        self.root = settings.docs.root
        self.dry_run = False
        self.by_pr = settings.docs.git.mode == "pull-request"
        self.pr = PullRequestMode(settings, state)
        self._texts: dict[Path, bytes] | None = None  # pull-request mode: docs not written

    def prepare(self, result: RunResult, *, pull: bool) -> None:
        """Before reading the docs: refuse a work tree the tool must not commit in,
        commit what a killed run wrote, pull, then push what earlier runs could not."""
        top = self._top()
        if top is None:
            return
        gitops.check_branch(top, push=None if self.by_pr else self.settings.docs.git.push)
        self._commit_leftovers(result)
        if pull:
            self._pull(top, result)
        if self.by_pr:
            self.pr.prepare(top, result)
        else:
            self._push_unpushed(top, result)

    def land(
        self,
        docs: list[LoadedDoc],
        doc_edits: dict[str, dict[str, Edit]],
        records: dict[str, ItemRecord],
        result: RunResult,
        *,
        complete: bool,
    ) -> None:
        """Write and commit the docs' cell edits; `records` keeps only the items whose
        doc edit landed (or that had none). `complete` is False for a run limited to
        some tickets (a webhook's), which cannot tell that nothing else is due."""
        top = self._top()
        if top is not None:
            doc_edits = self._skip_dirty(top, docs, doc_edits, records, result)
        if self.by_pr and top is not None:
            self._texts = {}  # the work tree stays as it is: the edits go to a branch
            try:
                written = self._write_docs(docs, doc_edits, records, result)
                self.pr.land(top, self._texts, written, records, result, complete=complete)
            finally:
                self._texts = None
            return
        written = self._write_docs(docs, doc_edits, records, result)
        not_landed, failed = self._commit(top, list(written), result)
        # our edits to these docs are not (or not yet) where people read them: their
        # items keep the old snapshot and the next run plans the same writes again
        for path in not_landed:
            for item_id in written.get(path, set()):
                records.pop(item_id, None)
        if doc_edits and not failed:  # this run's writes are committed; others' stay
            landed = {p.relative_to(self.root).as_posix() for p in written}
            rest = {rel: sha for rel, sha in self._leftovers().items() if rel not in landed}
            self.state.meta_set(UNCOMMITTED, json.dumps(rest, sort_keys=True))

    def _top(self) -> Path | None:
        """The git work tree the tool commits in, or None when it does not commit."""
        top = gitops.work_tree(self.root) if self.settings.docs.git.commit else None
        if top is None and self.by_pr:
            raise gitops.GitConfigError(
                f'docs.git.mode = "pull-request" needs docs.root ({self.root}) in a git work'
                " tree with docs.git.commit = true"
            )
        return top

    def _should_push(self, top: Path) -> bool:
        push = self.settings.docs.git.push
        return push if push is not None else gitops.upstream(top) is not None

    def _skip_dirty(
        self,
        top: Path,
        docs: list[LoadedDoc],
        doc_edits: dict[str, dict[str, Edit]],
        records: dict[str, ItemRecord],
        result: RunResult,
    ) -> dict[str, dict[str, Edit]]:
        """A doc with uncommitted changes is a human's work in progress: the tool neither
        writes nor commits it (its items stay due) and says so every run until it is clean."""
        by_rel = {d.rel: d for d in docs}
        dirty = gitops.dirty(top, [by_rel[rel].path for rel in doc_edits])
        kept = {}
        for rel, edits in doc_edits.items():
            if by_rel[rel].path not in dirty:
                kept[rel] = edits
                continue
            result.errors += 1
            result.notes.append(
                RunNote(
                    NoteKind.GIT,
                    f"{rel} has uncommitted changes; commit or stash them"
                    f" ({len(edits)} cell edit(s) wait until it is clean)",
                    path=rel,
                )
            )
            for item_id in edits:
                records.pop(item_id, None)
        return kept

    def _write_docs(
        self,
        docs: list[LoadedDoc],
        doc_edits: dict[str, dict[str, Edit]],
        records: dict[str, ItemRecord],
        result: RunResult,
    ) -> dict[Path, set[str]]:
        """Write each doc's cell edits. An edit that does not land keeps the item's old
        snapshot (its record is dropped from this run's batch), so the next run plans it
        again instead of believing the doc was updated."""
        by_rel = {d.rel: d for d in docs}
        written: dict[Path, set[str]] = {}
        staged: list[_Staged] = []
        for rel, edits in doc_edits.items():
            try:
                ready = self._stage_doc(by_rel[rel], edits)
            except (OSError, PatchError) as exc:
                self._write_failed(rel, exc, edits, records, result)
                continue
            if isinstance(ready, _Staged):
                staged.append(ready)
            else:  # nothing to write: the doc already says it, or no row is left
                for item_id in set(edits) - ready:
                    records.pop(item_id, None)
        if self._texts is None:
            self._note_uncommitted(staged)
        for done, ready in enumerate(staged):
            self.observer.phase("write back", done, len(staged))
            edits = doc_edits[ready.loaded.rel]
            try:
                applied = self._write_staged(ready, records, result)
            except OSError as exc:
                self._write_failed(ready.loaded.rel, exc, edits, records, result)
                continue
            for item_id in set(edits) - applied:
                records.pop(item_id, None)
            written[ready.loaded.path] = applied
        self.observer.phase("write back", len(staged), len(staged))
        return written

    @staticmethod
    def _write_failed(
        rel: str,
        exc: Exception,
        edits: dict[str, Edit],
        records: dict[str, ItemRecord],
        result: RunResult,
    ) -> None:
        result.errors += 1
        result.notes.append(RunNote(NoteKind.WRITE_FAILED, str(exc), path=rel))
        for item_id in edits:
            records.pop(item_id, None)

    def _stage_doc(self, loaded: LoadedDoc, edits: dict[str, Edit]) -> _Staged | set[str]:
        """The doc's new text with `edits` applied to what it says now, verified; or,
        when there is nothing to write, the ids of the edits it already carries."""
        current_doc, text = parse_file(loaded.path, options=self.options)
        if text is None:
            raise OSError(f"{loaded.rel} became unreadable")
        text = text[len(loaded.prefix) :]
        current = LoadedDoc(
            loaded.rel, loaded.path, text, loaded.prefix, current_doc, loaded.tracker
        )
        # A human may have edited the doc since we read it: edits are re-targeted by
        # item identity at what is there now, so nothing they wrote is overwritten.
        remapped = self._rematch(loaded, current, edits)
        if not remapped:
            return set()
        new_text = apply_edits(
            text, current_doc, [edit for _id, edit in remapped.values()], self.options
        )
        if new_text == text:
            return {item_id for item_id, _edit in remapped.values()}
        return _Staged(current, new_text, remapped)

    def _write_staged(
        self, staged: _Staged, records: dict[str, ItemRecord], result: RunResult
    ) -> set[str]:
        loaded, new_text, remapped = staged.loaded, staged.new_text, staged.remapped
        if parse_file(loaded.path, options=self.options)[1] != loaded.prefix + loaded.text:
            raise OSError(f"{loaded.rel} changed while being written; retried next run")
        if self._texts is not None:
            self._texts[loaded.path] = staged.data
        else:
            write_atomic(loaded.path, new_text, prefix=loaded.prefix)
        result.docs_written += 1
        result.doc_edits += len(remapped)
        # record the doc side as the file now reads it (a checkbox cannot say "in progress")
        after = LoadedDoc(
            loaded.rel,
            loaded.path,
            new_text,
            loaded.prefix,
            parse_text(new_text, loaded.path, options=self.options),
            loaded.tracker,
        )
        for item in after.doc.action_items:
            hit = remapped.get(identity(after.doc, item))
            if hit is None or hit[0] not in records:
                continue
            record, snapshot = records[hit[0]], DocSide.of(item).snapshot()
            if hit[1].status is None:  # only a key was written: the status base stands
                snapshot["status"] = record.doc.get("status", snapshot["status"])
            records[hit[0]] = _with_doc(record, snapshot)
        return {item_id for item_id, _edit in remapped.values()}

    def _rematch(
        self, loaded: LoadedDoc, current: LoadedDoc, edits: dict[str, Edit]
    ) -> dict[tuple[str, int], tuple[str, Edit]]:
        """Edits planned against the text we read, re-targeted at the text there now,
        keyed by item identity (action text + occurrence), with the item id they serve."""
        planned = {identity(loaded.doc, e.item): (item_id, e) for item_id, e in edits.items()}
        out = {}
        unmatched = []
        for item in current.doc.action_items:
            here = identity(current.doc, item)
            if here in planned:
                item_id, edit = planned.pop(here)
                out[here] = (item_id, Edit(item, ticket=edit.ticket, status=edit.status))
            elif item.ticket is None:
                unmatched.append((here, item))
        # a row reworded meanwhile still gets its ticket key, if it is recognisably the same
        for item_id, edit in planned.values():
            scored = [
                (similarity(edit.item.action, item.action), identity, item)
                for identity, item in unmatched
            ]
            best = max(scored, default=None, key=lambda t: t[0])
            if best is not None and best[0] >= SIMILAR:
                unmatched = [(i, it) for i, it in unmatched if i != best[1]]
                out[best[1]] = (item_id, Edit(best[2], ticket=edit.ticket, status=edit.status))
        return out

    def _leftovers(self) -> dict[str, str | None]:
        raw = json.loads(self.state.meta_get(UNCOMMITTED) or "{}")
        if isinstance(raw, list):  # written by a version that kept paths only
            return dict.fromkeys(raw)
        return raw

    def _note_uncommitted(self, staged: list[_Staged]) -> None:
        """Before writing docs, remember what each will hold: a run killed between write
        and commit leaves them written, and the next run commits them first."""
        if staged:
            pending = self._leftovers() | {s.loaded.rel: _sha(s.data) for s in staged}
            self.state.meta_set(UNCOMMITTED, json.dumps(pending, sort_keys=True))

    def _commit_leftovers(self, result: RunResult) -> None:
        """Commit what a killed run wrote: each doc that holds exactly the bytes it wrote,
        where it wrote them or where a human's committed rename moved them. A doc that
        holds anything else has a human's edit on top: it is theirs to commit, and every
        run says so until they have (the tool's edit in it has not landed)."""
        leftovers = self._leftovers()
        top = self._top()
        if not leftovers or top is None:
            return
        ours: list[Path] = []
        moved: set[str] = set()
        mixed: dict[str, str | None] = {}
        for rel, sha in leftovers.items():
            path = self.root / rel
            if not path.is_file():
                if sha is not None:
                    moved.add(sha)
            elif sha is None or _sha(path.read_bytes()) == sha:
                ours.append(path)
            else:
                mixed[rel] = sha
        if moved:
            for path in gitops.modified(top, self.root):
                if path not in ours and _sha(path.read_bytes()) in moved:
                    ours.append(path)
        dirty = gitops.dirty(top, [self.root / rel for rel in mixed])
        mixed = {rel: sha for rel, sha in mixed.items() if self.root / rel in dirty}
        for rel in mixed:
            result.errors += 1
            result.notes.append(
                RunNote(
                    NoteKind.GIT,
                    f"{rel} holds an edit of a run that was killed before committing it,"
                    " with uncommitted changes of someone else on top; commit the file"
                    " (the tool never commits a person's work)",
                    path=rel,
                )
            )
        # pushed with whatever this run commits, or by `_push_unpushed`
        if not self._commit(top, ours, result, push=False)[1]:
            self.state.meta_set(UNCOMMITTED, json.dumps(mixed, sort_keys=True))

    def _pull(self, top: Path, result: RunResult) -> None:
        git = self.settings.docs.git
        if git.pull is False or (git.pull is None and gitops.upstream(top) is None):
            return
        with self._git_operation(top, result):
            error = gitops.pull(top, git.remote, self._me())
        if error is not None:
            result.errors += 1
            result.notes.append(RunNote(NoteKind.GIT, error))

    def _push_unpushed(self, top: Path, result: RunResult) -> None:
        """Commits an earlier run could not push go first, and every run says so until
        they are pushed: an unpushed commit is an edit nobody can read yet."""
        if not self._should_push(top):
            return
        ahead, _behind = gitops.ahead_behind(top)
        if ahead == 0:
            return
        with self._git_operation(top, result):
            pushed = gitops.push(top, self.settings.docs.git.remote, self._me())
        for path in sorted(pushed.dropped):
            result.notes.append(
                RunNote(
                    NoteKind.PUSH,
                    f"{path}: an unpushed edit conflicted with a pushed change;"
                    " kept the pushed version, the edit is planned again",
                    path=path,
                )
            )
        if not pushed.pushed:
            result.errors += 1
            result.notes.append(
                RunNote(
                    NoteKind.PUSH,
                    f"{ahead} commit(s) from earlier runs are not pushed yet: {pushed.message}",
                )
            )

    def _commit(
        self, top: Path | None, written: list[Path], result: RunResult, *, push: bool = True
    ) -> tuple[set[Path], bool]:
        """Commit (and push) the written docs. Returns the docs whose edits did not land
        (refused push, or conflicting with a pushed change) and whether git failed."""
        git = self.settings.docs.git
        if not written or top is None:
            return set(), False
        names = sorted(p.relative_to(self.root).as_posix() for p in written)
        message = (
            f"{git.message_prefix}sync {len(written)} postmortem(s)\n\n"
            + "\n".join(f"- {n}" for n in names)
            + f"\n\n{result.created} ticket(s) created, {result.doc_edits} cell(s) updated."
        )
        try:
            with self._git_operation(top, result):
                sha = gitops.commit(top, written, message, self._me())
                result.commit = sha
                if not (sha and push and self._should_push(top)):
                    return set(), False
                pushed = gitops.push(top, git.remote, self._me())
        except gitops.GitError as exc:
            result.errors += 1
            result.notes.append(RunNote(NoteKind.GIT, str(exc)))
            return set(written), True
        return self._push_outcome(top, written, pushed, result), False

    def _push_outcome(
        self, top: Path, written: list[Path], pushed: gitops.PushResult, result: RunResult
    ) -> set[Path]:
        if not pushed.pushed:
            result.errors += 1
            result.notes.append(RunNote(NoteKind.PUSH, pushed.message))
            return set(written)
        result.commit = gitops.head(top)
        by_top = {p.resolve().relative_to(top.resolve()).as_posix(): p for p in written}
        lost = {by_top[rel] for rel in pushed.dropped if rel in by_top}
        for path in sorted(lost):
            rel = path.relative_to(self.root).as_posix()
            result.errors += 1
            result.notes.append(
                RunNote(
                    NoteKind.PUSH,
                    f"{rel}: our edit conflicted with a pushed change; dropped it"
                    " (the pushed text wins), the next run re-plans it; the other docs'"
                    " edits were pushed",
                    path=rel,
                )
            )
        if lost and len(lost) == len(written) and gitops.ahead_behind(top)[0] == 0:
            result.commit = None  # nothing of ours is left in the history
        return lost

    def _me(self) -> gitops.Identity:
        git = self.settings.docs.git
        return gitops.Identity(git.author_name, git.author_email)

    @contextmanager
    def _git_operation(self, top: Path, result: RunResult) -> Iterator[None]:
        """Marks a git command in flight, so a run killed inside it is recognised."""
        self._clear_stale_git_lock(top, result)
        self.state.meta_set(GIT_HOLDER, f"{socket.gethostname()}:{os.getpid()}:git")
        try:
            yield
        finally:
            self.state.meta_set(GIT_HOLDER, "")

    def _clear_stale_git_lock(self, top: Path, result: RunResult) -> None:
        """A run killed inside `git commit`/`pull` leaves .git/index.lock behind, and git
        refuses to work until it is gone. Remove it when the state says our own git
        operation was in flight and that process is dead (we hold the sync lease, so
        no other run of ours can be using it)."""
        holder = self.state.meta_get(GIT_HOLDER) or ""
        lock = top / ".git" / "index.lock"
        if holder and holder.split(":")[1:2] != [str(os.getpid())] and holder_is_dead(holder):
            if lock.exists():
                lock.unlink(missing_ok=True)
                result.notes.append(
                    RunNote(
                        NoteKind.RECOVERED,
                        "removed .git/index.lock left "
                        "by a run that was killed during a git operation",
                    )
                )
            self.state.meta_set(GIT_HOLDER, "")


def _with_doc(record: ItemRecord, snapshot: DocSnapshot) -> ItemRecord:
    return ItemRecord(
        record.item_id,
        record.tracker,
        record.doc_path,
        record.ticket_key,
        snapshot,
        record.ticket,
        record.synced_at,
        record.error,
        record.attempts,
    )
