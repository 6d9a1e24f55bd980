"""Hypothesis: no document shape crashes parse, lint or patch, and differential tests
against the real parsers GitHub-style Markdown and YAML are judged by.

- shapes: documents assembled from the awkward shapes real teams write (YAML strings,
  merge keys, timestamps, flow mappings, escapes, block scalars; tables in comments, in
  indented code, in list items, ragged; superseded and two-digit-year dates). parse,
  lint and a random ticket/status edit never raise anything but a refusal, and a
  refusal leaves nothing written;
- GFM tables: the rows markdown-it-py's GFM table rule renders are the rows we read
  (inputs stay inside the shapes where we follow GitHub; the deliberate leniencies are
  listed in docs/formats.md);
- YAML: entries read as ruamel.yaml reads them, and a patched document, loaded by
  ruamel.yaml, is the original data with exactly the written ticket/status changed.

Bounded in `make test` (>= 500 examples each); `-m soak` runs the same properties with
10x the examples.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

from syncd.documents.lint import LintConfig, lint_document
from syncd.documents.parser import INTERNAL_ERROR, parse_text
from syncd.documents.patch import Edit, PatchError, apply_edits
from syncd.model import Status, Style
from tests.reliability import report

GFM = MarkdownIt("commonmark").enable("table")
LINT = LintConfig()


def bounded(n: int) -> Any:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# ------------------------------------------------------------------------------ shapes
WORDS = st.sampled_from(["Fix pool", "Add alert", "Cap retries", "Drain", "Runbook", "Ship it"])
SCALARS = st.sampled_from(
    [
        "open",
        "done",
        "'won''t do'",
        '"in \\"review\\""',
        '"in progress"',
        "",
        "~",
        "null",
        "2026-10-01",
        "2026-10-01 10:00:00",
        "[a, b]",
        "{x: 1}",
        ">\n      folded",
        "|\n      literal",
        "*d",
        "OPS-1  # tracked",
        "'a: b'",
        "12",
        "true",
    ]
)
DATES = st.sampled_from(
    [
        "2026-10-01",
        "~~2026-09-15~~ 2026-10-30",
        "2026-09-30 → 2026-10-15",
        "15 Oct 26",
        "Mar 1 '28",
        "Q1",
        "12.03.2027",
        "13.03.2027",
        "03/04/26",
        "release 2026.10.1",
        "TBD",
        "",
    ]
)


@st.composite
def yaml_entry(draw: Any) -> list[str]:
    kind = draw(st.sampled_from(["string", "block", "flow", "merge", "empty"]))
    if kind == "string":
        return [f"  - {draw(WORDS)}"]
    if kind == "flow":
        status = draw(st.sampled_from(["open", "'won''t do'", '"done"', ""]))
        comment = draw(st.sampled_from(["", "  # note", " # a, b}"]))
        return [f"  - {{item: {draw(WORDS)}, status: {status}, owner: bob}}{comment}"]
    head = "  - <<: *d\n    item: " if kind == "merge" else "  - item: "
    lines = [f"{head}{draw(WORDS)}"]
    for key in draw(
        st.lists(st.sampled_from(["status", "ticket", "owner", "due"]), max_size=3, unique=True)
    ):
        value = draw(DATES) if key == "due" else draw(SCALARS)
        lines.append(f"    {key}:{' ' + value if value else ''}")
    return lines


@st.composite
def yaml_doc(draw: Any) -> str:
    entries = draw(st.lists(yaml_entry(), min_size=1, max_size=4))
    body = ["defaults: &d", "  owner: team", "  status: open", "action_items:"]
    body += [line for entry in entries for line in entry]
    if draw(st.booleans()):
        return "---\ndate: 2026-09-01\n" + "\n".join(body) + "\n---\n\n# Incident\n"
    return "# Incident\n\n**Date:** 2026-09-01\n\n```yaml\n" + "\n".join(body) + "\n```\n\nAfter.\n"


CELL = st.one_of(WORDS, DATES, st.sampled_from(["@a", "Open", "Done", "OPS-2", "", "a \\| b"]))


@st.composite
def table_block(draw: Any) -> list[str]:
    cols = draw(st.sampled_from([["Action"], ["Action", "Owner"], ["Action", "Due", "Status"]]))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _ in range(draw(st.integers(0, 4))):
        width = draw(st.integers(1, len(cols) + 2))
        lines.append("| " + " | ".join(draw(CELL) for _ in range(width)) + " |")
    return lines


@st.composite
def wrapped_table(draw: Any) -> list[str]:
    lines = draw(table_block())
    how = draw(
        st.sampled_from(["plain", "comment", "indented-code", "list", "quote-after", "list-after"])
    )
    if how == "comment":
        return ["<!--", *lines, "-->"]
    if how == "indented-code":
        return ["Text.", "", *("    " + line for line in lines)]
    if how == "list":
        return ["- Follow-ups", "", *("  " + line for line in lines)]
    if how == "quote-after":
        return [*lines, "> Note | x"]
    if how == "list-after":
        return [*lines, "- see | x"]
    return lines


@st.composite
def shape_doc(draw: Any) -> str:
    parts = ["# Incident", "", "**Date:** 2026-09-01", "", "## Action items", ""]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["table", "list", "yaml"]))
        if kind == "table":
            parts += draw(wrapped_table())
        elif kind == "list":
            parts += [
                f"- [ ] {draw(WORDS)} (@a, due {draw(DATES)})"
                for _ in range(draw(st.integers(1, 3)))
            ]
        else:
            parts += ["```yaml", "action_items:", *draw(yaml_entry()), "```"]
        parts.append("")
    return "\n".join(parts)


def edit_some(text: str, data: Any) -> None:
    """parse + lint + one random edit; the edit is applied in full or refused."""
    doc = parse_text(text)
    lint_document(doc, LINT, "pm.md")
    for problem in doc.problems:
        assert problem.line >= 1 and problem.message
        assert not problem.message.startswith(INTERNAL_ERROR), (problem, text)
    if not doc.action_items:
        return
    item = data.draw(st.sampled_from(doc.action_items))
    ticket = data.draw(st.sampled_from(["OPS-42", "acme/ops#7", None]))
    status = data.draw(st.sampled_from([None, *Status]))
    try:
        after = apply_edits(text, doc, [Edit(item, ticket=ticket, status=status)])
    except PatchError as exc:
        assert str(exc)
        report.add("fuzz-shapes", refused=1)
        return
    again = parse_text(after)
    assert [i.action for i in again.action_items] == [i.action for i in doc.action_items]
    lint_document(again, LINT, "pm.md")
    report.add("fuzz-shapes", written=1)


def _shapes(text: str, data: Any) -> None:
    report.add("fuzz-shapes", examples=1)
    edit_some(text, data)


@bounded(600)
@given(shape_doc(), st.data())
def test_no_shape_crashes_parse_lint_or_patch(text: str, data: Any) -> None:
    _shapes(text, data)


@bounded(600)
@given(yaml_doc(), st.data())
def test_no_yaml_shape_crashes_parse_lint_or_patch(text: str, data: Any) -> None:
    _shapes(text, data)


@pytest.mark.soak
@bounded(6000)
@given(shape_doc(), st.data())
def test_no_shape_crashes_parse_lint_or_patch_soak(text: str, data: Any) -> None:
    _shapes(text, data)


@pytest.mark.soak
@bounded(6000)
@given(yaml_doc(), st.data())
def test_no_yaml_shape_crashes_parse_lint_or_patch_soak(text: str, data: Any) -> None:
    _shapes(text, data)


# ------------------------------------------------------------------------- GFM differential
PLAIN_CELL = st.sampled_from(["Fix pool", "Add alert", "Drain", "", "@a", "a \\| b", "*Cap*"])


@st.composite
def gfm_doc(draw: Any) -> str:
    cols = draw(st.integers(1, 3))
    header = ["Action", "Owner", "Status"][:cols]
    outer = draw(st.booleans()) or cols == 1  # a one-column table needs its pipes

    def row(cells: list[str]) -> str:
        body = " | ".join(cells)
        return f"| {body} |" if outer else body

    lines = [row(header), row(["---"] * cols)]
    for _ in range(draw(st.integers(0, 5))):
        width = draw(st.integers(1, cols + 1))
        cells = [draw(PLAIN_CELL) for _ in range(width)]
        if not outer and width == 1:
            cells.append("")  # without outer pipes a row needs a pipe to be a row
        lines.append(row(cells))
    lines += draw(
        st.lists(
            st.sampled_from(["> Note | x", "- see | x", "## Next", "", "1. item | x"]), max_size=2
        )
    )
    how = draw(st.sampled_from(["plain", "comment", "indented-code", "list", "quote"]))
    if how == "comment":
        lines = ["<!--", *lines, "-->"]
    elif how == "indented-code":
        lines = ["Text.", "", *("    " + line for line in lines)]
    elif how == "list":
        lines = ["- Follow-ups", "", *("  " + line for line in lines)]
    return "# Incident\n\n## Action items\n\n" + "\n".join(lines) + "\n"


def gfm_actions(text: str) -> list[str]:
    """First-column texts of the body rows markdown-it-py's GFM table rule renders."""
    tokens = GFM.parse(text)
    out, in_body, col = [], False, 0
    for tok in tokens:
        if tok.type == "tbody_open":
            in_body = True
        elif tok.type == "tbody_close":
            in_body = False
        elif tok.type == "tr_open":
            col = 0
        elif tok.type == "td_open":
            col += 1
        elif in_body and tok.type == "inline" and col == 1 and tok.content.strip():
            out.append(tok.content.strip())
    return out


