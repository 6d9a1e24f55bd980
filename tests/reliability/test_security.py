"""Security: secrets never printed, document URLs never fetched, paths never escape the
docs root, and bandit / pip-audit over the code and its dependencies.

The tokens are distinctive strings (`harness.SECRETS`); besides the raw values, the
forms they travel in (HTTP basic `email:token` in base64, `Bearer token`) are searched.
`test_no_secret_in_any_output_of_the_whole_suite` runs last (conftest orders it) and
sweeps every stdout/stderr/log captured by every reliability test and subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from connectors.base import TrackerError
from connectors.registry import build
from connectors.testing.emulation import Fault
from syncd.config import load_config
from tests.reliability import report
from tests.reliability.harness import (
    CAPTURED,
    GITHUB_TOKEN,
    JIRA_EMAIL,
    JIRA_TOKEN,
    ROOT,
    SECRETS,
    Rig,
    capture,
    check_converged,
    generate_docs,
)

VENV_BIN = Path(sys.executable).parent


def secret_forms() -> list[str]:
    forms = list(SECRETS)
    forms.append(base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode())
    forms += [f"Bearer {t}" for t in SECRETS] + [f"token {GITHUB_TOKEN}"]
    return forms


def leaks(text: str) -> list[str]:
    return [form for form in secret_forms() if form in text]


# ------------------------------------------------------------------------------ secrets
def test_full_sync_never_prints_secrets(tmp_path: Path) -> None:
    """Tokens from the environment; debug logging; error paths forced by faults."""
    specs = generate_docs(__import__("random").Random(9), 6, 3)
    rig = Rig.create(tmp_path, {s.rel: s.text for s in specs}, log_level="debug")
    try:
        config = rig.config.read_text()
        stripped = "\n".join(ln for ln in config.splitlines() if not ln.startswith("token ="))
        rig.config.write_text(stripped)
        env = {
            **os.environ,
            "SYNCD_TRACKERS__JIRA__TOKEN": JIRA_TOKEN,
            "SYNCD_TRACKERS__GITHUB__TOKEN": GITHUB_TOKEN,
        }
        rig.jira.faults.add(Fault(500, match=lambda m, p: p.endswith("/issue/bulk"), times=1))
        rig.github.faults.add(Fault(0, times=2))
        rig.github.faults.add(Fault(401, body={"message": "Bad credentials"}, times=1))
        outputs = []
        for argv in (
            ["sync", "--once", "--format", "json"],
            ["sync", "--once"],
            ["sync", "--once", "--format", "json"],
            ["plan", "--format", "json"],
            ["status", "--format", "json"],
            ["status"],
        ):
            proc = subprocess.run(
                [str(VENV_BIN / "syncd"), *argv, "--config", str(rig.config)],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )
            capture(proc.stdout, proc.stderr)
            outputs += [proc.stdout, proc.stderr]
            # 1: the injected GitHub 401 is a rejected token, for a human to fix
            assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]
        # a wrong token: the 401 path must not echo what was sent
        bad_env = {**env, "SYNCD_TRACKERS__JIRA__TOKEN": JIRA_TOKEN + "-wrong"}
        proc = subprocess.run(
            [str(VENV_BIN / "syncd"), "sync", "--once", "--config", str(rig.config)],
            capture_output=True,
            text=True,
            env=bad_env,
            timeout=120,
            check=False,
        )
        capture(proc.stdout, proc.stderr)
        outputs += [proc.stdout, proc.stderr]
        found = [f for text in outputs for f in leaks(text)]
        report.add("security", outputs_scanned=len(outputs))
        assert not found, found
        status = json.loads(
            subprocess.run(
                [
                    str(VENV_BIN / "syncd"),
                    "status",
                    "--format",
                    "json",
                    "--config",
                    str(rig.config),
                ],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                check=True,
            ).stdout
        )
        assert not leaks(json.dumps(status))
        assert check_converged(rig, strict_status=False).duplicates == 0
    finally:
        rig.stop()


def test_reprs_and_exceptions_never_show_secrets(tmp_path: Path) -> None:
    rig = Rig.create(tmp_path, {})
    try:
        settings = load_config(rig.config)
        texts = [repr(settings), str(settings), repr(settings.trackers), str(settings.redacted())]
        connectors = {n: build(n, dict(s)) for n, s in settings.trackers.items()}
        for connector in connectors.values():
            connector._sleep = lambda _s: None  # retries still happen, without the waits
            texts += [
                repr(connector),
                str(connector),
                repr(connector.config),
                str(connector.config),
                connector.config.model_dump_json(),
            ]
        # failures: a wrong token (401), a 500, a reset, a timeout
        rig.jira.token = "not-the-token"
        rig.github.faults.add(Fault(500, times=10))
        rig.github.faults.add(Fault(0, times=10))
        errors: list[BaseException] = []
        for connector in connectors.values():
            for call in (
                lambda c=connector: list(c.list_changed_since(None)),
                lambda c=connector: c.find_by_markers(["pm-x"]),
            ):
                try:
                    call()
                except TrackerError as exc:
                    errors.append(exc)
        assert len(errors) >= 2
        for exc in errors:
            chain = "".join(traceback.format_exception(exc))
            texts += [str(exc), repr(exc), chain]
            context = exc.__context__ or exc.__cause__
            while context is not None:  # hidden by `from None`, but still attached
                texts += [str(context), repr(context)]
                context = context.__context__ or context.__cause__
        for connector in connectors.values():
            connector.close()
        capture(*texts)
        report.add("security", reprs_and_exceptions_scanned=len(texts))
        found = [(i, f) for i, t in enumerate(texts) for f in leaks(t)]
        assert not found, [(texts[i][:300], f) for i, f in found]
    finally:
        rig.stop()


def test_no_secret_in_any_output_of_the_whole_suite() -> None:
    """Runs last: every capture of every reliability test and subprocess, swept."""
    found = [(n, f) for n, text in enumerate(CAPTURED) for f in leaks(text)]
    report.add(
        "security",
        suite_outputs_swept=len(CAPTURED),
        suite_chars_swept=sum(len(t) for t in CAPTURED),
    )
    assert CAPTURED, "nothing was captured: the sweep would prove nothing"
    assert not found, [(CAPTURED[n][:200], f) for n, f in found[:5]]


# ------------------------------------------------------------------------------ URLs, paths
class Canary:
    def __init__(self) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


JIRA_API = ("/rest/api/2/", "/rest/api/latest/")
GITHUB_API = ("/repos/acme/reliability", "/rate_limit", "/search/issues")


def test_no_url_from_a_document_is_fetched(tmp_path: Path) -> None:
    canary = Canary()
    rig = Rig.create(tmp_path, {})
    try:
        jira_url, gh_url, c = rig.jira.url, rig.github.url, canary.url
        doc = f"""\
