"""A bounded email: the top rows per section, "and K more", a link to the full report."""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

from syncd.config import Settings
from syncd.digest.metrics import compute
from syncd.digest.render import build_message, write_report
from syncd.documents.parser import parse_text

AS_OF = date(2026, 6, 8)
REPORT_URL = "https://reports.example.com/digest/2026-W24.html"


def _docs(n: int) -> list[tuple[str, object]]:
    out = []
    for k in range(n):
        day = AS_OF - timedelta(days=40 + k)
        text = (
            f"# Incident {k}\n\n**Date:** {day.isoformat()}\n\n## Action items\n\n"
            "| Action | Owner | Due | Priority | Status |\n|---|---|---|---|---|\n"
            f"| Fix thing {k} | @o{k % 4} | {(day + timedelta(days=7)).isoformat()} | P1 | Open |\n"
        )
        out.append((f"pm-{k:03d}.md", parse_text(text, f"pm-{k:03d}.md")))
    return out


def _settings(tmp_path: Path, **digest: object) -> Settings:
    return Settings.model_validate(
        {
            "digest": {
                "to": ["leads@example.com"],
                "top_rows": 3,
                "report_url": REPORT_URL,
                "report_path": str(tmp_path / "reports" / "digest-{week}.html"),
                **digest,
            }
        }
    )


def _part(msg: EmailMessage, kind: str) -> str:
    body = msg.get_body(preferencelist=(kind,))
    assert body is not None
    return body.get_content()


def test_email_lists_the_top_rows_and_links_the_rest(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    digest = compute(_docs(10), [], [], settings, AS_OF)  # type: ignore[arg-type]
    assert len(digest.overdue) == 10
    msg = build_message(digest, settings)
    html, text = _part(msg, "html"), _part(msg, "plain")
    assert html.count("days overdue") == 3
    assert "and 7 more overdue items" in html
    assert f'href="{REPORT_URL}"' in html
    assert "... and 7 more overdue items in the full report: " + REPORT_URL in text
    assert text.count("days overdue") == 3
    assert not list(msg.iter_attachments())  # attach_report is off by default


def test_full_report_has_every_row_and_can_be_attached(tmp_path: Path) -> None:
    settings = _settings(tmp_path, attach_report=True)
    digest = compute(_docs(10), [], [], settings, AS_OF)  # type: ignore[arg-type]
    path = write_report(digest, settings)
    assert path == tmp_path / "reports" / "digest-2026-W24.html"
    report = path.read_text(encoding="utf-8")
    assert report.count("days overdue") == 10 and "more overdue items" not in report
    assert list(path.parent.glob("trend-2026-W24-*.png"))  # its chart beside it
    (attached,) = build_message(digest, settings).iter_attachments()
    assert attached.get_filename() == "postmortem-digest-2026-W24.html"
    assert attached.get_content().count("days overdue") == 10
