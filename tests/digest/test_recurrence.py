"""The indexed recurrence (syncd.digest.recurrence) against the plain definition.

`Recurrences` and `themes` avoid comparing every pair of incidents (an inverted index
of specific terms, bisection, memoised comparisons). These tests pin them to a
reference that compares every incident with every earlier one in its window, on
random corpora built from a small factor vocabulary (with rewordings).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest

from syncd.digest import similarity
from syncd.digest.metrics import EARLIER_LINKS, compute, week_ending
from syncd.digest.model import Link, Period, Theme
from syncd.digest.recurrence import Dated, Recurrences, dated_incidents, themes
from syncd.model import Postmortem
from tests.digest.test_metrics import fixture_settings


def _idf(history: Sequence[Dated]) -> similarity.Idf:
    return similarity.factor_idf(i.profile for i in history)


def ref_links(incident: Dated, history: Sequence[Dated], window_days: int) -> list[Link]:
    idf = _idf(history)
    out = []
    earlier_first = sorted(history, key=lambda d: (d.day, d.path), reverse=True)
    for earlier in earlier_first:
        if earlier.day < incident.day and (incident.day - earlier.day).days <= window_days:
            c = similarity.compare(incident.profile, earlier.profile, idf)
            if c.related:
                out.append(
                    Link(
                        incident.path, incident.day, earlier.path, earlier.day,
                        c.factors, c.components,
                    )
                )  # fmt: skip
    return out


def ref_themes(incidents: Sequence[Dated], window: Period, window_days: int) -> tuple[Theme, ...]:
    idf = _idf(incidents)
    inside = [i for i in incidents if i.day in window]
    found: list[Theme] = []
    names = sorted({n for i in inside for n in i.components})
    for name in names:
        ev = tuple((i.path, i.profile.components[name]) for i in inside if name in i.components)
        if len(ev) >= 3:
            found.append(Theme("component", name, tuple(p for p, _s in ev), ev))
    # factor clusters: connected components of matching (incident, sentence) nodes
    edges = []
    for a in inside:
        for b in inside:
            if b.day < a.day and (a.day - b.day).days <= window_days:
                pa, pb = a.profile, b.profile
                for fa, na in zip(pa.factors, pa.named, strict=True):
                    for fb, nb in zip(pb.factors, pb.named, strict=True):
                        if similarity.match_sentences(fa, fb, na, nb, idf) is not None:
                            edges.append(((a.path, fa.text), (b.path, fb.text)))
    groups: list[set[tuple[str, str]]] = []
    for x, y in edges:
        joined = [g for g in groups if x in g or y in g]
        merged = {x, y}.union(*joined)
        groups = [g for g in groups if g not in joined] + [merged]
    order = {i.path: (i.day, i.path) for i in inside}
    for g in groups:
        members = sorted(g, key=lambda n: (order[n[0]], n[1]))
        by_path: dict[str, str] = {}
        for path, sentence in members:
            by_path.setdefault(path, sentence)
        ev = tuple(by_path.items())
        if len(ev) >= 3:
            found.append(Theme("factor", ev[-1][1], tuple(p for p, _s in ev), ev))
    return tuple(sorted(found, key=lambda t: (-len(t.incidents), t.kind, t.name)))


def _theme_key(t: Theme) -> tuple[object, ...]:
    # Which incidents form a factor theme is the definition; which sentence of an
    # incident represents it when several of its factors joined is not.
    return (t.kind, t.incidents) if t.kind == "factor" else (t.kind, t.name, t.evidence)


# --------------------------------------------------------------------------- corpus

SERVICES = ("db-primary", "checkout", "payments-api", "search", "auth", "edge-proxy", "ledger")
FACTORS = (
    "Connection pool exhausted under a retry storm",
    "Config change skipped the review gate",
    "Certificate expired silently on the edge proxies",
    "Log rotation misconfiguration filled the disk on db-primary",
    "No alert on consumer lag for the ledger queue",
    "Cache stampede after the deploy",
    "Rollback is manual and slow",
    "Deploy skipped canary analysis",
    "Runbook out of date",
    "Retries",
    "The ledger database ran out of memory during the nightly batch",
)
EXTRA = ("again", "data", "nightly", "shared", "v2.14", "primary", "backlog", "checkout", "edge")
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
    # the corpus exercises both outcomes
    assert 0 < recurring < len(dated) and total > len(dated) // 2


@pytest.mark.parametrize("seed", range(3))
def test_themes_match_all_pairs_reference(seed: int) -> None:
    dated = dated_incidents(corpus(seed, n=120), START + timedelta(days=400))
    index = Recurrences(dated, 180)
    for window in (Period(START + timedelta(days=200), START + timedelta(days=400)),
                   Period(START, START)):  # fmt: skip
        got = sorted(map(_theme_key, themes(dated, window, index)), key=repr)
        want = sorted(map(_theme_key, ref_themes(dated, window, 180)), key=repr)
        assert got == want
    assert themes(dated, Period(START, START + timedelta(days=400)), index)


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
    assert d.as_json()["recurrence"]["links_total"] == rec.links_total
