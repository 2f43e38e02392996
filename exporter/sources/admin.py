"""Admin-API source: cluster, topics, partitions, offsets, topic configs, consumer groups.

Requests are batched and pipelined: one metadata request for all partitions, one
``describe_configs`` for all topics, ``list_offsets`` for every partition (earliest, latest,
latest read_committed) in chunks of ``OFFSETS_CHUNK`` partitions, one ``describe_consumer_groups`` for all groups,
and the per-group ``list_consumer_group_offsets`` futures all in flight at once.
Committed offsets are read *before* log end offsets, so a group that commits between the
two reads cannot appear beyond the log end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from itertools import groupby
from typing import TYPE_CHECKING, Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec, ResourceType

from exporter.catalogue import Batch, RenderedBlock, Row, Samples, metric, row_value, to_float
from exporter.config import Config, redact, scrub
from exporter.exposition import render_text
from exporter.model import (
    GROUP_STATES,
    Broker,
    ClusterState,
    ConfigValue,
    ConsumerGroup,
    GroupMember,
    Partition,
    Topic,
)
from exporter.sources.admin_worker import AdminWorker
from exporter.sources.base import Job, Source, SourceError

if TYPE_CHECKING:
    from exporter.cycle import Snapshot

log = logging.getLogger(__name__)
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

#: partitions per list_offsets call.  librdkafka's cost per call grows faster than the
#: partition count (one call for 10k partitions: 3.5 s; ten calls of 1000: 0.6-1.0 s, all in
#: flight at once; benchmarks/bench.py measures both), so large clusters are chunked.
OFFSETS_CHUNK = 1000

# -- catalogue -------------------------------------------------------------------------
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
    when the broker does not report it). acks=all writes are refused when fewer replicas
    are in sync.""",
    ("topic",),
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
    """Last stable offset (list_offsets latest with read_committed), exported only where
    it differs from the log end offset: an open transaction holds read_committed
    consumers back.""",
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
    "Sum of the group's partition lag (messages) over the topic's partitions.",
    ("group", "topic"),
    source=SRC,
)
GROUP_LAG = metric(
    "kafka_insight_consumer_group_lag",
    "gauge",
    """Sum of the group's partition lag (messages) over all partitions it has committed
    offsets for. Empty groups with committed offsets count too.""",
    ("group",),
    source=SRC,
)


# -- collection ------------------------------------------------------------------------
def _settled(
    futures: dict[Any, Future[Any]], what: str, name: Callable[[Any], str], errors: list[str]
) -> Iterator[tuple[Any, Any]]:
    """(key, result) of every future that succeeded.  Failures are summed up in ``errors`` as
    the first one in full plus a count, so 10k failed partitions make two lines, not 10k."""
    failed = 0
    for key, future in futures.items():
        try:
            result = future.result()
        except KafkaException as exc:
            failed += 1
            if failed == 1:
                errors.append(f"{what} {name(key)}: {_kafka_error(exc)}")
            continue
        yield key, result
    if failed > 1:
        errors.append(f"{what}: {failed} failed in all")


def _config_source(value: Any) -> str:
    """ConfigEntry.source is a plain int in confluent-kafka 2.x: name it (DYNAMIC_TOPIC_CONFIG, ...)."""
    try:
        return str(ConfigSource(value).name)
    except ValueError:
        return _enum_name(value)


def _enum_name(value: Any) -> str:
    return getattr(value, "name", None) or str(value)


