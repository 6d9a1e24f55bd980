"""Section rules and date order travel with each parse (ParseOptions), so two
configurations in one process cannot read each other's documents their way."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from syncd.config import DocsSettings
from syncd.documents.options import DEFAULT_OPTIONS, ParseOptions
from syncd.documents.parser import explain_file, parse_file, parse_text
from syncd.documents.patch import Edit, apply_edits
from syncd.documents.sections import SectionRules
from syncd.model import Status

DOC = """# Outage
**Date:** 2026-09-01

## Notes
- Add alerting (@maya, due 03/04/2027)
"""
TAKE_THINGS = ParseOptions(SectionRules(("notes",)), "dmy")


def _brief(options: ParseOptions | None = None) -> list[tuple[str, date | None]]:
    return [(i.action, i.due) for i in parse_text(DOC, options=options).action_items]


def test_each_parse_uses_its_own_options_not_another_configs() -> None:
    assert _brief() == []  # "Notes" is not an action heading by the built-in rules
    assert _brief(TAKE_THINGS) == [("Add alerting", date(2027, 4, 3))]
    assert _brief(ParseOptions(SectionRules(("notes",)))) == [("Add alerting", date(2027, 3, 4))]
    assert _brief(DEFAULT_OPTIONS) == []  # nothing of the earlier parses stayed behind


def test_a_digest_with_a_config_leaves_nothing_behind_for_the_next_parse(
    tmp_path: Path,
) -> None:
    """There is no process-wide parse setting: a daemon or a test run reading one
    configuration's documents cannot change how the next caller's are read."""
    from syncd.config import load_config
    from syncd.digest.sources import load_docs

    docs = tmp_path / "postmortems"
    docs.mkdir()
    (docs / "a.md").write_text(DOC, encoding="utf-8")
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[docs]\nroot = "{docs}"\ndate_order = "dmy"\naction_sections = ["^Notes$"]\n'
    )
    [(_rel, doc)] = load_docs(load_config(config))
    assert [(i.action, i.due) for i in doc.action_items] == [("Add alerting", date(2027, 4, 3))]
    assert _brief() == []
    assert not parse_file(docs / "a.md")[0].action_items


def test_file_explain_and_settings_take_options(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    path.write_text(DOC)
    (item,) = parse_file(path, options=TAKE_THINGS)[0].action_items
    assert item.due == date(2027, 4, 3)
    assert [s.taken for s in explain_file(path, options=TAKE_THINGS).sections] == [False, True]
    docs = DocsSettings(action_sections=["notes"], date_order="dmy")
    from_config = ParseOptions.from_settings(docs)
    assert (from_config.rules.action, from_config.date_order) == (("notes",), "dmy")
    with pytest.raises(ValueError, match="date_order"):
        ParseOptions(date_order="ymd")


def test_write_back_verifies_with_the_options_the_doc_was_read_with() -> None:
    doc = parse_text(DOC, "doc.md", options=TAKE_THINGS)
    (item,) = doc.action_items
    new = apply_edits(DOC, doc, [Edit(item, "OPS-1", Status.DONE)], options=TAKE_THINGS)
    (after,) = parse_text(new, options=TAKE_THINGS).action_items
    assert (after.ticket, after.status, after.due) == ("OPS-1", Status.DONE, date(2027, 4, 3))
