"""The broker JMX source's metric specs (its part of the catalogue), and which record field fills each."""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric

SRC = "broker_jmx"
B = ("broker_id",)
BT = ("broker_id", "topic")
BP = ("broker_id", "topic", "partition")

_TAKE_MAX = "Every controller node reports it: for the cluster take max() over broker_id (or the node with kafka_insight_controller_active 1), never sum()."

# -- catalogue -----------------------------------------------------------------------------------
BROKER_JMX_INFO = metric(
    "kafka_insight_broker_jmx_info",
    "gauge",
    """Always 1 per broker JMX target that answered: its broker_id (from the Admin API, the
    config or the kafka.server app-info MBean), rack, JMX target, Kafka version (app-info
    Version, read every jmx.brokers.slow_every cycles) and roles (broker, controller or both,
    from which MBeans exist).""",
    ("broker_id", "rack", "target", "version", "roles"),
    source=SRC,
)
BROKER_RUNNING = metric(
    "kafka_insight_broker_running",
    "gauge",
    """1 if the broker reports BrokerState 3 (RUNNING) in kafka.server:type=KafkaServer,
    name=BrokerState; 0 while starting, recovering its log (2) or shutting down (6, 7).""",
    B,
    source=SRC,
)
OFFLINE_LOG_DIRECTORIES = metric(
    "kafka_insight_broker_offline_log_directories",
    "gauge",
    """Log directories this broker took offline after an I/O error (kafka.log LogManager
    OfflineLogDirectoryCount): a failed or full disk. The broker keeps running; the replicas on
    that directory are offline (kafka_insight_broker_offline_replicas) until it is repaired.""",
    B,
    source=SRC,
)
UNDER_REPLICATED = metric(
    "kafka_insight_broker_under_replicated_partitions",
    "gauge",
    """Partitions led by this broker whose ISR is smaller than their replica set
    (ReplicaManager UnderReplicatedPartitions). Sum over brokers for the cluster: each
    partition is counted by its leader only. Non-zero means a replica is lagging or down.""",
    B,
    source=SRC,
)
UNDER_MIN_ISR = metric(
    "kafka_insight_broker_under_min_isr_partitions",
    "gauge",
    """Partitions led by this broker with fewer in-sync replicas than the effective
    min.insync.replicas = min(min.insync.replicas, replica count) (ReplicaManager
    UnderMinIsrPartitionCount, KIP-966). acks=all producers to them get NotEnoughReplicas
    NOW: bring the missing brokers back. Counted by leaders only, so sum over brokers.""",
    B,
    source=SRC,
)
AT_MIN_ISR = metric(
    "kafka_insight_broker_at_min_isr_partitions",
    "gauge",
    """Partitions led by this broker whose ISR equals the effective min.insync.replicas
    (ReplicaManager AtMinIsrPartitionCount): one more replica loss stops acks=all writes.
    Topics with RF <= min.insync.replicas are here even when every broker is up.""",
    B,
    source=SRC,
)
OFFLINE_REPLICAS = metric(
    "kafka_insight_broker_offline_replicas",
    "gauge",
    "Replicas on this broker that are offline, e.g. on a failed log directory (ReplicaManager OfflineReplicaCount).",
    B,
    source=SRC,
)
PARTITIONS = metric(
    "kafka_insight_broker_partitions",
    "gauge",
    "Partition replicas hosted by this broker, leaders and followers (ReplicaManager PartitionCount).",
    B,
    source=SRC,
)
LEADERS = metric(
    "kafka_insight_broker_leader_partitions",
    "gauge",
    """Partitions this broker leads (ReplicaManager LeaderCount). Very uneven counts after a
    restart mean leadership was not moved back: run a preferred leader election.""",
    B,
    source=SRC,
)
REASSIGNING = metric(
    "kafka_insight_broker_reassigning_partitions",
    "gauge",
    "Partitions led by this broker that are being reassigned (ReplicaManager ReassigningPartitions).",
    B,
    source=SRC,
)
ISR_SHRINKS = metric(
    "kafka_insight_broker_isr_shrinks_total",
    "counter",
    """ISR shrinks done by this broker as leader (ReplicaManager IsrShrinksPerSec Count). In
    KRaft a crashed broker is removed from ISRs by the controller, not by the leaders, so
    this stays 0 when a broker dies: alert on under-replicated partitions instead.""",
    B,
    source=SRC,
)
ISR_EXPANDS = metric(
    "kafka_insight_broker_isr_expands_total",
    "counter",
    "Followers added back to an ISR by this broker as leader (ReplicaManager IsrExpandsPerSec Count).",
    B,
    source=SRC,
)
FAILED_ISR_UPDATES = metric(
    "kafka_insight_broker_failed_isr_updates_total",
    "counter",
    "ISR changes this broker asked the controller for and that failed (ReplicaManager FailedIsrUpdatesPerSec Count).",
    B,
    source=SRC,
)
CONTROLLER_ACTIVE = metric(
    "kafka_insight_controller_active",
    "gauge",
    """1 on the node that is the active KRaft controller, 0 on the other controllers
    (KafkaController ActiveControllerCount). sum() over the cluster must be exactly 1: 0 means
    no controller (no metadata changes, no leader elections), 2 means a split brain. The
    Admin API's controller id is not the active controller in KRaft.""",
    B,
    source=SRC,
)
CONTROLLER_OFFLINE = metric(
    "kafka_insight_controller_offline_partitions",
    "gauge",
    f"""Partitions without a leader as this controller node sees them (KafkaController
    OfflinePartitionsCount): nothing can be written to or read from them. {_TAKE_MAX}""",
    B,
    source=SRC,
)
CONTROLLER_ACTIVE_BROKERS = metric(
    "kafka_insight_controller_active_brokers",
    "gauge",
    f"Registered, unfenced brokers in the KRaft metadata (KafkaController ActiveBrokerCount). {_TAKE_MAX}",
    B,
    source=SRC,
)
CONTROLLER_FENCED_BROKERS = metric(
    "kafka_insight_controller_fenced_brokers",
    "gauge",
    f"""Brokers fenced by the KRaft controller (KafkaController FencedBrokerCount): registered
    but not heartbeating, e.g. crashed; their replicas are out of every ISR. {_TAKE_MAX}""",
    B,
    source=SRC,
)
CONTROLLER_IMBALANCE = metric(
    "kafka_insight_controller_preferred_replica_imbalance_partitions",
    "gauge",
    f"""Partitions whose leader is not their preferred replica (KafkaController
    PreferredReplicaImbalanceCount); load is skewed until a preferred leader election
    runs. {_TAKE_MAX}""",
    B,
    source=SRC,
)
CONTROLLER_PARTITIONS = metric(
    "kafka_insight_controller_global_partitions",
    "gauge",
    f"Partitions in the cluster metadata (KafkaController GlobalPartitionCount). {_TAKE_MAX}",
    B,
    source=SRC,
)
CONTROLLER_TOPICS = metric(
    "kafka_insight_controller_global_topics",
    "gauge",
    f"Topics in the cluster metadata (KafkaController GlobalTopicCount). {_TAKE_MAX}",
    B,
    source=SRC,
)
CONTROLLER_METADATA_ERRORS = metric(
    "kafka_insight_controller_metadata_errors",
    "gauge",
    """Errors this node hit while loading or applying cluster metadata since it started
    (KafkaController MetadataErrorCount). Any increase needs a look at the node's log.""",
    B,
    source=SRC,
)
UNCLEAN_ELECTIONS = metric(
    "kafka_insight_controller_unclean_leader_elections_total",
    "counter",
    """Unclean leader elections done by this controller node (ControllerStats
    UncleanLeaderElectionsPerSec Count): an out-of-sync replica became leader and
    acknowledged data was probably lost. Any increase is an incident.""",
    B,
    source=SRC,
)
REQUEST_HANDLER_IDLE = metric(
    "kafka_insight_broker_request_handler_idle_seconds_total",
    "counter",
    """Idle time of the request handler threads, in seconds per thread, summed over the
    node's handler pools (KafkaRequestHandlerPool RequestHandlerAvgIdlePercent, a meter whose
    Count is idle nanoseconds / thread count). rate() is the idle fraction per pool summed
    over pools: 0-1 on a broker-only node, 0-2 on a combined broker+controller node (both
    pools mark the same meter). Divide by kafka_insight_broker_request_handler_pools for a
    0-1 ratio; below ~0.3 the handlers are saturated and requests queue.""",
    B,
    unit="seconds",
    source=SRC,
)
REQUEST_HANDLER_POOLS = metric(
    "kafka_insight_broker_request_handler_pools",
    "gauge",
    """Request handler pools marking the idle meter on this node: 2 when it runs both broker
    and controller (KRaft combined mode), else 1. Use it to turn
    rate(kafka_insight_broker_request_handler_idle_seconds_total) into a 0-1 ratio.""",
    B,
    source=SRC,
)
NETWORK_IDLE = metric(
    "kafka_insight_broker_network_processor_idle_ratio",
    "gauge",
    """Average idle fraction of the broker's network threads, 0-1 despite the MBean's name
    (SocketServer NetworkProcessorAvgIdlePercent). Below ~0.3 the network threads are the
    bottleneck (add num.network.threads).""",
    B,
    unit="ratio",
    source=SRC,
)
CLIENT_CONNECTIONS = metric(
    "kafka_insight_broker_client_connections",
    "gauge",
    """Open connections to this broker per client software name and version as the clients
    announced them (KIP-511, socket-server-metrics connections, summed over network threads).
    apache-kafka-java on the CONTROLLER listener are the nodes themselves; "unknown" are
    clients older than Kafka 2.4. Shows which client libraries and versions are in use.""",
    ("broker_id", "listener", "client_software_name", "client_software_version"),
    source=SRC,
)


