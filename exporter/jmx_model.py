"""Typed records of what JMX tells us, and the pure parser that builds them.

Both JMX sources (``broker_jmx``, ``client_jmx``) read MBeans with jmxquery as rows of
``(mbean, attribute, value)``; the recorded dumps in ``shared/fixtures/jmx-*.json`` hold
the same rows.  :func:`parse_broker` and :func:`parse_client_target` turn such rows into
the records below; they do no I/O, so the mapping is tested on the recorded dumps.

What the interpretation layer reads from a :class:`~exporter.cycle.Snapshot`:

* ``snapshot.payloads("broker_jmx")`` -> ``list[BrokerJmx]``, one per broker JMX target
  that answered this cycle.
* ``snapshot.payloads("client_jmx")`` -> ``list[ClientJmxTarget]``, one per Java client JVM
  that answered; each holds ``clients: list[ClientJmx]`` (one JVM can hold several
  producers and consumers, e.g. a Kafka Connect worker).  :func:`client_records` flattens
  them to ``list[ClientJmx]``.

Units: every value is a float already coerced by :func:`exporter.catalogue.to_float` (the
one place foreign values become numbers); times are converted from Kafka's milliseconds to
seconds (fields ending in ``_seconds``); a value that JMX reported as NaN, Infinity, a
non-number or not at all is ``None`` -- never NaN, so a derived value cannot be poisoned.
NaN/Infinity are normal (a windowed client average with no sample in the window) and are
only counted in ``dropped``; a non-numeric string where a number belongs is also listed in
``errors`` (it means the target or our mapping is wrong).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from exporter.catalogue import to_float

__all__ = [
    "BrokerJmx",
    "ClientConnections",
    "ClientJmx",
    "ClientJmxTarget",
    "ConsumerMetrics",
    "ConsumerPartition",
    "ConsumerTopic",
    "ControllerValues",
    "JmxRow",
    "PartitionJmx",
    "ProducerMetrics",
    "ProducerTopic",
    "ReplicaManagerValues",
    "TopicTraffic",
    "client_records",
    "load_dump",
    "parse_broker",
    "parse_client_target",
    "parse_object_name",
    "rows_from_dump",
    "rows_from_jmxquery",
]

ClientKind = Literal["producer", "consumer"]

#: the client settings an operator may declare per client target (used by interpretation P2/P5)
DECLARABLE_SETTINGS = (
    "batch.size",
    "linger.ms",
    "acks",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
    "retries",
    "compression.type",
    "transactional.id",
)


# -- rows ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class JmxRow:
    """One attribute of one MBean, exactly as the JVM reported it."""

    mbean: str
    #: attribute name; a composite attribute's key is appended with '/' (``HeapMemoryUsage/used``)
    attribute: str
    value: object
    #: JMXQuery's type name (``Double``, ``Long``, ``String``, ...); informational
    value_type: str = ""


def rows_from_dump(doc: Mapping[str, Any]) -> list[JmxRow]:
    """Rows of a recorded dump (``format: kafka-insight-fixture/jmx-dump/1``)."""
    rows = []
    for m in doc.get("mbeans") or []:
        for attribute, (value, value_type) in m["attributes"].items():
            rows.append(JmxRow(m["mbean"], attribute, value, value_type))
    return rows


def load_dump(path: str | Path) -> list[JmxRow]:
    """Rows of a recorded dump file."""
    return rows_from_dump(json.loads(Path(path).read_text()))


def rows_from_jmxquery(results: Iterable[Any]) -> list[JmxRow]:
    """Rows of jmxquery results (``JMXQuery`` objects or the jar's JSON dicts)."""
    rows = []
    for r in results:
        if isinstance(r, Mapping):
            mbean, attribute, key = r.get("mBeanName"), r.get("attribute"), r.get("attributeKey")
            value, value_type = r.get("value"), r.get("attributeType", "")
        else:
            mbean, attribute, key = r.mBeanName, r.attribute, r.attributeKey
            value, value_type = r.value, r.value_type or ""
        if not mbean or not attribute:
            continue
        rows.append(JmxRow(str(mbean), f"{attribute}/{key}" if key else str(attribute), value, str(value_type or "")))
    return rows


def parse_object_name(name: str) -> tuple[str, dict[str, str]]:
    """``domain:k=v,k2="v,2"`` -> (domain, {k: v}); quoted values are unquoted."""
    domain, _, rest = name.partition(":")
    props: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq]
        j = eq + 1
        if j < n and rest[j] == '"':
            j += 1
            buf = []
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(rest[j])
                j += 1
            value = "".join(buf)
            j += 1  # closing quote
            comma = rest.find(",", j)
        else:
            comma = rest.find(",", j)
            value = rest[j : comma if comma >= 0 else n]
        props[key] = value
        if comma < 0:
            break
        i = comma + 1
    return domain, props


