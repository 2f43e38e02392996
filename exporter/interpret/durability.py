"""P1 — replication that cannot survive one broker: ISR headroom, min ISR, racks, risk reasons.

Pure functions of one :class:`ClusterState` plus two tiny memories kept by
:class:`DurabilityInterpreter` across cycles:

* the last known rack of every broker id (a dead broker leaves the metadata, but its
  replicas still sit in its rack): one dict entry per broker ever seen (~150 bytes each);
* the last known topic configs of every topic, used for a cycle in which
  ``describe_configs`` failed for that topic (one small dict per topic).

Effective min ISR: ``min(min.insync.replicas, replica count)``, as the Kafka 4.0 brokers
compute it (their ``UnderMinIsrPartitionCount``/``AtMinIsrPartitionCount`` JMX match it in
every recorded fixture state); ``kafka-topics.sh --under-min-isr-partitions`` uses the
configured value instead and lists a topic with ``min.insync.replicas`` above its
replication factor as under-min forever.

A partition without a leader (offline) gets ``partition_offline`` 1 and 0 in both the
at-min and under-min flags, like the brokers' own counters (only a leader counts its
partition), and no ISR headroom sample: its ISR in the metadata is the last one before the
leader died (KRaft keeps the last in-sync replica) and says nothing about what can be
written now.  Nothing can be written to it at all, which ``partition_offline`` says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

from exporter.catalogue import Batch, Row, Samples, metric, row_value
from exporter.sources.admin.records import ClusterState, ConfigValue, Partition, Topic

if TYPE_CHECKING:
    from exporter.cycle import Snapshot

SRC = "interpret"

#: Kafka's defaults, used when a broker reports no value (Tansu reports no topic configs)
DEFAULT_MIN_ISR = 1

# -- catalogue -------------------------------------------------------------------------
ISR_HEADROOM = metric(
    "kafka_insight_partition_isr_headroom",
    "gauge",
    """In-sync replicas the partition can lose before acks=all writes are refused:
    ISR size - effective min ISR, effective = min(min.insync.replicas, replicas) as the
    brokers compute it. Good: 1 or more. 0 (at min ISR): one more broker loss stops
    acks=all writes. Negative (under min ISR): producers with acks=all get
    NotEnoughReplicas now - bring the missing brokers back or, as a last resort, lower
    min.insync.replicas. Absent while the partition has no leader (see
    kafka_insight_partition_offline).""",
    ("topic", "partition"),
    source=SRC,
)
AT_MIN_ISR = metric(
    "kafka_insight_partition_at_min_isr",
    "gauge",
    """1 if the partition has exactly its effective min ISR in sync (headroom 0): writes
    still work, but one more broker loss refuses acks=all writes. 1 with every broker up
    means the topic's RF <= min.insync.replicas (see kafka_insight_topic_durability_risk
    reason no_failure_tolerance). Matches the brokers' AtMinIsrPartitionCount; 0 while
    the partition has no leader.""",
    ("topic", "partition"),
    source=SRC,
)
UNDER_MIN_ISR = metric(
    "kafka_insight_partition_under_min_isr",
    "gauge",
    """1 if fewer replicas are in sync than the effective min ISR
    (min(min.insync.replicas, replicas)): acks=all writes are being refused with
    NotEnoughReplicas. Restart or repair the brokers missing from the ISR. Matches the
    brokers' UnderMinIsrPartitionCount, not kafka-topics.sh --under-min-isr-partitions
    (which ignores the cap at the replica count). 0 while the partition has no leader.""",
    ("topic", "partition"),
    source=SRC,
)
UNDER_REPLICATED = metric(
    "kafka_insight_partition_under_replicated",
    "gauge",
    """1 if the ISR is smaller than the replica list: a replica's broker is down or lagging
    (replica.lag.time.max.ms). Data currently has fewer copies than configured; find the
    broker missing from the ISR.""",
    ("topic", "partition"),
    source=SRC,
)
OFFLINE = metric(
    "kafka_insight_partition_offline",
    "gauge",
    """1 if the partition has no leader: nothing can be produced to or consumed from it.
    Usually every replica's broker is down (RF 1 topics lose availability with one
    broker); start that broker. Unclean leader election would bring it back at the cost
    of data.""",
    ("topic", "partition"),
    source=SRC,
)
REPLICA_RACKS = metric(
    "kafka_insight_partition_replica_racks",
    "gauge",
    """Number of distinct racks (broker.rack) among the partition's replicas, from the
    racks brokers reported (remembered while a broker is down). 1 means one rack or
    power domain holds every copy; 0 means racks are not configured. Spread replicas with
    broker.rack and rack-aware reassignment.""",
    ("topic", "partition"),
    source=SRC,
)
IN_ONE_RACK = metric(
    "kafka_insight_partition_replicas_in_one_rack",
    "gauge",
    """1 if all replicas of the partition sit in one rack, or no replica's rack is known
    (broker.rack unset): one power or network failure can take every copy at once, and
    acknowledged writes still in page cache are lost (Kafka does not fsync by default).
    Set broker.rack and reassign replicas across racks.""",
    ("topic", "partition"),
    source=SRC,
)
EFFECTIVE_MIN_ISR = metric(
    "kafka_insight_topic_effective_min_insync_replicas",
    "gauge",
    """min(min.insync.replicas, replication factor): the min ISR the brokers enforce.
    Below kafka_insight_topic_min_insync_replicas (the configured value) means
    min.insync.replicas exceeds the replication factor: Kafka accepts it, the brokers cap
    it at the replica count, and kafka-topics.sh --under-min-isr-partitions lists the
    topic forever. Fix the config so the two agree.""",
    ("topic",),
    source=SRC,
)
DURABILITY_RISK = metric(
    "kafka_insight_topic_durability_risk",
    "gauge",
    """1 if the topic has this durability risk, one series per reason, always present.
    single_copy_ack: RF >= 2 but min.insync.replicas 1, so acks=all writes can be
    acknowledged by the leader alone and die with it - set min.insync.replicas=2 with
    RF 3. no_failure_tolerance: RF <= min.insync.replicas, so losing any one broker
    refuses acks=all writes - raise RF or lower min.insync.replicas to RF-1.
    unclean_election: unclean.leader.election.enable=true lets an out-of-sync replica
    lead and truncate acknowledged data - set it to false. single_replica: RF 1, one
    disk holds the only copy - raise RF. single_rack: some partition has all replicas in
    one rack or racks unknown - set broker.rack and spread replicas.""",
    ("topic", "reason"),
    source=SRC,
)
CLUSTER_RISK_TOPICS = metric(
    "kafka_insight_cluster_durability_risk_topics",
    "gauge",
    """Topics with each durability risk reason (count of kafka_insight_topic_durability_risk
    == 1 per reason; see its HELP for each reason and the fix).""",
    ("reason",),
    source=SRC,
)
CLUSTER_AT_MIN = metric(
    "kafka_insight_cluster_at_min_isr_partitions",
    "gauge",
    """Partitions at their effective min ISR (headroom 0): one more broker loss refuses
    acks=all writes to them. Equals the sum of the brokers' AtMinIsrPartitionCount.""",
    source=SRC,
)
CLUSTER_UNDER_MIN = metric(
    "kafka_insight_cluster_under_min_isr_partitions",
    "gauge",
    """Partitions below their effective min ISR: acks=all writes to them are refused now.
    Anything above 0 is an outage for acks=all producers. Equals the sum of the brokers'
    UnderMinIsrPartitionCount.""",
    source=SRC,
)
CLUSTER_UNDER_REPLICATED = metric(
    "kafka_insight_cluster_under_replicated_partitions",
    "gauge",
    """Partitions whose ISR is smaller than their replica list: a broker is down or a
    follower lags (replica.lag.time.max.ms). Good: 0. Above 0 for minutes: find the broker
    missing from the ISRs (kafka_insight_partition_under_replicated,
    kafka_insight_broker_info) and bring it back; watch the at-min count meanwhile.""",
    source=SRC,
)
CLUSTER_OFFLINE = metric(
    "kafka_insight_cluster_offline_partitions",
    "gauge",
    "Partitions without a leader: unavailable for produce and consume. Above 0 is an outage.",
    source=SRC,
)
CLUSTER_ONE_RACK = metric(
    "kafka_insight_cluster_partitions_in_one_rack",
    "gauge",
    """Partitions whose replicas all sit in one rack, or whose racks are unknown: a single
    power or network failure can lose every copy (see
    kafka_insight_partition_replicas_in_one_rack).""",
    source=SRC,
)
CLUSTER_NOT_PREFERRED = metric(
    "kafka_insight_cluster_leader_not_preferred_partitions",
    "gauge",
    """Partitions whose leader is not the preferred (first) replica, including leaderless
    ones - the controller's PreferredReplicaImbalanceCount. High after broker restarts:
    load is skewed until a preferred leader election (kafka-leader-election.sh or
    auto.leader.rebalance.enable) moves leaders back.""",
    source=SRC,
)

