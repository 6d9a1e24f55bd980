"""Reading the values of single cells: owners, tickets, and inline `**Owner:**` fields."""

from __future__ import annotations

import re
from dataclasses import dataclass

from syncd.documents.vocab import is_placeholder, strip_markup

JIRA_KEY = re.compile(r"\b([A-Z][A-Z0-9_]{1,15}-[1-9]\d{0,7})\b")
GH_FULL = re.compile(r"\b([\w.-]+/[\w.-]+)#(\d+)\b")
GH_SHORT = re.compile(r"(?<![\w/&])#(\d+)\b")
URL = re.compile(r"https?://[^\s)>\]|]+")
BUG_NUMBER = re.compile(r"\b(?:bug|b|crbug(?:\.com)?|issue)\s*[/#:]?\s*(\d{3,})\b", re.IGNORECASE)
# A ticket reference the list-item parser reads back from "(…)": keys, #n, owner/repo#n, URLs.
TICKET_REF = r"(?:[A-Z][A-Z0-9_]+-\d+)|#\d+|[\w.-]+/[\w.-]+#\d+|https?://[^\s)]+"
HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?")

# Prefixes that look like Jira keys in prose but are not tickets.
NOT_KEYS = {
    "SEV",
    "UTF",
    "ISO",
    "RFC",
    "TLS",
    "SSL",
    "HTTP",
    "HTTPS",
    "CVE",
    "SHA",
    "MD",
    "IPV",
    "COVID",
    "GPT",
    "PR",
    "P",
    "Q",
    "S",
    "V",
    "X",
    "TCP",
    "UDP",
    "AES",
    "RSA",
}


def clean(text: str | None) -> str | None:
    if text is None:
        return None
    value = strip_markup(text).strip().strip("\"'“”‘’").strip()
    return None if is_placeholder(value) else value


def clean_owner(text: str | None) -> str | None:
    value = clean(text)
    if value is None:
        return None
    value = re.sub(r"\s+", " ", value).strip(" ,;")
    return value or None


def jira_keys(text: str, *, prose: bool = False) -> list[str]:
    keys = [m.group(1) for m in JIRA_KEY.finditer(text)]
    if prose:
        keys = [k for k in keys if k.split("-")[0] not in NOT_KEYS]
    return keys


def parse_ticket(raw: str | None) -> str | None:
    """The ticket reference in a Ticket cell: a key, `#12`, `owner/repo#12`, a URL…"""
    if raw is None:
        return None
    text = raw.replace("\\|", "|").strip()
    plain = strip_markup(text)
    if is_placeholder(plain):
        return None
    if match := GH_FULL.search(plain):
        return match.group(0)
    if keys := jira_keys(plain):
        return keys[0]
    if match := GH_SHORT.search(plain):
        return match.group(0)
    if match := URL.search(text):
        return match.group(0).rstrip(".,;")
    if match := BUG_NUMBER.search(plain):
        return match.group(0)
    return plain  # an explicit Ticket cell or field: whatever it says is the reference


def find_ticket_in_prose(text: str) -> str | None:
    """A ticket mentioned inside list-item prose (only unambiguous forms)."""
    if match := GH_FULL.search(text):
        return match.group(0)
    if keys := jira_keys(text, prose=True):
        return keys[0]
    if match := URL.search(text):
        url = match.group(0)
        if re.search(r"/(browse|issues?|tickets?)/", url):
            return url.rstrip(".,;")
    return None


# -- inline fields in list items: "**Owner:** @bob **Due:** 2026-06-03" -----------------

