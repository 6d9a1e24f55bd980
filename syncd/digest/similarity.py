"""Incident similarity: do two postmortems share a contributing factor, and why?

One module for the digest's recurrence and themes, `syncd similar` and `syncd search`.

Terms. A sentence becomes normalised *terms*: lower-cased words (identifiers such as
`db-primary` stay whole), multi-word phrases of infrastructure vocabulary folded first
("out of memory" -> `oom`, "connection pool" -> `connpool`), every other word stemmed
with the Snowball English stemmer, then mapped through `SYNONYMS` (backlog -> lag,
database -> db, certificate -> cert ...). English stop-words and `DOMAIN_STOPWORDS` (words
every postmortem uses: "missing", "insufficient", "again") are dropped; `WEAK` terms
("alert", "monitor", "dashboard", "test" ...) stay but weigh `WEAK_WEIGHT`, so "missing
alerting for checkout" and "missing alerting for search" share nothing that counts.

Score. Two factor sentences are compared by the cosine of their term sets weighted by
inverse document frequency (BM25's idf, over the archive's factor sentences, so a term
every factor uses counts for little): sum of w(t)^2 over shared terms, divided by the
product of the two sentences' norms. A pair *matches* when the score is at least
`THRESHOLD`, they share at least `MIN_SHARED` terms and at least one of them is not weak.
The constants were calibrated on the labelled set in tests/fixtures/similarity/ (see
bench/similarity.py, which reports calibration and held-out figures separately).

Components. A component is a metadata tag of some postmortem, or an identifier written
in a factor (`db-primary`, `payments_api`). A tag alone never relates two incidents (a
busy service has many unrelated incidents): a component counts only where a factor of
*each* incident names it, and not where the word modifies another noun ("an edge case",
"the deploy dashboard": see `NOT_COMPONENT_HEADS`). A component named in both incidents'
factors feeds the themes; recurrence needs a matching factor pair, and the name of a
component both sentences name does not count towards it (see `match_sentences`).

Evidence. Every match carries both sentences, the shared terms with the words that
produced them in each sentence, and the score, so a reader can reject a false match
without opening either document.

Libraries: `snowballstemmer` (pure Python, no dependencies, the stemmer Sphinx and
Whoosh use) for stemming. BM25/TF-IDF is a few lines here: the one light library for it
(`rank-bm25`) needs numpy, last released in 2022, and hides the per-term weights the
evidence prints; scikit-learn would be a heavy dependency for a cosine.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

THRESHOLD = 0.21  # the middle of the calibration split's best range: bench/similarity.py
MIN_SHARED = 2  # shared specific terms: neither weak nor a component both name
WEAK_WEIGHT = 0.35
IDF_MIN_N = 50  # sentences; see Idf
MIN_COMPONENT_LENGTH = 3  # "db" or "ui" in prose is too often not the component

_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")
_IDENTIFIER = re.compile(r"^(?=.*[a-z])[a-z0-9]+(?:[-_][a-z0-9]+)+$")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOPWORDS = _words(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers him his how i if in into is
    it its itself just me more most my no nor not now of off on once only or other our
    out over own same she should so some such than that the their them then there these
    they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yet still already us via per
    """
)
# Words every postmortem uses whatever went wrong: they say *that* something was
# wrong, not *what*. Written unstemmed; compared after stemming.
DOMAIN_STOPWORDS = _words(
    """
    missing lack lacked lacking insufficient inadequate poor poorly proper properly
    correct correctly incorrect incorrectly enough adequate sufficient never
    incident incidents issue issues problem problems cause caused causing led lead result
    resulted root contributing factor factors impact impacted affected
    again repeated time times minute minutes hour hours day days week weeks
    new old first last several many multiple during within without
    team teams engineer engineers someone nobody anyone people person
    get got make made take took use used using need needed run ran running
    every once one two three four five ten twelve twenty
    """
)
# Generic but not empty: they join a shared specific term, never make a match alone.
WEAK = _words(
    """
    alert alerting alarm monitor monitoring metric metrics dashboard dashboards page paged
    paging runbook runbooks test tests testing tested coverage documentation docs doc
    process manual manually check checks review reviewed error errors failure failures
    fail failed failing outage service services system systems change changes update
    updates customer customers user users request requests detect detected detection
    slow high low increase increased large small signal noisy notice noticed
    """
)
# A component word followed by one of these names something else: "an edge case", "the
# deploy dashboard", "the search team".
NOT_COMPONENT_HEADS = _words(
    """
    case cases dashboard dashboards page pages channel channels meeting meetings review
    reviews doc docs documentation wiki calendar freeze window team teams owner owners
    ticket tickets template survey
    """
)

