"""Linear connector (GraphQL over httpx) and its loopback emulator."""

from connectors.linear.connector import LinearConfig, LinearConnector

__all__ = ["LinearConfig", "LinearConnector"]
