"""What one configuration tells the parser, passed with every parse.

`[docs] action_sections` / `ignore_sections` and `date_order` travel with the parse as
a `ParseOptions`: `parse_file(path, options=opts)`, `parse_text(…, options=opts)`,
`explain_file(…, options=opts)`, `apply_edits(…, options=opts)` (whose verification
re-parses with the same options). There is no process-wide setting: one process (a
daemon, a test run) may read several configurations' documents, and each parse says
which rules it follows. Without options a parse uses the built-in defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from syncd.documents import dates, sections
from syncd.documents.sections import SectionRules

if TYPE_CHECKING:  # the parser must not load pydantic at start-up
    from syncd.config import DocsSettings


@dataclass(frozen=True)
class ParseOptions:
    rules: SectionRules = field(default_factory=SectionRules)
    date_order: str = "mdy"  # numeric day/month order: "mdy" or "dmy"

    def __post_init__(self) -> None:
        if self.date_order not in dates.DATE_ORDERS:
            raise ValueError(
                f"date_order must be one of {dates.DATE_ORDERS}, not {self.date_order!r}"
            )

    @classmethod
    def from_settings(cls, docs: DocsSettings) -> ParseOptions:
        """The options of a configuration's `[docs]` table."""
        return cls(sections.rules_from_settings(docs), docs.date_order)


DEFAULT_OPTIONS = ParseOptions()


def resolve(rules: SectionRules | None, options: ParseOptions | None) -> ParseOptions:
    """The options of one parse: `options` if given (with `rules` instead of its own when
    both are), else the built-in defaults."""
    if options is None:
        options = DEFAULT_OPTIONS
    if rules is not None and rules is not options.rules:
        options = ParseOptions(rules, options.date_order)
    return options
