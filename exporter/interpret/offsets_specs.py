"""Metric specs of the P3 offsets interpretation (:mod:`exporter.interpret.offsets` emits them).

Names, types, labels and HELP of the committed-offset-beyond-the-log-end, below-the-log-start,
regression, lag-in-seconds and group-status families; the computation lives in ``offsets.py``.
"""

from __future__ import annotations

from exporter.metrics import metric

SRC = "interpret"

BEYOND_END = metric(
    "kafka_insight_consumer_group_offset_beyond_log_end",
    "gauge",
    """1 if the group's committed offset on the partition is beyond the log end offset.
    Committed offsets are read before log end offsets in every cycle, so a group
    committing in between cannot cause it: the messages the group had acknowledged
    reading are gone (all replicas lost power or disks, unclean leader election) or the
    offset was set by hand. The consumer will get OffsetOutOfRange and jump to
    auto.offset.reset (earliest re-reads the whole partition, latest skips everything
    written until then). Check for data loss, then reset the group's offset
    deliberately (kafka-consumer-groups.sh --reset-offsets). Absent while the partition's
    log end is unknown (no leader).""",
    ("group", "topic", "partition"),
    source=SRC,
)
BEYOND_END_MESSAGES = metric(
    "kafka_insight_consumer_group_offset_beyond_log_end_messages",
    "gauge",
    """Committed offset - log end offset, present only while the committed offset is
    beyond the log end (absent otherwise; the 0/1
    kafka_insight_consumer_group_offset_beyond_log_end is there for every group partition
    with a known log end): at least this many acknowledged messages that the group had
    consumed no longer exist, and offsets that new messages take will not be read by the
    group until it is reset.""",
    ("group", "topic", "partition"),
    source=SRC,
)
BELOW_START = metric(
    "kafka_insight_consumer_group_offset_below_log_start",
    "gauge",
    """1 if the group's committed offset is below the partition's log start offset:
    retention or delete_records removed messages the group had not read yet. The group
    will never see them; on restart it jumps to auto.offset.reset. Consume faster,
    raise retention.ms/retention.bytes, or alert earlier on lag in seconds.""",
    ("group", "topic", "partition"),
    source=SRC,
)
BELOW_START_MESSAGES = metric(
    "kafka_insight_consumer_group_offset_below_log_start_messages",
    "gauge",
    """Log start offset - committed offset, present only while the committed offset is
    below the log start (absent otherwise; the 0/1
    kafka_insight_consumer_group_offset_below_log_start is there for every group partition
    with a known log start): messages deleted before the group read them (offsets; on
    compacted topics an upper bound). kafka-consumer-groups.sh counts these as lag.""",
    ("group", "topic", "partition"),
    source=SRC,
)
CLUSTER_BEYOND_END = metric(
    "kafka_insight_cluster_committed_offsets_beyond_log_end",
    "gauge",
    """Group partitions whose committed offset is beyond the log end. Good: 0. Above 0:
    acknowledged messages vanished or offsets were set by hand; those groups will jump to
    auto.offset.reset (see kafka_insight_consumer_group_offset_beyond_log_end).""",
    source=SRC,
)
CLUSTER_BELOW_START = metric(
    "kafka_insight_cluster_committed_offsets_below_log_start",
    "gauge",
    """Group partitions whose committed offset is below the log start: retention deleted
    messages the group never read. Good: 0. Above 0: consume faster or raise retention
    (see kafka_insight_consumer_group_offset_below_log_start).""",
    source=SRC,
)
REGRESSIONS = metric(
    "kafka_insight_partition_log_end_offset_regressions_total",
    "counter",
    """Times the partition's log end offset (high watermark) went backwards between two
    collection cycles since the exporter started: acknowledged messages vanished (every
    in-sync replica lost its page cache at once, e.g. a power loss, or an unclean leader
    election). A deleted and re-created topic does not count. Any increase is data loss:
    find out which producers' writes are gone and whether consumers skipped them.""",
    ("topic", "partition"),
    source=SRC,
)
REGRESSED_MESSAGES = metric(
    "kafka_insight_partition_log_end_offset_regressed_messages_total",
    "counter",
    """Sum of how far the log end offset went backwards in each regression (see
    kafka_insight_partition_log_end_offset_regressions_total): acknowledged messages
    lost, at least.""",
    ("topic", "partition"),
    source=SRC,
)
CLUSTER_REGRESSIONS = metric(
    "kafka_insight_cluster_log_end_offset_regressions_total",
    "counter",
    """Log end offset regressions over all partitions since the exporter started. Good:
    never increases. Any increase means acknowledged data was lost (power loss of every
    replica, unclean election): find the partitions with
    kafka_insight_partition_log_end_offset_regressions_total.""",
    source=SRC,
)
FLUSH_FORCED = metric(
    "kafka_insight_topic_flush_forced",
    "gauge",
    """1 if the topic forces fsync (flush.messages or flush.ms set below Kafka's default of
    never): information for the power-loss runbook, not an alarm. 0 is Kafka's default:
    acknowledged writes live in the replicas' page cache, so only replicas in different
    power domains (racks) protect them against a site-wide power loss.""",
    ("topic",),
    source=SRC,
)
LAG_SECONDS = metric(
    "kafka_insight_consumer_group_partition_lag_seconds",
    "gauge",
    """How long ago the log end offset was where the group's committed offset is now: the
    age of the oldest message the group has not consumed (0 when caught up). Interpolated
    from the exporter's history of log end offsets per partition, between the LAST time
    the log end was seen below the committed offset and the FIRST time it was seen above
    it (so a burst followed by quiet keeps the age of the burst): accurate to one
    collection interval inside the history window (interpretation.lag_history_points
    distinct log end offsets), extrapolated at the average produce rate beyond it, and a
    lower bound (time since the exporter first saw the partition) before it has two
    points. Better than lag in messages for alerts: it means the same on busy and quiet
    topics.""",
    ("group", "topic", "partition"),
    unit="seconds",
    source=SRC,
)
GROUP_LAG_SECONDS = metric(
    "kafka_insight_consumer_group_lag_seconds",
    "gauge",
    """Largest lag in seconds over the group's partitions (see
    kafka_insight_consumer_group_partition_lag_seconds). Compare with the topic's
    retention: at retention the group starts losing messages.""",
    ("group",),
    unit="seconds",
    source=SRC,
)
GROUP_STATUS = metric(
    "kafka_insight_consumer_group_status",
    "gauge",
    """1 for the group's status, 0 for the others (Burrow-style, judged by commit
    progress over a sliding window of interpretation.group_status_window_seconds, default
    600 s; most urgent wins). A partition makes no progress while it has lag > 0 and its
    committed offset does not move (counted from when its oldest unread message was
    written). rewound: a committed offset went backwards this cycle (someone reset it;
    messages will be re-processed). stopped: a partition made no progress for the whole
    window and no member was seen in the window (consumers that use assign() and commit
    have no members: they are stopped only when their commits stop) - start the
    consumers. stalled: members were seen in the window but a partition made no progress
    for interpretation.stalled_after_seconds (default 300) - the consumer runs but is
    stuck (poison message, deadlock, endless rebalance, crash loop): check its logs.
    lagging: it commits, but its total lag is not smaller than at the start of the window
    and its lag in seconds is at least interpretation.lagging_after_seconds (default 60)
    - it consumes slower than producers write: scale it. ok: none of these, including
    the first window after the exporter starts (stopped needs a whole window watched).""",
    ("group", "status"),
    source=SRC,
)
GROUP_REWINDS = metric(
    "kafka_insight_consumer_group_rewinds_total",
    "counter",
    """Times a committed offset of the group went backwards between two cycles since the
    exporter started: someone reset its offsets (kafka-consumer-groups.sh --reset-offsets)
    or the application seeked back. Expect re-processed messages; unexpected increases
    need an owner.""",
    ("group",),
    source=SRC,
)
