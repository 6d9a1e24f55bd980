"""Write the figures of the README's Guarantees section from a reliability run.

    make soak                                      # runs the suite, then this script
    python -m bench.guarantees_docs --from FILE    # take a run's guarantees.json
    python -m bench.guarantees_docs --check        # exit 1 if the README block is stale

The reliability suite writes `build/reliability/guarantees.json` at the end of every
session that ran the model-based test or the end-to-end cases. `--from` copies it to
`docs/figures/guarantees.json` (the figures behind the README) and rewrites the block
between `<!-- BEGIN generated:guarantees -->` and `<!-- END generated:guarantees -->`.
A run with a failed test is refused: its figures would claim what did not hold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.similarity_docs import current, replace_block

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FIGURES = ROOT / "docs" / "figures" / "guarantees.json"
BUILD = ROOT / "build" / "reliability" / "guarantees.json"
BLOCK = "guarantees"
PROMISED_CLEAN_RUNS = 2
# what `make soak` runs (SOAK_EXAMPLES per machine): a quick `make test` run (200 per
# machine) is too small to back the README's figures
SOAK_EXAMPLES = 5000

# the end-to-end cases of tests/reliability/test_convergence_cases.py, by number
CASES = {
    "1": "a refused push",
    "2": "a doc write that did not land",
    "3": "an unknown-outcome create, then a reworded row or renamed doc",
    "4": "a removed label",
    "5": "dead ticket references",
    "6": "the local clock 10 minutes ahead or behind",
    "7": "a Jira workflow without a direct transition",
    "8": "a rejected push, a detached HEAD",
    "9": "uncommitted human edits in the tool's work tree",
}

FAULTS = {
    "500": "HTTP 500",
    "502": "HTTP 502",
    "503": "HTTP 503",
    "502+applied": "502 after the tracker acted",
    "timeout+applied": "timeout after the tracker acted",
    "push-rejected": "rejected push",
}


def render(figures: dict[str, Any]) -> str:
    machine, cases = figures["model_based"], figures["end_to_end_cases"]
    faults = ", ".join(
        f"{FAULTS.get(name, name)} ×{count:,}" for name, count in machine["faults"].items()
    )
    covered = [c for c in cases["covered"] if c in CASES]
    converge = machine["max_clean_runs_to_converge"]
    lines = [
        "```",
        "$ make soak",
        f"model-based test: {machine['examples']:,} examples, {machine['engine_runs']:,} engine"
        f" runs, {machine['kills']:,} kills between two writes",
        f"faults injected: {faults or 'none'}",
        f"clean runs needed after the last fault: at most {converge} (promised:"
        f" {PROMISED_CLEAN_RUNS})",
        f"end-to-end cases: {len(covered)} of {len(CASES)} covered, at most"
        f" {cases['max_clean_runs_to_converge']} clean run(s) to converge",
        f"failed tests: {figures['failed_tests']}",
        "```",
    ]
    lines += [f"- {n}. {CASES[n]}" for n in covered]
    return "\n".join(lines)


def check(figures: dict[str, Any]) -> list[str]:
    """Why these figures cannot back the promise (empty when they can)."""
    why = []
    if figures.get("failed_tests", 1):
        why.append(f"the run had {figures.get('failed_tests')} failed test(s)")
    converge = figures["model_based"]["max_clean_runs_to_converge"]
    if converge is None or converge > PROMISED_CLEAN_RUNS:
        why.append(f"clean runs to converge: {converge}, promised {PROMISED_CLEAN_RUNS}")
    if (examples := figures["model_based"]["examples"]) < SOAK_EXAMPLES:
        why.append(f"{examples} model-based examples, a soak runs at least {SOAK_EXAMPLES:,}")
    if missing := sorted(set(CASES) - set(figures["end_to_end_cases"]["covered"]), key=int):
        why.append(f"end-to-end cases not run: {', '.join(missing)}")
    return why


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.guarantees_docs")
    parser.add_argument("--from", dest="source", type=Path, help="a run's guarantees.json")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args(argv)
    if args.source is not None:
        figures = json.loads(args.source.read_text(encoding="utf-8"))
        if why := check(figures):
            print(f"{args.source}: not written: {'; '.join(why)}", file=sys.stderr)
            return 1
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", "utf-8")
    if not FIGURES.exists():
        print(f"{FIGURES}: no figures yet: run make soak", file=sys.stderr)
        return 1
    figures = json.loads(FIGURES.read_text(encoding="utf-8"))
    text = README.read_text(encoding="utf-8")
    block = render(figures)
    if args.check:
        if current(text, BLOCK) != block:
            print(f"{README}: the {BLOCK} block is stale: run python -m bench.guarantees_docs")
            return 1
        return 0
    README.write_text(replace_block(text, BLOCK, block), encoding="utf-8")
    print(f"{README}: {BLOCK} regenerated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
