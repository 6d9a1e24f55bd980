"""`*_file` secrets reach every connector: each SecretStr key of each connector's config
model, written as `<key>_file` in the TOML, arrives in the built connector's config."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.registry import available_kinds, build, connector_class
from syncd.config import load_config

# The smallest valid section of each shipped kind, secrets left out.
REQUIRED: dict[str, dict[str, str]] = {
    "jira": {"url": "https://example.atlassian.net", "project": "OPS"},
    "github": {"repo": "acme/reliability"},
    "linear": {"team": "ENG"},
}


def secret_keys(kind: str) -> list[str]:
    fields = connector_class(kind).Config.model_fields
    return sorted(
        name
        for name, info in fields.items()
        if info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)
    )


def toml_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("kind", sorted(REQUIRED))
def test_every_secret_key_can_come_from_a_file(kind: str, tmp_path: Path) -> None:
    assert kind in available_kinds()
    keys = secret_keys(kind)
    assert "token" in keys and "webhook_secret" in keys  # the walk finds what we expect
    lines = [f"[trackers.{kind}]", f'kind = "{kind}"']
    lines += [f"{k} = {toml_value(v)}" for k, v in REQUIRED[kind].items()]
    expected: dict[str, str] = {}
    for n, key in enumerate(keys):
        value = f"{kind}-{key}-{n}-s3cr3t"
        (tmp_path / "secrets").mkdir(exist_ok=True)
        (tmp_path / "secrets" / key).write_text(value + "\n")
        lines.append(f'{key}_file = "secrets/{key}"')  # relative to the config file
        expected[key] = value
    config_file = tmp_path / "syncd.toml"
    config_file.write_text("\n".join(lines) + "\n")
    settings = load_config(config_file, env={})
    connector = build(kind, dict(settings.trackers[kind]))
    try:
        config: Any = connector.config  # type: ignore[attr-defined]
        for key, value in expected.items():
            assert getattr(config, key).get_secret_value() == value, key
        assert "s3cr3t" not in repr(connector)
    finally:
        connector.close()
