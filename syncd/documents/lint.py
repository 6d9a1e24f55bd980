"""Lint postmortem documents for action items that will rot.

The rules encode what the postmortem literature keeps repeating: an action item
with no owner, no date or no tracking is a wish, not a fix; the owner is one
person, not a team; the action is specific and measurable ("Add alert for config
drift > 5%"), not an exhortation ("Be more careful", "Improve monitoring").

Everything here is pure: a rule looks at one parsed `Postmortem` and yields hits;
`lint_document` stamps them with the rule id and the path. No I/O, no clock - a
rule that needs "now" reads `LintConfig.today`, so the same input always gives
the same findings (a pre-commit hook must not start failing on its own).

The vocabulary the heuristics use is module-level data below; extend the tuples
rather than the regexes in the rule bodies.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal, NamedTuple

from syncd.common.globs import match_glob
from syncd.model import ActionItem, Postmortem

# -- vocabulary ---------------------------------------------------------------------
#
# Owners. An owner is classified by its *head noun* (the last word of a noun phrase:
# "SRE team lead" is a lead, "DBA team" is a team). Two word lists decide it:
#
# - COLLECTIVE_NOUNS are groups whatever precedes them: "backend squad",
#   "@platform-team", "all engineers".
# - TEAM_WORDS are functions/departments that name a team only when the whole owner
#   is made of them: "ops", "@sre", "Platform eng", "@sre-oncall". They are not
#   enough on their own next to other words, so personal handles and names that
#   merely contain one ("@tom_sre", "@alex_dev", "Kim Eng") stay people.
# - ROLE_NOUNS as the head mean one person holding a role, which is a fine owner
#   (seed: "Owner: SRE team lead" is given as a good example).

COLLECTIVE_NOUNS: frozenset[str] = frozenset({
    "team", "teams", "squad", "squads", "group", "groups", "guild", "guilds", "crew",
    "department", "dept", "org", "orgs", "organisation", "organization", "division",
    "unit", "pod", "tribe", "chapter", "committee", "folks", "people", "staff",
    "everyone", "everybody", "all", "us", "we", "engineers", "developers", "devs",
    "sres", "admins", "sysadmins", "dbas", "owners", "members", "leads", "managers",
})  # fmt: skip

TEAM_WORDS: frozenset[str] = frozenset({
    "sre", "ops", "devops", "dev", "eng", "engineering", "infra", "infrastructure",
    "platform", "dba", "qa", "security", "secops", "netops", "network", "networking",
    "it", "support", "backend", "frontend", "mobile", "data", "product", "leadership",
    "management", "oncall", "on-call", "release", "tooling", "reliability",
})  # fmt: skip

ROLE_NOUNS: frozenset[str] = frozenset({
    "lead", "leader", "manager", "mgr", "owner", "captain", "director", "head", "chair",
    "champion", "tl", "em", "pm", "tpm", "vp", "cto", "ceo", "cio", "ciso", "architect",
    "engineer", "commander", "ic", "dri",
})  # fmt: skip

# Leading words that do not change what the owner is ("the team", "our SRE team",
# "the entire team"). Dropped only while more words remain, so a bare "all" is kept.
OWNER_DETERMINERS: frozenset[str] = frozenset({
    "the", "our", "entire", "whole", "all", "every", "each", "any",
})  # fmt: skip

# An owner cell that names nobody. Treated as missing-owner, not team-owner: "TBD"
# is the same failure as an empty cell, just better hidden.
OWNER_PLACEHOLDER = re.compile(
    r"""^(?:
        tbd|tba|tbc|todo|none|nobody|no\ one|noone|unassigned|unknown|someone|somebody
        |n/?a|\?+|-+|—|–|x+|\.\.\.|…
        |[\[<{]?\s*@?(?:owner|assignee|name|person|who)\s*\d*\s*[\]>}]?   # [@owner1] <owner>
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# Due / ticket cells that say "nothing here yet".
VALUE_PLACEHOLDER = re.compile(
    r"^(?:tbd|tba|tbc|todo|none|n/?a|\?+|-+|—|–|x+|\.\.\.|…|pending|unknown)$", re.IGNORECASE
)

# Document statuses after which every open item is expected to be tracked.
TRACKED_DOC_STATUSES: frozenset[str] = frozenset({
    "reviewed", "final", "finalized", "finalised", "published", "complete", "completed",
    "closed", "approved", "done",
})  # fmt: skip

# Vague actions. Each group has its own message because the fix differs.

# Hedges stripped before matching, so "We should improve monitoring" is judged as
# "improve monitoring".
ACTION_HEDGES = re.compile(
    r"^(?:(?:we|you|i|they|the\ team|team)\s+)?"
    r"(?:should|must|need\ to|needs\ to|will|shall|have\ to|has\ to|want\ to|ought\ to)\s+"
    r"|^(?:let'?s|please|todo:?|action:?|ai:)\s+",
    re.VERBOSE,
)

# Rely on people trying harder; nothing in the system changes. Matched anywhere:
# "Review configuration files more thoroughly before merging" is the seed example.
VIGILANCE_ANYWHERE: tuple[str, ...] = (
    r"\bbe (?:more )?careful\b",
    r"\bmore careful(?:ly)?\b",
    r"\bmore thorough(?:ly)?\b",
    r"\bmore (?:vigilant|diligent|attentive|cautious)\b",
    r"\bbe (?:more )?(?:vigilant|diligent|attentive|cautious)\b",
    r"\bpay (?:more |closer )?attention\b",
)
# The same, but only as the opening words ("A CI step that double-checks X" is fine).
VIGILANCE_START: tuple[str, ...] = ("make sure", "double-check", "double check", "remember to")

# Not a commitment to do anything.
UNCOMMITTED_START: tuple[str, ...] = (
    "consider", "investigate", "look into", "look at", "think about", "explore",
    "try to", "maybe", "possibly", "perhaps", "see if", "see whether", "discuss",
    "evaluate whether", "figure out",
)  # fmt: skip

# Tell people instead of changing the system.
EXHORTATION_START: tuple[str, ...] = (
    "educate", "remind", "encourage", "raise awareness", "reiterate", "emphasise",
    "emphasize",
)  # fmt: skip

# Verbs that need a measurable target to mean anything: "Improve monitoring" is
# vague, "Improve checkout p99 to under 300 ms" is not.
UNMEASURED_START: tuple[str, ...] = (
    "improve", "enhance", "optimise", "optimize", "strengthen", "harden", "monitor",
    "make it better", "make things better",
)  # fmt: skip

# "Add more tests" with nothing after it: not scoped.
GENERIC_MORE = re.compile(
    r"^(?:add|write|create|have|get|do|need)\s+(?:more|additional|extra|some|better)\s+"
    r"(?:unit\s+|integration\s+|e2e\s+|end-to-end\s+|automated\s+)?"
    r"(?:tests?|testing|test coverage|coverage|monitoring|alerts?|alerting|logging|logs|"
    r"metrics|dashboards?|documentation|docs|checks|validation|observability|runbooks?)"
    r"(?:\s+(?:everywhere|in general|overall|across the board))?$"
)

# "Document better", "Ensure alerting is better": "better" is not a target.
BETTER = re.compile(r"(?:^|\s)better$|\b(?:is|are|be|gets?|becomes?)\s+better\b")

# "Engineering team to review": who will look, not what will change.
BARE_VERB_END = re.compile(
    r"\bto\s+(?:review|investigate|discuss|look|check|decide|follow[\s-]up|think|sync|align)$"
)

# What makes an improvement measurable: a number not glued to a word ("80%", "5 s",
# "> 0.1"; not "p99" or "IPv6"), a comparison, or a named target (SLO, threshold).
MEASURABLE = re.compile(
    r"(?<![a-z0-9])\d|%|[<>≤≥]|\bthreshold\b|\bsl[oa]s?\b|"
    r"\b(?:below|under|above|less than|more than|fewer than|at least|at most|no more than)"
    r"\s+(?:the\s+)?(?:\d|sl[oa]|threshold|target|budget|baseline)"
)

MAX_VAGUE_WORDS = 2  # actions this short cannot say what "done" looks like
DUPLICATE_RATIO = 0.9  # difflib ratio above which two actions are the same item

# -- findings and config ------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: str  # doc path relative to the lint root, "/"-separated
    line: int  # 1-based line of the offending item (1 for whole-document findings)
    rule: str  # a key of RULES
    message: str
    hint: str  # one line: how to fix it

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)

    def format(self) -> str:
        """`path:line: rule: message (hint)` - the shape editors and CI logs link."""
        return f"{self.path}:{self.line}: {self.rule}: {self.message} (hint: {self.hint})"


