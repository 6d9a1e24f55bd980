"""What `plan`, `sync --once` and `status` tell a person, through the real CLI against the
loopback Jira and GitHub emulators: failures and notes in plain output, aligned columns,
exit codes that say who must act, and log lines that parse into real JSON values.

Where each "Why" bullet of the first-hour issue is tested at CLI level (c = tests/cli):

| Why bullet | test(s) |
|---|---|
| tokens printed | c/test_config_errors.py: test_config_error_is_one_clear_message_without_secrets, test_the_hint_text_is_never_masked_only_input_is; reliability/test_security.py: test_full_sync_never_prints_secrets |
| failures hidden (401, empty token, unreachable, timeout) | here: test_wrong_token_exits_1_…, test_wrong_github_token_exits_1_…, test_unknown_project_and_repo_exit_1_…, test_refused_connection_fails_fast_…, test_read_timeout_exits_2_…; c/test_config_errors.py: test_missing_or_empty_token_… |
| tracebacks for user errors; lint needs secrets | c/test_config_errors.py: test_missing_or_empty_token_… (empty GitHub token), test_lint_reads_only_its_section_and_today_turns_on_overdue, test_corrupt_state_names_the_recovery_and_reset_recovers |
| silent success without a config | c/test_config_errors.py: test_no_config_is_an_error_and_creates_nothing; here: test_digest_preview_creates_nothing_but_its_output |
| messages (twice, no key path, no token_file hint) | c/test_config_errors.py: test_config_error_is_one_clear_message_… (count == 1, dotted key, no pydantic link), test_missing_or_empty_token_… |
| no progress | c/test_progress.py: test_cli_sync_off_a_terminal_logs_progress_lines, test_cli_sync_on_a_terminal_shows_phases_and_pacing_waits |
| plain output says little | here: test_plan_groups_notes_…, test_sync_prints_summary_…, test_status_is_sorted_…, test_json_log_lines_carry_objects_…, test_plain_sync_prints_each_note_once_… |
| no way to try it on one's own docs | c/test_sandbox.py, c/test_installed_sandbox.py, c/test_demo.py (--workdir names `syncd sandbox`) |
| protected branches (pull-request write-back) | none: not built yet |
| docs | c/test_docs_text.py, c/test_reference.py, c/test_tutorial.py, c/test_sandbox.py: test_demo_help_names_all_three_trackers; figures written by their command: none at CLI level |
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers_sync import TOKENS, git, make_world


@pytest.fixture(autouse=True)
def _no_syncd_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    yield from make_world(tmp_path, capsys)


def log_events(stderr: str) -> dict[str, dict[str, Any]]:
    """Every JSON log line on stderr, by its event name."""
    events = {}
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            events[event["event"]] = event
    return events


def test_json_log_lines_carry_objects_not_python_reprs(world):
    proc = world.console("sync", "--once", "--config", str(world.config))
    assert proc.returncode == 0, proc.stderr
    finished = log_events(proc.stderr)["sync finished"]
    assert isinstance(finished["requests"], dict), finished["requests"]
    assert finished["requests"]["jira"]["writes"] >= 1
    assert "{'" not in proc.stderr
    for token in TOKENS:
        assert token not in proc.stdout + proc.stderr


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket  # only this helper needs a raw socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_fails_fast_naming_host_and_port(world):
    port = closed_port()
    world.configure(jira={"url": f"http://127.0.0.1:{port}"})
    started = time.monotonic()
    code, out, err = world.cli("plan", "--config", str(world.config))
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"a refused connection took {elapsed:.1f} s"
    assert code == 2, out + err  # transient: a later run retries
    assert f"127.0.0.1:{port}" in out and "connection refused" in out
    assert "ConnectionError" not in out + err and "Traceback" not in out + err


DANA_DOC = """\
# Postmortem: Search latency (2026-06-20)

## Action items
| # | Action | Owner | Due | Status | Ticket |
|---|--------|-------|-----|--------|--------|
| 1 | Cap query fan-out per shard | @dana | 2026-07-01 | Open | |
| 2 | Alert on p99 search latency | @dana | 2026-07-03 | Open | |
| 3 | Link the dashboard in the runbook | @sri | 2026-07-05 | Open | GH-12 |
"""
DANA_DOC_2 = """\
# Postmortem: Index rebuild stall (2026-06-25)

