"""Shared plumbing for the reliability suites.

A `Rig` is one universe: a Jira and a GitHub emulator on loopback (living in the test
process, so they survive SIGKILLs of the sync), a git work tree of generated
postmortems, a config TOML, and ways to run the sync (subprocess CLI, in-process CLI,
or an `Engine` with racy connectors). `check_converged` states the invariants every
suite ends with: one ticket per action item, every row linked to its own ticket, docs
parse to the same items, no human byte changed outside tool-owned cells, state
consistent with the docs.

Everything any sync prints is appended to `CAPTURED` so the security suite can assert
that no token ever appeared in the output of the whole reliability run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connectors.testing.emulation import Fault
from connectors.testing.github import GitHubEmulator
from connectors.testing.jira import JiraEmulator
from syncd.cli.demo import OWNERS, toml_value
from syncd.documents.parser import parse_file, parse_text
from syncd.model import Status
from syncd.sync.identity import marker_for

ROOT = Path(__file__).resolve().parents[2]
SYNCD = Path(sys.executable).with_name("syncd")  # the running interpreter's script

# Distinctive secrets: the Jira emulator checks its token; GitHub accepts any token.
JIRA_TOKEN = "jira-RELIABILITY-tok-3e8f61c2a9"
GITHUB_TOKEN = "ghp_RELIABILITYtok5d1c9e77b04a"
JIRA_EMAIL = "syncd-bot@example.com"
SECRETS = (JIRA_TOKEN, GITHUB_TOKEN)

REPO = "acme/reliability"
GITHUB_MARKER = re.compile(r"<!--\s*postmortem-syncd:marker=(?P<marker>[\w.:-]+)\s*-->")
# Substrings the tool may add to a doc: ticket keys / references, an inserted YAML key.
OWNED_REF = re.compile(r" ?\(?(?:OPS-\d+|acme/reliability#\d+)\)?")
OWNED_YAML_LINE = re.compile(r"^\s+ticket: ")
STATUS_WORDS = re.compile(
    r"\b(?:Open|In Progress|Done|Won't Do|Closed|TODO|DONE|IN PROGRESS|WON'T DO)\b"
)

CAPTURED: list[str] = []  # every stdout/stderr of every sync the suites ran


def capture(*texts: str | bytes | None) -> None:
    for text in texts:
        if text:
            CAPTURED.append(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)


# ------------------------------------------------------------------------------ documents
VERBS = ("Add", "Automate", "Document", "Alert on", "Load-test", "Rate-limit", "Cap", "Audit")
NOUNS = (
    "connection pool saturation",
    "replica lag before failover",
    "config pushes without CI",
    "checkout error budget burn",
    "queue depth on refunds",
    "certificate expiry",
    "DNS TTL changes",
    "retry storms in the gateway",
)
PROSE = (
    "Customers saw 502s for 14 minutes — the pager fired late. "
    "Zitat: «keine Daten verloren» ✅; ملاحظة: تم الإصلاح 🚒."
)


@dataclass
class DocSpec:
    rel: str
    fmt: str  # table | list | yaml
    items: list[dict[str, Any]]
    text: str = ""


def action_items(rng: random.Random, doc_no: int, count: int) -> list[dict[str, Any]]:
    items = []
    for k in range(count):
        action = f"{rng.choice(VERBS)} {rng.choice(NOUNS)} (svc-{doc_no}-{k})"
        items.append(
            {
                "action": action,
                "owner": rng.choice(list(OWNERS)),
                "due": (date(2026, 7, 1) + timedelta(days=rng.randrange(90))).isoformat(),
                "priority": rng.choice(("P0", "P1", "P2", "P3")),
                "status": "In Progress" if rng.random() < 0.15 else "Open",
            }
        )
    if count >= 3 and rng.random() < 0.3:  # the same action twice in one doc: occurrences
        items[-1] = dict(items[-1], action=items[0]["action"])
    return items


def render_doc(title: str, fmt: str, items: Sequence[dict[str, Any]], *, seed: int = 0) -> str:
    rng = random.Random(seed)
    head = [
        f"# Postmortem: {title}",
        "",
        "**Status:** Reviewed | **Severity:** SEV-2",
        "",
        "## Summary",
        PROSE,
        "",
        "## Timeline",
        "- 10:02 deploy started (see [runbook](http://127.0.0.1:9/runbook) `| not a cell |`)",
        "- 10:16 rollback",
        "",
    ]
    body: list[str] = []
    if fmt == "table":
        pad = rng.choice((" ", "   "))
        body += [
            "## Action items",
            "",
            "| # | Action | Owner | Due | Priority | Status | Ticket |",
            "|---|--------|-------|-----|----------|--------|--------|",
        ]
        for n, it in enumerate(items, 1):
            body.append(
                f"| {n} | {it['action']} | {it['owner']} | {it['due']} | {it['priority']} "
                f"| {it['status']} |{pad}|"
            )
    elif fmt == "list":
        body += ["## Follow-ups"]
        for it in items:
            mark = "x" if it["status"] == "Done" else " "
            body.append(f"- [{mark}] {it['action']} ({it['owner']}, due {it['due']})")
    else:
        body += ["## Action Items", "", "```yaml", "action_items:"]
        for it in items:
            body += [
                f'  - item: "{it["action"]}"',
                f'    owner: "{it["owner"]}"',
                f'    due: "{it["due"]}"',
                f'    status: "{it["status"]}"',
                f'    priority: "{it["priority"]}"',
            ]
        body += ["```"]
    tail = ["", "## Lessons", "Config is code. | Pipes in prose stay prose.", ""]
    return "\n".join(head + body + tail)


def generate_docs(rng: random.Random, n_docs: int, per_doc: int) -> list[DocSpec]:
    """Half the docs under payments/ (routed to GitHub), the rest to Jira."""
    specs = []
    for i in range(n_docs):
        github = i % 2 == 1
        fmt = ("table", "list", "yaml")[(i // 2) % 3]
        if github and fmt == "yaml":
            fmt = "table"
        rel = f"payments/{i:03d}-incident.md" if github else f"2026/{i:03d}-incident.md"
        items = action_items(rng, i, per_doc)
        spec = DocSpec(rel, fmt, items)
        spec.text = render_doc(f"incident {i}", fmt, items, seed=i)
        specs.append(spec)
    return specs


def human_view(text: str, *, ignore_status: bool = True) -> list[str]:
    """A doc's lines with everything the tool may write removed (keys, inserted YAML
    ticket keys, table cell padding; optionally status words and checkbox marks)."""
    out = []
    for line in text.split("\n"):
        if OWNED_YAML_LINE.match(line):
            continue
        line = OWNED_REF.sub("", line)
        if ignore_status:
            line = STATUS_WORDS.sub("<status>", line)
            line = re.sub(r"^(\s*[-*+] )\[[ xX-]\]", r"\1[?]", line)
        if line.lstrip().startswith("|"):
            line = "|".join(cell.strip() for cell in line.split("|"))
        out.append(line)
    return out


def item_tuple(item: Any, *, status: bool = True) -> tuple[Any, ...]:
    base = (item.action, item.owner, item.due, item.priority)
    return (*base, item.status) if status else base


# ------------------------------------------------------------------------------ git
def git(repo: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=60
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


HUMAN_GIT = ("-c", "user.name=Human Author", "-c", "user.email=human@example.test")


def init_repo(repo: Path, files: dict[str, str | bytes], subdir: str = "postmortems") -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    for rel, text in files.items():
        path = repo / subdir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
    (repo / subdir).mkdir(parents=True, exist_ok=True)
    git(repo, "add", "-A")
    git(repo, *HUMAN_GIT, "commit", "-q", "--allow-empty", "-m", "Import postmortems")
    return repo / subdir


# ------------------------------------------------------------------------------ emulators
class TimedLog:
    """Wraps an emulator's fault plan to timestamp every request with the fault it got."""

    def __init__(self, name: str, emulator: Any) -> None:
        self.name = name
        self.entries: list[tuple[float, str, str, int | None, dict[str, str]]] = []
        self._take = emulator.faults.take
        emulator.faults.take = self.take
        self.lock = threading.Lock()

    def take(self, method: str, path: str) -> Fault | None:
        fault = self._take(method, path)
        with self.lock:
            self.entries.append(
                (
                    time.monotonic(),
                    method,
                    path,
                    fault.status if fault else None,
                    dict(fault.headers) if fault else {},
                )
            )
        return fault

    def mark(self) -> int:
        return len(self.entries)


