"""P1/P3 ahead of time — the blast radius of a broker or rack failure, from this cycle's metadata.

For every live broker, every rack (``broker.rack``; ``unknown`` for brokers without one) and
the cluster as a whole: what would happen to each partition if that broker, or every broker
of that rack, stopped now.  A pure function of one :class:`ClusterState` and the topics'
configs (min.insync.replicas, unclean.leader.election.enable).

A partition is judged by its replicas R, in-sync replicas I, effective min ISR m (as the
durability step computed it for the partition's leader: capped at the replica count from
Kafka 3.7; :func:`exporter.interpret.durability.effective_min_isr`) and unclean flag; F is the set
of brokers that stop, S = I - F the in-sync replicas that survive:

* ``no_insync_copy``: S is empty — every copy that acknowledged writes is on a stopped
  broker; if their disks or page caches are lost (power loss), so are acknowledged writes;
* ``offline``: S is empty and no leader can be elected (unclean election off, or no
  replica survives at all) — produce and fetch fail;
* ``unclean_election``: S is empty, unclean election is on and an out-of-sync replica
  survives — it becomes leader and truncates acknowledged writes (data loss);
* ``under_min_isr``: S is not empty but smaller than m, and the partition is not under min
  ISR already — acks=all writes are refused with NotEnoughReplicas.

``offline`` and ``unclean_election`` are both part of ``no_insync_copy``; ``under_min_isr``
never overlaps them.  A partition breaks acks=all writes when it would be ``under_min_isr``
or ``no_insync_copy``, and breaks reads when it would be ``offline``.  Partitions without
a leader now are skipped (they are broken already: ``kafka_insight_partition_offline``).
Kafka's internal topics count like any other, also when the topic filters leave them out
(``__consumer_offsets`` going offline stops every consumer group it coordinates).

The model is the controller's: it assumes the KRaft controller quorum survives the
failure (it elects leaders and shrinks ISRs).  Losing a majority of the controller voters
freezes leadership and ISRs, which breaks more than this predicts.

Cost: one pass over the partitions of each failure set (partitions are indexed by broker
first), so O(partitions x replication factor) per cycle for the broker failures and the
same again for the racks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from exporter.interpret import durability as du
from exporter.interpret.durability import DEFAULT_MIN_ISR, _bool_config, _int_config, effective_min_isr
from exporter.metrics import Samples, metric
from exporter.sources.admin.records import ClusterState, ConfigValue

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot

SRC = "interpret"
UNKNOWN_RACK = "unknown"
#: where the cycle's :class:`BlastRadius` is kept in ``Snapshot.derived``
DERIVED_KEY = "blast_radius"
#: what a failure can do to a partition, in exposition order
OUTCOMES = ("offline", "under_min_isr", "no_insync_copy", "unclean_election")
#: what clients lose when a partition breaks
ACCESS = ("acks_all_writes", "reads")

_OUTCOME_HELP = """outcome offline: no in-sync replica survives and no leader can be elected (unclean
    election off, or no replica survives) - produce and fetch fail. under_min_isr: an in-sync
    replica survives but fewer than the effective min ISR (min(min.insync.replicas, replicas))
    do, and the partition is not under min ISR already - acks=all writes are refused.
    no_insync_copy: every in-sync replica is on a stopped broker, so acknowledged writes have no
    surviving in-sync copy (includes offline and unclean_election). unclean_election: no in-sync
    replica survives, unclean.leader.election.enable=true and an out-of-sync replica does - it
    becomes leader and truncates acknowledged writes. Example: ISR {1,2} with effective min ISR 2
    goes under_min_isr if broker 1 or 2 stops; ISR {2} goes offline if broker 2 stops.
    Partitions without a leader now are not counted; Kafka's internal topics are."""

