"""The one pull request the tool keeps open on GitHub for its doc edits (PyGithub).

Only what pull-request write-back needs: find the open pull request from the tool's
branch, read one by number (open, merged, or closed without merging), open one,
update its title and body, and close one whose edits are no longer due. A refused token
or an unknown repository is a configuration error (exit 1); anything else is retried by
the next run. The token never appears in a message: PyGithub's exceptions carry the
status and GitHub's answer, not the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest

from syncd.sync.gitops import GitConfigError

T = TypeVar("T")


class PullRequestError(Exception):
    """GitHub could not be asked or answered with an error a later run may not see."""


@dataclass(frozen=True)
class PullInfo:
    number: int
    url: str
    open: bool
    merged: bool
    title: str
    body: str


class PullRequests:
    def __init__(self, url: str, token: str, repo: str, *, timeout: int = 30) -> None:
        self._repo_name = repo
        self._github = Github(
            auth=Auth.Token(token),
            base_url=url.rstrip("/"),
            timeout=timeout,
            retry=None,  # GithubRetry re-POSTs on 5xx: a second pull request
            lazy=True,
        )
        self._repo = self._github.get_repo(repo)

    def close(self) -> None:
        self._github.close()

    def get(self, number: int) -> PullInfo:
        return self._call(lambda: _info(self._repo.get_pull(number)))

    def find_open(self, branch: str, base: str) -> PullInfo | None:
        owner = self._repo_name.split("/")[0]

        def find() -> PullInfo | None:
            pulls = self._repo.get_pulls(state="open", head=f"{owner}:{branch}", base=base)
            return next((_info(p) for p in pulls), None)

        return self._call(find)

    def create(self, branch: str, base: str, title: str, body: str) -> PullInfo:
        return self._call(
            lambda: _info(self._repo.create_pull(base=base, head=branch, title=title, body=body))
        )

    def update(self, number: int, title: str, body: str) -> None:
        def edit() -> None:
            self._repo.get_pull(number).edit(title=title, body=body)

        self._call(edit)

    def close_pull(self, number: int, comment: str) -> None:
        def close() -> None:
            pull = self._repo.get_pull(number)
            pull.create_issue_comment(comment)
            pull.edit(state="closed")

        self._call(close)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            message = _message(exc)
            if exc.status in (401, 403, 404):
                raise GitConfigError(
                    f"docs.git.pull_request: GitHub answered {exc.status} ({message}) for"
                    f" {self._repo_name}: check repo, url and that the token may open pull"
                    " requests (contents and pull requests: write)"
                ) from None
            raise PullRequestError(f"GitHub pull request API: {exc.status} {message}") from None
        except requests.RequestException as exc:
            raise PullRequestError(
                f"GitHub pull request API unreachable: {type(exc).__name__}"
            ) from None


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    errors = data.get("errors") or []
    details = [e.get("message", "") for e in errors if isinstance(e, dict)]
    return "; ".join(filter(None, [str(data.get("message", "")), *details]))[:300]


def _info(pull: PullRequest) -> PullInfo:
    return PullInfo(
        number=pull.number,
        url=pull.html_url,
        open=pull.state == "open",
        merged=bool(pull.merged),
        title=pull.title or "",
        body=pull.body or "",
    )