def start_emulators(*, latency: float = 0.0, seed: int = 0) -> tuple[JiraEmulator, GitHubEmulator]:
    jira = JiraEmulator(token=JIRA_TOKEN, latency=latency, seed=seed)
    github = GitHubEmulator(repo=REPO, latency=latency, seed=seed + 1)
    jira.start()
    github.start()
    for emulator in (jira, github):  # a killed client's reset is expected: no tracebacks
        emulator._server.handle_error = lambda *_args: None  # type: ignore[union-attr]
    for owner, ids in OWNERS.items():
        jira.add_user(ids["jira"], owner.lstrip("@").title())
    return jira, github


def jira_markers(jira: JiraEmulator) -> dict[str, list[str]]:
    """marker → keys of the issues carrying it."""
    found: dict[str, list[str]] = {}
    for issue in jira.issues():
        for label in issue["fields"].get("labels") or []:
            if label.startswith("pm-"):
                found.setdefault(label, []).append(issue["key"])
    return found


def github_markers(github: GitHubEmulator) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for issue in github.issues():
        match = GITHUB_MARKER.search(issue.get("body") or "")
        if match:
            found.setdefault(match["marker"], []).append(f"{REPO}#{issue['number']}")
    return found


# ------------------------------------------------------------------------------ config
def write_config(
    path: Path,
    *,
    docs_root: Path,
    state_path: Path,
    jira: JiraEmulator,
    github: GitHubEmulator,
    jira_extra: dict[str, Any] | None = None,
    github_extra: dict[str, Any] | None = None,
    git_section: dict[str, Any] | None = None,
    log_level: str = "info",
    include: Sequence[str] | None = None,
) -> Path:
    def table(name: str, values: dict[str, Any]) -> list[str]:
        return [f"[{name}]", *(f"{k} = {toml_value(v)}" for k, v in values.items()), ""]

    docs: dict[str, Any] = {"root": str(docs_root)}
    if include is not None:
        docs["include"] = list(include)
    lines = table("docs", docs)
    lines += table(
        "docs.git",
        {"author_name": "pm-sync-bot", "author_email": "bot@example.test", **(git_section or {})},
    )
    lines += table("state", {"path": str(state_path)})
    lines += table("log", {"format": "json", "level": log_level})
    lines += table(
        "trackers.jira",
        jira.connector_section(token=JIRA_TOKEN, email=JIRA_EMAIL, **(jira_extra or {})),
    )
    lines += table(
        "trackers.github",
        github.connector_section(
            token=GITHUB_TOKEN, writes_per_minute=60000, **(github_extra or {})
        ),
    )
    lines += ["[routing]", 'default = "jira"', ""]
    lines += ["[[routing.rules]]", 'match = "payments/**"', 'tracker = "github"', ""]
    for owner, ids in OWNERS.items():
        lines += table(f'owners."{owner}"', ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


# ------------------------------------------------------------------------------ the rig
@dataclass
class Rig:
    tmp: Path
    jira: JiraEmulator
    github: GitHubEmulator
    repo: Path
    docs: Path
    config: Path
    state: Path
    originals: dict[str, str] = field(default_factory=dict)
    logs: dict[str, TimedLog] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        tmp: Path,
        files: dict[str, str | bytes],
        *,
        latency: float = 0.0,
        seed: int = 0,
        emulators: tuple[JiraEmulator, GitHubEmulator] | None = None,
        **config: Any,
    ) -> Rig:
        jira, github = emulators or start_emulators(latency=latency, seed=seed)
        repo = tmp / "repo"
        docs = init_repo(repo, files)
        state = tmp / "cfg" / "state" / "state.db"
        cfg = write_config(
            tmp / "cfg" / "syncd.toml",
            docs_root=docs,
            state_path=state,
            jira=jira,
            github=github,
            **config,
        )
        originals = {rel: t for rel, t in files.items() if isinstance(t, str)}
        return cls(tmp, jira, github, repo, docs, cfg, state, originals)

    def stop(self) -> None:
        self.jira.stop()
        self.github.stop()

    def time_logs(self) -> None:
        self.logs = {"jira": TimedLog("jira", self.jira), "github": TimedLog("github", self.github)}

    def reconfigure(self, **config: Any) -> None:
        write_config(
            self.config,
            docs_root=self.docs,
            state_path=self.state,
            jira=self.jira,
            github=self.github,
            **config,
        )

    # -- running ------------------------------------------------------------------------
    def spawn(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(SYNCD),
                "sync",
                "--once",
                "--config",
                str(self.config),
                "--format",
                "json",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a kill takes its git children too
            env=env,
        )

    def run_subprocess(self, timeout: float = 120) -> tuple[int, dict[str, Any] | None, str]:
        proc = self.spawn()
        out, err = proc.communicate(timeout=timeout)
        capture(out, err)
        text = out.decode()
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            data = None
        return proc.returncode, data, err.decode()

    def run_cli(self, *argv: str) -> tuple[int, str, str]:
        """`syncd.cli.main.main` in-process, stdout/stderr captured (structlog binds stderr)."""
        from syncd.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        capture(out.getvalue(), err.getvalue())
        return code, out.getvalue(), err.getvalue()

    def sync_inprocess(self) -> tuple[int, dict[str, Any], str]:
        code, out, err = self.run_cli(
            "sync", "--once", "--config", str(self.config), "--format", "json"
        )
        return code, (json.loads(out) if out.strip() else {}), err

    def status(self) -> dict[str, Any]:
        code, out, _err = self.run_cli("status", "--config", str(self.config), "--format", "json")
        assert code == 0, out
        return json.loads(out)

    def break_stale_lease(self) -> bool:
        """What `syncd lease break` (or waiting out the lease TTL) does after a SIGKILL:
        the killed run's sync lease is removed so the next run need not wait 30 s."""
        from syncd.sync.state import StateStore

        if not self.state.exists():
            return False
        with StateStore.open(self.state) as state:
            release = getattr(state, "release_lease", None)
            return bool(release("sync")) if release else False

    def delete_state(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(self.state) + suffix).unlink(missing_ok=True)

    # -- looking --------------------------------------------------------------------------
    def read(self, rel: str) -> str:
        return (self.docs / rel).read_text(encoding="utf-8")

    def ticket_count(self) -> int:
        return self.jira.issue_count() + self.github.issue_count()


