"""Metrics adapters implementing the domain's MetricsPort: Prometheus and no-op."""
