"""Broker JMX source: ReplicaManager, controller, traffic, idle ratios and KIP-511 client versions.

Targets are explicit (``jmx.brokers.targets``) and/or discovered from the previous cycle's
Admin-API brokers plus one JMX port (``jmx.brokers.discover``); discovered targets appear
from the second cycle on and survive an Admin-API failure (the last known broker list is
kept).  Each target is its own job: one query per target per cycle over its persistent
connection in the JMX worker, every MBean pattern batched, targets in parallel (at most
``jmx.max_parallel`` at once), each bounded by ``jmx.timeout_seconds``; the cycle reports ``source_up{source="broker_jmx",
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

from exporter.metrics import Samples
from exporter.sources.admin.records import Broker, ClusterState
from exporter.sources.base import Job, Source, SourceError
from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.broker_ops import ops_patterns
from exporter.sources.jmx.broker_ops_specs import emit_ops
from exporter.sources.jmx.broker_records import (
    _CONTROLLER_GAUGES,
    _RM_GAUGES,
    _RM_METERS,
    _TOPIC_METERS,
    BrokerJmx,
    parse_broker,
)
from exporter.sources.jmx.broker_slow import SlowReads
from exporter.sources.jmx.broker_specs import (
    BROKER_JMX_INFO,
    BROKER_RUNNING,
    CLIENT_CONNECTIONS,
    CONTROLLER_SPECS,
    NETWORK_IDLE,
    OFFLINE_LOG_DIRECTORIES,
    PARTITION_SPECS,
    REQUEST_HANDLER_IDLE,
    REQUEST_HANDLER_POOLS,
    RM_SPECS,
    SRC,
    TRAFFIC,
)
from exporter.sources.jmx.config import DEFAULT_REQUEST_TYPES, BrokerTarget, JmxAuth, JmxConfig

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.snapshot import Snapshot

log = logging.getLogger(__name__)
#: a discovered broker the Admin API stopped listing stays a target this long (seconds)
FORGET_BROKER_AFTER = 3600.0


def patterns(
    per_topic: bool,
    per_partition: bool,
    request_types: tuple[str, ...] = DEFAULT_REQUEST_TYPES,
    request_phases: bool = True,
    log_size: bool = False,
) -> list[str]:
    """The MBean patterns of one broker, batched into one query (``/A,B`` reads both
    attributes of each MBean in one call)."""
    # "~": the MBean set is fixed while the broker runs, its names may be cached (worker.NAMES_TTL);
    # "name=A|B": only the MBeans of the type that the mapping uses (one getAttributes call each)
    found = [
        f"~kafka.server:type=ReplicaManager,name={'|'.join((*_RM_GAUGES, *_RM_METERS))}/Value,Count",
        f"~kafka.controller:type=KafkaController,name={'|'.join(_CONTROLLER_GAUGES)}/Value",
        "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec/Count",
        f"{'' if per_topic else '~'}kafka.server:type=BrokerTopicMetrics,name={'|'.join(_TOPIC_METERS)}{',*' if per_topic else ''}/Count",
        "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent/Count,OneMinuteRate",
        "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent/Value",
        # KIP-511's per client software MBeans only (a value pattern): not the per listener and
        # per network processor ones beside them (3 per listener and processor on a busy broker)
        "kafka.server:type=socket-server-metrics,clientSoftwareName=*,*/connections",
        "~kafka.server:type=app-info,id=*/Version,CommitId",  # the broker id (a key), version and commit
        "kafka.server:type=KafkaServer,name=BrokerState/Value",
        "kafka.log:type=LogManager,name=OfflineLogDirectoryCount/Value",
    ]
    found += ops_patterns(request_types, request_phases, log_size and not per_partition)
    if per_partition:
        found += ["kafka.cluster:type=Partition,*/Value", "kafka.log:type=Log,*/Value"]
    return found


class BrokerJmxSource(Source):
    """One job per broker JMX target; payload :class:`~exporter.sources.jmx.broker_records.BrokerJmx`."""

    name = SRC

    def __init__(self, settings: JmxConfig, cycle_timeout: float = 20.0) -> None:
        self.settings = settings
        # a JVM must be killed before the cycle's deadline so that the job reports its own error
        self.timeout = max(0.5, min(settings.timeout, cycle_timeout - 0.5))
        self.limiter = jvm.Limiter(settings.max_parallel)
        self.patterns = patterns(
            settings.per_topic, settings.per_partition, settings.request_types, settings.request_phases, settings.log_size
        )
        #: the slow families, read every settings.slow_every cycles per target
        self.slow = SlowReads(self.patterns, settings.slow_every)
        #: broker id -> (broker, monotonic time last listed by the Admin API)
        self._seen: dict[int, tuple[Broker, float]] = {}
        self._lock = threading.Lock()

    def _known_brokers(self, previous: Snapshot | None) -> list[Broker]:
        """Brokers the Admin API listed within :data:`FORGET_BROKER_AFTER` seconds.

        describe_cluster lists live brokers only: a crashed broker would vanish from the
        targets instead of showing ``source_up 0``, so a broker stays a target for an hour
        after it was last listed (a decommissioned one then disappears).
        """
        self._learn(previous.admin if previous is not None else None)
        now = time.monotonic()
        with self._lock:
            for bid, (_, seen) in list(self._seen.items()):
                if now - seen > FORGET_BROKER_AFTER:
                    del self._seen[bid]
            return [b for b, _ in sorted(self._seen.values(), key=lambda item: item[0].id)]

    def _learn(self, state: ClusterState | None) -> None:
        """Remember the brokers of a cycle's Admin-API state (in :meth:`emit`: the collector
        keeps only a slim snapshot between cycles, without the cluster state)."""
        if state is None:
            return
        now = time.monotonic()
        with self._lock:
            for b in state.brokers:
                self._seen[b.id] = (b, now)

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
        self.slow.keep_only(t.address for t in targets)
        with self._lock:
            racks = {bid: b.rack for bid, (b, _) in self._seen.items()}
        return [Job(SRC, t.address, self._collector(t, started, racks)) for t in targets]

    def _collector(self, target: BrokerTarget, started: float, racks: dict[int, str | None]) -> Callable[[], BrokerJmx]:
        def run() -> BrokerJmx:
            return self.collect(target, started, racks)

        return run

    def collect(
        self,
        target: BrokerTarget,
        started: float | None = None,
        racks: dict[int, str | None] | None = None,
        key: str | None = None,
    ) -> BrokerJmx:
        """One target's cycle.  ``key`` names its connection and slow-family state (default:
        its address; the benchmark gives each of its targets a key of its own)."""
        budget = self.timeout - (time.monotonic() - started if started is not None else 0.0)
        state = key or target.address
        asked, due = self.slow.plan(state)
        try:
            groups = jvm.query_groups(
                target.address,
                asked,
                target.auth or JmxAuth(),
                timeout=budget,
                java=self.settings.java,
                limiter=self.limiter,
                key=key,
            )
        except SourceError:
            self.slow.forget(state)  # down or restarted: the next answer reads every family
            raise
        rows = self.slow.merge(state, due, groups)
        record = parse_broker(
            rows,
            target.address,
            broker_id=target.broker_id,
            rack=target.rack,
            per_topic=self.settings.per_topic,
            per_partition=self.settings.per_partition,
            log_size=self.settings.log_size,
        )
        if record.rack is None and record.broker_id is not None:
            record.rack = (racks or {}).get(record.broker_id)
        if not rows:
            record.errors.append(f"JMX {target.address}: no Kafka broker MBeans found (is this a Kafka broker's JMX port?)")
        return record

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        self._learn(snapshot.admin)  # the targets of the next cycle
        emit_brokers(snapshot.broker_jmx, out)


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
    if b.offline_log_directories is not None:
        out.add(OFFLINE_LOG_DIRECTORIES, b.offline_log_directories, bid)
    rm = b.replica_manager
    for attr, spec in RM_SPECS:
        value = getattr(rm, attr)
        if value is not None:
            out.add(spec, value, bid)
    if b.controller is not None:
        for attr, spec in CONTROLLER_SPECS:
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
    emit_ops(b.ops, bid, out)
    for c in b.client_connections:
        out.add(CLIENT_CONNECTIONS, c.connections, bid, c.listener, c.software_name, c.software_version)
    for (topic, pid), part in sorted(b.partitions.items()):
        for attr, spec in PARTITION_SPECS:
            value = getattr(part, attr)
            if value is not None:
                out.add(spec, value, bid, topic, pid)


def factory(config: Config) -> Source | None:
    settings = config.jmx
    if settings is None or not settings.brokers_configured:
        return None
    source = BrokerJmxSource(settings, config.timeout)
    jvm.prestart(settings.java, [t.auth for t in settings.brokers] + ([settings.discover.auth] if settings.discover else []), source.timeout)
    return source
