"""Parser tests: the seed documents exactly, then one hard case per format quirk."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from syncd.documents.dates import parse_date
from syncd.documents.discover import doc_json
from syncd.documents.parser import parse_file, parse_text
from syncd.documents.vocab import parse_severity, parse_status
from syncd.model import Status

SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
GOLDEN = sorted((Path(__file__).resolve().parents[1] / "fixtures").glob("*/*.json"))


def items(text: str) -> list[dict]:
    return doc_json(parse_text(text))["action_items"]


def brief(text: str) -> list[tuple]:
    return [(i["action"], i["owner"], i["due"], i["status"], i["ticket"]) for i in items(text)]


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_documents_parse_exactly(golden: Path) -> None:
    """Seed documents and hard cases against hand-checked expectations (every field)."""
    doc = parse_file(golden.with_suffix(".md"))[0]
    got = doc_json(doc, display_path=golden.with_suffix(".md").name)
    assert got == json.loads(golden.read_text())


# -- pipe tables ------------------------------------------------------------------


def test_any_column_order_and_vocabulary() -> None:
    text = """# Outage
**Date:** 2026-01-10

## 9. Action Items
| Target date | Who | Pri | Task | Bug # | Status | Type |
|:-----------:|-----|-----|------|-------|--------|------|
| 2026-02-01 | @ann | P1 | Add canary stage | Bug 5554823 | Not Started | Prevent |
| Jan 20 | Bob Smith | p0 | Rotate keys | [OPS-7](https://jira.example/browse/OPS-7) | ✅ | Mitigate |
"""
    assert items(text) == [
        {
            "action": "Add canary stage",
            "owner": "@ann",
            "due": "2026-02-01",
            "priority": "P1",
            "status": "open",
            "ticket": "Bug 5554823",
            "line": 7,
        },
        {
            "action": "Rotate keys",
            "owner": "Bob Smith",
            "due": "2026-01-20",
            "priority": "P0",
            "status": "done",
            "ticket": "OPS-7",
            "line": 8,
        },
    ]
    assert parse_text(text).action_items[0].category == "Prevent"


def test_table_without_outer_pipes_ragged_rows_escaped_pipes_code_spans() -> None:
    text = """## Action items & Followups
Action Item | Owner | Due Date | Status | Issue
--- | --- | --- | --- | ---
Split `a|b` parsing | @x | 2026-03-01 | In Progress | #12
Handle \\| in names | @y
Tabbed\t| @z\t| 2026-03-05\t| Won't do\t| acme/rel#3
"""
    assert brief(text) == [
        ("Split a|b parsing", "@x", "2026-03-01", "in_progress", "#12"),
        ("Handle | in names", "@y", None, "open", None),
        ("Tabbed", "@z", "2026-03-05", "wont_do", "acme/rel#3"),
    ]


def test_several_tables_in_one_section_and_remediation_heading() -> None:
    text = """## Remediation
### Short term
| Action | Owner |
|---|---|
| Patch the bug | @a |

### Long term
| Item | Assignee | Work Item |
|---|---|---|
| Redesign retries | @b | ENG-55 |
"""
    got = parse_text(text).action_items
    assert [(i.action, i.owner, i.ticket, i.category) for i in got] == [
        ("Patch the bug", "@a", None, "Short term"),
        ("Redesign retries", "@b", "ENG-55", "Long term"),
    ]


def test_bold_status_in_action_cell_and_heading_inheritance() -> None:
    text = """## Follow-ups
### Immediate actions (Completed)
| Action | Owner |
|---|---|
| Roll back the release | @a |
| **TODO** Write the runbook | @b |

### Preventive
- [x] Add the alert — @c, 2026-01-02
- [ ] Add load test (@d, due 2026-02-03)
"""
    assert brief(text) == [
        ("Roll back the release", "@a", None, "done", None),
        ("Write the runbook", "@b", None, "open", None),
        ("Add the alert", "@c", "2026-01-02", "done", None),
        ("Add load test", "@d", "2026-02-03", "open", None),
    ]


def test_status_vocabulary() -> None:
    assert parse_status("Complete") is Status.DONE
    assert parse_status("✔️") is Status.DONE
    assert parse_status("🔄") is Status.IN_PROGRESS
    assert parse_status("Not Started") is Status.OPEN
    assert parse_status("TODO") is Status.OPEN
    assert parse_status("Won’t do") is Status.WONT_DO
    assert parse_status("Cancelled") is Status.WONT_DO
    assert parse_status("Done (merged #123)") is Status.DONE
    assert parse_status("In progress - 50%") is Status.IN_PROGRESS


def test_unknown_status_is_a_problem_not_a_crash() -> None:
    doc = parse_text("## Action Items\n| Action | Status |\n|--|--|\n| Fix | Purple |\n")
    assert doc.action_items[0].status is Status.OPEN
    assert doc.problems[0].line == 4
    assert "Purple" in doc.problems[0].message


# -- lists, YAML, plain text ----------------------------------------------------------


def test_bullets_with_inline_fields() -> None:
    text = """**Date:** 2026-05-01
## Action Items
- Add SLO alert for checkout. **Owner:** @maya **Due:** Jun 10 **Priority:** P1
- **DONE** Remove the flag (OPS-12)
* Write the runbook
  Owner: @bob. Due: 2026-06-03. Tracked in Jira: INFRA-4521.
"""
    got = items(text)
    assert [
        (i["action"], i["owner"], i["due"], i["priority"], i["status"], i["ticket"]) for i in got
    ] == [
        ("Add SLO alert for checkout.", "@maya", "2026-06-10", "P1", "open", None),
        ("Remove the flag", None, None, None, "done", "OPS-12"),
        ("Write the runbook", "@bob", "2026-06-03", None, "open", "INFRA-4521"),
    ]


def test_yaml_front_matter_action_items() -> None:
    text = """---
title: Cache stampede
date: 2026-04-02
severity: Sev 1
services: [cache, api]
action_items:
  - action: Add request coalescing
    owner: "@kim"
    due: 2026-05-01
    status: done
  - action: Jitter TTLs
    owner: "@lee"
---
# Cache stampede
"""
    doc = parse_text(text)
    assert (doc.title, doc.date, doc.severity, doc.tags) == (
        "Cache stampede",
        date(2026, 4, 2),
        "SEV1",
        ("cache", "api"),
    )
    assert brief(text) == [
        ("Add request coalescing", "@kim", "2026-05-01", "done", None),
        ("Jitter TTLs", "@lee", None, "open", None),
    ]
    assert [i["line"] for i in items(text)] == [7, 11]


def test_plain_text_table_in_code_fence() -> None:
    text = """Date: 2025-12-01
## Action Items
```
-------------------------------------------------
Action              Owner     Due Date  Status
-------------------------------------------------
Add backoff         @ann      Dec 15    Done
Add rate limiter    @bo       Jan 5     Open
-------------------------------------------------
```
"""
    assert brief(text) == [
        ("Add backoff", "@ann", "2025-12-15", "done", None),
        ("Add rate limiter", "@bo", "2026-01-05", "open", None),
    ]


# -- decoys -----------------------------------------------------------------------


def test_decoys_are_not_action_items() -> None:
    text = """# Incident
## Timeline
- 14:00 Deploy begins
| Who | What | When |
|---|---|---|
| @a | Rolled back | 14:05 |

## Detection
- [x] Monitoring alert
- [ ] Customer report

## Is this a pattern?
- [ ] Check the archive

## Action Items
Priorities:
- P0: this week
- P1: this sprint

| Action | Owner | Due |
|---|---|---|
| [Action 1] | [@owner1] | YYYY-MM-DD |
| Add retry budget | @x | 2026-01-01 |
  - rationale: retries amplified load

```
| Action | Owner |
|---|---|
| Legend example | @nobody |
```
"""
    assert brief(text) == [("Add retry budget", "@x", "2026-01-01", "open", None)]


def test_rationale_sub_bullets_are_not_items() -> None:
    text = """## Action Items
- [ ] Add circuit breaker (@a)
  - because the client retried forever
  - see the 5 whys
- [ ] Cap retries (@b)
"""
    assert [i["action"] for i in items(text)] == ["Add circuit breaker", "Cap retries"]


# -- metadata, dates, owners, tickets ------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SEV-2", "SEV2"),
        ("SEV2", "SEV2"),
        ("Sev 2", "SEV2"),
        ("sev1", "SEV1"),
        ("Severity 3", "SEV3"),
        ("Critical", "Critical"),
        ("SEV-X", None),
    ],
)
def test_severity(raw: str, expected: str | None) -> None:
    assert parse_severity(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-10-15", date(2026, 10, 15)),
        ("2019-3-26", date(2019, 3, 26)),
        ("March 12, 2026", date(2026, 3, 12)),
        ("May 30th, 2019", date(2019, 5, 30)),
        ("01/30/2020", date(2020, 1, 30)),
        ("Oct 15", date(2026, 10, 15)),
        ("Jan 3", date(2027, 1, 3)),
        ("15 Oct 2026", date(2026, 10, 15)),
        ("by 2026-11-01", date(2026, 11, 1)),
        ("Q3 2026", date(2026, 9, 30)),
        ("TBD", None),
    ],
)
def test_dates(raw: str, expected: date | None) -> None:
    assert parse_date(raw, ref=date(2026, 10, 5)).value == expected


def test_unparseable_date_is_null_with_a_problem() -> None:
    doc = parse_text(
        "**Date:** 2026-01-01\n## Action Items\n| Action | Due |\n|--|--|\n| Fix | someday soon |\n"
    )
    assert doc.action_items[0].due is None
    assert [(p.line, "someday soon" in p.message) for p in doc.problems] == [(5, True)]


def test_metadata_heading_per_field_and_key_value_table() -> None:
    text = """# Login failures
## Date
March 12, 2026
## Severity
Sev 1
| Field | Value |
|---|---|
| Status | Draft |
| Duration | 1h 30m |
"""
    doc = parse_text(text)
    assert (doc.title, doc.date, doc.severity, doc.status, doc.duration_minutes) == (
        "Login failures",
        date(2026, 3, 12),
        "SEV1",
        "Draft",
        90,
    )


def test_ticket_forms() -> None:
    text = """## Action items
| Action | Jira |
|---|---|
| a | OPS-921 |
| b | #123 |
| c | acme/web#45 |
| d | https://github.com/acme/web/issues/46 |
| e | Bug 5554823 |
| f | - |
"""
    assert [i["ticket"] for i in items(text)] == [
        "OPS-921",
        "#123",
        "acme/web#45",
        "https://github.com/acme/web/issues/46",
        "Bug 5554823",
        None,
    ]


def test_binary_and_invalid_utf8_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "bin.md").write_bytes(b"\x00\x01\x02")
    (tmp_path / "bad.md").write_bytes(b"# ok\nline two \xff\n")
    binary, _ = parse_file(tmp_path / "bin.md")
    bad, _ = parse_file(tmp_path / "bad.md")
    assert "binary" in binary.problems[0].message
    assert bad.problems[0].line == 2 and "UTF-8" in bad.problems[0].message


def test_invalid_yaml_block_reports_line() -> None:
    text = "# X\n## Action Items\n```yaml\naction_items:\n  - item: [unclosed\n```\n"
    doc = parse_text(text)
    assert doc.action_items == ()
    assert doc.problems and 4 <= doc.problems[0].line <= 6


def test_yaml_alias_bomb_and_invalid_dates_are_problems_not_hangs() -> None:
    laughs = (
        "a: &a ["
        + ",".join(['"lol"'] * 9)
        + "]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
            for i in range(8)
        )
    )
    bomb = parse_text(f"---\n{laughs}---\n# Bomb\n")
    assert "expands to more than" in bomb.problems[0].message
    fenced = parse_text(f"# X\n## Action Items\n```yaml\naction_items:\n  - item: x\n{laughs}```\n")
    assert fenced.action_items == () and "expands" in fenced.problems[0].message
    bad_date = parse_text("---\ndate: 2026-02-30\n---\n# X\n")
    assert bad_date.date is None and "day is out of range" in bad_date.problems[0].message


# -- completion dates are not due dates ---------------------------------------------

_DONE_DOC = "# Outage\n**Date:** 2026-02-20\n\n## Action items\n"


@pytest.mark.parametrize(
    ("line", "due", "status"),
    [
        # a completion date alone: no due date (it used to become the due date)
        ("- [x] Add alerting (@maya, completed: 2026-03-02)", None, "done"),
        ("- Add alerting (@maya, closed 2026-03-02)", None, "done"),
        ("- Add alerting — @maya, done 2026-03-02", None, "done"),
        ("- Add alerting (@maya, Completed on March 2, 2026)", None, "done"),
        ("- Add alerting **Owner:** @maya, **Completed:** 2026-03-02", None, "open"),
        # beside a real due date, before or after it: the due date
        ("- [x] Add alerting (@maya, due 2026-03-10, completed: 2026-03-02)", "2026-03-10", "done"),
        ("- [x] Add alerting (@maya, completed: 2026-03-02, due 2026-03-10)", "2026-03-10", "done"),
        ("- Add alerting — @maya, Mar 10, resolved 2026-03-02", "2026-03-10", "done"),
        ("- Add alerting **Owner:** @maya **Due:** TBD, done on 2026-03-02", None, "open"),
        (
            "- Add alerting **Owner:** @maya **Due:** 2026-03-10 **Done:** 2026-03-02",
            "2026-03-10",
            "open",
        ),
        # an unticked box stays open: the checkbox is the status the tool owns
        ("- [ ] Add alerting (@maya, due 2026-03-10, closed 2026-03-02)", "2026-03-10", "open"),
    ],
)
def test_a_completion_date_in_a_list_item_is_not_its_due_date(
    line: str, due: str | None, status: str
) -> None:
    (item,) = items(_DONE_DOC + line + "\n")
    assert (item["action"], item["owner"], item["due"], item["status"]) == (
        "Add alerting",
        "@maya",
        due,
        status,
    )


@pytest.mark.parametrize(
    ("status_cell", "due_cell", "due", "status"),
    [
        ("Done", "completed 2026-03-04", None, "done"),
        ("Done", "2026-03-10, completed 2026-03-04", "2026-03-10", "done"),
        ("Done", "closed 2026-03-04 (due 2026-03-10)", "2026-03-10", "done"),
        ("closed 2026-03-04", "2026-03-12", "2026-03-12", "done"),
        ("done 2026-03-04", "", None, "done"),
        ("Open", "2026-05-01", "2026-05-01", "open"),
    ],
)
def test_a_completion_date_in_a_table_row_is_not_its_due_date(
    status_cell: str, due_cell: str, due: str | None, status: str
) -> None:
    table = f"| Action | Owner | Status | Due |\n|---|---|---|---|\n| Add alerting | @bo | {status_cell} | {due_cell} |\n"
    doc = parse_text(_DONE_DOC + table)
    (item,) = doc.action_items
    assert (item.due.isoformat() if item.due else None, item.status.value) == (due, status)
    assert doc.problems == ()


def test_done_in_a_version_or_a_sprint_is_not_a_completion_date() -> None:
    # "done in v4.2" has digits but no date: the tail stays a status, nothing is dropped
    assert brief(_DONE_DOC + "- Add alerting (@maya, due 2026-03-10) — done in v4.2\n") == [
        ("Add alerting", "@maya", "2026-03-10", "done", None)
    ]
