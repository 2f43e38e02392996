"""Admin-API I/O: cluster, topics, partitions, offsets, topic configs, consumer groups.

Runs in the Admin-API worker process (:mod:`exporter.sources.admin.worker`), or in this
process when a test asks for it (:class:`AdminCollector` given to the source).

Requests are batched and pipelined: one metadata request for all partitions, one
``describe_configs`` for all topics, ``list_offsets`` (earliest, latest, latest
read_committed) per partition leader in chunks of ``OFFSETS_CHUNK`` partitions, one
``describe_consumer_groups`` for all groups, and the per-group ``list_consumer_group_offsets``
futures all in flight at once.

Each request is awaited only until a deadline inside the cycle's (:func:`settle`); what
answered is kept, what did not is absent and counted per request (issue 13 item 7: a
broker crash used to blank the whole view for 20-50 s).  Offsets are read first, the
consumer groups last (they wait on dead coordinators, and librdkafka can crash on them);
the worker sends the state as it is before the groups ahead.  Log end offsets are read
again after the commits where a committed offset is beyond them, so a group that commits
between the two reads cannot appear beyond the log end.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any, Generic, TypeVar

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

#: why a request that was still waiting at the cycle's deadline is missing
NO_ANSWER = "no answer by the cycle's deadline"
#: failed resources named in one error line; the rest are counted
NAMED_IN_ERRORS = 10
#: when, as fractions of the cycle's budget, the offsets of the partitions, the group
#: listing and the groups' committed offsets must be in.  The groups come last: their
#: requests are the ones that wait on a dead coordinator, and the ones librdkafka can crash
#: on (see .worker), so everything else is collected (and checkpointed) before them.
OFFSETS_BY = 0.4
GROUPS_LISTED_BY = 0.4
COMMITTED_BY = 0.8

K = TypeVar("K")


@dataclass
class Settled(Generic[K]):
    """What a set of futures came to by a deadline."""

    #: key -> result of every future that succeeded
    answered: dict[K, Any] = field(default_factory=dict)
    #: key -> why it failed: librdkafka's error, or no answer by the deadline
    failed: dict[K, str] = field(default_factory=dict)


def settle(futures: Mapping[K, Future[Any]], deadline: float) -> Settled[K]:
    """Wait for ``futures`` until ``deadline`` (time.monotonic()) at most; keep every answer.

    A future still pending at the deadline is failed with "no answer by the cycle's
    deadline": its request waits on a broker that is down or slow, and must not hold back
    what the others answered.  Every failure is kept by key (never only the first)."""
    settled: Settled[K] = Settled()
    answered, failed, now = settled.answered, settled.failed, time.monotonic
    # one result() per future, each waiting at most until the deadline: the same as waiting
    # for all of them first, with one lock taken per future instead of three (list_offsets
    # hands back 30,000 futures a cycle at 10k partitions)
    for key, future in futures.items():
        try:
            answered[key] = future.result(max(0.0, deadline - now()))
        except KafkaException as exc:
            failed[key] = _kafka_error(exc)
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError since 3.11
            failed[key] = NO_ANSWER
    return settled


def summary(what: str, failed: Mapping[K, str], name: Callable[[K], str]) -> str:
    """One error line naming every failed resource (up to :data:`NAMED_IN_ERRORS`)."""
    items = sorted((name(key), why) for key, why in failed.items())
    named = ", ".join(f"{n} ({why})" for n, why in items[:NAMED_IN_ERRORS])
    more = f" and {len(items) - NAMED_IN_ERRORS} more" if len(items) > NAMED_IN_ERRORS else ""
    return f"{what}: {len(items)} failed: {named}{more}"


def leader_batches(partitions: Iterable[Partition], chunk: int = OFFSETS_CHUNK) -> list[tuple[int, list[tuple[str, int]]]]:
    """(leader, [(topic, partition), ...]) batches for list_offsets: one leader per call, at
    most ``chunk`` partitions per call.

    One call's futures all complete together, when its slowest leader answers: with a
    broker just killed and still listed as leader, one call for every partition answered
    nothing until the dead broker's request timed out (measured on the real cluster).  Per
    leader, the others' offsets come back at once.  Partitions without a leader are not
    asked: nobody can answer (they are flagged offline)."""
    by_leader: dict[int, list[tuple[str, int]]] = {}
    for p in partitions:
        if p.leader >= 0:
            by_leader.setdefault(p.leader, []).append((p.topic, p.partition))
    return [(leader, keys[i : i + chunk]) for leader, keys in sorted(by_leader.items()) for i in range(0, len(keys), chunk)]


#: the offsets of a partition read each cycle: (request as counted in ``request_errors``,
#: the Partition attribute it fills, what list_offsets asks, isolation level)
OFFSET_KINDS = (
    ("list_offsets_earliest", "log_start_offset", OffsetSpec.earliest(), IsolationLevel.READ_UNCOMMITTED),
    ("list_offsets_latest", "log_end_offset", OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED),
    ("list_offsets_read_committed", "last_stable_offset", OffsetSpec.latest(), IsolationLevel.READ_COMMITTED),
)
#: partitions whose offsets are asked at once, over all leaders (each call in flight holds a
#: Future per partition).  confluent-kafka makes a Future (with its own Condition and lock,
#: ~1-2 KB) per partition of a call and keeps it until the caller drops the call's dict: with
#: every call in flight at once, 150,000 of them (50k partitions, three kinds) and their
#: results were ~300 MB of the Admin-API worker's peak.  A fixed 8 calls per leader bounded
#: that on Tansu's single leader but serialised it (10k partitions: 30 calls, 8 at a time),
#: and did not bound it at all with many leaders (8 calls x 30 brokers x 1,000 partitions).
OFFSETS_PARTITIONS_IN_FLIGHT = 24_000


def offsets_window(batches: list[tuple[int, list[tuple[str, int]]]], in_flight: int | None = None) -> int:
    """list_offsets calls in flight per leader for ``batches`` (see :func:`leader_batches`):
    ``in_flight`` partitions (default :data:`OFFSETS_PARTITIONS_IN_FLIGHT`) shared between
    the leaders, at least one call each (a leader never waits for another)."""
    in_flight = OFFSETS_PARTITIONS_IN_FLIGHT if in_flight is None else in_flight
    leaders = len({leader for leader, _ in batches})
    largest = max((len(keys) for _, keys in batches), default=1)
    return max(1, in_flight // (max(1, leaders) * max(1, largest)))


#: partition errors of ListOffsets that say leadership is moving (librdkafka's names): the
#: partition is asked again within the cycle, as Kafka's own admin client retries every
#: retriable ListOffsets error.  Seen on the real cluster 10 s after a broker was killed: the
#: new leader answered UNKNOWN_LEADER_EPOCH (the client had learned of the election before
#: the broker) and the partition's offsets were missing for the cycle.
LEADER_MOVING = frozenset(
    {
        "NOT_LEADER_FOR_PARTITION",  # NOT_LEADER_OR_FOLLOWER
        "LEADER_NOT_AVAILABLE",
        "UNKNOWN_LEADER_EPOCH",
        "FENCED_LEADER_EPOCH",
        "REPLICA_NOT_AVAILABLE",
        "OFFSET_NOT_AVAILABLE",  # a new leader before its high watermark is known
    }
)
#: seconds before each retry of a partition whose leader is moving (Kafka's clients: 100 ms,
#: growing); after the last one its error stands
LEADER_MOVING_BACKOFF = (0.1, 0.2, 0.4, 0.8)


#: one list_offsets call: (request, attr, spec, isolation, keys, retries so far)
_OffsetsCall = tuple[str, str, Any, Any, list[tuple[str, int]], int]


def leader_moving(why: str) -> bool:
    return why.split(":", 1)[0] in LEADER_MOVING


def read_offsets(
    admin: Any,
    batches: list[tuple[int, list[tuple[str, int]]]],
    kinds: tuple[tuple[str, str, Any, Any], ...],
    until: float,
    timeout: Callable[[], float],
    apply: Callable[[str, Any, int], None],
    window: int | None = None,
) -> dict[str, dict[Any, str]]:
    """Every kind of offset of the partitions in ``batches`` (see :func:`leader_batches`),
    at most ``window`` calls in flight per leader (default :func:`offsets_window`): each call is settled, its answers handed to
    ``apply(attr, topic_partition, offset)`` (offsets >= 0) and its futures dropped as soon as
    it completes, and the leader's next call goes out.  Leaders do not wait for each other, so
    a dead leader holds back only its own calls, as before.  A partition refused because its
    leader is moving (:data:`LEADER_MOVING`) is asked again after a backoff
    (:data:`LEADER_MOVING_BACKOFF`) while there is time.  By ``until`` what has not answered
    (or was not asked yet) fails with :data:`NO_ANSWER`.  Returns per request (``kinds``'
    first field) the failed partitions by TopicPartition and why."""
    failed: dict[str, dict[Any, str]] = {kind[0]: {} for kind in kinds}
    if window is None:
        window = offsets_window(batches)
    queues: dict[int, deque[_OffsetsCall]] = {}
    for request, attr, spec, isolation in kinds:  # per leader: all of one kind, then the next
        for leader, keys in batches:
            queues.setdefault(leader, deque()).append((request, attr, spec, isolation, keys, 0))
    retries: list[tuple[float, int, int, _OffsetsCall]] = []  # heap of (due, tie, leader, call)
    finished: SimpleQueue[int] = SimpleQueue()
    in_flight: dict[int, tuple[int, _OffsetsCall, dict[Any, Future[Any]]]] = {}
    ids = itertools.count()

    def issue(leader: int, what: _OffsetsCall) -> None:
        _, _, spec, isolation, keys, _ = what
        futures = admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in keys}, isolation_level=isolation, request_timeout=timeout()
        )
        call = next(ids)
        in_flight[call] = (leader, what, futures)
        # one call's futures complete together (librdkafka answers a call at once)
        first = next(iter(futures.values()), None)
        if first is None:
            finished.put(call)
        else:
            first.add_done_callback(lambda _f, call=call: finished.put(call))

    def settle_call(call: int, deadline: float) -> int:
        leader, what, futures = in_flight.pop(call)
        request, attr, _, _, _, tries = what
        settled = settle(futures, deadline)
        done = failed[request]
        for tp, info in settled.answered.items():
            done.pop(tp, None)  # refused before, answered on a retry
            if info.offset >= 0:
                apply(attr, tp, info.offset)
        done.update(settled.failed)
        again = [(tp.topic, tp.partition) for tp, why in settled.failed.items() if leader_moving(why)]
        if again and tries < len(LEADER_MOVING_BACKOFF):
            due = time.monotonic() + LEADER_MOVING_BACKOFF[tries]
            if due < until:
                heapq.heappush(retries, (due, next(ids), leader, (*what[:4], again, tries + 1)))
        return leader

    for _ in range(window):  # the first calls of every leader, round robin
        for leader, queue in queues.items():
            if queue:
                issue(leader, queue.popleft())
    while in_flight or retries:
        now = time.monotonic()
        while retries and retries[0][0] <= now:
            _, _, leader, what = heapq.heappop(retries)
            issue(leader, what)
        if now >= until:
            break
        wait = until - now if not retries else min(until, retries[0][0]) - now
        if not in_flight:
            time.sleep(max(0.0, wait))
            continue
        try:
            call = finished.get(timeout=max(0.0, wait))
        except Empty:
            continue  # a retry is due, or the deadline: whatever is still out has not answered
        leader = settle_call(call, until)
        if queues[leader] and time.monotonic() < until:
            issue(leader, queues[leader].popleft())
    for call in list(in_flight):
        settle_call(call, until)
    for queue in queues.values():
        for request, _, _, _, keys, _ in queue:  # never asked: no time was left for them
            failed[request].update((TopicPartition(t, p), NO_ANSWER) for t, p in keys)
    return failed


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


def _kafka_error(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        text = getattr(err, "str", lambda: str(err))()
        return f"{getattr(err, 'name', lambda: '')()}: {text}".strip(": ")
    return str(exc) or exc.__class__.__name__


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
            text = scrub(f"{_kafka_error(exc)}{cause}", self.config.kafka.client)
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
            self.failed("list_consumer_groups", {i: _kafka_error(KafkaException(e)) for i, e in enumerate(answer.errors)}, _nth)
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
