"""Every `action_items:` shape YAML allows reads without crashing, and the YAML patcher
either edits it correctly or refuses the document (which then stays byte-identical).

Each case runs in a fenced ```yaml block and in front matter; ruamel.yaml (the real
loader) is the oracle for what the patched text means.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from ruamel.yaml import YAML

from syncd.documents.lint import LintConfig, lint_document
from syncd.documents.parser import parse_text
from syncd.documents.patch import Edit, PatchError, apply_edits
from syncd.model import Status


def fenced(body: str) -> str:
    return f"# Incident\n\n## Action items\n\n```yaml\n{body}```\n\nAfter the block.\n"


def front(body: str) -> str:
    return f"---\ntitle: Incident\ndate: 2026-09-01\n{body}---\n\n# Incident\n\nBody.\n"


WRAPPERS = {"fence": fenced, "front-matter": front}


def yaml_of(text: str) -> Any:
    """The action_items list of the (only) YAML in `text`, as ruamel reads it."""
    if text.startswith("---\n"):
        body = text.split("---\n")[1]
    else:
        body = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    return YAML(typ="safe", pure=True).load(body)["action_items"]


@pytest.fixture(params=WRAPPERS)
def wrap(request: pytest.FixtureRequest) -> Any:
    return WRAPPERS[request.param]


def test_plain_string_entries_read_as_items(wrap: Any) -> None:
    doc = parse_text(wrap("action_items:\n  - Fix it\n  - item: Add alert\n    owner: bob\n"))
    assert [(i.action, i.owner) for i in doc.action_items] == [
        ("Fix it", None),
        ("Add alert", "bob"),
    ]


def test_a_plain_string_entry_is_refused_not_rewritten(wrap: Any) -> None:
    text = wrap("action_items:\n  - Fix it\n")
    doc = parse_text(text)
    with pytest.raises(PatchError, match=r"line \d+: .*plain string"):
        apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-1")])


def test_merge_keys_read_and_patch(wrap: Any) -> None:
    body = (
        "defaults: &d\n  owner: bob\n  status: open\n"
        "action_items:\n  - <<: *d\n    item: Fix it\n  - <<: *d\n    item: Add alert\n"
        "    owner: sri\n"
    )
    text = wrap(body)
    doc = parse_text(text)
    assert [(i.action, i.owner, i.status) for i in doc.action_items] == [
        ("Fix it", "bob", Status.OPEN),
        ("Add alert", "sri", Status.OPEN),
    ]
    after = apply_edits(text, doc, [Edit(doc.action_items[1], ticket="OPS-2", status=Status.DONE)])
    entries = yaml_of(after)
    assert (entries[1]["ticket"], entries[1]["status"], entries[1]["owner"]) == (
        "OPS-2",
        "Done",
        "sri",
    )
    assert entries[0]["status"] == "open" and "ticket" not in entries[0]


@pytest.mark.parametrize("value", ["2026-10-01", "2026-10-01 10:00:00", "2026-10-01T10:00:00Z"])
def test_timestamps_are_dates_and_lint_does_not_crash(wrap: Any, value: str) -> None:
    doc = parse_text(wrap(f"action_items:\n  - item: Fix it\n    due: {value}\n"))
    (item,) = doc.action_items
    assert type(item.due) is date and item.due == date(2026, 10, 1)
    assert item.due_raw == "2026-10-01"
    lint_document(doc, LintConfig(), "pm.md")


def test_an_empty_ticket_value_is_filled_in_place(wrap: Any) -> None:
    body = "action_items:\n  - item: A\n    ticket:\n    status:\n  - item: B\n    ticket: OPS-2\n"
    text = wrap(body)
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-9", status=Status.DONE)])
    entries = yaml_of(after)
    assert entries[0] == {"item": "A", "ticket": "OPS-9", "status": "Done"}
    assert entries[1] == {"item": "B", "ticket": "OPS-2"}
    assert [i.action for i in parse_text(after).action_items] == ["A", "B"]


def test_an_empty_last_value_does_not_land_on_the_closing_line(wrap: Any) -> None:
    text = wrap("action_items:\n  - item: A\n    ticket:\n")
    doc = parse_text(text)
    after = apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-9")])
    assert yaml_of(after) == [{"item": "A", "ticket": "OPS-9"}]
    assert parse_text(after).action_items[0].ticket == "OPS-9"


def test_flow_mapping_keeps_its_keys_and_comment(wrap: Any) -> None:
    text = wrap(
        "action_items:\n  - {item: A, status: open, owner: bob}  # the pool\n  - {item: B}\n"
    )
    doc = parse_text(text)
    edits = [
        Edit(doc.action_items[0], ticket="OPS-1", status=Status.DONE),
        Edit(doc.action_items[1], ticket="OPS-2", status=Status.IN_PROGRESS),
    ]
    after = apply_edits(text, doc, edits)
    assert yaml_of(after) == [
        {"item": "A", "status": "Done", "owner": "bob", "ticket": "OPS-1"},
        {"item": "B", "ticket": "OPS-2", "status": "In Progress"},
    ]
    assert "# the pool" in after


@pytest.mark.parametrize(
    ("raw", "status"),
    [("'won''t do'", Status.WONT_DO), ('"in \\"progress\\""', None), ("'open' # c", Status.OPEN)],
)
def test_quoted_values_with_escapes_are_replaced_whole(wrap: Any, raw: str, status: Any) -> None:
    text = wrap(f"action_items:\n  - item: A\n    status: {raw}\n    owner: bob\n")
    doc = parse_text(text)
    (item,) = doc.action_items
    if status is not None:
        assert item.status is status
    after = apply_edits(text, doc, [Edit(item, status=Status.DONE, ticket="OPS-3")])
    assert yaml_of(after) == [{"item": "A", "status": "Done", "owner": "bob", "ticket": "OPS-3"}]


@pytest.mark.parametrize(
    "value",
    [
        "status: >\n      open\n",
        "status: |\n      open\n",
        "status: [open]\n",
        "ticket: [OPS-1, OPS-2]\n",
        "status:\n      open\n",
    ],
)
def test_values_it_cannot_rewrite_refuse_the_document(wrap: Any, value: str) -> None:
    text = wrap(f"action_items:\n  - item: A\n    {value}")
    doc = parse_text(text)
    (item,) = doc.action_items
    with pytest.raises(PatchError, match=r"^line \d+: "):
        apply_edits(text, doc, [Edit(item, status=Status.DONE, ticket="OPS-9")])


def test_a_multi_line_flow_mapping_refuses_new_keys(wrap: Any) -> None:
    text = wrap("action_items:\n  - {item: A,\n     owner: bob}\n")
    doc = parse_text(text)
    with pytest.raises(PatchError, match=r"^line \d+: .*flow mapping"):
        apply_edits(text, doc, [Edit(doc.action_items[0], ticket="OPS-9")])


@pytest.mark.parametrize(
    "body",
    [
        "action_items:\n  - 42\n  - null\n  - [a, b]\n  - item: ok\n",
        "action_items:\n  - item: {nested: map}\n  - item: ok\n",
        "action_items:\n  - item: ok\n    owner: [a, b]\n    due: [2026-10-01]\n",
        "action_items:\n  - &x\n    item: ok\n  - *x\n",
        "action_items:\n  - ? complex\n    : key\n  - item: ok\n",
        "action_items:\n  - item: ok\n    due: 12:30\n    priority: 1\n",
    ],
)
def test_odd_shapes_never_crash(wrap: Any, body: str) -> None:
    doc = parse_text(wrap(body))
    assert "ok" in [i.action for i in doc.action_items]
    lint_document(doc, LintConfig(), "pm.md")
    for item in doc.action_items:
        try:
            after = apply_edits(wrap(body), doc, [Edit(item, ticket="OPS-5", status=Status.DONE)])
        except PatchError:
            continue
        assert parse_text(after).action_items[doc.action_items.index(item)].ticket == "OPS-5"


def test_a_parser_bug_is_a_problem_of_that_document_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from syncd.documents import parser  # (patched below)

    def broken(*_args: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(parser, "yaml_items", broken)
    doc = parse_text(fenced("action_items:\n  - item: A\n"))
    (problem,) = doc.problems
    assert problem.line == 1 and problem.message.startswith(parser.INTERNAL_ERROR)
    assert "KeyError" in problem.message
