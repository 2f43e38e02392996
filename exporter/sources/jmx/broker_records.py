"""Broker JMX records (the ``broker_jmx`` payload) and :func:`parse_broker`, their pure parser."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from exporter.sources.jmx.broker_ops import BrokerOps, parse_ops_row
from exporter.sources.jmx.rows import JmxRow, Values, is_id, parse_object_name


@dataclass
class ReplicaManagerValues:
    """``kafka.server:type=ReplicaManager,name=*`` of one broker (counts over the partitions it holds).

    Under/at-min-ISR and under-replicated are counted by each partition's *leader* only, with
    the effective min ISR ``min(min.insync.replicas, replica count)`` (KIP-966).
    """

    under_replicated: float | None = None  # UnderReplicatedPartitions
    under_min_isr: float | None = None  # UnderMinIsrPartitionCount
    at_min_isr: float | None = None  # AtMinIsrPartitionCount
    offline_replicas: float | None = None  # OfflineReplicaCount
    partitions: float | None = None  # PartitionCount (replicas hosted)
    leaders: float | None = None  # LeaderCount
    reassigning: float | None = None  # ReassigningPartitions
    #: meters: Count is cumulative (in KRaft a crashed broker is removed from ISRs by the
    #: controller, so IsrShrinksPerSec does NOT count broker deaths)
    isr_shrinks_total: float | None = None
    isr_expands_total: float | None = None
    failed_isr_updates_total: float | None = None


@dataclass
class ControllerValues:
    """``kafka.controller:type=KafkaController|ControllerStats`` as reported by one node.

    Every KRaft controller node reports these (not only the active one): for a cluster view
    take the max, or the value of the node whose ``active_controller`` is 1 -- never the sum.
    """

    active_controller: float | None = None  # ActiveControllerCount: 1 on the active controller only
    offline_partitions: float | None = None  # OfflinePartitionsCount
    active_brokers: float | None = None  # ActiveBrokerCount (KRaft)
    fenced_brokers: float | None = None  # FencedBrokerCount (KRaft)
    preferred_replica_imbalance: float | None = None  # PreferredReplicaImbalanceCount
    global_partitions: float | None = None  # GlobalPartitionCount
    global_topics: float | None = None  # GlobalTopicCount
    metadata_errors: float | None = None  # MetadataErrorCount
    unclean_leader_elections_total: float | None = None  # ControllerStats UncleanLeaderElectionsPerSec Count


@dataclass
class TopicTraffic:
    """``kafka.server:type=BrokerTopicMetrics`` meters' ``Count`` (cumulative) on one broker.

    Keyed by topic in :attr:`BrokerJmx.topics`; the key ``None`` is Kafka's un-tagged total
    over all topics.  Bytes in/out count client traffic only (replication has its own meters).
    """

    bytes_in_total: float | None = None  # BytesInPerSec
    bytes_out_total: float | None = None  # BytesOutPerSec
    messages_in_total: float | None = None  # MessagesInPerSec
    bytes_rejected_total: float | None = None  # BytesRejectedPerSec
    failed_produce_requests_total: float | None = None  # FailedProduceRequestsPerSec
    failed_fetch_requests_total: float | None = None  # FailedFetchRequestsPerSec
    produce_requests_total: float | None = None  # TotalProduceRequestsPerSec
    fetch_requests_total: float | None = None  # TotalFetchRequestsPerSec
    replication_bytes_in_total: float | None = None  # ReplicationBytesInPerSec (untagged only)
    replication_bytes_out_total: float | None = None  # ReplicationBytesOutPerSec (untagged only)


@dataclass(frozen=True)
class ClientConnections:
    """KIP-511: open connections per client software name/version on one listener of a broker.

    Summed over the broker's network processors.  ``apache-kafka-java`` on the ``CONTROLLER``
    listener are the nodes themselves; ``unknown`` are clients older than Kafka 2.4 (or
    connections that have not sent ApiVersions yet).
    """

    listener: str
    software_name: str
    software_version: str
    connections: float


@dataclass
class PartitionJmx:
    """Per-partition MBeans of one broker (only collected when enabled: cardinality).

    The ``kafka.cluster:type=Partition`` flags are only raised by the partition's leader;
    followers report 0.  ``kafka.log:type=Log`` values describe this broker's replica.
    """

    under_min_isr: float | None = None
    at_min_isr: float | None = None
    under_replicated: float | None = None
    #: ReplicasCount: the leader's replication factor, ``replicas - addingReplicas`` during a
    #: reassignment (what UnderReplicated compares the ISR with); 0 on followers
    replicas_count: float | None = None
    log_start_offset: float | None = None
    log_end_offset: float | None = None
    size_bytes: float | None = None


@dataclass
class BrokerJmx:
    """Everything one broker's JMX told us in one cycle."""

    #: the JMX target as configured or discovered (``host:port``)
    target: str
    #: broker id: from the Admin-API broker the target was discovered from, from the
    #: config, or from the ``kafka.server:type=app-info,id=<id>`` MBean
    broker_id: int | None = None
    rack: str | None = None
    version: str | None = None  # app-info Version, e.g. 4.0.0
    commit_id: str | None = None
    #: BrokerState Value (3 = RUNNING; 6/7 = shutting down); None on a controller-only node
    broker_state: float | None = None
    #: LogManager OfflineLogDirectoryCount: log directories taken offline after an I/O error
    offline_log_directories: float | None = None
    #: node runs a controller (the KafkaController MBeans exist)
    is_controller: bool = False
    #: node runs a broker (BrokerState or ReplicaManager MBeans exist)
    is_broker: bool = False
    replica_manager: ReplicaManagerValues = field(default_factory=ReplicaManagerValues)
    #: None when the node runs no controller
    controller: ControllerValues | None = None
    #: BrokerTopicMetrics per topic; key None = Kafka's all-topics total
    topics: dict[str | None, TopicTraffic] = field(default_factory=dict)
    #: ``KafkaRequestHandlerPool RequestHandlerAvgIdlePercent`` is a *meter*: each request
    #: handler pool marks idle nanoseconds divided by its thread count.  Its Count / 1e9 is
    #: therefore "idle seconds per handler thread, summed over the pools"; rate() of it is
    #: 0..1 per pool -- 0..2 on combined broker+controller nodes (both pools mark the same
    #: meter).  See :attr:`request_handler_pools`.
    request_handler_idle_seconds_total: float | None = None
    #: the meter's OneMinuteRate as Kafka reports it (0..pools); kept for reference only
    request_handler_idle_one_minute_rate: float | None = None
    #: ``kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent`` Value: a 0..1
    #: fraction despite the name (1.0 = network threads idle)
    network_processor_idle_ratio: float | None = None
    client_connections: list[ClientConnections] = field(default_factory=list)
    #: (topic, partition) -> values; empty unless per-partition collection is enabled
    partitions: dict[tuple[str, int], PartitionJmx] = field(default_factory=dict)
    #: request latency, queues, purgatory, log flush, KRaft, group coordinator (issue 17)
    ops: BrokerOps = field(default_factory=BrokerOps)
    #: values dropped (NaN, Infinity, missing, garbage) this cycle
    dropped: int = 0
    #: partial problems of this target this cycle (the cycle counts them as errors)
    errors: list[str] = field(default_factory=list)

    @property
    def request_handler_pools(self) -> int:
        """Request handler pools marking the idle meter: 2 on combined broker+controller nodes."""
        return max(1, int(self.is_broker) + int(self.is_controller))


