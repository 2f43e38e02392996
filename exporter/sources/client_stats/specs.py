"""The client-statistics source's metric specs (its part of the catalogue) and their label sets."""

from __future__ import annotations

from exporter.metrics import metric

SRC = "client_stats"
INSTANCE = ("client_id", "client_instance")
_FROM = "librdkafka statistics (STATISTICS.md)"

STATS_MESSAGES = metric(
    "kafka_insight_librdkafka_stats_messages_total",
    "counter",
    f"""Messages read from the client statistics topic since start, by outcome: accepted;
    invalid (not JSON, not an object, wrong field types, not producer/consumer statistics);
    too_large (over client_stats.max_message_bytes); instance_cap (a new client instance
    while client_stats.max_instances are tracked: ignored until others expire); expired
    (already older than the expiry when read, e.g. read back at start); out_of_order (older
    than the instance's latest). Rising invalid or instance_cap means something other than
    the forwarder writes to the topic. Source: {_FROM} forwarded by applications.""",
    ("outcome",),
    source=SRC,
)
TRACKED = metric(
    "kafka_insight_librdkafka_tracked_instances",
    "gauge",
    """Client instances whose statistics are currently kept (heard from within
    client_stats.expire_after_intervals of their statistics interval). Equal to
    kafka_insight_librdkafka_max_tracked_instances means new clients are being ignored.""",
    source=SRC,
)
MAX_TRACKED = metric(
    "kafka_insight_librdkafka_max_tracked_instances",
    "gauge",
    "Configured cap on tracked client instances (client_stats.max_instances).",
    source=SRC,
)
EXPIRED = metric(
    "kafka_insight_librdkafka_expired_instances_total",
    "counter",
    """Client instances dropped since start because no statistics arrived for
    client_stats.expire_after_intervals of their statistics interval (the application
    stopped, or its forwarder cannot reach Kafka). Their series disappear.""",
    source=SRC,
)
CLIENT_INFO = metric(
    "kafka_insight_librdkafka_client_info",
    "gauge",
    f"""Always 1 per librdkafka client instance that forwards its statistics. role is the
    statistics' type (producer/consumer); client_id and the handle name come from the
    statistics (client_id, name); librdkafka_version, software, host, group and
    offset_storage (kafka, external, or unknown) come from the forwarder envelope and are
    empty/unknown when an application forwards bare statistics. client_instance is the
    message key (host/pid/handle name with the forwarder). Source: {_FROM}.""",
    (*INSTANCE, "name", "role", "librdkafka_version", "software", "host", "group", "offset_storage"),
    source=SRC,
)
STATS_AGE = metric(
    "kafka_insight_librdkafka_stats_age_seconds",
    "gauge",
    """Seconds since the client's latest statistics arrived at the exporter. Growing beyond a few statistics intervals means the client or its forwarder stalled;
    the instance expires after client_stats.expire_after_intervals intervals.""",
    INSTANCE,
    unit="seconds",
    source=SRC,
)
STATS_INTERVAL = metric(
    "kafka_insight_librdkafka_stats_interval_seconds",
    "gauge",
    """The client's statistics.interval.ms in seconds, as its forwarder declared it (absent
    for bare statistics: the exporter's collection interval is used for expiry then).""",
    INSTANCE,
    unit="seconds",
    source=SRC,
)
REQUESTS_SENT = metric(
    "kafka_insight_librdkafka_requests_sent_total",
    "counter",
    f"Requests sent to Kafka brokers by the client (top-level tx, {_FROM}).",
    INSTANCE,
    source=SRC,
)
SENT_BYTES = metric(
    "kafka_insight_librdkafka_sent_bytes_total",
    "counter",
    f"""Bytes sent to Kafka brokers, all requests, as on the wire (after compression)
    (top-level tx_bytes, {_FROM}).""",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
RESPONSES = metric(
    "kafka_insight_librdkafka_responses_received_total",
    "counter",
    f"Responses received from Kafka brokers (top-level rx, {_FROM}).",
    INSTANCE,
    source=SRC,
)
RECEIVED_BYTES = metric(
    "kafka_insight_librdkafka_received_bytes_total",
    "counter",
    f"Bytes received from Kafka brokers, all responses (top-level rx_bytes, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
MESSAGES_SENT = metric(
    "kafka_insight_librdkafka_messages_sent_total",
    "counter",
    f"Messages the producer transmitted to brokers (top-level txmsgs, {_FROM}).",
    INSTANCE,
    source=SRC,
)
MESSAGE_BYTES_SENT = metric(
    "kafka_insight_librdkafka_message_bytes_sent_total",
    "counter",
    f"""Message bytes the producer transmitted (top-level txmsg_bytes, {_FROM}). Measured
    on librdkafka 2.x this is the key+value size BEFORE compression, so it is not
    comparable with sent_bytes: the ratio of the two also includes every non-produce
    request and is not a compression ratio.""",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
MESSAGES_RECEIVED = metric(
    "kafka_insight_librdkafka_messages_received_total",
    "counter",
    f"Messages the consumer received, not counting ones skipped by offset (top-level rxmsgs, {_FROM}).",
    INSTANCE,
    source=SRC,
)
MESSAGE_BYTES_RECEIVED = metric(
    "kafka_insight_librdkafka_message_bytes_received_total",
    "counter",
    f"Message bytes the consumer received (top-level rxmsg_bytes, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
REPLY_QUEUE = metric(
    "kafka_insight_librdkafka_reply_queue_ops",
    "gauge",
    f"""Callbacks and events waiting for the application to call poll() (replyq, {_FROM}).
    Growing means the application does not poll often enough: delivery reports and
    rebalances are late.""",
    INSTANCE,
    source=SRC,
)
QUEUE_MESSAGES = metric(
    "kafka_insight_librdkafka_producer_queue_messages",
    "gauge",
    f"""Messages waiting in the producer's queues, not yet acknowledged (msg_cnt, {_FROM}).
    Near kafka_insight_librdkafka_producer_queue_max_messages means produce() is about to
    fail with a full queue (BufferError / QUEUE_FULL).""",
    INSTANCE,
    source=SRC,
)
QUEUE_BYTES = metric(
    "kafka_insight_librdkafka_producer_queue_bytes",
    "gauge",
    f"Bytes of the messages waiting in the producer's queues (msg_size, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
QUEUE_MAX_MESSAGES = metric(
    "kafka_insight_librdkafka_producer_queue_max_messages",
    "gauge",
    f"The producer queue's message limit, queue.buffering.max.messages (msg_max, {_FROM}).",
    INSTANCE,
    source=SRC,
)
QUEUE_MAX_BYTES = metric(
    "kafka_insight_librdkafka_producer_queue_max_bytes",
    "gauge",
    f"The producer queue's size limit, queue.buffering.max.kbytes in bytes (msg_size_max, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
BROKER = (*INSTANCE, "broker", "broker_id")
BROKER_STATE = metric(
    "kafka_insight_librdkafka_broker_state",
    "gauge",
    f"""1 for the state of the client's connection to this broker, 0 for the other states
    (brokers.*.state, {_FROM}). UP is healthy; anything else for long means the client
    cannot reach or authenticate to the broker. Only brokers learned from metadata are
    listed (not bootstrap or logical entries).""",
    (*BROKER, "state"),
    source=SRC,
)
BROKER_RTT = metric(
    "kafka_insight_librdkafka_broker_rtt_avg_seconds",
    "gauge",
    f"""Average request round-trip time to the broker over the last statistics window
    (brokers.*.rtt.avg, microseconds -> seconds, {_FROM}). Absent when no request
    completed in the window.""",
    BROKER,
    unit="seconds",
    source=SRC,
)
BROKER_RTT_P99 = metric(
    "kafka_insight_librdkafka_broker_rtt_p99_seconds",
    "gauge",
    f"""99th percentile request round-trip time to the broker over the last statistics
    window (brokers.*.rtt.p99, microseconds -> seconds, {_FROM}).""",
    BROKER,
    unit="seconds",
    source=SRC,
)
BROKER_RETRIES = metric(
    "kafka_insight_librdkafka_broker_request_retries_total",
    "counter",
    f"""Requests to the broker that were retried (brokers.*.txretries, {_FROM}). Retries by a
    producer without idempotence and with more than one request in flight can reorder
    messages: see kafka_insight_librdkafka_producer_reordering_risk.""",
    BROKER,
    source=SRC,
)
BROKER_TX_ERRORS = metric(
    "kafka_insight_librdkafka_broker_transmit_errors_total",
    "counter",
    f"Transmission errors to the broker (brokers.*.txerrs, {_FROM}).",
    BROKER,
    source=SRC,
)
BROKER_RX_ERRORS = metric(
    "kafka_insight_librdkafka_broker_receive_errors_total",
    "counter",
    f"Receive errors from the broker (brokers.*.rxerrs, {_FROM}).",
    BROKER,
    source=SRC,
)
BROKER_TIMEOUTS = metric(
    "kafka_insight_librdkafka_broker_request_timeouts_total",
    "counter",
    f"Requests to the broker that timed out (brokers.*.req_timeouts, {_FROM}).",
    BROKER,
    source=SRC,
)
BROKER_DISCONNECTS = metric(
    "kafka_insight_librdkafka_broker_disconnects_total",
    "counter",
    f"Disconnects from the broker, by the broker, network or load balancer (brokers.*.disconnects, {_FROM}).",
    BROKER,
    source=SRC,
)
TOPIC = (*INSTANCE, "topic")
BATCH_SIZE = metric(
    "kafka_insight_librdkafka_producer_batch_size_avg_bytes",
    "gauge",
    f"""Average size of the producer's batches (MessageSets) to the topic over the last
    statistics window, as written, i.e. AFTER compression (topics.*.batchsize.avg,
    {_FROM}). librdkafka reports no pre-compression batch size and no compression ratio;
    the exporter estimates both (kafka_insight_librdkafka_producer_batch_uncompressed_size_estimate_bytes,
    kafka_insight_librdkafka_producer_compressed_size_estimate_ratio). Absent when no batch
    was sent in the window.""",
    TOPIC,
    unit="bytes",
    source=SRC,
)
BATCH_MESSAGES = metric(
    "kafka_insight_librdkafka_producer_batch_messages_avg",
    "gauge",
    f"""Average number of messages per batch to the topic over the last statistics window
    (topics.*.batchcnt.avg, {_FROM}). Near 1 under load means batches leave before they fill
    (linger.ms too short). Absent when no batch was sent in the window.""",
    TOPIC,
    source=SRC,
)
TOPIC_MESSAGES_SENT = metric(
    "kafka_insight_librdkafka_producer_topic_messages_sent_total",
    "counter",
    f"Messages the producer transmitted to the topic (sum of topics.*.partitions.*.txmsgs, {_FROM}).",
    TOPIC,
    source=SRC,
)
PART = (*INSTANCE, "group", "topic", "partition")
POSITION = metric(
    "kafka_insight_librdkafka_consumer_position",
    "gauge",
    f"""The consumer's position on the partition: offset of the last message passed to the
    application + 1 (topics.*.partitions.*.app_offset, {_FROM}). Known even for consumers
    that keep their offsets outside Kafka. Absent until the application got a message.""",
    PART,
    source=SRC,
)
FETCH_OFFSET = metric(
    "kafka_insight_librdkafka_consumer_fetch_offset",
    "gauge",
    f"""Next offset the consumer will fetch from the broker (next_offset, {_FROM}); ahead of
    the position by what is pre-fetched.""",
    PART,
    source=SRC,
)
STORED_OFFSET = metric(
    "kafka_insight_librdkafka_consumer_stored_offset",
    "gauge",
    f"""Offset stored for the next commit (stored_offset, {_FROM}); follows the position
    unless enable.auto.offset.store=false.""",
    PART,
    source=SRC,
)
COMMITTED_OFFSET = metric(
    "kafka_insight_librdkafka_consumer_committed_offset",
    "gauge",
    f"""Last offset the consumer committed to Kafka, as the client knows it
    (committed_offset, {_FROM}). Absent for consumers that never commit.""",
    PART,
    source=SRC,
)
HIGH_WATERMARK = metric(
    "kafka_insight_librdkafka_consumer_high_watermark",
    "gauge",
    f"The partition's high watermark as last seen by the consumer (hi_offset, {_FROM}).",
    PART,
    source=SRC,
)
CONSUMER_LAG = metric(
    "kafka_insight_librdkafka_consumer_lag",
    "gauge",
    f"""Lag as the client sees it: hi_offset (ls_offset with isolation.level=read_committed)
    minus committed_offset (topics.*.partitions.*.consumer_lag, {_FROM}). Absent when the
    consumer has not committed (librdkafka reports -1): use
    kafka_insight_librdkafka_consumer_lag_stored or
    kafka_insight_librdkafka_consumer_position_lag for consumers that keep offsets
    elsewhere.""",
    PART,
    source=SRC,
)
CONSUMER_LAG_STORED = metric(
    "kafka_insight_librdkafka_consumer_lag_stored",
    "gauge",
    f"""Lag from the stored offset: hi_offset (or ls_offset) minus stored_offset
    (consumer_lag_stored, {_FROM}). With the default enable.auto.offset.store=true the
    stored offset follows what the application consumed, so this covers consumers that
    never commit to Kafka.""",
    PART,
    source=SRC,
)
FETCH_QUEUE = metric(
    "kafka_insight_librdkafka_consumer_fetch_queue_messages",
    "gauge",
    f"""Pre-fetched messages waiting for the application (fetchq_cnt, {_FROM}). Full while
    lag grows means the application is the bottleneck, not the broker.""",
    PART,
    source=SRC,
)
