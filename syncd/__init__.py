"""postmortem-syncd: keep postmortem action items and their tickets in sync."""

__version__ = "0.1.0"
