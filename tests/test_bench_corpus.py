"""The bench corpus generator: deterministic, and every item it writes parses back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.corpus import OWNERS, generate, owner_identities
from syncd.documents.discover import DEFAULT_INCLUDE, discover
from syncd.documents.parser import _FALLBACK, _simple_yaml, _yaml, parse_file


def test_generated_corpus_parses_to_the_expected_items(tmp_path: Path) -> None:
    corpus = generate(tmp_path, docs=60, items_per_doc=4, seed=3)
    assert corpus.item_count == 240
    files = sorted(f for f, _root in discover([tmp_path], DEFAULT_INCLUDE))
    assert len(files) == 60
    styles = Counter(d.style for d in corpus.docs)
    assert set(styles) == {"pipe", "checkbox", "yaml", "plain", "fm_yaml"}  # every format
    for expected in corpus.docs:
        doc, _text = parse_file(tmp_path / expected.path)
        assert doc.problems == ()
        got = [
            (i.action, i.owner, i.due.isoformat() if i.due else None, i.priority, i.status.value)
            for i in doc.action_items
        ]
        want = [(i.action, i.owner, i.due, i.priority, i.status) for i in expected.items]
        assert got == want, expected.path
        assert doc.date is not None and doc.date.isoformat() == expected.date
        for factor in expected.factors:  # recurring factors are found
            assert any(factor in found for found in doc.contributing_factors)


def test_generation_is_deterministic(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", docs=15, items_per_doc=3, seed=11)
    two = generate(tmp_path / "b", docs=15, items_per_doc=3, seed=11)
    assert one.docs == two.docs
    for doc in one.docs:
        assert (tmp_path / "a" / doc.path).read_bytes() == (tmp_path / "b" / doc.path).read_bytes()
    other = generate(tmp_path / "c", docs=15, items_per_doc=3, seed=12)
    assert other.docs != one.docs


def test_owner_identities_are_stable_and_distinct() -> None:
    ids = [owner_identities(o)["jira"] for o in OWNERS]
    assert len(set(ids)) == len(OWNERS)
    assert owner_identities("@maya") == owner_identities("@maya")


def _same(fast: object, slow: object) -> bool:
    """Values, types, key order and ruamel `.lc` positions all equal."""
    if isinstance(slow, dict):
        return (
            isinstance(fast, dict)
            and list(fast) == list(slow)
            and all(
                fast.lc.key(k) == tuple(slow.lc.key(k))  # type: ignore[attr-defined]
                and fast.lc.value(k) == tuple(slow.lc.value(k))  # type: ignore[attr-defined]
                and _same(fast[k], slow[k])
                for k in slow
            )
        )
    if isinstance(slow, list):
        return (
            isinstance(fast, list)
            and len(fast) == len(slow)
            and all(
                fast.lc.item(i) == tuple(slow.lc.item(i))  # type: ignore[attr-defined]
                and _same(fast[i], slow[i])
                for i in range(len(slow))
            )
        )
    return type(fast) is type(slow) and fast == slow


def test_yaml_fast_path_agrees_with_ruamel(tmp_path: Path) -> None:
    """The parser's simple-YAML reader must give ruamel's answer or defer to it."""
    corpus = generate(tmp_path, docs=40, items_per_doc=3, seed=5)
    bodies = []
    for doc in corpus.docs:
        text = (tmp_path / doc.path).read_text()
        if text.startswith("---\n"):
            bodies.append(text[4 : text.index("\n---\n", 4) + 1])
        if "```yaml\n" in text:
            start = text.index("```yaml\n") + len("```yaml\n")
            bodies.append(text[start : text.index("```\n", start)])
    bodies += [
        "title: x\nseverity:\nstatus: Draft\n",
        "action_items:\n- item: a\n  owner: '@b'\n- plain\nother: [a, b]\n",
        "a: 'q'\nb: \"x: y\"\nc: 2026-01-02\nd: true\ne: ~\nf: Won't fix\n",
        "empty:",
    ]
    fallbacks = [
        "a: 1\n",  # numbers
        "a: yes\n",  # YAML 1.1 booleans
        "a: x # comment\n",
        "a: |\n  block\n",
        "a: &x 1\nb: *x\n",
        "a:\n  nested: map\n",
        "a: x\na: y\n",  # duplicate keys
        'a: "esc\\"aped"\n',
        "a: 2026-02-30\n",  # ruamel raises; so must the loader
        "action_items:\n  - item: a\n    owner:\n",
    ]
    for body in bodies:
        fast = _simple_yaml(body)
        assert fast is not _FALLBACK, body
        assert _same(fast, _yaml().load(body)), body
    for body in fallbacks:
        assert _simple_yaml(body) is _FALLBACK, body
