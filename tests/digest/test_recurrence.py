"""The indexed recurrence (syncd.digest.recurrence) against the plain definition.

`Recurrences` and `themes` avoid comparing every pair of incidents (inverted indexes,
bisection, memoised similarity, union-find with few edges). These tests pin them to a
straightforward all-pairs reference, kept here as the README states the rules, on
generated corpora of a few hundred incidents whose factors and components recur (exact
repeats, reworded near-matches around the 0.5 threshold, one-word factors, incidents
without tags, several incidents a day).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest

from syncd.digest import similarity
from syncd.digest.metrics import EARLIER_LINKS, compute, week_ending
from syncd.digest.model import Link, Period, Reason, Theme
from syncd.digest.recurrence import (
    THEME_MIN_INCIDENTS,
    Dated,
    Recurrences,
    dated_incidents,
    themes,
)
from syncd.model import Postmortem
from tests.digest.test_metrics import fixture_settings

# --------------------------------------------------------------------------- reference


def ref_reasons(later: Dated, earlier: Dated) -> tuple[Reason, ...]:
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


def ref_links(incident: Dated, history: Sequence[Dated], window_days: int) -> list[Link]:
    """Every earlier incident (earlier date, within window_days) that shares something."""
    start = incident.day - timedelta(days=window_days)
    out = []
    for earlier in history:
        if not (start <= earlier.day < incident.day):
            continue
        why = ref_reasons(incident, earlier)
        if why:
            out.append(Link(incident.path, incident.day, earlier.path, earlier.day, why))
    return sorted(out, key=lambda link: (link.earlier_date, link.earlier), reverse=True)


def ref_themes(incidents: Sequence[Dated], window: Period) -> tuple[Theme, ...]:
    inside = [i for i in incidents if i.day in window]
    found: list[Theme] = []
    by_component: dict[str, list[str]] = {}
    for inc in inside:
        for name in inc.components:
            by_component.setdefault(name, []).append(inc.path)
    for name, paths in by_component.items():
        if len(paths) >= THEME_MIN_INCIDENTS:
            found.append(Theme("component", name, tuple(paths)))
    # union-find over every pair of (incident, factor) nodes of different incidents
    nodes = [(inc, text, toks) for inc in inside for text, toks in inc.factors]
    parent = list(range(len(nodes)))

    def root(i: int) -> int:
        while parent[i] != i:
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
    for members in clusters.values():
        paths = list(dict.fromkeys(nodes[i][0].path for i in sorted(members)))
        if len(paths) >= THEME_MIN_INCIDENTS:
            found.append(Theme("factor", nodes[max(members)][1], tuple(paths)))
    return tuple(sorted(found, key=lambda t: (-len(t.incidents), t.kind, t.name)))


# --------------------------------------------------------------------------- corpus

SERVICES = ("db-primary", "checkout", "payments-api", "search", "auth", "edge-proxy", "ledger")
FACTORS = (
    "Connection pool exhausted under a retry storm",
    "Config change skipped the review gate",
    "Certificate expired silently on the edge proxies",
    "Log rotation misconfiguration filled the disk on db-primary",
    "No alert on timeout rate",
    "Cache stampede after the deploy",
    "Rollback is manual and slow",
    "Deploy skipped canary analysis",
    "Runbook out of date",
    "Retries",
)
EXTRA = ("again", "data", "nightly", "shared", "v2.14", "primary", "quickly", "checkout")
START = date(2025, 1, 1)


def _factor(rng: random.Random, bases: Sequence[str]) -> str:
    words = rng.choice(bases).split()
    for _ in range(rng.choice((0, 0, 1, 2))):  # reword: drop, add or replace a word
        op = rng.random()
        if op < 0.35 and len(words) > 1:
            words.pop(rng.randrange(len(words)))
        elif op < 0.7:
            words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRA))
        else:
            words[rng.randrange(len(words))] = rng.choice(EXTRA)
    return " ".join(words)


def corpus(
    seed: int, n: int = 300, days: int = 400, bases: Sequence[str] = FACTORS
) -> list[tuple[str, Postmortem]]:
    rng = random.Random(seed)
    docs = []
    for k in range(n):
        day = START + timedelta(days=rng.randrange(days))
        # ~40% without tags, so factor similarity alone decides many pairs
        tags = tuple(rng.sample(SERVICES, rng.randint(1, 2))) if rng.random() < 0.6 else ()
        title = rng.choice(("Outage", "Latency spike", f"{rng.choice(SERVICES)} errors"))
        factors = tuple(_factor(rng, bases) for _ in range(rng.randint(0, 4)))
        path = f"{day.isoformat()}-{k:03d}.md"
        docs.append(
            (
                path,
                Postmortem(
                    Path(path), title, day, None, None, (), contributing_factors=factors, tags=tags
                ),
            )
        )
    return docs


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("seed", "window_days"), [(1, 180), (2, 30), (3, 365)])
def test_links_match_all_pairs_reference(seed: int, window_days: int) -> None:
    dated = dated_incidents(corpus(seed), START + timedelta(days=400))
    index = Recurrences(dated, window_days)
    total = recurring = 0
    for inc in dated:
        expected = ref_links(inc, dated, window_days)
        assert index.links(inc) == expected, inc.path
        assert index.links(inc, 2) == expected[:2]
        assert index.count(inc) == len(expected)
        assert index.recurs(inc) == bool(expected)
        total += len(expected)
        recurring += bool(expected)
    # the corpus exercises both outcomes and both kinds of evidence
    kinds = {r.kind for inc in dated for link in index.links(inc) for r in link.reasons}
    assert kinds == {"component", "factor"}
    assert 0 < recurring < len(dated) and total > len(dated)


@pytest.mark.parametrize("seed", range(4))
def test_themes_match_all_pairs_reference(seed: int) -> None:
    dated = dated_incidents(corpus(seed, n=200), START + timedelta(days=400))
    for window in (Period(START, START + timedelta(days=400)), Period(START, START)):
        assert themes(dated, window) == ref_themes(dated, window)
        shared = Recurrences(dated, 180).similar
        assert themes(dated, window, shared) == ref_themes(dated, window)


def test_factor_clusters_from_small_vocabularies() -> None:
    # Few incidents whose factors are 2-4 words of a 6-word vocabulary: many distinct
    # token sets, chains of similar ones (similarity is not transitive), the same set
    # in several factors of one incident. Those are the cases where "nodes of different
    # incidents only" decides which clusters join, and so how many incidents a theme has.
    words = ("disk", "pool", "retry", "cache", "deploy", "alert")
    window = Period(START, START + timedelta(days=30))
    found = 0
    for seed in range(400):
        rng = random.Random(seed)
        docs = []
        for k in range(rng.randint(3, 10)):
            factors = tuple(
                " ".join(rng.sample(words, rng.randint(2, 4))) for _ in range(rng.randint(1, 3))
            )
            day = START + timedelta(days=rng.randrange(30))
            docs.append((f"{k}.md", Postmortem(Path(f"{k}.md"), "X", day, None, None, (), factors)))
        dated = dated_incidents(docs, window.end)
        expected = ref_themes(dated, window)
        assert themes(dated, window) == expected, seed
        found += len(expected)
    assert found > 200  # themes do form (about one per corpus)


def test_digest_numbers_match_reference() -> None:
    docs = corpus(7)
    as_of = START + timedelta(days=300)
    d = compute(docs, [], [], fixture_settings(), as_of)
    window = d.recurrence.window_days
    dated = dated_incidents(docs, as_of)
    ref = {i.path: ref_links(i, dated, window) for i in dated}
    in_rate = [i for i in dated if i.day in d.recurrence.period]
    this_week = week_ending(as_of)
    rec = d.recurrence
    assert rec.incidents == len(in_rate)
    assert rec.recurring == sum(bool(ref[i.path]) for i in in_rate)
    assert rec.this_week_recurring == sum(bool(ref[i.path]) for i in in_rate if i.day in this_week)
    for w in d.weeks:
        inside = [i for i in dated if i.day in w.period]
        assert (w.incidents, w.recurring) == (len(inside), sum(bool(ref[i.path]) for i in inside))
    assert [i.recurring for i in d.incidents] == [bool(ref[i.path]) for i in d.incidents]
    # listed: every link of this week's incidents, the EARLIER_LINKS most recent of the
    # others; counted: all of them
    assert rec.links == tuple(
        link
        for i in reversed(in_rate)
        for link in ref[i.path][: None if i.day in this_week else EARLIER_LINKS]
    )
    assert rec.links_total == sum(len(ref[i.path]) for i in in_rate)
    assert rec.links_total > len(rec.links) > 0
    assert rec.themes == ref_themes(dated, Period(as_of - timedelta(days=window), as_of))
    assert d.as_json()["recurrence"]["links_total"] == rec.links_total