ALL_RULES = "*"  # in an ignore entry: every rule


def _id_set(values: Iterable[str] | str) -> frozenset[str]:
    return frozenset({values}) if isinstance(values, str) else frozenset(values)


@dataclass(frozen=True)
class LintConfig:
    """What to check.

    `disable`: rule ids switched off everywhere.
    `ignore`: (glob, rule ids) pairs; a doc whose path relative to the lint root
    matches the glob skips those rules ("*" = all). Globs are those of `syncd.common.globs`,
    like every path pattern in the configuration (anchored; `**/x.md` for any depth).
    `today`: the date rules that need "now" compare against; None switches them off
    so lint results never change with the calendar unless asked to.
    `team_aliases`: extra owner names that are teams in this organisation
    ("payments sre", "@oncall-primary"), on top of the built-in vocabulary.
    """

    disable: frozenset[str] = frozenset()
    ignore: tuple[tuple[str, frozenset[str]], ...] = ()
    today: date | None = None
    team_aliases: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Config loaders hand over lists (or a lone string); normalise so the
        # dataclass stays hashable and "vague-action" is not read as its letters.
        object.__setattr__(self, "disable", _id_set(self.disable))
        object.__setattr__(
            self, "ignore", tuple((str(glob), _id_set(ids)) for glob, ids in self.ignore)
        )
        object.__setattr__(
            self, "team_aliases", frozenset(_owner_key(a) for a in _id_set(self.team_aliases))
        )
        # A typo in a rule id would silently disable nothing; fail loudly instead.
        named = set(self.disable).union(*(ids for _, ids in self.ignore))
        unknown = sorted(named - set(RULES) - {ALL_RULES})
        if unknown:
            raise ValueError(
                f"unknown lint rule(s): {', '.join(unknown)}; known: {', '.join(RULES)}"
            )

    def rules_for(self, rel_path: str) -> list[str]:
        """The rule ids that apply to the doc at `rel_path`, in registration order."""
        path = _posix(rel_path)
        off = set(self.disable)
        for glob, ids in self.ignore:
            if glob_matches(glob, path):
                off |= set(RULES) if ALL_RULES in ids else ids
        return [rule_id for rule_id in RULES if rule_id not in off]


