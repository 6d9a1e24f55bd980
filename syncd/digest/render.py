"""The digest as an email: subject, plain text, inlined HTML and the trend chart.

Message layout (what Gmail, Outlook and Apple Mail all render; RFC 2046/2387):

    multipart/alternative
    ├── text/plain                   the whole digest, readable as is
    └── multipart/related
        ├── text/html                <img src="cid:…"> points at the sibling below
        └── image/png                the trend chart, Content-ID + inline disposition

The HTML template autoescapes every value. Links are emitted only for http(s) URLs, so a
ticket snapshot or template can never inject `javascript:` into an href.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from syncd.config import Settings
from syncd.digest import chart, templates
from syncd.digest.addresses import Recipients, domain_of, recipients
from syncd.digest.metrics import EARLIER_LINKS, doc_url_for
from syncd.digest.model import Digest, ItemRow

CHART_FILENAME = "trend-{week}.png"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


# --------------------------------------------------------------------------- filters


def fmt_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def fmt_minutes(value: float | None) -> str:
    if value is None:
        return "n/a"
    minutes = round(value)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def fmt_days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def fmt_due_in(due: date, as_of: date) -> str:
    n = (due - as_of).days
    return "due today" if n == 0 else "due tomorrow" if n == 1 else f"due in {n} days"


def plural(n: int) -> str:
    return "" if n == 1 else "s"


def oneline(value: Any) -> str:
    """Collapse line breaks and control characters: a title must not forge extra lines."""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", str(value))).strip()


def safe_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _link(url: str | None, text: Any) -> Markup:
    href = safe_url(url)
    if href is None:
        return escape(text)
    return Markup('<a href="{}">{}</a>').format(href, text)


def _ticket(row: ItemRow) -> Markup:
    if not row.ticket:
        return Markup("no ticket")
    return _link(row.ticket_url, row.ticket)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=DictLoader({"digest.html": templates.HTML, "digest.txt": templates.TEXT}),
        # *.html: every value escaped unless a helper above built it as Markup from
        # escaped parts. *.txt: nothing to escape, but `oneline` keeps rows intact.
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        day=fmt_day,
        pct=fmt_pct,
        minutes=fmt_minutes,
        days=fmt_days,
        due_in=fmt_due_in,
        plural=plural,
        oneline=oneline,
    )
    env.globals.update(link=_link, ticket=_ticket)
    return env


def _context(digest: Digest, settings: Settings) -> dict[str, Any]:
    h = digest.hygiene
    return {
        "d": digest,
        "h": h,
        "subject": subject(digest),
        "doc_url": doc_url_for(settings),
        "lookback_start": digest.as_of - timedelta(days=digest.recurrence.window_days),
        "earlier_links": EARLIER_LINKS,
        "item_lists": [
            ("without an owner", h.without_owner),
            ("without a due date", h.without_due),
            ("without a priority", h.without_priority),
        ],
    }


# --------------------------------------------------------------------------- parts


def subject(digest: Digest) -> str:
    n = len(digest.incidents)
    return (
        f"Postmortem digest {digest.week}: {n} incident{plural(n)}, "
        f"{len(digest.overdue)} overdue, recurrence {fmt_pct(digest.recurrence.rate)}"
    )


def render_text(digest: Digest, settings: Settings) -> str:
    text = _environment().get_template("digest.txt").render(_context(digest, settings))
    # Templates are easier to read with generous blank lines; mail is easier with few.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_html(digest: Digest, settings: Settings, chart_src: str, chart_alt: str) -> str:
    # css_inline is a compiled extension; loaded only when HTML is rendered
    import css_inline

    context = _context(digest, settings) | {"chart_src": chart_src, "chart_alt": chart_alt}
    html = _environment().get_template("digest.html").render(context)
    # Gmail strips <head> styles in many views and Outlook ignores class selectors:
    # inline every rule into style="" attributes and drop the <style> block.
    inliner = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
    return str(inliner.inline(html))


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str  # references the chart by `chart_src`
    png: bytes
    chart_alt: str
    chart_src: str


def render(
    digest: Digest, settings: Settings, chart_src: Callable[[str], str] | None = None
) -> Rendered:
    """All parts; `chart_src(filename)` says how the HTML refers to the chart."""
    png = chart.render_png(digest.weeks)
    alt = chart.alt_text(digest.weeks)
    filename = CHART_FILENAME.format(week=digest.week)
    src = chart_src(filename) if chart_src else filename
    return Rendered(
        subject(digest),
        render_text(digest, settings),
        render_html(digest, settings, src, alt),
        png,
        alt,
        src,
    )


# --------------------------------------------------------------------------- message


def build_message(
    digest: Digest,
    settings: Settings,
    *,
    to: Recipients | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    rcpt = to or recipients(settings)
    domain = domain_of(settings.digest.from_)
    cid = make_msgid(idstring="trend", domain=domain)
    parts = render(digest, settings, chart_src=lambda _name: f"cid:{cid[1:-1]}")

    msg = EmailMessage()
    msg["Subject"] = parts.subject
    msg["From"] = settings.digest.from_
    msg["To"] = ", ".join(rcpt.to)
    if rcpt.cc:
        msg["Cc"] = ", ".join(rcpt.cc)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = make_msgid(idstring="digest", domain=domain)
    # An automated report: suppress out-of-office replies (RFC 3834; Outlook's header),
    # and let filters and the idempotency check recognise the week.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Postmortem-Digest-Week"] = digest.week
    # quoted-printable: 7-bit safe for any relay, and it wraps the inlined HTML's very
    # long lines under SMTP's 998-octet limit while staying readable in the raw source.
    msg.set_content(parts.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(parts.html, subtype="html", charset="utf-8", cte="quoted-printable")
    html_part = msg.get_payload()[1]
    html_part.add_related(
        parts.png,
        maintype="image",
        subtype="png",
        cid=cid,
        disposition="inline",
        filename=CHART_FILENAME.format(week=digest.week),
    )
    return msg


def write_preview(digest: Digest, settings: Settings, html_path: Path) -> tuple[Path, Path]:
    """The HTML email to `html_path`, the chart PNG beside it (referenced by file name)."""
    parts = render(digest, settings)
    png_path = html_path.with_name(parts.chart_src)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.write_bytes(parts.png)
    html_path.write_text(parts.html, encoding="utf-8")
    return html_path, png_path