## Action items
- [ ] Throttle index rebuilds during peak — @dana, due 2026-07-09
"""


def columns_align(lines: list[str]) -> bool:
    """Every row has its `action` cell where the header has it."""
    start = lines[0].index("action")
    return all(line[start - 2 : start] == "  " and line[start] != " " for line in lines)


def test_plan_groups_notes_counts_key_writes_and_shows_doc_owners(world):
    (world.docs / "2026-06-20-search.md").write_text(DANA_DOC)
    (world.docs / "2026-06-25-index.md").write_text(DANA_DOC_2)
    code, out, err = world.cli("plan", "--config", str(world.config))
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].split() == ["doc:line", "action", "owner", "due", "ticket", "what"]
    rows = [line for line in lines if line.startswith("2026-") or line.startswith("payments/")]
    assert columns_align([lines[0], *rows])
    # one grouped line for the three @dana items, with where and what to do
    dana = [line for line in lines if "unmapped owner" in line]
    assert len(dana) == 1, out
    assert "(3 items)" in dana[0] and "[owners]" in dana[0]
    assert "2026-06-20-search.md:6" in dana[0] and "2026-06-25-index.md:4" in dana[0]
    assert any("foreign ticket reference" in line and "GH-12" in line for line in lines)
    assert any("closed without a ticket" in line for line in lines)
    # a cold plan: every create writes its key back into the doc
    creates = sum(1 for r in rows if "create " in r)
    assert creates == 10
    assert f"{creates} to create" in lines[-1] and f"{creates} doc cells to write" in lines[-1]
    assert "5b10ac8d" not in out, "owners are shown by their doc name, not account ids"
    assert "@maya" in out and "{'" not in out


def test_wrong_token_exits_1_naming_tracker_and_fix_without_the_token(world):
    world.configure(jira={"token": "wrong-token-zq81"})
    for argv in (("plan",), ("sync", "--once")):
        code, out, err = world.cli(*argv, "--config", str(world.config))
        assert code == 1, (argv, out, err)
        failure = next(line for line in out.splitlines() if line.startswith("  jira:"))
        assert "token was rejected" in failure and "401" in failure
        assert "SYNCD_TRACKERS__JIRA__TOKEN" in out and "token_file" in out
        assert "wrong-token-zq81" not in out + err
        assert "Traceback" not in out + err
    code, out, _err = world.cli("status", "--config", str(world.config))
    assert "token was rejected" in out  # repeated until the next sync works


def test_unknown_project_and_repo_exit_1_saying_which_key(world):
    world.configure(jira={"project": "NOPE"}, github={"repo": "acme/nosuch"})
    code, out, err = world.cli("plan", "--config", str(world.config))
    assert code == 1, out + err
    assert "jira: unknown project" in out and "trackers.jira.project" in out
    assert "github: unknown repo" in out and "trackers.github.repo" in out


def test_sync_prints_summary_and_failed_items_and_exits_2_on_transient(world):
    from connectors.testing.emulation import Fault

    world.jira.faults.add(
        Fault(
            502,
            match=lambda m, p: m == "POST" and p.endswith("/issue/bulk"),
            after_apply=True,
        )
    )
    code, out, err = world.cli("sync", "--once", "--config", str(world.config))
    assert code == 2, out + err
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["doc:line", "action"]
    assert columns_align([line for line in lines if not line.startswith(("  ", "notes", "sync"))])
    assert sum("created github ticket" in line for line in lines) == 2
    assert sum("FAILED: create outcome unknown" in line for line in lines) == 5
    assert lines[-1].startswith("sync: 2 created") and "5 failed" in lines[-1]
    # the next run resolves the unknown creates by marker: no duplicates, exit 0
    code, out, err = world.cli("sync", "--once", "--config", str(world.config))
    assert code == 0, out + err
    assert "0 failed" in out.splitlines()[-1]


def test_status_is_sorted_with_action_owner_due_and_last_error(world):
    from connectors.testing.emulation import Fault

    assert world.cli("sync", "--once", "--config", str(world.config))[0] == 0
    table = world.docs / "2026-06-04-checkout-outage.md"
    table.write_text(table.read_text().replace("2026-06-18", "2026-06-30"))
    world.jira.faults.add(Fault(400, match=lambda m, _p: m == "PUT", times=-1))
    code, out, err = world.cli("sync", "--once", "--config", str(world.config))
    assert code == 2, out + err
    code, out, err = world.cli("status", "--config", str(world.config))
    assert code == 2, out + err  # an item is failing
    lines = out.splitlines()
    rows = lines[1:8]
    keys = [(r.split()[0].rsplit(":", 1)[0], int(r.split()[0].rsplit(":", 1)[1])) for r in rows]
    assert keys == sorted(keys)
    assert columns_align([lines[0], *rows])
    rollback = next(r for r in rows if "flag rollback" in r)
    assert "@lee" in rollback and "FAILING" in rollback and "HTTP 400" in rollback
    assert "Gate config changes" in out and "@sri" in out and "2026-06-12" in out


def test_plain_sync_prints_each_note_once_and_the_log_does_not_repeat_it(world):
    (world.docs / "2026-06-20-search.md").write_text(DANA_DOC)
    (world.docs / "bad-utf8.md").write_bytes(b"# Bad bytes\n\nfine\n\xff\xfe not UTF-8\n")
    # committed by their author: the tool never commits a doc with uncommitted changes
    git(world.repo, "add", "-A")
    git(world.repo, "commit", "-q", "-m", "new postmortems")
    world.configure(log_level="info")
    proc = world.console("sync", "--once", "--config", str(world.config))
    assert proc.returncode == 0, proc.stderr
    both = proc.stdout + proc.stderr  # what a CronJob's log collects
    assert both.count("unmapped owner") == 1, both
    assert both.count("bad-utf8.md") == 1, both
    assert "bad-utf8.md:4" in proc.stdout and "2026-06-20-search.md:6" in proc.stdout
    # --format json: the document is for a program; the log line is the people's record
    code, out, err = world.cli("sync", "--once", "--config", str(world.config), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["problems"][0]["path"] == "bad-utf8.md"
    assert '"doc problem"' in err


def test_digest_preview_creates_nothing_but_its_output(world, tmp_path):
    assert not world.state.exists()
    before = sorted(p for p in world.config.parent.rglob("*"))
    preview = tmp_path / "out" / "digest.html"
    preview.parent.mkdir()
    proc = world.console(
        "digest", "--preview", str(preview), "--config", str(world.config), "--as-of", "2026-07-05"
    )
    assert proc.returncode == 0, proc.stderr
    assert preview.exists()
    assert not world.state.exists(), "a preview must not create the state file"
    assert sorted(p for p in world.config.parent.rglob("*")) == before
    assert sorted(p.name for p in preview.parent.iterdir())[0].endswith(".html")


def test_wrong_github_token_exits_1_naming_tracker_and_fix_without_the_token(world):
    world.configure(github={"token": "ghp_wrongTokenQ7x2"})
    code, out, err = world.cli("plan", "--config", str(world.config))
    assert code == 1, out + err
    failure = next(line for line in out.splitlines() if line.startswith("  github:"))
    assert "token was rejected" in failure
    assert "SYNCD_TRACKERS__GITHUB__TOKEN" in out and "token_file" in out
    assert "ghp_wrongTokenQ7x2" not in out + err and "Traceback" not in out + err
    assert not any(line.startswith("  jira:") for line in out.splitlines())  # jira is fine


def test_read_timeout_exits_2_naming_host_port_and_time_waited(world):
    # the emulator answers later than the connector waits (its `latency` option); the
    # listing is retried with backoff, then given up: a later run retries (exit 2)
    world.configure(jira={"timeout": 0.3})
    world.jira.latency = 1.5
    code, out, err = world.cli("plan", "--config", str(world.config))
    world.jira.latency = 0.0
    assert code == 2, out + err
    failure = next(line for line in out.splitlines() if line.startswith("  jira:"))
    port = world.jira.url.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port} sent no answer within 0.3 s" in failure, failure
    assert "gave up after retrying for" in failure
    assert "Traceback" not in out + err and "Timeout" not in out
