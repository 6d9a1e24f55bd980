"""Dates are never silently wrong: superseded dates, two-digit years, year-less quarters,
the configured day/month order (ambiguity reported), version strings."""

from __future__ import annotations

from datetime import date

import pytest

from syncd.config import load_config
from syncd.documents import dates
from syncd.documents.dates import parse_date
from syncd.documents.options import ParseOptions
from syncd.documents.parser import parse_text

INCIDENT = date(2026, 9, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("~~2026-09-15~~ 2026-10-30", date(2026, 10, 30)),
        ("<del>2026-09-15</del> 2026-10-30", date(2026, 10, 30)),
        ("2026-09-30 → 2026-10-15", date(2026, 10, 15)),
        ("2026-09-30 -> 2026-10-15", date(2026, 10, 15)),
        ("Sep 30, moved to Oct 20", date(2026, 10, 20)),
        ("~~Sep 15~~ Oct 3", date(2026, 10, 3)),
    ],
)
def test_superseded_dates_take_the_new_one(raw: str, expected: date) -> None:
    assert parse_date(raw, INCIDENT).value == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("15 Oct 26", date(2026, 10, 15)),
        ("15 October '26", date(2026, 10, 15)),
        ("Mar 1 '28", date(2028, 3, 1)),
        ("Oct 15, 26", date(2026, 10, 15)),
        ("15 Oct 2026", date(2026, 10, 15)),
    ],
)
def test_two_digit_years_with_month_names(raw: str, expected: date) -> None:
    assert parse_date(raw, INCIDENT) == dates.DateResult(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Q1", date(2027, 3, 31)),  # passed before the incident: next year's
        ("Q3", date(2026, 9, 30)),  # the incident's own quarter still counts
        ("end of Q4", date(2026, 12, 31)),
        ("Q2 2026", date(2026, 6, 30)),
        ("Q1 '27", date(2027, 3, 31)),
    ],
)
def test_yearless_quarters_roll_forward_like_days(raw: str, expected: date) -> None:
    assert parse_date(raw, INCIDENT).value == expected
    assert parse_date("Mar 3", INCIDENT).value == date(2027, 3, 3)  # the day rule they follow


@pytest.mark.parametrize(
    "raw", ["release 2026.10.1", "v2026.10.1", "2026.10.1.4", "version 2026.1.2"]
)
def test_version_strings_are_not_dates(raw: str) -> None:
    result = parse_date(raw, INCIDENT)
    assert result.value is None and result.problem


def test_unambiguous_numeric_dates_follow_the_impossible_month() -> None:
    for order in ("mdy", "dmy"):
        assert parse_date("13.03.2027", None, order) == dates.DateResult(date(2027, 3, 13))
        assert parse_date("03/13/2027", None, order) == dates.DateResult(date(2027, 3, 13))


@pytest.mark.parametrize(
    ("order", "expected", "words"),
    [("mdy", date(2027, 12, 3), "month/day"), ("dmy", date(2027, 3, 12), "day/month")],
)
def test_ambiguous_numeric_dates_are_reported_with_the_order_assumed(
    order: str, expected: date, words: str
) -> None:
    result = parse_date("12.03.2027", None, order)
    assert result.value == expected
    assert result.problem is not None and words in result.problem and order in result.problem


def test_one_table_reads_all_numeric_dates_in_one_order_and_reports_the_ambiguous() -> None:
    text = (
        "# Incident\n\n**Date:** 2026-09-01\n\n## Action items\n\n"
        "| Action | Due |\n|---|---|\n| A | 12.03.2027 |\n| B | 13.03.2027 |\n"
    )
    doc = parse_text(text, options=ParseOptions(date_order="dmy"))
    assert [i.due for i in doc.action_items] == [date(2027, 3, 12), date(2027, 3, 13)]
    (problem,) = doc.problems
    assert problem.line == 9 and "day/month" in problem.message


def test_date_order_is_a_docs_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "syncd.toml"
    config.write_text('[docs]\ndate_order = "dmy"\n')
    assert load_config(config).docs.date_order == "dmy"
    config.write_text('[docs]\ndate_order = "ymd"\n')
    with pytest.raises(Exception, match="date_order"):
        load_config(config)
    with pytest.raises(ValueError, match="date_order"):
        ParseOptions(date_order="ymd")


def test_yaml_timestamp_due_is_a_date_not_a_datetime() -> None:
    text = "---\ndate: 2026-09-01\naction_items:\n  - item: A\n    due: 2026-10-01 09:30:00\n---\n# T\n"
    (item,) = parse_text(text).action_items
    assert type(item.due) is date
