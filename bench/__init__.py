"""Benchmarks for postmortem-syncd: a corpus generator and an end-to-end bench runner.

`python -m bench.corpus OUT --docs 200 --items 5` writes a synthetic corpus;
`python -m bench.run` (or `make bench`) runs the real CLI against loopback emulators.
"""
