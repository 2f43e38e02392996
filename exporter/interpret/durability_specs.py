"""Metric specs of the P1 durability interpretation (:mod:`exporter.interpret.durability` emits them).

Names, types, labels and HELP of every partition, topic, broker and cluster family that says
whether replication survives one broker; the computation lives beside it in ``durability.py``.
"""

from __future__ import annotations

from exporter.metrics import metric

SRC = "interpret"

ISR_HEADROOM = metric(
    "kafka_insight_partition_isr_headroom",
    "gauge",
    """In-sync replicas the partition can lose before acks=all writes are refused:
    ISR size - effective min ISR. Effective = min(min.insync.replicas, replicas) on
    leaders running Kafka 3.7 or later (KAFKA-15583), min.insync.replicas as configured on
    older ones (kafka_insight_broker_min_isr_rule_info says which rule each broker gets and
    why). Good: 1 or more. 0 (at min ISR): one more broker loss stops
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
    """1 if fewer replicas are in sync than the effective min ISR: acks=all writes are
    being refused with NotEnoughReplicas. Effective = min(min.insync.replicas, replicas)
    on leaders running Kafka 3.7 or later, the configured value on older ones (see
    kafka_insight_broker_min_isr_rule_info). Restart or repair the brokers missing from
    the ISR. Matches the brokers' UnderMinIsrPartitionCount; kafka-topics.sh
    --under-min-isr-partitions ignores the 3.7 cap. 0 while the partition has no leader.""",
    ("topic", "partition"),
    source=SRC,
)
UNDER_REPLICATED = metric(
    "kafka_insight_partition_under_replicated",
    "gauge",
    """1 if the ISR is smaller than the partition's target replica count: a replica's
    broker is down or lagging (replica.lag.time.max.ms). Data currently has fewer copies
    than configured; find the broker missing from the ISR. Like the brokers'
    UnderReplicated, replicas being added by a reassignment are not counted: a
    reassigning partition (kafka_insight_partition_reassigning 1) is under-replicated only
    when its ISR is smaller than the replica count it had before the reassignment.""",
    ("topic", "partition"),
    source=SRC,
)
OFFLINE = metric(
    "kafka_insight_partition_offline",
    "gauge",
    """1 if the partition has no leader: nothing can be produced to or consumed from it.
    Usually every replica's broker is down (RF 1 topics lose availability with one
    broker); start that broker. Unclean leader election would bring it back at the cost
    of data. Kafka's internal topics (__consumer_offsets: group commits;
    __transaction_state: transactions) are always covered, whatever the topic filters.""",
    ("topic", "partition"),
    source=SRC,
)
REASSIGNING = metric(
    "kafka_insight_partition_reassigning",
    "gauge",
    """1 if the partition is being reassigned: the metadata lists more replicas than its
    target count (the replica count it had when last fully in sync, or else the largest
    replica count of the topic's fully in-sync partitions), the extra ones being copied.
    Not a problem in itself: it is not counted as under-replicated, but copying costs
    network and disk (throttle with kafka-reassign-partitions.sh --throttle). 1 for hours
    means a stuck or heavily throttled reassignment: kafka-reassign-partitions.sh --verify.
    When every broker's JMX is read and their ReassigningPartitions sum to 0, this is 0
    from the second cycle that shows the extra replicas on (JMX and metadata are not read at
    one instant); with per-partition broker JMX, the leader's own ReplicasCount is the target.""",
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
    """The min ISR the brokers enforce for acks=all writes to the topic:
    min(min.insync.replicas, replication factor) when its partitions' leaders run Kafka
    3.7 or later, min.insync.replicas as configured when any of them runs an older
    version (see kafka_insight_broker_min_isr_rule_info). Below
    kafka_insight_topic_min_insync_replicas (the configured value) means
    min.insync.replicas exceeds the replication factor: Kafka accepts it, 3.7+ brokers
    cap it at the replica count, older brokers refuse every acks=all write, and
    kafka-topics.sh --under-min-isr-partitions lists the topic forever. Fix the config so
    the two agree.""",
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
CLUSTER_REASSIGNING = metric(
    "kafka_insight_cluster_reassigning_partitions",
    "gauge",
    """Partitions being reassigned (count of kafka_insight_partition_reassigning == 1).
    Non-zero during kafka-reassign-partitions.sh or Cruise Control moves; these partitions
    are not counted as under-replicated while their original replicas stay in sync.""",
    source=SRC,
)
BROKER_MIN_ISR_RULE = metric(
    "kafka_insight_broker_min_isr_rule_info",
    "gauge",
    """Always 1 per live broker: the rule by which it, as a partition leader, turns
    min.insync.replicas into the ISR size acks=all writes need, as the at/under min ISR
    flags and the ISR headroom apply it. rule="capped": min(min.insync.replicas,
    replicas), Kafka 3.7 and later (KAFKA-15583). rule="configured": min.insync.replicas
    as set, Kafka before 3.7, which refuses acks=all writes whenever the ISR is smaller,
    even when min.insync.replicas exceeds the replica count. basis="broker_version": from
    the broker's JMX app-info Version (kafka_insight_broker_jmx_info). basis="assumed":
    the version is unknown (no broker JMX target for it, or never read) and "capped" is
    assumed - Kafka 3.7+ is what current releases run, and the rules differ only for
    topics with min.insync.replicas above their replica count, which
    kafka_insight_topic_effective_min_insync_replicas shows; configure the broker JMX
    targets to know rather than assume.""",
    ("broker_id", "rule", "basis"),
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
#: the reasons that need no topic config (all a topic whose configs were never read gets)
METADATA_RISK_REASONS = ("single_replica", "single_rack")
