"""`syncd similar` and `syncd search` on real files, with the index in a real state dir."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import snowballstemmer
from ruamel.yaml import YAML

from syncd.cli.main import main
from syncd.digest.archive import Archive
from tests.conftest import FIXTURES, ROOT, SYNCD

HISTORY = FIXTURES / "similarity" / "history"
INCLUDE = ("**/*.md",)


@pytest.fixture
def docs(tmp_path: Path, no_syncd_env: None) -> Path:
    root = tmp_path / "postmortems"
    shutil.copytree(HISTORY, root)
    return root


def run(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str, str]:
    state = root.parent / "state"
    code = main([*argv, "--root", str(root), "--state-dir", str(state)])
    got = capsys.readouterr()
    return code, got.out, got.err


def test_similar_text_names_the_earlier_incident_evidence_and_open_items(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, docs, "similar", str(docs / "2026-04-10-events-backlog.md"))
    assert code == 0
    assert "index: 15 documents (15 new" in err  # the first run builds the index, and says so
    assert "1. 2026-01-10-events-lag.md" in out
    assert 'this:    "No alert on consumer backlog, which built up for two hours."' in out
    assert 'earlier: "Consumer lag on the events topic grew' in out
    assert "backlog ~ lag" in out
    # the earlier incident's open items, with owner, due date and ticket; not the done one
    assert "Autoscale the events consumers (@bo, due 2026-02-10, OPS-202; open)" in out
    assert "Alert on consumer lag" not in out


def test_similar_ignores_the_decoys(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in (
        "2026-04-15-search-alerting.md",  # "missing alerting for X"
        "2026-04-20-auth-token.md",  # "an edge case" vs tag edge
        "2026-05-01-web-errors.md",  # "the deploy dashboard" vs tag deploy
        "2026-05-05-checkout-tax.md",  # only the tag checkout
    ):
        code, out, _err = run(capsys, docs, "similar", str(docs / name))
        assert (code, out) == (0, f"{docs / name}: no similar past incident\n")


def test_similar_json_and_past_only(docs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(
        capsys, docs, "similar", str(docs / "2026-02-01-edge-cert.md"), "--format", "json"
    )
    assert code == 0
    # the later edge-cert incident is not "past" for one dated 2026-02-01
    assert json.loads(out)["documents"][0]["similar"] == []
    code, out, _err = run(
        capsys, docs, "similar", str(docs / "2026-05-12-edge-cert-again.md"), "--format", "json"
    )
    [match] = json.loads(out)["documents"][0]["similar"]
    assert match["path"] == "2026-02-01-edge-cert.md"
    assert match["factors"][0]["other"].startswith("The TLS certificate on the edge proxies")
    assert {t["term"] for t in match["factors"][0]["shared_terms"]} >= {"cert", "renew"}
    assert match["open_action_items"] == []  # both were done


def test_markdown_block_for_a_draft_outside_the_archive(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text(
        "# Ledger backlog\n\n**Date:** 2026-07-01\n**Services:** events\n\n"
        "## Contributing factors\n- The events consumers fell behind and the backlog was not"
        " alerted on.\n"
    )
    code, out, _err = run(capsys, docs, "similar", str(draft), "--format", "markdown", "--top", "1")
    assert code == 0
    assert out.startswith("### Similar past incidents and their open action items\n")
    assert "**2026-01-10-events-lag.md**" in out
    assert "- [ ] Autoscale the events consumers (@bo, due 2026-02-10, OPS-202; open)" in out
    assert out.count("**2026-") == 1  # --top 1


def test_a_doc_without_factors_says_so(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("# Nothing yet\n")
    code, out, _err = run(capsys, docs, "similar", str(empty))
    assert (code, out) == (0, f"{empty}: no contributing factors, so nothing to compare\n")


def test_missing_doc_and_missing_root_are_errors(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, docs, "similar", str(docs / "nope.md"))
    assert code == 1 and "no such file" in err
    code, _out, err = run(capsys, docs.parent / "absent", "search", "lag")
    assert code == 1 and "is not a directory" in err


def test_search_ranks_and_shows_the_matching_line(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, docs, "search", "certificate expired", "--format", "json")
    assert code == 0
    hits = json.loads(out)["hits"]
    assert [h["path"] for h in hits[:2]] == [
        "2026-02-01-edge-cert.md",
        "2026-05-12-edge-cert-again.md",
    ] or [h["path"] for h in hits[:2]] == [
        "2026-05-12-edge-cert-again.md",
        "2026-02-01-edge-cert.md",
    ]
    assert all(h["score"] > 0 for h in hits)
    assert hits[0]["score"] >= hits[-1]["score"]
    assert "expired" in hits[0]["snippet"] and hits[0]["line"] == 7
    # words of the normalisation table find each other: OOM vs out of memory
    code, out, _err = run(capsys, docs, "search", "zzzunknownword")
    assert (code, out) == (0, "no document matches 'zzzunknownword'\n")


def test_index_is_incremental_by_content_hash(docs: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "archive.db"
    with Archive.open(docs, db) as a:
        first = a.refresh(INCLUDE)
    assert (first.documents, first.added) == (15, 15)
    target = docs / "2026-05-05-checkout-tax.md"
    with Archive.open(docs, db) as a:
        assert (a.refresh(INCLUDE).added, a.refresh(INCLUDE).changed) == (0, 0)
    os.utime(target, ns=(1, 1))  # new mtime, same bytes: hashed, not re-parsed
    with Archive.open(docs, db) as a:
        r = a.refresh(INCLUDE)
        assert (r.added, r.changed, r.removed) == (0, 0, 0)
    target.write_text(target.read_text().replace("Canada", "Quebec"))
    (docs / "2026-04-15-search-alerting.md").unlink()
    (docs / "new.md").write_text("# New\n\n## Contributing factors\n- Quebec tax typo.\n")
    with Archive.open(docs, db) as a:
        r = a.refresh(INCLUDE)
        assert (r.documents, r.added, r.changed, r.removed) == (15, 1, 1, 0 + 1)
        assert {h.path for h in a.search("quebec")} == {"2026-05-05-checkout-tax.md", "new.md"}
        assert a.search("canada") == []
        assert all(h.path != "2026-04-15-search-alerting.md" for h in a.search("alerting"))


def test_an_unreadable_index_is_rebuilt_and_reported(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, docs, "search", "lag")
    db = docs.parent / "state" / "archive.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    code, out, err = run(capsys, docs, "search", "lag")
    assert code == 0 and "2026-01-10-events-lag.md" in out
    assert "index rebuilt (the index was unreadable" in err
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM docs").fetchone() == (15,)


def test_needs_only_the_docs_not_the_tracker_secrets(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(
        '[docs]\nroot = "postmortems"\n[state]\npath = "state/state.db"\n'
        '[trackers.jira]\nkind = "jira"\nurl = "http://127.0.0.1:9"\n'
        'token_file = "/nonexistent/token"\n[smtp]\npassword_file = "/nonexistent/pw"\n'
    )
    code = main(
        ["similar", "--config", str(config), str(docs / "2026-06-20-payments-pool-again.md")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "1. 2026-06-01-payments-pool.md" in out
    assert (tmp_path / "state" / "archive.db").is_file()


def test_real_entry_point_and_help(docs: Path) -> None:
    result = subprocess.run(
        [str(SYNCD), "search", "pool", "--root", str(docs), "--state-dir", str(docs.parent / "s")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "payments-pool" in result.stdout
    listed = subprocess.run([str(SYNCD), "--help"], capture_output=True, text=True, check=True)
    assert "similar" in listed.stdout and "search" in listed.stdout


def test_pre_commit_hook_runs_similar_on_the_changed_files() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "syncd-similar")
    assert hook["entry"].startswith("syncd similar") and "--format markdown" in hook["entry"]
    assert hook["pass_filenames"] is True and hook["files"] == r"\.md$"
    assert hook.get("verbose") is True  # pre-commit shows a passing hook's output only so


# Loaded by other commands, never needed by a lookup from an up-to-date index: each one
# here cost `syncd similar`/`search` measurable start-up time (bench/archive.py).
NOT_FOR_A_LOOKUP = (
    "pydantic",
    "structlog",
    "markdown_it",
    "jinja2",
    "connectors",
    "syncd.config",
    "syncd.sync",
    "syncd.cli.commands",
    "syncd.documents.parser",
    "snowballstemmer",  # the index keeps the stems of the words it holds
    "shutil",  # argparse's width lookup; it loads bz2 and lzma
    "hashlib",  # OpenSSL start-up; only a changed document is hashed
    "dataclasses",  # it imports inspect (ast, dis, tokenize): the lookup types are NamedTuples
)


def _modules_after(argv: list[str]) -> set[str]:
    """The modules a real `syncd ARGV...` process has loaded when it is done."""
    probe = (
        "import sys\n"
        "from syncd.cli.main import main\n"
        f"code = main({argv!r})\n"
        "sys.stdout.flush()\n"
        "print('MODULES', *sorted(sys.modules))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("MODULES "))
    return set(line.split()[1:])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in NOT_FOR_A_LOOKUP
        or any(m == heavy or m.startswith(heavy + ".") for heavy in NOT_FOR_A_LOOKUP)
    )


def test_a_lookup_from_an_up_to_date_index_loads_only_what_it_uses(docs: Path) -> None:
    where = ["--root", str(docs), "--state-dir", str(docs.parent / "state")]
    subject = str(docs / "2026-04-10-events-backlog.md")
    first = _modules_after(["similar", subject, *where])  # builds the index: parses
    assert "syncd.documents.parser" in first  # so the probe can see a heavy import
    assert _heavy(_modules_after(["similar", subject, *where])) == []
    assert _heavy(_modules_after(["search", "consumer backlog", *where])) == []
    # a word no document holds needs the stemmer: found, loaded, still answered
    assert "snowballstemmer" in _modules_after(["search", "zzzunknownwords", *where])


def test_the_stems_the_index_keeps_are_the_stemmers(docs: Path, tmp_path: Path) -> None:
    db = tmp_path / "state" / "archive.db"
    with Archive.open(docs, db) as a:
        a.refresh(INCLUDE)
    (raw,) = sqlite3.connect(db).execute("SELECT value FROM meta WHERE key = 'stems'").fetchone()
    kept = json.loads(raw)
    assert {"backlog", "certificate", "consumer"} <= set(kept)
    stemmer = snowballstemmer.stemmer("english")
    assert {w: stemmer.stemWord(w) for w in kept} == kept


def test_the_readme_example_is_what_syncd_similar_prints(
    docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's worked example of evidence must stay true: each line it quotes is a
    line of the real output, in the same order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How similarity is decided", 1)[1]
    block = section.split("```\n", 2)[1]
    command, *quoted = block.rstrip("\n").splitlines()
    assert command.startswith("$ syncd similar 2026-04-10-events-backlog.md")
    code, out, _err = run(capsys, docs, "similar", str(docs / "2026-04-10-events-backlog.md"))
    assert code == 0
    lines = out.splitlines()
    positions = [lines.index(q) for q in quoted]  # ValueError: quoted but not printed
    assert positions == sorted(positions) and len(quoted) >= 5


def test_the_index_reads_docs_with_the_configs_parse_settings(
    docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[docs] action_sections` decides what an item is for the index as for the sync;
    changing it re-reads every document rather than mixing two readings."""
    (docs / "2026-07-01-notes.md").write_text(
        "# Queue lag\n**Date:** 2026-07-01\n\n## Notes\n- Add alerting (@maya, due 2027-02-01)\n"
    )
    config = tmp_path / "syncd.toml"
    base = '[docs]\nroot = "postmortems"\n[state]\npath = "state/state.db"\n'
    db = tmp_path / "state" / "archive.db"

    def items() -> list[str]:
        row = (
            sqlite3.connect(db)
            .execute("SELECT items FROM docs WHERE path = '2026-07-01-notes.md'")
            .fetchone()
        )
        return [i["action"] for i in json.loads(row[0])]

    config.write_text(base.replace("[state]", 'action_sections = ["^Notes$"]\n[state]'))
    assert main(["search", "lag", "--config", str(config)]) == 0
    assert items() == ["Add alerting"]
    capsys.readouterr()
    config.write_text(base)
    assert main(["search", "lag", "--config", str(config)]) == 0
    assert "index rebuilt (the [docs] parse settings changed" in capsys.readouterr().err
    assert items() == []