# ------------------------------------------------------------------------------ invariants
@dataclass
class Verdict:
    duplicates: int = 0
    unlinked: int = 0
    human_lines_changed: int = 0  # outside tool-owned cells (keys, status)
    status_overwritten: int = 0  # doc status cells that no longer say what the human wrote
    status_mismatch: int = 0  # linked tickets whose status differs from the doc's
    items: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # tolerated findings, reported

    def ok(self) -> bool:
        return not self.problems


def expected_markers(rel: str, items: Iterable[Any]) -> list[tuple[Any, str]]:
    seen: Counter[str] = Counter()
    out = []
    for item in items:
        norm = re.sub(r"\s+", " ", item.action.strip().lower())
        out.append((item, marker_for(rel, item.action, seen[norm])))
        seen[norm] += 1
    return out


JIRA_STATUS = {
    "To Do": Status.OPEN,
    "In Progress": Status.IN_PROGRESS,
    "Done": Status.DONE,
    "Won't Do": Status.WONT_DO,
}


def ticket_statuses(rig: Rig) -> dict[str, Status]:
    found = {i["key"]: JIRA_STATUS[i["fields"]["status"]] for i in rig.jira.issues()}
    for issue in rig.github.issues():
        labels = {label["name"] for label in issue["labels"]}
        if issue["state"] == "closed":
            status = Status.WONT_DO if issue["state_reason"] == "not_planned" else Status.DONE
        else:
            status = Status.IN_PROGRESS if "in progress" in labels else Status.OPEN
        found[f"{REPO}#{issue['number']}"] = status
    return found


