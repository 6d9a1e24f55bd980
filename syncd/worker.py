"""`syncd run`: the long-running worker (filled in by the worker implementation)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    return None