# Multi-word vocabulary folded before stemming; left: regex on the lower-cased text.
PHRASES: tuple[tuple[str, str], ...] = (
    (r"out[ -]of[ -]memory|oom[ -]?kill(?:ed|er|s)?", "oom"),
    (r"connection[ -]pools?|conn(?:ection)?[ -]?pool|pool of connections", "connpool"),
    (r"rate[ -]?limit(?:s|ed|ing|er)?|throttl(?:e|ed|ing)", "ratelimit"),
    (r"time[ -]?outs?|timed[ -]out", "timeout"),
    (
        r"no space left(?: on device)?|disk[ -]full|full disk|filled (?:up )?the (?:\w+ )?disk",
        "diskfull",
    ),
    (r"feature[ -]flags?|feature[ -]toggles?", "featureflag"),
    (r"dead[ -]letter(?: queue)?|dlq", "deadletter"),
    (r"health[ -]?checks?|readiness probes?|liveness probes?", "healthcheck"),
    (r"fail[ -]?over(?:s|ed)?", "failover"),
    (r"load[ -]balancers?", "lb"),
)
_PHRASE_RES = tuple((re.compile(rf"\b(?:{p})\b"), term) for p, term in PHRASES)

# Canonical term -> the words that mean it here. Both sides are stemmed when the table
# is built, so inflections ("backlogged", "certificates") need no entries.
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "lag": ("backlog", "lagging", "behind"),
    "db": ("database", "postgres", "postgresql", "mysql", "rds"),
    "cert": ("certificate", "certs", "x509"),
    "tls": ("ssl", "https"),
    "expire": ("expiry", "expiration", "lapse"),
    "oom": ("oomkill", "oomkilled"),
    "memory": ("mem", "heap", "ram"),
    "kubernetes": ("k8s", "kube"),
    "replica": ("replication", "replicate", "secondary"),
    "config": ("configuration", "configure", "misconfiguration", "misconfigured", "setting"),
    "deploy": ("deployment", "rollout", "release", "ship"),
    "rollback": ("revert", "roll-back"),
    "queue": ("kafka", "sqs", "rabbitmq", "topic"),
    "consumer": ("subscriber", "worker"),
    "dns": ("resolver", "nameserver"),
    "disk": ("volume", "storage"),
    "cache": ("redis", "memcached"),
    "retry": ("retries", "backoff"),
    "exhaust": ("exhaustion", "saturate", "saturation", "deplete"),
    "quota": ("limit", "cap"),
    "cron": ("scheduled", "scheduler"),
    "canary": ("staged", "progressive"),
    "migration": ("migrate", "schema"),
    "lb": ("loadbalancer", "elb", "alb"),
}


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    # start-up: snowballstemmer imports all its 30 languages (~30 ms); `syncd similar`
    # answers from stored terms and `syncd search` from stems the archive keeps
    import snowballstemmer

    return snowballstemmer.stemmer("english")


# word -> stem, from the stemmer or from an earlier process (`learn_stems`): stemming the
# ~370 words of the tables below costs more than a whole `syncd search` may take.
_STEMS: dict[str, str] = {}
MAX_STEMS = 262_144  # words; a long-running worker's memo stays bounded


def stem(word: str) -> str:
    found = _STEMS.get(word)
    if found is None:
        if len(_STEMS) >= MAX_STEMS:
            _STEMS.clear()
        found = _STEMS[word] = str(_stemmer().stemWord(word))
    return found


