"""The similarity module on the labelled pairs and on the decoys issue #16 lists.

The labelled set (tests/fixtures/similarity/pairs.yaml) is split: `calibrate` pairs chose
`similarity.THRESHOLD`, `holdout` pairs did not. Both must meet the goals; the holdout
figures are the ones that say whether the rules generalise.
"""

from __future__ import annotations

import pytest

from bench import similarity as bench
from syncd.digest import similarity

PAIRS = bench.load()
IDF = bench.corpus_idf(PAIRS)


def test_labelled_set_is_big_enough_and_covers_every_kind() -> None:
    assert len(PAIRS) >= 40
    kinds = {p.kind for p in PAIRS}
    assert kinds >= {"same-words", "different-words", "generic-words", "tag-only", "tag-word"}
    for split in ("calibrate", "holdout"):
        inside = [p for p in PAIRS if p.split == split]
        assert {p.recurrence for p in inside} == {True, False}


@pytest.mark.parametrize("split", ["calibrate", "holdout", "all"])
def test_precision_and_recall_meet_the_goals(split: str) -> None:
    pairs = [p for p in PAIRS if split in ("all", p.split)]
    f = bench.evaluate(pairs, IDF)
    assert f.precision >= bench.PRECISION_GOAL, f.wrong
    assert f.recall >= bench.RECALL_GOAL, f.wrong


def test_every_decoy_the_issue_lists_is_rejected() -> None:
    by_id = {p.id: p for p in PAIRS}
    for pair_id in ("generic-01", "tag-01", "tagword-01", "tagword-02"):
        p = by_id[pair_id]
        assert not similarity.compare(p.a, p.b, IDF).related, pair_id


def test_the_threshold_is_the_calibrated_one() -> None:
    # Re-running the calibration on the calibration split gives the module's constant:
    # nobody tuned it on the held-out pairs.
    calibration = [p for p in PAIRS if p.split == "calibrate"]
    assert bench.calibrate(calibration, IDF)[2] == similarity.THRESHOLD


def profile(key: str, *factors: str, tags: tuple[str, ...] = ()) -> similarity.Profile:
    return similarity.profile(key, factors, frozenset(tags))


def test_same_cause_in_different_words_matches_with_evidence() -> None:
    earlier = profile("a.md", "Consumer lag on the events topic grew and was not alerted on.")
    later = profile("b.md", "No alert on consumer backlog, which built up for two hours.")
    c = similarity.compare(later, earlier, IDF)
    assert c.related
    [m] = c.factors
    assert m.sentence == "No alert on consumer backlog, which built up for two hours."
    assert m.other == "Consumer lag on the events topic grew and was not alerted on."
    shared = {t.term: (t.ours, t.theirs) for t in m.shared}
    assert shared["lag"] == (("backlog",), ("lag",))  # the normalisation table at work
    assert shared["consum"] == (("consumer",), ("consumer",))
    assert "backlog ~ lag" in m.describe()


def test_normalisation_table() -> None:
    assert similarity.terms("ran out of memory").set == {"oom"}
    assert similarity.terms("OOM-killed").set == {"oom"}
    assert similarity.terms("the database").set == similarity.terms("the db").set
    assert similarity.terms("certificates").set == similarity.terms("cert").set
    assert "db-primary" in similarity.terms("Disk full on db-primary.").set


def test_generic_words_alone_never_match() -> None:
    a = profile("a.md", "Missing alerting for checkout.")
    b = profile("b.md", "Missing alerting for search.")
    assert similarity.cosine(a.factors[0], b.factors[0], IDF) > 0  # they do share "alert"
    assert not similarity.compare(b, a, IDF).related


def test_a_component_counts_only_where_a_factor_names_it() -> None:
    tags = ("edge", "deploy")
    assert profile("a.md", "An edge case in the token parser.", tags=tags).names == set()
    assert profile("a.md", "The deploy dashboard showed green.", tags=tags).names == set()
    assert profile("a.md", "The edge proxies ran old TLS.", tags=tags).names == {"edge"}
    assert profile("a.md", "Disk full on db-primary.").names == {"db-primary"}
    # a tag never named in a factor is not a component of the incident
    assert profile("a.md", "A typo in the tax table.", tags=tags).names == set()


def test_a_shared_component_alone_is_not_a_shared_factor() -> None:
    tags = ("checkout",)
    a = profile("a.md", "A checkout config typo rejected orders.", tags=tags)
    b = profile("b.md", "The checkout fraud model blocked cards.", tags=tags)
    c = similarity.compare(b, a, IDF)
    assert not c.related
    assert [name for name, _x, _y in c.components] == ["checkout"]
