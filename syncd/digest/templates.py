# ruff: noqa: E501 - template markup: wrapping lines would change what is rendered
"""Jinja2 templates of the digest email, kept in Python so they ship with the package.

The HTML is written with a <style> block and classes for readability; `render` inlines
it with css_inline, because Gmail and Outlook drop or ignore most <style> rules. Layout
is one fluid column (tables, max-width 640px): it needs no media queries to read on a
phone, and Outlook's Word engine renders tables faithfully. No script, no web fonts, no
remote images: the chart travels inside the message.
"""

from __future__ import annotations

HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{ subject }}</title>
<style>
body { margin: 0; padding: 0; background: #f3f4f6; color: #1f2937;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  font-size: 15px; line-height: 1.45; }
.wrap { width: 100%; background: #f3f4f6; }
.page { width: 100%; max-width: 640px; margin: 0 auto; background: #ffffff; }
.pad { padding: 16px 20px; }
h1 { font-size: 20px; margin: 0 0 2px 0; color: #111827; }
h2 { font-size: 16px; margin: 0 0 8px 0; color: #111827; border-bottom: 1px solid #e5e7eb;
  padding-bottom: 4px; }
.sub { color: #6b7280; font-size: 13px; margin: 0; }
.tiles { width: 100%; border-collapse: separate; border-spacing: 6px; }
.tile { width: 50%; background: #f9fafb; border: 1px solid #e5e7eb; border-radius: 6px;
  padding: 10px 12px; vertical-align: top; }
.num { font-size: 26px; font-weight: 700; color: #111827; line-height: 1.1; }
.num-bad { font-size: 26px; font-weight: 700; color: #b91c1c; line-height: 1.1; }
.label { font-size: 12px; color: #6b7280; text-transform: uppercase; letter-spacing: 0.04em; }
.list { width: 100%; border-collapse: collapse; }
.row { padding: 8px 0; border-bottom: 1px solid #f3f4f6; vertical-align: top; }
.owner { padding: 10px 0 2px 0; font-weight: 700; color: #111827; }
.meta { color: #6b7280; font-size: 13px; }
.late { color: #b91c1c; font-weight: 700; }
.soon { color: #b45309; font-weight: 700; }
.ok { color: #047857; font-weight: 700; }
.tag { display: inline-block; font-size: 11px; font-weight: 700; color: #92400e;
  background: #fef3c7; border-radius: 3px; padding: 0 5px; }
.sev { display: inline-block; font-size: 11px; font-weight: 700; color: #ffffff;
  background: #6b7280; border-radius: 3px; padding: 0 5px; }
.grid { width: 100%; border-collapse: collapse; font-size: 14px; }
.grid th { text-align: left; color: #6b7280; font-weight: 600; font-size: 12px;
  border-bottom: 1px solid #e5e7eb; padding: 4px 6px 4px 0; }
.grid td { padding: 6px 6px 6px 0; border-bottom: 1px solid #f3f4f6; }
.empty { color: #6b7280; font-style: italic; margin: 0; }
.theme { background: #fef2f2; border-left: 4px solid #b91c1c; padding: 8px 10px; margin: 8px 0; }
.chart { width: 100%; max-width: 600px; height: auto; border: 0; display: block; }
.foot { color: #9ca3af; font-size: 12px; }
a { color: #1d4ed8; }
</style>
</head>
<body>
<table class="wrap" role="presentation" cellpadding="0" cellspacing="0"><tr><td>
<!--[if mso]><table role="presentation" width="640" align="center" cellpadding="0" cellspacing="0"><tr><td width="640"><![endif]-->
<table class="page" role="presentation" cellpadding="0" cellspacing="0" align="center">

<tr><td class="pad">
  <h1>Postmortem digest {{ d.week }}</h1>
  <p class="sub">7 days ending {{ d.as_of | day }} ({{ d.timezone }})</p>
</td></tr>

<tr><td class="pad">
<table class="tiles" role="presentation">
  <tr>
    <td class="tile"><div class="num">{{ d.incidents | length }}</div>
      <div class="label">incident{{ d.incidents | length | plural }} this week</div>
      <div class="meta">{{ trend("incidents") }}</div></td>
    <td class="tile"><div class="{{ 'num-bad' if d.overdue else 'num' }}">{{ d.overdue | length }}</div>
      <div class="label">overdue action item{{ d.overdue | length | plural }}</div>
      <div class="meta">{{ trend("overdue") }}</div></td>
  </tr>
  <tr>
    <td class="tile"><div class="num">{{ d.recurrence.rate | pct }}</div>
      <div class="label">recurrence, last {{ d.weeks | length }} weeks</div>
      <div class="meta">4-week rate: {{ trend("recurrence_4_weeks") }}</div></td>
    <td class="tile"><div class="num">{{ d.due_soon | length }}</div>
      <div class="label">due in the next 7 days</div>
      <div class="meta">{{ trend("due_soon") }}</div></td>
  </tr>
  <tr>
    <td class="tile"><div class="num">{{ heads.completion_4_weeks.value | pct }}</div>
      <div class="label">done on time, last 4 weeks</div>
      <div class="meta">{{ trend("completion_4_weeks") }}</div></td>
    <td class="tile"><div class="num">{{ d.postmortems.rate | pct if d.postmortems else "n/a" }}</div>
      <div class="label">{{ d.postmortems.severities | join("/") if d.postmortems else "" }} postmortems in {{ d.postmortems.within_business_days if d.postmortems else "" }} business days</div>
      <div class="meta">{% if d.postmortems %}target {{ d.postmortems.target | pct }}; {{ d.postmortems.on_time }} on time, {{ d.postmortems.late }} late, {{ d.postmortems.open }} still open{% if d.postmortems.unknown_date %}, {{ d.postmortems.unknown_date }} date unknown{% endif %}{% endif %}</div></td>
  </tr>
</table>
</td></tr>

<tr><td class="pad">
<h2>Incidents this week</h2>
{% if d.incidents %}
<table class="list" role="presentation">
{% for i in d.incidents | top %}
  <tr><td class="row">
    {% if i.severity %}<span class="sev">{{ i.severity }}</span> {% endif %}
    {{ link(i.doc_url, i.title) }}
    {% if i.recurring %} <span class="tag">recurring</span>{% endif %}
    <div class="meta">{{ i.date | day }}
      {% if i.duration_minutes is not none %} · {{ i.duration_minutes | minutes }} impact{% endif %}
      {% if i.detection_minutes is not none %} · detected after {{ i.detection_minutes | minutes }}{% endif %}
      {% if i.status %} · {{ i.status }}{% endif %}</div>
  </td></tr>
{% endfor %}
</table>
{{ more(d.incidents, "incidents") }}
{% else %}
<p class="empty">No incidents in the 7 days ending {{ d.as_of | day }}.</p>
{% endif %}
</td></tr>

<tr><td class="pad">
<h2>Overdue action items ({{ d.overdue | length }})</h2>
{% if d.by_owner %}
<table class="list" role="presentation">
{% for g, shown in overdue_groups %}
  <tr><td class="owner">{{ g.owner or "No owner" }}{% if g.team %} <span class="meta">· {{ g.team }}</span>{% endif %}{% if shown | length < g.items | length %} <span class="meta">· {{ g.items | length }} overdue</span>{% endif %}</td></tr>
  {% for r in shown %}
  <tr><td class="row">
    {{ link(r.doc_url, r.action) }}
    <div class="meta"><span class="late">{{ r.days_overdue | days }} overdue</span>
      · {{ r.priority or "no priority" }} · due {{ r.due | day }}
      · {{ ticket(r) }} · from {{ r.incident }}</div>
  </td></tr>
  {% endfor %}
{% endfor %}
</table>
{{ more(d.overdue, "overdue items") }}
{% else %}
<p class="empty">Nothing overdue.</p>
{% endif %}
</td></tr>

<tr><td class="pad">
<h2>Due in the next 7 days ({{ d.due_soon | length }})</h2>
{% if d.due_soon %}
<table class="list" role="presentation">
{% for r in d.due_soon | top %}
  <tr><td class="row">
    {{ link(r.doc_url, r.action) }}
    <div class="meta"><span class="soon">{{ r.due | due_in(d.as_of) }}</span>
      · {{ r.owner or "no owner" }} · {{ r.priority or "no priority" }} · {{ ticket(r) }}</div>
  </td></tr>
{% endfor %}
</table>
{{ more(d.due_soon, "items due soon") }}
{% else %}
<p class="empty">Nothing due in the next 7 days.</p>
{% endif %}
</td></tr>

<tr><td class="pad">
<h2>Completion against targets</h2>
<table class="grid">
  <tr><th>Priority</th><th>Done on time</th><th>Rate</th><th>Target</th></tr>
{% for c in d.completion %}
  <tr>
    <td>{{ c.priority }} <span class="meta">≤ {{ c.within_days }}d</span></td>
    <td>{{ c.on_time }} / {{ c.known }}{% if c.late %} <span class="meta">({{ c.late }} late)</span>{% endif %}{% if c.open %} <span class="meta">({{ c.open }} open)</span>{% endif %}{% if c.unknown_date %} <span class="soon">+ {{ c.unknown_date }} done, date unknown</span>{% endif %}</td>
    <td class="{{ 'ok' if c.met else ('late' if c.met is not none else '') }}">{{ c.rate | pct }}</td>
    <td>{{ c.target | pct }}</td>
  </tr>
{% endfor %}
</table>
<p class="meta">Items whose deadline ({{ clock_text }} + the priority's days) fell between
{{ d.completion_window.start | day }} and {{ d.completion_window.end | day }}. Items done
with no record of when are shown apart and left out of the rate.</p>
</td></tr>

{% if d.by_team %}
<tr><td class="pad">
<h2>By team and priority</h2>
<table class="grid">
  <tr><th>Team</th><th>Priority</th><th>Overdue</th><th>Done on time</th><th>Rate</th></tr>
{% for row in d.by_team | top %}
  <tr><td>{{ row.team }}</td><td>{{ row.priority }}</td><td>{{ row.overdue }}</td>
    <td>{{ row.on_time }} / {{ row.on_time + row.late + row.open }}{% if row.unknown_date %} <span class="meta">+ {{ row.unknown_date }} unknown</span>{% endif %}</td>
    <td>{{ row.rate | pct }}</td></tr>
{% endfor %}
</table>
{{ more(d.by_team, "rows") }}
</td></tr>
{% endif %}

<tr><td class="pad">
<h2>Recurrence</h2>
<p style="margin:0 0 8px 0">{{ d.recurrence.recurring }} of {{ d.recurrence.incidents }} incident{{ d.recurrence.incidents | plural }}
in the last {{ d.weeks | length }} weeks shared a contributing factor with an
incident in the {{ d.recurrence.window_days }} days before it: <strong class="{{ 'late' if d.recurrence.over_target else ('ok' if d.recurrence.over_target is not none else '') }}">{{ d.recurrence.rate | pct }}</strong>
(target: under {{ d.recurrence.target | pct }}{% if d.recurrence.over_target %}, <strong class="late">over target</strong>{% endif %}).
This week: {{ d.recurrence.this_week_rate | pct }}.</p>
<img class="chart" src="{{ chart_src }}" width="600" alt="{{ chart_alt }}">
<p class="meta">{% for line in trend_lines %}{{ line }}{% if not loop.last %}<br>{% endif %}{% endfor %}</p>
{% for t in d.recurrence.themes %}
<div class="theme"><strong>{{ t.name }}</strong> appears in {{ t.incidents | length }} incidents
since {{ lookback_start | day }}{% if t.kind == "component" %}: this component needs architectural attention{% endif %}.
{% for p, sentence in t.evidence %}<div class="meta">{{ link(doc_url(p), p) }}: “{{ sentence }}”</div>{% endfor %}</div>
{% endfor %}
{% if d.recurrence.links %}
<table class="list" role="presentation">
{% for l in d.recurrence.links | top %}
  <tr><td class="row">{{ link(doc_url(l.incident), l.incident) }} recurs on
    {{ link(doc_url(l.earlier), l.earlier) }} ({{ l.earlier_date | day }})
{% for m in l.factors %}    <div class="meta">“{{ m.sentence }}” ~ “{{ m.other }}” (shared: {% for t in m.shared %}{{ t.describe() }}{% if not loop.last %}, {% endif %}{% endfor %})</div>
{% endfor %}    <div class="meta"><strong>{{ l.verdict }}</strong>{% for i in l.earlier_items %}<br>{{ "done" if i.done_before else "open" }}: {{ i.action }}{% if i.owner %} ({{ i.owner }}{% if i.ticket %}, {{ i.ticket }}{% endif %}){% elif i.ticket %} ({{ i.ticket }}){% endif %}{% endfor %}</div></td></tr>
{% endfor %}
</table>
{% endif %}
{% if d.recurrence.links_total > d.recurrence.links | length %}
<p class="meta">{{ d.recurrence.links_total - d.recurrence.links | length }} more links of earlier
weeks' incidents are not listed (each incident shows its {{ earlier_links }} most recent).</p>
{% endif %}
</td></tr>

{% if d.timing.with_duration or d.timing.with_detection %}
<tr><td class="pad">
<h2>Time to recover and detect</h2>
<table class="grid">
  <tr><th></th><th>Last {{ d.weeks | length }} weeks</th><th>{{ d.weeks | length }} weeks before</th></tr>
  <tr><td>Mean time to recover</td><td>{{ d.timing.mttr_minutes | minutes }} <span class="meta">(n={{ d.timing.with_duration }})</span></td>
    <td>{{ d.previous_timing.mttr_minutes | minutes }} <span class="meta">(n={{ d.previous_timing.with_duration }})</span></td></tr>
  <tr><td>Mean time to detect</td><td>{{ d.timing.mttd_minutes | minutes }} <span class="meta">(n={{ d.timing.with_detection }})</span></td>
    <td>{{ d.previous_timing.mttd_minutes | minutes }} <span class="meta">(n={{ d.previous_timing.with_detection }})</span></td></tr>
</table>
</td></tr>
{% endif %}

<tr><td class="pad">
<h2>Postmortem hygiene ({{ h.count }})</h2>
{% if h.count %}
<table class="list" role="presentation">
{% for label, refs in item_lists %}{% if refs %}
  <tr><td class="row"><strong>{{ refs | length }} open item{{ refs | length | plural }} {{ label }}</strong>
    <div class="meta">{% for r in refs | top %}{{ link(doc_url(r.path), r.path ~ ":" ~ r.line) }} {{ r.action }}{% if not loop.last %}<br>{% endif %}{% endfor %}{{ more(refs, "items") }}</div></td></tr>
{% endif %}{% endfor %}
{% if d.owners_without_email %}
  <tr><td class="row"><strong>No reminder sent: no email address in [owners] for</strong>
    <span class="meta">{{ d.owners_without_email | top | join(", ") }}</span>{{ more(d.owners_without_email, "owners") }}</td></tr>
{% endif %}
{% if h.unmapped_owners %}
  <tr><td class="row"><strong>Owners with no tracker account in [owners]:</strong>
    <span class="meta">{{ h.unmapped_owners | join(", ") }}</span></td></tr>
{% endif %}
{% if h.drafts %}
  <tr><td class="row"><strong>{{ h.drafts | length }} postmortem{{ h.drafts | length | plural }} still in Draft</strong>
    <div class="meta">{% for r in h.drafts | top %}{{ link(r.doc_url, r.title) }}{% if r.age_days is not none %} ({{ r.age_days | days }} since the incident){% endif %}{% if not loop.last %}<br>{% endif %}{% endfor %}</div></td></tr>
{% endif %}
{% if h.undated %}
  <tr><td class="row"><strong>{{ h.undated | length }} postmortem{{ h.undated | length | plural }} without an incident date</strong> <span class="meta">(left out of every count above)</span>
    <div class="meta">{% for r in h.undated | top %}{{ link(r.doc_url, r.path) }}{% if not loop.last %}<br>{% endif %}{% endfor %}</div></td></tr>
{% endif %}
{% if h.conflicts %}
  <tr><td class="row"><strong>{{ h.conflicts | length }} sync conflict{{ h.conflicts | length | plural }} this week</strong> <span class="meta">({{ h.conflicts_total }} recorded in all)</span>
    <div class="meta">{% for c in h.conflicts | top %}{{ link(doc_url(c.path), c.path) }} {{ c.ticket or "" }}: {{ c.message }}{% if not loop.last %}<br>{% endif %}{% endfor %}</div></td></tr>
{% endif %}
{% if h.sync_errors %}
  <tr><td class="row"><strong>{{ h.sync_errors | length }} item{{ h.sync_errors | length | plural }} failing to sync</strong>
    <div class="meta">{% for e in h.sync_errors | top %}{{ link(doc_url(e.path), e.path) }} {{ e.ticket or "" }}: {{ e.message }} ({{ e.attempts }} attempt{{ e.attempts | plural }}){% if not loop.last %}<br>{% endif %}{% endfor %}</div></td></tr>
{% endif %}
</table>
{% else %}
<p class="empty">Every open item has an owner, a due date and a priority; nothing is failing to sync.</p>
{% endif %}
</td></tr>

{% if report_link %}
<tr><td class="pad"><p style="margin:0"><strong>{{ link(report_link, "Open the full report") }}</strong>
<span class="meta">· every row of every section</span></p></td></tr>
{% endif %}
<tr><td class="pad foot">
Generated by postmortem-syncd for {{ d.as_of.isoformat() }} ({{ d.timezone }}). Counts come from
the postmortem documents, their git history and the tickets as last synced; docs/digest.md defines each number.
</td></tr>

</table>
<!--[if mso]></td></tr></table><![endif]-->
</td></tr></table>
</body>
</html>
"""

TEXT = """\
POSTMORTEM DIGEST {{ d.week }}
7 days ending {{ d.as_of | day }} ({{ d.timezone }})

{{ d.incidents | length }} incident{{ d.incidents | length | plural }} this week | \
{{ d.overdue | length }} overdue | {{ d.due_soon | length }} due in 7 days | \
recurrence {{ d.recurrence.rate | pct }} (last {{ d.weeks | length }} weeks)

COMPARED WITH LAST WEEK AND THE {{ d.weeks | length }}-WEEK AVERAGE
- Incidents: {{ trend("incidents") }}
- Overdue items: {{ trend("overdue") }}
- Due in 7 days: {{ trend("due_soon") }}
- Recurrence, 4-week rate: {{ trend("recurrence_4_weeks") }}
- Done on time, 4-week rate: {{ trend("completion_4_weeks") }}
{% if d.postmortems %}
- {{ d.postmortems.severities | join("/") }} postmortems completed within {{ d.postmortems.within_business_days }} business days: \
{{ d.postmortems.rate | pct }} (target {{ d.postmortems.target | pct }}{% if d.postmortems.met is not none %}, {{ "met" if d.postmortems.met else "missed" }}{% endif %}); \
{{ d.postmortems.on_time }} on time, {{ d.postmortems.late }} late, {{ d.postmortems.open }} still open\
{% if d.postmortems.unknown_date %}, {{ d.postmortems.unknown_date }} with no known date{% endif %}

{% endif %}

INCIDENTS THIS WEEK
{% for i in d.incidents | top %}
- [{{ i.severity or "no severity" }}] {{ i.title | oneline }}{% if i.recurring %} (recurring){% endif %}

  {{ i.date | day }}{% if i.duration_minutes is not none %}, {{ i.duration_minutes | minutes }} impact{% endif %}\
{% if i.detection_minutes is not none %}, detected after {{ i.detection_minutes | minutes }}{% endif %}

  {{ i.doc_url or i.path }}
{% else %}
- None in the 7 days ending {{ d.as_of | day }}.
{% endfor %}
{{ more_text(d.incidents, "incidents") }}

OVERDUE ACTION ITEMS ({{ d.overdue | length }})
{% for g, shown in overdue_groups %}
{{ g.owner | oneline if g.owner else "No owner" }}{% if g.team %} ({{ g.team | oneline }}){% endif %}

{% for r in shown %}
- {{ r.action | oneline }}
  {{ r.days_overdue | days }} overdue, {{ r.priority or "no priority" }}, due {{ r.due | day }}, \
{{ r.ticket | oneline if r.ticket else "no ticket" }}{% if r.ticket_url %} {{ r.ticket_url }}{% endif %}

  {{ r.doc_url or r.path }}
{% endfor %}
{% else %}
- Nothing overdue.
{% endfor %}
{{ more_text(d.overdue, "overdue items") }}

DUE IN THE NEXT 7 DAYS ({{ d.due_soon | length }})
{% for r in d.due_soon | top %}
- {{ r.action | oneline }}
  {{ r.due | due_in(d.as_of) }}, {{ r.owner | oneline if r.owner else "no owner" }}, \
{{ r.priority or "no priority" }}, {{ r.ticket | oneline if r.ticket else "no ticket" }}\
{% if r.ticket_url %} {{ r.ticket_url }}{% endif %}

  {{ r.doc_url or r.path }}
{% else %}
- Nothing due.
{% endfor %}
{{ more_text(d.due_soon, "items due soon") }}

COMPLETION AGAINST TARGETS (deadlines {{ d.completion_window.start | day }} to {{ d.completion_window.end | day }})
{% for c in d.completion %}
- {{ c.priority }} within {{ c.within_days }} days: {{ c.on_time }}/{{ c.known }} on time = {{ c.rate | pct }} \
(target {{ c.target | pct }}{% if c.met is not none %}, {{ "met" if c.met else "missed" }}{% endif %})\
{% if c.late or c.open %}; {{ c.late }} late, {{ c.open }} still open{% endif %}\
{% if c.unknown_date %}; {{ c.unknown_date }} done with no known date (not in the rate){% endif %}

{% endfor %}

RECURRENCE
{{ d.recurrence.recurring }} of {{ d.recurrence.incidents }} incidents in the last {{ d.weeks | length }} weeks \
shared a contributing factor with an incident in the {{ d.recurrence.window_days }} days before: \
{{ d.recurrence.rate | pct }} (target: under {{ d.recurrence.target | pct }}\
{% if d.recurrence.over_target %}; OVER TARGET{% endif %}). This week: {{ d.recurrence.this_week_rate | pct }}.
Trend, week by week (recurrence over the 4 weeks ending that week; overdue items at its end):
{% for line in trend_lines %}
  {{ line }}
{% endfor %}
{% for t in d.recurrence.themes %}
! {{ t.name | oneline }} appears in {{ t.incidents | length }} incidents since {{ lookback_start | day }}\
{% if t.kind == "component" %}: needs architectural attention{% endif %}.
{% for p, sentence in t.evidence %}
    {{ p }}: "{{ sentence | oneline }}"
{% endfor %}

{% endfor %}
{% for l in d.recurrence.links | top %}
- {{ l.incident }} recurs on {{ l.earlier }} ({{ l.earlier_date | day }}): {{ l.verdict }}
{% for m in l.factors %}
    "{{ m.sentence | oneline }}" ~ "{{ m.other | oneline }}" (shared: {% for t in m.shared %}{{ t.describe() }}{% if not loop.last %}, {% endif %}{% endfor %})
{% endfor %}
{% for i in l.earlier_items %}
    [{{ "done" if i.done_before else "open" }}] {{ i.action | oneline }}{% if i.owner %} ({{ i.owner }}{% if i.ticket %}, {{ i.ticket }}{% endif %}){% elif i.ticket %} ({{ i.ticket }}){% endif %}

{% endfor %}
{% endfor %}
{% if d.recurrence.links_total > d.recurrence.links | length %}
({{ d.recurrence.links_total - d.recurrence.links | length }} more links of earlier weeks' \
incidents are not listed: each shows its {{ earlier_links }} most recent.)
{% endif %}
{% if d.timing.with_duration or d.timing.with_detection %}

TIME TO RECOVER / DETECT (last {{ d.weeks | length }} weeks vs the {{ d.weeks | length }} before)
- MTTR {{ d.timing.mttr_minutes | minutes }} (n={{ d.timing.with_duration }}) vs \
{{ d.previous_timing.mttr_minutes | minutes }} (n={{ d.previous_timing.with_duration }})
- MTTD {{ d.timing.mttd_minutes | minutes }} (n={{ d.timing.with_detection }}) vs \
{{ d.previous_timing.mttd_minutes | minutes }} (n={{ d.previous_timing.with_detection }})
{% endif %}

{% if d.by_team %}
BY TEAM AND PRIORITY (overdue now; done on time, deadlines in the completion window)
{% for row in d.by_team | top %}
- {{ row.team | oneline }} {{ row.priority }}: {{ row.overdue }} overdue; {{ row.on_time }}/{{ row.on_time + row.late + row.open }} on time = {{ row.rate | pct }}\
{% if row.unknown_date %}; {{ row.unknown_date }} done, date unknown{% endif %}

{% endfor %}
{{ more_text(d.by_team, "rows") }}
{% endif %}

HYGIENE ({{ h.count }})
{% for label, refs in item_lists %}{% if refs %}
- {{ refs | length }} open item{{ refs | length | plural }} {{ label }}: \
{% for r in refs %}{{ r.path }}:{{ r.line }}{% if not loop.last %}, {% endif %}{% endfor %}

{% endif %}{% endfor %}
{% if d.owners_without_email %}
- No reminder sent (no email address in [owners]): {{ d.owners_without_email | top | join(", ") | oneline }}
{% endif %}
{% if h.unmapped_owners %}
- Owners with no tracker account: {{ h.unmapped_owners | join(", ") | oneline }}
{% endif %}
{% if h.drafts %}
- Still in Draft: {% for r in h.drafts %}{{ r.path }}{% if not loop.last %}, {% endif %}{% endfor %}

{% endif %}
{% if h.undated %}
- Without an incident date (not counted): {% for r in h.undated %}{{ r.path }}{% if not loop.last %}, {% endif %}{% endfor %}

{% endif %}
{% if h.conflicts %}
- Sync conflicts this week: {{ h.conflicts | length }} ({{ h.conflicts_total }} in all)
{% endif %}
{% if h.sync_errors %}
- Failing to sync: {% for e in h.sync_errors %}{{ e.path }} {{ e.ticket or "" }} ({{ e.message | oneline }})\
{% if not loop.last %}, {% endif %}{% endfor %}

{% endif %}
{% if not h.count %}
- Nothing to fix.
{% endif %}

{% if report_link %}
Full report (every row of every section): {{ report_link }}
{% endif %}
--
postmortem-syncd, as of {{ d.as_of.isoformat() }} ({{ d.timezone }}). docs/digest.md defines every number.
"""
