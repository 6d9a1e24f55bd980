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

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import DictLoader, Environment, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from syncd.config import Settings
from syncd.digest import chart, templates
from syncd.digest.addresses import Recipients, domain_of, recipients
from syncd.digest.metrics import EARLIER_LINKS, SERIES_WEEKS, doc_url_for
from syncd.digest.model import Digest, Headline, ItemRow, OwnerGroup

CHART_FILENAME = "trend-{week}-{digest}.png"  # digest: of the PNG bytes
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


@pass_context
def _top(ctx: Context, rows: Sequence[Any]) -> Sequence[Any]:
    """The first `limit` rows (the email); all of them when limit is None (the report)."""
    limit = ctx.get("limit")
    return rows if limit is None else rows[:limit]


def _hidden(ctx: Context, rows: Sequence[Any]) -> int:
    limit = ctx.get("limit")
    return 0 if limit is None else max(0, len(rows) - limit)


@pass_context
def _more(ctx: Context, rows: Sequence[Any], what: str) -> Markup:
    hidden = _hidden(ctx, rows)
    if not hidden:
        return Markup("")
    text = f"and {hidden} more {what}"
    link = ctx.get("report_link")
    tail = Markup(" in the {}").format(_link(link, "full report")) if link else Markup("")
    return Markup('<p class="meta">{}{}</p>').format(text, tail)


@pass_context
def _more_text(ctx: Context, rows: Sequence[Any], what: str) -> str:
    hidden = _hidden(ctx, rows)
    if not hidden:
        return ""
    link = ctx.get("report_link")
    return f"... and {hidden} more {what}" + (f" in the full report: {link}" if link else "")


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
    env.filters.update(top=_top)
    env.globals.update(link=_link, ticket=_ticket, more=_more, more_text=_more_text)
    return env


class _Heads(dict[str, Any]):
    """Headlines by name for the templates; a missing one reads as "no value"."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name) or Headline(name, None, None, None)


def _overdue_groups(
    digest: Digest, limit: int | None
) -> list[tuple[OwnerGroup, tuple[ItemRow, ...]]]:
    """Owner groups with the rows shown for each: the first `limit` overdue rows in the
    email's order (worst owner first), so a long list is cut at a row, not an owner."""
    out = []
    left = limit
    for group in digest.by_owner:
        shown = group.items if left is None else group.items[:left]
        if not shown:
            break
        out.append((group, shown))
        if left is not None:
            left -= len(shown)
    return out


def fmt_trend(head: Headline | None) -> str:
    """ "4 (up 1 on last week; 12-week average 2.5)": the number and where it stands."""
    if head is None or head.value is None:
        return "no data this week"

    def show(value: float | None) -> str:
        if value is None:
            return "n/a"
        if head.kind == "rate":
            return fmt_pct(value)
        if head.kind == "minutes":
            return fmt_minutes(value)
        return f"{value:g}" if value == int(value) else f"{value:.1f}"

    change = head.change
    if change is None:
        versus = "no value last week"
    elif change == 0:
        versus = "same as last week"
    else:
        size = f"{abs(change) * 100:.0f} points" if head.kind == "rate" else show(abs(change))
        versus = f"{'up' if change > 0 else 'down'} {size} on last week"
    return f"{show(head.value)} ({versus}; {SERIES_WEEKS}-week average {show(head.average)})"


def trend_lines(digest: Digest) -> list[str]:
    """The chart in words, one line per week: readable without the image."""
    out = []
    for w in digest.weeks:
        rate = (
            f"{fmt_pct(w.rolling_rate)} recurring ({w.rolling_recurring} of"
            f" {w.rolling_incidents} incidents in 4 weeks)"
            if w.rolling_incidents
            else "no incidents in 4 weeks"
        )
        out.append(
            f"{w.week} (to {w.period.end:%d %b}): {w.incidents} incident{plural(w.incidents)},"
            f" {rate}, {w.overdue} overdue"
        )
    return out


