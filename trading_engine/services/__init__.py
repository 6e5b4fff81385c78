"""Use cases. They take ports in ``__init__`` and import only the domain."""