_RM_GAUGES = {
    "UnderReplicatedPartitions": "under_replicated",
    "UnderMinIsrPartitionCount": "under_min_isr",
    "AtMinIsrPartitionCount": "at_min_isr",
    "OfflineReplicaCount": "offline_replicas",
    "PartitionCount": "partitions",
    "LeaderCount": "leaders",
    "ReassigningPartitions": "reassigning",
}
_RM_METERS = {
    "IsrShrinksPerSec": "isr_shrinks_total",
    "IsrExpandsPerSec": "isr_expands_total",
    "FailedIsrUpdatesPerSec": "failed_isr_updates_total",
}
_CONTROLLER_GAUGES = {
    "ActiveControllerCount": "active_controller",
    "OfflinePartitionsCount": "offline_partitions",
    "ActiveBrokerCount": "active_brokers",
    "FencedBrokerCount": "fenced_brokers",
    "PreferredReplicaImbalanceCount": "preferred_replica_imbalance",
    "GlobalPartitionCount": "global_partitions",
    "GlobalTopicCount": "global_topics",
    "MetadataErrorCount": "metadata_errors",
}
_TOPIC_METERS = {
    "BytesInPerSec": "bytes_in_total",
    "BytesOutPerSec": "bytes_out_total",
    "MessagesInPerSec": "messages_in_total",
    "BytesRejectedPerSec": "bytes_rejected_total",
    "FailedProduceRequestsPerSec": "failed_produce_requests_total",
    "FailedFetchRequestsPerSec": "failed_fetch_requests_total",
    "TotalProduceRequestsPerSec": "produce_requests_total",
    "TotalFetchRequestsPerSec": "fetch_requests_total",
    "ReplicationBytesInPerSec": "replication_bytes_in_total",
    "ReplicationBytesOutPerSec": "replication_bytes_out_total",
}
_PARTITION_FLAGS = {
    "UnderMinIsr": "under_min_isr",
    "AtMinIsr": "at_min_isr",
    "UnderReplicated": "under_replicated",
    "ReplicasCount": "replicas_count",
}
_LOG_VALUES = {"LogStartOffset": "log_start_offset", "LogEndOffset": "log_end_offset", "Size": "size_bytes"}


