"""The Admin-API source's metric specs (its part of the catalogue).

Emitted by :mod:`exporter.sources.admin.emit` from a :class:`~exporter.sources.admin.records.ClusterState`.
"""

from __future__ import annotations

from exporter.metrics import metric

SRC = "admin"

#: topic configs the interpretation layer needs; exported with their source
TOPIC_CONFIGS = (
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "compression.type",
    "flush.messages",
    "flush.ms",
    "max.message.bytes",
)

CLUSTER_INFO = metric(
    "kafka_insight_cluster_info",
    "gauge",
    "Always 1; the cluster id reported by the Admin API (describe_cluster).",
    ("cluster_id",),
    source=SRC,
)
BROKERS = metric(
    "kafka_insight_brokers",
    "gauge",
    """Brokers in the cluster metadata (describe_cluster). Fewer than you run means a broker
    is down or fenced: check kafka_insight_broker_info for which one is missing.""",
    source=SRC,
)
BROKER_INFO = metric(
    "kafka_insight_broker_info",
    "gauge",
    """Always 1 per live broker in the metadata, with its host, port and rack (broker.rack;
    empty when racks are not configured). The Admin API's controller id is deliberately
    not exported: on KRaft it is an arbitrary live broker, not the active controller.""",
    ("broker_id", "host", "port", "rack"),
    source=SRC,
)
TOPIC_PARTITIONS = metric(
    "kafka_insight_topic_partitions", "gauge", "Number of partitions of the topic (metadata).", ("topic",), source=SRC
)
TOPIC_REPLICATION_FACTOR = metric(
    "kafka_insight_topic_replication_factor",
    "gauge",
    """Replication factor of the topic: the largest replica count of its partitions
    (metadata). 1 means any broker loss makes partitions unavailable and can lose data.""",
    ("topic",),
    source=SRC,
)
TOPIC_CONFIG_INFO = metric(
    "kafka_insight_topic_config_info",
    "gauge",
    """Always 1; a topic config that matters for durability, retention or compression, with
    its value and where it comes from (describe_configs). explicit="true" when the topic
    sets it itself (DYNAMIC_TOPIC_CONFIG), "false" when inherited from broker or Kafka
    defaults.""",
    ("topic", "config", "value", "config_source", "explicit"),
    source=SRC,
)
TOPIC_MIN_ISR = metric(
    "kafka_insight_topic_min_insync_replicas",
    "gauge",
    """Configured min.insync.replicas of the topic (describe_configs; Kafka's default 1
    when the broker answers without it). acks=all writes are refused when fewer replicas
    are in sync. The last-known value while describe_configs fails for the topic (see
    kafka_insight_topic_configs_age_seconds); absent when its configs were never read.""",
    ("topic",),
    source=SRC,
)
TOPIC_CONFIGS_AGE = metric(
    "kafka_insight_topic_configs_age_seconds",
    "gauge",
    """Age of the topic configs in use for the topic (describe_configs): 0 when read this
    cycle; growing while describe_configs fails for it (a broker down, or the exporter's
    principal lacks DescribeConfigs on the topic), when its last-known configs are used
    for min.insync.replicas, unclean elections, retention and the durability flags.
    Absent when they were never read: every config-dependent value of the topic is absent
    then (kafka_insight_topics_without_configs counts them). Hours old: grant
    DescribeConfigs on the topic, or look for the failing request in the log.""",
    ("topic",),
    unit="seconds",
    source=SRC,
)
TOPICS_WITHOUT_CONFIGS = metric(
    "kafka_insight_topics_without_configs",
    "gauge",
    """Topics whose configs the exporter has never read (describe_configs failed every
    cycle since it started, e.g. no DescribeConfigs ACL for its principal): their
    config-dependent values - min.insync.replicas, at/under min ISR, ISR headroom,
    durability risks from configs, retention - are absent rather than guessed from Kafka's
    defaults. Their offline, under-replicated and leader flags are still exported. Good: 0.""",
    source=SRC,
)
ADMIN_REQUEST_ERRORS = metric(
    "kafka_insight_admin_request_errors",
    "gauge",
    """Resources (topics, groups, partitions, brokers' group listings) each Admin-API request
    failed for in the last cycle, or that did not answer by the cycle's deadline (a request
    waiting on a dead broker is cut off there; what answered is kept). Their values are
    absent this cycle, not stale: e.g. request="list_offsets_latest" counts partitions
    without a log end offset (and lag), "list_consumer_group_offsets" groups without
    committed offsets, "describe_configs" topics on last-known configs. Always present for
    every request; 0 is healthy. Non-zero for a cycle or two while a broker dies; for
    longer: see the exporter log for the names and reasons.""",
    ("request",),
    source=SRC,
)
TOPIC_UNCLEAN = metric(
    "kafka_insight_topic_unclean_leader_election_enabled",
    "gauge",
    """1 if unclean.leader.election.enable is true for the topic: an out-of-sync replica
    may become leader and silently truncate acknowledged data. Set it to false unless
    availability matters more than data.""",
    ("topic",),
    source=SRC,
)
TOPIC_RETENTION_SECONDS = metric(
    "kafka_insight_topic_retention_seconds",
    "gauge",
    "retention.ms of the topic in seconds; -1 means unlimited.",
    ("topic",),
    unit="seconds",
    source=SRC,
)
TOPIC_RETENTION_BYTES = metric(
    "kafka_insight_topic_retention_bytes",
    "gauge",
    "retention.bytes of the topic (per partition); -1 means unlimited.",
    ("topic",),
    unit="bytes",
    source=SRC,
)
PARTITION_LEADER = metric(
    "kafka_insight_partition_leader",
    "gauge",
    """Broker id of the partition's leader; -1 when it has no leader (offline: nothing
    can be produced or consumed).""",
    ("topic", "partition"),
    source=SRC,
)
PARTITION_LEADER_PREFERRED = metric(
    "kafka_insight_partition_leader_is_preferred",
    "gauge",
    """1 if the leader is the preferred (first) replica. Many 0s mean load is skewed
    after broker restarts: run a preferred leader election.""",
    ("topic", "partition"),
    source=SRC,
)
PARTITION_REPLICAS = metric(
    "kafka_insight_partition_replicas",
    "gauge",
    "Number of assigned replicas of the partition (metadata).",
    ("topic", "partition"),
    source=SRC,
)
PARTITION_ISR = metric(
    "kafka_insight_partition_in_sync_replicas",
    "gauge",
    """Number of in-sync replicas (ISR) of the partition. Below the replica count means a
    replica is lagging or its broker is down; below min.insync.replicas means acks=all
    writes are refused.""",
    ("topic", "partition"),
    source=SRC,
)
PARTITION_LOG_START = metric(
    "kafka_insight_partition_log_start_offset",
    "gauge",
    "Earliest offset still in the partition (list_offsets earliest). Retention and deletion move it up.",
    ("topic", "partition"),
    source=SRC,
)
PARTITION_LOG_END = metric(
    "kafka_insight_partition_log_end_offset",
    "gauge",
    """Next offset to be written, i.e. the high watermark (list_offsets latest). A gauge,
    not a counter: it goes down when acknowledged data is lost (e.g. all replicas lost
    power).""",
    ("topic", "partition"),
    source=SRC,
)
PARTITION_LAST_STABLE = metric(
    "kafka_insight_partition_last_stable_offset",
    "gauge",
    """Last stable offset (list_offsets latest with read_committed, read after the log
    end), exported only where it is below the log end offset: a transaction is open and
    holds read_committed consumers back at this offset. Absent: no transaction open.""",
    ("topic", "partition"),
    source=SRC,
)
GROUP_STATE = metric(
    "kafka_insight_consumer_group_state",
    "gauge",
    """1 for the consumer group's current state, 0 for the others
    (describe_consumer_groups). EMPTY: no member runs (committed offsets stay);
    PREPARING_REBALANCE/COMPLETING_REBALANCE/ASSIGNING/RECONCILING: rebalancing; DEAD:
    no members and no offsets.""",
    ("group", "state"),
    source=SRC,
)
GROUP_INFO = metric(
    "kafka_insight_consumer_group_info",
    "gauge",
    """Always 1; the group's protocol type (CLASSIC or CONSUMER for KIP-848), whether it is
    a simple (assign-only) group, and its coordinator broker.""",
    ("group", "protocol", "simple", "coordinator_id"),
    source=SRC,
)
GROUP_MEMBERS = metric(
    "kafka_insight_consumer_group_members",
    "gauge",
    "Members of the consumer group (describe_consumer_groups). 0 with lag growing means nobody consumes.",
    ("group",),
    source=SRC,
)
GROUP_COMMITTED = metric(
    "kafka_insight_consumer_group_committed_offset",
    "gauge",
    """Committed offset of the group on the partition (list_consumer_group_offsets): the
    next offset the group will read. A gauge: it can be reset backwards.""",
    ("group", "topic", "partition"),
    source=SRC,
)
GROUP_PARTITION_LAG = metric(
    "kafka_insight_consumer_group_partition_lag",
    "gauge",
    """Messages the group has not yet consumed on the partition: log end offset minus
    committed offset, never below 0 (a committed offset beyond the log end is its own
    signal, not negative lag). Read committed offsets first, then log end offsets.""",
    ("group", "topic", "partition"),
    source=SRC,
)
GROUP_TOPIC_LAG = metric(
    "kafka_insight_consumer_group_topic_lag",
    "gauge",
    """Sum of the group's partition lag (messages) over the topic's partitions; absent in a
    cycle in which some of those partitions' log end offsets are missing (a partial sum
    would read as lag going down).""",
    ("group", "topic"),
    source=SRC,
)
GROUP_LAG = metric(
    "kafka_insight_consumer_group_lag",
    "gauge",
    """Sum of the group's partition lag (messages) over all partitions it has committed
    offsets for. Empty groups with committed offsets count too. Absent in a cycle in which
    some of those partitions' log end offsets are missing (see
    kafka_insight_admin_request_errors).""",
    ("group",),
    source=SRC,
)
