"""Typed records of one collection cycle (what the sources saw, before interpretation)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    #: the interpretation-relevant topic configs; absent when describe_configs failed
    configs: dict[str, ConfigValue] = field(default_factory=dict)
    #: Kafka's topic id (describe_topics); tells a re-created topic from the old one
    topic_id: str | None = None

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


@dataclass
class ClusterState:
    """Everything the Admin API told us in one cycle."""

    cluster_id: str
    brokers: list[Broker]
    topics: dict[str, Topic]
    groups: dict[str, ConsumerGroup]
    #: parts of the collection that failed this cycle (e.g. "describe_configs: timed out")
    errors: list[str] = field(default_factory=list)
    #: Kafka's own internal topics (:data:`KAFKA_INTERNAL_TOPICS`) that the topic filters left
    #: out of ``topics``: metadata and configs only (no offsets), for the durability checks,
    #: which always cover them (committed offsets and transactions live there)
    internal_topics: dict[str, Topic] = field(default_factory=dict)

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
