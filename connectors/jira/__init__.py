"""Jira Cloud / Data Center connector (entry point `jira` in the `syncd.connectors` group)."""

from connectors.jira.connector import JiraConfig, JiraConnector

__all__ = ["JiraConfig", "JiraConnector"]