def _kafka_error(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        text = getattr(err, "str", lambda: str(err))()
        return f"{getattr(err, 'name', lambda: '')()}: {text}".strip(": ")
    return str(exc) or exc.__class__.__name__


class AdminSource(Source):
    """Collects a :class:`ClusterState` from the Admin API each cycle."""

    name = SRC

    def __init__(self, config: Config, *, isolated: bool = True) -> None:
        self.config = config
        #: run the Admin client in a worker process (see exporter/sources/admin_worker.py)
        self._worker = AdminWorker(config) if isolated else None
        self.servers = ",".join(config.bootstrap_servers)
        # a request may not outlive the cycle's deadline for this source
        self.request_timeout = min(config.request_timeout, config.timeout)
        self._client: AdminClient | None = None
        self._failures = 0
        self._lock = threading.Lock()
        #: the most telling error librdkafka reported (error_cb) since the cycle began
        self._client_error: str | None = None
        #: the state whose families the worker renders (exporter/sources/admin_worker.py)
        self._rendered_by_worker: ClusterState | None = None

    def _on_client_error(self, err: Any) -> None:
        # "all brokers down" is the consequence; keep the cause (auth, TLS, DNS) when there is one
        if self._client_error is None or getattr(err, "name", lambda: "")() != "_ALL_BROKERS_DOWN":
            self._client_error = scrub(_kafka_error(KafkaException(err)), self.config.client)

    def _admin(self) -> AdminClient:
        if self._client is None:
            settings = {
                "bootstrap.servers": self.servers,
                "client.id": "kafka-insight-exporter",
                "socket.timeout.ms": int(self.request_timeout * 1000),
                "logger": logging.getLogger("librdkafka"),
                **self.config.client,
                "error_cb": self._on_client_error,
            }
            log.debug("creating Admin client with %s", redact({k: str(v) for k, v in settings.items()}))
            try:
                self._client = AdminClient(settings)
            except Exception as exc:
                raise SourceError(f"cannot create the Admin client: {scrub(_kafka_error(exc), self.config.client)}") from None
        return self._client

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        return [Job(SRC, self.servers, self.collect)]

    def collect(self) -> ClusterState:
        if self._worker is not None:
            state: ClusterState = self._worker.collect()
            self._rendered_by_worker = state
            return state
        return self.collect_here()

    def collect_here(self) -> ClusterState:
        """Collect in this process (the worker process calls this)."""
        with self._lock:
            try:
                admin = self._admin()
                # serve librdkafka's queued log lines and errors: an Admin client is never
                # polled otherwise, and the queue would grow while brokers are unreachable
                admin.poll(0)
                self._client_error = None
                state = self._collect(admin)
            except Exception:
                self._failures += 1
                if self._failures >= self.config.recreate_client_after:
                    log.info("recreating the Admin client after %d failed cycles", self._failures)
                    self._client = None
                    self._failures = 0
                raise
            self._failures = 0 if not state.errors else self._failures + 1
            if self._failures >= self.config.recreate_client_after:
                self._client = None
                self._failures = 0
            return state

    def _collect(self, admin: AdminClient) -> ClusterState:
        timeout = self.request_timeout
        errors: list[str] = []
        cluster_f = admin.describe_cluster(request_timeout=timeout)
        groups_f = admin.list_consumer_groups(request_timeout=timeout)
        try:
            metadata = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            admin.poll(0)  # collect the cause (authentication, TLS, resolution) from error_cb
            cause = f"; client reports {self._client_error}" if self._client_error else ""
            text = scrub(f"{_kafka_error(exc)}{cause}", self.config.client)
            raise SourceError(f"metadata request to {self.servers} failed: {text}") from None
        try:
            cluster = cluster_f.result()
        except KafkaException as exc:
            raise SourceError(f"describe_cluster failed: {_kafka_error(exc)}") from None
        brokers = sorted((Broker(n.id, n.host, n.port, n.rack or None) for n in cluster.nodes), key=lambda b: b.id)
        topics = self._topics(metadata)

        configs_f: dict[Any, Future[Any]] = {}
        ids_f: dict[str, Future[Any]] = {}
        if topics:
            configs_f = admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, name) for name in topics], request_timeout=timeout
            )
            # topic ids tell a deleted-and-recreated topic from one that lost data (the
            # metadata request of list_topics does not carry them in confluent-kafka)
            ids_f = admin.describe_topics(TopicCollection(list(topics)), request_timeout=timeout)

        groups = self._groups(admin, groups_f, errors)
        # committed offsets are read above, before the log end offsets below
        self._offsets(admin, topics, errors)
        self._topic_ids(topics, ids_f, errors)
        for resource, entries in _settled(configs_f, "describe_configs", lambda r: str(r.name), errors):
            topics[resource.name].configs = {
                name: ConfigValue(
                    entry.value, _config_source(entry.source), _config_source(entry.source) == "DYNAMIC_TOPIC_CONFIG"
                )
                for name, entry in entries.items()
                if name in TOPIC_CONFIGS
            }
        return ClusterState(cluster.cluster_id or "", brokers, topics, groups, errors)

    def _topics(self, metadata: Any) -> dict[str, Topic]:
        topics: dict[str, Topic] = {}
        allow = self.config.topics.allows
        for name, tm in metadata.topics.items():
            internal = name.startswith("__")
            if (internal and not self.config.include_internal_topics) or not allow(name):
                continue
            if tm.error is not None:
                continue
            parts = [
                Partition(name, pid, pm.leader, list(pm.replicas), list(pm.isrs)) for pid, pm in sorted(tm.partitions.items())
            ]
            topics[name] = Topic(name, internal, parts)
        return dict(sorted(topics.items()))

    @staticmethod
    def _topic_ids(topics: dict[str, Topic], futures: dict[str, Future[Any]], errors: list[str]) -> None:
        for name, description in _settled(futures, "describe_topics", str, errors):
            if description.topic_id is not None and name in topics:
                topics[name].topic_id = str(description.topic_id)

    def _groups(self, admin: AdminClient, listed: Future[Any], errors: list[str]) -> dict[str, ConsumerGroup]:
        try:
            listing = listed.result()
        except KafkaException as exc:
            errors.append(f"list_consumer_groups: {_kafka_error(exc)}")
            return {}
        for err in listing.errors:
            errors.append(f"list_consumer_groups: {_kafka_error(err)}")
        allow = self.config.groups.allows
        ids = sorted(g.group_id for g in listing.valid if allow(g.group_id))
        if not ids:
            return {}
        timeout = self.request_timeout
        described = admin.describe_consumer_groups(ids, request_timeout=timeout)
        offsets = {
            gid: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)], request_timeout=timeout)[gid]
            for gid in ids
        }
        groups: dict[str, ConsumerGroup] = {}
        for gid in ids:
            try:
                desc = described[gid].result()
            except KafkaException as exc:
                errors.append(f"describe_consumer_groups {gid}: {_kafka_error(exc)}")
                continue
            committed: dict[tuple[str, int], int] = {}
            try:
                for tp in offsets[gid].result().topic_partitions or []:
                    if tp.error is None and tp.offset >= 0:
                        committed[(tp.topic, tp.partition)] = tp.offset
            except KafkaException as exc:
                errors.append(f"list_consumer_group_offsets {gid}: {_kafka_error(exc)}")
            members = [
                GroupMember(
                    m.member_id,
                    m.client_id,
                    m.host,
                    [(tp.topic, tp.partition) for tp in (m.assignment.topic_partitions if m.assignment else [])],
                )
                for m in desc.members or []
            ]
            coordinator = desc.coordinator.id if desc.coordinator is not None else None
            state = _enum_name(desc.state)
            groups[gid] = ConsumerGroup(
                gid,
                state if state in GROUP_STATES else "UNKNOWN",
                _enum_name(getattr(desc, "type", "UNKNOWN")),
                bool(desc.is_simple_consumer_group),
                coordinator,
                members,
                committed,
            )
        return groups

    def _offsets(self, admin: AdminClient, topics: dict[str, Topic], errors: list[str]) -> None:
        parts = {(p.topic, p.partition): p for t in topics.values() for p in t.partitions}
        if not parts:
            return
        timeout = self.request_timeout

        keys = list(parts)

        def request(spec: Any, isolation: Any = IsolationLevel.READ_UNCOMMITTED) -> dict[Any, Future[Any]]:
            # chunked, every chunk in flight before any is awaited (see OFFSETS_CHUNK)
            result: dict[Any, Future[Any]] = {}
            for i in range(0, len(keys), OFFSETS_CHUNK):
                wanted = {TopicPartition(t, p): spec for (t, p) in keys[i : i + OFFSETS_CHUNK]}
                result.update(admin.list_offsets(wanted, isolation_level=isolation, request_timeout=timeout))
            return result

        earliest = request(OffsetSpec.earliest())
        latest = request(OffsetSpec.latest())
        stable = request(OffsetSpec.latest(), IsolationLevel.READ_COMMITTED)
        for futures, attr in ((earliest, "log_start_offset"), (latest, "log_end_offset"), (stable, "last_stable_offset")):
            for tp, info in _settled(futures, f"list_offsets {attr}", lambda tp: f"{tp.topic}[{tp.partition}]", errors):
                if info.offset >= 0:
                    setattr(parts[(tp.topic, tp.partition)], attr, info.offset)

    def close(self) -> None:
        self._client = None
        if self._worker is not None:
            self._worker.stop()

    # -- exposition ------------------------------------------------------------------
    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.payload(SRC)
        if state is None:
            return
        worker, rendered = self._worker, self._rendered_by_worker
        self._rendered_by_worker = None
        if worker is None or rendered is None or rendered is not state:
            emit_cluster(state, out)
            return
        current = rendered

        def resolve() -> RenderedBlock | None:
            block = worker.block(self.config.timeout)
            if block is None:
                emit_cluster(current, out)  # fallback: render them here, after the others
            return block

        out.add_block(resolve)