def _context(
    digest: Digest, settings: Settings, limit: int | None = None, report_link: str | None = None
) -> dict[str, Any]:
    h = digest.hygiene
    clock = settings.digest.target_clock
    heads = {head.name: head for head in digest.headlines}
    return {
        "heads": _Heads(heads),
        "trend": lambda name: fmt_trend(heads.get(name)),
        "trend_lines": trend_lines(digest),
        "limit": limit,
        "report_link": safe_url(report_link),
        "overdue_groups": _overdue_groups(digest, limit),
        "clock_text": "the day the item was set" if clock == "set" else "incident date",
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


def render_text(
    digest: Digest, settings: Settings, limit: int | None = None, report_link: str | None = None
) -> str:
    context = _context(digest, settings, limit, report_link)
    text = _environment().get_template("digest.txt").render(context)
    # Templates are easier to read with generous blank lines; mail is easier with few.
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_html(
    digest: Digest,
    settings: Settings,
    chart_src: str,
    chart_alt: str,
    limit: int | None = None,
    report_link: str | None = None,
) -> str:
    """The HTML body; `limit` rows per section (None: every row, the full report)."""
    # css_inline is a compiled extension; loaded only when HTML is rendered
    import css_inline

    context = _context(digest, settings, limit, report_link)
    context |= {"chart_src": chart_src, "chart_alt": chart_alt}
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


def chart_filename(week: str, png: bytes) -> str:
    """Unique per chart: two previews or reports in one folder never share a PNG."""
    return CHART_FILENAME.format(week=week, digest=hashlib.sha256(png).hexdigest()[:12])


def render(
    digest: Digest,
    settings: Settings,
    chart_src: Callable[[str], str] | None = None,
    *,
    limit: int | None = None,
    report_link: str | None = None,
) -> Rendered:
    """All parts; `chart_src(filename)` says how the HTML refers to the chart; `limit`
    rows per section (None: all)."""
    png = chart.render_png(digest.weeks)
    alt = chart.alt_text(digest.weeks)
    filename = chart_filename(digest.week, png)
    src = chart_src(filename) if chart_src else filename
    return Rendered(
        subject(digest),
        render_text(digest, settings, limit, report_link),
        render_html(digest, settings, src, alt, limit, report_link),
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
    cfg = settings.digest
    # The email is bounded (Gmail clips HTML past ~102 KB): `top_rows` per section, the
    # rest in the full report, written by `write_report` and linked here.
    parts = render(
        digest,
        settings,
        chart_src=lambda _name: f"cid:{cid[1:-1]}",
        limit=cfg.top_rows,
        report_link=cfg.report_url,
    )

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
    html_part = list(msg.iter_parts())[1]  # the alternative just added
    html_part.add_related(
        parts.png,
        maintype="image",
        subtype="png",
        cid=cid,
        disposition="inline",
        filename=chart_filename(digest.week, parts.png),
    )
    if cfg.attach_report:
        report = render(digest, settings, chart_src=lambda _name: f"cid:{cid[1:-1]}")
        msg.add_attachment(
            report.html.encode("utf-8"),
            maintype="text",
            subtype="html",
            filename=f"postmortem-digest-{digest.week}.html",
        )
    return msg


def write_preview(
    digest: Digest, settings: Settings, html_path: Path, *, full: bool = False
) -> tuple[Path, Path]:
    """The HTML email (or with `full`, the full report) to `html_path`, the chart PNG
    beside it (referenced by its unique file name)."""
    cfg = settings.digest
    if full:
        parts = render(digest, settings)
    else:
        parts = render(digest, settings, limit=cfg.top_rows, report_link=cfg.report_url)
    png_path = html_path.with_name(parts.chart_src)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.write_bytes(parts.png)
    html_path.write_text(parts.html, encoding="utf-8")
    return html_path, png_path


def write_report(digest: Digest, settings: Settings) -> Path | None:
    """The full report (every row) to `[digest] report_path`, if set. A path containing
    `{week}` gets one file per week; otherwise the file is replaced each week."""
    target = settings.digest.report_path
    if target is None:
        return None
    path = Path(str(target).replace("{week}", digest.week))
    write_preview(digest, settings, path, full=True)
    return path
