"""Backtests: the live engine's container driven by a replay on the data's clock (``run``), and
the ``trading-engine backtest`` command line (``cli``)."""
