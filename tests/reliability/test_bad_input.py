"""Bad input: a corpus of malformed documents next to good ones.

The corpus is generated in tmp_path at test time (nothing big is committed): broken
tables, invalid UTF-8, binary files, a 50 MB file, a 10,000-level nested list, front
matter that is not YAML (or not a mapping), a symlink out of the docs root, a directory
named `*.md`, an empty file. A real `syncd sync --once` (subprocess) over the tree must
not crash, must name every unreadable file with a line, must still sync the good docs,
and must exit as documented (0: problems in documents are not failed items).

YAML bombs and symlink loops are kept out of the corpus run: each currently takes the
whole run down (see the dedicated tests below), and must not mask what the corpus proves.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability import report
from tests.reliability.harness import (
    HUMAN_GIT,
    SYNCD,
    Rig,
    capture,
    check_converged,
    generate_docs,
    git,
)

LAUGHS = "\n".join(
    ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
)
GOOD_ROW = "| Rotate the on-call pager (bad-doc row) | @sri | 2026-08-01 | Open |  |"


def corpus() -> dict[str, tuple[bytes, int | None]]:
    """rel path -> (bytes, line of the expected problem or None when none is required)."""
    rng = random.Random(5)
    broken_table = (
        "# Broken tables\n\n## Action items\n\n"
        "| Action | Owner | Due | Status | Ticket |\n"
        "|---|---|\n"  # separator shorter than the header
        f"{GOOD_ROW}\n"
        "| only one cell\n"
        "| a | b | c | d | e | f | g | h |\n"
        "|||||\n"
        "| \\| escaped | @lee | not a date | ??? |  |\n"
        "no pipe here\n"
    )
    invalid_utf8 = b"# Bad bytes\n\n## Action items\n\n- [ ] fine\n- [ ] broken \xff\xfe here\n"
    binary = bytes(rng.randrange(256) for _ in range(4096)).replace(b"\x00", b"\x01")
    binary = b"\x89PNG\r\n\x1a\n\x00\x00" + binary
    deep = "# Deep\n\n## Action items\n\n" + "".join(
        "  " * i + f"- level {i}\n" for i in range(10_000)
    )
    not_yaml = "---\ntitle: [unclosed\n  : : :\n---\n# Not YAML\n\n## Action items\n- [ ] x\n"
    not_mapping = "---\n- just\n- a list\n---\n# Not a mapping\n"
    tab_fm = "---\ntitle: a\n\tsev: b\n---\n# Tabs\n"
    return {
        "bad/broken-tables.md": (broken_table.encode(), None),
        "bad/invalid-utf8.md": (invalid_utf8, 6),
        "bad/binary.md": (binary, 1),
        "bad/deep-list.md": (deep.encode(), None),
        "bad/front-matter-not-yaml.md": (not_yaml.encode(), 3),
        "bad/front-matter-not-mapping.md": (not_mapping.encode(), 1),
        "bad/front-matter-tab.md": (tab_fm.encode(), 3),
        "bad/empty.md": (b"", None),
        "bad/bom-only.md": ("\ufeff".encode(), None),
        "bad/crlf-no-newline.md": (b"# CRLF\r\n\r\n## Action items\r\n- [ ] a\r\n- [ ] b", None),
    }


def build_tree(tmp: Path, seed: int = 11) -> tuple[Rig, dict[str, int | None], Path]:
    rng = random.Random(seed)
    good = {s.rel: s.text for s in generate_docs(rng, 6, 3)}
    files: dict[str, str | bytes] = dict(good)
    expected: dict[str, int | None] = {}
    for rel, (data, line) in corpus().items():
        files[rel] = data
        expected[rel] = line
    rig = Rig.create(tmp, files)
    rig.originals = dict(good)
    docs = rig.docs
    # 50 MB, generated here: valid Markdown, just too big
    big = docs / "bad" / "huge.md"
    chunk = b"# Huge\n\n## Action items\n\n" + b"- [ ] grow (@sri, due 2026-08-01)\n" * 1000
    with big.open("wb") as handle:
        while handle.tell() < 50 * 1024 * 1024:
            handle.write(chunk)
    expected["bad/huge.md"] = 1
    # a symlink out of the root, to a doc full of action items
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(
        "# Outside\n\n## Action items\n- [ ] must never be synced (@sri, due 2026-08-01)\n"
    )
    os.symlink(outside / "secret.md", docs / "bad" / "escape.md")
    os.symlink(outside, docs / "bad" / "escape-dir")
    # a directory named like a document, holding a good one
    (docs / "bad" / "folder.md").mkdir()
    nested = "2026/folder.md/inner.md"
    inner = generate_docs(random.Random(seed + 1), 1, 2)[0].text
    (docs / nested).parent.mkdir(parents=True, exist_ok=True)
    (docs / nested).write_text(inner)
    # committed, as a person adds a doc: the tool never writes into an uncommitted one
    git(rig.repo, "add", "--", str(docs / nested))
    git(rig.repo, *HUMAN_GIT, "commit", "-q", "-m", "Add a doc in a folder named like one")
    rig.originals[nested] = inner
    return rig, expected, outside


def sync_once(rig: Rig, timeout: float = 120) -> tuple[int, dict, str]:
    code, data, err = rig.run_subprocess(timeout=timeout)
    assert data is not None, err[-3000:]
    return code, data, err


def test_malformed_corpus_never_crashes_the_run(tmp_path: Path) -> None:
    started = time.monotonic()
    rig, expected, outside = build_tree(tmp_path)
    try:
        outside_before = (outside / "secret.md").read_bytes()
        code, data, err = sync_once(rig)
        assert "Traceback" not in err, err[-3000:]
        assert code == 0, (code, data["notes"])
        problems = data["problems"]
        by_path: dict[str, list[dict]] = {}
        for problem in problems:
            by_path.setdefault(problem["path"], []).append(problem)
        for rel, line in expected.items():
            if line is None:
                continue
            found = by_path.get(rel)
            assert found, f"{rel}: no problem reported ({sorted(by_path)})"
            assert all(p["line"] >= 1 and p["message"].strip() for p in found)
            assert any(p["line"] == line for p in found), (rel, found)
        # the good docs (and the doc inside the directory named *.md) were synced
        verdict = check_converged(rig, check_state=False)  # bad docs with items synced too
        assert verdict.ok(), verdict.problems[:10]
        assert not rig.status()["pending_intents"]
        # nothing outside the root was read for items or written
        assert (outside / "secret.md").read_bytes() == outside_before
        assert (rig.docs / "bad" / "escape.md").is_symlink()
        titles = [i["fields"]["summary"] for i in rig.jira.issues()]
        titles += [i["title"] for i in rig.github.issues()]
        assert not any("must never be synced" in t for t in titles)
        # a second run is quiet and stable
        code2, data2, _ = sync_once(rig)
        assert code2 == 0 and data2["summary"]["created"] == 0
        report.add(
            "bad-input",
            files=len(expected) + 3,
            problems_reported=len(problems),
            good_items_synced=verdict.items,
            exit_code=code,
            seconds=int(time.monotonic() - started),
        )
    finally:
        rig.stop()


def _parse_subprocess(path: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(SYNCD), "parse", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    capture(proc.stdout, proc.stderr)
    return proc


def _run_with_deadline(rig: Rig, seconds: float) -> tuple[bool, int | None, str]:
    proc = rig.spawn()
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        capture(out, err)
        return False, None, err.decode()
    capture(out, err)
    return True, proc.returncode, err.decode()


@pytest.mark.parametrize("where", ["front-matter", "fenced-action-items"])
def test_yaml_bomb_does_not_stall_the_run(tmp_path: Path, where: str) -> None:
    if where == "front-matter":
        bomb = f"---\n{LAUGHS}\ntitle: *a9\n---\n# Bomb\n"
    else:
        bomb = (
            f"# Bomb\n\n## Action items\n\n```yaml\n{LAUGHS}\naction_items:\n"
            "  - item: *a9\n    owner: *a9\n```\n"
        )
    good = generate_docs(random.Random(3), 2, 2)
    files: dict[str, str | bytes] = {s.rel: s.text for s in good}
    files["bad/bomb.md"] = bomb
    rig = Rig.create(tmp_path, files)
    rig.originals = {s.rel: s.text for s in good}
    try:
        finished, code, err = _run_with_deadline(rig, 8)  # a clean run takes ~1 s
        assert finished, "the sync was still running after 8 s"
        assert code == 0, err[-2000:]
        assert check_converged(rig).ok()
    finally:
        rig.stop()


def test_symlink_loop_does_not_crash_the_run(tmp_path: Path) -> None:
    good = generate_docs(random.Random(4), 2, 2)
    rig = Rig.create(tmp_path, {s.rel: s.text for s in good})
    os.symlink("loop2.md", rig.docs / "loop1.md")
    os.symlink("loop1.md", rig.docs / "loop2.md")
    try:
        code, _data, err = rig.run_subprocess()
        assert "Traceback" not in err, err[-2000:]
        assert code == 0
        assert check_converged(rig).ok()
    finally:
        rig.stop()


def test_symlink_alias_inside_root_is_not_a_second_document(tmp_path: Path) -> None:
    good = generate_docs(random.Random(6), 1, 3)
    rig = Rig.create(tmp_path, {s.rel: s.text for s in good})
    alias = rig.docs / "2026" / "alias.md"
    os.symlink(rig.docs / good[0].rel, alias)
    try:
        code, _data, _err = rig.run_subprocess()
        assert code == 0
        assert rig.ticket_count() == 3, f"{rig.ticket_count()} tickets for 3 items"
        assert alias.is_symlink(), "the link was replaced by a file"
    finally:
        rig.stop()


def test_wrapped_list_item_survives_a_status_write_back(tmp_path: Path) -> None:
    from syncd.documents.parser import parse_text
    from syncd.model import Status

    doc = (
        "# Wrapped\n\n## Follow-ups\n- Fix the pool\n  before the next peak (@sri)\n"
        "- Runbook step (@maya)\n"
    )
    rig = Rig.create(tmp_path, {"2026/wrapped.md": doc})
    try:
        rig.sync_inprocess()
        rig.jira.human_set_status("OPS-1", Status.IN_PROGRESS)
        for _ in range(2):
            rig.sync_inprocess()
        item = parse_text(rig.read("2026/wrapped.md")).action_items[0]
        assert (item.action, item.owner) == ("Fix the pool before the next peak", "@sri")
        assert (item.ticket, item.status) == ("OPS-1", Status.IN_PROGRESS)
        assert rig.jira.issue("OPS-1")["fields"]["summary"] == item.action
    finally:
        rig.stop()
