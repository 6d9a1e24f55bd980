"""`syncd parse --explain DOC`: why each section was read or skipped, and which rule
read each field of each item — so a team whose format is missed sees what to change
in the document or what to put in `[docs] action_sections`."""

from __future__ import annotations

from typing import Any

from syncd.documents.discover import item_json
from syncd.documents.parser import Explanation, SectionReport
from syncd.documents.sections import THRESHOLD

FIELDS = ("owner", "due", "priority", "status", "ticket")


def _parts(section: SectionReport) -> str:
    score = section.score
    if score is None:
        return section.reason
    words = "; ".join(score.parts) if score.parts else "+0 heading (no known words)"
    return (
        f"{words}, content {score.content:+g} "
        f"({score.units} line(s)), place {score.place:+g} = {score.total:g}; {section.reason}"
    )


def explanation_json(exp: Explanation, shown: str) -> dict[str, Any]:
    return {
        "path": shown,
        "threshold": THRESHOLD,
        "sections": [
            {
                "line": s.line,
                "heading": s.heading,
                "taken": s.taken,
                "reason": s.reason,
                "score": None
                if s.score is None
                else {
                    "heading": s.score.heading,
                    "content": s.score.content,
                    "place": s.score.place,
                    "total": s.score.total,
                    "words": list(s.score.parts),
                },
            }
            for s in exp.sections
        ],
        "action_items": [
            {**item_json(item), "rules": exp.rules.get(item.line, {})}
            for item in exp.doc.action_items
        ],
        "problems": [{"line": p.line, "message": p.message} for p in exp.doc.problems],
    }


def render_explanation(exp: Explanation, shown: str) -> str:
    out = [f"{shown}: {len(exp.doc.action_items)} action item(s)"]
    out.append(f"sections (read when the score is >= {THRESHOLD:g}, or by an override):")
    for section in exp.sections:
        mark = "taken  " if section.taken else "skipped"
        indent = "  " * max(0, min(section.level, 7) - 1)
        out.append(f"  {section.line:>4}  {mark}  {indent}{section.heading or '(empty heading)'}")
        out.append(f"              {_parts(section)}")
    if exp.doc.action_items:
        out.append("items:")
    for item in exp.doc.action_items:
        rules = exp.rules.get(item.line, {})
        how = rules.get(
            "action",
            "table row"
            if item.anchor and "table" in item.anchor.style
            else "YAML entry"
            if item.anchor and item.anchor.style == "yaml"
            else "list item",
        )
        out.append(f"  {item.line:>4}  {item.action}  [{how}]")
        for name in FIELDS:
            value = getattr(item, name)
            if name == "due" and value is not None:
                value = value.isoformat()
            if value is None or (name == "status" and name not in rules and value == "open"):
                continue
            rule = rules.get(
                name, "column / key" if item.anchor and item.anchor.style != "list" else "default"
            )
            out.append(f"          {name:<8} {value}  ({rule})")
    if not exp.doc.action_items:
        out.append(
            "no action items: if a skipped section above holds them, put a regex matching its "
            "heading in [docs] action_sections (or `action_sections:` in front matter)"
        )
    for problem in exp.doc.problems:
        out.append(f"  {problem.line:>4}  problem: {problem.message}")
    return "\n".join(out)
