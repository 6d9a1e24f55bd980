"""`make bench`: the real `syncd` CLI, end to end, against loopback tracker emulators.

Every measured command is a separate `syncd …` process started the way a user starts
it (a config TOML, the console script), so wall time, CPU time and peak RSS are the
child's own (`os.wait4` rusage). The Jira and GitHub emulators run inside this
process on 127.0.0.1 with a per-request latency (default 20 ms); their request logs
give the API requests by tracker and kind. Doc files written are counted by hashing
the corpus before and after each run.

Scenarios, at ~1k items (200 docs) and ~10k items (2,000 docs):

  parse / lint        `syncd parse|lint ROOT --format json` throughput
  digest              `syncd digest --format json` (skipped if the subcommand is absent)
  cold-jira           first sync: every item needs a Jira ticket
  resync-nochange     a sync right after a settled sync: nothing changed anywhere
  resync-1pct         owners closed 1% of the tickets (human_set_status) since the last sync
  cold-github         first sync to GitHub with the secondary limit (80 creates/min)
                      enforced on a scaled clock (1k tier only, see README)
  full-reconcile      read every known ticket by key (`get_many`, what the periodic full
                      reconcile does): requests per tracker for N tickets, 1% deleted

Usage: python -m bench.run [--quick] [--latency 0.02] [--repeat 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import archive as archive_bench
from bench import parser_accuracy
from bench import similarity as similarity_bench
from bench.corpus import OWNERS, Corpus, generate, owner_identities
from bench.similarity_docs import replace_block
from connectors.registry import build
from connectors.testing.github import GitHubEmulator
from connectors.testing.jira import JiraEmulator
from connectors.testing.linear import LinearEmulator
from syncd.cli.demo import toml_value
from syncd.model import Status

TIERS = {"1k": (200, 5), "10k": (2000, 5)}  # docs, items per doc
GITHUB_ALLOWED_PER_MIN = 80  # GitHub's documented content-creation limit
GITHUB_DEFAULT_WPM = 76.0  # GitHubConfig.writes_per_minute default
CLOCK_SHIFT = timedelta(days=1)  # cold syncs happen "a day ago" (see Bench.cold_jira)
OVERLAP_S = 180.0  # the connectors re-list 2 min before the cursor, JQL rounds to minutes
MB = 1024 * 1024


# ---------------------------------------------------------------------------------------
# measurement


@dataclass
class Sample:
    """One measured `syncd` process."""

    wall_s: float
    user_s: float
    sys_s: float
    rss_mb: float
    exit_code: int
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    docs_written: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


@dataclass
class Check:
    label: str
    value: str
    target: str
    ok: bool | None  # None: informational


@dataclass
class Scenario:
    name: str
    tier: str
    docs: int
    items: int
    samples: list[Sample] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def median(self, attr: str) -> float:
        values = [float(getattr(s, attr)) for s in self.samples]
        return statistics.median(values) if values else math.nan

    def requests(self, tracker: str, kind: str) -> int:
        """Median count of `kind` ("read"/"write"/"limited") requests to `tracker`."""
        values = [s.requests.get(tracker, {}).get(kind, 0) for s in self.samples]
        return int(statistics.median(values)) if values else 0

    def check(self, label: str, value: str, target: str, ok: bool | None) -> None:
        self.checks.append(Check(label, value, target, ok))

    def as_json(self) -> dict[str, Any]:
        data = {
            "scenario": self.name,
            "tier": self.tier,
            "docs": self.docs,
            "items": self.items,
            "skipped": self.skipped,
            "median": {
                "wall_s": _r(self.median("wall_s")),
                "cpu_s": _r(self.median("cpu_s")),
                "rss_mb": _r(self.median("rss_mb")),
                "docs_written": self.median("docs_written"),
            }
            if self.samples
            else None,
            "samples": [
                {**asdict(s), "cpu_s": _r(s.cpu_s), "summary": _slim(s.summary)}
                for s in self.samples
            ],
            "checks": [asdict(c) for c in self.checks],
            "metrics": self.metrics,
            "notes": self.notes,
        }
        return data


def _r(value: float, digits: int = 3) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def _slim(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("requests",)}


class Runner:
    """Starts `syncd` children and measures each one on its own."""

    def __init__(self, verbose: bool) -> None:
        exe = Path(sys.executable).with_name("syncd")
        self.syncd = [str(exe)] if exe.exists() else [sys.executable, "-m", "syncd.cli.main"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.verbose = verbose

    def run(self, args: Sequence[str], cwd: Path, log: Path) -> tuple[Sample, str]:
        """Run `syncd ARGS`; returns its measurements and stdout."""
        out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
        with out_path.open("wb") as out, err_path.open("wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [*self.syncd, *args], cwd=cwd, stdout=out, stderr=err, env=self.env
            )
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        sample = Sample(
            wall_s=wall,
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            rss_mb=usage.ru_maxrss * 1024 / MB,  # Linux reports KiB
            exit_code=proc.returncode,
        )
        if self.verbose:
            print(
                f"    syncd {' '.join(args[:1])}: {wall:.2f}s wall, {sample.cpu_s:.2f}s cpu, "
                f"{sample.rss_mb:.0f} MB, exit {proc.returncode}",
                file=sys.stderr,
            )
        return sample, out_path.read_text(errors="replace")


# ---------------------------------------------------------------------------------------
# trackers


def jira_kind(method: str, path: str) -> tuple[str, str]:
    """(read|write, kind) of one Jira request."""
    if "/search" in path:
        return "read", "search"
    if method == "GET":
        if path.endswith("/transitions"):
            return "read", "get transitions"
        if "/issue/" in path:
            return "read", "get issue"
        return "read", path.rsplit("/", 1)[-1]
    if path.endswith("/issue/bulk") or path.endswith("/issue"):
        return "write", "create"
    if path.endswith("/transitions"):
        return "write", "transition"
    if method == "PUT":
        return "write", "update"
    return "write", f"{method} {path.rsplit('/', 1)[-1]}"


def github_kind(method: str, path: str) -> tuple[str, str]:
    tail = path.split("/", 4)[-1] if path.startswith("/repos/") else path.strip("/")
    if method == "GET":
        if tail.startswith("issues/"):
            return "read", "get issue"
        return "read", f"list {tail.split('/')[0] or 'repo'}"
    if method == "POST" and tail.endswith("issues"):
        return "write", "create issue"
    if method == "PATCH":
        return "write", "edit issue"
    return "write", f"{method} {tail}"


def tally(
    log: Sequence[tuple[str, str, int]], kind: Callable[[str, str], tuple[str, str]]
) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for method, path, status in log:
        rw, what = kind(method, path)
        counts[rw] += 1
        by_kind[what] += 1
        if status in (403, 429):
            counts["limited"] += 1
    return {
        "read": counts["read"],
        "write": counts["write"],
        "limited": counts["limited"],
        "by_kind": dict(sorted(by_kind.items())),
    }


# the emulators check it, as the real services would; `connector_section` configures it
BENCH_TOKEN = "bench-token"  # noqa: S105 - a loopback emulator's key, not a secret


def start_jira(latency: float) -> JiraEmulator:
    jira = JiraEmulator(latency=latency, token=BENCH_TOKEN)
    jira.start()
    for owner in OWNERS:
        jira.add_user(owner_identities(owner)["jira"], owner.lstrip("@").title())
    return jira


def start_github(latency: float, limit: int | None, scale: float) -> GitHubEmulator:
    # GitHub also caps content creation at 500 an hour: a cold corpus above that needs a
    # second run (the connector's creates_per_hour budget stops at 480 on purpose)
    github = GitHubEmulator(
        token=BENCH_TOKEN,
        latency=latency,
        secondary_limit_per_minute=limit,
        secondary_limit_per_hour=500 if limit else None,
        clock_scale=scale,
    )
    github.start()
    return github


# ---------------------------------------------------------------------------------------
# workspaces


@dataclass
class Workspace:
    """A git repo with the corpus under `postmortems/` and a config for one tracker."""

    path: Path
    tracker: str
    emulator: Any
    kind: Callable[[str, str], tuple[str, str]]

    @property
    def docs(self) -> Path:
        return self.path / "postmortems"

    @property
    def config(self) -> Path:
        return self.path / "syncd.toml"

    def hashes(self) -> dict[str, str]:
        return {
            p.relative_to(self.docs).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()  # noqa: S324
            for p in self.docs.rglob("*.md")
        }


def git(repo: Path, *args: str) -> str:
    argv = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    return subprocess.run(  # noqa: S603
        [*argv, *args], capture_output=True, text=True, check=True
    ).stdout


def write_config(path: Path, tracker: str, section: dict[str, Any]) -> None:
    lines = [
        "[docs]",
        'root = "postmortems"',
        "",
        "[state]",
        'path = ".syncd/state.db"',
        "",
        "[log]",
        'format = "json"',
        'level = "warning"',
        "",
        f"[trackers.{tracker}]",
        *(f"{k} = {toml_value(v)}" for k, v in section.items()),
        "",
        "[routing]",
        f'default = "{tracker}"',
    ]
    for owner in OWNERS:
        lines += ["", f'[owners."{owner}"]']
        lines += [f"{k} = {toml_value(v)}" for k, v in owner_identities(owner).items()]
    path.write_text("\n".join(lines) + "\n")


def make_workspace(
    base: Path, name: str, template: Path, tracker: str, emulator: Any, section: dict[str, Any]
) -> Workspace:
    path = base / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    shutil.copytree(template, path / "postmortems")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A", "postmortems")
    git(path, "commit", "-q", "-m", "Import postmortems")
    write_config(path / "syncd.toml", tracker, section)
    kind = jira_kind if tracker == "jira" else github_kind
    return Workspace(path, tracker, emulator, kind)


# ---------------------------------------------------------------------------------------
# the bench


@dataclass
class Options:
    quick: bool
    latency: float
    repeat: int
    cold_repeat: int
    out: Path
    workdir: Path
    seed: int
    clock_scale: float
    github_items: int
    github_probe: float
    verbose: bool
    readme: Path | None = None


class Bench:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.runner = Runner(opts.verbose)
        self.results: list[Scenario] = []
        self.logs = opts.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._log_no = 0
        self.started = time.monotonic()

    # -- helpers ---------------------------------------------------------------------------
    def say(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    def log_path(self, label: str) -> Path:
        self._log_no += 1
        return self.logs / f"{self._log_no:03d}-{label}.log"

    def syncd(self, ws: Workspace, args: Sequence[str], label: str) -> Sample:
        """One measured `syncd` run in `ws`, with requests and doc writes attached."""
        before = ws.hashes()
        ws.emulator.reset_log()
        sample, stdout = self.runner.run(args, ws.path, self.log_path(label))
        after = ws.hashes()
        sample.docs_written = sum(1 for k, v in after.items() if before.get(k) != v)
        sample.requests = {ws.tracker: tally(list(ws.emulator.request_log), ws.kind)}
        with contextlib.suppress(ValueError):
            sample.summary = json.loads(stdout).get("summary", {})
        return sample

    def sync(self, ws: Workspace, label: str) -> Sample:
        return self.syncd(
            ws, ["sync", "--once", "--config", str(ws.config), "--format", "json"], label
        )

    # -- scenarios ---------------------------------------------------------------------------
    def run(self) -> list[Scenario]:
        tiers = ["1k"] if self.opts.quick else ["1k", "10k"]
        for tier in tiers:
            docs, per_doc = TIERS[tier]
            template = self.opts.workdir / f"corpus-{tier}"
            corpus = generate(template, docs, per_doc, self.opts.seed)
            self.say(f"{tier}: corpus of {len(corpus.docs)} docs, {corpus.item_count} items")
            self.cli_throughput(tier, corpus)
            ws = self.cold_jira(tier, corpus)
            self.resyncs(tier, corpus, ws)
            self.digest(tier, corpus, ws)
            ws.emulator.stop()
            if tier == "1k":
                self.cold_github(tier)
            for tracker in RECONCILE_TARGETS:
                self.results.append(full_reconcile(tracker, tier, TIERS[tier][0] * TIERS[tier][1]))
        if len(tiers) > 1:
            self.results.append(cost_curve(self.results))
        return self.results

    def cli_throughput(self, tier: str, corpus: Corpus) -> None:
        """`syncd parse|lint ROOT --format json`; each run is paired with a run over an
        empty directory (the CLI's fixed startup: interpreter, imports, argparse), so the
        net rate is docs / (wall - startup of the same moment), median over the pairs."""
        empty = self.opts.workdir / "empty"
        empty.mkdir(exist_ok=True)
        n = len(corpus.docs)
        judged = tier == "10k"
        for command in ("parse", "lint"):
            sc = Scenario(command, tier, n, corpus.item_count)
            nets, cpu_nets, startups = [], [], []
            out = ""
            for _ in range(self.opts.repeat):
                base, _o = self.runner.run(
                    [command, str(empty), "--format", "json"], empty, self.log_path("startup")
                )
                sample, out = self.runner.run(
                    [command, str(corpus.root), "--format", "json"],
                    corpus.root,
                    self.log_path(command),
                )
                sc.samples.append(sample)
                startups.append(base.wall_s)
                nets.append(n / max(sample.wall_s - base.wall_s, 1e-6))
                cpu_nets.append(n / max(sample.cpu_s - base.cpu_s, 1e-6))
            wall = sc.median("wall_s")
            e2e = n / wall
            net, cpu_net = statistics.median(nets), statistics.median(cpu_nets)
            startup = statistics.median(startups)
            sc.metrics.update(
                docs_per_s=round(e2e, 1),
                docs_per_s_net_of_startup=round(net, 1),
                docs_per_cpu_s_net_of_startup=round(cpu_net, 1),
                startup_s=round(startup, 3),
            )
            if command == "parse":
                found = sum(len(d["action_items"]) for d in json.loads(out)["documents"])
                sc.metrics["items_found"] = found
                sc.check(
                    "items parsed", str(found), f"= {corpus.item_count}", found == corpus.item_count
                )
                sc.check(
                    "parse docs/s (net of startup)",
                    f"{net:,.0f}",
                    ">= 2,000" + ("" if judged else " (judged at 10k)"),
                    net >= 2000 if judged else None,
                )
            sc.check(f"{command} docs/s (end to end, incl. startup)", f"{e2e:,.0f}", "info", None)
            sc.check(f"{command} docs per CPU-s (net of startup)", f"{cpu_net:,.0f}", "info", None)
            if command == "lint":
                sc.check("lint docs/s (net of startup)", f"{net:,.0f}", "info", None)
            sc.notes.append(f"CLI startup ({command} of an empty dir): {startup:.2f}s median")
            self.results.append(sc)
            self.say(f"{tier} {command}: {wall:.2f}s, {e2e:,.0f} docs/s ({net:,.0f} net)")

    def digest(self, tier: str, corpus: Corpus, ws: Workspace) -> None:
        """`syncd digest --format json` in the synced workspace (docs + state of 1k/10k)."""
        sc = Scenario("digest", tier, len(corpus.docs), corpus.item_count)
        self.results.append(sc)
        probe, _out = self.runner.run(["digest", "--help"], ws.path, self.log_path("digest"))
        if probe.exit_code != 0:
            sc.skipped = "`syncd digest` does not exist yet (argparse: invalid choice)"
            self.say(f"{tier} digest: skipped ({sc.skipped})")
            return
        for _ in range(self.opts.repeat):
            sample, _out = self.runner.run(
                ["digest", "--config", str(ws.config), "--format", "json"],
                ws.path,
                self.log_path("digest"),
            )
            sc.samples.append(sample)
        if any(s.exit_code != 0 for s in sc.samples):
            sc.notes.append("digest exited non-zero; see the logs in the workdir")
        wall = sc.median("wall_s")
        judged = tier == "10k"
        sc.check(
            "digest wall",
            f"{wall:.2f}s",
            "< 2 s" + ("" if judged else " (judged at 10k)"),
            wall < 2.0 if judged else None,
        )
        sc.check("peak RSS", f"{sc.median('rss_mb'):.0f} MB", "info", None)
        self.say(f"{tier} digest: {wall:.2f}s, {sc.median('rss_mb'):.0f} MB")

    def cold_jira(self, tier: str, corpus: Corpus) -> Workspace:
        """First sync of the corpus into an empty Jira project.

        The emulator's clock is set a day back for the cold sync and restored after it,
        so the tickets it creates look a day old to the re-syncs that follow: they
        measure the steady state (syncs minutes apart), not "right after the import",
        when the cursor overlap would legitimately re-list everything just created.
        """
        sc = Scenario("cold-jira", tier, len(corpus.docs), corpus.item_count)
        self.results.append(sc)
        ws: Workspace | None = None
        # a 10k cold sync takes minutes and its requests are deterministic: run it once
        for rep in range(self.opts.cold_repeat if tier == "1k" else 1):
            if ws is not None:
                ws.emulator.stop()
            jira = start_jira(self.opts.latency)
            ws = make_workspace(
                self.opts.workdir,
                f"jira-{tier}",
                corpus.root,
                "jira",
                jira,
                jira.connector_section(timeout=30.0),
            )
            jira.advance_clock(-CLOCK_SHIFT)
            sample = self.sync(ws, f"cold-jira-{tier}")
            jira.advance_clock(CLOCK_SHIFT)
            sc.samples.append(sample)
            self.say(
                f"{tier} cold-jira #{rep + 1}: {sample.wall_s:.1f}s, "
                f"{sample.requests['jira']['read']}r/{sample.requests['jira']['write']}w, "
                f"{jira.issue_count()} issues, exit {sample.exit_code}"
            )
        assert ws is not None
        active = [i for d in corpus.docs for i in d.items if i.status in ("open", "in_progress")]
        n = len(active)
        started = sum(1 for i in active if i.status == "in_progress")
        docs_with_active = sum(
            1 for d in corpus.docs if any(i.status in ("open", "in_progress") for i in d.items)
        )
        creates = statistics.median(
            s.requests["jira"]["by_kind"].get("create", 0) for s in sc.samples
        )
        total = sc.requests("jira", "read") + sc.requests("jira", "write")
        # The least a cold sync can do: one listing of managed tickets (the marker index),
        # the bulk creates, and one transition per ticket that must start "in progress".
        # Items already closed in their doc get no ticket (by design).
        minimum = 1 + math.ceil(n / 50) + started
        issues = ws.emulator.issue_count()
        sc.metrics.update(
            items=corpus.item_count,
            tickets_needed=n,
            in_progress_items=started,
            issues_created=issues,
            create_requests=creates,
            total_requests=total,
            minimum_requests=minimum,
        )
        sc.check("tickets created", str(issues), f"= {n} (open + in progress)", issues == n)
        sc.check(
            "create requests",
            f"{creates:.0f}",
            f"<= ceil({n}/50) = {math.ceil(n / 50)}",
            creates <= math.ceil(n / 50),
        )
        sc.check(
            "total requests",
            f"{total} ({total / minimum:.2f}x min {minimum})",
            "<= 1.2x minimum",
            total <= 1.2 * minimum,
        )
        written = sc.median("docs_written")
        sc.check(
            "docs written", f"{written:.0f}", f"= {docs_with_active}", written == docs_with_active
        )
        sc.check("exit code", str(sc.samples[-1].exit_code), "0", sc.samples[-1].exit_code == 0)
        sc.notes.append(
            f"minimum = 1 listing + ceil({n}/50) bulk creates + {started} transitions "
            "(tickets whose doc says in progress); items closed in the doc get no ticket"
        )
        return ws

    def resyncs(self, tier: str, corpus: Corpus, ws: Workspace) -> None:
        tracker = ws.tracker
        settle = self.sync(ws, f"settle-{tracker}-{tier}")
        if settle.exit_code != 0 or settle.requests[tracker]["write"]:
            self.say(f"{tier} settle run on {tracker}: exit {settle.exit_code}, {settle.requests}")
        # no change anywhere
        sc = Scenario(f"resync-nochange-{tracker}", tier, len(corpus.docs), corpus.item_count)
        self.results.append(sc)
        for _ in range(self.opts.repeat):
            sc.samples.append(self.sync(ws, f"nochange-{tracker}-{tier}"))
        reads, writes = sc.requests(tracker, "read"), sc.requests(tracker, "write")
        wall, rss = sc.median("wall_s"), sc.median("rss_mb")
        sc.metrics["settle_run"] = {
            "wall_s": round(settle.wall_s, 3),
            "requests": settle.requests,
            "docs_written": settle.docs_written,
        }
        sc.check("writes", str(writes), "0", writes == 0)
        sc.check("reads (1 project)", str(reads), "<= 2", reads <= 2)
        sc.check(
            "doc files written",
            f"{sc.median('docs_written'):.0f}",
            "0",
            sc.median("docs_written") == 0,
        )
        big = tier == "10k"
        sc.check(
            "wall", f"{wall:.2f}s", "< 3 s" + ("" if big else " (10k)"), wall < 3 if big else None
        )
        sc.check(
            "peak RSS",
            f"{rss:.0f} MB",
            "< 200 MB" + ("" if big else " (10k)"),
            rss < 200 if big else None,
        )
        self.say(f"{tier} resync-nochange {tracker}: {wall:.2f}s, {reads}r/{writes}w, {rss:.0f} MB")
        # 1% closed by their owners
        sc = Scenario(f"resync-1pct-{tracker}", tier, len(corpus.docs), corpus.item_count)
        self.results.append(sc)
        _status, out = self.runner.run(
            ["status", "--config", str(ws.config), "--format", "json"],
            ws.path,
            self.log_path("status"),
        )
        items = json.loads(out)["items"]
        open_items = [i for i in items if i["ticket"] and i["ticket_status"] == "open"]
        rng = random.Random(self.opts.seed)  # noqa: S311
        rng.shuffle(open_items)
        k = max(1, math.ceil(corpus.item_count / 100))
        page = 50 if tracker == "jira" else 100
        history: list[tuple[float, int]] = []  # (when, tickets closed) per repeat
        budgets, reads, docs_ok = [], [], []
        for rep in range(self.opts.repeat):
            chosen = open_items[rep * k : (rep + 1) * k]
            for item in chosen:
                ws.emulator.human_set_status(item["ticket"], Status.DONE)
            history.append((time.monotonic(), len(chosen)))
            sample = self.sync(ws, f"1pct-{tracker}-{tier}")
            sc.samples.append(sample)
            # The listing re-reads what changed within the cursor overlap (2 min, plus
            # a minute of rounding) on purpose, so earlier repeats' tickets come again.
            in_window = sum(n for at, n in history if time.monotonic() - at < OVERLAP_S)
            budgets.append(2 + math.ceil(in_window / page))
            reads.append(sample.requests[tracker]["read"])
            docs_ok.append(sample.docs_written == len({i["path"] for i in chosen}))
        writes = sc.requests(tracker, "write")
        docs_written = sc.median("docs_written")
        sc.metrics.update(
            changed_tickets=k, reads_per_run=reads, read_budget_per_run=budgets, page_size=page
        )
        sc.check("writes to tracker", str(writes), "0 (status flows tracker -> doc)", writes == 0)
        sc.check(
            "reads per run",
            f"{reads} for {k} changed (+ earlier runs' within the overlap)",
            f"<= 2 + ceil(listed/{page}) = {budgets}",
            all(r <= b for r, b in zip(reads, budgets, strict=True)),
        )
        sc.check(
            "doc files written",
            f"{docs_written:.0f} (median)",
            "= docs holding the closed items, every run",
            all(docs_ok),
        )
        sc.check("wall", f"{sc.median('wall_s'):.2f}s", "info", None)
        self.say(
            f"{tier} resync-1pct {tracker}: {sc.median('wall_s'):.2f}s, reads {reads}, "
            f"{writes} writes, {docs_written:.0f} docs written"
        )

    def github_corpus(self) -> Corpus:
        n_docs = max(1, self.opts.github_items // 5)
        return generate(self.opts.workdir / "corpus-github", n_docs, 5, self.opts.seed + 1)

    def github_cold_run(
        self, name: str, tier: str, corpus: Corpus, wpm: float
    ) -> tuple[Scenario, Workspace]:
        """A cold GitHub sync with the secondary limit on; `wpm` is in emulated minutes."""
        scale = self.opts.clock_scale
        sc = Scenario(name, tier, len(corpus.docs), corpus.item_count)
        self.results.append(sc)
        github = start_github(self.opts.latency, GITHUB_ALLOWED_PER_MIN, scale)
        ws = make_workspace(
            self.opts.workdir,
            f"{name}-{tier}",
            corpus.root,
            "github",
            github,
            # the connector paces in wall time; the emulator counts in emulated time
            github.connector_section(writes_per_minute=wpm * scale, timeout=30.0),
        )
        github.advance_clock(-CLOCK_SHIFT)
        sample = self.sync(ws, f"{name}-{tier}")
        sc.samples.append(sample)
        created = sorted(
            datetime.fromisoformat(i["created_at"].replace("Z", "+00:00")) for i in github.issues()
        )
        span = (created[-1] - created[0]).total_seconds() if len(created) > 1 else 0.0
        per_min = (len(created) - 1) / span * 60 if span else math.nan
        hits = github.secondary_limit_hits
        by_kind = sample.requests["github"]["by_kind"]
        creates = by_kind.get("create issue", 0)
        other_writes = sample.requests["github"]["write"] - creates
        n = sum(1 for d in corpus.docs for i in d.items if i.status in ("open", "in_progress"))
        share = creates / max(1, creates + other_writes)
        pct = per_min / GITHUB_ALLOWED_PER_MIN * 100
        sc.metrics.update(
            clock_scale=scale,
            writes_per_minute_emulated=wpm,
            writes_per_minute_config=wpm * scale,
            tickets_needed=n,
            issues_created=len(created),
            create_requests=creates,
            other_writes=other_writes,
            creates_per_min_emulated=round(per_min, 1),
            percent_of_allowed=round(pct, 1),
            emulated_minutes=round(span / 60, 1),
            secondary_limit_hits=hits,
            writes_per_minute_needed_for_90pct=math.ceil(0.9 * GITHUB_ALLOWED_PER_MIN / share),
        )
        sc.check(
            "tickets created", str(len(created)), f"= {n} (open + in progress)", len(created) == n
        )
        sc.check("secondary-limit responses", str(hits), "0", hits == 0)
        sc.check(
            "creates/min (emulated)",
            f"{per_min:.1f} ({pct:.0f}% of {GITHUB_ALLOWED_PER_MIN})",
            ">= 90% of allowed",
            pct >= 90,
        )
        sc.check("exit code", str(sample.exit_code), "0", sample.exit_code == 0)
        sc.notes.append(
            f"writes_per_minute = {wpm:g}/min emulated ({wpm * scale:g} in wall time at "
            f"clock_scale {scale:g}); the pacer spaces every write, {creates} creates and "
            f"{other_writes} other writes"
        )
        self.say(
            f"{tier} {name}: {sample.wall_s:.1f}s wall, {len(created)} issues, "
            f"{per_min:.1f} creates/min emulated ({pct:.0f}%), {hits} limit hits"
        )
        return sc, ws

    def cold_github(self, tier: str) -> None:
        corpus = self.github_corpus()
        sc, ws = self.github_cold_run("cold-github", tier, corpus, GITHUB_DEFAULT_WPM)
        needed = sc.metrics["writes_per_minute_needed_for_90pct"]
        sc.notes.append(
            f"connector default writes_per_minute={GITHUB_DEFAULT_WPM:g} reaches "
            f"{sc.metrics['percent_of_allowed']}% of the allowed 80/min; >= 90% needs "
            f"writes_per_minute >= {needed} with this write mix"
        )
        # steady state on GitHub too: real-time clock, the cold sync a day in the past
        ws.emulator.clock_scale = 1.0
        ws.emulator.advance_clock(CLOCK_SHIFT)
        self.resyncs(tier, corpus, ws)
        ws.emulator.stop()
        if self.opts.github_probe:
            probe, ws = self.github_cold_run(
                "cold-github-probe", tier, corpus, self.opts.github_probe
            )
            probe.notes.append(
                f"probe: the proposed writes_per_minute={self.opts.github_probe:g}, same corpus"
            )
            ws.emulator.stop()


# ---------------------------------------------------------------------------------------
# full reconcile: every known ticket read by key


# Reads allowed for N known tickets: Jira's target is one `key in (...)` search per 100
# keys; GitHub and Linear are held to the same order (their batch: a 100-issue listing
# page, a 50-issue GraphQL page).
RECONCILE_TARGETS: dict[str, tuple[Callable[[int], int], str]] = {
    "jira": (lambda n: math.ceil(n / 100), "ceil(N/100)"),
    "github": (lambda n: math.ceil(n / 100) + 1, "ceil(N/100) + 1"),
    "linear": (lambda n: math.ceil(n / 50), "ceil(N/50)"),
}


RECONCILE_DELETED_COST = {
    "jira": "a chunk naming a deleted key costs one more search",
    "github": "one GET per key the listing lacks (410 Gone)",
    "linear": "no extra cost",
}


def _seeded(tracker: str, n: int) -> tuple[Any, list[str]]:
    """A started emulator holding `n` managed tickets (created as a person would, fast)."""
    label = ["postmortem-action"]
    emulator: Any
    if tracker == "jira":
        # page_size: Cloud's cap for searches that ask for fields
        emulator = JiraEmulator(page_size=100, token=BENCH_TOKEN)
        emulator.start()
        keys = [
            emulator.human_create(f"item {i}", labels=[*label, f"pm-{i:016x}"]) for i in range(n)
        ]
    elif tracker == "github":
        emulator = GitHubEmulator(token=BENCH_TOKEN)
        emulator.start()
        keys = [
            emulator.human_create(
                f"item {i}", body=f"<!-- postmortem-syncd:marker=pm-{i:016x} -->", labels=label
            )
            for i in range(n)
        ]
    else:
        emulator = LinearEmulator()
        emulator.start()
        keys = [
            emulator.human_create(
                f"item {i}",
                description=f"<!-- postmortem-syncd:marker=pm-{i:016x} -->",
                labels=label,
            )
            for i in range(n)
        ]
    return emulator, keys


def full_reconcile(tracker: str, tier: str, n: int) -> Scenario:
    """Requests of `get_many` over N known tickets: all present, then with 1% deleted."""
    sc = Scenario("full-reconcile", f"{tier} {tracker}", 0, n)
    allowed, formula = RECONCILE_TARGETS[tracker]
    emulator, keys = _seeded(tracker, n)
    try:
        section = emulator.connector_section()
        connector = build(tracker, section)
        started = time.perf_counter()
        found = connector.get_many(keys)
        wall = time.perf_counter() - started
        reads = connector.stats.reads
        sc.check(
            f"reads for N={n} known tickets",
            str(reads),
            f"<= {formula} = {allowed(n)}",
            reads <= allowed(n) and len(found) == n,
        )
        sc.check("tickets read", str(len(found)), f"= {n}", len(found) == n and not found.missing)
        rng = random.Random(n)  # noqa: S311 - a reproducible sample, not crypto
        gone = set(rng.sample(keys, max(1, n // 100)))
        for key in gone:
            emulator.human_delete(key)
        connector.close()
        connector = build(tracker, section)
        found = connector.get_many(keys)
        sc.check(
            f"reads with {len(gone)} deleted",
            str(connector.stats.reads),
            "info: " + RECONCILE_DELETED_COST[tracker],
            None,
        )
        sc.check(
            "deleted reported as missing",
            str(len(found.missing)),
            f"= {len(gone)}",
            set(found.missing) == gone and len(found) == n - len(gone),
        )
        sc.metrics.update(reads=reads, wall_s=round(wall, 3), deleted_reads=connector.stats.reads)
        connector.close()
    finally:
        emulator.stop()
    return sc


# ---------------------------------------------------------------------------------------
# report


def ratios(results: Sequence[Scenario]) -> list[dict[str, Any]]:
    by_key = {(s.name, s.tier): s for s in results if s.samples}
    rows = []
    for (name, tier), small in by_key.items():
        if tier != "1k" or (name, "10k") not in by_key:
            continue
        big = by_key[(name, "10k")]
        reqs = [
            sum(s.requests(t, "read") + s.requests(t, "write") for t in ("jira", "github"))
            for s in (small, big)
        ]
        rows.append(
            {
                "scenario": name,
                "items_ratio": round(big.items / max(1, small.items), 1),
                "wall_ratio": round(big.median("wall_s") / small.median("wall_s"), 2),
                "cpu_ratio": round(big.median("cpu_s") / small.median("cpu_s"), 2),
                "requests_1k": reqs[0],
                "requests_10k": reqs[1],
                "requests_ratio": round(reqs[1] / reqs[0], 2) if reqs[0] else None,
            }
        )
    return rows


# How much work each scenario's cost should follow, 1k -> 10k: the items (cold syncs,
# parse, lint, digest), the changed tickets (1%: 10 -> 100), or nothing at all (no-change).
WORK = {
    "cold-jira": "items",
    "resync-1pct-jira": "changed",
    "resync-nochange-jira": "none",
    "parse": "items",
    "lint": "items",
    "digest": "items",
}


def cost_curve(results: Sequence[Scenario]) -> Scenario:
    """Checks that 10k costs at most (1k cost x growth of the work that changed)."""
    sc = Scenario("cost-curve", "10k/1k", 0, 0)
    for row in ratios(results):
        work = WORK.get(row["scenario"])
        if work is None:
            continue
        allowed = row["items_ratio"] if work != "none" else 1.0
        if row["requests_1k"] or row["requests_10k"]:
            # requests: linear in the changed work (5% for the corpus mix), + 2 pages
            ok = row["requests_10k"] <= allowed * row["requests_1k"] * 1.05 + 2
            sc.check(
                f"{row['scenario']} requests",
                f"{row['requests_1k']} -> {row['requests_10k']}",
                f"<= x{allowed:g} (+5%, +2)",
                ok,
            )
        ok = row["wall_ratio"] <= max(allowed, 1.0) * 1.15 if work != "none" else None
        sc.check(
            f"{row['scenario']} wall",
            f"x{row['wall_ratio']}",
            f"<= x{allowed:g}" if work != "none" else "info: no work changed, docs x10",
            ok,
        )
    return sc


def render(results: Sequence[Scenario], opts: Options) -> str:
    lines = []
    head = (
        f"{'scenario':<24}{'tier':>5}{'items':>7}{'wall s':>8}{'cpu s':>7}{'RSS MB':>8}"
        f"{'reads':>7}{'writes':>7}{'docs w':>7}"
    )
    lines += [head, "-" * len(head)]
    for sc in results:
        if sc.skipped:
            lines.append(f"{sc.name:<24}{sc.tier:>5}  skipped: {sc.skipped}")
            continue
        if not sc.samples:
            continue
        reads = sum(sc.requests(t, "read") for t in ("jira", "github"))
        writes = sum(sc.requests(t, "write") for t in ("jira", "github"))
        lines.append(
            f"{sc.name:<24}{sc.tier:>5}{sc.items:>7}{sc.median('wall_s'):>8.2f}"
            f"{sc.median('cpu_s'):>7.2f}{sc.median('rss_mb'):>8.0f}{reads:>7}{writes:>7}"
            f"{sc.median('docs_written'):>7.0f}"
        )
    lines += ["", "Targets (medians of the repeats):"]
    for sc in results:
        for c in sc.checks:
            mark = "PASS" if c.ok else ("FAIL" if c.ok is False else "    ")
            where = f"{sc.name} {sc.tier}"
            lines.append(f"  {mark}  {where}: {c.label} = {c.value}  [target {c.target}]")
    rows = ratios(results)
    if rows:
        lines += ["", "Cost curve, 10k / 1k:"]
        for r in rows:
            lines.append(
                f"  {r['scenario']:<24} items x{r['items_ratio']:<5} wall x{r['wall_ratio']:<6} "
                f"cpu x{r['cpu_ratio']:<6} requests {r['requests_1k']} -> {r['requests_10k']}"
            )
    lines += [
        "",
        f"latency {opts.latency * 1000:.0f} ms/request, repeat {opts.repeat}, "
        f"cold-jira repeat {opts.cold_repeat} at 1k (1 at 10k), {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
    ]
    return "\n".join(lines)


def markdown(results: Sequence[Scenario], opts: Options) -> str:
    """The medians and the target checks as Markdown (for the README)."""
    lines = [
        "| scenario | tier | items | wall s | CPU s | peak RSS MB | reads | writes "
        "| docs written |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for sc in results:
        if sc.skipped:
            lines.append(f"| {sc.name} | {sc.tier} | | skipped: {sc.skipped} | | | | | |")
            continue
        if not sc.samples:
            continue
        reads = sum(sc.requests(t, "read") for t in ("jira", "github"))
        writes = sum(sc.requests(t, "write") for t in ("jira", "github"))
        lines.append(
            f"| {sc.name} | {sc.tier} | {sc.items:,} | {sc.median('wall_s'):.2f} "
            f"| {sc.median('cpu_s'):.2f} | {sc.median('rss_mb'):.0f} | {reads:,} | {writes:,} "
            f"| {sc.median('docs_written'):.0f} |"
        )
    lines += ["", "| | scenario | figure | value | target |", "|---|---|---|---|---|"]
    for sc in results:
        for c in sc.checks:
            if c.ok is None and c.target == "info":
                continue
            mark = "PASS" if c.ok else ("FAIL" if c.ok is False else "")
            lines.append(f"| {mark} | {sc.name} {sc.tier} | {c.label} | {c.value} | {c.target} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k scenarios only (smoke run)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per API request")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timed scenario")
    parser.add_argument(
        "--cold-repeat",
        type=int,
        default=None,
        help="runs of the 1k cold Jira sync (default 3, 1 with --quick; 10k runs once)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-out/results.json"))
    parser.add_argument("--workdir", type=Path, help="keep workspaces and logs here")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--clock-scale", type=float, default=30.0, help="GitHub emulator clock speed-up"
    )
    parser.add_argument(
        "--github-items",
        type=int,
        default=600,
        help="items in the cold GitHub corpus (~460 creates: under GitHub's 500/hour cap)",
    )
    parser.add_argument(
        "--github-probe",
        type=float,
        default=None,
        help="also run a cold GitHub sync at this writes_per_minute (default: 76; 0 = off; "
        "off with --quick)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument(
        "--readme",
        type=Path,
        help="write the results into this file's generated block (a full run only)",
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="syncd-bench-"))
    default_probe = 0.0 if args.quick else 76.0
    opts = Options(
        quick=args.quick,
        latency=args.latency,
        repeat=max(1, args.repeat),
        cold_repeat=max(1, args.cold_repeat or (1 if args.quick else 3)),
        out=args.out,
        workdir=workdir.resolve(),
        seed=args.seed,
        clock_scale=args.clock_scale,
        github_items=args.github_items,
        github_probe=args.github_probe if args.github_probe is not None else default_probe,
        verbose=args.verbose,
        readme=args.readme,
    )
    return opts, args.workdir is not None


@contextlib.contextmanager
def _workdir(opts: Options, keep: bool) -> Iterator[None]:
    opts.workdir.mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        if not keep:
            shutil.rmtree(opts.workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    opts, keep = parse_args(argv)
    with _workdir(opts, keep):
        bench = Bench(opts)
        results = bench.run()
        report = render(results, opts)
        print(report)
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "total_s": round(time.monotonic() - bench.started, 1),
            "scenarios": [s.as_json() for s in results],
            "cost_curve": ratios(results),
        }
        opts.out.write_text(json.dumps(payload, indent=2) + "\n")
        opts.out.with_suffix(".md").write_text(markdown(results, opts))
        print(f"\nresults: {opts.out} (and .md)  ({payload['total_s']}s)")
        failed = [c for s in results for c in s.checks if c.ok is False]
    # parser accuracy on the labelled corpus: about a second, so every bench run shows it
    accuracy = parser_accuracy.score_corpus()
    print("\n" + parser_accuracy.render(accuracy))
    # incident similarity on the labelled pairs (about a second) and `syncd similar` /
    # `search` latency: 10,000 documents (about a minute, most of it the first index
    # build); --quick times 1,000, which shows the figures but does not judge them
    similar = similarity_bench.report()
    print("\nIncident similarity:\n" + similar.text)
    lookups = archive_bench.measure(1_000 if opts.quick else archive_bench.TARGET_DOCS)
    print("\nArchive lookups:\n" + "\n".join(lookups.lines))
    ok = accuracy.meets_targets() and similar.ok and lookups.ok
    if opts.readme is not None:
        extra = [parser_accuracy.render(accuracy), similar.text, "\n".join(lookups.lines)]
        write_readme(opts, markdown(results, opts), extra)
    return 1 if failed or not ok else 0


def write_readme(opts: Options, tables: str, texts: Sequence[str]) -> None:
    """The figures of this run in bench/README.md, so no one copies them by hand."""
    if opts.quick:
        print(f"\n{opts.readme}: not written (a --quick run has no 10k tier)")
        return
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    body = (
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}, load average {load} at the end; medians of"
        f" {opts.repeat} runs, {opts.latency * 1000:.0f} ms per request):\n\n"
        + tables
        + "\n```\n"
        + "\n\n".join(t.rstrip() for t in texts)
        + "\n```"
    )
    text = opts.readme.read_text(encoding="utf-8")
    opts.readme.write_text(replace_block(text, "results", body), encoding="utf-8")
    print(f"\n{opts.readme}: results regenerated")


if __name__ == "__main__":
    raise SystemExit(main())