#: reasons of the durability-risk family, in exposition order
RISK_REASONS = ("single_copy_ack", "no_failure_tolerance", "unclean_election", "single_replica", "single_rack")


# -- pure computation -------------------------------------------------------------------
@dataclass(slots=True)  # not frozen: a frozen init costs ~1 us more, 10 ms a cycle at 10k partitions
class PartitionDurability:
    topic: str
    partition: int
    effective_min_isr: int
    #: None while the partition has no leader
    headroom: int | None
    at_min: bool
    under_min: bool
    under_replicated: bool
    offline: bool
    racks: int
    in_one_rack: bool
    leader_not_preferred: bool


@dataclass(frozen=True)
class TopicDurability:
    topic: str
    replication_factor: int
    configured_min_isr: int
    effective_min_isr: int
    risks: dict[str, bool]
    partitions: list[PartitionDurability] = field(default_factory=list)


def _int_config(configs: dict[str, ConfigValue], key: str, default: int) -> int:
    cv = configs.get(key)
    if cv is None or cv.value is None:
        return default
    try:
        return int(cv.value)
    except ValueError:
        return default


def _bool_config(configs: dict[str, ConfigValue], key: str) -> bool:
    cv = configs.get(key)
    return cv is not None and (cv.value or "").strip().lower() == "true"


