"""The application context every command and the worker open: settings, state store,
connectors, and the redactor that keeps their secrets out of every output."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connectors.base import Connector
from connectors.registry import UnknownConnector, build, connector_class
from syncd.common import logs
from syncd.config import (
    ConfigError,
    Settings,
    empty_secrets,
    is_secret_key,
    load_config,
    tracker_error,
)
from syncd.sync.state import StateStore


@dataclass
class Context:
    settings: Settings
    state: StateStore
    connectors: dict[str, Connector]
    redactor: logs.Redactor


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the configuration, for log and output redaction."""
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and is_secret_key(key):
            found.append(node)
        elif hasattr(node, "get_secret_value"):
            found.append(node.get_secret_value())

    walk(settings.trackers)
    pr_token = settings.docs.git.pull_request.token
    if pr_token is not None:
        found.append(pr_token.get_secret_value())
    if settings.smtp.password is not None:
        found.append(settings.smtp.password.get_secret_value())
    if settings.digest.slack_webhook_url is not None:  # the URL is the credential
        found.append(settings.digest.slack_webhook_url.get_secret_value())
    return found


def build_connectors(settings: Settings) -> dict[str, Connector]:
    """One connector per `[trackers.NAME]`; every section's problems in one ConfigError,
    each a dotted key with what to do, never an input value."""
    connectors: dict[str, Connector] = {}
    problems: list[str] = []
    for name, section in settings.trackers.items():
        if empty := empty_secrets(name, section):
            problems.extend(empty)
            continue
        try:
            connectors[name] = build(name, dict(section))
        except UnknownConnector as exc:
            problems.append(f"trackers.{name}.kind: {exc}")
        except ValidationError as exc:  # the connector's own model rejected its section
            model = getattr(_connector_class(section, name), "Config", None)
            problems.extend(tracker_error(name, exc, model))
    if problems:
        for connector in connectors.values():
            connector.close()
        source = f" in {settings.source}" if settings.source else ""
        raise ConfigError(
            f"invalid tracker configuration{source}:", problems, secrets=secrets_of(settings)
        )
    return connectors


def _connector_class(section: Any, name: str) -> Any:
    try:
        return connector_class(str(section.get("kind", name)))
    except UnknownConnector:
        return None


@contextlib.contextmanager
def open_context(config: str | Path | None) -> Iterator[Context]:
    settings = load_config(config)
    redactor = logs.configure(settings.log.format, settings.log.level, secrets_of(settings))
    connectors = build_connectors(settings)
    state = StateStore.open(settings.state.path)
    try:
        yield Context(settings, state, connectors, redactor)
    finally:
        for connector in connectors.values():
            connector.close()
        state.close()
