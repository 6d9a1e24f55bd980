"""Finding action sections by score, the item shapes real teams write, the overrides,
`syncd parse --explain`, and the corpus accuracy targets."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest

from bench.parser_accuracy import TARGETS, render, score_corpus
from syncd.config import ConfigError, load_config
from syncd.documents.lint import LintConfig, lint_document
from syncd.documents.parser import explain_file, parse_text
from syncd.documents.patch import Edit, apply_edits
from syncd.documents.sections import SectionRules, heading_score, rules_from_settings
from syncd.model import Status
from tests.conftest import SYNCD

NO_RULES = SectionRules()


def brief(text: str, rules: SectionRules = NO_RULES) -> list[tuple]:
    doc = parse_text(text, "doc.md", rules)
    return [(i.action, i.owner, i.due, i.status.value, i.ticket) for i in doc.action_items]


# -- the corpus -------------------------------------------------------------------------


def test_corpus_meets_the_accuracy_targets() -> None:
    """The hand-labelled corpus (tests/fixtures/corpus) through the real scorer."""
    report = score_corpus()
    assert len(report.docs) >= 60
    got = report.figures()
    detail = render(report, verbose=True)
    assert got["field_accuracy"] >= TARGETS["field_accuracy"], detail
    assert got["item_recall"] >= TARGETS["item_recall"], detail
    assert got["invented"] <= TARGETS["invented"], detail


# -- headings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "Looking forward",
        "How are we preventing it from happening again?",
        "Lessons learned and future improvements",
        "What we'll do",
        "Preventive measures",
        "Improvements",
        "Remediations",
        "再発防止策",
        "対策",
        "Maßnahmen",
        "Actions correctives",
        "Acciones",
        "Próximos pasos",
        "Ações",
        "改进措施",
        "재발 방지 대책",
    ],
)
def test_follow_up_headings_in_several_languages_score_as_action_sections(heading: str) -> None:
    assert heading_score(heading)[0] >= 3
    text = f"# Title\n\n## Impact\n\nBad.\n\n## {heading}\n\n- Add an alert on queue age (@ann)\n"
    assert brief(text) == [("Add an alert on queue age", "@ann", None, "open", None)]


@pytest.mark.parametrize(
    "heading",
    [
        "Timeline",
        "Impact",
        "Root cause",
        "Contributing factors",
        "What went well",
        "Mitigation and Resolution",
    ],
)
def test_other_sections_are_not_read_even_with_verb_led_lists(heading: str) -> None:
    text = f"# Title\n\n## {heading}\n\n- Add more capacity (@ann)\n- Page the DBA (@bob)\n"
    assert brief(text) == []


def test_noun_phrases_that_open_with_a_verb_do_not_make_a_section() -> None:
    """ "Alert thresholds were tuned …", "Cache stampede after a cold start" (the bench
    corpus's contributing factors) under a heading with no known words."""
    text = (
        "# Outage\n\n## Summary\n\nIt broke.\n\n## What else\n\n"
        "1. Alert thresholds were tuned for average, not peak, traffic.\n"
        "2. Cache stampede after a cold start.\n"
    )
    assert brief(text) == []


def test_an_unknown_heading_is_read_when_its_content_is_clearly_follow_ups() -> None:
    text = (
        "# Outage\n\n## Summary\n\nIt broke.\n\n## Our homework\n\n"
        "- [ ] Add a canary for widget deploys (@ann, WID-1)\n"
        "- [ ] Alert on widget error rate (@bob, WID-2)\n"
    )
    assert [i[0] for i in brief(text)] == [
        "Add a canary for widget deploys",
        "Alert on widget error rate",
    ]


def test_decoys_template_questions_checklists_and_past_mitigations() -> None:
    text = """# Incident
## Mitigations
- Restarted the gateway pods
- Increased the memory limit to 4 GiB

## Mitigation and Resolution
How was the impact stopped?

## Action items
- Remove request IDs from metric labels (@noor)

## Postmortem checklist
- [x] Incident has been dealt with
- [ ] Postmortem reviewed
"""
    assert brief(text) == [("Remove request IDs from metric labels", "@noor", None, "open", None)]


# -- item shapes ------------------------------------------------------------------------


def test_owner_in_parenthesis_does_not_swallow_the_due_date() -> None:
    text = "## Follow-ups\n- Pin the session timeout (Owner: @bob, P0, due 2026-11-27)\n"
    doc = parse_text(text)
    item = doc.action_items[0]
    assert (item.action, item.owner, item.priority, item.due) == (
        "Pin the session timeout",
        "@bob",
        "P0",
        date(2026, 11, 27),
    )


def test_paragraphs_labels_and_heading_items() -> None:
    text = """# Incident
## What we're doing about it
We will move the largest tables onto their own nodes by 31 October 2026. Owner: @ravi.
We are sorry for the disruption.

## Actions
**Action taken:** Upgraded the agent image to prune caches nightly.

# Remediations
## Alert on p99 read latency per rack
Owner: @mei. (STOR-121)
"""
    assert brief(text) == [
        ("We will move the largest tables onto their own nodes", "@ravi", date(2026, 10, 31),
         "open", None),
        ("Upgraded the agent image to prune caches nightly.", None, None, "done", None),
        ("Alert on p99 read latency per rack", "@mei", None, "open", "STOR-121"),
    ]  # fmt: skip


def test_tickets_as_links_reference_links_autolinks_and_keys_in_prose() -> None:
    text = """## Next steps
- Add an alert, see [tracking issue](https://git.example.com/a/b/-/issues/77).
- Template emails from one source ([issue][tpl])
- Move secrets to the vault <https://github.com/acme/ops/issues/12>
- Verify each backup by restoring it (Jira OPS-412)
- Decommission the legacy host OPS-414

[tpl]: https://github.com/acme/accounts/issues/311
"""
    assert [(i[0], i[4]) for i in brief(text)] == [
        ("Add an alert", "https://git.example.com/a/b/-/issues/77"),
        ("Template emails from one source", "https://github.com/acme/accounts/issues/311"),
        ("Move secrets to the vault", "https://github.com/acme/ops/issues/12"),
        ("Verify each backup by restoring it", "OPS-412"),
        ("Decommission the legacy host", "OPS-414"),
    ]


def test_statuses_written_in_the_text_and_as_labels() -> None:
    text = """## Follow-up
- Add timeouts (DONE)
- Shard the store _done in v4.2_
- ~~Rewrite it in Rust~~

**In progress (next 2 weeks):**

- Store timestamps in UTC (@pia)
"""
    assert [(i[0], i[3]) for i in brief(text)] == [
        ("Add timeouts", "done"),
        ("Shard the store", "done"),
        ("Rewrite it in Rust", "done"),
        ("Store timestamps in UTC", "in_progress"),
    ]


def test_parent_item_ending_in_colon_keeps_its_children_as_details() -> None:
    text = """## Action items
- Replace the leader election (@wei, 2026-10-01):
  - it uses wall-clock timestamps
- **Short term:**
  - Page on drift above 1% (@ken)
"""
    assert brief(text) == [
        ("Replace the leader election", "@wei", date(2026, 10, 1), "open", None),
        ("Page on drift above 1%", "@ken", None, "open", None),
    ]


def test_bold_label_groups_in_an_incident_log() -> None:
    text = """# Incident log
## 2026-07-02: consumer crash loop
A malformed message crashed every consumer.

- **Review actions**:
  - Add a dead-letter queue (@ola)
"""
    assert brief(text) == [("Add a dead-letter queue", "@ola", None, "open", None)]


def test_new_shapes_take_a_ticket_and_status_and_read_back_unchanged() -> None:
    text = """# Incident
## What's next
We will widen the token column (@uma).

# Remediations
## Alert on p99 read latency per rack
Owner: @mei.

## Follow-up
- [Media] Cap the input image size, see [issue](https://github.com/a/b/issues/9).
"""
    doc = parse_text(text)
    edits = [
        Edit(i, ticket=f"OPS-{n}" if i.ticket is None else None, status=Status.DONE)
        for n, i in enumerate(doc.action_items)
    ]
    again = parse_text(apply_edits(text, doc, edits))
    assert [(i.action, i.owner, i.status) for i in again.action_items] == [
        (i.action, i.owner, Status.DONE) for i in doc.action_items
    ]
    assert [i.ticket for i in again.action_items] == [
        "OPS-0",
        "OPS-1",
        "https://github.com/a/b/issues/9",
    ]


# -- overrides ----------------------------------------------------------------------------

HOMEWORK = "# T\n\n## Homework\n\nIt is what we agreed.\n\n- Add a canary\n\n## Follow-ups\n\n- Rotate keys\n"


def test_config_regexes_force_and_ignore_sections() -> None:
    assert [i[0] for i in brief(HOMEWORK)] == ["Rotate keys"]
    rules = SectionRules(action=("^homework$",), ignore=("follow",))
    assert [i[0] for i in brief(HOMEWORK, rules)] == ["Add a canary"]


def test_front_matter_overrides_and_reports_a_bad_regex() -> None:
    text = "---\naction_sections: [Homework]\nignore_sections: Follow\n---\n" + HOMEWORK
    assert [i[0] for i in brief(text)] == ["Add a canary"]
    bad = parse_text("---\naction_sections: '[unclosed'\n---\n" + HOMEWORK)
    assert [i.action for i in bad.action_items] == ["Rotate keys"]
    assert any("invalid regex" in p.message and p.line == 1 for p in bad.problems)


def test_config_keys_load_and_reject_bad_regexes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[docs]\naction_sections = ["^Homework"]\nignore_sections = ["Notes"]\n')
    rules = rules_from_settings(load_config(good).docs)
    assert (rules.action, rules.ignore) == (("^Homework",), ("Notes",))
    bad = tmp_path / "bad.toml"
    bad.write_text('[docs]\naction_sections = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match="action_sections"):
        load_config(bad)


# -- explain and lint --------------------------------------------------------------------


def test_explain_gives_section_scores_and_field_rules(tmp_path: Path) -> None:
    path = tmp_path / "pm.md"
    path.write_text(
        "# Outage\n\n## Timeline\n\n- 10:00 alert\n\n## Looking forward\n\n"
        "- Add a canary (Owner: @bob, P0, due 2026-11-27)\n"
    )
    exp = explain_file(path)
    by_heading = {s.heading: s for s in exp.sections}
    assert not by_heading["Timeline"].taken and by_heading["Timeline"].score.heading < 0
    assert by_heading["Looking forward"].taken and by_heading["Looking forward"].score.total >= 2.5
    rules = exp.rules[9]
    assert rules["owner"].startswith("inline field") and "date after the owner" in rules["due"]
    shown = subprocess.run(
        [str(SYNCD), "parse", "--explain", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "skipped" in shown and "taken" in shown and "date after the owner" in shown
    data = json.loads(
        subprocess.run(
            [str(SYNCD), "parse", "--explain", "--format", "json", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    assert data["documents"][0]["action_items"][0]["owner"] == "@bob"


def test_lint_flags_possible_missed_items_with_the_explain_hint() -> None:
    text = """# Outage
**Date:** 2026-03-01

## Review outcome

We talked about it for an hour.
Everyone agreed it was a bad day.
The team was tired.

- Add a canary for widget deploys (@ann, WID-1)
- Alert on widget error rate (@bob, WID-2)
"""
    doc = parse_text(text, "pm.md")
    assert doc.action_items == ()
    findings = lint_document(doc, LintConfig(), "pm.md")
    missed = [f for f in findings if f.rule == "possible-missed-items"]
    assert [f.line for f in missed] == [4]
    assert "syncd parse --explain" in missed[0].hint and "action_sections" in missed[0].hint
    forced = parse_text(text, "pm.md", SectionRules(action=("Review outcome",)))
    assert len(forced.action_items) == 2
    assert not [f for f in lint_document(forced, LintConfig(), "pm.md")
                if f.rule == "possible-missed-items"]  # fmt: skip


def test_the_explain_example_in_the_docs_is_what_the_command_prints(tmp_path: Path) -> None:
    """docs/formats.md shows real output: this fails when the two drift apart."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text()
    section = page[page.index("## `syncd parse --explain`") :]
    source = section.split("```markdown\n", 1)[1].split("```", 1)[0]
    shown = section.split("prints (output of the command, pasted unchanged):\n\n```\n", 1)[1]
    shown = shown.split("```", 1)[0]
    (tmp_path / "pm.md").write_text(source)
    printed = subprocess.run(
        [str(SYNCD), "parse", "--explain", "pm.md"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert printed == shown


def test_lint_honours_action_sections_from_the_config(tmp_path: Path) -> None:
    """Following the possible-missed-items hint makes the finding go away."""
    doc = tmp_path / "pm.md"
    doc.write_text(
        "# Outage\n**Date:** 2026-03-01\n\n## Review outcome\n\nWe talked.\nWe agreed.\n"
        "It was late.\n\n- Add a canary (@ann, WID-1)\n- Alert on errors (@bob, WID-2)\n"
    )
    before = subprocess.run([str(SYNCD), "lint", str(doc)], capture_output=True, text=True)
    assert "possible-missed-items" in before.stdout
    config = tmp_path / "syncd.toml"
    config.write_text('[docs]\naction_sections = ["^Review outcome$"]\n')
    after = subprocess.run(
        [str(SYNCD), "lint", "--config", str(config), str(doc)], capture_output=True, text=True
    )
    assert "possible-missed-items" not in after.stdout
    assert "missing-due" in after.stdout  # the two items are read now


def test_link_items_bracketed_keys_and_numbered_heading_items() -> None:
    text = """## Action items
- [Add rate limiting to the API](https://github.com/org/repo/issues/5)
- [OPS-77] Rotate the signing keys
- [Media] Cap the image size

# Remediations
### 1. Add canary deploys for the API
Owner: @x
"""
    doc = parse_text(text)
    assert brief(text) == [
        (
            "Add rate limiting to the API",
            None,
            None,
            "open",
            "https://github.com/org/repo/issues/5",
        ),
        ("Rotate the signing keys", None, None, "open", "OPS-77"),
        ("Cap the image size", "Media", None, "open", None),
        ("Add canary deploys for the API", "@x", None, "open", None),
    ]
    edits = [Edit(i, ticket=f"NEW-{n}") for n, i in enumerate(doc.action_items)]
    again = parse_text(apply_edits(text, doc, edits))
    assert [i.ticket for i in again.action_items] == ["NEW-0", "NEW-1", "NEW-2", "NEW-3"]
    assert [i.action for i in again.action_items] == [i.action for i in doc.action_items]


def test_heading_words_match_lower_cased_text_as_ignorecase_would() -> None:
    """heading_score matches lower-cased headings without IGNORECASE; that is only the
    same if no lower-case letter other than CASE_FOLDED_TOO equals a pattern letter under
    IGNORECASE (a pattern edit adding, say, a Turkish or Greek word would show up here)."""
    import re  # (this test alone needs it)
    import sys

    from syncd.documents import sections

    letters = set()
    for pattern in (sections._STRONG, sections._NEGATIVE, sections._WEAK):
        plain = re.sub(r"#[^\n]*", "", pattern.pattern)  # VERBOSE comments match nothing
        letters |= {ch for ch in plain if ch.isalpha()}
    assert not any(ch.isupper() for ch in letters)  # the heading is lower-cased first
    # only cased letters take part in case folding
    cased = (chr(cp) for cp in range(sys.maxunicode + 1) if chr(cp).upper() != chr(cp))
    also = {
        ch
        for ch in cased
        if ch.lower() == ch
        and any(ch != letter and re.fullmatch(re.escape(letter), ch, re.I) for letter in letters)
    }
    assert also == set(sections.CASE_FOLDED_TOO)
    # and a heading with one of those is still read as IGNORECASE reads it
    assert [heading_score(h)[0] for h in ("Action ıtems", "Next ſteps", "Timelıne")] == [
        3.0,
        3.0,
        -4.0,
    ]
