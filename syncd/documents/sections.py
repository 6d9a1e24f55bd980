"""Which sections of a postmortem hold its action items: a score, not a word list.

Real documents put follow-ups under dozens of headings ("Looking forward", "How are we
preventing it from happening again?", "再発防止策", "Maßnahmen") and put look-alike lists
under others (timeline bullets, "Mitigations" that were done during the incident, a
process checklist). So each section gets a score from three parts:

  heading  the heading's words, in several languages: +3 for words that name follow-up
           work, +1.5 for words that sometimes do ("Mitigation", "Lessons learned"),
           -4 for words that name something else (timeline, impact, root cause, ...)
  content  the shape of the lines directly under it: verb-led or "we will" items with an
           owner, a date, a ticket or a checkbox count for it; past-tense narration,
           questions and timestamps against it (-3 .. +3)
  place    the document's title and the first sections are rarely follow-ups (-1 / +0.5)

and items are taken from sections scoring at least THRESHOLD. A subsection of a taken
section is taken too unless its own heading or content says otherwise. Config regexes
(`[docs] action_sections` / `ignore_sections`) and a document's front matter
(`action_sections:` / `ignore_sections:`) override the score.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncd.documents.cells import HANDLE, JIRA_KEY, URL
from syncd.documents.vocab import strip_markup

if TYPE_CHECKING:  # the parser must not load pydantic at start-up
    from syncd.config import DocsSettings

THRESHOLD = 2.5

# Heading words that name follow-up work. Matched anywhere in the heading (lower-cased).
_STRONG = re.compile(
    r"""action[\s_-]*items?|action\s+plan|\bactions?\b|actionables?|
    remediations?|follow[\s-]?ups?|followups|corrective|preventa?t?ive|
    next\s+steps|to-?dos?|\btasks\b|work\s+items|repair\s+items|
    improvements?|going\s+forward|looking\s+forward|what(?:'s|\s+is)\s+next|
    what\s+we(?:'ll|\s+will|'re\s+going\s+to|\s+are\s+going\s+to)\s+(?:do|change)|
    what\s+we(?:'re|\s+are)\s+(?:doing|changing)|(?:changes|things)\s+we(?:'re|\s+are|\s+will)|
    prevent(?:ing|ion)?\b|recurrence|recommendations|learnings\s+and\s+next|
    # German, Dutch
    ma(?:ß|ss)nahmen|verbesserung|aufgaben|nächste\s+schritte|verbeterpunten|acties|
    maatregelen|vervolgstappen|
    # French, Spanish, Portuguese, Italian
    actions?\s+correctives?|plan\s+d'action|mesures|am[ée]liorations?|prochaines\s+[ée]tapes|
    acciones|pr[óo]ximos\s+pas(?:os|sos)|tareas|mejoras|a[çc][õo]es|melhorias|
    azioni|provvedimenti|miglioramenti|prossimi\s+passi|
    # Japanese, Chinese, Korean
    再発防止|対策|恒久対応|改善|アクション|今後の対応|
    改进|措施|后续|行动项|待办|
    재발\s*방지|대책|개선|후속\s*조치|조치\s*사항""",
    re.IGNORECASE | re.VERBOSE,
)
# Words that sometimes head follow-ups and sometimes head a narrative.
_WEAK = re.compile(
    r"mitigations?|lessons\s+learned|learnings|what\s+we\s+learned|conclusions?|"
    r"recommend|fixes|changes|follow",
    re.IGNORECASE,
)
# Words that name other sections; a list under them is not follow-up work.
_NEGATIVE = re.compile(
    r"""timeline|chronolog|\bablauf\b|l[íi]nea\s+de\s+tiempo|cronologia|経緯|时间线|타임라인|
    \bimpact|auswirkung|影響|影响|영향|summary|overview|r[ée]sum[ée]|resumen|resumo|
    riepilogo|zusammenfassung|概要|概述|개요|
    root\s+causes?|\bcauses?\b|ursache|causa|oorzaak|原因|根因|원인|contributing|
    \bfactors?\b|whys\b|\btrigger|
    detection|what\s+went|went\s+(?:well|wrong)|where\s+we\s+got\s+lucky|glossary|
    appendix|background|responders|participants|questions?\b|checklist|
    resolution|recovery|supporting|description|details|what\s+happened|
    why\s+did|lead-up|notes?\b|findings|is\s+this\s+a\s+pattern|
    暫定対応|応急|临时""",
    re.IGNORECASE | re.VERBOSE,
)

# First words of an item that asks for work: English imperatives (the long tail of
# real follow-ups), plus "we will / we'll / we are going to / we are adding".
IMPERATIVE_VERBS: frozenset[str] = frozenset({
    "add", "adopt", "alert", "allow", "audit", "automate", "avoid", "back", "backfill",
    "block", "build", "bump", "cap", "change", "check", "clarify", "clean", "configure",
    "consider", "consolidate", "create", "decommission", "define", "delete", "deploy",
    "deprecate", "detect", "disable", "document", "drop", "enable", "enforce", "ensure",
    "establish", "evaluate", "expand", "explore", "export", "extend", "fail", "find", "fix",
    "follow", "gate", "harden", "identify", "implement", "improve", "increase",
    "instrument", "introduce", "investigate", "isolate", "keep", "limit", "load-test",
    "log", "make", "measure", "migrate", "mirror", "monitor", "move", "notify", "page",
    "persist", "pin", "plan", "prevent", "publish", "raise", "rate", "reconcile", "reduce",
    "refactor", "reject", "remove", "rename", "replace", "replay", "request", "require",
    "restore", "retire", "review", "rewrite", "roll", "rotate", "run", "schedule", "scale",
    "separate", "set", "ship", "shard", "simplify", "split", "standardise", "standardize",
    "start", "stop", "store", "subscribe", "switch", "tag", "template", "test", "track",
    "train", "tune", "turn", "update", "upgrade", "use", "validate", "verify", "version",
    "warm", "write", "apply", "archive", "assign", "backport", "benchmark", "cache",
    "capture", "codify", "communicate", "confirm", "deduplicate", "design", "discuss",
    "educate", "escalate", "expose", "extract", "generate", "include", "inform",
    "install", "integrate", "label", "load", "lower", "maintain", "merge", "modify",
    "patch", "perform", "prioritise", "prioritize", "prototype", "provide", "provision",
    "purge", "re-enable", "rebuild", "redesign", "refresh", "register", "release", "repair",
    "report", "reproduce", "research", "reset", "resize", "restrict", "retry", "revert",
    "revisit", "revoke", "secure", "send", "share", "simulate", "surface", "sync", "teach",
    "throttle", "trigger", "triage", "unify", "warn", "widen", "yank", "alarm", "decouple",
    "downgrade", "encrypt", "exercise", "fence", "freeze", "hold", "lock", "onboard",
    "open", "partition", "pause", "reach", "rehearse", "route", "sandbox", "script",
    "tighten", "upstream",
})  # fmt: skip
_FUTURE = re.compile(
    r"^(?:we\s+will|we'll|we(?:\s+are|'re)\s+(?:also\s+|now\s+)?(?:going\s+to|adding|"
    r"changing|moving|building|introducing|working\s+on|investing|improving|reviewing|"
    r"rolling|implementing|updating|removing|migrating|extending|expanding))\b",
    re.IGNORECASE,
)
_PAST = re.compile(
    r"^(?:[A-Z][a-z]+ed|(?:Rolled|Ran|Made|Built|Took|Put|Set|Sent|Shut|Spun|Wrote|Rebuilt|"
    r"Re-ran|Rebooted|Restarted|Reverted|Undid|Went|Found|Got|Kept|Led|Left))\b"
)
_TIMESTAMP = re.compile(r"^(?:\d{1,2}:\d{2}|\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2})")
_CHECKBOX = re.compile(r"^\[[ xX/~-]\]\s")
_OWNER_WORD = re.compile(
    r"\b(?:owner|assignee|dri|responsable|responsabile|verantwortlich)\b\s*[:：]|担当|负责人|담당",
    re.IGNORECASE,
)
_DATE_LIKE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{4}/\d{1,2}/\d{1,2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b|"
    r"\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|\bQ[1-4]\b",
    re.IGNORECASE,
)
_LABEL_LINE = re.compile(r"^(?:\*\*|__)?[\w ./()-]{1,30}?(?:\*\*|__)?\s*[:：]")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


_DESCRIBING = re.compile(r"\b(?:was|were|is|are|had|has|have|did|does|got|caused|failed)\b", re.I)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_TEAM_TAG = re.compile(r"^\[[^\]]{1,30}\]\s*")  # "[Team] Investigate …"
_OWNER_COLON = re.compile(r"^(?:[A-Z@][\w@.-]*(?:\s*[+&/]\s*|\s+)?){1,4}:\s+")  # "Ops: …"


def first_word(text: str) -> str:
    word = _WORD.search(text[:40])
    return word.group(0).lower() if word else ""


@functools.lru_cache(maxsize=8192)
def starts_with_verb(text: str) -> bool:
    """Whether an item's text opens like a request for work ("Add …", "We will …")."""
    plain = strip_markup(text).lstrip("✅✔☑🔄⏳⬜❌ ").strip().replace("’", "'")
    plain = _TEAM_TAG.sub("", plain)
    plain = _OWNER_COLON.sub("", plain)
    if _FUTURE.match(plain):
        return True
    word = first_word(plain)
    if word not in IMPERATIVE_VERBS or plain[:1].islower():
        return False
    # "Alert thresholds were tuned …": a noun followed by its verb describes, not asks
    return not _DESCRIBING.search(" ".join(plain.split()[1:6]))


@dataclass(frozen=True)
class LineShape:
    """What one list item or paragraph line under a heading looks like."""

    action_like: bool  # verb-led / "we will", or carries an owner/ticket/checkbox/date
    evidence: bool  # carries an owner, ticket, date or checkbox
    against: bool  # past-tense narration, a question, a timestamped event


@functools.lru_cache(maxsize=8192)
def line_shape(text: str) -> LineShape:
    body = _LIST_MARKER.sub("", text, count=1).strip()
    checkbox = bool(_CHECKBOX.match(body))
    body = _CHECKBOX.sub("", body).strip()
    plain = strip_markup(body)
    evidence = (
        checkbox
        or bool(HANDLE.search(body))
        or bool(_OWNER_WORD.search(body))
        or bool(JIRA_KEY.search(body))
        or bool(re.search(r"(?<![\w/&])#\d+\b", body))
        or bool(URL.search(body) and re.search(r"/(?:issues?|browse|tickets?|pull)/", body))
        or bool(_DATE_LIKE.search(body))
    )
    verb = starts_with_verb(plain)
    if not verb and _LABEL_LINE.match(body):
        evidence = False  # "**Date:** 2026-03-01" is metadata, not a dated item
    against = (
        plain.rstrip().endswith("?")
        or bool(_TIMESTAMP.match(plain))
        or (bool(_PAST.match(plain)) and not verb)
    )
    return LineShape(
        action_like=verb or (evidence and not against), evidence=evidence, against=against
    )


@dataclass(frozen=True)
class SectionRules:
    """Overrides: regexes matched (case-insensitively, anywhere) against heading text."""

    action: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    source: str = "config"

    def merged(self, other: SectionRules) -> SectionRules:
        return SectionRules(self.action + other.action, self.ignore + other.ignore, other.source)

    @functools.cached_property
    def _action(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in self.action)

    @functools.cached_property
    def _ignore(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.IGNORECASE) for p in self.ignore)

    def verdict(self, heading: str) -> tuple[bool | None, str]:
        for pattern in self._ignore:
            if pattern.search(heading):
                return False, f"ignore_sections /{pattern.pattern}/ ({self.source})"
        for pattern in self._action:
            if pattern.search(heading):
                return True, f"action_sections /{pattern.pattern}/ ({self.source})"
        return None, ""


