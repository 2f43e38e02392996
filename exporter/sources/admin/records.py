"""Typed records of one collection cycle (what the sources saw, before interpretation)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Broker:
    id: int
    host: str
    port: int
    rack: str | None


@dataclass(frozen=True)
class ConfigValue:
    value: str | None
    #: Kafka's ConfigSource name, e.g. DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG, STATIC_BROKER_CONFIG
    source: str
    #: True when the topic itself sets the value (DYNAMIC_TOPIC_CONFIG)
    explicit: bool


@dataclass
class Partition:
    topic: str
    partition: int
    leader: int  # -1 when the partition has no leader
    replicas: list[int]
    isr: list[int]
    log_start_offset: int | None = None
    log_end_offset: int | None = None
    last_stable_offset: int | None = None

    @property
    def preferred_leader(self) -> int | None:
        return self.replicas[0] if self.replicas else None


@dataclass
class Topic:
    name: str
    internal: bool
    partitions: list[Partition]
    #: the interpretation-relevant topic configs: read this cycle, or the last known ones when
    #: this cycle's describe_configs failed for the topic (see ``configs_read_at``); None when
    #: they were never read - then nothing that depends on them may be derived (no defaults).
    #: An empty dict is an answer: the broker reported no configs (Kafka's defaults apply).
    configs: dict[str, ConfigValue] | None = field(default_factory=dict)
    #: Kafka's topic id (describe_topics); tells a re-created topic from the old one
    topic_id: str | None = None
    #: Unix time at which ``configs`` were read (None: unknown, e.g. recorded fixtures)
    configs_read_at: float | None = None
    #: why this cycle's describe_configs failed for the topic (None: it did not)
    configs_error: str | None = None

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)


@dataclass
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignment: list[tuple[str, int]]


@dataclass
class ConsumerGroup:
    group_id: str
    state: str  # one of GROUP_STATES
    type: str  # CLASSIC, CONSUMER, SHARE, UNKNOWN
    simple: bool
    coordinator_id: int | None
    members: list[GroupMember]
    #: (topic, partition) -> committed offset; partitions without a commit are absent
    committed: dict[tuple[str, int], int]


#: Every state a consumer group can report (confluent-kafka ConsumerGroupState names).
GROUP_STATES = (
    "UNKNOWN",
    "PREPARING_REBALANCE",
    "COMPLETING_REBALANCE",
    "STABLE",
    "DEAD",
    "EMPTY",
    "ASSIGNING",
    "RECONCILING",
)


#: the internal topics Kafka itself creates: consumer group offsets, transaction state and
#: (Kafka 4.0, KIP-932) share group state.  Losing their availability or durability breaks
#: every group or transactional producer, whatever topics a user chose to watch.
KAFKA_INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state", "__share_group_state")

#: the Admin-API requests of a cycle, as counted in ``ClusterState.request_errors``: what a
#: failure of each leaves absent.  The metadata request is not here: without it nothing is
#: usable and the source is down (source_up 0).
REQUESTS = (
    "describe_cluster",  # the cluster id and brokers then come from the metadata (no racks)
    "describe_configs",  # per topic: last-known configs, or none
    "describe_topics",  # per topic: last-known topic id, or none
    "list_consumer_groups",  # per broker that did not list its groups: those groups
    "describe_consumer_groups",  # per group: the group
    "list_consumer_group_offsets",  # per group: its committed offsets
    "list_offsets_earliest",  # per partition: log start offset
    "list_offsets_latest",  # per partition: log end offset (and the lag on it)
    "list_offsets_read_committed",  # per partition: last stable offset
)


@dataclass
class ClusterState:
    """Everything the Admin API told us in one cycle."""

    cluster_id: str
    brokers: list[Broker]
    topics: dict[str, Topic]
    groups: dict[str, ConsumerGroup]
    #: parts of the collection that failed this cycle, one line per request (e.g.
    #: "describe_configs: 2 failed: a (TOPIC_AUTHORIZATION_FAILED: ...), b (...)")
    errors: list[str] = field(default_factory=list)
    #: Kafka's own internal topics (:data:`KAFKA_INTERNAL_TOPICS`) that the topic filters left
    #: out of ``topics``: metadata and configs only (no offsets), for the durability checks,
    #: which always cover them (committed offsets and transactions live there)
    internal_topics: dict[str, Topic] = field(default_factory=dict)
    #: Unix time at which the collection began (0: unknown)
    collected_at: float = 0.0
    #: per request (one of :data:`REQUESTS`): resources that failed or did not answer by the
    #: cycle's deadline; their values are absent this cycle.  Requests not listed had none.
    request_errors: dict[str, int] = field(default_factory=dict)

    def committed_count(self) -> int:
        """Committed offsets of all groups: the group × partition pairs the series budget
        (``series_budget.group_partitions``) is counted in.  Both the Admin-API worker and
        the collector decide from this one number whether the budget applies."""
        return sum(len(g.committed) for g in self.groups.values())

    def over_budget(self, limit: int) -> bool:
        """True when ``limit`` (0: none) is exceeded: the per group × partition families are
        then chosen and emitted by the offsets interpretation, not by the Admin-API source."""
        return limit > 0 and self.committed_count() > limit

    def partition(self, topic: str, partition: int) -> Partition | None:
        t = self.topics.get(topic)
        if t is None:
            return None
        if 0 <= partition < len(t.partitions) and t.partitions[partition].partition == partition:
            return t.partitions[partition]  # the usual case: listed in id order without gaps
        # a partition missing from the metadata answer shifts the positions of the others
        return next((p for p in t.partitions if p.partition == partition), None)

    def partition_index(self) -> dict[tuple[str, int], Partition]:
        """What :meth:`partition` finds, by (topic, partition id): one dict lookup each for
        callers with many lookups (committed offsets: 25,000 per pass at 500 groups of 50
        partitions).  Built anew per call, never cached: the state is mutable."""
        return {(name, p.partition): p for name, t in self.topics.items() for p in t.partitions}


@dataclass
class StateTail:
    """What a cycle's final state adds to the state sent ahead of the groups' requests.

    The Admin-API worker sends the state as known before the groups' requests first (see
    :mod:`.worker`); after them only these change: the cluster description, every topic's id
    and configs (asked or settled later), the log end offsets read again where a committed
    offset was beyond them, the groups, and the errors.  Sending this tail instead of the
    whole state again keeps the partitions (100,000 objects at the stretch point, ~0.4 s of
    pickling and unpickling) off the end of the cycle: the collector unpickled them while
    the groups were read.
    """

    cluster_id: str
    brokers: list[Broker]
    groups: dict[str, ConsumerGroup]
    errors: list[str]
    request_errors: dict[str, int]
    #: topic (selected or internal) -> (topic id, configs, configs read at, configs error)
    topics: dict[str, tuple[str | None, dict[str, ConfigValue] | None, float | None, str | None]]
    #: (topic, partition) -> log end offset, for the partitions whose log end was read again
    log_end: dict[tuple[str, int], int | None]

    @classmethod
    def of(cls, state: ClusterState, reread: list[tuple[str, int]]) -> StateTail:
        every = {**state.internal_topics, **state.topics}
        log_end = {}
        for key in reread:
            part = state.partition(*key)
            if part is not None:
                log_end[key] = part.log_end_offset
        return cls(
            state.cluster_id,
            state.brokers,
            state.groups,
            state.errors,
            state.request_errors,
            {name: (t.topic_id, t.configs, t.configs_read_at, t.configs_error) for name, t in every.items()},
            log_end,
        )

    def apply(self, partial: ClusterState) -> ClusterState:
        """The cycle's final state: ``partial`` (the state sent ahead, as unpickled by the
        collector) completed.  ``partial`` itself is left as it was (the collector may be
        interpreting it meanwhile, see exporter.cycle): the final state has topics of its
        own, which share the partitions of ``partial`` except those whose log end offset
        was read again (copies).  So the leaders, replicas and ISRs of the two are the same."""
        log_end: dict[str, dict[int, int | None]] = {}
        for (name, pid), offset in self.log_end.items():
            log_end.setdefault(name, {})[pid] = offset

        def final(name: str, topic: Topic) -> Topic:
            topic_id, configs, read_at, error = self.topics.get(name, (topic.topic_id, topic.configs, topic.configs_read_at, topic.configs_error))
            parts = topic.partitions
            again = log_end.get(name)
            if again:
                parts = [replace(p, log_end_offset=again[p.partition]) if p.partition in again else p for p in parts]
            return replace(topic, partitions=parts, topic_id=topic_id, configs=configs, configs_read_at=read_at, configs_error=error)

        return ClusterState(
            self.cluster_id,
            self.brokers,
            {name: final(name, t) for name, t in partial.topics.items()},
            self.groups,
            self.errors,
            {name: final(name, t) for name, t in partial.internal_topics.items()},
            collected_at=partial.collected_at,
            request_errors=self.request_errors,
        )
