"""The exporter's own metrics: per-source status and the collection cycle."""

from __future__ import annotations

from exporter.metrics import metric

SRC = "self"

SOURCE_UP = metric(
    "kafka_insight_source_up",
    "gauge",
    """1 if the last collection from this source and target succeeded, 0 if it failed or
    timed out. When 0, that source's series are absent (not stale values): check the
    exporter log for the one-line reason and kafka_insight_source_errors.""",
    ("source", "target"),
    source=SRC,
)
SOURCE_DURATION = metric(
    "kafka_insight_source_duration_seconds",
    "gauge",
    """Wall time of the last collection from this source and target. Close to the
    collection timeout means the target is slow or hanging.""",
    ("source", "target"),
    unit="seconds",
    source=SRC,
)
SOURCE_ERRORS = metric(
    "kafka_insight_source_errors",
    "gauge",
    """Errors seen from this source and target in the last collection cycle (0 when
    healthy). Partial failures (e.g. topic configs timed out while metadata worked) count
    here while source_up may stay 1.""",
    ("source", "target"),
    source=SRC,
)
SOURCE_ERRORS_TOTAL = metric(
    "kafka_insight_source_errors_total",
    "counter",
    "Errors seen from this source and target since the exporter started.",
    ("source", "target"),
    source=SRC,
)
DROPPED_VALUES_TOTAL = metric(
    "kafka_insight_dropped_values_total",
    "counter",
    """Values from a source that were not finite numbers (NaN, non-numeric strings) and
    were dropped instead of exported, since start. NaN from Kafka often just means 'no
    data in the window'; a fast rise elsewhere means a target sends garbage.""",
    ("source",),
    source=SRC,
)
LAST_COLLECTION = metric(
    "kafka_insight_last_collection_timestamp_seconds",
    "gauge",
    """Unix time at which the last collection cycle finished. Every value on /metrics
    comes from that cycle: time() minus this is the age of the data. Older than two
    intervals means the cycle is stuck.""",
    unit="seconds",
    source=SRC,
)
COLLECTION_DURATION = metric(
    "kafka_insight_collection_duration_seconds",
    "gauge",
    """Wall time of the last collection cycle (all sources in parallel, then
    interpretation and rendering).""",
    unit="seconds",
    source=SRC,
)
COLLECTION_INTERVAL = metric(
    "kafka_insight_collection_interval_seconds",
    "gauge",
    "Configured time between collection cycles; values on /metrics are at most this old plus one cycle.",
    unit="seconds",
    source=SRC,
)
COLLECTIONS_TOTAL = metric(
    "kafka_insight_collections_total",
    "counter",
    "Collection cycles completed since the exporter started.",
    source=SRC,
)
RENDER_DURATION = metric(
    "kafka_insight_render_duration_seconds",
    "gauge",
    "Time spent turning the previous cycle's samples into exposition bytes.",
    unit="seconds",
    source=SRC,
)
EXPOSED_SERIES = metric(
    "kafka_insight_exposed_series",
    "gauge",
    """Number of series in the previous exposition. Use it to watch cardinality; narrow
    the topic/group filters if it grows beyond what Prometheus should hold.""",
    source=SRC,
)
BUILD_INFO = metric(
    "kafka_insight_build_info",
    "gauge",
    "Always 1; labels give the exporter version and the librdkafka/confluent-kafka versions it runs with.",
    ("version", "python_version", "confluent_kafka_version", "librdkafka_version"),
    source=SRC,
)
