"""The one glob dialect for every path pattern in the configuration (docs.include /
exclude, routing rules, lint ignores), matched against '/'-separated paths relative to
the docs root. Anchored at the root: `*` and `?` stay inside one directory, `**`
crosses directories (`**/` also matches none), a trailing `/` means everything below.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("/"):  # "payments/" reads as "everything below payments"
        pattern += "**"
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):  # zero or more whole directories
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append(f"[^/{body[1:]}]" if body.startswith("!") else f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def normalise_rel(path: str) -> str:
    # Accept what people and os.path produce: "./a/b.md", "a\\b.md", "/a/b.md".
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def match_glob(pattern: str, rel_path: str) -> bool:
    """Glob match on a '/'-separated path relative to the docs root.

    `*` and `?` stay inside one directory; `**` crosses directories and `**/` also
    matches no directory at all, so "**/*.md" matches "a.md" and "x/y/a.md", and
    "payments/**" (or "payments/") matches everything below payments/.
    """
    return _glob_regex(normalise_rel(pattern)).fullmatch(normalise_rel(rel_path)) is not None


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The compiled form of one pattern, for callers matching many paths (fullmatch a
    '/'-separated path relative to the root)."""
    return _glob_regex(normalise_rel(pattern))
