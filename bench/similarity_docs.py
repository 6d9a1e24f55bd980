"""Regenerate the command output quoted in docs/similarity.md (never typed by hand).

    python -m bench.similarity_docs            # rewrite the example and figure blocks
    python -m bench.similarity_docs --latency  # also run bench.archive (minutes)
    python -m bench.similarity_docs --check    # exit 1 if a block is stale (tests use it)

Each block sits between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->`
and holds the output of the command named in its first line.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "similarity.md"
HISTORY = "tests/fixtures/similarity/history"
EXAMPLE_DOC = f"{HISTORY}/2026-04-10-events-backlog.md"
SYNCD = Path(sys.executable).with_name("syncd")


def _run(argv: Sequence[str]) -> str:
    result = subprocess.run(  # noqa: S603 - our own CLI and benchmarks, fixed arguments
        list(argv), capture_output=True, text=True, check=False, cwd=ROOT
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr}")
    return result.stdout


def blocks(latency: bool) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as state:
        where = ["--root", HISTORY, "--state-dir", state]
        similar = ["syncd", "similar", EXAMPLE_DOC, *where[:2]]
        out = {
            "example": _fence(
                " ".join(similar), _run([str(SYNCD), "similar", EXAMPLE_DOC, *where]), ""
            ),
            "example-markdown": _fence(
                " ".join([*similar, "--format", "markdown"]),
                _run([str(SYNCD), "similar", EXAMPLE_DOC, *where, "--format", "markdown"]),
                "markdown",
            ),
        }
    out["figures"] = _fence(
        "python -m bench.similarity", _run([sys.executable, "-m", "bench.similarity"]), ""
    )
    if latency:
        out["latency"] = _fence(
            "python -m bench.archive", _run([sys.executable, "-m", "bench.archive"]), ""
        )
    return out


def _fence(command: str, output: str, lang: str) -> str:
    return f"```{lang}\n$ {command}\n{output.rstrip()}\n```"


def _pattern(name: str) -> re.Pattern[str]:
    key = re.escape(name)
    return re.compile(
        rf"(<!-- BEGIN generated:{key} -->\n)(.*?)\n?(<!-- END generated:{key} -->)", re.S
    )


def _between(body: str) -> Callable[[re.Match[str]], str]:
    def put(m: re.Match[str]) -> str:
        return f"{m.group(1)}{body}\n{m.group(3)}"

    return put


def current(text: str, name: str) -> str | None:
    found = _pattern(name).search(text)
    return found.group(2) if found else None


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the generated block NAME holding `body` (which must exist)."""
    if _pattern(name).search(text) is None:
        raise SystemExit(f"no <!-- BEGIN generated:{name} --> block to write")
    return _pattern(name).sub(_between(body), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.similarity_docs", description=__doc__)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    stale = []
    for name, body in blocks(args.latency).items():
        if current(text, name) != body:
            stale.append(name)
            text = _pattern(name).sub(_between(body), text)
    if args.check:
        if stale:
            print(f"stale blocks in {DOC}: {', '.join(stale)}", file=sys.stderr)
        return 1 if stale else 0
    DOC.write_text(text)
    print(f"{DOC}: {', '.join(stale) or 'nothing'} regenerated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