def parse_broker(
    rows: Iterable[JmxRow],
    target: str,
    *,
    broker_id: int | None = None,
    rack: str | None = None,
    per_topic: bool = True,
    per_partition: bool = True,
    log_size: bool = True,
) -> BrokerJmx:
    """Broker MBean rows -> :class:`BrokerJmx`.  Unknown MBeans are ignored.

    ``per_topic`` / ``per_partition`` drop the high-cardinality parts even when the rows
    contain them (the recorded dumps hold everything); ``log_size`` sums the kafka.log Log
    Size / NumLogSegments rows per topic.
    """
    out = BrokerJmx(target=target, broker_id=broker_id, rack=rack)
    out.ops.want_log_size, out.ops.per_topic = log_size, per_topic
    values = Values()
    app_id: int | None = None
    connections: dict[tuple[str, str, str], float] = {}
    for row in rows:
        domain, props = parse_object_name(row.mbean)
        if parse_ops_row(out.ops, domain, props, row, values):
            continue
        kind, name, attr = props.get("type"), props.get("name"), row.attribute
        if domain == "kafka.log" and kind == "LogManager" and name == "OfflineLogDirectoryCount" and attr == "Value":
            out.offline_log_directories = values.num(row)
        elif domain == "kafka.server":
            if kind == "ReplicaManager" and name is not None:
                out.is_broker = True
                if name in _RM_GAUGES and attr == "Value":
                    setattr(out.replica_manager, _RM_GAUGES[name], values.num(row))
                elif name in _RM_METERS and attr == "Count":
                    setattr(out.replica_manager, _RM_METERS[name], values.num(row))
            elif kind == "BrokerTopicMetrics" and name in _TOPIC_METERS and attr == "Count":
                topic = props.get("topic")
                if topic is not None and not per_topic:
                    continue
                traffic = out.topics.setdefault(topic, TopicTraffic())
                setattr(traffic, _TOPIC_METERS[name], values.num(row))
            elif kind == "KafkaRequestHandlerPool" and name == "RequestHandlerAvgIdlePercent":
                if attr == "Count":
                    ns = values.num(row)
                    out.request_handler_idle_seconds_total = None if ns is None else ns / 1e9
                elif attr == "OneMinuteRate":
                    out.request_handler_idle_one_minute_rate = values.num(row)
            elif kind == "KafkaServer" and name == "BrokerState" and attr == "Value":
                out.is_broker = True
                out.broker_state = values.num(row)
            elif kind == "socket-server-metrics" and "clientSoftwareName" in props and attr == "connections":
                count = values.num(row)
                if count is not None:
                    key = (props.get("listener", ""), props["clientSoftwareName"], props.get("clientSoftwareVersion", ""))
                    connections[key] = connections.get(key, 0.0) + count
            elif kind == "app-info" and "id" in props:
                if is_id(props["id"]):
                    app_id = int(props["id"])
                if attr == "Version" and isinstance(row.value, str):
                    out.version = row.value
                elif attr == "CommitId" and isinstance(row.value, str):
                    out.commit_id = row.value
        elif domain == "kafka.controller":
            if kind == "KafkaController" and name in _CONTROLLER_GAUGES and attr == "Value":
                out.is_controller = True
                ctl = out.controller = out.controller or ControllerValues()
                setattr(ctl, _CONTROLLER_GAUGES[name], values.num(row))
            elif kind == "ControllerStats" and name == "UncleanLeaderElectionsPerSec" and attr == "Count":
                ctl = out.controller = out.controller or ControllerValues()
                ctl.unclean_leader_elections_total = values.num(row)
        elif domain == "kafka.network":
            if kind == "SocketServer" and name == "NetworkProcessorAvgIdlePercent" and attr == "Value":
                out.network_processor_idle_ratio = values.num(row)
        elif per_partition and attr == "Value" and name is not None:
            if domain == "kafka.cluster" and kind == "Partition" and name in _PARTITION_FLAGS:
                part = _partition(out, props)
                if part is not None:
                    setattr(part, _PARTITION_FLAGS[name], values.num(row))
            elif domain == "kafka.log" and kind == "Log" and name in _LOG_VALUES:
                part = _partition(out, props)
                if part is not None:
                    setattr(part, _LOG_VALUES[name], values.num(row))
    if out.broker_id is None:
        out.broker_id = app_id
    out.client_connections = [ClientConnections(lst, sw, ver, n) for (lst, sw, ver), n in sorted(connections.items())]
    out.ops.finish()
    out.dropped, out.errors = values.dropped, values.errors
    return out


def _partition(out: BrokerJmx, props: Mapping[str, str]) -> PartitionJmx | None:
    topic, pid = props.get("topic"), props.get("partition", "")
    if topic is None or not is_id(pid):
        return None
    return out.partitions.setdefault((topic, int(pid)), PartitionJmx())