BROKER_FAILURE = metric(
    "kafka_insight_broker_failure_partitions",
    "gauge",
    f"""Blast radius of one broker: partitions that would have this outcome if the broker
    stopped now, from this cycle's replicas, ISRs, min ISR and unclean setting (assuming the
    controller quorum survives). {_OUTCOME_HELP} Good: 0 for every broker and outcome.
    Before restarting a broker with a non-zero value, fix the ISRs (bring lagging replicas
    back) or the topic settings (RF 3, min.insync.replicas 2).""",
    ("broker_id", "outcome"),
    source=SRC,
)
RACK_FAILURE = metric(
    "kafka_insight_rack_failure_partitions",
    "gauge",
    f"""Blast radius of one rack or power domain (broker.rack; "unknown" groups the brokers
    without one): partitions that would have this outcome if every live broker of the rack
    stopped at once, e.g. a power loss. {_OUTCOME_HELP} Good: 0 for every rack. Non-zero:
    spread replicas over racks (broker.rack and rack-aware reassignment) so that no rack holds
    all in-sync copies or more than RF - min ISR of them.""",
    ("rack", "outcome"),
    source=SRC,
)
SURVIVES_BROKER = metric(
    "kafka_insight_cluster_survives_broker_failure",
    "gauge",
    """1 if the cluster survives the failure of any single live broker right now, 0 if some
    broker's failure would break a partition, per access: acks_all_writes breaks when a
    partition would go under min ISR or keep no in-sync copy (offline or unclean election);
    reads break when a partition would go offline. "Are we N-1 safe?". 0 for acks_all_writes:
    see kafka_insight_broker_failure_partitions for the broker and the outcome, and do not
    restart brokers until it is 1 again.""",
    ("access",),
    source=SRC,
)
SURVIVES_RACK = metric(
    "kafka_insight_cluster_survives_rack_failure",
    "gauge",
    """1 if the cluster survives the loss of any one rack (broker.rack, "unknown" for brokers
    without one) right now, 0 if some rack's loss would break a partition, per access (as in
    kafka_insight_cluster_survives_broker_failure). A cluster without racks is one "unknown"
    rack and never survives its loss. 0: see kafka_insight_rack_failure_partitions.""",
    ("access",),
    source=SRC,
)
BROKER_EXPOSED = metric(
    "kafka_insight_cluster_broker_failure_exposed_partitions",
    "gauge",
    """Partitions that the failure of at least one single live broker would break, per access
    (acks_all_writes: under min ISR or no in-sync copy left; reads: offline). 0 exactly when
    kafka_insight_cluster_survives_broker_failure is 1.""",
    ("access",),
    source=SRC,
)
RACK_EXPOSED = metric(
    "kafka_insight_cluster_rack_failure_exposed_partitions",
    "gauge",
    """Partitions that the loss of at least one rack would break, per access (as in
    kafka_insight_cluster_broker_failure_exposed_partitions). 0 exactly when
    kafka_insight_cluster_survives_rack_failure is 1.""",
    ("access",),
    source=SRC,
)

PartitionKey = tuple[str, int]


class PartitionFacts(NamedTuple):
    """What the blast radius needs to know of one partition that has a leader now (a tuple:
    10k of them are made every cycle, and a tuple is the cheapest record to make)."""

    topic: str
    partition: int
    replicas: list[int]
    isr: list[int]
    min_isr: int
    unclean: bool
    #: (topic, partition), made once: every failure that breaks the partition lists this one
    #: tuple (at 50k partitions the lists held ~200k new tuples a cycle otherwise)
    key: PartitionKey


def outcomes(p: PartitionFacts, failed: frozenset[int] | set[int]) -> tuple[str, ...]:
    """The outcomes (:data:`OUTCOMES`) of stopping ``failed`` for one partition."""
    surviving = len([r for r in p.isr if r not in failed])
    if not surviving:
        if p.unclean and any(r not in failed for r in p.replicas):
            return ("no_insync_copy", "unclean_election")
        return ("offline", "no_insync_copy")
    if surviving < p.min_isr <= len(p.isr):
        return ("under_min_isr",)
    return ()


@dataclass
class FailureImpact:
    """What one failure set (a broker, or a rack's brokers) would do."""

    failed: frozenset[int]
    #: outcome -> partitions, sorted
    partitions: dict[str, list[PartitionKey]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})

    def count(self, outcome: str) -> int:
        return len(self.partitions[outcome])

    def broken(self, access: str) -> set[PartitionKey]:
        if access == "reads":
            return set(self.partitions["offline"])
        return set(self.partitions["under_min_isr"]) | set(self.partitions["no_insync_copy"])


@dataclass
class BlastRadius:
    brokers: dict[int, FailureImpact]
    racks: dict[str, FailureImpact]
    #: live broker id -> rack ("unknown" when unset)
    rack_of: dict[int, str]
    #: exposed() by (kind, access): asked for by the metrics, the findings and worst()
    _exposed: dict[tuple[str, str], set[PartitionKey]] = field(default_factory=dict, repr=False)

    def _impacts(self, kind: str) -> dict[str, FailureImpact]:
        if kind == "broker":
            return {str(b): impact for b, impact in self.brokers.items()}
        return dict(self.racks)

    def exposed(self, kind: str, access: str) -> set[PartitionKey]:
        """Partitions some single failure of ``kind`` ("broker" or "rack") would break."""
        found = self._exposed.get((kind, access))
        if found is None:
            found = self._exposed[(kind, access)] = set()
            for impact in self._impacts(kind).values():
                found |= impact.broken(access)
        return found

    def survives(self, kind: str, access: str) -> bool:
        return not self.exposed(kind, access)

    def worst(self, kind: str, access: str) -> tuple[str, int] | None:
        """The broker id or rack whose failure breaks most partitions, with that count
        (ties: the lowest id/name); None when nothing breaks."""
        counts = [(-len(impact.broken(access)), name) for name, impact in self._impacts(kind).items()]
        counts = [c for c in counts if c[0] < 0]
        if not counts:
            return None
        negative, name = min(counts, key=lambda c: (c[0], _sortable(c[1])))
        return name, -negative


def _sortable(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)