def known_stems() -> dict[str, str]:
    """Every stem computed (or learnt) in this process, for `learn_stems` in the next."""
    return dict(_STEMS)


def learn_stems(known: Mapping[str, str]) -> None:
    """Stems an earlier process computed with the same stemmer (the archive index keeps
    them), so the stemmer is loaded only for a word none of them saw."""
    if len(_STEMS) + len(known) < MAX_STEMS:
        _STEMS.update(known)


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    """(stemmed synonym -> canonical term, dropped words, weak terms), built on first use."""
    synonyms: dict[str, str] = {}
    for canonical, variants in SYNONYMS.items():
        target = canonical if "-" in canonical else stem(canonical)
        for word in (canonical, *variants):
            synonyms[word if "-" in word else stem(word)] = target
    drop = frozenset(stem(w) for w in _STOPWORDS | DOMAIN_STOPWORDS) | _STOPWORDS
    weak = frozenset(synonyms.get(stem(w), stem(w)) for w in WEAK)
    return synonyms, drop, weak


# Changes whenever the vocabulary does, so an index of terms built by an older version
# is rebuilt rather than compared with terms it would no longer produce.
ANALYSER_VERSION = hashlib.sha256(
    repr(
        (
            sorted(SYNONYMS.items()),
            sorted(_STOPWORDS),
            sorted(DOMAIN_STOPWORDS),
            sorted(WEAK),
            *PHRASES,
        )
    ).encode()
).hexdigest()[:16]
_PHRASE_TERMS = frozenset(term for _p, term in PHRASES)


@dataclass(frozen=True)
class Terms:
    """The terms of one sentence, and for each the words of the sentence it came from."""

    text: str
    surface: Mapping[str, tuple[str, ...]]  # term -> words as written (first seen order)
    weak: frozenset[str] = frozenset()  # those of the terms that are WEAK

    @property
    def set(self) -> frozenset[str]:
        return frozenset(self.surface)

    @property
    def specific(self) -> frozenset[str]:
        return self.set - self.weak


def is_weak(term: str) -> bool:
    return term in _tables()[2]


def _term_of(word: str) -> str | None:
    synonyms, drop, _weak = _tables()
    if word in drop or len(word) < 2 or word.isdigit():
        return None
    if _IDENTIFIER.match(word) or word in _PHRASE_TERMS:
        return word  # a name (db-primary) or a folded phrase: kept whole
    stemmed = stem(word)
    if stemmed in drop:
        return None
    return synonyms.get(stemmed, stemmed)


@lru_cache(maxsize=16384)
def terms(text: str) -> Terms:
    """The normalised terms of `text` (see the module docstring), memoised: factor
    sentences repeat across a corpus."""
    return analyse(text)


def analyse(text: str) -> Terms:
    """`terms` without the memo, for long texts seen once (a whole document)."""
    lowered = text.lower()
    surface: dict[str, list[str]] = {}
    for pattern, term in _PHRASE_RES:
        for found in pattern.finditer(lowered):
            surface.setdefault(term, []).append(found.group(0))
        lowered = pattern.sub(f" {term} ", lowered)
    for word in _WORD.findall(lowered):
        word = word.strip(".")
        kept = _term_of(word)
        if kept is None:
            continue
        words = surface.setdefault(kept, [])
        if kept in _PHRASE_TERMS and word == kept and words:
            continue  # already recorded with the phrase as written
        if word not in words:
            words.append(word)
    weak = _tables()[2]
    return Terms(
        text,
        {t: tuple(dict.fromkeys(w)) for t, w in surface.items()},
        frozenset(t for t in surface if t in weak),
    )


# --------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class Idf:
    """BM25 inverse document frequency over a collection of sentences (or documents)."""

    df: Mapping[str, int]
    n: int

    @classmethod
    def of(cls, term_sets: Iterable[frozenset[str]]) -> Idf:
        df: Counter[str] = Counter()
        n = 0
        for s in term_sets:
            df.update(s)
            n += 1
        return cls(df, n)

    def __call__(self, term: str) -> float:
        d = self.df.get(term, 0)
        # A small archive cannot tell rare words from common ones (in 3 postmortems that
        # all say "certificate", it would weigh nothing): count at least IDF_MIN_N.
        n = max(self.n, IDF_MIN_N)
        return math.log(1 + (n - d + 0.5) / (d + 0.5))


