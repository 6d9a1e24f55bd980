"""Recurrence: does an incident share a contributing factor with an earlier one?

Seed 004: "the percentage of incidents that share contributing factors with a previous
incident"; seed 000: "if three postmortems in six months all mention the same database
component, that component needs architectural attention".

An incident's *components* are its metadata tags (services / components / tags) plus
every known component name (a tag of any postmortem) that appears as a whole word in
its title or contributing factors. Two incidents are related when they share a
component, or when one contributing factor of each is similar (see `similarity`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from syncd.digest import similarity
from syncd.digest.model import Link, Period, Reason, Theme
from syncd.model import Postmortem

THEME_MIN_INCIDENTS = 3
MIN_MENTION_LENGTH = 3  # "db" or "ui" in prose is too often not the component


@dataclass(frozen=True)
class Dated:
    path: str
    doc: Postmortem
    day: date
    components: frozenset[str]

    @cached_property
    def factors(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((f, similarity.tokens(f)) for f in self.doc.contributing_factors)


def _mentions(text: str, known: frozenset[str]) -> set[str]:
    lowered = text.lower()
    return {
        name
        for name in known
        if len(name) >= MIN_MENTION_LENGTH
        and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lowered)
    }


def dated_incidents(docs: Sequence[tuple[str, Postmortem]], as_of: date) -> list[Dated]:
    """Docs with an incident date on or before `as_of`, oldest first (path breaks ties)."""
    known = frozenset(t.lower() for _p, d in docs for t in d.tags)
    out = []
    for path, doc in docs:
        if doc.date is None or doc.date > as_of:
            continue
        text = " ".join([doc.title or "", *doc.contributing_factors])
        components = frozenset(t.lower() for t in doc.tags) | _mentions(text, known)
        out.append(Dated(path, doc, doc.date, components))
    return sorted(out, key=lambda d: (d.day, d.path))


def reasons(later: Dated, earlier: Dated) -> tuple[Reason, ...]:
    found = [Reason("component", name) for name in sorted(later.components & earlier.components)]
    for text, toks in later.factors:
        best: tuple[float, str] | None = None
        for other_text, other_toks in earlier.factors:
            score = similarity.similar(toks, other_toks)
            if score is not None and (best is None or score > best[0]):
                best = (score, other_text)
        if best is not None:
            found.append(Reason("factor", text, best[1], best[0]))
    return tuple(found)


def links_for(incident: Dated, history: Sequence[Dated], window_days: int) -> list[Link]:
    """Links to every earlier incident within `window_days` that shares something.

    Earlier means an earlier incident date: two incidents on the same day cannot tell
    which came first, so neither counts as a recurrence of the other.
    """
    start = incident.day - timedelta(days=window_days)
    out = []
    for earlier in history:
        if not (start <= earlier.day < incident.day):
            continue
        why = reasons(incident, earlier)
        if why:
            out.append(Link(incident.path, incident.day, earlier.path, earlier.day, why))
    return sorted(out, key=lambda link: (link.earlier_date, link.earlier), reverse=True)


def recurring_paths(
    incidents: Sequence[Dated], window_days: int
) -> tuple[set[str], dict[str, list[Link]]]:
    links = {i.path: links_for(i, incidents, window_days) for i in incidents}
    return {p for p, found in links.items() if found}, links


def themes(incidents: Sequence[Dated], window: Period) -> tuple[Theme, ...]:
    """Components and factor clusters that at least three incidents in `window` share."""
    inside = [i for i in incidents if i.day in window]
    found: list[Theme] = []
    by_component: dict[str, list[str]] = {}
    for inc in inside:
        for name in inc.components:
            by_component.setdefault(name, []).append(inc.path)
    for name, paths in by_component.items():
        if len(paths) >= THEME_MIN_INCIDENTS:
            found.append(Theme("component", name, tuple(paths)))
    found.extend(_factor_themes(inside))
    return tuple(sorted(found, key=lambda t: (-len(t.incidents), t.kind, t.name)))


def _factor_themes(inside: Sequence[Dated]) -> list[Theme]:
    # Single-link clusters of similar factors (union-find over (incident, factor) pairs),
    # so A~B and B~C put A, B and C in one theme even when A and C differ more.
    nodes = [(inc, text, toks) for inc in inside for text, toks in inc.factors]
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            if nodes[i][0] is nodes[j][0]:
                continue
            if similarity.similar(nodes[i][2], nodes[j][2]) is not None:
                parent[root(i)] = root(j)
    clusters: dict[int, list[int]] = {}
    for i in range(len(nodes)):
        clusters.setdefault(root(i), []).append(i)
    out = []
    for members in clusters.values():
        paths = list(dict.fromkeys(nodes[i][0].path for i in sorted(members)))
        if len(paths) >= THEME_MIN_INCIDENTS:
            # Named by the most recent wording: the one readers will recognise.
            name = nodes[max(members)][1]
            out.append(Theme("factor", name, tuple(paths)))
    return out