def check_converged(
    rig: Rig,
    *,
    rels: Iterable[str] | None = None,
    check_state: bool = True,
    strict_status: bool = True,
) -> Verdict:
    """The invariants every suite ends with (see module docstring).

    With `strict_status=False`, doc status cells the sync overwrote and ticket/doc status
    mismatches are counted (and listed in `notes`) instead of failing the verdict.
    """
    verdict = Verdict()
    markers = {"jira": jira_markers(rig.jira), "github": github_markers(rig.github)}
    for tracker, found in markers.items():
        for marker, keys in found.items():
            if len(keys) > 1:
                verdict.duplicates += len(keys) - 1
                verdict.problems.append(f"{tracker}: marker {marker} on {keys}")
    by_key = {k: m for found in markers.values() for m, keys in found.items() for k in keys}
    statuses = ticket_statuses(rig)
    status_problems = verdict.problems if strict_status else verdict.notes
    doc_keys: set[str] = set()
    for rel in sorted(rels if rels is not None else rig.originals):
        original = rig.originals[rel]
        path = rig.docs / rel
        doc, text = parse_file(path)
        if text is None:
            verdict.problems.append(f"{rel}: unreadable after sync: {doc.problems}")
            continue
        before = parse_text(original, path)
        now_items = [item_tuple(i, status=False) for i in doc.action_items]
        if now_items != [item_tuple(i, status=False) for i in before.action_items]:
            verdict.problems.append(f"{rel}: items changed: {now_items}")
        for old, new in zip(before.action_items, doc.action_items, strict=False):
            if old.status != new.status:
                verdict.status_overwritten += 1
                status_problems.append(
                    f"{rel}:{new.line}: doc status {old.status_raw!r} overwritten with "
                    f"{new.status_raw!r}"
                )
        a, b = human_view(original, ignore_status=True), human_view(text, ignore_status=True)
        if a != b:
            changed = [(x, y) for x, y in zip(a, b, strict=False) if x != y] or [(len(a), len(b))]
            verdict.human_lines_changed += len(changed)
            verdict.problems.append(f"{rel}: human text changed: {changed[:3]}")
        for item, marker in expected_markers(rel, doc.action_items):
            verdict.items += 1
            if Status(item.status).is_closed and not item.ticket:
                continue
            key = canonical_key(item.ticket)
            if key is None:
                verdict.unlinked += 1
                verdict.problems.append(f"{rel}:{item.line}: no ticket written")
                continue
            doc_keys.add(key)
            if by_key.get(key) != marker:
                verdict.unlinked += 1
                verdict.problems.append(
                    f"{rel}:{item.line}: {key} carries {by_key.get(key)}, expected {marker}"
                )
            ticket_status = statuses.get(key)
            representable = not (  # a checkbox cannot say "in progress"
                item.anchor is not None
                and item.anchor.status_kind == "checkbox"
                and {item.status, ticket_status} <= {Status.OPEN, Status.IN_PROGRESS}
            )
            if ticket_status != item.status and representable:
                verdict.status_mismatch += 1
                status_problems.append(
                    f"{rel}:{item.line}: doc says {item.status}, {key} says {ticket_status}"
                )
    if check_state:
        status = rig.status()
        if status["pending_intents"]:
            verdict.problems.append(f"pending intents: {status['pending_intents']}")
        state_keys = {i["ticket"] for i in status["items"] if i["ticket"]}
        if state_keys != doc_keys:
            verdict.problems.append(
                f"state keys differ from docs: only state {sorted(state_keys - doc_keys)[:5]}, "
                f"only docs {sorted(doc_keys - state_keys)[:5]}"
            )
    return verdict