def rules_from_settings(docs: DocsSettings) -> SectionRules:
    """`[docs] action_sections` / `ignore_sections` as parser rules."""
    return SectionRules(tuple(docs.action_sections), tuple(docs.ignore_sections), "config")


def compile_rules(patterns: Sequence[str]) -> list[str]:
    """Validate regexes (config and front matter); returns the error messages."""
    errors = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append(f"{pattern!r}: {exc}")
    return errors


@dataclass(slots=True)
class Score:
    heading: float
    content: float
    place: float
    units: int  # list items / lines the content part looked at
    parts: tuple[str, ...] = field(default=())  # words that decided the heading part

    @property
    def total(self) -> float:
        return round(self.heading + self.content + self.place, 2)

    @property
    def negative(self) -> bool:
        """The section's own signals say it is not follow-up work."""
        return self.heading < 0 or (self.heading <= 0 and self.content < -1)


# The heading words are matched against the lower-cased heading without IGNORECASE: the
# same matches (the patterns are lower case) at a third of the cost, since sre folds the
# case of every character it compares. Two lower-case letters are also equal to an ASCII
# one under IGNORECASE (dotless ı to i, long ſ to s): a heading with either is matched by
# the IGNORECASE patterns themselves (tests/documents/test_sections.py checks the list).
CASE_FOLDED_TOO = ("ı", "ſ")
_LOWER = tuple(re.compile(p.pattern, p.flags & ~re.IGNORECASE) for p in (_STRONG, _NEGATIVE, _WEAK))


