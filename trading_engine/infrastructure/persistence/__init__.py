"""Trading store adapters: SQLite (durable, the default) and in-memory (tests, embedding)."""