def render_block(state: ClusterState) -> RenderedBlock:
    """The Admin-API families of ``state`` as a rendered block (the worker process's job)."""
    out = Samples()
    emit_cluster(state, out)
    return RenderedBlock(render_text(out), out.series_count(), tuple(spec.name for spec, _ in out), dict(out.dropped))


def emit_cluster(state: ClusterState, out: Samples) -> None:
    """ClusterState -> samples.  Pure: tested from recorded fixtures too."""
    out.add(CLUSTER_INFO, 1, state.cluster_id)
    out.add(BROKERS, len(state.brokers))
    for b in state.brokers:
        out.add(BROKER_INFO, 1, b.id, b.host, b.port, b.rack or "")
    with Batch(out) as batch:  # per-partition families: one extend per topic, not an add per sample
        for topic in state.topics.values():
            name = topic.name
            out.add(TOPIC_PARTITIONS, len(topic.partitions), name)
            out.add(TOPIC_REPLICATION_FACTOR, topic.replication_factor, name)
            _emit_configs(topic, out)
            if topic.partitions:
                _emit_partitions(name, topic.partitions, batch)
    _emit_groups(state, out)


def _emit_partitions(name: str, parts: list[Partition], batch: Batch) -> None:
    keys = [(name, str(p.partition)) for p in parts]
    rows = list(zip(keys, parts, strict=True))
    batch.extend_units(
        keys,
        (
            (PARTITION_LEADER, [(k, p.leader) for k, p in rows]),
            (PARTITION_LEADER_PREFERRED, [(k, 1 if p.leader >= 0 and p.leader == p.preferred_leader else 0) for k, p in rows]),
            (PARTITION_REPLICAS, [(k, len(p.replicas)) for k, p in rows]),
            (PARTITION_ISR, [(k, len(p.isr)) for k, p in rows]),
            (PARTITION_LOG_START, [(k, p.log_start_offset) for k, p in rows if p.log_start_offset is not None]),
            (PARTITION_LOG_END, [(k, p.log_end_offset) for k, p in rows if p.log_end_offset is not None]),
            (
                PARTITION_LAST_STABLE,
                [
                    (k, p.last_stable_offset)
                    for k, p in rows
                    if p.log_end_offset is not None and p.last_stable_offset is not None and p.last_stable_offset != p.log_end_offset
                ],
            ),
        ),
    )


