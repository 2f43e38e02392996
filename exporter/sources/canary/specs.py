"""The canary source's metric specs (its part of the catalogue).

Emitted by :mod:`exporter.sources.canary.emit` from a :class:`~.records.CanarySnapshot`.
Latencies are Prometheus histograms (``_bucket`` with ``le``, ``_count``, ``_sum``).
"""

from __future__ import annotations

from exporter.metrics import metric

SRC = "canary"

#: upper bounds (seconds) of the latency buckets; +Inf is added
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

PRODUCE_ATTEMPTS = metric(
    "kafka_insight_canary_produce_attempts_total",
    "counter",
    """Canary records sent (acks=all, idempotent) to the partition, by the broker that led
    it when sent. Compare with kafka_insight_canary_produce_failures_total.""",
    ("partition", "broker"),
    source=SRC,
)
PRODUCE_FAILURES = metric(
    "kafka_insight_canary_produce_failures_total",
    "counter",
    """Canary records the cluster did not acknowledge, by the error of their delivery report.
    This producer is idempotent and retries until its 2-minute delivery timeout (a refused
    write too: kafka_insight_canary_refusal_probe_failures_total names refusals as they
    happen), so failures are _MSG_TIMED_OUT (nothing acknowledged for 2 minutes), _QUEUE_FULL
    (more than 15 s of records waiting: not queued) or fatal client errors.""",
    ("partition", "broker", "error"),
    source=SRC,
)
PROBE_ATTEMPTS = metric(
    "kafka_insight_canary_refusal_probes_total",
    "counter",
    """Refusal probe records sent to the partition (one per canary.probe_interval_seconds,
    acks=all, not idempotent, not retried), by the broker that led it when sent.""",
    ("partition", "broker"),
    source=SRC,
)
PROBE_FAILURES = metric(
    "kafka_insight_canary_refusal_probe_failures_total",
    "counter",
    """Refusal probe records not acknowledged, by the leader's (or the client's) first answer.
    NOT_ENOUGH_REPLICAS / NOT_ENOUGH_REPLICAS_AFTER_APPEND: the leader refused an acks=all
    write because fewer replicas than min.insync.replicas are in sync — every acks=all
    producer writing there fails now; bring the missing replicas' brokers back.
    REQUEST_TIMED_OUT / _MSG_TIMED_OUT: not acknowledged within 5 s, e.g. a follower still
    counted in the ISR is gone and no ISR can shrink because the KRaft controller quorum is
    lost too: Kafka then times out instead of refusing; _TRANSPORT: the leader was
    unreachable.""",
    ("partition", "broker", "error"),
    source=SRC,
)
PRODUCE_ACKED = metric(
    "kafka_insight_canary_produce_acknowledged_total",
    "counter",
    "Canary records acknowledged by the cluster (acks=all), by partition and its leader when sent.",
    ("partition", "broker"),
    source=SRC,
)
ACK_LATENCY = metric(
    "kafka_insight_canary_produce_ack_latency_seconds",
    "histogram",
    """Send-to-acknowledgement time (acks=all: the leader and its in-sync followers have the record)
    of acknowledged canary records, per leader broker when sent. p99:
    histogram_quantile(0.99, sum by (broker, le) (rate(..._bucket[5m]))). High: slow replication or
    an overloaded leader.""",
    ("broker",),
    unit="seconds",
    source=SRC,
)
E2E_LATENCY = metric(
    "kafka_insight_canary_end_to_end_latency_seconds",
    "histogram",
    """Send-to-read time of canary records read back, per leader broker. High values: consumers see
    data late on that broker's partitions (slow replication, overloaded broker).""",
    ("broker",),
    unit="seconds",
    source=SRC,
)
RECORDS_READ = metric(
    "kafka_insight_canary_records_read_total",
    "counter",
    "Canary records of this exporter session read back from the partition.",
    ("partition", "broker"),
    source=SRC,
)
RECORDS_LOST = metric(
    "kafka_insight_canary_acknowledged_records_lost_total",
    "counter",
    """Canary records the cluster ACKNOWLEDGED (acks=all) that are gone: their offset now holds
    a different record (reason=different_record) or lies beyond the log end
    (reason=beyond_log_end), by the broker that led the partition when it acknowledged them.
    Any increase means acknowledged data was lost (unclean leader election, truncation,
    lost page cache after power loss): applications' data was lost the same way. Check
    unclean.leader.election.enable, min.insync.replicas and flush settings of real topics.""",
    ("partition", "broker", "reason"),
    source=SRC,
)
RECORDS_OUT_OF_ORDER = metric(
    "kafka_insight_canary_records_out_of_order_total",
    "counter",
    """Canary records read back with a smaller sequence number than one read before them at a
    lower offset of the same partition (same producer session): ordering was broken.""",
    ("partition",),
    source=SRC,
)
RECORDS_DUPLICATED = metric(
    "kafka_insight_canary_records_duplicated_total",
    "counter",
    """Canary records read back twice at different offsets (same session and sequence number):
    the idempotent producer's guarantee was broken. Expected only after the canary's own
    records waited more than its 2-minute delivery timeout (librdkafka then resends under a
    new producer epoch); otherwise a broker or client bug worth a report.""",
    ("partition",),
    source=SRC,
)
NEWEST_RECORD_AGE = metric(
    "kafka_insight_canary_newest_record_age_seconds",
    "gauge",
    """Seconds since the newest canary record read back from the partition was sent. Growing
    steadily means the canary is stuck: nothing is written or nothing can be read there
    (leader offline, produce refused, consumer stuck) — check the partition's leader.""",
    ("partition",),
    unit="seconds",
    source=SRC,
)
BROKER_PARTITIONS_LED = metric(
    "kafka_insight_canary_broker_partitions_led",
    "gauge",
    """Canary partitions the broker leads now. 0 means that broker is not probed by the
    canary (run a preferred leader election, or the broker is down).""",
    ("broker",),
    source=SRC,
)
WINDOW_RECORDS = metric(
    "kafka_insight_canary_window_records",
    "gauge",
    "Acknowledged canary records remembered for the loss check (bounded by canary.window_records per partition).",
    source=SRC,
)
SESSION_INFO = metric(
    "kafka_insight_canary_session_info",
    "gauge",
    """Always 1; the canary topic and this exporter run's session id (records of earlier
    sessions are never counted as lost).""",
    ("topic", "session"),
    source=SRC,
)
