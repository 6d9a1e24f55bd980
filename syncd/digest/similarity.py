"""Text similarity of contributing factors: deliberately simple, so a reader can check it.

A factor becomes a set of tokens: lower-cased words (hyphenated names such as
`db-primary` stay whole), English stopwords and filler removed, and each plain word cut
to its first six letters so "exhausted"/"exhaustion" and "deploy"/"deployment" meet.
Two factors are similar when the Jaccard index of their token sets (shared / all) is at
least `THRESHOLD` and they share at least `MIN_SHARED` tokens, so two one-word factors
never match on a single common word.

No fuzzy-matching library: the number printed in the evidence ("75% similar") must be
reproducible by hand from the two sentences.
"""

from __future__ import annotations

import re

THRESHOLD = 0.5
MIN_SHARED = 2
STEM = 6

_TOKEN = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in into is
    it its itself just me more most my no nor not now of off on once only or other our
    out over own same she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yet still already
    incident issue problem caused cause causing due led lead leading result resulted
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def tokens(text: str) -> frozenset[str]:
    out = set()
    for word in _TOKEN.findall(text.lower()):
        if word in STOPWORDS or len(word) < 2:
            continue
        # Names with separators (db-primary, v2.14) are identifiers: never truncated.
        out.add(word if not word.isalpha() else word[:STEM])
    return frozenset(out)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def similar(a: frozenset[str], b: frozenset[str]) -> float | None:
    """The Jaccard score if the two token sets count as similar, else None."""
    if len(a & b) < MIN_SHARED:
        return None
    score = jaccard(a, b)
    return round(score, 4) if score >= THRESHOLD else None
