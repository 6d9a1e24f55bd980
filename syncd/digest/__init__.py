"""The weekly leadership digest (metrics, rendering, sending)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add `syncd digest` to the CLI (filled in by the digest implementation)."""
    return None
