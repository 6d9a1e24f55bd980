"""Parser accuracy on the hand-labelled corpus (tests/fixtures/corpus/).

Each `NAME.md` there has `expected/NAME.json`: the action items a careful reader takes
from the document (action text, owner, due, priority, status, ticket). The parser's
items are matched to the expected ones by action text, then every field is compared.

Prints, beside the targets:
  field accuracy   correct fields / (expected items x 6 fields); a missed item counts
                   all six as wrong
  item recall      expected items the parser found
  invented items   parser items matching no expected item / parser items

Usage: python -m bench.parser_accuracy [--corpus DIR] [--verbose]
Exit status 1 when a figure misses its target (so CI or a test can use it).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.documents.discover import doc_json
from syncd.documents.parser import parse_file

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "corpus"
FIELDS = ("action", "owner", "due", "priority", "status", "ticket")
TARGETS = {"field_accuracy": 0.97, "item_recall": 0.98, "invented": 0.01}
MATCH_AT = 0.6  # action-text similarity needed to pair a parsed item with an expected one


def _norm_text(value: str | None) -> str:
    text = re.sub(r"\s+", " ", (value or "").lower()).strip()
    return text.strip(" .;:,")


def _norm_owner(value: str | None) -> str:
    """Owners compare as a set of names: "@ann, @bob" == "@bob and @ann"."""
    parts = re.split(r"\s*(?:,|\+|&|/|\band\b)\s*", (value or "").lower())
    return ",".join(sorted(p.strip().lstrip("@") for p in parts if p.strip()))


def _normalise(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "owner":
        return _norm_owner(str(value))
    return _norm_text(str(value))


@dataclass
class DocScore:
    name: str
    expected: int = 0
    found: int = 0  # expected items matched by a parsed item
    parsed: int = 0
    invented: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)  # "field: expected != got"
    fields_right: Counter[str] = field(default_factory=Counter)


@dataclass
class Report:
    docs: list[DocScore]

    @property
    def expected(self) -> int:
        return sum(d.expected for d in self.docs)

    @property
    def parsed(self) -> int:
        return sum(d.parsed for d in self.docs)

    def field_accuracy(self, name: str | None = None) -> float:
        names = FIELDS if name is None else (name,)
        right = sum(d.fields_right[n] for d in self.docs for n in names)
        return right / max(1, self.expected * len(names))

    @property
    def item_recall(self) -> float:
        return sum(d.found for d in self.docs) / max(1, self.expected)

    @property
    def invented(self) -> float:
        return sum(len(d.invented) for d in self.docs) / max(1, self.parsed)

    def figures(self) -> dict[str, float]:
        return {
            "field_accuracy": self.field_accuracy(),
            "item_recall": self.item_recall,
            "invented": self.invented,
        }

    def meets_targets(self) -> bool:
        got = self.figures()
        return (
            got["field_accuracy"] >= TARGETS["field_accuracy"]
            and got["item_recall"] >= TARGETS["item_recall"]
            and got["invented"] <= TARGETS["invented"]
        )


def _pairs(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Best-first one-to-one pairing of expected and parsed items by action text."""
    scored = []
    for i, exp in enumerate(expected):
        for j, item in enumerate(got):
            ratio = difflib.SequenceMatcher(
                None, _norm_text(exp["action"]), _norm_text(item["action"])
            ).ratio()
            if ratio >= MATCH_AT:
                scored.append((ratio, -abs(i - j), i, j))
    scored.sort(reverse=True)
    used_e: set[int] = set()
    used_g: set[int] = set()
    pairs = []
    for _ratio, _dist, i, j in scored:
        if i not in used_e and j not in used_g:
            used_e.add(i)
            used_g.add(j)
            pairs.append((i, j))
    return pairs


def score_doc(md: Path, expected_json: Path) -> DocScore:
    expected = json.loads(expected_json.read_text(encoding="utf-8"))["items"]
    got = doc_json(parse_file(md)[0])["action_items"]
    result = DocScore(md.stem, expected=len(expected), parsed=len(got))
    pairs = _pairs(expected, got)
    matched_e = {i for i, _ in pairs}
    matched_g = {j for _, j in pairs}
    for i, j in pairs:
        result.found += 1
        for name in FIELDS:
            want, have = _normalise(name, expected[i].get(name)), _normalise(name, got[j][name])
            if want == have:
                result.fields_right[name] += 1
            else:
                shown = expected[i]["action"][:40]
                result.wrong.append(
                    f"{shown!r} {name}: {expected[i].get(name)!r} != {got[j][name]!r}"
                )
    result.missed = [e["action"] for i, e in enumerate(expected) if i not in matched_e]
    result.invented = [
        f"line {g['line']}: {g['action']}" for j, g in enumerate(got) if j not in matched_g
    ]
    return result


def score_corpus(corpus: Path = CORPUS) -> Report:
    docs = []
    for md in sorted(corpus.glob("*.md")):
        expected = corpus / "expected" / f"{md.stem}.json"
        if expected.exists():
            docs.append(score_doc(md, expected))
    return Report(docs)


def render(report: Report, verbose: bool = False) -> str:
    out = []
    if verbose:
        for doc in report.docs:
            if doc.missed or doc.invented or doc.wrong:
                out.append(f"{doc.name}:")
                out.extend(f"  missed   {m}" for m in doc.missed)
                out.extend(f"  invented {m}" for m in doc.invented)
                out.extend(f"  wrong    {m}" for m in doc.wrong)
    got = report.figures()
    target = {k: f"{v:.0%}" for k, v in TARGETS.items()}
    out.append(
        f"parser accuracy on {len(report.docs)} documents, {report.expected} expected items, "
        f"{report.parsed} parsed"
    )
    out.append(
        f"  field accuracy  {got['field_accuracy']:7.1%}   target >= {target['field_accuracy']}"
    )
    for name in FIELDS:
        out.append(f"    {name:<13} {report.field_accuracy(name):7.1%}")
    out.append(f"  item recall     {got['item_recall']:7.1%}   target >= {target['item_recall']}")
    out.append(f"  invented items  {got['invented']:7.1%}   target <= {target['invented']}")
    out.append("  all targets met" if report.meets_targets() else "  TARGET MISSED")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    report = score_corpus(args.corpus)
    print(render(report, args.verbose))
    return 0 if report.meets_targets() else 1


if __name__ == "__main__":
    sys.exit(main())
