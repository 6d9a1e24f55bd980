"""GitHub Issues connector (PyGithub) and its loopback emulator."""

from connectors.github.connector import GitHubConfig, GitHubConnector

__all__ = ["GitHubConfig", "GitHubConnector"]
