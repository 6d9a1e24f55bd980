"""Tracker connectors. See `connectors.base` for the interface and README for a guide."""