def partition_facts(
    state: ClusterState,
    configs: dict[str, dict[str, ConfigValue]],
    effective: dict[PartitionKey, int] | None = None,
) -> list[PartitionFacts]:
    """The partitions with a leader (Kafka's internal topics included, also when the topic
    filters leave them out), with their effective min ISR and their topic's unclean setting.

    ``effective``: each partition's effective min ISR as the durability step computed it
    (the leader's version decides whether min.insync.replicas is capped at the replica count);
    a partition missing from it gets :func:`~exporter.interpret.durability.effective_min_isr`
    with the version unknown.  Topics missing from ``configs`` (never described) are left
    out rather than guessed."""
    found = []
    topics = state.topics
    if state.internal_topics:
        topics = {**topics, **{n: t for n, t in state.internal_topics.items() if n not in topics}}
    known = effective or {}
    for name, topic in topics.items():
        topic_configs = configs.get(name)
        if topic_configs is None:
            continue
        unclean = _bool_config(topic_configs, "unclean.leader.election.enable")
        configured = _int_config(topic_configs, "min.insync.replicas", DEFAULT_MIN_ISR)
        for p in topic.partitions:
            if p.leader < 0:
                continue
            min_isr = known.get((name, p.partition))
            if min_isr is None:
                min_isr = effective_min_isr(configured, len(p.replicas))
            found.append(PartitionFacts(name, p.partition, p.replicas, p.isr, min_isr, unclean, (name, p.partition)))
    return found


def _impact(failed: frozenset[int], candidates: Iterable[PartitionFacts]) -> FailureImpact:
    impact = FailureImpact(failed)
    lists = impact.partitions
    for p in candidates:
        for outcome in outcomes(p, failed):
            lists[outcome].append(p.key)
    for keys in impact.partitions.values():
        keys.sort()
    return impact


def blast_radius(
    state: ClusterState,
    configs: dict[str, dict[str, ConfigValue]] | None = None,
    effective: dict[PartitionKey, int] | None = None,
) -> BlastRadius:
    """Blast radius of every live broker and rack.  ``configs``: topic configs by topic
    (default: those in ``state``), e.g. the last known ones where describe_configs failed;
    ``effective``: as in :func:`partition_facts`."""
    if configs is None:
        topics = {**state.internal_topics, **state.topics}
        configs = {name: c for name, topic in topics.items() if (c := topic.configs) is not None}
    facts = partition_facts(state, configs, effective)
    rack_of = {b.id: b.rack or UNKNOWN_RACK for b in state.brokers}
    by_broker: dict[int, list[PartitionFacts]] = {b: [] for b in rack_of}
    for p in facts:
        for b in p.replicas:
            if b in by_broker:
                by_broker[b].append(p)
    brokers = {b: _impact(frozenset((b,)), by_broker[b]) for b in sorted(rack_of)}
    members: dict[str, set[int]] = {}
    for b, rack in rack_of.items():
        members.setdefault(rack, set()).add(b)
    racks = {}
    for rack in sorted(members):
        failed = frozenset(members[rack])
        seen: dict[PartitionKey, PartitionFacts] = {}
        for b in sorted(failed):
            for p in by_broker[b]:
                seen.setdefault(p.key, p)
        racks[rack] = _impact(failed, seen.values())
    return BlastRadius(brokers, racks, rack_of)


def emit_blast_radius(radius: BlastRadius, out: Samples) -> None:
    for b, impact in radius.brokers.items():
        for outcome in OUTCOMES:
            out.add(BROKER_FAILURE, impact.count(outcome), str(b), outcome)
    for rack, impact in radius.racks.items():
        for outcome in OUTCOMES:
            out.add(RACK_FAILURE, impact.count(outcome), rack, outcome)
    for access in ACCESS:
        for kind, survives, exposed in (("broker", SURVIVES_BROKER, BROKER_EXPOSED), ("rack", SURVIVES_RACK, RACK_EXPOSED)):
            count = len(radius.exposed(kind, access))
            out.add(survives, 1 if count == 0 else 0, access)
            out.add(exposed, count, access)


class BlastRadiusInterpreter:
    """Blast radius each cycle. A topic's configs are this cycle's or, when describe_configs
    failed for it, the last known ones (the Admin source keeps those); a topic whose configs
    were never read is left out rather than judged with Kafka's defaults."""

    def analyse(self, state: ClusterState, effective: dict[PartitionKey, int] | None = None) -> BlastRadius:
        topics = {**state.internal_topics, **state.topics}
        configs = {name: c for name, t in topics.items() if (c := t.configs) is not None}
        return blast_radius(state, configs, effective)

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.admin
        if state is not None:
            durability = snapshot.derived.get(du.DERIVED_KEY) or []
            effective = {(p.topic, p.partition): p.effective_min_isr for t in durability for p in t.partitions}
            radius = self.analyse(state, effective)
            snapshot.derived[DERIVED_KEY] = radius  # for the findings (exporter.interpret.findings)
            emit_blast_radius(radius, out)
