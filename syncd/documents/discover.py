"""Finding postmortems under a docs root and serialising them (the `syncd parse` contract)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from syncd.common.globs import match_glob
from syncd.model import ActionItem, Postmortem

DEFAULT_INCLUDE = ("**/*.md", "**/*.markdown")


def discover(
    paths: Iterable[Path],
    include: Iterable[str] = DEFAULT_INCLUDE,
    exclude: Iterable[str] = (),
) -> Iterator[tuple[Path, Path]]:
    """(file, root) pairs for every document under the given files or directories.

    Symlinked files and directories are skipped: a link out of the root would make
    the tool read (and later write) files elsewhere, a link inside it would sync the
    same postmortem twice (two markers, two tickets), and a loop would never end.
    """
    include, exclude = tuple(include), tuple(exclude)
    for path in paths:
        if path.is_file():
            yield path, path.parent
            continue
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                file = Path(dirpath) / name
                rel = file.relative_to(path).as_posix()
                if not any(match_glob(p, rel) for p in include):
                    continue
                if any(match_glob(p, rel) for p in exclude):
                    continue
                if file.is_symlink() or not file.is_file():
                    continue
                yield file, path


def item_json(item: ActionItem) -> dict[str, Any]:
    return {
        "action": item.action,
        "owner": item.owner,
        "due": item.due.isoformat() if item.due else None,
        "priority": item.priority,
        "status": item.status.value,
        "ticket": item.ticket,
        "line": item.line,
    }


def doc_json(doc: Postmortem, display_path: str | None = None) -> dict[str, Any]:
    return {
        "path": display_path or doc.path.as_posix(),
        "title": doc.title,
        "date": doc.date.isoformat() if doc.date else None,
        "severity": doc.severity,
        "status": doc.status,
        "action_items": [item_json(i) for i in doc.action_items],
        "contributing_factors": list(doc.contributing_factors),
        "problems": [{"line": p.line, "message": p.message} for p in doc.problems],
    }
