"""Connector discovery through the `syncd.connectors` entry-point group.

A third-party package registers `kind = "module:Class"` under that group in its own
pyproject; nothing in `syncd/` names a concrete connector.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Any

from connectors.base import Connector, ConnectorConfig

GROUP = "syncd.connectors"
EMULATOR_GROUP = "syncd.emulators"


class UnknownConnector(LookupError):
    pass


@cache
def connector_class(kind: str) -> Any:
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == kind]
    if not matches:
        known = ", ".join(sorted(available_kinds())) or "none"
        raise UnknownConnector(f"no connector of kind {kind!r} is installed (known: {known})")
    return matches[0].load()


def available_kinds() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def build(name: str, section: dict[str, Any]) -> Connector:
    """Validate a `[trackers.NAME]` section with the connector's own model and build it."""
    cls = connector_class(str(section.get("kind", name)))
    config: ConnectorConfig = cls.Config.model_validate(section)
    return cls(name, config)


@cache
def emulator_class(kind: str) -> Any:
    """The loopback emulator registered for `kind` (entry-point group `syncd.emulators`).

    Production connectors never name their test doubles; the demo, the sandbox and the
    conformance suite find them here.
    """
    matches = [ep for ep in entry_points(group=EMULATOR_GROUP) if ep.name == kind]
    if not matches:
        raise UnknownConnector(f"no emulator of kind {kind!r} is installed")
    return matches[0].load()
