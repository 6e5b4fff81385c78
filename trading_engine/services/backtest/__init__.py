"""Backtests: the statistics of a run (``statistics``) and the run itself as a use case."""
