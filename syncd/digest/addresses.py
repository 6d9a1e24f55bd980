"""Who receives the digest: `[digest] to` and `cc`, plus per-team addresses.

`[digest.teams]` maps a team to its members, e.g. `platform = ["@sri", "@bob",
"platform-leads@example.com"]`. Entries that are email addresses are the team's
recipients (added to Cc); the others are action-item owners, used to label overdue
items with their team. One list per team keeps membership and mailing list together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

from syncd.config import Settings

# "local@domain.tld": an owner like "@sri" or "SRE team lead" never matches.
_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


def is_email(text: str) -> bool:
    return _EMAIL.fullmatch(parseaddr(text)[1] or "") is not None and "@" not in text[:1]


@dataclass(frozen=True)
class Recipients:
    to: tuple[str, ...]
    cc: tuple[str, ...]

    @property
    def envelope(self) -> tuple[str, ...]:
        """Bare addresses for RCPT TO, each once (case-insensitive)."""
        seen: dict[str, str] = {}
        for entry in (*self.to, *self.cc):
            addr = parseaddr(entry)[1]
            if addr:
                seen.setdefault(addr.lower(), addr)
        return tuple(seen.values())


def team_addresses(settings: Settings) -> tuple[str, ...]:
    return tuple(
        member.strip()
        for members in settings.digest.teams.values()
        for member in members
        if is_email(member.strip())
    )


def recipients(settings: Settings) -> Recipients:
    to = tuple(dict.fromkeys(settings.digest.to))
    taken = {parseaddr(a)[1].lower() for a in to}
    cc: list[str] = []
    for entry in (*settings.digest.cc, *team_addresses(settings)):
        addr = parseaddr(entry)[1].lower()
        if addr and addr not in taken:
            taken.add(addr)
            cc.append(entry)
    return Recipients(to, tuple(cc))


def domain_of(address: str) -> str:
    """The domain for Message-ID / Content-ID: the sender's, so IDs are globally unique."""
    addr = parseaddr(address)[1]
    return addr.rpartition("@")[2] or "localhost"