# -- rule registry ------------------------------------------------------------------


class Hit(NamedTuple):
    """What a rule reports; `lint_document` adds the rule id and path."""

    line: int
    message: str
    hint: str


RuleCheck = Callable[[Postmortem, LintConfig], Iterable[Hit]]

RULES: dict[str, RuleCheck] = {}
RULE_DESCRIPTIONS: dict[str, str] = {}


def rule(rule_id: str, description: str) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule under a stable id with a one-line description."""

    def register(check: RuleCheck) -> RuleCheck:
        if rule_id in RULES:
            raise ValueError(f"duplicate lint rule id {rule_id!r}")
        RULES[rule_id] = check
        RULE_DESCRIPTIONS[rule_id] = description
        return check

    return register


def describe_rules() -> list[tuple[str, str]]:
    """(id, description) for every rule, in registration order (`--list-rules`)."""
    return [(rule_id, RULE_DESCRIPTIONS[rule_id]) for rule_id in RULES]


# -- helpers ------------------------------------------------------------------------


def _posix(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def glob_matches(glob: str, rel_path: str) -> bool:
    """Does `glob` match the relative path? (the dialect of `syncd.common.globs`)"""
    return match_glob(glob, rel_path)


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def _strip_markup(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = re.sub(r"[*`~]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _owner_key(owner: str) -> str:
    """Owner text reduced to what identifies it: no markup, qualifiers or clauses."""
    text = _strip_markup(owner)
    text = re.sub(r"\([^)]*\)", " ", text)  # "@alice (platform team)" is Alice
    text = re.split(r"\s+to\s+", text, maxsplit=1)[0]  # "Engineering team to review"
    text = re.sub(r"\bon\s+call\b", "on-call", text, flags=re.IGNORECASE)
    return re.sub(r"\s+", " ", text).strip(" \t\"'.,;:").lower()


OwnerKind = Literal["missing", "team", "person"]


def owner_kind(owner: str | None, team_aliases: frozenset[str] = frozenset()) -> OwnerKind:
    """Classify an owner cell. `team_aliases` are extra team names (already keyed)."""
    if owner is None:
        return "missing"
    # Placeholders are checked on the raw text too: "[@owner1]" is a template slot.
    if OWNER_PLACEHOLDER.match(_strip_markup(owner)):
        return "missing"
    key = _owner_key(owner)
    if not key or OWNER_PLACEHOLDER.match(key):
        return "missing"
    if key in team_aliases:
        return "team"
    teamish = COLLECTIVE_NOUNS | TEAM_WORDS
    if key.startswith("@"):
        handle = key[1:]
        if "/" in handle:
            return "team"  # GitHub team handle: @org/team
        parts = [p for p in re.split(r"[-_.]", handle) if p]
        if not parts:
            return "missing"
        if parts[-1] in ROLE_NOUNS:
            return "person"  # @payments-lead
        # @platform-team, @backend_squad; or made only of team words: @sre, @sre-oncall.
        if parts[-1] in COLLECTIVE_NOUNS or all(p in teamish for p in parts):
            return "team"
        return "person"  # @tom_sre, @alex_dev: a name with a team suffix
    words = re.findall(r"[\w'-]+", key)
    while len(words) > 1 and words[0] in OWNER_DETERMINERS:
        words = words[1:]
    if not words:
        return "missing"
    head = words[-1]
    head_last = head.rsplit("-", 1)[-1]  # "platform-team" → "team"
    if head in ROLE_NOUNS or head_last in ROLE_NOUNS:
        return "person"  # "SRE team lead", "engineering manager": one person
    if head in COLLECTIVE_NOUNS or head_last in COLLECTIVE_NOUNS:
        return "team"
    if all(w in teamish for w in words):
        return "team"  # "ops", "Platform eng", "SRE"; but not "Kim Eng"
    return "person"


_LEADING_NUMBER = re.compile(r"^\s*(?:[-*+]\s+)?(?:\[[ xX]\]\s*)?(?:#?\d+[.):]?\s+)?")


def _normalise_action(action: str) -> str:
    text = _strip_markup(action).lower()
    text = _LEADING_NUMBER.sub("", text)
    return re.sub(r"\s+", " ", text).strip(" \t.!;:,")


def _starts_with(text: str, phrases: Iterable[str]) -> str | None:
    for phrase in phrases:
        if text == phrase or text.startswith(phrase + " "):
            return phrase
    return None


def vague_reason(action: str) -> str | None:
    """Why an action is too vague to be completed, or None if it reads as concrete."""
    text = _normalise_action(action)
    for _ in range(2):  # "we should try to …": hedges can stack
        text = ACTION_HEDGES.sub("", text, count=1)
    if not text:
        return "is empty"
    if any(re.search(p, text) for p in VIGILANCE_ANYWHERE) or _starts_with(text, VIGILANCE_START):
        return "relies on people being more careful rather than changing the system"
    if verb := _starts_with(text, UNCOMMITTED_START):
        return f"is not a commitment ('{verb} …' has no end state)"
    if verb := _starts_with(text, EXHORTATION_START):
        return f"asks people to remember ('{verb} …') rather than changing the system"
    if GENERIC_MORE.match(text):
        return "is not scoped (more of what, where?)"
    if BETTER.search(text):
        return "has no measurable target ('better' than what?)"
    if (verb := _starts_with(text, UNMEASURED_START)) and not MEASURABLE.search(text):
        return f"has no measurable target ('{verb} …' by how much?)"
    if BARE_VERB_END.search(text):
        return "says who will look at it, not what will change"
    if len(text.split()) <= MAX_VAGUE_WORDS:
        return f"is too short to say what done looks like ({len(text.split())} words)"
    return None


def _dedup_key(action: str) -> str:
    text = _normalise_action(action)
    return re.sub(r"\s+", " ", re.sub(r"[^\w%<>=]+", " ", text)).strip()


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


def _is_duplicate(a: str, b: str) -> bool:
    if not a or not b:
        return False
    if a == b:
        return True
    # A different number is a different item ("alert for db-1" vs "db-2"), however
    # similar the rest of the text is.
    if _numbers(a) != _numbers(b):
        return False
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # real_quick_ratio and quick_ratio are upper bounds of ratio: same answers, and most
    # pairs are rejected without the quadratic comparison
    return (
        matcher.real_quick_ratio() >= DUPLICATE_RATIO
        and matcher.quick_ratio() >= DUPLICATE_RATIO
        and matcher.ratio() >= DUPLICATE_RATIO
    )


def _is_blank(value: str | None) -> bool:
    return value is None or not value.strip() or bool(VALUE_PLACEHOLDER.match(value.strip()))


def _quote(text: str, limit: int = 60) -> str:
    text = _strip_markup(text)
    return f"'{text}'" if len(text) <= limit else f"'{text[: limit - 1]}…'"


def _open_items(doc: Postmortem) -> Iterator[ActionItem]:
    # Owner, due, wording and ticket matter while work is pending. A shipped or
    # declined item needs none of them any more, and flagging history teaches
    # people to ignore the linter.
    return (item for item in doc.action_items if not item.status.is_closed)


# -- rules --------------------------------------------------------------------------


@rule("parse-problem", "the document could not be read cleanly (malformed table, list or YAML)")
def _parse_problem(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    for problem in doc.problems:
        yield Hit(
            max(problem.line, 1),
            problem.message,
            "fix the markup so every action item is read; `syncd parse` shows what was found",
        )


@rule("no-action-items", "a postmortem with a title or date but no action items")
def _no_action_items(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    # Only docs that are clearly postmortems; a README in the same folder is not.
    # Drafts are not exempt: a postmortem left without actions is the commonest rot.
    if doc.action_items or (doc.title is None and doc.date is None):
        return
    yield Hit(
        1,
        "postmortem has no action items",
        'add an "## Action Items" table: | Action | Owner | Due | Ticket |',
    )


@rule(
    "possible-missed-items",
    "no action items were read, but a section holds verb-led lines with owners or tickets",
)
def _possible_missed_items(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    if doc.action_items:
        return
    for line, heading, count in doc.skipped_sections:
        yield Hit(
            line,
            f"section {_quote(heading)} holds {count} line(s) that look like action items, "
            "but it was not read as an action section",
            f"run `syncd parse --explain {doc.path.name}` to see its score; rename the heading "
            "(e.g. 'Action items') or add a regex for it to [docs] action_sections "
            "(or `action_sections:` in front matter)",
        )


@rule("missing-owner", "an open action item with no owner (or a placeholder like TBD)")
def _missing_owner(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    for item in _open_items(doc):
        if owner_kind(item.owner, config.team_aliases) != "missing":
            continue
        if item.owner is None or not _strip_markup(item.owner):
            message = f"action item {_quote(item.action)} has no owner"
        else:
            message = f"owner {_quote(item.owner)} is a placeholder, not a person"
        yield Hit(item.line, message, "name one person accountable, e.g. @handle")


@rule("team-owner", "an open action item owned by a team, alias or everyone, not one person")
def _team_owner(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    for item in _open_items(doc):
        if owner_kind(item.owner, config.team_aliases) == "team":
            yield Hit(
                item.line,
                f"owner {_quote(item.owner or '')} is a team, not a person",
                "name one person accountable (e.g. the team's lead); a team owns nothing",
            )


@rule("missing-due", "an open action item with no due date, or one that cannot be read")
def _missing_due(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    for item in _open_items(doc):
        if item.due is not None:
            continue
        if _is_blank(item.due_raw):
            message = f"action item {_quote(item.action)} has no due date"
        else:
            message = f"due date {_quote(item.due_raw or '')} could not be read"
        yield Hit(item.line, message, "give a calendar date, e.g. 2026-06-30")


@rule("vague-action", "wording that cannot be completed: no target, no commitment, vigilance")
def _vague_action(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    for item in _open_items(doc):
        reason = vague_reason(item.action)
        if reason:
            yield Hit(
                item.line,
                f"action {_quote(item.action)} {reason}",
                "say what will exist when done, e.g. 'Add alert on pool utilisation > 80%'",
            )


@rule("no-ticket", "an open action item with no ticket once the postmortem is reviewed/final")
def _no_ticket(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    # Drafts may still be negotiating their actions; once reviewed, untracked items
    # are the "action item graveyard".
    words = re.findall(r"[a-z]+", (doc.status or "").lower())
    if not words or words[0] not in TRACKED_DOC_STATUSES:
        return
    for item in _open_items(doc):
        if _is_blank(item.ticket):
            yield Hit(
                item.line,
                f"action item {_quote(item.action)} has no ticket "
                f"but the postmortem is {doc.status}",
                "run `syncd sync` to file it, or link the existing ticket (e.g. OPS-123)",
            )


@rule("due-before-incident", "a due date earlier than the incident itself (usually a typo)")
def _due_before_incident(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    if doc.date is None:
        return
    # All items, closed ones too: a wrong year is a wrong record either way.
    for item in doc.action_items:
        if item.due is not None and item.due < doc.date:
            yield Hit(
                item.line,
                f"due {item.due.isoformat()} is before the incident ({doc.date.isoformat()})",
                "check the year / month of the due date",
            )


@rule("duplicate-action", "two action items in one document that say the same thing")
def _duplicate_action(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    # Closed items count too: re-adding a shipped item is a duplicate as well.
    items = sorted(doc.action_items, key=lambda i: i.line)
    keys = [_dedup_key(item.action) for item in items]
    for j, later in enumerate(items):
        for i in range(j):
            if _is_duplicate(keys[i], keys[j]):
                yield Hit(
                    later.line,
                    f"action {_quote(later.action)} duplicates line {items[i].line}",
                    f"merge it with the item on line {items[i].line}, or make the two distinct",
                )
                break  # name the first earlier copy only


@rule("overdue", "an open action item past its due date (only when a 'today' is given)")
def _overdue(doc: Postmortem, config: LintConfig) -> Iterator[Hit]:
    if config.today is None:
        return
    for item in _open_items(doc):
        if item.due is not None and item.due < config.today:
            days = (config.today - item.due).days
            yield Hit(
                item.line,
                f"action item {_quote(item.action)} is {days} day(s) overdue "
                f"(due {item.due.isoformat()})",
                "finish it, move the date with a reason, or mark it won't do",
            )


# -- entry points -------------------------------------------------------------------


def _sort_key(finding: Finding) -> tuple[str, int, str, str]:
    return (finding.path, finding.line, finding.rule, finding.message)


def lint_document(doc: Postmortem, config: LintConfig, rel_path: str) -> list[Finding]:
    """All findings for one document, sorted by line. `rel_path` is what gets
    reported and what the ignore globs match against."""
    path = _posix(rel_path)
    findings = [
        Finding(path, hit.line, rule_id, hit.message, hit.hint)
        for rule_id in config.rules_for(path)
        for hit in RULES[rule_id](doc, config)
    ]
    return sorted(findings, key=_sort_key)


def lint_documents(
    docs: Sequence[Postmortem], config: LintConfig, rel_paths: Sequence[str]
) -> list[Finding]:
    """Findings for many documents (paired with `rel_paths`), sorted by path, line."""
    if len(docs) != len(rel_paths):
        raise ValueError(f"{len(docs)} documents but {len(rel_paths)} paths")
    findings = [
        finding
        for doc, rel_path in zip(docs, rel_paths, strict=True)
        for finding in lint_document(doc, config, rel_path)
    ]
    return sorted(findings, key=_sort_key)