@functools.lru_cache(maxsize=4096)
def heading_score(raw: str) -> tuple[float, tuple[str, ...]]:
    text = strip_markup(raw).lower()
    folded = any(ch in text for ch in CASE_FOLDED_TOO)
    strong_words, negative_words, weak_words = (_STRONG, _NEGATIVE, _WEAK) if folded else _LOWER
    strong = strong_words.search(text)
    if strong:
        return 3.0, (f"+3 heading '{strong.group(0).strip()}'",)
    negative = negative_words.search(text)
    if negative:
        return -4.0, (f"-4 heading '{negative.group(0).strip()}'",)
    weak = weak_words.search(text)
    if weak:
        return 1.5, (f"+1.5 heading '{weak.group(0).strip()}'",)
    return 0.0, ()


def content_score(lines: Sequence[str]) -> tuple[float, int]:
    """-3 .. +3 from the share of action-like and narrative lines (top-level units)."""
    shapes = [line_shape(text) for text in lines if text.strip()]
    if not shapes:
        return 0.0, 0
    good = sum(1 for s in shapes if s.action_like and not s.against)
    bad = sum(1 for s in shapes if s.against)
    evidence = sum(1 for s in shapes if s.evidence and not s.against)
    share = (good - bad) / len(shapes)
    # a lone plain line proves little; several with owners/tickets prove a lot
    # bare sentences prove little ("Cache stampede after a cold start" opens with a verb
    # too); lines with owners, tickets, dates or checkboxes prove a lot
    weight = 3.0 if evidence * 2 >= len(shapes) else 2.0 if evidence else 1.5
    if len(shapes) == 1 and not evidence:
        weight = 1.0
    return round(share * weight, 2), len(shapes)


def place_score(index: int, count: int, level: int, first_h1: bool) -> float:
    if first_h1:
        return -2.0  # the document title
    if count >= 3 and index < count // 3 and level <= 2:
        return -1.0
    if count >= 3 and index >= count // 2:
        return 0.5
    return 0.0
