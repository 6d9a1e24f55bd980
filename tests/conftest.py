"""Fixtures every test module shares."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The `syncd` console script of the interpreter running the tests (venv, CI or system).
SYNCD = Path(sys.executable).with_name("syncd")


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """`logs.configure` binds structlog to the sys.stderr of the moment, which under capsys
    is a buffer closed after the test: start from structlog's defaults and leave them."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def no_syncd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`load_config` merges SYNCD_* variables over the file: keep the caller's out."""
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)
