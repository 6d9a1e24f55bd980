"""Recurrence: does an incident share a contributing factor with an earlier one?

Seed 004: "the percentage of incidents that share contributing factors with a previous
incident"; seed 000: "if three postmortems in six months all mention the same database
component, that component needs architectural attention".

An incident *recurs* when one of its contributing factors matches a factor of an
incident dated within `window_days` before it (`similarity.compare`: same cause, in the
same or in different words). A shared tag, or a tag word in an unrelated sentence, is
not enough. Components (tags and identifiers a factor names, see `similarity`) named by
factors of at least `THEME_MIN_INCIDENTS` incidents in the lookback window are themes,
each with the sentence that names it in every incident.

Cost: only incidents that share at least `similarity.MIN_SHARED` specific terms can
match, so `Recurrences` never walks all pairs: an inverted index term -> incidents
(date-ordered posting lists) gives the candidates, bisection the window, and each
candidate pair is compared once (memoised). tests/digest/test_recurrence.py pins the
result to the all-pairs definition.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from syncd.digest import similarity
from syncd.digest.model import Link, Period, Theme
from syncd.model import Postmortem

THEME_MIN_INCIDENTS = 3


@dataclass(frozen=True)
class Dated:
    path: str
    doc: Postmortem
    day: date
    profile: similarity.Profile

    @property
    def components(self) -> frozenset[str]:
        return self.profile.names


def known_components(docs: Sequence[tuple[str, Postmortem]]) -> frozenset[str]:
    return frozenset(t.lower() for _p, d in docs for t in d.tags)


def dated_incidents(docs: Sequence[tuple[str, Postmortem]], as_of: date) -> list[Dated]:
    """Docs with an incident date on or before `as_of`, oldest first (path breaks ties)."""
    known = known_components(docs)
    out = [
        Dated(path, doc, doc.date, similarity.profile(path, doc.contributing_factors, known))
        for path, doc in docs
        if doc.date is not None and doc.date <= as_of
    ]
    return sorted(out, key=lambda d: (d.day, d.path))


class Recurrences:
    """Which incident recurs on which, and the evidence; the same answers as comparing
    every incident with every earlier one in its window (see the module docstring).

    Whether two factor sentences match depends on the two sentences only, and corpora
    repeat their sentences, so matching is worked out once per pair of *distinct*
    sentences (those sharing MIN_SHARED specific terms, from an inverted index), and an
    incident's earlier matches are the union of the date-ordered posting lists of the
    sentences matching one of its own.
    """

    def __init__(self, incidents: Sequence[Dated], window_days: int) -> None:
        self.incidents = sorted(incidents, key=lambda d: (d.day, d.path))
        self.window = timedelta(days=window_days)
        self.idf = similarity.factor_idf(i.profile for i in self.incidents)
        self._days = [i.day for i in self.incidents]
        self._position = {id(inc): n for n, inc in enumerate(self.incidents)}
        # distinct sentences: (text, names) -> id; their terms, names and postings
        ids: dict[tuple[str, frozenset[str]], int] = {}
        self._sentences: list[tuple[similarity.Terms, frozenset[str]]] = []
        self._postings: list[list[int]] = []
        self._of: list[list[int]] = []  # incident -> its sentence ids
        for n, inc in enumerate(self.incidents):
            mine = []
            for t, names in zip(inc.profile.factors, inc.profile.named, strict=True):
                sid = ids.setdefault((t.text, names), len(ids))
                if sid == len(self._sentences):
                    self._sentences.append((t, names))
                    self._postings.append([])
                if not self._postings[sid] or self._postings[sid][-1] != n:
                    self._postings[sid].append(n)
                mine.append(sid)
            self._of.append(mine)
        self._by_term: dict[str, list[int]] = {}
        for sid, (t, _names) in enumerate(self._sentences):
            for term in t.specific:
                self._by_term.setdefault(term, []).append(sid)
        self._matching: dict[int, list[int]] = {}
        self._memo: dict[tuple[int, int], similarity.Comparison] = {}
        self._related: dict[int, list[int]] = {}

    def _window(self, n: int) -> tuple[int, int]:
        """Positions [lo, hi) of the incidents dated in [day - window, day): two incidents
        on the same day cannot tell which came first, so neither recurs on the other."""
        day = self._days[n]
        lo = bisect_left(self._days, day - self.window)
        return lo, bisect_left(self._days, day, lo)

    def _matches(self, sid: int) -> list[int]:
        """Distinct sentences matching sentence `sid` (itself included when it can)."""
        found = self._matching.get(sid)
        if found is None:
            t, names = self._sentences[sid]
            shared: Counter[int] = Counter()
            for term in t.specific:
                shared.update(self._by_term[term])
            found = []
            for other, count in shared.items():
                if count >= similarity.MIN_SHARED:
                    ot, onames = self._sentences[other]
                    if similarity.match_sentences(t, ot, names, onames, self.idf) is not None:
                        found.append(other)
            self._matching[sid] = found
        return found

    def comparison(self, later: int, earlier: int) -> similarity.Comparison:
        key = (later, earlier)
        found = self._memo.get(key)
        if found is None:
            found = similarity.compare(
                self.incidents[later].profile, self.incidents[earlier].profile, self.idf
            )
            self._memo[key] = found
        return found

    def related_positions(self, n: int) -> list[int]:
        """Positions of the earlier incidents `self.incidents[n]` recurs on, most recent
        first (then by path, descending)."""
        found = self._related.get(n)
        if found is None:
            lo, hi = self._window(n)
            hits: set[int] = set()
            if lo < hi:
                for sid in self._of[n]:
                    for other in self._matches(sid):
                        postings = self._postings[other]
                        hits.update(postings[bisect_left(postings, lo) : bisect_left(postings, hi)])
            found = sorted(hits, reverse=True)
            self._related[n] = found
        return found

    def _pos(self, incident: Dated) -> int:
        return self._position[id(incident)]

    def count(self, incident: Dated) -> int:
        return len(self.related_positions(self._pos(incident)))

    def recurs(self, incident: Dated) -> bool:
        return bool(self.related_positions(self._pos(incident)))

    def links(self, incident: Dated, limit: int | None = None) -> list[Link]:
        """The links of `incident` to the earlier incidents it recurs on, most recent
        earlier incident first; only the first `limit` when given."""
        n = self._pos(incident)
        out = []
        for m in self.related_positions(n)[:limit]:
            earlier = self.incidents[m]
            c = self.comparison(n, m)
            link = Link(incident.path, incident.day, earlier.path, earlier.day, c.factors)
            out.append(replace(link, components=c.components))
        return out


def themes(incidents: Sequence[Dated], window: Period, index: Recurrences) -> tuple[Theme, ...]:
    """Components named by factors of at least three incidents in `window`, and clusters
    of matching factors spanning at least three incidents, each with its evidence: the
    sentence of every incident that names the component or states the factor."""
    inside = [i for i in incidents if i.day in window]
    found: list[Theme] = []
    by_component: dict[str, list[tuple[str, str]]] = {}
    for inc in inside:
        for name, sentence in inc.profile.components.items():
            by_component.setdefault(name, []).append((inc.path, sentence))
    for name, evidence in by_component.items():
        if len(evidence) >= THEME_MIN_INCIDENTS:
            found.append(Theme("component", name, tuple(p for p, _s in evidence), tuple(evidence)))
    found.extend(_factor_themes(inside, window, index))
    return tuple(sorted(found, key=lambda t: (-len(t.incidents), t.kind, t.name)))


def _factor_themes(inside: Sequence[Dated], window: Period, index: Recurrences) -> list[Theme]:
    # Single-link clusters over (incident, sentence) nodes: A~B and B~C put all three in
    # one theme. Edges are every matching pair of sentences between an incident and an
    # earlier one inside the window (from the memoised sentence matches: no rescoring).
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(node: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    order: dict[tuple[str, str], int] = {}
    for inc in inside:
        n = index._pos(inc)
        for m in index.related_positions(n):
            earlier = index.incidents[m]
            if earlier.day not in window:
                continue
            theirs = set(index._of[m])
            for sa in index._of[n]:
                for sb in index._matches(sa):
                    if sb in theirs:
                        a = (inc.path, index._sentences[sa][0].text)
                        b = (earlier.path, index._sentences[sb][0].text)
                        order.setdefault(b, len(order))
                        order.setdefault(a, len(order))
                        parent[root(a)] = root(b)
    clusters: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for node in order:
        clusters.setdefault(root(node), []).append(node)
    dates = {i.path: (i.day, i.path) for i in inside}
    out = []
    for members in clusters.values():
        members.sort(key=lambda node: dates[node[0]])
        evidence = tuple(dict((p, s) for p, s in members).items())  # one sentence per incident
        if len(evidence) >= THEME_MIN_INCIDENTS:
            # Named by the most recent wording: the one readers will recognise.
            out.append(Theme("factor", evidence[-1][1], tuple(p for p, _s in evidence), evidence))
    return out
