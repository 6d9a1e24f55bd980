"""The dependency direction of the tree, checked by walking every import (also the ones
inside functions): cli → service → digest → sync → documents → config → common/model,
and connectors → syncd.model only. A new back-edge fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Higher may import lower or equal; never the other way.
LAYERS = [
    ("syncd.cli", 6),
    ("syncd.service", 5),
    ("syncd.digest", 4),
    ("syncd.sync", 3),
    ("syncd.documents", 2),
    ("syncd.config", 1),
    ("syncd.common", 0),
    ("syncd.model", 0),
]
PRODUCTION_CONNECTORS = "connectors"
TEST_DOUBLES = "connectors.testing"


def layer_of(module: str) -> int | None:
    if module == "syncd":
        return 0  # the package itself holds only the version
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from syncd import digest` imports the submodule syncd.digest
            found.extend((f"{target}.{alias.name}", node.lineno) for alias in node.names)
    return found


def edges() -> list[tuple[str, str, int]]:
    out = []
    for package in ("syncd", "connectors"):
        for path in sorted((ROOT / package).rglob("*.py")):
            me = module_name(path)
            for target, line in imports_of(path):
                if target.split(".")[0] in ("syncd", "connectors"):
                    out.append((me, target, line))
    return out


def _is_model(target: str) -> bool:
    return target in ("syncd", "syncd.__version__", "syncd.model") or target.startswith(
        "syncd.model."
    )


def violation(source: str, target: str) -> str | None:
    """Why `source` may not import `target`, or None when the edge goes the right way."""
    if source.startswith(PRODUCTION_CONNECTORS) and not source.startswith(TEST_DOUBLES):
        if target.startswith(TEST_DOUBLES):
            return "a production connector imports a test double"
        if target.startswith("syncd") and not _is_model(target):
            return "connectors may use only syncd.model from the core"
        return None
    if source.startswith(TEST_DOUBLES):
        if target.startswith("syncd") and not _is_model(target):
            return "test doubles may use only syncd.model from the core"
        return None
    if target.startswith(TEST_DOUBLES) and not source.startswith("syncd.cli"):
        return "only the CLI (demo, sandbox) may start test doubles"
    src, dst = layer_of(source), layer_of(target)
    if target.startswith(PRODUCTION_CONNECTORS):
        # the core reaches connectors through the interface and the registry only
        allowed = (["connectors"], ["connectors", "base"], ["connectors", "registry"])
        if target.split(".")[:2] not in allowed and not target.startswith(TEST_DOUBLES):
            return "the core names a concrete connector"
        return None if src is not None and src >= 3 else "only sync and above talk to trackers"
    if src is None or dst is None:
        return None
    if dst > src:
        return f"layer {src} imports layer {dst}"
    return None


def test_every_import_goes_down_the_layers() -> None:
    bad = [
        f"{source} (line {line}) -> {target}: {why}"
        for source, target, line in edges()
        if (why := violation(source, target))
    ]
    assert bad == [], "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("syncd.documents.parser", "syncd.cli.main"),  # the cycle that used to exist
        ("syncd.service.worker", "syncd.cli.commands"),
        ("syncd.digest.cli", "syncd.service.daemon"),
        ("syncd.sync.engine", "syncd.digest.metrics"),
        ("connectors.base", "syncd.config"),
        ("connectors.jira.connector", "connectors.testing.jira"),
        ("syncd.sync.engine", "connectors.jira.connector"),
        ("syncd.documents.parser", "connectors.base"),
    ],
)
def test_a_back_edge_is_caught(source: str, target: str) -> None:
    assert violation(source, target) is not None


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    # imports_of must find lazy imports too, or a cycle could hide inside a function
    assert any(
        target == "syncd.service.daemon"
        for target, _ in imports_of(ROOT / "syncd" / "service" / "worker.py")
    )


def _reason_given(lines: list[str], index: int) -> bool:
    """A comment on the import's line, or above the run of imports it belongs to."""
    if "#" in lines[index]:
        return True
    i = index - 1
    while i >= 0 and (lines[i].strip().startswith(("from ", "import ")) or not lines[i].strip()):
        if "#" in lines[i]:
            return True
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


def test_each_import_inside_a_function_says_why() -> None:
    """A lazy import is either start-up time or an optional dependency; say which."""
    missing = []
    for package in ("syncd", "connectors"):
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = path.read_text().splitlines()
            tree = ast.parse("\n".join(lines))
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import | ast.ImportFrom) and not _reason_given(
                        lines, node.lineno - 1
                    ):
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert missing == [], "imports inside functions without a reason:\n" + "\n".join(missing)
