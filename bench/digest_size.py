"""The digest email's size at 10,000 overdue items, beside its target (< 100 KB of HTML).

    .venv/bin/python -m bench.digest_size [--items 10000] [--top-rows 25]

Gmail clips an HTML part past about 102 KB, hiding everything after the clip, so the
email lists the top `[digest] top_rows` rows per section and links the full report.
This builds a synthetic archive (2,000 postmortems of 5 overdue items each, every item
with an owner, ticket and link, titles of realistic length), computes the digest with
the real `metrics.compute`, renders the real message, and prints the HTML part's size
in bytes beside the target, and the full report's size for comparison.
A script, not a test: nothing in `make test` depends on it. Exit 1 if the target fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from email.message import EmailMessage

from syncd.config import Settings
from syncd.digest.metrics import compute
from syncd.digest.render import build_message, render
from syncd.documents.parser import parse_text

TARGET_BYTES = 100 * 1024
AS_OF = date(2026, 6, 8)


def _doc(n: int, items: int) -> str:
    day = AS_OF - timedelta(days=30 + n % 300)
    rows = "".join(
        f"| Add capacity alerting and a runbook for service-{n % 97} shard {k} failover"
        f" | @owner{(n * 7 + k) % 350} | {(day + timedelta(days=7)).isoformat()} | P{k % 3}"
        f" | Open | OPS-{n * 10 + k} |\n"
        for k in range(items)
    )
    return (
        f"# Incident {n}: elevated error rates on service-{n % 97}\n\n"
        f"**Date:** {day.isoformat()}\n**Severity:** SEV{1 + n % 3}\n**Status:** Reviewed\n\n"
        "## Action items\n\n| Action | Owner | Due | Priority | Status | Ticket |\n"
        "|---|---|---|---|---|---|\n" + rows
    )


def _html_part(msg: EmailMessage) -> bytes:
    body = msg.get_body(preferencelist=("html",))
    assert body is not None
    return body.get_content().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--top-rows", type=int, default=25)
    args = parser.parse_args(argv)
    per_doc = 5
    docs = [
        (f"pm-{n:05d}.md", parse_text(_doc(n, per_doc), f"pm-{n:05d}.md"))
        for n in range(args.items // per_doc)
    ]
    settings = Settings.model_validate(
        {
            "digest": {
                "to": ["leads@example.com"],
                "doc_url": "https://github.com/acme/postmortems/blob/main/{path}",
                "top_rows": args.top_rows,
                "report_url": "https://reports.example.com/digest/latest.html",
            }
        }
    )
    started = time.perf_counter()
    digest = compute(docs, [], [], settings, AS_OF)
    computed = time.perf_counter()
    html = _html_part(build_message(digest, settings))
    rendered = time.perf_counter()
    full = render(digest, settings).html.encode("utf-8")
    ok = len(html) < TARGET_BYTES
    print(f"overdue items:        {len(digest.overdue)}")
    print(
        f"email HTML part:      {len(html):,} bytes ({len(html) / 1024:.1f} KB)"
        f"   target < {TARGET_BYTES // 1024} KB   {'PASS' if ok else 'FAIL'}"
    )
    print(f"full report HTML:     {len(full):,} bytes ({len(full) / 1024:.1f} KB)")
    print(f"compute / render:     {computed - started:.2f} s / {rendered - computed:.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
