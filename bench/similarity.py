"""Precision and recall of incident similarity on the labelled pairs, beside the goals.

    python -m bench.similarity               # figures with the module's thresholds
    python -m bench.similarity --calibrate   # also: the threshold the calibration split picks

The labelled set is tests/fixtures/similarity/pairs.yaml. Pairs marked `calibrate`
chose `similarity.THRESHOLD`; `holdout` pairs never did, so their figures say how the
thresholds generalise. Idf is computed over every factor of the set (the set is the
archive), the same for both splits. Goals: precision >= 0.9, recall >= 0.8.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from syncd.digest import similarity

PAIRS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "similarity" / "pairs.yaml"
PRECISION_GOAL = 0.9
RECALL_GOAL = 0.8


@dataclass(frozen=True)
class Pair:
    id: str
    kind: str
    recurrence: bool
    split: str
    a: similarity.Profile
    b: similarity.Profile


def load(path: Path = PAIRS) -> list[Pair]:
    data: Any = YAML(typ="safe").load(path.read_text())
    raw = data["pairs"]
    known = frozenset(str(t).lower() for p in raw for side in ("a", "b") for t in p[side]["tags"])
    out = []
    for p in raw:
        profiles = [
            similarity.profile(f"{p['id']}/{side}", [str(f) for f in p[side]["factors"]], known)
            for side in ("b", "a")  # b is the later incident: it is compared with a
        ]
        out.append(Pair(p["id"], p["kind"], bool(p["recurrence"]), p["split"], *profiles))
    return out


@dataclass(frozen=True)
class Figures:
    pairs: int
    true_pos: int
    false_pos: int
    false_neg: int
    wrong: tuple[str, ...]

    @property
    def precision(self) -> float:
        found = self.true_pos + self.false_pos
        return self.true_pos / found if found else 1.0

    @property
    def recall(self) -> float:
        real = self.true_pos + self.false_neg
        return self.true_pos / real if real else 1.0


def evaluate(pairs: Sequence[Pair], idf: similarity.Idf) -> Figures:
    tp = fp = fn = 0
    wrong = []
    for p in pairs:
        said = similarity.compare(p.a, p.b, idf).related
        if said and p.recurrence:
            tp += 1
        elif said:
            fp += 1
            wrong.append(f"{p.id} ({p.kind}): matched, but is not a recurrence")
        elif p.recurrence:
            fn += 1
            wrong.append(f"{p.id} ({p.kind}): missed")
    return Figures(len(pairs), tp, fp, fn, tuple(wrong))


def corpus_idf(pairs: Sequence[Pair]) -> similarity.Idf:
    return similarity.factor_idf([x for p in pairs for x in (p.a, p.b)])


def calibrate(pairs: Sequence[Pair], idf: similarity.Idf) -> tuple[float, float, float]:
    """(lowest, highest, middle) threshold with the best F1 on `pairs` among those that
    meet the precision goal. The middle keeps the widest margin on both sides for pairs
    the calibration never saw."""
    saved = similarity.THRESHOLD
    scored: list[tuple[float, float]] = []
    try:
        for step in range(1, 100):
            similarity.THRESHOLD = step / 100
            f = evaluate(pairs, idf)
            if f.precision >= PRECISION_GOAL:
                f1 = 2 * f.precision * f.recall / ((f.precision + f.recall) or 1)
                scored.append((round(f1, 6), similarity.THRESHOLD))
    finally:
        similarity.THRESHOLD = saved
    if not scored:
        return saved, saved, saved
    top = max(f1 for f1, _t in scored)
    best = [t for f1, t in scored if f1 == top]
    return best[0], best[-1], round((best[0] + best[-1]) / 2, 2)


def _line(name: str, f: Figures) -> str:
    ok_p = "ok" if f.precision >= PRECISION_GOAL else "BELOW GOAL"
    ok_r = "ok" if f.recall >= RECALL_GOAL else "BELOW GOAL"
    return (
        f"{name:<10} {f.pairs:>3} pairs  precision {f.precision:.2f} (goal >= {PRECISION_GOAL},"
        f" {ok_p})  recall {f.recall:.2f} (goal >= {RECALL_GOAL}, {ok_r})"
    )


@dataclass(frozen=True)
class Report:
    text: str
    ok: bool  # both goals met on every split


def report(path: Path = PAIRS, calibrate_too: bool = False) -> Report:
    """The figures per split (calibrate, holdout, all) beside the goals, as printed."""
    pairs = load(path)
    idf = corpus_idf(pairs)
    splits = {
        "calibrate": [p for p in pairs if p.split == "calibrate"],
        "holdout": [p for p in pairs if p.split == "holdout"],
        "all": pairs,
    }
    shown = path.resolve()
    if shown.is_relative_to(PAIRS.parents[3]):
        shown = shown.relative_to(PAIRS.parents[3])
    lines = [f"labelled pairs: {shown} (threshold {similarity.THRESHOLD})"]
    ok = True
    for name, subset in splits.items():
        f = evaluate(subset, idf)
        lines.append(_line(name, f))
        lines.extend(f"           - {w}" for w in f.wrong)
        ok &= f.precision >= PRECISION_GOAL and f.recall >= RECALL_GOAL
    if calibrate_too:
        low, high, middle = calibrate(splits["calibrate"], idf)
        lines.append(
            f"calibration split: best F1 for thresholds {low}..{high}, middle {middle}"
            f" (module uses {similarity.THRESHOLD})"
        )
    return Report("\n".join(lines), ok)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.similarity", description=__doc__)
    parser.add_argument("--calibrate", action="store_true", help="search the threshold too")
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    args = parser.parse_args(argv)
    result = report(args.pairs, args.calibrate)
    print(result.text)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
