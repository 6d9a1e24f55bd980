"""Latency of `syncd similar` and `syncd search` on a large archive, beside the target.

    python -m bench.archive [--docs 10000] [--repeat 7] [--corpus DIR]

Writes a bench.corpus tree (or reuses --corpus), then runs the real console script as a
separate process each time, the way a pre-commit hook or CI step does:

  first run      builds the index in a fresh state directory (no target: once)
  similar        `syncd similar DOC` with the index up to date
  search         `syncd search "certificate expiry"` with the index up to date
  after an edit  one document changed: re-hashed and re-indexed, then the lookup

Each figure is the median wall time of --repeat runs (min and max beside it); the
target is 200 ms at 10,000 documents after the first run. The machine's load is
printed too: the figures are only as quiet as the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.corpus import generate

TARGET_S = 0.200
SYNCD = Path(sys.executable).with_name("syncd")
QUERY = "certificate expiry"


def _run(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 (our own console script)
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return took


def _line(name: str, runs: Sequence[float], target: float | None) -> str:
    med = statistics.median(runs)
    verdict = ""
    if target is not None:
        ok = "ok" if med < target else "OVER TARGET"
        verdict = f"  target < {target * 1000:.0f} ms: {ok}"
    return (
        f"{name:<14} median {med * 1000:7.1f} ms  (min {min(runs) * 1000:.1f}, max"
        f" {max(runs) * 1000:.1f}, n={len(runs)}){verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--corpus", type=Path, help="reuse (or create) this corpus directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-archive-"))
    try:
        root = args.corpus or work / "postmortems"
        if not root.is_dir() or not any(root.rglob("*.md")):
            generate(root, args.docs, 5, 7)
        docs = sorted(root.rglob("*.md"))
        subject = docs[-1]
        state = work / "state"
        where = ["--root", str(root), "--state-dir", str(state)]
        similar = [str(SYNCD), "similar", str(subject), *where]
        search = [str(SYNCD), "search", QUERY, *where]
        print(f"archive: {len(docs)} documents under {root}; load average {os.getloadavg()}")
        failed = False
        first = _run(similar)
        print(_line("first run", [first], None))
        for name, cmd in (("similar", similar), ("search", search)):
            runs = [_run(cmd) for _ in range(args.repeat)]
            print(_line(name, runs, TARGET_S))
            failed |= statistics.median(runs) >= TARGET_S
        edited = []
        for n in range(args.repeat):
            victim = docs[n * 7 % len(docs)]
            victim.write_text(victim.read_text() + f"\n<!-- edit {n} -->\n")
            edited.append(_run(similar))
        print(_line("after an edit", edited, TARGET_S))
        print(f"index size: {(state / 'archive.db').stat().st_size / 1e6:.1f} MB")
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
