"""Postmortem documents: discover, parse, patch and lint. Knows nothing of trackers."""
