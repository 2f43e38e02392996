"""Admin-API I/O: cluster, topics, partitions, offsets, topic configs, consumer groups.

Runs in the Admin-API worker process (:mod:`exporter.sources.admin.worker`), or in this
process when a test asks for it (:class:`AdminCollector` given to the source).

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
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, OffsetSpec, ResourceType

from exporter.config import Config, redact, scrub
from exporter.sources.admin.records import (
    GROUP_STATES,
    KAFKA_INTERNAL_TOPICS,
    Broker,
    ClusterState,
    ConfigValue,
    ConsumerGroup,
    GroupMember,
    Partition,
    Topic,
)
from exporter.sources.admin.specs import TOPIC_CONFIGS
from exporter.sources.base import SourceError

log = logging.getLogger(__name__)

#: partitions per list_offsets call.  librdkafka's cost per call grows faster than the
#: partition count (one call for 10k partitions: 3.5 s; ten calls of 1000: 0.6-1.0 s, all in
#: flight at once; benchmarks/bench.py measures both), so large clusters are chunked.
OFFSETS_CHUNK = 1000


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


class AdminCollector:
    """Collects a :class:`ClusterState` through one Admin client, in the calling process.

    The worker process runs one (:mod:`exporter.sources.admin.worker`); the client is
    recreated after ``kafka.recreate_client_after_failures`` failed cycles.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.servers = ",".join(config.bootstrap_servers)
        # a request may not outlive the cycle's deadline for this source
        self.request_timeout = min(config.kafka.request_timeout_seconds, config.timeout)
        self._client: AdminClient | None = None
        self._failures = 0
        self._lock = threading.Lock()
        #: the most telling error librdkafka reported (error_cb) since the cycle began
        self._client_error: str | None = None

    def _on_client_error(self, err: Any) -> None:
        # "all brokers down" is the consequence; keep the cause (auth, TLS, DNS) when there is one
        if self._client_error is None or getattr(err, "name", lambda: "")() != "_ALL_BROKERS_DOWN":
            self._client_error = scrub(_kafka_error(KafkaException(err)), self.config.kafka.client)

    def _admin(self) -> AdminClient:
        if self._client is None:
            settings = {
                "bootstrap.servers": self.servers,
                "client.id": "kafka-insight-exporter",
                "socket.timeout.ms": int(self.request_timeout * 1000),
                "logger": logging.getLogger("librdkafka"),
                **self.config.kafka.client,
                "error_cb": self._on_client_error,
            }
            log.debug("creating Admin client with %s", redact({k: str(v) for k, v in settings.items()}))
            try:
                self._client = AdminClient(settings)
            except Exception as exc:
                raise SourceError(f"cannot create the Admin client: {scrub(_kafka_error(exc), self.config.kafka.client)}") from None
        return self._client

    def collect(self) -> ClusterState:
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
                if self._failures >= self.config.kafka.recreate_client_after_failures:
                    log.info("recreating the Admin client after %d failed cycles", self._failures)
                    self._client = None
                    self._failures = 0
                raise
            self._failures = 0 if not state.errors else self._failures + 1
            if self._failures >= self.config.kafka.recreate_client_after_failures:
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
            text = scrub(f"{_kafka_error(exc)}{cause}", self.config.kafka.client)
            raise SourceError(f"metadata request to {self.servers} failed: {text}") from None
        try:
            cluster = cluster_f.result()
        except KafkaException as exc:
            raise SourceError(f"describe_cluster failed: {_kafka_error(exc)}") from None
        brokers = sorted((Broker(n.id, n.host, n.port, n.rack or None) for n in cluster.nodes), key=lambda b: b.id)
        topics, internal = self._topics(metadata)

        configs_f: dict[Any, Future[Any]] = {}
        ids_f: dict[str, Future[Any]] = {}
        if topics or internal:
            configs_f = admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, name) for name in (*topics, *internal)], request_timeout=timeout
            )
        if topics:
            # topic ids tell a deleted-and-recreated topic from one that lost data (the
            # metadata request of list_topics does not carry them in confluent-kafka)
            ids_f = admin.describe_topics(TopicCollection(list(topics)), request_timeout=timeout)

        groups = self._groups(admin, groups_f, errors)
        # committed offsets are read above, before the log end offsets below
        self._offsets(admin, topics, errors)
        self._topic_ids(topics, ids_f, errors)
        for resource, entries in _settled(configs_f, "describe_configs", lambda r: str(r.name), errors):
            (topics.get(resource.name) or internal[resource.name]).configs = {
                name: ConfigValue(
                    entry.value, _config_source(entry.source), _config_source(entry.source) == "DYNAMIC_TOPIC_CONFIG"
                )
                for name, entry in entries.items()
                if name in TOPIC_CONFIGS
            }
        return ClusterState(cluster.cluster_id or "", brokers, topics, groups, errors, internal)

    def _topics(self, metadata: Any) -> tuple[dict[str, Topic], dict[str, Topic]]:
        """(the topics the filters select, Kafka's internal topics they leave out).

        The second are kept for the durability checks only (their configs are read, their
        offsets are not): offline or under-min partitions of ``__consumer_offsets`` stop every
        group's commits whatever topics the user watches (issue 13)."""
        topics: dict[str, Topic] = {}
        left_out: dict[str, Topic] = {}
        wanted = self.config.filters.topics
        allow = wanted.allows
        for name, tm in metadata.topics.items():
            internal = name.startswith("__")
            selected = not (internal and not wanted.include_internal) and allow(name)
            if (not selected and name not in KAFKA_INTERNAL_TOPICS) or tm.error is not None:
                continue
            parts = [
                Partition(name, pid, pm.leader, list(pm.replicas), list(pm.isrs)) for pid, pm in sorted(tm.partitions.items())
            ]
            (topics if selected else left_out)[name] = Topic(name, internal, parts)
        return dict(sorted(topics.items())), dict(sorted(left_out.items()))

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
        allow = self.config.filters.groups.allows
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

    def block(self, timeout: float) -> None:
        """Nothing is rendered elsewhere in this process: the source renders the families."""
        return None

    def close(self) -> None:
        self._client = None
