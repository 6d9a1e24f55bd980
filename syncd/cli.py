"""Command line entry point (filled in as subcommands land)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("syncd: not implemented yet", file=sys.stderr)
    return 1
