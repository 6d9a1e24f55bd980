"""Reliability suites: the `soak` marker, per-suite count lines, and the security
sweep that runs after everything else.

`soak` tests are deselected unless asked for: `pytest -m soak tests/reliability`
(or `SYNCD_SOAK=1`). Every suite's counts are printed in the terminal summary as
`reliability[<suite>]: key=value …`, with or without `-s`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.reliability import report

HERE = Path(__file__).resolve().parent
LAST = "test_security.py::test_no_secret_in_any_output_of_the_whole_suite"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "soak: long reliability variants; deselected by default, run with `-m soak`",
    )


def _soak_requested(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return "soak" in expr or os.environ.get("SYNCD_SOAK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _soak_requested(config):
        deselected = [i for i in items if i.get_closest_marker("soak") is not None]
        if deselected:
            items[:] = [i for i in items if i.get_closest_marker("soak") is None]
            config.hook.pytest_deselected(items=deselected)
    # The whole-suite secret sweep must see every other test's output: run it last.
    last = [i for i in items if i.nodeid.endswith(LAST)]
    if last:
        items[:] = [i for i in items if not i.nodeid.endswith(LAST)] + last


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    rep = outcome.get_result()
    if str(item.path).startswith(str(HERE)):
        from tests.reliability import harness

        harness.capture(*(content for _name, content in rep.sections))
        if rep.longrepr is not None:
            harness.capture(str(rep.longrepr))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = report.lines()
    if not lines:
        return
    terminalreporter.section("reliability counts")
    for line in lines:
        terminalreporter.write_line(line)
    failed = len(terminalreporter.stats.get("failed", [])) + len(
        terminalreporter.stats.get("error", [])
    )
    if written := report.write_guarantees(failed=failed):
        terminalreporter.write_line(f"reliability guarantees written to {written}")
    cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
    if cache is not None:
        cache.set("reliability/last_run", {k: dict(v) for k, v in report.STATS.items()})