def _emit_configs(topic: Topic, out: Samples) -> None:
    configs = topic.configs
    for key in TOPIC_CONFIGS:
        cv = configs.get(key)
        if cv is not None and cv.value is not None:
            out.add(TOPIC_CONFIG_INFO, 1, topic.name, key, cv.value, cv.source, "true" if cv.explicit else "false")
    min_isr = configs.get("min.insync.replicas")
    out.add(TOPIC_MIN_ISR, min_isr.value if min_isr and min_isr.value else 1, topic.name)
    unclean = configs.get("unclean.leader.election.enable")
    if unclean is not None:
        out.add(TOPIC_UNCLEAN, 1 if (unclean.value or "").lower() == "true" else 0, topic.name)
    retention = configs.get("retention.ms")
    if retention is not None and retention.value is not None:
        ms = to_float(retention.value)  # garbage from the broker is dropped, never a crash of emit
        out.add(TOPIC_RETENTION_SECONDS, -1 if ms is not None and ms < 0 else (ms / 1000 if ms is not None else None), topic.name)
    retention_bytes = configs.get("retention.bytes")
    if retention_bytes is not None:
        out.add(TOPIC_RETENTION_BYTES, retention_bytes.value, topic.name)


def _emit_groups(state: ClusterState, out: Samples) -> None:
    index = state.partition_index() if any(g.committed for g in state.groups.values()) else {}
    with Batch(out) as batch:  # per-partition families: one extend per group, not an add per sample
        for group in state.groups.values():
            gid = group.group_id
            batch.extend(GROUP_STATE, [((gid, s), 1 if group.state == s else 0) for s in GROUP_STATES])
            out.add(
                GROUP_INFO,
                1,
                gid,
                group.type,
                "true" if group.simple else "false",
                "" if group.coordinator_id is None else group.coordinator_id,
            )
            out.add(GROUP_MEMBERS, len(group.members), gid)
            # offsets on partitions the state does not have (topic filtered out or deleted) are left out
            found = [(key, committed, part) for key, committed in sorted(group.committed.items()) if (part := index.get(key)) is not None]
            keys = [(gid, topic, str(pid)) for (topic, pid), _, _ in found]
            lags: list[Row] = [
                (k, leo - committed if leo > committed else 0)  # never below 0
                for k, (_, committed, part) in zip(keys, found, strict=True)
                if (leo := part.log_end_offset) is not None
            ]
            batch.extend_units(
                keys,
                (
                    (GROUP_COMMITTED, [(k, committed) for k, (_, committed, _) in zip(keys, found, strict=True)]),
                    (GROUP_PARTITION_LAG, lags),
                ),
            )
            # lags are sorted by (topic, partition): one run per topic
            batch.extend(
                GROUP_TOPIC_LAG,
                [((gid, topic), sum(map(row_value, run))) for topic, run in groupby(lags, key=_topic_of)],
            )
            out.add(GROUP_LAG, sum(map(row_value, lags)), gid)


def _topic_of(row: Row) -> str:
    return row[0][1]