def canonical_key(ticket: str | None) -> str | None:
    if not ticket:
        return None
    if m := re.search(r"OPS-\d+", ticket):
        return m.group(0)
    if m := re.search(r"acme/reliability#\d+", ticket):
        return m.group(0)
    return None


# ------------------------------------------------------------------------------ killing
class Killer:
    """SIGKILLs a sync subprocess (its whole process group) at a chosen moment:
    inside the emulator's handler of the N-th request, after the server applied it but
    before the answer leaves (mode "request"), or after a wall-clock delay ("timer")."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.proc: subprocess.Popen[bytes] | None = None
        self.target = 0
        self.count = 0
        self.fired = False
        self.last_stderr = ""
        self.lock = threading.Lock()
        for emulator in (rig.jira, rig.github):
            original = emulator.dispatch

            def dispatch(req: Any, _original: Callable[[Any], Any] = original) -> Any:
                resp = _original(req)
                self._tick()
                return resp

            emulator.dispatch = dispatch  # type: ignore[method-assign]

    def _tick(self) -> None:
        with self.lock:
            if self.proc is None or self.fired:
                return
            self.count += 1
            if self.target and self.count >= self.target:
                self._kill()

    def _kill(self) -> None:
        assert self.proc is not None
        self.fired = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def run(
        self, *, request: int = 0, delay: float | None = None, timeout: float = 120
    ) -> tuple[bool, int, dict[str, Any] | None]:
        """Run one sync; returns (killed, exit code, json output)."""
        with self.lock:
            self.count, self.fired, self.target = 0, False, request
            self.proc = self.rig.spawn()
        proc = self.proc
        timer = None
        if delay is not None:
            timer = threading.Timer(delay, lambda: self._timer_kill(proc))
            timer.start()
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if timer:
                timer.cancel()
            with self.lock:
                self.proc = None
        capture(out, err)
        self.last_stderr = err.decode("utf-8", "replace")
        killed = proc.returncode == -signal.SIGKILL
        data = None
        if not killed and out.strip():
            with contextlib.suppress(json.JSONDecodeError):
                data = json.loads(out)
        return killed, proc.returncode, data

    def _timer_kill(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            if self.proc is proc and not self.fired and proc.poll() is None:
                self._kill()
