"""Kafka's internal topics are always evaluated for durability (issue 13, item 6).

``__consumer_offsets`` holds every group's committed offsets: when its partitions go offline
or under min ISR, consumers cannot commit, whatever topics the user chose to watch.  The
Admin source hands the internal topics its filters leave out to the interpreter in
``ClusterState.internal_topics``; the recorded broker3-down state (tests/fixtures:
``__consumer_offsets`` with 10 partitions, RF 3, min.insync.replicas 1, broker 3 down so every
ISR has 2 replicas) is rearranged that way here.  Expected values are written by hand.
"""

from __future__ import annotations

from exporter.interpret.durability import DurabilityInterpreter, emit_durability
from exporter.metrics import Samples
from exporter.sources.admin.records import ClusterState, ConfigValue
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES

OFFSETS = "__consumer_offsets"


def filtered(state_name: str = "broker3-down") -> ClusterState:
    """The recorded state as the Admin source delivers it with the default topic filters."""
    state = load_metadata(FIXTURES / f"metadata-{state_name}.json", include_internal=True)
    state.internal_topics = {OFFSETS: state.topics.pop(OFFSETS)}
    return state


def run(state: ClusterState) -> Samples:
    out = Samples()
    emit_durability(DurabilityInterpreter().analyse(state), out)
    return out


def flags(out: Samples, name: str) -> list[float]:
    return [out.get(f"kafka_insight_partition_{name}", topic=OFFSETS, partition=str(p)) for p in range(10)]  # type: ignore[misc]


def test_filtered_out_offsets_topic_gets_every_durability_flag() -> None:
    out = run(filtered())
    assert flags(out, "offline") == [0] * 10
    assert flags(out, "under_replicated") == [1] * 10  # broker 3 is out of every ISR
    assert flags(out, "under_min_isr") == [0] * 10
    assert flags(out, "at_min_isr") == [0] * 10
    assert flags(out, "isr_headroom") == [1] * 10  # ISR 2 - min ISR 1
    assert out.get("kafka_insight_topic_durability_risk", topic=OFFSETS, reason="single_copy_ack") == 1
    # and they count in the cluster totals, which so match the brokers' own count over all
    # partitions again: UnderReplicatedPartitions 16 + 14 (20 of user topics + these 10)
    assert out.get("kafka_insight_cluster_under_replicated_partitions") == 30


def test_offsets_topic_at_and_under_min_isr_page() -> None:
    """The recommended min.insync.replicas=2 on __consumer_offsets; then broker 1 drops out of partition 0's ISR too."""
    state = filtered()
    offsets = state.internal_topics[OFFSETS]
    offsets.configs = {**offsets.configs, "min.insync.replicas": ConfigValue("2", "DYNAMIC_TOPIC_CONFIG", True)}
    assert flags(run(state), "at_min_isr") == [1] * 10
    p0 = offsets.partitions[0]
    p0.isr = [p0.leader]
    out = run(state)
    assert flags(out, "under_min_isr") == [1] + [0] * 9
    assert out.get("kafka_insight_cluster_under_min_isr_partitions") == 4 + 1  # the recording's 4 (user topics) + 1


def test_offline_offsets_partition_is_flagged() -> None:
    state = filtered()
    p3 = state.internal_topics[OFFSETS].partitions[3]
    p3.leader, p3.isr = -1, [p3.replicas[0]]
    out = run(state)
    assert flags(out, "offline") == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert out.get("kafka_insight_cluster_offline_partitions") == 1 + 1  # single-2 of the recording + this


def test_a_topic_in_both_is_judged_once() -> None:
    """include_internal: the source lists __consumer_offsets in topics; nothing is doubled."""
    state = load_metadata(FIXTURES / "metadata-broker3-down.json", include_internal=True)
    state.internal_topics = {OFFSETS: state.topics[OFFSETS]}
    out = run(state)
    rows = next(rows for spec, rows in out if spec.name == "kafka_insight_partition_offline")
    assert len([k for k, _ in rows if k[0] == OFFSETS]) == 10
