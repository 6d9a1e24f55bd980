"""Counts each reliability suite reports (printed by conftest's terminal summary).

Suites call `add(suite, key=n, ...)` (integers add up, other values overwrite). The
summary is printed whether or not `-s` is given, and stored in the pytest cache under
`reliability/last_run` for the README's numbers; the convergence figures also go to
`build/reliability/guarantees.json` (`write_guarantees`).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
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


# The Guarantees figures (issue #12): written by the suite itself so docs are generated
# from a run, never copied by hand. `build/` is git-ignored; SYNCD_GUARANTEES_FILE moves it.
GUARANTEES_FILE = Path(__file__).resolve().parents[2] / "build" / "reliability" / "guarantees.json"
MACHINE, CASES = "sync-machine", "convergence-cases"


def guarantees(failed: int = 0) -> dict[str, Any] | None:
    """The convergence figures of this run, or None when neither suite ran. `failed`:
    the session's failed tests (a counterexample fails its test), so a figure from a
    red run can never pass for a green one."""
    machine, cases = STATS.get(MACHINE), STATS.get(CASES)
    if not machine and not cases:
        return None
    machine, cases = machine or {}, cases or {}
    return {
        "failed_tests": failed,
        "model_based": {
            "examples": machine.get("examples", 0),
            "engine_runs": machine.get("runs", 0),
            "kills": machine.get("kills", 0),
            "faults": dict(sorted(machine.get("faults", {}).items())),
            "max_clean_runs_to_converge": machine.get("max_clean_runs_to_converge"),
        },
        "end_to_end_cases": {
            "covered": sorted(cases.get("cases", {})),
            "max_clean_runs_to_converge": cases.get("max_clean_runs_to_converge"),
        },
    }


def write_guarantees(path: Path | None = None, *, failed: int = 0) -> Path | None:
    figures = guarantees(failed)
    if figures is None:
        return None
    target = path or Path(os.environ.get("SYNCD_GUARANTEES_FILE") or GUARANTEES_FILE)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target