def weight(term: str, idf: Idf, weak: bool) -> float:
    w = idf(term)
    return w * WEAK_WEIGHT if weak else w


@dataclass(frozen=True)
class SharedTerm:
    term: str
    ours: tuple[str, ...]  # the words of the first sentence
    theirs: tuple[str, ...]  # the words of the second sentence
    weak: bool

    def describe(self) -> str:
        words = list(dict.fromkeys((*self.ours, *self.theirs)))
        shown = " ~ ".join(words) if len(words) > 1 else words[0]
        return shown if not self.weak else f"{shown} (weak)"


@dataclass(frozen=True)
class FactorMatch:
    """Evidence that two factor sentences say the same thing."""

    sentence: str  # of the incident being examined (the later one)
    other: str  # of the other incident
    score: float
    shared: tuple[SharedTerm, ...]

    def describe(self) -> str:
        terms_ = ", ".join(s.describe() for s in self.shared)
        return f'"{self.sentence}" ~ "{self.other}" (score {self.score:.2f}; shared: {terms_})'

    def as_json(self) -> dict[str, object]:
        return {
            "sentence": self.sentence,
            "other": self.other,
            "score": self.score,
            "shared_terms": [
                {"term": s.term, "words": list(s.ours), "other_words": list(s.theirs)}
                for s in self.shared
            ],
        }


def score_pair(
    a: Terms, b: Terms, idf: Idf, components: frozenset[str] = frozenset()
) -> FactorMatch | None:
    """The match between two factor sentences, or None when they do not match."""
    shared = a.set & b.set
    # The same service named twice says where, not what went wrong: `components` (those
    # a factor of each incident names) and weak terms do not count towards MIN_SHARED.
    if len(shared - a.weak - components) < MIN_SHARED:
        return None
    score = _cosine(a, b, shared, idf)
    if score < THRESHOLD:
        return None
    return _match(a, b, shared, score, idf)


def cosine(a: Terms, b: Terms, idf: Idf) -> float:
    """The raw score, for calibration and ranking (no match rules applied)."""
    return _cosine(a, b, a.set & b.set, idf)


def _cosine(a: Terms, b: Terms, shared: frozenset[str], idf: Idf) -> float:
    if not shared:
        return 0.0
    weak = a.weak | b.weak
    w = {t: weight(t, idf, t in weak) ** 2 for t in a.set | b.set}
    norm = math.sqrt(sum(w[t] for t in a.surface) * sum(w[t] for t in b.surface))
    return round(sum(w[t] for t in shared) / norm, 4) if norm else 0.0


def _match(a: Terms, b: Terms, shared: frozenset[str], score: float, idf: Idf) -> FactorMatch:
    # Heaviest shared term first: the one that decided the match.
    ordered = sorted(shared, key=lambda t: (-weight(t, idf, t in a.weak), t))
    return FactorMatch(
        a.text,
        b.text,
        score,
        tuple(SharedTerm(t, a.surface[t], b.surface[t], t in a.weak) for t in ordered),
    )


# --------------------------------------------------------------------------- components


def _component_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])(?:\s+(\w+))?")


_patterns: dict[str, re.Pattern[str]] = {}


def names_component(sentence: str, name: str) -> bool:
    """Whether `sentence` names the component `name` (not "an edge case" for `edge`)."""
    lowered = sentence.lower()
    if name not in lowered:
        return False
    pattern = _patterns.get(name)
    if pattern is None:
        pattern = _patterns[name] = _component_pattern(name)
    return any((m.group(1) or "") not in NOT_COMPONENT_HEADS for m in pattern.finditer(lowered))


