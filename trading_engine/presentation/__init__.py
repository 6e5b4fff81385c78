"""Presentation: the ways in (HTTP today). Calls use cases; never reaches an adapter."""