class _Values:
    """Coerces row values to floats, counting what it drops (one place: to_float)."""

    def __init__(self) -> None:
        self.dropped = 0
        self.errors: list[str] = []

    def num(self, row: JmxRow) -> float | None:
        number = to_float(row.value)
        if number is None:
            self.dropped += 1
            if not _is_nonfinite_marker(row.value):
                self.errors.append(f"{row.mbean} {row.attribute}: not a number: {str(row.value)[:60]!r}")
        return number

    def ms(self, row: JmxRow) -> float | None:
        number = self.num(row)
        return None if number is None else number / 1000.0


def _is_id(text: str) -> bool:
    """A broker id or partition number int() can read (MBean names are foreign data: no '²')."""
    return text.isascii() and text.isdigit() and len(text) <= 10


def _is_nonfinite_marker(value: object) -> bool:
    if value is None:
        return True  # JMXQuery's Null type: nothing to report
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return value.strip().lower() in ("nan", "infinity", "-infinity", "+infinity", "inf", "-inf")
    return False


# -- broker records --------------------------------------------------------------------------
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
_PARTITION_FLAGS = {"UnderMinIsr": "under_min_isr", "AtMinIsr": "at_min_isr", "UnderReplicated": "under_replicated"}
_LOG_VALUES = {"LogStartOffset": "log_start_offset", "LogEndOffset": "log_end_offset", "Size": "size_bytes"}


def parse_broker(
    rows: Iterable[JmxRow],
    target: str,
    *,
    broker_id: int | None = None,
    rack: str | None = None,
    per_topic: bool = True,
    per_partition: bool = True,
) -> BrokerJmx:
    """Broker MBean rows -> :class:`BrokerJmx`.  Unknown MBeans are ignored.

    ``per_topic`` / ``per_partition`` drop the high-cardinality parts even when the rows
    contain them (the recorded dumps hold everything).
    """
    out = BrokerJmx(target=target, broker_id=broker_id, rack=rack)
    values = _Values()
    app_id: int | None = None
    connections: dict[tuple[str, str, str], float] = {}
    for row in rows:
        domain, props = parse_object_name(row.mbean)
        kind, name, attr = props.get("type"), props.get("name"), row.attribute
        if domain == "kafka.server":
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
                if _is_id(props["id"]):
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
    out.dropped, out.errors = values.dropped, values.errors
    return out


def _partition(out: BrokerJmx, props: Mapping[str, str]) -> PartitionJmx | None:
    topic, pid = props.get("topic"), props.get("partition", "")
    if topic is None or not _is_id(pid):
        return None
    return out.partitions.setdefault((topic, int(pid)), PartitionJmx())


# -- client records --------------------------------------------------------------------------
@dataclass
class ProducerTopic:
    """``kafka.producer:type=producer-topic-metrics,client-id=..,topic=..``."""

    #: ``compression-rate``: compressed/uncompressed size of this topic's batches (window
    #: average); 1.0 = not compressed, lower is better
    compression_rate: float | None = None
    byte_total: float | None = None  # byte-total (bytes sent, compressed)
    record_send_total: float | None = None
    record_retry_total: float | None = None
    record_error_total: float | None = None


