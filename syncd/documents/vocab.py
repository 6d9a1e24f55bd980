"""The words real postmortems use, mapped to canonical values.

Kept as data so a new header or status spelling is a one-line change.
"""

from __future__ import annotations

import functools
import re

from syncd.model import Status

# -- table headers ------------------------------------------------------------------

COLUMN_WORDS: dict[str, tuple[str, ...]] = {
    "number": ("#", "no", "no.", "nr", "num", "id", "item #", "ai #", "ai", "n"),
    "action": (
        "action",
        "actions",
        "action item",
        "action items",
        "item",
        "items",
        "task",
        "tasks",
        "description",
        "what",
        "remediation",
        "follow-up",
        "follow up",
        "followup",
        "todo",
        "to do",
        "to-do",
        "title",
        "summary",
        "fix",
        "change",
        "step",
        "next step",
        "action / owner",
        "corrective action",
        "preventive action",
        "improvement",
        "recommendation",
        "mitigation",
        "details",
        "deliverable",
        "priority action",
        "priority actions",
        "follow-up action",
        "follow-up actions",
        "action description",
        # other languages
        "maßnahme",
        "massnahme",
        "aktion",
        "aufgabe",
        "actie",
        "maatregel",
        "mesure",
        "acción",
        "accion",
        "tarea",
        "ação",
        "acao",
        "azione",
        "対策内容",
        "対策",
        "対応内容",
        "アクション",
        "措施",
        "改进措施",
        "行动项",
        "事项",
        "조치",
        "대책",
        "조치 사항",
    ),
    "owner": (
        "owner",
        "owners",
        "who",
        "assignee",
        "assignees",
        "assigned to",
        "assigned",
        "responsible",
        "dri",
        "lead",
        "owner/team",
        "team/owner",
        "point of contact",
        "poc",
        "accountable",
        "owned by",
        "verantwortlich",
        "zuständig",
        "verantwortlicher",
        "eigenaar",
        "responsable",
        "responsabile",
        "responsável",
        "responsavel",
        "担当",
        "担当者",
        "負責人",
        "负责人",
        "담당",
        "담당자",
    ),
    "due": (
        "due",
        "due date",
        "target date",
        "target",
        "deadline",
        "eta",
        "by when",
        "when",
        "due by",
        "completion date",
        "target completion",
        "date due",
        "by",
        "due on",
        "expected",
        "timeline",
        "date",
        "fällig",
        "fälligkeit",
        "termin",
        "bis",
        "deadline",
        "échéance",
        "date limite",
        "fecha",
        "fecha límite",
        "prazo",
        "data limite",
        "scadenza",
        "entro",
        "期限",
        "期日",
        "截止日期",
        "截止时间",
        "기한",
        "마감일",
    ),
    "priority": ("priority", "pri", "prio", "p", "importance", "urgency"),
    "status": (
        "status",
        "state",
        "done",
        "done?",
        "complete?",
        "completed?",
        "progress",
        "statut",
        "état",
        "estado",
        "stato",
        "situação",
        "ステータス",
        "状態",
        "状况",
        "状态",
        "상태",
    ),
    "ticket": (
        "ticket",
        "tickets",
        "bug",
        "bug #",
        "bugs",
        "link",
        "links",
        "work item",
        "jira",
        "issue",
        "issues",
        "tracking",
        "tracker",
        "tracked in",
        "github issue",
        "jira ticket",
        "reference",
        "ref",
        "card",
        "story",
        "jira issue",
        "ticket #",
        "issue #",
        "tracking issue",
        "tracking link",
    ),
    "category": ("type", "category", "kind", "class", "area", "theme", "action type"),
}

_HEADER_LOOKUP = {word: col for col, words in COLUMN_WORDS.items() for word in words}


def normalise_header(text: str) -> str:
    text = strip_markup(text).lower().strip()
    text = re.sub(r"\s+", " ", text)
    return text.rstrip(":").strip()


