"""Broker JMX source: ReplicaManager, controller, traffic, idle ratios and KIP-511 client versions.

Targets are explicit (``jmx.brokers.targets``) and/or discovered from the previous cycle's
Admin-API brokers plus one JMX port (``jmx.brokers.discover``); discovered targets appear
from the second cycle on and survive an Admin-API failure (the last known broker list is
kept).  Each target is its own job: one jmxquery JVM per target per cycle with every MBean
pattern batched, targets in parallel (at most ``jmx.max_parallel`` JVMs at once), each
killed at ``jmx.timeout_seconds``; the cycle reports ``source_up{source="broker_jmx",
target=host:port}`` per target.

Sample output::

    kafka_insight_broker_under_min_isr_partitions{broker_id="1"} 3.0
    kafka_insight_controller_active{broker_id="1"} 1.0
    kafka_insight_broker_client_connections{broker_id="1",listener="PLAINTEXT",client_software_name="apache-kafka-java",client_software_version="4.0.0"} 2.0
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.catalogue import MetricSpec, Samples, metric
from exporter.jmx_config import BrokerTarget, JmxAuth, JmxConfig
from exporter.jmx_model import BrokerJmx, parse_broker
from exporter.sources import jmx
from exporter.sources.admin.records import Broker, ClusterState
from exporter.sources.base import Job, Source

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.cycle import Snapshot

log = logging.getLogger(__name__)
SRC = "broker_jmx"
B = ("broker_id",)
BT = ("broker_id", "topic")
BP = ("broker_id", "topic", "partition")
#: a discovered broker the Admin API stopped listing stays a target this long (seconds)
FORGET_BROKER_AFTER = 3600.0

_TAKE_MAX = "Every controller node reports it: for the cluster take max() over broker_id (or the node with kafka_insight_controller_active 1), never sum()."

# -- catalogue -----------------------------------------------------------------------------------
BROKER_JMX_INFO = metric(
    "kafka_insight_broker_jmx_info",
    "gauge",
    """Always 1 per broker JMX target that answered: its broker_id (from the Admin API, the
    config or the kafka.server app-info MBean), rack, JMX target, Kafka version (app-info
    Version) and roles (broker, controller or both, from which MBeans exist).""",
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

_RM_SPECS = (
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
_CONTROLLER_SPECS = (
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
_PARTITION_SPECS = (
    ("under_min_isr", PARTITION_UNDER_MIN_ISR),
    ("at_min_isr", PARTITION_AT_MIN_ISR),
    ("under_replicated", PARTITION_UNDER_REPLICATED),
    ("log_start_offset", LOG_START),
    ("log_end_offset", LOG_END),
    ("size_bytes", LOG_SIZE),
)


def patterns(per_topic: bool, per_partition: bool) -> list[str]:
    """The MBean patterns of one broker, batched into one jmxquery call."""
    found = [
        "kafka.server:type=ReplicaManager,*/Value",
        "kafka.server:type=ReplicaManager,*/Count",
        "kafka.controller:type=KafkaController,*/Value",
        "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec/Count",
        f"kafka.server:type=BrokerTopicMetrics,{'*' if per_topic else 'name=*'}/Count",
        "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent/Count",
        "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent/OneMinuteRate",
        "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent/Value",
        "kafka.server:type=socket-server-metrics,*/connections",
        "kafka.server:type=app-info,*",
        "kafka.server:type=KafkaServer,name=BrokerState/Value",
    ]
    if per_partition:
        found += ["kafka.cluster:type=Partition,*/Value", "kafka.log:type=Log,*/Value"]
    return found


class BrokerJmxSource(Source):
    """One job per broker JMX target; payload :class:`~exporter.jmx_model.BrokerJmx`."""

    name = SRC

    def __init__(self, settings: JmxConfig, cycle_timeout: float = 20.0) -> None:
        self.settings = settings
        # a JVM must be killed before the cycle's deadline so that the job reports its own error
        self.timeout = max(0.5, min(settings.timeout, cycle_timeout - 0.5))
        self.limiter = jmx.Limiter(settings.max_parallel)
        self.patterns = patterns(settings.per_topic, settings.per_partition)
        #: broker id -> (broker, monotonic time last listed by the Admin API)
        self._seen: dict[int, tuple[Broker, float]] = {}
        self._lock = threading.Lock()

    def _known_brokers(self, previous: Snapshot | None) -> list[Broker]:
        """Brokers the Admin API listed within :data:`FORGET_BROKER_AFTER` seconds.

        describe_cluster lists live brokers only: a crashed broker would vanish from the
        targets instead of showing ``source_up 0``, so a broker stays a target for an hour
        after it was last listed (a decommissioned one then disappears).
        """
        state = previous.payload("admin") if previous is not None else None
        now = time.monotonic()
        with self._lock:
            if isinstance(state, ClusterState):
                for b in state.brokers:
                    self._seen[b.id] = (b, now)
            for bid, (_, seen) in list(self._seen.items()):
                if now - seen > FORGET_BROKER_AFTER:
                    del self._seen[bid]
            return [b for b, _ in sorted(self._seen.values(), key=lambda item: item[0].id)]

    def targets(self, previous: Snapshot | None) -> list[BrokerTarget]:
        """Explicit targets, then discovered ones (Admin-API brokers + the discovery port)."""
        brokers = self._known_brokers(previous)
        racks = {b.id: b.rack for b in brokers}
        found: dict[str, BrokerTarget] = {}
        for t in self.settings.brokers:
            rack = t.rack if t.rack is not None else racks.get(t.broker_id) if t.broker_id is not None else None
            found[t.address] = BrokerTarget(t.address, t.broker_id, rack, t.auth)
        discover = self.settings.discover
        if discover is not None:
            for b in brokers:
                address = f"{b.host}:{discover.port_for(b.id)}"
                found.setdefault(address, BrokerTarget(address, b.id, b.rack, discover.auth))
        return list(found.values())

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        started = time.monotonic()
        targets = self.targets(previous)
        with self._lock:
            racks = {bid: b.rack for bid, (b, _) in self._seen.items()}
        return [Job(SRC, t.address, self._collector(t, started, racks)) for t in targets]

    def _collector(self, target: BrokerTarget, started: float, racks: dict[int, str | None]) -> Callable[[], BrokerJmx]:
        def run() -> BrokerJmx:
            return self.collect(target, started, racks)

        return run

    def collect(
        self, target: BrokerTarget, started: float | None = None, racks: dict[int, str | None] | None = None
    ) -> BrokerJmx:
        budget = self.timeout - (time.monotonic() - started if started is not None else 0.0)
        rows = jmx.query(
            target.address,
            self.patterns,
            target.auth or JmxAuth(),
            timeout=budget,
            java=self.settings.java,
            limiter=self.limiter,
        )
        record = parse_broker(
            rows,
            target.address,
            broker_id=target.broker_id,
            rack=target.rack,
            per_topic=self.settings.per_topic,
            per_partition=self.settings.per_partition,
        )
        if record.rack is None and record.broker_id is not None:
            record.rack = (racks or {}).get(record.broker_id)
        if not rows:
            record.errors.append(f"JMX {target.address}: no Kafka broker MBeans found (is this a Kafka broker's JMX port?)")
        return record

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        emit_brokers(snapshot.payloads(SRC), out)


def emit_brokers(records: list[BrokerJmx], out: Samples) -> None:
    """Every broker once: two targets that reach the same broker (e.g. an explicit target
    and a discovered one under another host name) would expose duplicate series, which
    makes Prometheus reject the whole scrape; the first target (explicit ones come first) wins."""
    seen: dict[int | None, str] = {}
    for record in records:
        first = seen.setdefault(record.broker_id, record.target)
        if first != record.target:
            log.warning(
                "JMX targets %s and %s both report broker id %s; exporting %s only", first, record.target, record.broker_id, first
            )
            continue
        emit_broker(record, out)


def emit_broker(b: BrokerJmx, out: Samples) -> None:
    """BrokerJmx -> samples.  Pure: tested on the recorded dumps."""
    if b.dropped:
        out.dropped[SRC] = out.dropped.get(SRC, 0) + b.dropped
    bid = "" if b.broker_id is None else str(b.broker_id)
    roles = ",".join(r for r, on in (("broker", b.is_broker), ("controller", b.is_controller)) if on)
    out.add(BROKER_JMX_INFO, 1, bid, b.rack or "", b.target, b.version or "", roles)
    if b.broker_state is not None:
        out.add(BROKER_RUNNING, 1 if b.broker_state == 3 else 0, bid)
    rm = b.replica_manager
    for attr, spec in _RM_SPECS:
        value = getattr(rm, attr)
        if value is not None:
            out.add(spec, value, bid)
    if b.controller is not None:
        for attr, spec in _CONTROLLER_SPECS:
            value = getattr(b.controller, attr)
            if value is not None:
                out.add(spec, value, bid)
    for topic, traffic in b.topics.items():
        for attr, (total_spec, topic_spec) in TRAFFIC.items():
            value = getattr(traffic, attr)
            if value is None:
                continue
            if topic is None:
                out.add(total_spec, value, bid)
            elif topic_spec is not None:
                out.add(topic_spec, value, bid, topic)
    if b.request_handler_idle_seconds_total is not None:
        out.add(REQUEST_HANDLER_IDLE, b.request_handler_idle_seconds_total, bid)
        out.add(REQUEST_HANDLER_POOLS, b.request_handler_pools, bid)
    if b.network_processor_idle_ratio is not None:
        out.add(NETWORK_IDLE, b.network_processor_idle_ratio, bid)
    for c in b.client_connections:
        out.add(CLIENT_CONNECTIONS, c.connections, bid, c.listener, c.software_name, c.software_version)
    for (topic, pid), part in sorted(b.partitions.items()):
        for attr, spec in _PARTITION_SPECS:
            value = getattr(part, attr)
            if value is not None:
                out.add(spec, value, bid, topic, pid)


def factory(config: Config) -> Source | None:
    from exporter.jmx_config import of

    settings = of(config)
    if settings is None or not settings.brokers_configured:
        return None
    return BrokerJmxSource(settings, config.timeout)
