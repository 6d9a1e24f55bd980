"""The weekly leadership digest (metrics, rendering, sending).

    metrics.compute(docs, records, conflicts, settings, as_of) -> model.Digest
    render.build_message(digest, settings)                      -> EmailMessage
    send.build_and_send(settings, state, as_of, force=False)    -> send.SendResult

Heavy imports (jinja2, css_inline, Pillow) happen only when a digest is rendered, so
`syncd --help` and the other subcommands never pay for them.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncd.config import Settings
    from syncd.digest.send import SendResult
    from syncd.sync.state import StateStore

__all__ = ["build_and_send", "register"]


def register(sub: Any) -> None:
    """Add `syncd digest` to the CLI."""
    # start-up: the digest CLI is registered without loading the digest
    from syncd.digest.cli import add_parser

    add_parser(sub)


def build_and_send(
    settings: Settings, state: StateStore, as_of: date, force: bool = False
) -> SendResult:
    """The worker's scheduled job: build the digest for `as_of` (a date, or a datetime
    taken in `[digest] timezone`) and send it, at most once per ISO week. Raises
    `send.DigestNotSent` if it failed or may not have arrived (see `syncd.digest.send`)."""
    # start-up: sending loads jinja2, css_inline and Pillow
    from syncd.digest.send import build_and_send as run

    return run(settings, state, as_of, force)
