"""Backtests run by the service: their records on disk, and the worker processes that run them."""
