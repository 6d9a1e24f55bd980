"""Linear connector (GraphQL over httpx); entry point `linear` in the `syncd.connectors` group."""

from connectors.linear.connector import LinearConfig, LinearConnector

__all__ = ["LinearConfig", "LinearConnector"]
