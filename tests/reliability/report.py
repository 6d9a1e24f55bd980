"""Counts each reliability suite reports (printed by conftest's terminal summary).

Suites call `add(suite, key=n, ...)` (integers add up, other values overwrite). The
summary is printed whether or not `-s` is given, and stored in the pytest cache under
`reliability/last_run` for the README's numbers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

STATS: dict[str, dict[str, Any]] = defaultdict(dict)


def add(suite: str, **counts: Any) -> None:
    entry = STATS[suite]
    for key, value in counts.items():
        if isinstance(value, int) and not isinstance(value, bool):
            entry[key] = entry.get(key, 0) + value
        elif isinstance(value, dict):
            merged = dict(entry.get(key, {}))
            for k, v in value.items():
                merged[k] = merged.get(k, 0) + v if isinstance(v, int) else v
            entry[key] = merged
        else:
            entry[key] = value


def lines() -> list[str]:
    out = []
    for suite in sorted(STATS):
        parts = []
        for key, value in STATS[suite].items():
            if isinstance(value, dict):
                value = "{" + ", ".join(f"{k}: {v}" for k, v in sorted(value.items())) + "}"
            parts.append(f"{key}={value}")
        out.append(f"reliability[{suite}]: " + " ".join(parts))
    return out
