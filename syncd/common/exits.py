"""The one exit-code table for every command and the worker.

0  everything is in step
1  configuration or authentication: a human must change something before a retry helps
2  transient or per-item failures that a later run retries
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_RETRY = 2