def effective_min_isr(configs: dict[str, ConfigValue], replicas: int) -> int:
    """The min ISR the brokers enforce for a partition with ``replicas`` replicas:
    min(min.insync.replicas, replica count) (see the module docstring)."""
    return min(_int_config(configs, "min.insync.replicas", DEFAULT_MIN_ISR), replicas)


def partition_racks(replicas: Iterable[int], racks: dict[int, str | None]) -> tuple[int, bool]:
    """(distinct known racks, all in one rack).

    "In one rack" is true when every replica's rack is known and they are all the same,
    or when no replica's rack is known (broker.rack unset).  A partition with some
    replicas' racks unknown and the known ones in one rack is not flagged: its replicas
    span at least that rack plus an unknown one.
    """
    known = [racks.get(b) for b in replicas]
    distinct = {r for r in known if r}
    unknown = sum(1 for r in known if not r)
    if not distinct:
        return 0, True
    return len(distinct), len(distinct) == 1 and unknown == 0


def partition_durability(
    p: Partition, min_isr: int, racks: dict[int, str | None], rack_cache: dict[tuple[int, ...], tuple[int, bool]] | None = None
) -> PartitionDurability:
    """``rack_cache``: :func:`partition_racks` by replica list, for one ``racks`` (a cluster
    has few distinct replica lists; one cache per cycle spares most of the work)."""
    effective = min(min_isr, len(p.replicas))
    offline = p.leader < 0
    headroom = None if offline else len(p.isr) - effective
    if rack_cache is None:
        n_racks, one_rack = partition_racks(p.replicas, racks)
    else:
        replicas = tuple(p.replicas)
        found = rack_cache.get(replicas)
        if found is None:
            found = rack_cache[replicas] = partition_racks(replicas, racks)
        n_racks, one_rack = found
    return PartitionDurability(
        topic=p.topic,
        partition=p.partition,
        effective_min_isr=effective,
        headroom=headroom,
        at_min=headroom == 0,
        under_min=headroom is not None and headroom < 0,
        under_replicated=len(p.isr) < len(p.replicas),
        offline=offline,
        racks=n_racks,
        in_one_rack=one_rack,
        leader_not_preferred=offline or p.leader != p.preferred_leader,
    )


def topic_durability(
    topic: Topic,
    configs: dict[str, ConfigValue],
    racks: dict[int, str | None],
    rack_cache: dict[tuple[int, ...], tuple[int, bool]] | None = None,
) -> TopicDurability:
    """Everything P1 says about one topic, from its metadata and (last known) configs."""
    min_isr = _int_config(configs, "min.insync.replicas", DEFAULT_MIN_ISR)
    rf = topic.replication_factor
    cache = {} if rack_cache is None else rack_cache
    parts = [partition_durability(p, min_isr, racks, cache) for p in topic.partitions]
    effective = effective_min_isr(configs, rf)
    risks = {
        "single_copy_ack": rf >= 2 and effective <= 1,
        "no_failure_tolerance": rf > 0 and rf <= min_isr,
        "unclean_election": _bool_config(configs, "unclean.leader.election.enable"),
        "single_replica": rf == 1,
        "single_rack": any(p.in_one_rack for p in parts),
    }
    return TopicDurability(topic.name, rf, min_isr, effective, risks, parts)


