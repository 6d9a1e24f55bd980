"""Latency of `syncd similar` and `syncd search` on a large archive, beside the target.

    python -m bench.archive [--docs 10000] [--repeat 7] [--corpus DIR]

Writes a bench.corpus tree (or reuses --corpus), then runs the real console script as a
separate process each time, the way a pre-commit hook or CI step does:

  python -c pass the interpreter alone in this venv: the floor under every figure
  first run      builds the index in a fresh state directory (no target: once)
  similar        `syncd similar DOC` with the index up to date
  search         `syncd search "certificate expiry"` with the index up to date
  after an edit  one document changed: re-hashed and re-parsed (which loads the
                 Markdown parser), then the lookup; shown, not judged

Each figure is the median wall time of --repeat runs (min and max beside it, and the
median CPU time of the child, which a busy machine inflates far less); the target is
200 ms at 10,000 documents after the first run. The children run with the bytecode
cache on, as an installed package does (PYTHONDONTWRITEBYTECODE is dropped from their
environment, and the first run writes the cache). The machine's load is printed too:
the figures are only as quiet as the machine.
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
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import generate

TARGET_S = 0.200
TARGET_DOCS = 10_000
SYNCD = Path(sys.executable).with_name("syncd")
QUERY = "certificate expiry"


@dataclass(frozen=True)
class Result:
    lines: tuple[str, ...]
    ok: bool  # every judged median under the target (True when none is judged)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # the child's user + system time: what the machine's load does not inflate


def _run(argv: Sequence[str]) -> Run:
    start = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 (our own console script)
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    assert child.stderr is not None
    err = child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({child.returncode}): {err.decode()}")
    return Run(took, usage.ru_utime + usage.ru_stime)


def _line(name: str, samples: Sequence[Run], target: float | None, judged: bool = True) -> str:
    runs = [r.wall for r in samples]
    med = statistics.median(runs)
    cpu = statistics.median(r.cpu for r in samples)
    verdict = ""
    if target is not None:
        ok = "ok" if med < target else "OVER TARGET"
        if not judged:
            ok = f"judged at {TARGET_DOCS:,} documents"
        verdict = f"  target < {target * 1000:.0f} ms: {ok}"
    return (
        f"{name:<14} median {med * 1000:7.1f} ms  (min {min(runs) * 1000:.1f}, max"
        f" {max(runs) * 1000:.1f}, n={len(runs)}; CPU {cpu * 1000:.0f} ms){verdict}"
    )


def measure(n_docs: int = TARGET_DOCS, repeat: int = 7, corpus: Path | None = None) -> Result:
    """Build a corpus (or reuse `corpus`), then time the lookups; see the docstring."""
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-archive-"))
    try:
        root = corpus or work / "postmortems"
        if not root.is_dir() or not any(root.rglob("*.md")):
            generate(root, n_docs, 5, 7)
        docs = sorted(root.rglob("*.md"))
        judged = len(docs) >= TARGET_DOCS
        subject = docs[-1]
        state = work / "state"
        where = ["--root", str(root), "--state-dir", str(state)]
        similar = [str(SYNCD), "similar", str(subject), *where]
        search = [str(SYNCD), "search", QUERY, *where]
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        lines = [f"archive: {len(docs)} documents under {root}; load average {load}"]
        floor = [_run([sys.executable, "-c", "pass"]) for _ in range(repeat)]
        lines.append(_line("python -c pass", floor, None))
        lines.append(_line("first run", [_run(similar)], None))
        ok = True
        for name, cmd in (("similar", similar), ("search", search)):
            runs = [_run(cmd) for _ in range(repeat)]
            lines.append(_line(name, runs, TARGET_S, judged))
            ok &= not judged or statistics.median(r.wall for r in runs) < TARGET_S
        edited = []
        for n in range(repeat):
            victim = docs[n * 7 % len(docs)]
            victim.write_text(victim.read_text() + f"\n<!-- edit {n} -->\n")
            edited.append(_run(similar))
        lines.append(_line("after an edit", edited, None))
        lines.append(f"index size: {(state / 'archive.db').stat().st_size / 1e6:.1f} MB")
        return Result(tuple(lines), ok)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    parser.add_argument("--docs", type=int, default=TARGET_DOCS)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--corpus", type=Path, help="reuse (or create) this corpus directory")
    args = parser.parse_args(argv)
    result = measure(args.docs, max(1, args.repeat), args.corpus)
    print("\n".join(result.lines))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