def identifiers(sentence: str) -> set[str]:
    """Identifier-like names written in a sentence (`db-primary`, `payments_api`)."""
    return {w for w in _WORD.findall(sentence.lower()) if _IDENTIFIER.match(w)}


@dataclass(frozen=True)
class ComponentMention:
    name: str
    sentence: str  # the factor of the incident that names it


def sentence_components(sentence: str, known: frozenset[str]) -> frozenset[str]:
    """The known components and identifiers one sentence names."""
    lowered = sentence.lower()
    return frozenset(identifiers(sentence)) | {
        name
        for name in known
        if len(name) >= MIN_COMPONENT_LENGTH and name in lowered and names_component(sentence, name)
    }


def component_mentions(factors: Sequence[str], known: frozenset[str]) -> dict[str, str]:
    """{component: the first factor naming it} for the known components and identifiers
    the factors name."""
    out: dict[str, str] = {}
    for sentence in factors:
        for name in sorted(sentence_components(sentence, known)):
            out.setdefault(name, sentence)
    return out


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


# --------------------------------------------------------------------------- incidents


@dataclass(frozen=True)
class Profile:
    """What similarity looks at in one incident: its factor sentences and components."""

    key: str  # a path
    factors: tuple[Terms, ...]
    components: Mapping[str, str] = field(default_factory=dict)  # name -> naming sentence
    named: tuple[frozenset[str], ...] = ()  # the components each factor sentence names

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.components)


def sentences_of(factors: Sequence[str]) -> list[str]:
    """The distinct sentences of a document's contributing factors, in order."""
    return list(dict.fromkeys(s for f in factors for s in split_sentences(f)))


def profile(key: str, factors: Sequence[str], known: frozenset[str]) -> Profile:
    return stored_profile(key, [terms(s) for s in sentences_of(factors)], known)


def stored_profile(key: str, factor_terms: Sequence[Terms], known: frozenset[str]) -> Profile:
    """A profile from factor sentences already analysed (an index stores them)."""
    named = tuple(sentence_components(t.text, known) for t in factor_terms)
    components: dict[str, str] = {}
    for t, names in zip(factor_terms, named, strict=True):
        for name in sorted(names):
            components.setdefault(name, t.text)
    return Profile(key, tuple(factor_terms), components, named)


def match_sentences(
    a: Terms, b: Terms, names_a: frozenset[str], names_b: frozenset[str], idf: Idf
) -> FactorMatch | None:
    """`score_pair` where the components both sentences name do not count as evidence of
    the same cause (they say where, not what)."""
    both = names_a & names_b
    component_terms = frozenset(t for name in both for t in terms(name).set) if both else both
    return score_pair(a, b, idf, component_terms)


@dataclass(frozen=True)
class Comparison:
    """How incident `a` relates to `b`: every matching factor pair (best first), and the
    components a factor of each names."""

    factors: tuple[FactorMatch, ...]
    components: tuple[tuple[str, str, str], ...]  # (name, sentence of a, sentence of b)

    @property
    def related(self) -> bool:
        """Whether `a` shares a contributing factor with `b` (the recurrence question)."""
        return bool(self.factors)

    @property
    def score(self) -> float:
        return self.factors[0].score if self.factors else 0.0


def compare(a: Profile, b: Profile, idf: Idf) -> Comparison:
    """For each factor of `a`, its best match among `b`'s factors (if any)."""
    shared_components = a.names & b.names
    found = []
    for fa, names_a in zip(a.factors, a.named, strict=True):
        best: FactorMatch | None = None
        for fb, names_b in zip(b.factors, b.named, strict=True):
            m = match_sentences(fa, fb, names_a, names_b, idf)
            if m is not None and (best is None or m.score > best.score):
                best = m
        if best is not None:
            found.append(best)
    found.sort(key=lambda m: -m.score)
    comps = tuple(
        (name, a.components[name], b.components[name]) for name in sorted(shared_components)
    )
    return Comparison(tuple(found), comps)


def factor_idf(profiles: Iterable[Profile]) -> Idf:
    """Idf over every factor sentence of a corpus."""
    return Idf.of(t.set for p in profiles for t in p.factors)