@functools.lru_cache(maxsize=4096)
def column_for(header: str) -> str | None:
    """Map one header cell to a canonical column name, or None if unknown."""
    norm = normalise_header(header)
    if norm in _HEADER_LOOKUP:
        return _HEADER_LOOKUP[norm]
    # "Action Item Description", "Owner (team)", "Due Date (UTC)", "Jira ticket link"…
    head = re.sub(r"\s*\(.*\)$", "", norm)
    if head in _HEADER_LOOKUP:
        return _HEADER_LOOKUP[head]
    for col, pattern in _HEADER_PATTERNS:
        if pattern.search(norm):
            return col
    return None


_HEADER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ticket", re.compile(r"\b(ticket|jira|bug|issue link|tracking)\b")),
    ("due", re.compile(r"\b(due|deadline|target date)\b")),
    ("owner", re.compile(r"\b(owner|assignee)\b")),
    ("status", re.compile(r"^status\b")),
    ("priority", re.compile(r"^(priority|pri)\b")),
    ("action", re.compile(r"\b(action|task|item)\b")),
)

# -- headings ------------------------------------------------------------------------

ACTION_HEADING = re.compile(
    r"""^(?:[\d.]+\s*)?(?:\W\s*)?(
        action[\s_-]*items?|action\s+plan|actions|actionables?|
        remediations?(?:\s+(?:items|actions|plan|steps))?|
        follow[\s-]?ups?|followups|
        corrective(?:\s+and\s+preventa?t?ive)?\s+(?:actions?|measures)|
        preventa?t?ive\s+(?:actions|measures)|recommendations|mitigations?|work\s+items|
        going\s+forward|what(?:'s|\s+is)\s+next|
        next\s+steps|to-?dos?|tasks|repair\s+items|improvements?|
        (?:lessons\s+learned\s+(?:and|&)\s+)?action\s+items|
        what\s+we(?:'re|\s+are)\s+(?:doing|changing)|
        (?:prevent(?:ing)?\s+recurrence|prevention)
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)

FACTORS_HEADING = re.compile(
    r"^(?:[\d.]+\s*)?(contributing\s+factors?|root\s+causes?|causes|causal\s+factors|"
    r"why\s+(?:did\s+)?(?:it|this)\s+happen|5\s+whys|five\s+whys|trigger)\b",
    re.IGNORECASE,
)
RELATED_HEADING = re.compile(r"^(?:[\d.]+\s*)?related\s+(incidents?|postmortems?)\b", re.I)

# Decoy sections: even a checkbox list here is not an action item.
NON_ACTION_HEADING = re.compile(
    r"^(?:[\d.]+\s*)?(timeline|detection|impact|summary|what\s+went|where\s+we\s+got\s+lucky|"
    r"lessons|glossary|supporting|appendix|is\s+this\s+a\s+pattern)",
    re.IGNORECASE,
)

# -- statuses ------------------------------------------------------------------------

_STATUS_WORDS: tuple[tuple[Status, tuple[str, ...]], ...] = (
    (
        Status.WONT_DO,
        (
            "won't do",
            "wont do",
            "won't fix",
            "wont fix",
            "wontfix",
            "will not do",
            "will not fix",
            "cancelled",
            "canceled",
            "declined",
            "dropped",
            "abandoned",
            "obsolete",
            "not planned",
            "rejected",
            "descoped",
            "de-scoped",
            "not doing",
            "won't implement",
            "duplicate",
            "superseded",
            "out of scope",
            "verworfen",
            "abgebrochen",
            "annulé",
            "abandonné",
            "cancelado",
            "descartado",
            "annullato",
            "中止",
            "取消",
            "已取消",
            "취소",
        ),
    ),
    (
        Status.DONE,
        (
            "done",
            "complete",
            "completed",
            "closed",
            "fixed",
            "resolved",
            "finished",
            "shipped",
            "merged",
            "implemented",
            "landed",
            "deployed",
            "delivered",
            "mitigated",
            "released",
            "verified",
            "yes",
            "[x]",
            "x",
            "100%",
            "erledigt",
            "abgeschlossen",
            "fertig",
            "terminé",
            "termine",
            "fait",
            "hecho",
            "completado",
            "terminado",
            "concluído",
            "concluido",
            "feito",
            "completato",
            "fatto",
            "afgerond",
            "klaar",
            "完了",
            "対応済み",
            "対応済",
            "済",
            "已完成",
            "完成",
            "已解决",
            "완료",
        ),
    ),
    (
        Status.IN_PROGRESS,
        (
            "in progress",
            "in-progress",
            "inprogress",
            "wip",
            "ongoing",
            "started",
            "doing",
            "in review",
            "under review",
            "in development",
            "in dev",
            "partially done",
            "partial",
            "partially complete",
            "active",
            "working",
            "in flight",
            "in-flight",
            "underway",
            "under way",
            "implementing",
            "testing",
            "in testing",
            "code review",
            "in qa",
            "in arbeit",
            "in bearbeitung",
            "en cours",
            "en progreso",
            "en curso",
            "em andamento",
            "em progresso",
            "in corso",
            "bezig",
            "対応中",
            "進行中",
            "作業中",
            "进行中",
            "处理中",
            "진행 중",
            "진행중",
        ),
    ),
    (
        Status.OPEN,
        (
            "open",
            "todo",
            "to do",
            "to-do",
            "not started",
            "pending",
            "new",
            "planned",
            "backlog",
            "proposed",
            "tbd",
            "scheduled",
            "blocked",
            "on hold",
            "no",
            "[ ]",
            "",
            "not yet started",
            "queued",
            "triage",
            "needs triage",
            "unassigned",
            "reopened",
            "ready",
            "accepted",
            "committed",
            "offen",
            "geplant",
            "à faire",
            "a faire",
            "ouvert",
            "pendiente",
            "abierto",
            "por hacer",
            "pendente",
            "aberto",
            "da fare",
            "aperto",
            "未着手",
            "未対応",
            "未開始",
            "未开始",
            "待处理",
            "미착수",
            "대기",
        ),
    ),
)
_STATUS_LOOKUP = {word: status for status, words in _STATUS_WORDS for word in words}

_EMOJI_STATUS: tuple[tuple[str, Status], ...] = (
    ("✅", Status.DONE),
    ("✔", Status.DONE),
    ("☑", Status.DONE),
    ("🟢", Status.DONE),
    ("✓", Status.DONE),
    ("🎉", Status.DONE),
    ("🔄", Status.IN_PROGRESS),
    ("⏳", Status.IN_PROGRESS),
    ("🚧", Status.IN_PROGRESS),
    ("🟡", Status.IN_PROGRESS),
    ("🏗", Status.IN_PROGRESS),
    ("⌛", Status.IN_PROGRESS),
    ("❌", Status.WONT_DO),
    ("✖", Status.WONT_DO),
    ("🚫", Status.WONT_DO),
    ("⛔", Status.WONT_DO),
    ("⬜", Status.OPEN),
    ("🔲", Status.OPEN),
    ("◻", Status.OPEN),
    ("🔳", Status.OPEN),
    ("☐", Status.OPEN),
    ("🔴", Status.OPEN),
    ("🆕", Status.OPEN),
)

# What the tool writes when a doc has no spelling of its own for a status yet.
DEFAULT_STATUS_TEXT = {
    Status.OPEN: "Open",
    Status.IN_PROGRESS: "In Progress",
    Status.DONE: "Done",
    Status.WONT_DO: "Won't Do",
}
DEFAULT_STATUS_EMOJI = {
    Status.OPEN: "⬜",
    Status.IN_PROGRESS: "🔄",
    Status.DONE: "✅",
    Status.WONT_DO: "❌",
}


@functools.lru_cache(maxsize=4096)
def parse_status(raw: str | None) -> Status | None:
    """Canonical status of a status cell, or None when the text is not a status."""
    if raw is None:
        return Status.OPEN
    text = strip_markup(raw).strip()
    for emoji, status in _EMOJI_STATUS:
        if text.startswith(emoji) or (emoji in text and len(text) <= 4):
            return status
    norm = re.sub(r"[\s_]+", " ", text.lower()).strip(" .!:;-–—*")
    norm = norm.replace("’", "'")
    if norm in _STATUS_LOOKUP:
        return _STATUS_LOOKUP[norm]
    # "Done (merged #123)", "In progress - 50%", "Complete: shipped in v2"
    for length in (4, 3, 2, 1):
        head = " ".join(re.split(r"[\s(,:;/–—-]+", norm)[:length]).strip()
        if head and head in _STATUS_LOOKUP and head not in ("", "x", "no", "yes", "new"):
            return _STATUS_LOOKUP[head]
    for emoji, status in _EMOJI_STATUS:
        if emoji in text:
            return status
    return None


def status_from_heading(heading: str) -> Status | None:
    """ "Immediate actions (Completed)" → done; only parenthesised or trailing words count."""
    match = re.search(r"\(([^)]*)\)\s*$", heading) or re.search(r"[-–—:]\s*([\w' ]+)$", heading)
    if match:
        status = parse_status(match.group(1))
        if status and match.group(1).strip():
            return status
    return None


# -- priorities and severities --------------------------------------------------------

_PRIORITY = re.compile(r"^\s*p(?:ri(?:ority)?)?[\s-]*([0-4])\b", re.IGNORECASE)


def parse_priority(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = strip_markup(raw).strip()
    if not text or text in {"-", "—", "–", "n/a", "N/A", "TBD", "?"}:
        return None
    if match := _PRIORITY.match(text):
        return f"P{match.group(1)}"
    if re.fullmatch(r"[0-4]", text):
        return f"P{text}"
    return text


_SEVERITY = re.compile(r"^\s*(?:sev(?:erity)?|s)[\s_-]*([0-5])\b", re.IGNORECASE)


def parse_severity(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = strip_markup(raw).strip()
    if not text or text.startswith(("[", "<")) or text.upper() in {"SEV-X", "SEVX", "TBD"}:
        return None
    if match := _SEVERITY.match(text):
        return f"SEV{match.group(1)}"
    if re.fullmatch(r"[0-5]", text):
        return f"SEV{text}"
    return text


# -- markup --------------------------------------------------------------------------

_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")


_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_STRONG = re.compile(r"(\*\*|__)(.+?)\1")
_EMPHASIS = re.compile(r"(?<![\w*])[*_](?!\s)(.+?)(?<!\s)[*_](?![\w*])")
_STRIKE = re.compile(r"~~(.+?)~~")
_CODE = re.compile(r"`([^`]*)`")
# Every rule below needs one of these characters; most cells have none of them.
_MARKUP_CHARS = re.compile(r"[\[<*_~`\\]")


def strip_markup(text: str) -> str:
    """Plain text of a cell: links → their text, emphasis and code marks removed."""
    if _MARKUP_CHARS.search(text) is None:
        return text.strip()
    return _strip_markup(text)


def _group1(match: re.Match[str]) -> str:
    return match.group(1)


def _group2(match: re.Match[str]) -> str:
    return match.group(2)


@functools.lru_cache(maxsize=8192)
def _strip_markup(text: str) -> str:
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _BR.sub(" ", text)
    # (functions, not r"\1" templates: re expands a template in Python for every match)
    text = _STRONG.sub(_group2, text)
    text = _EMPHASIS.sub(_group1, text)
    text = _STRIKE.sub(_group1, text)
    text = _CODE.sub(_group1, text)
    return text.replace("\\|", "|").strip()


PLACEHOLDER = re.compile(
    r"^(\[[^\]]*\]|<[^>]*>|\.{2,}|…|tbd|tba|n/?a|none|-+|—|–|\?+|x+|yyyy-mm-dd|todo:?)$",
    re.IGNORECASE,
)


def is_placeholder(text: str | None) -> bool:
    return text is None or not text.strip() or bool(PLACEHOLDER.match(text.strip()))
