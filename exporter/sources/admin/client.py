"""Admin-API I/O: cluster, topics, partitions, offsets, topic configs, consumer groups.

Runs in the Admin-API worker process (:mod:`exporter.sources.admin.worker`), or in this
process when a test asks for it (:class:`AdminCollector` given to the source).

Requests are batched and pipelined: one metadata request for all partitions, one
``describe_configs`` for all topics, ``list_offsets`` (earliest, latest, latest
read_committed) per partition leader (:mod:`.list_offsets`), one
``describe_consumer_groups`` for all groups, and the per-group ``list_consumer_group_offsets``
futures all in flight at once.

Each request is awaited only until a deadline inside the cycle's (:mod:`.settle`); what
answered is kept, what did not is absent and counted per request (issue 13 item 7: a
broker crash used to blank the whole view for 20-50 s).  Offsets are read first, the
consumer groups last (they wait on dead coordinators, and librdkafka can crash on them);
the worker sends the state as it is before the groups ahead.  Log end offsets are read
again after the commits where a committed offset is beyond them, so a group that commits
between the two reads cannot appear beyond the log end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType

from exporter.config import Config, redact, scrub
from exporter.sources.admin.list_offsets import OFFSET_KINDS, leader_batches, read_offsets
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
from exporter.sources.admin.settle import NO_ANSWER, K, Settled, kafka_error, settle, summary
from exporter.sources.admin.specs import TOPIC_CONFIGS
from exporter.sources.base import SourceError

log = logging.getLogger(__name__)

#: when, as fractions of the cycle's budget, the offsets of the partitions, the group
#: listing and the groups' committed offsets must be in.  The groups come last: their
#: requests are the ones that wait on a dead coordinator, and the ones librdkafka can crash
#: on (see .worker), so everything else is collected (and checkpointed) before them.
OFFSETS_BY = 0.4
GROUPS_LISTED_BY = 0.4
COMMITTED_BY = 0.8


def apply_configs(topics: dict[str, Topic], settled: Settled[Any], read_at: float) -> None:
    """describe_configs answers -> ``Topic.configs`` (read at ``read_at``); a failed topic gets
    ``configs`` None and its ``configs_error`` (the source fills in last-known configs)."""
    for key, entries in settled.answered.items():
        topic = topics.get(_resource_name(key))
        if topic is None:
            continue
        topic.configs = {
            name: ConfigValue(entry.value, _config_source(entry.source), _config_source(entry.source) == "DYNAMIC_TOPIC_CONFIG")
            for name, entry in entries.items()
            if name in TOPIC_CONFIGS
        }
        topic.configs_read_at, topic.configs_error = read_at, None
    for key, why in settled.failed.items():
        topic = topics.get(_resource_name(key))
        if topic is not None:
            topic.configs, topic.configs_read_at, topic.configs_error = None, None, why


def _resource_name(key: Any) -> str:
    return str(getattr(key, "name", key))  # a ConfigResource, or a plain topic name


def deadline_margin(timeout: float) -> float:
    """Time the worker keeps in hand at the end of the cycle's ``timeout`` to hand its state
    to the collector (pickled through a pipe: ~0.1-0.3 s at 10k partitions)."""
    return min(2.0, 0.15 * timeout + 0.1)


def _config_source(value: Any) -> str:
    """ConfigEntry.source is a plain int in confluent-kafka 2.x: name it (DYNAMIC_TOPIC_CONFIG, ...)."""
    try:
        return str(ConfigSource(value).name)
    except ValueError:
        return _enum_name(value)


def _enum_name(value: Any) -> str:
    return getattr(value, "name", None) or str(value)


class AdminCollector:
    """Collects a :class:`ClusterState` through one Admin client, in the calling process.

    The worker process runs one (:mod:`exporter.sources.admin.worker`); the client is
    recreated after ``kafka.recreate_client_after_failures`` cycles that failed or in which a
    request timed out (a long-lived client was seen to keep timing out after a broker died
    while a fresh one worked; refusals such as missing ACLs do not count).

    Every request is awaited until a deadline inside the cycle's (``collection.timeout_seconds``
    less :func:`deadline_margin`), and librdkafka's own timeout of each request ends by then
    too.  At the deadline the state holds whatever answered - metadata (leaders, ISR),
    configs, groups, every offset that came back - and what did not is absent and counted
    per request (``ClusterState.request_errors``).  Only a failed metadata request fails the
    cycle: without it nothing is usable.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.servers = ",".join(config.bootstrap_servers)
        #: the share of the cycle's deadline this collection may use
        self.budget = max(0.1, config.timeout - deadline_margin(config.timeout))
        # a request may not outlive the cycle's deadline for this source
        self.request_timeout = min(config.kafka.request_timeout_seconds, self.budget)
        self._client: AdminClient | None = None
        self._failures = 0
        self._lock = threading.Lock()
        #: the most telling error librdkafka reported (error_cb) since the cycle began
        self._client_error: str | None = None
        #: the groups of the last cycle, asked for when some brokers do not list theirs
        self._groups_seen: set[str] = set()
        #: the partitions whose log end offset the last cycle read again after the checkpoint
        #: (see StateTail)
        self.reread: list[tuple[str, int]] = []
        #: requests of the last cycle timed out (librdkafka may still hold them: see the worker)
        self.timed_out = False

    def _on_client_error(self, err: Any) -> None:
        # "all brokers down" is the consequence; keep the cause (auth, TLS, DNS) when there is one
        if self._client_error is None or getattr(err, "name", lambda: "")() != "_ALL_BROKERS_DOWN":
            self._client_error = scrub(kafka_error(KafkaException(err)), self.config.kafka.client)

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
                raise SourceError(f"cannot create the Admin client: {scrub(kafka_error(exc), self.config.kafka.client)}") from None
        return self._client

    def collect(self, checkpoint: Callable[[ClusterState], None] | None = None, deadline: float | None = None) -> ClusterState:
        """This cycle's state.  ``checkpoint`` is called once with the state as known before
        the groups' requests (the worker sends it ahead, in case librdkafka crashes on them).
        ``deadline`` (time.monotonic(), the same clock in every process of the machine): when
        it must be done, if sooner than the budget (a retry late in the cycle)."""
        with self._lock:
            deadline = min(deadline, time.monotonic() + self.budget) if deadline is not None else time.monotonic() + self.budget
            try:
                admin = self._admin()
                # serve librdkafka's queued log lines and errors: an Admin client is never
                # polled otherwise, and the queue would grow while brokers are unreachable
                admin.poll(0)
                self._client_error = None
                self.reread = []
                self.timed_out = False
                state, timed_out = _Cycle(self, admin, deadline).run(checkpoint)
            except Exception:
                self._failed_cycle()
                raise
            self.timed_out = timed_out
            if timed_out:
                self._failed_cycle()
            else:
                self._failures = 0
            return state

    def _failed_cycle(self) -> None:
        self._failures += 1
        if self._failures >= self.config.kafka.recreate_client_after_failures:
            log.info("recreating the Admin client after %d cycles with failed or timed-out requests", self._failures)
            self._client = None
            self._failures = 0

    def block(self, timeout: float) -> None:
        """Nothing is rendered elsewhere in this process: the source renders the families."""
        return None

    def close(self) -> None:
        self._client = None