---
title: Links everywhere
doc_url: {c}/front-matter
tracker: jira
---
# Links everywhere ![badge]({c}/badge.png)

See <{c}/autolink> and [the runbook]({c}/runbook) and <img src="{c}/img.png">.

## Action items

| Action | Owner | Status | Ticket |
|---|---|---|---|
| Read [the dashboard]({c}/dash) | @sri | Open |  |
| Follow {jira_url}/browse/OPS-999 | @lee | Open | [OPS-77]({c}/browse/OPS-77) |
| Check {gh_url}/acme/reliability/issues/5 | @maya | Open | {c}/jira/browse/OPS-78 |
"""
        gh_doc = (
            "# GH links\n\n## Action items\n"
            f"- [ ] Look at {c}/gh ({c}/acme/reliability/issues/3)\n"
            f"- [ ] Fetch nothing from {gh_url}/not-api/x (@sri)\n"
        )
        (rig.docs / "2026").mkdir(parents=True)
        (rig.docs / "2026" / "links.md").write_text(doc)
        (rig.docs / "payments").mkdir(parents=True)
        (rig.docs / "payments" / "links.md").write_text(gh_doc)
        for _ in range(2):
            code, _data, _err = rig.sync_inprocess()
            assert code in (0, 2)
        paths = [p for _m, p, _s in rig.jira.request_log]
        gh_paths = [p for _m, p, _s in rig.github.request_log]
        report.add(
            "security",
            canary_hits=len(canary.hits),
            api_requests_checked=len(paths) + len(gh_paths),
        )
        assert canary.hits == []
        assert all(p.startswith(JIRA_API) for p in paths), sorted(set(paths))
        assert all(p.startswith(GITHUB_API) for p in gh_paths), sorted(set(gh_paths))
    finally:
        rig.stop()
        canary.stop()


def test_paths_from_documents_cannot_escape_the_docs_root(tmp_path: Path) -> None:
    specs = generate_docs(__import__("random").Random(12), 2, 2)
    rig = Rig.create(tmp_path, {s.rel: s.text for s in specs})
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    secret = "# Outside\n\n## Action items\n- [ ] leaked item (@sri, due 2026-08-01)\n"
    (outside / "doc.md").write_text(secret)
    (outside / "dir" / "doc.md").write_text(secret)
    os.symlink(outside / "doc.md", rig.docs / "2026" / "escape.md")
    os.symlink(outside / "dir", rig.docs / "2026" / "escape-dir")
    os.symlink("../../../outside/doc.md", rig.docs / "2026" / "relative-escape.md")
    try:
        code, _data, _err = rig.sync_inprocess()
        assert code == 0
        assert (outside / "doc.md").read_text() == secret
        assert (outside / "dir" / "doc.md").read_text() == secret
        assert (rig.docs / "2026" / "escape.md").is_symlink()
        titles = [i["fields"]["summary"] for i in rig.jira.issues()]
        titles += [i["title"] for i in rig.github.issues()]
        assert not [t for t in titles if "leaked" in t]
        assert check_converged(rig).ok()
        report.add("security", escaping_links_ignored=3)
    finally:
        rig.stop()


# ------------------------------------------------------------------------------ scanners
BANDIT = VENV_BIN / "bandit"
PIP_AUDIT = VENV_BIN / "pip-audit"


def test_bandit_finds_nothing_of_medium_or_high_severity() -> None:
    if not BANDIT.exists():
        pytest.skip("bandit is not installed in .venv (pip install bandit)")
    proc = subprocess.run(
        [str(BANDIT), "-r", "syncd", "connectors", "-q", "-f", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    results = json.loads(proc.stdout)["results"]
    serious = [
        f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: "
        f"{r['issue_text']}"
        for r in results
        if r["issue_severity"] in ("MEDIUM", "HIGH")
    ]
    report.add(
        "security",
        bandit_findings_medium_plus=len(serious),
        bandit_findings_low=len(results) - len(serious),
    )
    assert not serious, serious


def test_pip_audit_of_the_installed_dependencies(tmp_path: Path) -> None:
    if not PIP_AUDIT.exists():
        pytest.skip("pip-audit is not installed in .venv (pip install pip-audit)")
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(freeze)
    proc = subprocess.run(
        [
            str(PIP_AUDIT),
            "--disable-pip",
            "--no-deps",
            "-r",
            str(requirements),
            "-f",
            "json",
            "--progress-spinner",
            "off",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        deps = json.loads(proc.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        pytest.skip(f"pip-audit could not run (no advisory service?): {proc.stderr[-300:]}")
    audited = [d for d in deps if "skip_reason" not in d]
    report.add("security", pip_audit_dependencies=len(deps), pip_audit_audited=len(audited))
    if not audited:
        reasons = {d.get("skip_reason", "")[:60] for d in deps}
        pytest.skip(
            f"pip-audit could not audit any of {len(deps)} dependencies: the PyPI "
            f"advisory service is not reachable from here ({sorted(reasons)[:2]})"
        )
    vulnerable = [
        f"{d['name']} {d['version']}: {[v['id'] for v in d['vulns']]}"
        for d in audited
        if d.get("vulns")
    ]
    assert not vulnerable, vulnerable
