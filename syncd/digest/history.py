"""What the docs' git history says about each action item: when it was set, when done.

The doc is the first place many items are marked done (ticked before the ticket
follows, or never given a ticket at all), and the commit that first showed an item
is the best record of when it was set. Both come from reading every committed version
of each document once, oldest first:

* `set_on`  – the day of the first commit whose version of the doc contains the item;
* `done_on` – the day of the commit that started the item's current run of "done"
  (an item ticked, unticked and ticked again is done since the second tick).

Items are matched between versions by their normalised action text, or by the ticket
key they name, so filling in a ticket key or an owner keeps the item's history; a
reworded action starts a new history (its first commit is the rewording one).
Days are in the digest's time zone, from the committer date (when the change landed
on the branch people read, not when someone started editing locally).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path

import structlog

from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_text
from syncd.model import ActionItem, Postmortem

log = structlog.get_logger(__name__)

GIT_TIMEOUT = 300  # seconds; a large archive's history is read in one pass


@dataclass(frozen=True)
class ItemHistory:
    set_on: date  # day of the first commit containing the item
    done_on: date | None  # day of the commit that began its current run of "done"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def item_keys(item: ActionItem) -> tuple[str, ...]:
    """How an item is recognised in another version of its doc."""
    keys = [f"a:{_norm(item.action)}"]
    if item.ticket:
        keys.append(f"t:{item.ticket.strip().lower()}")
    return tuple(keys)


class DocHistory:
    """Histories of the items of one document, looked up by `item_keys`."""

    def __init__(self) -> None:
        self._by_key: dict[str, ItemHistory] = {}
        self.first_commit: date | None = None  # the doc was first committed (written)
        # The commit that began the doc's current run out of Draft (completed); None
        # while it is a draft. A doc with no status counts as complete when committed.
        self.completed_on: date | None = None

    def observe_doc(self, doc: Postmortem, day: date) -> None:
        """One committed version of the doc, in commit order."""
        if self.first_commit is None:
            self.first_commit = day
        draft = bool(doc.status) and "draft" in (doc.status or "").lower()
        if draft:
            self.completed_on = None
        elif self.completed_on is None:
            self.completed_on = day
        self.observe(doc.action_items, day)

    def get(self, item: ActionItem) -> ItemHistory | None:
        found = [self._by_key[k] for k in item_keys(item) if k in self._by_key]
        if not found:
            return None
        # The action text and the ticket key may have appeared in different commits
        # (the key is filled in later): the item was set at the earlier one.
        first = min(found, key=lambda h: h.set_on)
        done = [h.done_on for h in found if h.done_on is not None]
        return ItemHistory(first.set_on, min(done) if done else None)

    def observe(self, items: Iterable[ActionItem], day: date) -> None:
        """One committed version of the doc, in commit order."""
        for item in items:
            done = item.status.is_closed
            for key in item_keys(item):
                seen = self._by_key.get(key)
                if seen is None:
                    self._by_key[key] = ItemHistory(day, day if done else None)
                elif done and seen.done_on is None:
                    self._by_key[key] = ItemHistory(seen.set_on, day)
                elif not done and seen.done_on is not None:
                    self._by_key[key] = ItemHistory(seen.set_on, None)  # reopened


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(root), *args],  # noqa: S607 - git from PATH is the point
        input=stdin,
        capture_output=True,
        check=False,
        timeout=GIT_TIMEOUT,
    )
    if proc.returncode != 0:
        raise OSError(proc.stderr.decode(errors="replace").strip()[:300] or "git failed")
    return proc.stdout


def _commits(root: Path) -> Iterator[tuple[str, datetime, list[str]]]:
    """(sha, committer time, doc paths relative to `root` it changed), oldest first."""
    out = _git(
        root,
        "log",
        "--reverse",
        "--no-renames",
        "--relative",
        "--format=%x00%H %ct",
        "--name-only",
        "--",
        ".",
    ).decode("utf-8", errors="replace")
    for chunk in out.split("\x00")[1:]:
        head, _, names = chunk.partition("\n")
        sha, _, stamp = head.partition(" ")
        moment = datetime.fromtimestamp(int(stamp), UTC)
        yield sha, moment, [n for n in names.splitlines() if n]


def _blobs(root: Path, wanted: list[tuple[str, str]]) -> Iterator[str | None]:
    """The text of `sha:./path` for each pair, in order (None: deleted in that commit)."""
    if not wanted:
        return
    request = "".join(f"{sha}:./{path}\n" for sha, path in wanted).encode()
    out = _git(root, "cat-file", "--batch", stdin=request)
    pos = 0
    for _ in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] != b"blob":  # "<name> missing"
            yield None
            continue
        size = int(header[2])
        yield out[pos : pos + size].decode("utf-8", errors="replace")
        pos += size + 1  # the blob is followed by a newline


def read_history(
    root: Path,
    paths: Iterable[str],
    tz: tzinfo,
    current: Mapping[str, tuple[str, Postmortem]] | None = None,
    options: ParseOptions | None = None,
) -> dict[str, DocHistory] | None:
    """Histories of the items of each doc in `paths` (relative to `root`).

    `current`: the text of each doc as it is now and its parse. Most docs' last commit
    is that very text, so its parse is reused rather than done twice (half the cost
    of a digest over a large archive). `options`: the configuration's parse settings
    (the built-in defaults without them), the same the current docs were parsed with.

    None when `root` is not in a git work tree or git fails: the digest then works
    without doc evidence and says so, rather than stopping.
    """
    current = current or {}
    managed = set(paths)
    try:
        commits = list(_commits(root))
        wanted = [(sha, p) for sha, _at, names in commits for p in names if p in managed]
        texts = iter(_blobs(root, wanted))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.warning("doc history unavailable", root=str(root), error=str(exc))
        return None
    out = {p: DocHistory() for p in managed}
    for _sha, moment, names in commits:
        day = moment.astimezone(tz).date()
        for path in names:
            if path not in managed:
                continue
            text = next(texts)
            if text is None:
                continue
            now = current.get(path)
            if now is not None and now[0] == text:
                doc = now[1]
            else:
                doc = parse_text(text, path, options=options)
            out[path].observe_doc(doc, day)
    return out
