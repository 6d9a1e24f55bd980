"""Leaf helpers every layer may use: logs, exit codes, globs, durations, GC pause."""