def configs_failed(state: ClusterState, topic: str) -> bool:
    """True when describe_configs failed for the topic this cycle (the Admin source records it)."""
    prefix = f"describe_configs {topic}:"
    return any(e.startswith(prefix) for e in state.errors)


def emit_durability(topics: list[TopicDurability], out: Samples) -> None:
    counts = {"at_min": 0, "under_min": 0, "under_replicated": 0, "offline": 0, "one_rack": 0, "not_preferred": 0}
    risk_counts = dict.fromkeys(RISK_REASONS, 0)
    for spec in (CLUSTER_RISK_TOPICS, DURABILITY_RISK):
        out.declare(spec)
    with Batch(out) as batch:  # per-partition families: one extend per topic, not an add per sample
        for td in topics:
            out.add(EFFECTIVE_MIN_ISR, td.effective_min_isr, td.topic)
            risks = td.risks
            batch.extend(DURABILITY_RISK, [((td.topic, reason), 1 if risks[reason] else 0) for reason in RISK_REASONS])
            for reason in RISK_REASONS:
                risk_counts[reason] += risks[reason]
            parts = td.partitions
            if not parts:
                continue
            labels = [(pd.topic, str(pd.partition)) for pd in parts]
            rows = list(zip(labels, parts, strict=True))
            flags: dict[str, list[Row]] = {
                "at_min": [(k, 1 if pd.at_min else 0) for k, pd in rows],
                "under_min": [(k, 1 if pd.under_min else 0) for k, pd in rows],
                "under_replicated": [(k, 1 if pd.under_replicated else 0) for k, pd in rows],
                "offline": [(k, 1 if pd.offline else 0) for k, pd in rows],
                "one_rack": [(k, 1 if pd.in_one_rack else 0) for k, pd in rows],
            }
            batch.extend_units(
                labels,
                (
                    (ISR_HEADROOM, [(k, pd.headroom) for k, pd in rows if pd.headroom is not None]),
                    (AT_MIN_ISR, flags["at_min"]),
                    (UNDER_MIN_ISR, flags["under_min"]),
                    (UNDER_REPLICATED, flags["under_replicated"]),
                    (OFFLINE, flags["offline"]),
                    (REPLICA_RACKS, [(k, pd.racks) for k, pd in rows]),
                    (IN_ONE_RACK, flags["one_rack"]),
                ),
            )
            for name, flagged in flags.items():
                counts[name] += sum(map(row_value, flagged))
            counts["not_preferred"] += sum(map(_not_preferred, parts))
    for reason in RISK_REASONS:
        out.add(CLUSTER_RISK_TOPICS, risk_counts[reason], reason)
    out.add(CLUSTER_AT_MIN, counts["at_min"])
    out.add(CLUSTER_UNDER_MIN, counts["under_min"])
    out.add(CLUSTER_UNDER_REPLICATED, counts["under_replicated"])
    out.add(CLUSTER_OFFLINE, counts["offline"])
    out.add(CLUSTER_ONE_RACK, counts["one_rack"])
    out.add(CLUSTER_NOT_PREFERRED, counts["not_preferred"])


_not_preferred = attrgetter("leader_not_preferred")


# -- the stateful step -----------------------------------------------------------------
class DurabilityInterpreter:
    """P1 each cycle; remembers broker racks and topic configs (bounded by brokers/topics)."""

    def __init__(self) -> None:
        self.racks: dict[int, str | None] = {}
        self.configs: dict[str, dict[str, ConfigValue]] = {}

    def analyse(self, state: ClusterState) -> list[TopicDurability]:
        for broker in state.brokers:
            if broker.rack or broker.id not in self.racks:
                self.racks[broker.id] = broker.rack
        result = []
        rack_cache: dict[tuple[int, ...], tuple[int, bool]] = {}  # for this cycle's racks only
        for name, topic in state.topics.items():
            if configs_failed(state, name):
                configs = self.configs.get(name)
                if configs is None:
                    continue  # never seen its configs: no guessing of min ISR or unclean election
            else:
                configs = self.configs[name] = topic.configs
            result.append(topic_durability(topic, configs, self.racks, rack_cache))
        for gone in set(self.configs) - set(state.topics):
            del self.configs[gone]
        return result

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.payload("admin")
        if isinstance(state, ClusterState):
            emit_durability(self.analyse(state), out)
