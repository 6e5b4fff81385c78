"""Adapters that implement the domain's ports: observability, persistence, market, logging."""