@dataclass
class ProducerMetrics:
    """``kafka.producer:type=producer-metrics,client-id=..`` (+ per-topic metrics).

    Averages (``*_avg``, ``*_max``) are over the client's metrics window (default 2 x 30 s)
    and are None (NaN in JMX) when nothing was sent in that window.
    """

    #: ``compression-rate-avg``: average compressed/uncompressed size per batch; 1.0 = no
    #: compression, lower is better (savings = 1 - value)
    compression_rate_avg: float | None = None
    #: ``batch-size-avg|max``: bytes per partition per request *after compression*
    batch_size_avg: float | None = None
    batch_size_max: float | None = None
    #: ``record-size-avg|max``: per batch the *largest* record's estimated size, averaged
    #: over batches -- not the mean record size
    record_size_avg: float | None = None
    record_size_max: float | None = None
    records_per_request_avg: float | None = None
    record_queue_time_avg_seconds: float | None = None
    record_queue_time_max_seconds: float | None = None
    request_latency_avg_seconds: float | None = None
    request_latency_max_seconds: float | None = None
    produce_throttle_time_avg_seconds: float | None = None
    record_send_total: float | None = None
    record_retry_total: float | None = None
    record_error_total: float | None = None
    request_total: float | None = None
    outgoing_byte_total: float | None = None
    buffer_available_bytes: float | None = None
    buffer_total_bytes: float | None = None
    buffer_exhausted_total: float | None = None
    requests_in_flight: float | None = None
    waiting_threads: float | None = None
    topics: dict[str, ProducerTopic] = field(default_factory=dict)


@dataclass
class ConsumerPartition:
    """``consumer-fetch-manager-metrics,client-id,topic,partition``: current lag of one assigned partition."""

    records_lag: float | None = None  # records-lag: messages behind the log end (high watermark / LSO)
    records_lead: float | None = None  # records-lead: messages ahead of the log start (near 0 = about to lose data)


@dataclass
class ConsumerTopic:
    records_consumed_total: float | None = None
    bytes_consumed_total: float | None = None


@dataclass
class ConsumerMetrics:
    """``kafka.consumer:type=consumer-fetch-manager-metrics|consumer-coordinator-metrics``."""

    #: ``records-lag-max``: the maximum lag over the metrics window (2 x 30 s), NOT the current
    #: lag (a caught-up consumer can show thousands); use ``partitions`` for the current lag
    records_lag_max: float | None = None
    records_lead_min: float | None = None
    records_consumed_total: float | None = None
    bytes_consumed_total: float | None = None
    fetch_total: float | None = None
    fetch_latency_avg_seconds: float | None = None
    fetch_latency_max_seconds: float | None = None
    fetch_throttle_time_avg_seconds: float | None = None
    fetch_size_avg: float | None = None
    records_per_request_avg: float | None = None
    #: coordinator (group membership); None for assign-only consumers
    rebalance_total: float | None = None
    failed_rebalance_total: float | None = None
    last_rebalance_age_seconds: float | None = None  # last-rebalance-seconds-ago
    rebalance_latency_avg_seconds: float | None = None
    commit_total: float | None = None
    commit_latency_avg_seconds: float | None = None
    commit_latency_max_seconds: float | None = None
    assigned_partitions: float | None = None
    #: ``consumer-metrics`` last-poll-seconds-ago: a stuck application stops polling
    last_poll_age_seconds: float | None = None
    topics: dict[str, ConsumerTopic] = field(default_factory=dict)
    partitions: dict[tuple[str, int], ConsumerPartition] = field(default_factory=dict)


