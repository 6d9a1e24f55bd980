"""Hand-written docs stay true: every tracker key documented, real invocations in the
example config, no planning vocabulary."""

from __future__ import annotations

import re

from connectors.base import ConnectorConfig
from syncd.cli import reference
from syncd.cli.main import build_parser
from tests.conftest import ROOT

INLINE_CODE = re.compile(r"`[^`\n]*`")
PLANNING = re.compile(r"\bissue #?\d+\b|\bseed \d{3}\b|#1\d\b", re.IGNORECASE)


def test_trackers_page_documents_every_key_of_every_connector() -> None:
    page = (ROOT / "docs" / "trackers.md").read_text()
    models = [ConnectorConfig] + [
        reference.connector_class(k).Config for k in reference.shipped_kinds()
    ]
    absent = [
        f"{m.__name__}.{key}"
        for m in models
        for key in m.model_fields
        if f"| `{key}` |" not in page
    ]
    assert absent == []


def test_the_example_config_names_real_commands() -> None:
    text = (ROOT / "config" / "example.toml").read_text()
    invocations = re.findall(r"`syncd ([^`]*)`", text)
    assert invocations
    commands = {name for name, _help, _sub in reference._subcommands(build_parser())}
    for invocation in invocations:
        first = invocation.split()[0]
        assert first in commands or first == "COMMAND", invocation


def test_no_planning_vocabulary_in_the_docs() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += [ROOT / "config" / "example.toml", ROOT / "bench" / "README.md"]
    pages += [ROOT / "deploy" / "README.md"]
    found = [
        f"{page.relative_to(ROOT)}:{n}: {line.strip()}"
        for page in pages
        for n, line in enumerate(page.read_text().splitlines(), 1)
        if PLANNING.search(INLINE_CODE.sub("", line))
    ]
    assert found == []
