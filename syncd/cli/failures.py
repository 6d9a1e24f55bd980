"""Which tracker failures a person must fix (exit 1) and which a later run retries (2).

A listing that fails stops that tracker's whole run, so it is explained by what is
wrong and what to do: a rejected token, a token without access, a project or
repository that does not exist. The message names the tracker and the config key,
never the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import TrackerError
from syncd.common.exits import EXIT_CONFIG, EXIT_RETRY

WHERE_KEY = {"jira": "project", "github": "repo", "linear": "team"}


@dataclass(frozen=True)
class TrackerFailure:
    tracker: str
    exit_code: int
    what: str  # what is wrong, in a sentence
    todo: str  # what to do about it
    detail: str  # the connector's own message (already free of secrets)

    def line(self) -> str:
        return f"{self.tracker}: {self.what}: {self.detail}\n    → {self.todo}"


def classify(tracker: str, kind: str, error: TrackerError) -> TrackerFailure:
    token_hint = (
        f"check trackers.{tracker}.token (or token_file, or the environment variable"
        f" SYNCD_TRACKERS__{tracker.upper()}__TOKEN)"
    )
    where = f"trackers.{tracker}.{WHERE_KEY.get(kind, 'project')}"
    status, detail = error.status, str(error)
    if status == 401:
        return TrackerFailure(tracker, EXIT_CONFIG, "the token was rejected", token_hint, detail)
    if status == 403 and not error.retryable:
        return TrackerFailure(
            tracker,
            EXIT_CONFIG,
            "the token has no access",
            f"grant it the permissions in docs/trackers.md, or {token_hint}",
            detail,
        )
    if status in (400, 404, 410) and not error.retryable:
        return TrackerFailure(
            tracker,
            EXIT_CONFIG,
            f"unknown {WHERE_KEY.get(kind, 'project')} (or invisible to this token)",
            f"check {where} and trackers.{tracker}.url",
            detail,
        )
    if not error.retryable:
        return TrackerFailure(
            tracker,
            EXIT_CONFIG,
            "the tracker refused the request",
            f"check [trackers.{tracker}] against docs/trackers.md",
            detail,
        )
    return TrackerFailure(
        tracker,
        EXIT_RETRY,
        "unreachable or failing for now",
        "nothing to change if it is temporary; the next run retries (exit 2)",
        detail,
    )
