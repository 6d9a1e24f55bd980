"""GitHub Issues connector (PyGithub); entry point `github` in the `syncd.connectors` group."""

from connectors.github.connector import GitHubConfig, GitHubConnector

__all__ = ["GitHubConfig", "GitHubConnector"]
