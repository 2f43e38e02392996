"""The Java-client JMX source's metric specs (its part of the catalogue), keyed by the record field that fills each."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric

SRC = "client_jmx"
C = ("target", "client_id")
CT = ("target", "client_id", "topic")
CP = ("target", "client_id", "topic", "partition")
_WINDOW = "Average over the client's metrics window (metrics.sample.window.ms x metrics.num.samples, default 2 x 30 s); absent when nothing happened in the window."

CLIENT_INFO = metric(
    "kafka_insight_client_info",
    "gauge",
    """Always 1 per Java client found in a JMX target: producer or consumer, its client.id and
    its Kafka client version (app-info version, commit-id). Versions matter: producers from
    2.1 to 3.0.x and 3.1.0 can reorder records with default settings.""",
    ("target", "client_id", "kind", "version", "commit_id"),
    source=SRC,
)
DECLARED_SETTING = metric(
    "kafka_insight_client_declared_setting_info",
    "gauge",
    """Always 1 per client setting the operator declared for this JMX target in the
    exporter's config (jmx.clients.targets[].settings); JMX does not expose a client's
    configuration. Missing means not declared, not "default".""",
    ("target", "client_id", "setting", "value"),
    source=SRC,
)


def _p(name: str, help: str, type: str = "gauge", unit: str = "", labels: tuple[str, ...] = C) -> MetricSpec:
    return metric(name, "counter" if type == "counter" else "gauge", help, labels, unit=unit, source=SRC)


PRODUCER: dict[str, MetricSpec] = {
    "compression_rate_avg": _p(
        "kafka_insight_producer_compressed_size_ratio",
        f"""Compressed size / uncompressed size of the producer's batches (producer-metrics
        compression-rate-avg). 1.0 = no compression; lower is better (0.2 = 80 % saved).
        Kafka's name reads backwards: it is not a "rate of compression". {_WINDOW}""",
        unit="ratio",
    ),
    "batch_size_avg": _p(
        "kafka_insight_producer_batch_size_avg_bytes",
        f"""Average bytes per partition batch as sent, AFTER compression (producer-metrics
        batch-size-avg); compare with batch.size (also compressed). Raw data per batch is
        about this / kafka_insight_producer_compressed_size_ratio. {_WINDOW}""",
        unit="bytes",
    ),
    "batch_size_max": _p(
        "kafka_insight_producer_batch_size_max_bytes",
        f"Largest batch sent, after compression (producer-metrics batch-size-max). {_WINDOW}",
        unit="bytes",
    ),
    "record_size_avg": _p(
        "kafka_insight_producer_record_size_avg_bytes",
        f"""producer-metrics record-size-avg: per batch the LARGEST record's estimated size
        (with batch overhead), averaged over batches; not the mean record size. {_WINDOW}""",
        unit="bytes",
    ),
    "record_size_max": _p(
        "kafka_insight_producer_record_size_max_bytes",
        f"Largest record sent (producer-metrics record-size-max). {_WINDOW}",
        unit="bytes",
    ),
    "records_per_request_avg": _p(
        "kafka_insight_producer_records_per_request_avg",
        f"Average records per produce request (producer-metrics records-per-request-avg). {_WINDOW}",
    ),
    "record_queue_time_avg_seconds": _p(
        "kafka_insight_producer_record_queue_time_avg_seconds",
        f"""Average time batches waited in the producer's buffer before being sent
        (producer-metrics record-queue-time-avg, ms converted to seconds); close to linger.ms
        is normal, far above means the sender cannot keep up. {_WINDOW}""",
        unit="seconds",
    ),
    "record_queue_time_max_seconds": _p(
        "kafka_insight_producer_record_queue_time_max_seconds",
        f"Longest time a batch waited in the buffer (producer-metrics record-queue-time-max). {_WINDOW}",
        unit="seconds",
    ),
    "request_latency_avg_seconds": _p(
        "kafka_insight_producer_request_latency_avg_seconds",
        f"Average produce request latency (producer-metrics request-latency-avg, in seconds). {_WINDOW}",
        unit="seconds",
    ),
    "request_latency_max_seconds": _p(
        "kafka_insight_producer_request_latency_max_seconds",
        f"Longest produce request latency (producer-metrics request-latency-max, in seconds). {_WINDOW}",
        unit="seconds",
    ),
    "produce_throttle_time_avg_seconds": _p(
        "kafka_insight_producer_throttle_time_avg_seconds",
        f"Average time the brokers throttled this producer for quota (producer-metrics produce-throttle-time-avg). {_WINDOW}",
        unit="seconds",
    ),
    "record_send_total": _p(
        "kafka_insight_producer_records_sent_total",
        "Records the producer sent (producer-metrics record-send-total).",
        "counter",
    ),
    "record_retry_total": _p(
        "kafka_insight_producer_record_retries_total",
        """Record sends the producer retried (producer-metrics record-retry-total). Retries
        with max.in.flight > 1 and idempotence off can reorder records.""",
        "counter",
    ),
    "record_error_total": _p(
        "kafka_insight_producer_record_errors_total",
        "Records the producer failed to send after all retries: data the application was told is lost (producer-metrics record-error-total).",
        "counter",
    ),
    "request_total": _p(
        "kafka_insight_producer_requests_total",
        "Requests the producer sent to brokers (producer-metrics request-total).",
        "counter",
    ),
    "outgoing_byte_total": _p(
        "kafka_insight_producer_outgoing_bytes_total",
        "Bytes the producer sent over the network to all brokers (producer-metrics outgoing-byte-total).",
        "counter",
        unit="bytes",
    ),
    "buffer_available_bytes": _p(
        "kafka_insight_producer_buffer_available_bytes",
        """Free bytes in the producer's record buffer (producer-metrics buffer-available-bytes).
        Near 0: send() blocks up to max.block.ms, then fails.""",
        unit="bytes",
    ),
    "buffer_total_bytes": _p(
        "kafka_insight_producer_buffer_total_bytes",
        "Size of the producer's record buffer, buffer.memory (producer-metrics buffer-total-bytes).",
        unit="bytes",
    ),
    "buffer_exhausted_total": _p(
        "kafka_insight_producer_buffer_exhausted_total",
        "Record appends dropped because the buffer was full (producer-metrics buffer-exhausted-total).",
        "counter",
    ),
    "requests_in_flight": _p(
        "kafka_insight_producer_requests_in_flight",
        "Produce requests sent and not yet answered (producer-metrics requests-in-flight).",
    ),
}
PRODUCER_TOPIC: dict[str, MetricSpec] = {
    "compression_rate": _p(
        "kafka_insight_producer_topic_compressed_size_ratio",
        f"""Compressed / uncompressed size of the producer's batches for this topic
        (producer-topic-metrics compression-rate); 1.0 = no compression, lower is better.
        {_WINDOW}""",
        unit="ratio",
        labels=CT,
    ),
    "byte_total": _p(
        "kafka_insight_producer_topic_sent_bytes_total",
        "Bytes (compressed) the producer sent for this topic (producer-topic-metrics byte-total).",
        "counter",
        unit="bytes",
        labels=CT,
    ),
    "record_send_total": _p(
        "kafka_insight_producer_topic_records_sent_total",
        "Records the producer sent to this topic (producer-topic-metrics record-send-total).",
        "counter",
        labels=CT,
    ),
    "record_retry_total": _p(
        "kafka_insight_producer_topic_record_retries_total",
        "Record sends to this topic that were retried (producer-topic-metrics record-retry-total).",
        "counter",
        labels=CT,
    ),
    "record_error_total": _p(
        "kafka_insight_producer_topic_record_errors_total",
        "Records to this topic that failed after all retries (producer-topic-metrics record-error-total).",
        "counter",
        labels=CT,
    ),
}
CONSUMER: dict[str, MetricSpec] = {
    "records_lag_max": _p(
        "kafka_insight_consumer_records_lag_max",
        f"""Largest lag (messages) of any assigned partition seen over the metrics window
        (consumer-fetch-manager-metrics records-lag-max). NOT the current lag: a caught-up
        consumer can show thousands; see kafka_insight_consumer_partition_records_lag or the
        group lag. {_WINDOW}""",
    ),
    "records_lead_min": _p(
        "kafka_insight_consumer_records_lead_min",
        f"""Smallest distance (messages) between the consumer's position and the log start of
        any assigned partition (records-lead-min). Near 0: retention is about to delete
        records before they are read. {_WINDOW}""",
    ),
    "records_consumed_total": _p(
        "kafka_insight_consumer_records_consumed_total",
        "Records the consumer received (consumer-fetch-manager-metrics records-consumed-total).",
        "counter",
    ),
    "bytes_consumed_total": _p(
        "kafka_insight_consumer_consumed_bytes_total",
        "Bytes the consumer received (consumer-fetch-manager-metrics bytes-consumed-total).",
        "counter",
        unit="bytes",
    ),
    "fetch_total": _p(
        "kafka_insight_consumer_fetches_total",
        "Fetch requests the consumer sent (consumer-fetch-manager-metrics fetch-total).",
        "counter",
    ),
    "fetch_latency_avg_seconds": _p(
        "kafka_insight_consumer_fetch_latency_avg_seconds",
        f"Average fetch request latency, including fetch.max.wait.ms waits (fetch-latency-avg, in seconds). {_WINDOW}",
        unit="seconds",
    ),
    "fetch_latency_max_seconds": _p(
        "kafka_insight_consumer_fetch_latency_max_seconds",
        f"Longest fetch request latency (fetch-latency-max, in seconds). {_WINDOW}",
        unit="seconds",
    ),
    "fetch_throttle_time_avg_seconds": _p(
        "kafka_insight_consumer_fetch_throttle_time_avg_seconds",
        f"Average time brokers throttled this consumer's fetches for quota (fetch-throttle-time-avg). Non-zero: a quota limits it. {_WINDOW}",
        unit="seconds",
    ),
    "rebalance_total": _p(
        "kafka_insight_consumer_rebalances_total",
        "Group rebalances this consumer took part in (consumer-coordinator-metrics rebalance-total).",
        "counter",
    ),
    "failed_rebalance_total": _p(
        "kafka_insight_consumer_failed_rebalances_total",
        "Group rebalances that failed for this consumer (consumer-coordinator-metrics failed-rebalance-total); one at start-up is normal for classic groups.",
        "counter",
    ),
    "last_rebalance_age_seconds": _p(
        "kafka_insight_consumer_last_rebalance_age_seconds",
        "Seconds since this consumer's last rebalance (consumer-coordinator-metrics last-rebalance-seconds-ago). Small and resetting often: the group keeps rebalancing.",
        unit="seconds",
    ),
    "rebalance_latency_avg_seconds": _p(
        "kafka_insight_consumer_rebalance_latency_avg_seconds",
        f"Average duration of this consumer's rebalances (rebalance-latency-avg, in seconds). {_WINDOW}",
        unit="seconds",
    ),
    "commit_total": _p(
        "kafka_insight_consumer_commits_total",
        "Offset commits the consumer sent (consumer-coordinator-metrics commit-total).",
        "counter",
    ),
    "commit_latency_avg_seconds": _p(
        "kafka_insight_consumer_commit_latency_avg_seconds",
        f"Average offset commit latency (consumer-coordinator-metrics commit-latency-avg, in seconds). {_WINDOW}",
        unit="seconds",
    ),
    "assigned_partitions": _p(
        "kafka_insight_consumer_assigned_partitions",
        "Partitions currently assigned to this consumer (consumer-coordinator-metrics assigned-partitions).",
    ),
    "last_poll_age_seconds": _p(
        "kafka_insight_consumer_last_poll_age_seconds",
        """Seconds since the application last called poll() (consumer-metrics
        last-poll-seconds-ago). Approaching max.poll.interval.ms (default 300 s): the consumer
        is kicked out of its group.""",
        unit="seconds",
    ),
}
CONSUMER_TOPIC: dict[str, MetricSpec] = {
    "records_consumed_total": _p(
        "kafka_insight_consumer_topic_records_consumed_total",
        "Records the consumer received from this topic (consumer-fetch-manager-metrics,topic records-consumed-total).",
        "counter",
        labels=CT,
    ),
    "bytes_consumed_total": _p(
        "kafka_insight_consumer_topic_consumed_bytes_total",
        "Bytes the consumer received from this topic (consumer-fetch-manager-metrics,topic bytes-consumed-total).",
        "counter",
        unit="bytes",
        labels=CT,
    ),
}
CONSUMER_PARTITION: dict[str, MetricSpec] = {
    "records_lag": _p(
        "kafka_insight_consumer_partition_records_lag",
        """Current lag (messages) of this consumer on the partition: log end (or last stable
        offset for read_committed) minus its position (records-lag; jmx.clients.per_partition_lag).""",
        labels=CP,
    ),
    "records_lead": _p(
        "kafka_insight_consumer_partition_records_lead",
        """Messages between the log start and this consumer's position on the partition
        (records-lead; jmx.clients.per_partition_lag). Near 0: retention deletes unread records.""",
        labels=CP,
    ),
}
