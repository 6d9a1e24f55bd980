"""Recurrence: does an incident share a contributing factor with an earlier one?

Seed 004: "the percentage of incidents that share contributing factors with a previous
incident"; seed 000: "if three postmortems in six months all mention the same database
component, that component needs architectural attention".

An incident's *components* are its metadata tags (services / components / tags) plus
every known component name (a tag of any postmortem) that appears as a whole word in
its title or contributing factors. Two incidents are related when they share a
component, or when one contributing factor of each is similar (see `similarity`).

Cost: the definition is about pairs of incidents, but only pairs that share something
can be related, so `Recurrences` never walks all pairs. It indexes the incidents by
component and by factor token set (date-ordered posting lists), finds an incident's
window by bisection, and compares it only with the incidents in that window that share
a component or have a factor similar to one of its own. Which token sets are similar is
worked out once per distinct token set, from an inverted index token -> token sets
(`SimilarFactors`). tests/test_digest_recurrence.py pins the result to the all-pairs
definition.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache

from syncd.digest import similarity
from syncd.digest.model import Link, Period, Reason, Theme
from syncd.model import Postmortem

THEME_MIN_INCIDENTS = 3
MIN_MENTION_LENGTH = 3  # "db" or "ui" in prose is too often not the component

# Two token sets can only be similar when they share at least this many tokens:
# `similarity.similar` returns None when |a & b| < MIN_SHARED, and a pair sharing no
# token at all has Jaccard 0 < THRESHOLD. So token sets sharing fewer than `_MIN_COMMON`
# tokens never match, and neither do two incidents that share no component and whose
# factors share fewer than that many tokens (a factor's tokens are a subset of the
# incident's), which is why the inverted index can skip them.
assert similarity.THRESHOLD > 0
_MIN_COMMON = max(similarity.MIN_SHARED, 1)


@dataclass(frozen=True)
class Dated:
    path: str
    doc: Postmortem
    day: date
    components: frozenset[str]

    @cached_property
    def factors(self) -> tuple[tuple[str, frozenset[str]], ...]:
        return tuple((f, _tokens(f)) for f in self.doc.contributing_factors)


@lru_cache(maxsize=4096)
def _tokens(text: str) -> frozenset[str]:
    return similarity.tokens(text)


@lru_cache(maxsize=1024)
def _mention_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")


def _mentions(text: str, known: frozenset[str]) -> set[str]:
    lowered = text.lower()
    return {
        name
        for name in known
        if len(name) >= MIN_MENTION_LENGTH
        and name in lowered  # cheap pre-test: the pattern needs the name as a substring
        and _mention_pattern(name).search(lowered)
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


class SimilarFactors:
    """`similarity.similar` between the distinct factor token sets of a corpus, memoised.

    `of(s)` lists every known token set similar to `s` with its score. It is computed
    once per distinct set, and only against the sets that share at least `_MIN_COMMON`
    tokens with it (counted from an inverted index token -> sets): the others cannot be
    similar (see `_MIN_COMMON`). Corpora repeat their factors, so there are far fewer
    distinct sets than factors.
    """

    def __init__(self, token_sets: Iterable[frozenset[str]]) -> None:
        self._sets = list(dict.fromkeys(token_sets))
        self._by_token: dict[str, list[int]] = {}
        for n, toks in enumerate(self._sets):
            for tok in toks:
                self._by_token.setdefault(tok, []).append(n)
        self._memo: dict[frozenset[str], dict[frozenset[str], float]] = {}

    def of(self, toks: frozenset[str]) -> dict[frozenset[str], float]:
        """{known set: `similarity.similar(toks, set)`} for every known set similar to
        `toks` (`toks` itself included when it is known and has >= MIN_SHARED tokens)."""
        found = self._memo.get(toks)
        if found is None:
            shared: Counter[int] = Counter()
            for tok in toks:
                shared.update(self._by_token.get(tok, ()))
            found = {}
            for n, count in shared.items():
                if count >= _MIN_COMMON:
                    other = self._sets[n]
                    score = similarity.similar(toks, other)
                    if score is not None:
                        found[other] = score
            self._memo[toks] = found
        return found


class Recurrences:
    """Links between the incidents of one corpus: who recurs on whom, and why.

    The same answers as comparing every incident with every earlier one in its window,
    without doing so (see the module docstring).
    """

    def __init__(self, incidents: Sequence[Dated], window_days: int) -> None:
        self.incidents = sorted(incidents, key=lambda d: (d.day, d.path))
        self.window = timedelta(days=window_days)
        self._days = [i.day for i in self.incidents]
        # posting lists: ascending positions in self.incidents, i.e. oldest first
        self._by_component: dict[str, list[int]] = {}
        self._by_factor: dict[frozenset[str], list[int]] = {}
        for n, inc in enumerate(self.incidents):
            for name in inc.components:
                self._by_component.setdefault(name, []).append(n)
            for toks in dict.fromkeys(toks for _text, toks in inc.factors):
                self._by_factor.setdefault(toks, []).append(n)
        self.similar = SimilarFactors(self._by_factor)

    def _window(self, incident: Dated) -> tuple[int, int]:
        """Positions [lo, hi) of the incidents dated in [day - window, day)."""
        lo = bisect_left(self._days, incident.day - self.window)
        return lo, bisect_left(self._days, incident.day, lo)

    def _postings(self, incident: Dated) -> Iterable[list[int]]:
        """Posting lists of every incident that can be related to `incident`: those with
        one of its components, or a factor similar to one of its factors."""
        for name in incident.components:
            yield self._by_component.get(name, [])
        for _text, toks in incident.factors:
            for other in self.similar.of(toks):
                yield self._by_factor[other]

    def related(self, incident: Dated) -> list[int]:
        """Positions of the earlier incidents within the window that share something with
        `incident`, most recent first.

        Earlier means an earlier incident date: two incidents on the same day cannot
        tell which came first, so neither counts as a recurrence of the other.
        Exact, not a superset: each one shares a component or has a factor similar to
        one of `incident`'s (`SimilarFactors.of` lists only sets that are similar).
        """
        lo, hi = self._window(incident)
        if lo >= hi:
            return []
        found: set[int] = set()
        for postings in self._postings(incident):
            found.update(postings[bisect_left(postings, lo) : bisect_left(postings, hi)])
        return sorted(found, reverse=True)

    def count(self, incident: Dated) -> int:
        """How many links `incident` has (without building them)."""
        return len(self.related(incident))

    def recurs(self, incident: Dated) -> bool:
        """Whether `incident` has at least one link (stops at the first)."""
        lo, hi = self._window(incident)
        if lo >= hi:
            return False
        for postings in self._postings(incident):
            k = bisect_left(postings, lo)
            if k < len(postings) and postings[k] < hi:
                return True
        return False

    def links(self, incident: Dated, limit: int | None = None) -> list[Link]:
        """The links of `incident` to earlier incidents, most recent earlier incident
        first (then by path, descending); only the first `limit` when given."""
        out = []
        for n in self.related(incident)[:limit]:
            earlier = self.incidents[n]
            why = self.reasons(incident, earlier)
            out.append(Link(incident.path, incident.day, earlier.path, earlier.day, why))
        return out

    def reasons(self, later: Dated, earlier: Dated) -> tuple[Reason, ...]:
        """Why `later` is related to `earlier` (empty: it is not): every shared
        component, then for each factor of `later` the most similar factor of `earlier`
        (the first of equals), if any is similar."""
        found = [
            Reason("component", name) for name in sorted(later.components & earlier.components)
        ]
        for text, toks in later.factors:
            similar = self.similar.of(toks)
            best: tuple[float, str] | None = None
            for other_text, other_toks in earlier.factors:
                score = similar.get(other_toks)
                if score is not None and (best is None or score > best[0]):
                    best = (score, other_text)
            if best is not None:
                found.append(Reason("factor", text, best[1], best[0]))
        return tuple(found)


def themes(
    incidents: Sequence[Dated], window: Period, similar: SimilarFactors | None = None
) -> tuple[Theme, ...]:
    """Components and factor clusters that at least three incidents in `window` share.

    `similar` may be shared with a `Recurrences` of the same incidents (or a superset).
    """
    inside = [i for i in incidents if i.day in window]
    found: list[Theme] = []
    by_component: dict[str, list[str]] = {}
    for inc in inside:
        for name in inc.components:
            by_component.setdefault(name, []).append(inc.path)
    for name, paths in by_component.items():
        if len(paths) >= THEME_MIN_INCIDENTS:
            found.append(Theme("component", name, tuple(paths)))
    found.extend(_factor_themes(inside, similar))
    return tuple(sorted(found, key=lambda t: (-len(t.incidents), t.kind, t.name)))


def _factor_themes(inside: Sequence[Dated], similar: SimilarFactors | None) -> list[Theme]:
    # Single-link clusters of similar factors (union-find over (incident, factor) nodes),
    # so A~B and B~C put A, B and C in one theme even when A and C differ more. Two nodes
    # are joined when their factors are similar and they belong to different incidents.
    nodes = [(inc, text, toks) for inc in inside for text, toks in inc.factors]
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    groups: dict[frozenset[str], list[int]] = {}
    for n, (_inc, _text, toks) in enumerate(nodes):
        groups.setdefault(toks, []).append(n)
    if similar is None:
        similar = SimilarFactors(groups)
    # A theme depends only on which nodes end up together, not on the edges that joined
    # them. So for each pair of similar token sets (s, t), visited as (s, t) and as
    # (t, s), every node of G_s (the nodes whose set is s) is joined to the
    # *representatives* of G_t (the first node of each of G_t's first two incidents)
    # that are of another incident, not to every node of G_t. That connects what the
    # full graph (every pair of a G_s node and a G_t node of different incidents) does:
    # take one of its edges (a, b), of incidents A != B.
    # - B has a representative r: a joins r; b and r join the same representatives of
    #   G_s (those not of B; there is one, G_s holds A), so a ~ r ~ b. Likewise when A
    #   has one.
    # - Otherwise both groups span >= 3 incidents; a joins a representative of G_t, b
    #   one of G_s, and the four representatives are connected: among themselves, unless
    #   both sides' are the same two incidents, and then a (of neither) joins both of
    #   G_t's.
    reps: dict[frozenset[str], list[int]] = {}
    for toks, members in groups.items():
        firsts: dict[int, int] = {}
        for n in members:
            firsts.setdefault(id(nodes[n][0]), n)
            if len(firsts) == 2:
                break
        reps[toks] = list(firsts.values())
    for toks, members in groups.items():
        for other in similar.of(toks):
            if other not in groups:
                continue
            targets = reps[other]
            for n in members:
                for r in targets:
                    if nodes[n][0] is not nodes[r][0]:
                        parent[root(n)] = root(r)
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
