"""kafka-insight-exporter: Prometheus exporter that says what Kafka's numbers mean."""

__version__ = "0.1.0"
