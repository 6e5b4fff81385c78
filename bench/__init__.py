"""Benchmarks of the metrics path. Run ``python -m bench --help``.

Benchmarks print figures and ratios; nothing here asserts on time. A run exits 0 unless something
broke (the service did not start, a request failed, a tool is missing).
"""