@dataclass
class ClientJmx:
    """One Java producer or consumer (a ``client-id``) inside a JMX target."""

    target: str
    kind: ClientKind
    client_id: str
    #: app-info ``version`` (e.g. ``4.0.0``) and ``commit-id``; None if the MBean is missing
    version: str | None = None
    commit_id: str | None = None
    #: the client settings the operator declared for this target in the config (strings as
    #: written, keys from :data:`DECLARABLE_SETTINGS`); JMX does not expose a client's config
    declared: dict[str, str] = field(default_factory=dict)
    producer: ProducerMetrics | None = None
    consumer: ConsumerMetrics | None = None


@dataclass
class ClientJmxTarget:
    """One Java client JVM's JMX in one cycle (the ``client_jmx`` payload)."""

    target: str
    clients: list[ClientJmx] = field(default_factory=list)
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


def client_records(payloads: Iterable[ClientJmxTarget]) -> list[ClientJmx]:
    """All clients of ``snapshot.payloads("client_jmx")``."""
    return [c for p in payloads for c in p.clients]


# (attribute, field, unit) with unit "ms" converted to seconds
_PRODUCER_ATTRS = {
    "compression-rate-avg": ("compression_rate_avg", ""),
    "batch-size-avg": ("batch_size_avg", ""),
    "batch-size-max": ("batch_size_max", ""),
    "record-size-avg": ("record_size_avg", ""),
    "record-size-max": ("record_size_max", ""),
    "records-per-request-avg": ("records_per_request_avg", ""),
    "record-queue-time-avg": ("record_queue_time_avg_seconds", "ms"),
    "record-queue-time-max": ("record_queue_time_max_seconds", "ms"),
    "request-latency-avg": ("request_latency_avg_seconds", "ms"),
    "request-latency-max": ("request_latency_max_seconds", "ms"),
    "produce-throttle-time-avg": ("produce_throttle_time_avg_seconds", "ms"),
    "record-send-total": ("record_send_total", ""),
    "record-retry-total": ("record_retry_total", ""),
    "record-error-total": ("record_error_total", ""),
    "request-total": ("request_total", ""),
    "outgoing-byte-total": ("outgoing_byte_total", ""),
    "buffer-available-bytes": ("buffer_available_bytes", ""),
    "buffer-total-bytes": ("buffer_total_bytes", ""),
    "buffer-exhausted-total": ("buffer_exhausted_total", ""),
    "requests-in-flight": ("requests_in_flight", ""),
    "waiting-threads": ("waiting_threads", ""),
}
_PRODUCER_TOPIC_ATTRS = {
    "compression-rate": "compression_rate",
    "byte-total": "byte_total",
    "record-send-total": "record_send_total",
    "record-retry-total": "record_retry_total",
    "record-error-total": "record_error_total",
}
_FETCH_ATTRS = {
    "records-lag-max": ("records_lag_max", ""),
    "records-lead-min": ("records_lead_min", ""),
    "records-consumed-total": ("records_consumed_total", ""),
    "bytes-consumed-total": ("bytes_consumed_total", ""),
    "fetch-total": ("fetch_total", ""),
    "fetch-latency-avg": ("fetch_latency_avg_seconds", "ms"),
    "fetch-latency-max": ("fetch_latency_max_seconds", "ms"),
    "fetch-throttle-time-avg": ("fetch_throttle_time_avg_seconds", "ms"),
    "fetch-size-avg": ("fetch_size_avg", ""),
    "records-per-request-avg": ("records_per_request_avg", ""),
}
_COORDINATOR_ATTRS = {
    "rebalance-total": ("rebalance_total", ""),
    "failed-rebalance-total": ("failed_rebalance_total", ""),
    "last-rebalance-seconds-ago": ("last_rebalance_age_seconds", ""),
    "rebalance-latency-avg": ("rebalance_latency_avg_seconds", "ms"),
    "commit-total": ("commit_total", ""),
    "commit-latency-avg": ("commit_latency_avg_seconds", "ms"),
    "commit-latency-max": ("commit_latency_max_seconds", "ms"),
    "assigned-partitions": ("assigned_partitions", ""),
}