FIELD_NAMES: dict[str, str] = {
    "owner": "owner",
    "owners": "owner",
    "assignee": "owner",
    "assigned to": "owner",
    "who": "owner",
    "dri": "owner",
    "responsible": "owner",
    "due": "due",
    "due date": "due",
    "target": "due",
    "target date": "due",
    "deadline": "due",
    "eta": "due",
    "by": "due",
    "priority": "priority",
    "pri": "priority",
    "prio": "priority",
    "status": "status",
    "state": "status",
    "ticket": "ticket",
    "jira": "ticket",
    "bug": "ticket",
    "issue": "ticket",
    "tracked in jira": "ticket",
    "tracked in github": "ticket",
    "tracked in linear": "ticket",
    "tracked in": "ticket",
    "tracking": "ticket",
    "link": "ticket",
    "tracker": "ticket",
    "type": "category",
    "category": "category",
    # other languages
    "verantwortlich": "owner",
    "zuständig": "owner",
    "responsable": "owner",
    "responsabile": "owner",
    "responsável": "owner",
    "eigenaar": "owner",
    "担当": "owner",
    "担当者": "owner",
    "负责人": "owner",
    "담당": "owner",
    "담당자": "owner",
    "fällig": "due",
    "frist": "due",
    "échéance": "due",
    "fecha": "due",
    "fecha límite": "due",
    "prazo": "due",
    "scadenza": "due",
    "期限": "due",
    "截止日期": "due",
    "기한": "due",
    "statut": "status",
    "estado": "status",
    "stato": "status",
    "状態": "status",
    "状态": "status",
}
_FIELD = re.compile(
    r"(?:\*\*|__)?\b("
    + "|".join(sorted((re.escape(k) for k in FIELD_NAMES if k != "by"), key=len, reverse=True))
    + r")(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?",
    re.IGNORECASE,
)


_ENTITY_END = re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,6}|#x[0-9a-fA-F]{1,6});$")


@dataclass(frozen=True)
class InlineField:
    name: str  # canonical field
    label_start: int  # offsets relative to the searched text
    value_start: int
    value_end: int
    value: str


# `_FIELD` without IGNORECASE, for ASCII text lower-cased first: the same matches at the
# same offsets (lower() keeps an ASCII string's length, and no ASCII letter folds to a
# non-ASCII one in these names) at less than half the cost
_FIELD_LOWER = re.compile(_FIELD.pattern, _FIELD.flags & ~re.IGNORECASE)


def _field_matches(text: str) -> list[re.Match[str]]:
    if text.isascii():
        return list(_FIELD_LOWER.finditer(text.lower()))
    return list(_FIELD.finditer(text))


def has_inline_field(text: str) -> bool:
    """Whether `inline_fields(text)` would find any (without reading them)."""
    if ":" not in text and "：" not in text:
        return False
    if text.isascii():
        return _FIELD_LOWER.search(text.lower()) is not None
    return _FIELD.search(text) is not None


def inline_fields(text: str) -> list[InlineField]:
    if ":" not in text and "：" not in text:  # every field is `Name:` (see _FIELD)
        return []
    matches = _field_matches(text)
    fields: list[InlineField] = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        raw = text[match.end() : end]
        value = raw.rstrip()
        # trailing separators belong to the prose, not the value
        while value and value[-1] in ".,;|)*_、，。；）" and not value.endswith("..."):
            if value[-1] == ";" and _ENTITY_END.search(value):
                break  # "&gt;" is an escaped character, not a separator
            if value[-1] == "." and re.search(r"\b[A-Z]\.$", value):
                break  # "J. Park." keeps nothing, but "J." initial inside a name stays
            value = value[:-1].rstrip()
        lead = len(raw) - len(raw.lstrip())
        fields.append(
            InlineField(
                FIELD_NAMES.get(match.group(1).lower(), "owner"),
                match.start(),
                match.end() + lead,
                match.end() + len(value),
                value.strip(),
            )
        )
    return fields


# -- ticket references written as links -----------------------------------------------

# A URL that names one ticket / issue / pull request (not a dashboard or a doc page).
TICKET_URL = re.compile(
    r"https?://[^\s)>\]|]+/(?:-/)?(?:issues?|browse|tickets?|pull|merge_requests|"
    r"work_items|show_bug\.cgi\?id=|b)/?[\w.=-]*\d[^\s)>\]|]*",
    re.IGNORECASE,
)
INLINE_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?(https?://[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"\[([^\]]+)\]\[([^\]]*)\]")
AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
REF_DEFINITION = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*<?(\S+?)>?(?:\s+[\"'(].*)?\s*$")


def is_ticket_url(url: str) -> bool:
    return bool(TICKET_URL.fullmatch(url.rstrip(".,;:")))
