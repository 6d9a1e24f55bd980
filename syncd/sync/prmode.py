"""Write-back by pull request (`[docs.git] mode = "pull-request"`), for protected branches.

Each run rebuilds the tool's branch (`pull_request.branch`) as one commit on top of the
base branch holding every doc edit that is due now, pushes it when its tree changed, and
opens or updates one pull request. The work tree stays on the base branch and is never
written: the edits exist only on the tool's branch until a human merges the pull request.

Landed means merged: until then the edits' items keep their old snapshot, so each run
plans the same edits again; they produce the same tree, so nothing is committed or
pushed twice. After a merge the base branch (pulled at the start of the run) carries the
edits and nothing is due. A pull request closed without merging is reported (exit 2);
the next run opens a fresh one with the edits still due. A pull request whose edits are
no longer due (the ticket was reopened, a human wrote the cells by hand) is closed by the
first complete run that finds nothing to write: merged later, it would write stale
values into the docs, and the next run would push them to the tickets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import structlog

from syncd.config import Settings
from syncd.sync import gitops
from syncd.sync.notes import NoteKind, RunNote
from syncd.sync.pullrequest import PullInfo, PullRequestError, PullRequests
from syncd.sync.run import RunResult
from syncd.sync.state import ItemRecord, StateStore

log = structlog.get_logger(__name__)

OPEN_PR = "docs_pull_request"  # state meta: number of the tool's open pull request
CLOSED_PR = "docs_pull_request_closed"  # state meta: one closed unmerged, not yet replaced


class PullRequestMode:
    def __init__(self, settings: Settings, state: StateStore) -> None:
        self.settings = settings
        self.state = state
        self.config = settings.docs.git.pull_request
        self._client: PullRequests | None = None
        self._hold = False  # a closed pull request was just seen: replace it next run
        self._found: PullInfo | None = None  # the open pull request prepare() found

    def client(self) -> PullRequests:
        if self._client is None:
            url, token, repo = self.settings.pull_request_target()
            self._client = PullRequests(url, token, repo)
        return self._client

    def base(self, top: Path) -> str:
        name = self.config.base or gitops.branch(top)
        assert name is not None  # check_branch refused a detached HEAD before
        return name

    # -- before the docs are read --------------------------------------------------------
    def prepare(self, top: Path, result: RunResult) -> None:
        """Learn what became of the pull request the last run left open. Asking GitHub
        here, before any tracker write, also makes a wrong token or repository a
        configuration error (exit 1) before the run has done anything."""
        self._hold = False
        number = int(self.state.meta_get(OPEN_PR) or 0)
        try:
            self._found = self.client().find_open(self.config.branch, self.base(top))
            pull = self.client().get(number) if number else None
        except PullRequestError as exc:
            _fail(result, str(exc))
            return
        if pull is None or pull.open:
            return
        self.state.meta_set(OPEN_PR, "")
        if pull.merged:
            log.info("the doc edits' pull request was merged", number=number, url=pull.url)
            return
        self.state.meta_set(CLOSED_PR, str(number))
        self._hold = True
        _fail(
            result,
            f"pull request #{number} ({pull.url}) was closed without merging; its doc edits"
            " are still due and the next run opens a fresh pull request",
        )

    # -- after the tracker writes ----------------------------------------------------------
    def land(
        self,
        top: Path,
        texts: dict[Path, bytes],
        written: dict[Path, set[str]],
        records: dict[str, ItemRecord],
        result: RunResult,
        *,
        complete: bool,
    ) -> None:
        """Put `texts` (doc path -> new bytes) on the tool's branch and in the pull request.
        Nothing of it has landed yet: its items keep their old snapshot."""
        for path in texts:
            for item_id in written.get(path, set()):
                records.pop(item_id, None)
        if not texts:
            if complete:
                self._close_stale(result)
            return
        if self._hold:
            _fail(result, f"{len(texts)} doc(s) with edits wait for a fresh pull request")
            return
        try:
            self._publish(top, texts, result)
        except (gitops.GitError, PullRequestError, gitops.GitConfigError) as exc:
            # after the tracker writes: report, so the run still records what it did
            _fail(result, str(exc))

    def _close_stale(self, result: RunResult) -> None:
        """Nothing is due, yet our pull request is open: its edits are stale. Only a run
        that saw everything may say so (not a webhook's run for some tickets); after any
        failure (a tracker not read, an item not planned or in backoff) the edits may
        still be due, and the next run decides."""
        pull = self._found
        if pull is None or result.errors:
            return
        try:
            self.client().close_pull(
                pull.number,
                "Closed by postmortem-syncd: none of these edits is due any more (the"
                " tickets or the docs changed since this pull request was opened).",
            )
        except (PullRequestError, gitops.GitConfigError) as exc:
            # after the tracker writes, as in `land`: report, so the run still records
            _fail(result, f"could not close stale pull request #{pull.number}: {exc}")
            return
        self.state.meta_set(OPEN_PR, "")  # closed by us: not "closed without merging"
        self._found = None
        log.info("closed a stale pull request", number=pull.number, url=pull.url)
        result.notes.append(
            RunNote(
                NoteKind.PULL_REQUEST_CLOSED,
                f"closed pull request #{pull.number} ({pull.url}): its doc edits are no longer due",
            )
        )

    def _publish(self, top: Path, texts: dict[Path, bytes], result: RunResult) -> None:
        git, branch, base = self.settings.docs.git, self.config.branch, self.base(top)
        base_sha = gitops.rev(top, "HEAD")
        assert base_sha is not None  # check_branch refused a branch without commits
        files = {p.resolve().relative_to(top.resolve()).as_posix(): b for p, b in texts.items()}
        with tempfile.TemporaryDirectory(prefix="syncd-index-") as tmp:
            tree = gitops.tree_with(top, base_sha, files, Path(tmp) / "index")
        remote_ref = f"refs/remotes/{git.remote}/{branch}"
        tip = gitops.rev(top, remote_ref)
        if tip is None or gitops.tree_of(top, tip) != tree:
            others = gitops.authors(top, base_sha, tip) - {git.author_email} if tip else set()
            if others:
                _fail(
                    result,
                    f"branch {branch} has commits by {', '.join(sorted(others))}; the tool"
                    " leaves it alone: merge or close its pull request",
                )
                return
            message = f"{git.message_prefix}sync {len(files)} postmortem(s)\n\n" + "\n".join(
                f"- {n}" for n in sorted(files)
            )
            sha = gitops.commit_tree(top, tree, base_sha, message, self._me())
            refused = gitops.push_branch(top, git.remote, sha, branch, tip)
            if refused is not None:
                _fail(result, refused)
                return
            gitops.fetch(top, git.remote)  # the remote-tracking ref follows what we pushed
            result.commit = sha
        pull = self._open_or_update(branch, base, sorted(files))
        _fail(
            result,
            f"{len(files)} doc(s) with edits wait in pull request #{pull[0]} ({pull[1]});"
            " they count once it is merged",
        )

    def _open_or_update(self, branch: str, base: str, names: list[str]) -> tuple[int, str]:
        client, title = self.client(), self.config.title
        body = (
            "Ticket keys and statuses that postmortem-syncd writes into these postmortems:\n\n"
            + "\n".join(f"- `{n}`" for n in names)
            + "\n\nOnly the Ticket and Status cells change. Merge to land them; the tool"
            " updates this pull request while it is open."
        )
        pull = self._found if self._found is not None else client.find_open(branch, base)
        if pull is None:
            pull = client.create(branch, base, title, body)
            replaced = self.state.meta_get(CLOSED_PR)
            log.info(
                "opened a pull request for the doc edits",
                number=pull.number,
                replaces=replaced or None,
            )
            self.state.meta_set(CLOSED_PR, "")
        elif (pull.title, pull.body) != (title, body):
            client.update(pull.number, title, body)
        self.state.meta_set(OPEN_PR, str(pull.number))
        return pull.number, pull.url

    def _me(self) -> gitops.Identity:
        git = self.settings.docs.git
        return gitops.Identity(git.author_name, git.author_email)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _fail(result: RunResult, message: str) -> None:
    result.errors += 1
    result.notes.append(RunNote(NoteKind.PUSH, message))