def parse_client_target(
    rows: Iterable[JmxRow],
    target: str,
    *,
    declared: Mapping[str, str] | None = None,
    per_partition: bool = True,
) -> ClientJmxTarget:
    """``kafka.producer:*`` / ``kafka.consumer:*`` rows of one JVM -> :class:`ClientJmxTarget`.

    Clients are keyed by (kind, client-id); a client appears when any of its MBeans does.
    ``declared`` is attached to every client of the target.
    """
    out = ClientJmxTarget(target=target)
    values = _Values()
    clients: dict[tuple[str, str], ClientJmx] = {}

    def client(kind: ClientKind, cid: str) -> ClientJmx:
        found = clients.get((kind, cid))
        if found is None:
            found = clients[(kind, cid)] = ClientJmx(target, kind, cid, declared=dict(declared or {}))
        return found

    def put(obj: object, spec: tuple[str, str], row: JmxRow) -> None:
        setattr(obj, spec[0], values.ms(row) if spec[1] == "ms" else values.num(row))

    for row in rows:
        domain, props = parse_object_name(row.mbean)
        if domain not in ("kafka.producer", "kafka.consumer"):
            continue
        kind: ClientKind = "producer" if domain == "kafka.producer" else "consumer"
        mtype, cid, attr = props.get("type"), props.get("client-id"), row.attribute
        if cid is None:
            continue  # app-info,id=... duplicates app-info,client-id=...
        if mtype == "app-info":
            c = client(kind, cid)
            if attr == "version" and isinstance(row.value, str):
                c.version = row.value
            elif attr == "commit-id" and isinstance(row.value, str):
                c.commit_id = row.value
        elif mtype == "producer-metrics" and attr in _PRODUCER_ATTRS:
            c = client("producer", cid)
            c.producer = c.producer or ProducerMetrics()
            put(c.producer, _PRODUCER_ATTRS[attr], row)
        elif mtype == "producer-topic-metrics" and attr in _PRODUCER_TOPIC_ATTRS and "topic" in props:
            c = client("producer", cid)
            c.producer = c.producer or ProducerMetrics()
            pt = c.producer.topics.setdefault(props["topic"], ProducerTopic())
            setattr(pt, _PRODUCER_TOPIC_ATTRS[attr], values.num(row))
        elif mtype == "consumer-fetch-manager-metrics":
            c = client("consumer", cid)
            cm = c.consumer = c.consumer or ConsumerMetrics()
            topic, pid = props.get("topic"), props.get("partition")
            if topic is None:
                if attr in _FETCH_ATTRS:
                    put(cm, _FETCH_ATTRS[attr], row)
            elif pid is None:
                if attr == "records-consumed-total":
                    cm.topics.setdefault(topic, ConsumerTopic()).records_consumed_total = values.num(row)
                elif attr == "bytes-consumed-total":
                    cm.topics.setdefault(topic, ConsumerTopic()).bytes_consumed_total = values.num(row)
            elif per_partition and _is_id(pid) and attr in ("records-lag", "records-lead"):
                cp = cm.partitions.setdefault((topic, int(pid)), ConsumerPartition())
                if attr == "records-lag":
                    cp.records_lag = values.num(row)
                else:
                    cp.records_lead = values.num(row)
        elif mtype == "consumer-coordinator-metrics" and attr in _COORDINATOR_ATTRS:
            c = client("consumer", cid)
            c.consumer = c.consumer or ConsumerMetrics()
            put(c.consumer, _COORDINATOR_ATTRS[attr], row)
        elif mtype == "consumer-metrics" and attr == "last-poll-seconds-ago":
            c = client("consumer", cid)
            c.consumer = c.consumer or ConsumerMetrics()
            c.consumer.last_poll_age_seconds = values.num(row)
    out.clients = [clients[k] for k in sorted(clients)]
    out.dropped, out.errors = values.dropped, values.errors
    return out
