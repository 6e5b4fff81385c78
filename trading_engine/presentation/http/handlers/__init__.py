"""Request handlers: parse, call a use case, render. No business logic here."""
