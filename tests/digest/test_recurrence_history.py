"""The digest's recurrence on a hand-labelled history that holds each decoy of issue #16.

tests/fixtures/similarity/history.yaml is the truth, written by hand; the digest must
reproduce it: which incidents recur on which, the rate against its target, the verdict on
the earlier incident's action items, and the component theme with its evidence.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from syncd.digest.metrics import compute
from syncd.digest.model import Digest
from syncd.digest.render import render_text
from syncd.documents.parser import parse_file
from tests.conftest import FIXTURES
from tests.digest.test_metrics import fixture_settings

HISTORY = FIXTURES / "similarity" / "history"
TRUTH = YAML(typ="safe").load((FIXTURES / "similarity" / "history.yaml").read_text())


def history_docs(root: Path = HISTORY) -> list[tuple[str, object]]:
    return [(p.name, parse_file(p)[0]) for p in sorted(root.glob("*.md"))]


@pytest.fixture(scope="module")
def digest() -> Digest:
    as_of = TRUTH["as_of"]
    assert isinstance(as_of, date)
    return compute(history_docs(), [], [], fixture_settings(), as_of)


def test_recurring_incidents_are_the_labelled_ones(digest: Digest) -> None:
    rec = digest.recurrence
    assert rec.incidents == TRUTH["rate_period_incidents"]
    assert {link.incident: link.earlier for link in rec.links} == TRUTH["recurring"]
    assert not set(TRUTH["not_recurring"]) & {link.incident for link in rec.links}
    assert rec.rate == TRUTH["rate"]


def test_rate_is_flagged_against_its_target(digest: Digest) -> None:
    rec = digest.recurrence
    assert (rec.target, rec.over_target) == (0.15, True)
    text = render_text(digest, fixture_settings())
    assert "40% (target: under 15%; OVER TARGET)" in text
    relaxed = fixture_settings(SYNCD_DIGEST__RECURRENCE_TARGET="50")
    d = compute(history_docs(), [], [], relaxed, TRUTH["as_of"])
    assert d.recurrence.over_target is False
    assert "OVER TARGET" not in render_text(d, relaxed)


def test_each_recurrence_says_whether_the_earlier_items_were_done(digest: Digest) -> None:
    assert {link.incident: link.verdict for link in digest.recurrence.links} == TRUTH["verdicts"]


def test_evidence_is_the_two_sentences_and_the_shared_terms(digest: Digest) -> None:
    link = next(x for x in digest.recurrence.links if x.incident == "2026-04-10-events-backlog.md")
    [m] = link.factors
    assert m.sentence == "No alert on consumer backlog, which built up for two hours."
    assert m.other.startswith("Consumer lag on the events topic")
    text = render_text(digest, fixture_settings())
    assert '"No alert on consumer backlog, which built up for two hours." ~ "Consumer lag' in text
    assert "backlog ~ lag" in text
    assert "[open] Autoscale the events consumers (@bo, OPS-202)" in text


def test_component_theme_with_its_evidence(digest: Digest) -> None:
    [theme] = digest.recurrence.themes
    assert (theme.kind, theme.name) == ("component", "db-primary")
    assert list(theme.incidents) == TRUTH["themes"]["db-primary"]
    assert [s for _p, s in theme.evidence][1] == (
        "The db-primary failover took twenty minutes because the standby was cold."
    )
    # `edge` names the proxies in two incidents; "an edge case" is not a third
    assert "edge" not in {t.name for t in digest.recurrence.themes}
