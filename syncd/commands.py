"""Subcommands that work on a configuration: plan, sync, status, state, demo."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    return None
