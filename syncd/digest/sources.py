"""Where the digest's inputs come from: the docs tree and the state store."""

from __future__ import annotations

from datetime import date

from syncd.config import Settings
from syncd.digest.history import read_history
from syncd.digest.metrics import compute
from syncd.digest.model import Digest
from syncd.documents.discover import discover
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_file
from syncd.model import Postmortem
from syncd.sync.state import StateStore


def load_docs(settings: Settings) -> list[tuple[str, Postmortem]]:
    """(path relative to docs.root, parsed doc) for every managed document.

    The same selection the sync engine makes (include/exclude globs), so the digest and
    the state store agree on which documents exist and on their relative paths.
    """
    root = settings.docs.root
    options = ParseOptions.from_settings(settings.docs)
    if not root.is_dir():
        raise FileNotFoundError(f"docs root {root} is not a directory")
    docs = []
    for path, _root in discover([root], settings.docs.include, settings.docs.exclude):
        doc, text = parse_file(path, options=options)
        if text is None:  # unreadable or binary: nothing to report on
            continue
        docs.append((path.relative_to(root).as_posix(), doc))
    return docs


def load_texts(settings: Settings, docs: list[tuple[str, Postmortem]]) -> dict[str, str]:
    """Each doc's text as it is now (for the `completed:` dates written beside items,
    and so the history need not parse the same text twice)."""
    out = {}
    for rel, _doc in docs:
        try:
            out[rel] = (settings.docs.root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # parse_file already reported it; no dates to read
    return out


def digest_from(
    settings: Settings,
    state: StateStore,
    as_of: date,
    docs: list[tuple[str, Postmortem]] | None = None,
) -> Digest:
    """The digest from the docs tree (or `docs` already loaded), its git history and the
    state store."""
    docs = load_docs(settings) if docs is None else docs
    texts = load_texts(settings, docs)
    parsed = dict(docs)
    current = {rel: (text, parsed[rel]) for rel, text in texts.items()}
    history = read_history(
        settings.docs.root,
        list(parsed),
        settings.digest.tz,
        current,
        ParseOptions.from_settings(settings.docs),
    )
    return compute(
        docs,
        state.items(),
        state.conflicts(),
        settings,
        as_of,
        history=history,
        texts={rel: text.splitlines() for rel, text in texts.items()},
    )
