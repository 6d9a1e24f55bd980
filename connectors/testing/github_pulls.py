"""The pulls API of the GitHub emulator, as PyGithub 2.x calls it, over a real bare repo.

`GET /repos/{o}/{r}/pulls?state=&head=owner:branch&base=` (`Repository.get_pulls`),
`POST …/pulls` (`create_pull`), `GET …/pulls/{n}` (`get_pull`), `PATCH …/pulls/{n}`
(`PullRequest.edit`: title, body, state). A pull request is also an issue (they share
one number sequence and `GET /issues` lists it), as on GitHub.

The branches live in a real bare repository (`git_remote`): a create checks that the
head branch exists there, and `human_merge_pull` merges it into the base branch with
git itself (a merge commit, as GitHub's "Create a merge commit" button makes), so the
tool's next pull really brings the edits in.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.testing.emulation import Request, Response

_PULLS = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)/pulls"
MERGER = ("-c", "user.name=Alice", "-c", "user.email=alice@example.test")


@dataclass
class _Pull:
    number: int
    head: str
    base: str
    merged: bool = False
    merged_at: datetime | None = None
    merge_sha: str | None = None


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        ["git", "-C", str(repo), *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


class PullsMixin:
    """Mixed into GitHubEmulator, whose issue store, lock and JSON helpers it uses."""

    git_remote: Path | None = None  # the bare repository the branches live in

    # provided by GitHubEmulator
    _issues: dict[int, Any]
    _pulls: dict[int, _Pull]
    repo: str
    url: str
    lock: Any

    def _register_pull_routes(self) -> None:
        route = self.route  # type: ignore[attr-defined]
        route("GET", _PULLS, self._list_pulls)
        route("POST", _PULLS, self._create_pull)
        route("GET", rf"{_PULLS}/(?P<number>\d+)", self._get_pull)
        route("PATCH", rf"{_PULLS}/(?P<number>\d+)", self._edit_pull)

    # -- routes ---------------------------------------------------------------------------
    def _list_pulls(self, req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):  # type: ignore[attr-defined]
            return self._not_found()
        state = req.arg("state", "open")
        head = req.arg("head")
        base = req.arg("base")
        owner = self.repo.split("/")[0]
        found = [
            number
            for number, pull in sorted(self._pulls.items(), reverse=True)
            if state in ("all", self._issues[number].state)
            and (head is None or head in (f"{owner}:{pull.head}", pull.head))
            and (base is None or base == pull.base)
        ]
        page, headers = self._paginate(req, found)  # type: ignore[attr-defined]
        return Response(200, [self._pull_json(n) for n in page], headers)

    def _create_pull(self, req: Request, params: dict[str, str]) -> Response:
        if not self._repo_matches(params):  # type: ignore[attr-defined]
            return self._not_found()
        data = req.json() or {}
        head, base = str(data.get("head", "")), str(data.get("base", ""))
        head = head.split(":", 1)[-1]
        if not data.get("title") or not self._branch_sha(head) or not self._branch_sha(base):
            return self._invalid("head or base branch missing, or no title")
        if any(
            p.head == head and p.base == base and self._issues[n].state == "open"
            for n, p in self._pulls.items()
        ):
            return self._invalid(f"A pull request already exists for {head}.")
        issue = self._new_issue(  # type: ignore[attr-defined]
            data["title"], data.get("body"), "syncd-bot", pr=True
        )
        self._pulls[issue.number] = _Pull(issue.number, head, base)
        return Response(201, self._pull_json(issue.number))

    def _get_pull(self, _req: Request, params: dict[str, str]) -> Response:
        number = int(params["number"])
        if not self._repo_matches(params) or number not in self._pulls:  # type: ignore[attr-defined]
            return self._not_found()
        return Response(200, self._pull_json(number))

    def _edit_pull(self, req: Request, params: dict[str, str]) -> Response:
        number = int(params["number"])
        if not self._repo_matches(params) or number not in self._pulls:  # type: ignore[attr-defined]
            return self._not_found()
        data = req.json() or {}
        if data.get("state") == "open" and self._pulls[number].merged:
            return self._invalid("cannot reopen a merged pull request")
        fields = {k: data[k] for k in ("title", "body", "state") if k in data}
        problem = self._apply_fields(self._issues[number], fields, "syncd-bot")  # type: ignore[attr-defined]
        return problem or Response(200, self._pull_json(number))

    # -- JSON ------------------------------------------------------------------------------
    def _pull_json(self, number: int) -> dict[str, Any]:
        issue, pull = self._issues[number], self._pulls[number]
        api = f"{self.url}/repos/{self.repo}"
        owner = self.repo.split("/")[0]
        repo_json = {"full_name": self.repo, "url": api, "name": self.repo.split("/")[1]}

        def ref(name: str) -> dict[str, Any]:
            sha = self._branch_sha(name) or "0" * 40
            return {"label": f"{owner}:{name}", "ref": name, "sha": sha, "repo": repo_json}

        base = self._issue_json(issue)  # type: ignore[attr-defined]
        return {
            **{k: base[k] for k in ("id", "number", "title", "body", "state", "user")},
            "node_id": f"PR_{number}",
            "url": f"{api}/pulls/{number}",
            "html_url": f"{self.url}/{self.repo}/pull/{number}",
            "issue_url": f"{api}/issues/{number}",
            "head": ref(pull.head),
            "base": ref(pull.base),
            "merged": pull.merged,
            "merged_at": base["closed_at"] if pull.merged else None,
            "merge_commit_sha": pull.merge_sha,
            "created_at": base["created_at"],
            "updated_at": base["updated_at"],
            "closed_at": base["closed_at"],
        }

    def _not_found(self) -> Response:
        return Response(404, {"message": "Not Found"})

    def _invalid(self, message: str) -> Response:
        return Response(422, {"message": "Validation Failed", "errors": [{"message": message}]})

    def _branch_sha(self, name: str) -> str | None:
        if self.git_remote is None or not name:
            return None
        try:
            return _git(self.git_remote, "rev-parse", "--verify", "-q", f"refs/heads/{name}")
        except RuntimeError:
            return None

    # -- test helpers ------------------------------------------------------------------------
    def human_merge_pull(self, number: int) -> str:
        """A reviewer presses "Merge": a real merge commit of head into base in the bare
        repository, then the pull request is closed as merged. Returns the merge sha."""
        assert self.git_remote is not None, "set git_remote to the bare repository first"
        with self.lock:
            pull = self._pulls[number]
            head, base = self._branch_sha(pull.head), self._branch_sha(pull.base)
            assert head and base, (pull.head, pull.base)
            tree = _git(self.git_remote, "merge-tree", "--write-tree", base, head)
            message = f"Merge pull request #{number} from {pull.head}"
            sha = _git(
                self.git_remote, *MERGER, "commit-tree", tree, "-p", base, "-p", head, "-m", message
            )
            _git(self.git_remote, "update-ref", f"refs/heads/{pull.base}", sha, base)
            pull.merged, pull.merge_sha = True, sha
            self._apply_fields(self._issues[number], {"state": "closed"}, "alice")  # type: ignore[attr-defined]
            return sha

    def human_close_pull(self, number: int) -> None:
        """A reviewer closes the pull request without merging it."""
        with self.lock:
            self._apply_fields(self._issues[number], {"state": "closed"}, "alice")  # type: ignore[attr-defined]

    def pulls(self) -> list[dict[str, Any]]:
        """Every pull request the pulls API knows, as it renders them, by number."""
        with self.lock:
            return [self._pull_json(n) for n in sorted(self._pulls)]
