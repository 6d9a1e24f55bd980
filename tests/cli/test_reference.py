"""docs/cli.md and docs/configuration.md are generated (`make docs`) and kept current."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from syncd.cli import reference
from syncd.cli.main import build_parser
from syncd.config import Settings
from tests.conftest import ROOT


def test_the_generated_pages_are_current() -> None:
    stale = reference.stale_pages(ROOT / "docs")
    assert stale == [], f"docs/{', docs/'.join(stale)} stale: run `make docs` and commit"


def test_a_stale_page_fails_the_check_and_names_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--docs", str(tmp_path)]) == 0
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 0
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text().replace("| `lookback_days` |", "| `lookback` |"))
    capsys.readouterr()
    assert reference.main(["--check", "--docs", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "configuration.md is stale: run `make docs`" in err and "cli.md" not in err


def test_a_key_without_a_description_stops_the_generator() -> None:
    class Section(BaseModel):
        documented: int = Field(1, description="fine")
        bare: int = 2

    missing: list[str] = []
    reference.key_rows(reference.Section("[x]", "x", Section), missing)
    assert missing == ["x.bare"]


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def test_every_key_of_the_core_and_of_each_connector_is_documented() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    models = [s.model for s in reference.sections(Settings)]
    models += [reference.connector_class(k).Config for k in reference.shipped_kinds()]
    assert reference.shipped_kinds() == ["github", "jira", "linear"]
    absent = [
        f"{m.__name__}.{key}"
        for m in models
        for key in _keys(m)
        if f"| `{key}` |" not in page and key not in Settings.model_fields
    ]
    assert absent == []


def _commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[str]:
    found = []
    for name, _help, sub in reference._subcommands(parser):
        found.append(" ".join((*words, name)))
        found.extend(_commands(sub, (*words, name)))
    return found


def test_every_command_and_option_is_in_the_cli_reference() -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    commands = _commands(build_parser())
    assert {"sandbox", "demo", "state reset", "lease break"} <= set(commands)
    for command in commands:
        assert f"## `syncd {command}`" in page, command
    options = {o for a in build_parser()._actions for o in a.option_strings}
    for _name, _help, sub in reference._subcommands(build_parser()):
        options |= {o for a in sub._actions for o in a.option_strings if o != "-h"}
    assert all(f"`{o}`" in page for o in options - {"-h", "--help", "--version"})
