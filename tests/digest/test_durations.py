"""Durations as people write them feed MTTR/MTTD; an unreadable one is a problem."""

from __future__ import annotations

import pytest

from syncd.documents.metadata import duration_minutes
from syncd.documents.parser import parse_text


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("140", 140),  # bare number: minutes
        ("1h 20m", 80),
        ("01:20", 80),  # h:mm
        ("80 min", 80),
        ("4 hours", 240),
        ("14:22 – 14:42 UTC (20 minutes)", 20),  # the stated total wins
        ("14:22 – 15:02", 40),
        ("2026-03-04 23:10 – 2026-03-05 01:00", 110),  # across midnight
    ],
)
def test_written_forms(text: str, minutes: int) -> None:
    assert duration_minutes(text) == minutes


def test_bare_numbers_in_front_matter_and_tables_count() -> None:
    fm = parse_text("---\ndate: 2026-01-01\nduration: 140\n---\n# T\n")
    table = parse_text(
        "# T\n\n**Date:** 2026-01-01\n\n| | |\n|---|---|\n| Duration | 110 |\n"
        "| Time to detection | 15 |\n"
    )
    assert (fm.duration_minutes, table.duration_minutes, table.detection_minutes) == (140, 110, 15)


def test_unreadable_duration_is_a_problem_at_its_line() -> None:
    doc = parse_text("# T\n\n**Date:** 2026-01-01\n**Duration:** about an hour\n")
    assert doc.duration_minutes is None
    (problem,) = doc.problems
    assert problem.line == 4
    assert "'about an hour' is not a duration" in problem.message
    assert "1h 20m" in problem.message  # says what to write instead


def test_placeholders_are_not_problems() -> None:
    doc = parse_text("# T\n\n**Date:** 2026-01-01\n**Duration:** TBD\n")
    assert (doc.duration_minutes, doc.problems) == (None, ())