def our_actions(text: str) -> list[str]:
    doc = parse_text(text)
    return [
        doc.blocks[i.anchor.block].rows[i.anchor.row].cells[0].text.replace("\\|", "|")  # type: ignore[attr-defined]
        for i in doc.action_items
        if i.anchor is not None and i.anchor.style is Style.TABLE
    ]


def _gfm(text: str) -> None:
    report.add("fuzz-gfm", examples=1)
    assert our_actions(text) == gfm_actions(text), text


@bounded(600)
@given(gfm_doc())
def test_tables_read_as_github_renders_them(text: str) -> None:
    _gfm(text)


@pytest.mark.soak
@bounded(6000)
@given(gfm_doc())
def test_tables_read_as_github_renders_them_soak(text: str) -> None:
    _gfm(text)


# ------------------------------------------------------------------------ YAML differential
SAFE = YAML(typ="safe", pure=True)


def yaml_body(text: str) -> str:
    if text.startswith("---\n"):
        return text.split("---\n")[1]
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


def _yaml(text: str, data: Any) -> None:
    report.add("fuzz-yaml", examples=1)
    try:
        truth = SAFE.load(yaml_body(text))
    except Exception:  # the generator can write invalid YAML (e.g. `*d` without anchor)
        report.add("fuzz-yaml", invalid=1)
        # never silent: YAML a strict loader refuses is either still read or reported
        doc = parse_text(text)
        assert doc.action_items or doc.problems, "unreadable YAML dropped without a problem"
        return
    doc = parse_text(text)
    entries = truth["action_items"]
    expected = [str(e["item"] if isinstance(e, dict) else e).strip() for e in entries]
    assert [i.action for i in doc.action_items] == [e for e in expected if e]
    if not doc.action_items:
        return
    idx = data.draw(st.integers(0, len(doc.action_items) - 1))
    item = doc.action_items[idx]
    try:
        after = apply_edits(text, doc, [Edit(item, ticket="OPS-42", status=Status.DONE)])
    except PatchError:
        report.add("fuzz-yaml", refused=1)
        return
    report.add("fuzz-yaml", written=1)
    want = copy.deepcopy(truth)
    target = want["action_items"][idx]
    assert isinstance(target, dict)
    ticket_key = next((k for k in ("ticket",) if k in target), "ticket")
    target[ticket_key] = "OPS-42"
    got = SAFE.load(yaml_body(after))
    got_target = got["action_items"][idx]
    assert got_target.get("ticket") == "OPS-42", (text, after)
    # (`status: true` already reads as done and is left alone)
    status = got_target.get("status")
    assert status is True or str(status).lower() == "done", (text, after)
    for key in set(target) | set(got_target):
        if key not in ("ticket", "status"):
            assert got_target.get(key) == target.get(key), (key, text, after)
    for other in range(len(entries)):
        if other != idx:
            assert got["action_items"][other] == truth["action_items"][other], (text, after)
    assert {k: v for k, v in got.items() if k != "action_items"} == {
        k: v for k, v in truth.items() if k != "action_items"
    }


@bounded(600)
@given(yaml_doc(), st.data())
def test_yaml_reads_and_patches_as_ruamel_reads_it(text: str, data: Any) -> None:
    _yaml(text, data)


@pytest.mark.soak
@bounded(6000)
@given(yaml_doc(), st.data())
def test_yaml_reads_and_patches_as_ruamel_reads_it_soak(text: str, data: Any) -> None:
    _yaml(text, data)
