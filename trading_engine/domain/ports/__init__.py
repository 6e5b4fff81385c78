"""Ports: the interfaces the domain and the use cases need, implemented by infrastructure adapters."""
