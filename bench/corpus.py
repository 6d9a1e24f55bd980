"""A synthetic but realistic postmortem corpus for benchmarks.

`generate(root, docs, items_per_doc, seed)` writes `docs` postmortems with
`items_per_doc` action items each, in the mix of formats the parser supports:

- pipe tables with varied headers and column orders (some with an empty Ticket column),
- fenced YAML `action_items:` blocks, and a few `action_items` lists in front matter,
- checkbox lists with inline fields (`**Owner:** … **Due:** …`), parenthesised tails
  (`(@maya, due 2026-06-03, P1)`) and dash tails (`— @maya, P2, 2026-06-03`),
- fixed-width plain tables between dashed rules (fenced and unfenced).

Metadata is written as front matter, bold `**Key:** value` lines or plain `Key: value`
lines. Owners come from a fixed pool (see `OWNERS`, `owner_identities`), contributing
factors and services recur across documents with a skewed distribution (so the digest
has recurrence to find), and every document carries decoys the parser must ignore
(timeline bullets, a detection checklist). Output is a pure function of the arguments.

CLI: `python -m bench.corpus OUT --docs 200 --items 5 [--seed 7] [--manifest FILE]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

_OWNER_NAMES = (
    "sri",
    "maya",
    "lee",
    "ana",
    "bo",
    "cho",
    "dev",
    "eli",
    "fay",
    "gus",
    "hal",
    "ivy",
    "jon",
    "kim",
    "lou",
    "mei",
    "ned",
    "oli",
    "pat",
    "quinn",
    "ravi",
    "sam",
    "tao",
    "uma",
    "vic",
    "wen",
    "xia",
    "yan",
    "zoe",
    "abe",
    "bea",
    "cal",
    "dan",
    "eve",
    "fin",
    "gia",
    "hugo",
    "ian",
    "jade",
    "kai",
)
OWNERS: tuple[str, ...] = tuple(f"@{name}" for name in _OWNER_NAMES)
SERVICES = (
    "checkout",
    "payments-api",
    "ledger",
    "search",
    "auth",
    "notifications",
    "inventory",
    "billing",
    "edge-proxy",
    "orders-db",
    "session-cache",
    "feature-flags",
    "scheduler",
    "media-upload",
    "reporting",
    "identity",
    "pricing",
    "shipping",
)
TEAMS = ("platform", "payments", "storefront", "data", "identity", "infra", "mobile", "growth")
FACTORS = (
    "Config changes skip the CI test gate",
    "No alert on connection pool utilisation",
    "Retries without backoff amplified the load",
    "Load tests do not cover dependency failure",
    "Runbook was out of date",
    "Rollback is manual and slow",
    "Feature flag defaults differ between environments",
    "Capacity plan did not account for seasonal traffic",
    "Health checks did not exercise the database path",
    "Deploys are not gated on canary analysis",
    "Certificate expiry is not monitored",
    "Single availability zone for the primary database",
    "On-call lacked access to production dashboards",
    "Alert thresholds were tuned for average, not peak, traffic",
    "Schema migrations lock large tables",
    "Cache stampede after a cold start",
    "DNS TTLs were too long for failover",
    "Queue consumers had no dead-letter handling",
    "Secrets rotation broke a long-lived client",
    "Timeouts longer than the caller's deadline",
    "Unbounded batch size in the nightly job",
    "Dependency upgrade changed a default setting",
    "Noisy alerts led to alert fatigue",
    "Missing rate limits on an internal API",
    "Disk usage is not alerted before it is full",
    "Autoscaling reacted too slowly to the spike",
    "Clock skew between hosts broke token validation",
    "The incident channel was not announced to support",
)
METRICS = (
    "p99 latency",
    "error rate",
    "connection pool utilisation",
    "replica lag",
    "queue depth",
    "disk usage",
    "GC pause time",
    "certificate expiry",
    "saturation",
    "consumer lag",
    "cache hit ratio",
    "thread pool exhaustion",
)
THINGS = (
    "config",
    "feature flag",
    "schema migration",
    "DNS",
    "certificate rotation",
    "database failover",
    "secret rotation",
    "autoscaling",
    "firewall rule",
    "kernel upgrade",
    "dependency upgrade",
    "cache warm-up",
)
SCENARIOS = (
    "connection pool exhaustion",
    "a zone outage",
    "a cache stampede",
    "a broker failover",
    "a DNS outage",
    "ten times normal traffic",
    "a slow dependency",
    "a full disk",
    "an expired certificate",
    "a replica falling behind",
)
PLACES = ("", "", "", " in staging", " in the EU region", " in the US region", " for mobile")
TEMPLATES = (
    "Add an alert on {metric} for {service}",
    "Document the {thing} procedure in the {service} runbook",
    "Load-test {service} with {scenario}",
    "Add a circuit breaker between {service} and {service2}",
    "Cap client retries from {service} to {service2}",
    "Automate rollback of {thing} changes",
    "Gate {thing} changes for {service} behind the CI test suite",
    "Add {metric} to the {service} dashboard",
    "Run a game day on {scenario}",
    "Review the capacity plan for {service}",
    "Set an SLO on {service} {metric}",
    "Add canary analysis to {service} deploys",
    "Page on-call when {metric} for {service} stays high",
    "Write a postmortem template section on {thing}",
    "Shorten the {service} client timeout below the caller deadline",
    "Add a dead-letter queue for {service} consumers",
    "Move {service} off the shared {thing} path",
    "Backfill tests for the {service} {thing} code path",
    "Rehearse {thing} for {service} every quarter",
    "Remove the manual step from {thing} for {service}",
)
INCIDENTS = (
    "outage",
    "latency spike",
    "elevated error rate",
    "partial outage",
    "data delay",
    "degraded performance",
    "failed deploy",
    "capacity exhaustion",
)
SEVERITIES = (("SEV-1", 1), ("SEV-2", 3), ("SEV-3", 5), ("SEV-4", 2))
PRIORITIES = (("P0", 1), ("P1", 3), ("P2", 4), ("P3", 2))
# A corpus of docs of varied ages: most items are open, a fair share already closed.
STATUSES = (("open", 62), ("in_progress", 14), ("done", 19), ("wont_do", 5))
STYLES = (("pipe", 40), ("checkbox", 25), ("yaml", 18), ("plain", 11), ("fm_yaml", 6))

PIPE_WORDS = {
    "open": ("Open", "Not started", "To do", "Planned"),
    "in_progress": ("In progress", "WIP", "🔄"),
    "done": ("Done", "✅", "Completed", "Fixed"),
    "wont_do": ("Won't do", "Cancelled"),
}
PLAIN_WORDS = {
    "open": ("Open", "Todo"),
    "in_progress": ("In progress", "WIP"),
    "done": ("Done", "Fixed"),
    "wont_do": ("Won't do", "Dropped"),
}
YAML_WORDS = {
    "open": ("Open", "open", "todo"),
    "in_progress": ("In Progress", "in progress"),
    "done": ("Done", "done", "completed"),
    "wont_do": ("Won't Do", "cancelled"),
}
# (header texts, canonical column for each)
PIPE_HEADERS: tuple[tuple[tuple[str, str], ...], ...] = (
    (
        ("#", "number"),
        ("Action", "action"),
        ("Owner", "owner"),
        ("Due", "due"),
        ("Priority", "priority"),
        ("Status", "status"),
    ),
    (
        ("Action item", "action"),
        ("Owner", "owner"),
        ("Due date", "due"),
        ("Status", "status"),
        ("Priority", "priority"),
    ),
    (
        ("Priority", "priority"),
        ("Task", "action"),
        ("Assignee", "owner"),
        ("Target date", "due"),
        ("State", "status"),
    ),
    (
        ("Owner", "owner"),
        ("Follow-up", "action"),
        ("Deadline", "due"),
        ("Pri", "priority"),
        ("Status", "status"),
        ("Ticket", "ticket"),
    ),
)


@dataclass(frozen=True)
class ExpectedItem:
    action: str
    owner: str
    due: str  # ISO date
    priority: str
    status: str  # syncd.model.Status value


@dataclass(frozen=True)
class ExpectedDoc:
    path: str  # relative to the corpus root
    style: str
    title: str
    date: str
    severity: str
    services: tuple[str, ...]
    factors: tuple[str, ...]
    items: tuple[ExpectedItem, ...]


@dataclass(frozen=True)
class Corpus:
    root: Path
    seed: int
    docs: tuple[ExpectedDoc, ...]

    @property
    def item_count(self) -> int:
        return sum(len(d.items) for d in self.docs)

    def manifest(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "seed": self.seed,
            "docs": len(self.docs),
            "items": self.item_count,
            "documents": [asdict(d) for d in self.docs],
        }


def owner_identities(owner: str) -> dict[str, str]:
    """`[owners."@x"]` entry for a pool owner: a Jira Cloud accountId, a GitHub login."""
    name = owner.lstrip("@")
    account = hashlib.sha256(f"bench-{name}".encode()).hexdigest()[:24]
    return {"jira": account, "github": name, "email": f"{name}@example.com"}


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    names = [c for c, _w in choices]
    weights = [w for _c, w in choices]
    return rng.choices(names, weights=weights)[0]


def _zipf_pick(rng: random.Random, pool: Sequence[str], k: int) -> list[str]:
    """k distinct elements, the first ones of `pool` much likelier (they recur)."""
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    picked: list[str] = []
    while len(picked) < min(k, len(pool)):
        choice = rng.choices(pool, weights=weights)[0]
        if choice not in picked:
            picked.append(choice)
    return picked


def _action_text(rng: random.Random, services: Sequence[str], taken: set[str]) -> str:
    for _attempt in range(200):
        service = rng.choice(services) if rng.random() < 0.7 else rng.choice(SERVICES)
        service2 = rng.choice([s for s in SERVICES if s != service])
        text = rng.choice(TEMPLATES).format(
            metric=rng.choice(METRICS),
            service=service,
            service2=service2,
            thing=rng.choice(THINGS),
            scenario=rng.choice(SCENARIOS),
        ) + rng.choice(PLACES)
        if text.lower() not in taken:
            taken.add(text.lower())
            return text
    raise RuntimeError("could not find a distinct action text; lower --items")


def _due_text(rng: random.Random, due: date, style: str) -> str:
    roll = rng.random()
    if style in ("yaml", "fm_yaml", "plain") or roll < 0.6:
        return due.isoformat()
    if roll < 0.8:
        return f"{due:%B} {due.day}, {due.year}"
    return f"{due:%Y/%m/%d}"


class _DocWriter:
    def __init__(self, rng: random.Random, index: int, items_per_doc: int) -> None:
        self.rng = rng
        self.index = index
        self.style = _weighted(rng, STYLES)
        self.incident = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 900))
        self.services = tuple(_zipf_pick(rng, SERVICES, rng.randint(1, 3)))
        self.factors = tuple(_zipf_pick(rng, FACTORS, rng.randint(2, 4)))
        self.severity = _weighted(rng, SEVERITIES)
        self.team = rng.choice(TEAMS)
        kind = rng.choice(INCIDENTS)
        self.title = f"{self.services[0].capitalize()} {kind}"
        self.slug = f"{self.services[0]}-{kind.replace(' ', '-')}"
        taken: set[str] = set()
        self.items = [self._item(taken) for _ in range(items_per_doc)]

    def _item(self, taken: set[str]) -> ExpectedItem:
        rng = self.rng
        age = (date(2026, 6, 30) - self.incident).days
        status = _weighted(rng, STATUSES)
        if age < 60 and status in ("done", "wont_do") and rng.random() < 0.6:
            status = "open"  # recent incidents have fewer closed items
        due = self.incident + timedelta(days=rng.choice((7, 10, 14, 21, 30, 45, 60, 90, 120)))
        return ExpectedItem(
            action=_action_text(rng, self.services, taken),
            owner=rng.choice(OWNERS),
            due=due.isoformat(),
            priority=_weighted(rng, PRIORITIES),
            status=status,
        )

    @property
    def rel_path(self) -> str:
        return f"{self.incident.year}/{self.team}/{self.incident.isoformat()}-{self.slug}.md"

    # -- rendering -------------------------------------------------------------------------
    def render(self) -> str:
        parts = [self._header()]
        parts.append(self._summary())
        parts.append(self._timeline())
        parts.append(self._factors())
        parts.append(self._actions())
        parts.append(self._detection())
        return "\n".join(p for p in parts if p).rstrip("\n") + "\n"

    def _metadata_style(self) -> str:
        if self.style in ("yaml", "fm_yaml"):
            return "front"
        if self.style == "pipe":
            return self.rng.choice(("front", "bold"))
        if self.style == "checkbox":
            return self.rng.choice(("bold", "plain"))
        return "plain"

    def _header(self) -> str:
        style = self._metadata_style()
        title = f"{self.title} ({self.incident.isoformat()})"
        status = self.rng.choice(("Draft", "Reviewed", "Final"))
        services = ", ".join(self.services)
        if style == "front":
            lines = [
                "---",
                f"title: {self.title}",
                f"date: {self.incident.isoformat()}",
                f"severity: {self.severity}",
                f"status: {status}",
                f"services: [{services}]",
            ]
            if self.style == "fm_yaml":
                lines.append("action_items:")
                lines.extend(self._yaml_entries(indent=""))
            lines += ["---", f"# {self.title}", ""]
            return "\n".join(lines)
        if style == "bold":
            return "\n".join(
                [
                    f"# Postmortem: {title}",
                    "",
                    f"**Date:** {self.incident.isoformat()} | **Severity:** {self.severity}"
                    f" | **Status:** {status}",
                    f"**Services:** {services}",
                    "",
                ]
            )
        return "\n".join(
            [
                f"# {title}",
                "",
                f"Date: {self.incident.isoformat()}",
                "",
                f"Severity: {self.severity}",
                "",
                f"Status: {status}",
                "",
                f"Services: {services}",
                "",
            ]
        )

    def _summary(self) -> str:
        minutes = self.rng.randint(7, 240)
        return "\n".join(
            [
                "## Summary",
                f"{self.services[0].capitalize()} was degraded for {minutes} minutes. "
                f"Customers saw errors and retries; the on-call engineer mitigated by "
                "rolling back the most recent change.",
                "",
                "## Impact",
                f"- Duration: {minutes} min",
                f"- Requests failed: about {self.rng.randint(2, 90)}%",
                "",
            ]
        )

    def _timeline(self) -> str:
        start = self.rng.randint(0, 20)
        return "\n".join(
            [
                "## Timeline",
                f"- {start:02d}:02 Deploy begins",
                f"- {start:02d}:09 Error rate alert fires",
                f"- {start:02d}:31 Rollback complete",
                "",
            ]
        )

    def _factors(self) -> str:
        lines = ["## Contributing factors"]
        lines += [f"{n}. {factor}." for n, factor in enumerate(self.factors, 1)]
        return "\n".join([*lines, ""])

    def _detection(self) -> str:
        return "\n".join(["## Detection", "- [x] Monitoring alert", "- [ ] Customer report", ""])

    def _actions(self) -> str:
        heading = self.rng.choice(("## Action Items", "## Action items", "## Follow-ups"))
        if self.style == "pipe":
            return "\n".join([heading, "", self._pipe_table(), ""])
        if self.style == "checkbox":
            return "\n".join([heading, *self._checkboxes(), ""])
        if self.style == "yaml":
            return "\n".join(
                [heading, "", "```yaml", "action_items:", *self._yaml_entries("  "), "```", ""]
            )
        if self.style == "plain":
            return "\n".join([heading, "", *self._plain_table(), ""])
        return ""  # fm_yaml: the items are in the front matter

    def _pipe_table(self) -> str:
        header = self.rng.choice(PIPE_HEADERS)
        rows = [
            "| " + " | ".join(text for text, _col in header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
        ]
        for n, item in enumerate(self.items, 1):
            due = _due_text(self.rng, date.fromisoformat(item.due), "pipe")
            values = {
                "number": str(n),
                "action": item.action,
                "owner": item.owner,
                "due": due,
                "priority": item.priority,
                "status": self.rng.choice(PIPE_WORDS[item.status]),
                "ticket": "",
            }
            rows.append("| " + " | ".join(values[col] for _text, col in header) + " |")
        return "\n".join(rows)

    def _checkboxes(self) -> list[str]:
        lines = []
        for item in self.items:
            box = "[x]" if item.status == "done" else "[ ]"
            due = _due_text(self.rng, date.fromisoformat(item.due), "checkbox")
            form = self.rng.random()
            needs_status = item.status in ("in_progress", "wont_do")
            status_word = {"in_progress": "In progress", "wont_do": "Won't do"}.get(item.status)
            if needs_status or form < 0.4:
                line = (
                    f"- {box} {item.action} **Owner:** {item.owner} **Due:** {due}"
                    f" **Priority:** {item.priority}"
                )
                if status_word:
                    line += f" **Status:** {status_word}"
            elif form < 0.75:
                line = f"- {box} {item.action} ({item.owner}, due {due}, {item.priority})"
            else:
                line = f"- {box} {item.action} — {item.owner}, {item.priority}, {item.due}"
            lines.append(line)
        return lines

    def _yaml_entries(self, indent: str) -> list[str]:
        lines = []
        key = self.rng.choice(("item", "action"))
        for item in self.items:
            quoted_due = self.rng.random() < 0.5
            due = f'"{item.due}"' if quoted_due else item.due
            lines += [
                f'{indent}- {key}: "{item.action}"',
                f'{indent}  owner: "{item.owner}"',
                f"{indent}  due: {due}",
                f'{indent}  status: "{self.rng.choice(YAML_WORDS[item.status])}"',
                f'{indent}  priority: "{item.priority}"',
            ]
        return lines

    def _plain_table(self) -> list[str]:
        header = ("Action", "Owner", "Due Date", "Priority", "Status")
        rows = [
            (
                item.action,
                item.owner,
                item.due,
                item.priority,
                self.rng.choice(PLAIN_WORDS[item.status]),
            )
            for item in self.items
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(len(header))]

        def fmt(cells: Sequence[str]) -> str:
            return "".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

        rule = "-" * (sum(widths) - 3)
        table = [rule, fmt(header), rule, *(fmt(r) for r in rows), rule]
        if self.rng.random() < 0.5:
            return ["```", *table, "```"]
        return table

    def expected(self, rel: str) -> ExpectedDoc:
        return ExpectedDoc(
            path=rel,
            style=self.style,
            title=self.title,
            date=self.incident.isoformat(),
            severity=self.severity,
            services=self.services,
            factors=self.factors,
            items=tuple(self.items),
        )


def generate(root: Path, docs: int, items_per_doc: int, seed: int) -> Corpus:
    """Write `docs` postmortems with `items_per_doc` action items each under `root`."""
    if docs < 0 or items_per_doc < 1:
        raise ValueError("docs must be >= 0 and items_per_doc >= 1")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
    root.mkdir(parents=True, exist_ok=True)
    expected: list[ExpectedDoc] = []
    used: set[str] = set()
    for index in range(docs):
        writer = _DocWriter(rng, index, items_per_doc)
        rel = writer.rel_path
        stem = rel[: -len(".md")]
        suffix = 2
        while rel in used:
            rel = f"{stem}-{suffix}.md"
            suffix += 1
        used.add(rel)
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(writer.render(), encoding="utf-8")
        expected.append(writer.expected(rel))
    return Corpus(root, seed, tuple(expected))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__)
    parser.add_argument("out", type=Path, help="directory to write the postmortems into")
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--items", type=int, default=5, help="action items per document")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--manifest", type=Path, help="also write the expected items as JSON")
    args = parser.parse_args(argv)
    corpus = generate(args.out, args.docs, args.items, args.seed)
    if args.manifest:
        args.manifest.write_text(json.dumps(corpus.manifest(), indent=1) + "\n")
    styles: dict[str, int] = {}
    for doc in corpus.docs:
        styles[doc.style] = styles.get(doc.style, 0) + 1
    print(
        f"wrote {len(corpus.docs)} postmortems ({corpus.item_count} action items) to "
        f"{args.out}; formats: {', '.join(f'{k} {v}' for k, v in sorted(styles.items()))}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