class _Cycle:
    """One collection against one deadline (see :class:`AdminCollector`)."""

    def __init__(self, owner: AdminCollector, admin: AdminClient, deadline: float) -> None:
        self.owner, self.admin, self.config = owner, admin, owner.config
        self.deadline = deadline
        self.budget = max(0.1, deadline - time.monotonic())
        self.start = deadline - self.budget
        self.errors: list[str] = []
        self.request_errors: dict[str, int] = {}
        self.timed_out = False

    def timeout(self, until: float) -> float:
        """librdkafka's timeout for a request that must be over by ``until``: a little before
        it, so that a request answered in part (the group listing of the brokers that are
        up) is delivered before it is given up."""
        grace = min(0.5, 0.05 * self.budget)
        return max(0.05, min(self.owner.request_timeout, until - time.monotonic() - grace))

    def at(self, share: float) -> float:
        return self.start + share * self.budget

    def failed(self, request: str, failed: Mapping[K, str], name: Callable[[K], str] = str) -> None:
        if not failed:
            return
        self.request_errors[request] = self.request_errors.get(request, 0) + len(failed)
        self.errors.append(summary(request, failed, name))
        self.timed_out = self.timed_out or any(why == NO_ANSWER or "_TIMED_OUT" in why for why in failed.values())

    def run(self, checkpoint: Callable[[ClusterState], None] | None = None) -> tuple[ClusterState, bool]:
        admin, collected_at = self.admin, time.time()
        groups_f = admin.list_consumer_groups(request_timeout=self.timeout(self.at(GROUPS_LISTED_BY)))
        try:
            metadata = admin.list_topics(timeout=self.timeout(self.deadline))
        except KafkaException as exc:
            admin.poll(0)  # collect the cause (authentication, TLS, resolution) from error_cb
            cause = f"; client reports {self.owner._client_error}" if self.owner._client_error else ""
            text = scrub(f"{kafka_error(exc)}{cause}", self.config.kafka.client)
            raise SourceError(f"metadata request to {self.owner.servers} failed: {text}") from None
        topics, internal = self._topics(metadata)
        # librdkafka sends these to the metadata's "controller", an arbitrary broker in KRaft:
        # when that one just died they wait for it, so they are awaited last
        rt = self.timeout(self.deadline)
        cluster_f = admin.describe_cluster(request_timeout=rt)
        configs_f: dict[Any, Future[Any]] = {}
        if topics or internal:
            configs_f = admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, name) for name in (*topics, *internal)], request_timeout=rt
            )

        # by 40 % of the budget, or one request timeout when that is later (a worker that started
        # late in the cycle, a short cycle): the partitions' offsets matter more than the groups'
        self._offsets(topics, max(self.at(OFFSETS_BY), min(self.at(COMMITTED_BY), time.monotonic() + self.owner.request_timeout)))
        if checkpoint is not None:
            # the groups' requests come next, and librdkafka can crash the process on them
            # (NOT_COORDINATOR while a coordinator moves, see .worker): hand over what is known
            checkpoint(self._checkpoint(topics, internal, metadata, cluster_f, configs_f, collected_at))
        ids_f: dict[str, Future[Any]] = {}
        if topics:
            # topic ids tell a deleted-and-recreated topic from one that lost data (the
            # metadata request of list_topics does not carry them in confluent-kafka).  Asked
            # only now: building their answer (a TopicDescription per topic, a
            # TopicPartitionInfo per partition) is ~0.2 s of this process's CPU at 10k
            # partitions, which competed with the offsets' answers (CPU-bound here, ~1 s) and
            # overlaps the groups' requests instead (they wait on the broker)
            ids_f = admin.describe_topics(TopicCollection(list(topics)), request_timeout=self.timeout(self.deadline))
        groups = self._groups(groups_f)
        # a group that committed after the log end offsets were read could appear beyond
        # the log end: those partitions' log end offsets are read again, after the commits
        self._reread_log_end(topics, groups)

        cluster_id, brokers = self._cluster(cluster_f, metadata)
        ids = settle(ids_f, self.deadline)
        for name, description in ids.answered.items():
            if description.topic_id is not None and name in topics:
                topics[name].topic_id = str(description.topic_id)
        self.failed("describe_topics", ids.failed)
        configs = settle(configs_f, self.deadline)
        apply_configs({**topics, **internal}, configs, collected_at)
        self.failed("describe_configs", configs.failed, _resource_name)
        state = ClusterState(
            cluster_id,
            brokers,
            topics,
            groups,
            self.errors,
            internal,
            collected_at=collected_at,
            request_errors=self.request_errors,
        )
        return state, self.timed_out

    def _checkpoint(
        self,
        topics: dict[str, Topic],
        internal: dict[str, Topic],
        metadata: Any,
        cluster_f: Future[Any],
        configs_f: dict[Any, Future[Any]],
        collected_at: float,
    ) -> ClusterState:
        """The state as far as it is known before the groups' requests: metadata, offsets,
        the configs and cluster description that answered already.  What is still to come
        is counted as missing (it is, if the process dies now)."""
        cluster = cluster_f.result() if cluster_f.done() and cluster_f.exception() is None else None
        if cluster is not None:
            cluster_id = cluster.cluster_id or ""
            brokers = sorted((Broker(n.id, n.host, n.port, n.rack or None) for n in cluster.nodes), key=_id)
        else:
            cluster_id = metadata.cluster_id or ""
            brokers = sorted((Broker(b.id, b.host, b.port, None) for b in metadata.brokers.values()), key=_id)
        answered = {k: f for k, f in configs_f.items() if f.done() and f.exception() is None}
        every = {**topics, **internal}
        for topic in every.values():
            topic.configs = None  # not read yet (the final state sets every topic's)
        apply_configs(every, settle(answered, 0.0), collected_at)
        missing = dict(self.request_errors)
        groups = max(1, len(self.owner._groups_seen))
        for request, count in (
            ("describe_cluster", 0 if cluster is not None else 1),
            ("describe_configs", len(configs_f) - len(answered)),
            ("describe_topics", len(topics)),
            ("list_consumer_groups", 1),
            ("describe_consumer_groups", groups),
            ("list_consumer_group_offsets", groups),
        ):
            if count:
                missing[request] = missing.get(request, 0) + count
        # "list_consumer_groups" first: the interpretation keeps its memory of groups missing this way
        errors = [*self.errors, "list_consumer_groups: not read yet (the state as sent ahead of the groups' requests)"]
        return ClusterState(cluster_id, brokers, topics, {}, errors, internal, collected_at=collected_at, request_errors=missing)
    def _cluster(self, future: Future[Any], metadata: Any) -> tuple[str, list[Broker]]:
        """Cluster id and brokers from describe_cluster; from the metadata when it did not
        answer (same brokers, no racks: the interpretation remembers the racks it saw)."""
        settled = settle({"cluster": future}, self.deadline)
        cluster = settled.answered.get("cluster")
        if cluster is not None:
            return cluster.cluster_id or "", sorted((Broker(n.id, n.host, n.port, n.rack or None) for n in cluster.nodes), key=_id)
        self.failed("describe_cluster", settled.failed)
        brokers = sorted((Broker(b.id, b.host, b.port, None) for b in metadata.brokers.values()), key=_id)
        return metadata.cluster_id or "", brokers

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

    def _groups(self, listed: Future[Any]) -> dict[str, ConsumerGroup]:
        admin = self.admin
        listing = settle({"groups": listed}, self.at(GROUPS_LISTED_BY))
        allow = self.config.filters.groups.allows
        answer = listing.answered.get("groups")
        if answer is None:
            self.failed("list_consumer_groups", listing.failed, lambda _: "(all brokers)")
            listed_ids: set[str] = set()
        else:
            listed_ids = {g.group_id for g in answer.valid if allow(g.group_id)}
            # brokers that did not list their groups (the groups the others listed are kept)
            self.failed("list_consumer_groups", {i: kafka_error(KafkaException(e)) for i, e in enumerate(answer.errors)}, _nth)
        ids = sorted(listed_ids)
        if answer is None or answer.errors:
            # some brokers did not list their groups: ask for the groups of the last cycle too
            # (a dead broker's groups move to a live coordinator within seconds)
            ids = sorted(listed_ids | self.owner._groups_seen)
        if not ids:
            return {}
        until = self.at(COMMITTED_BY)
        described_f = admin.describe_consumer_groups(ids, request_timeout=self.timeout(until))
        offsets_f = {
            gid: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(gid)], request_timeout=self.timeout(until))[gid]
            for gid in ids
        }
        described = settle(described_f, until)
        offsets = settle(offsets_f, until)
        self.failed("describe_consumer_groups", described.failed)
        self.failed("list_consumer_group_offsets", offsets.failed)
        groups: dict[str, ConsumerGroup] = {}
        # one str object per topic name (confluent-kafka makes one per TopicPartition): the
        # pickled state then refers to it (pickle's memo) and the collector's copy shares it
        # too, instead of 250,000 copies of a few thousand names at 50k partitions / 5k groups
        names: dict[str, str] = {}
        for gid in ids:
            desc = described.answered.get(gid)
            if desc is None or (gid not in listed_ids and _enum_name(desc.state) == "DEAD"):
                continue  # failed (counted above), or a group of the last cycle that is gone
            committed: dict[tuple[str, int], int] = {}
            fetched = offsets.answered.get(gid)
            for tp in (fetched.topic_partitions or []) if fetched is not None else []:
                if tp.error is None and tp.offset >= 0:
                    topic = tp.topic
                    committed[(names.setdefault(topic, topic), tp.partition)] = tp.offset
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
        # a group that did not answer is not gone: it is asked for again next cycle
        self.owner._groups_seen = set(groups) | set(described.failed)
        return groups

    def _offsets(self, topics: dict[str, Topic], until: float) -> None:
        parts = {(p.topic, p.partition): p for t in topics.values() for p in t.partitions}
        batches = leader_batches(parts.values())
        if not batches:
            return

        def apply(attr: str, tp: Any, offset: int) -> None:
            setattr(parts[(tp.topic, tp.partition)], attr, offset)

        failed = read_offsets(self.admin, batches, OFFSET_KINDS, until, lambda: self.timeout(until), apply)
        for request, _, _, _ in OFFSET_KINDS:
            self.failed(request, failed[request], _tp_name)

    def _reread_log_end(self, topics: dict[str, Topic], groups: dict[str, ConsumerGroup]) -> None:
        """Read the log end offset again where a committed offset is beyond it: the group
        committed after the first read (a race, not lost data).  Not answered: absent."""
        parts = {(p.topic, p.partition): p for t in topics.values() for p in t.partitions}
        again: dict[tuple[str, int], Partition] = {}
        for group in groups.values():
            for key, committed in group.committed.items():
                part = parts.get(key)
                if part is not None and part.log_end_offset is not None and committed > part.log_end_offset:
                    again[key] = part
        if not again:
            return
        self.owner.reread = list(again)
        for part in again.values():
            part.log_end_offset = None

        def apply(attr: str, tp: Any, offset: int) -> None:
            setattr(again[(tp.topic, tp.partition)], attr, offset)

        kind = next(k for k in OFFSET_KINDS if k[1] == "log_end_offset")
        failed = read_offsets(self.admin, leader_batches(again.values()), (kind,), self.deadline, lambda: self.timeout(self.deadline), apply)
        self.failed(kind[0], failed[kind[0]], _tp_name)


def _id(broker: Broker) -> int:
    return broker.id


def _tp_name(tp: Any) -> str:
    return f"{tp.topic}[{tp.partition}]"


def _nth(i: int) -> str:
    return f"broker #{i + 1}"