def _traffic(name: str, help: str, labels: tuple[str, ...], unit: str = "") -> MetricSpec:
    return metric(name, "counter", help, labels, unit=unit, source=SRC)


_BT_NOTE = "Cumulative since the broker started; use rate()."
TRAFFIC: dict[str, tuple[MetricSpec, MetricSpec | None]] = {
    "bytes_in_total": (
        _traffic(
            "kafka_insight_broker_incoming_bytes_total",
            f"Bytes produced to this broker by clients (BrokerTopicMetrics BytesInPerSec Count). {_BT_NOTE}",
            B,
            "bytes",
        ),
        _traffic(
            "kafka_insight_broker_topic_incoming_bytes_total",
            f"Bytes produced to the topic on this broker (BrokerTopicMetrics BytesInPerSec,topic Count). {_BT_NOTE}",
            BT,
            "bytes",
        ),
    ),
    "bytes_out_total": (
        _traffic(
            "kafka_insight_broker_outgoing_bytes_total",
            f"Bytes fetched from this broker by consumers (BrokerTopicMetrics BytesOutPerSec Count; replication excluded). {_BT_NOTE}",
            B,
            "bytes",
        ),
        _traffic(
            "kafka_insight_broker_topic_outgoing_bytes_total",
            f"Bytes fetched from the topic on this broker by consumers (BrokerTopicMetrics BytesOutPerSec,topic Count). {_BT_NOTE}",
            BT,
            "bytes",
        ),
    ),
    "messages_in_total": (
        _traffic(
            "kafka_insight_broker_incoming_messages_total",
            f"Records produced to this broker (BrokerTopicMetrics MessagesInPerSec Count). {_BT_NOTE}",
            B,
        ),
        _traffic(
            "kafka_insight_broker_topic_incoming_messages_total",
            f"Records produced to the topic on this broker (BrokerTopicMetrics MessagesInPerSec,topic Count). {_BT_NOTE}",
            BT,
        ),
    ),
    "bytes_rejected_total": (
        _traffic(
            "kafka_insight_broker_rejected_bytes_total",
            f"Bytes rejected by this broker, e.g. batches over max.message.bytes (BrokerTopicMetrics BytesRejectedPerSec Count). {_BT_NOTE}",
            B,
            "bytes",
        ),
        _traffic(
            "kafka_insight_broker_topic_rejected_bytes_total",
            f"Bytes to the topic rejected by this broker (BrokerTopicMetrics BytesRejectedPerSec,topic Count). {_BT_NOTE}",
            BT,
            "bytes",
        ),
    ),
    "failed_produce_requests_total": (
        _traffic(
            "kafka_insight_broker_failed_produce_requests_total",
            f"Produce requests this broker answered with an error, e.g. NotEnoughReplicas on an under-min-ISR partition (BrokerTopicMetrics FailedProduceRequestsPerSec Count). {_BT_NOTE}",
            B,
        ),
        _traffic(
            "kafka_insight_broker_topic_failed_produce_requests_total",
            f"Failed produce requests for the topic on this broker (BrokerTopicMetrics FailedProduceRequestsPerSec,topic Count). {_BT_NOTE}",
            BT,
        ),
    ),
    "failed_fetch_requests_total": (
        _traffic(
            "kafka_insight_broker_failed_fetch_requests_total",
            f"Fetch requests this broker answered with an error (BrokerTopicMetrics FailedFetchRequestsPerSec Count). {_BT_NOTE}",
            B,
        ),
        _traffic(
            "kafka_insight_broker_topic_failed_fetch_requests_total",
            f"Failed fetch requests for the topic on this broker (BrokerTopicMetrics FailedFetchRequestsPerSec,topic Count). {_BT_NOTE}",
            BT,
        ),
    ),
    "produce_requests_total": (
        _traffic(
            "kafka_insight_broker_produce_requests_total",
            f"Produce requests handled by this broker (BrokerTopicMetrics TotalProduceRequestsPerSec Count). {_BT_NOTE}",
            B,
        ),
        _traffic(
            "kafka_insight_broker_topic_produce_requests_total",
            f"Produce requests for the topic on this broker (BrokerTopicMetrics TotalProduceRequestsPerSec,topic Count). {_BT_NOTE}",
            BT,
        ),
    ),
    "fetch_requests_total": (
        _traffic(
            "kafka_insight_broker_fetch_requests_total",
            f"Fetch requests (consumers and followers) handled by this broker (BrokerTopicMetrics TotalFetchRequestsPerSec Count). {_BT_NOTE}",
            B,
        ),
        _traffic(
            "kafka_insight_broker_topic_fetch_requests_total",
            f"Fetch requests for the topic on this broker (BrokerTopicMetrics TotalFetchRequestsPerSec,topic Count). {_BT_NOTE}",
            BT,
        ),
    ),
    "replication_bytes_in_total": (
        _traffic(
            "kafka_insight_broker_replication_incoming_bytes_total",
            f"Bytes this broker fetched from leaders as a follower (BrokerTopicMetrics ReplicationBytesInPerSec Count). {_BT_NOTE}",
            B,
            "bytes",
        ),
        None,
    ),
    "replication_bytes_out_total": (
        _traffic(
            "kafka_insight_broker_replication_outgoing_bytes_total",
            f"Bytes followers fetched from this broker as leader (BrokerTopicMetrics ReplicationBytesOutPerSec Count). {_BT_NOTE}",
            B,
            "bytes",
        ),
        None,
    ),
}
_PART_NOTE = (
    "Only the partition's leader raises it; followers report 0 (per-partition MBeans, enabled by jmx.brokers.per_partition)."
)
PARTITION_UNDER_MIN_ISR = metric(
    "kafka_insight_broker_partition_under_min_isr",
    "gauge",
    f"1 if the partition is under its effective min ISR on this broker (kafka.cluster Partition UnderMinIsr). {_PART_NOTE}",
    BP,
    source=SRC,
)
PARTITION_AT_MIN_ISR = metric(
    "kafka_insight_broker_partition_at_min_isr",
    "gauge",
    f"1 if the partition's ISR equals its effective min ISR on this broker (kafka.cluster Partition AtMinIsr). {_PART_NOTE}",
    BP,
    source=SRC,
)
PARTITION_UNDER_REPLICATED = metric(
    "kafka_insight_broker_partition_under_replicated",
    "gauge",
    f"1 if the partition's ISR is smaller than its replicas on this broker (kafka.cluster Partition UnderReplicated). {_PART_NOTE}",
    BP,
    source=SRC,
)
LOG_START = metric(
    "kafka_insight_broker_log_start_offset",
    "gauge",
    "First offset of this broker's replica of the partition (kafka.log Log LogStartOffset; jmx.brokers.per_partition).",
    BP,
    source=SRC,
)
LOG_END = metric(
    "kafka_insight_broker_log_end_offset",
    "gauge",
    """Log end offset of this broker's replica of the partition (kafka.log Log LogEndOffset;
    jmx.brokers.per_partition). A follower behind its leader's value is lagging.""",
    BP,
    source=SRC,
)
LOG_SIZE = metric(
    "kafka_insight_broker_log_size_bytes",
    "gauge",
    "Bytes on disk of this broker's replica of the partition (kafka.log Log Size; jmx.brokers.per_partition).",
    BP,
    unit="bytes",
    source=SRC,
)

RM_SPECS = (
    ("under_replicated", UNDER_REPLICATED),
    ("under_min_isr", UNDER_MIN_ISR),
    ("at_min_isr", AT_MIN_ISR),
    ("offline_replicas", OFFLINE_REPLICAS),
    ("partitions", PARTITIONS),
    ("leaders", LEADERS),
    ("reassigning", REASSIGNING),
    ("isr_shrinks_total", ISR_SHRINKS),
    ("isr_expands_total", ISR_EXPANDS),
    ("failed_isr_updates_total", FAILED_ISR_UPDATES),
)
CONTROLLER_SPECS = (
    ("active_controller", CONTROLLER_ACTIVE),
    ("offline_partitions", CONTROLLER_OFFLINE),
    ("active_brokers", CONTROLLER_ACTIVE_BROKERS),
    ("fenced_brokers", CONTROLLER_FENCED_BROKERS),
    ("preferred_replica_imbalance", CONTROLLER_IMBALANCE),
    ("global_partitions", CONTROLLER_PARTITIONS),
    ("global_topics", CONTROLLER_TOPICS),
    ("metadata_errors", CONTROLLER_METADATA_ERRORS),
    ("unclean_leader_elections_total", UNCLEAN_ELECTIONS),
)
PARTITION_SPECS = (
    ("under_min_isr", PARTITION_UNDER_MIN_ISR),
    ("at_min_isr", PARTITION_AT_MIN_ISR),
    ("under_replicated", PARTITION_UNDER_REPLICATED),
    ("log_start_offset", LOG_START),
    ("log_end_offset", LOG_END),
    ("size_bytes", LOG_SIZE),
)
