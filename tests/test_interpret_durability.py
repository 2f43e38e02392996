"""P1 durability gauges against the recorded real Kafka 4.0 cluster (tests/fixtures).

Every expected number is written by hand from tests/fixtures/README.md (the tables
"Placement and leadership" and "Min ISR"), never recomputed with the code under test.
"""

from __future__ import annotations

import pytest

from exporter.interpret.durability import RISK_REASONS, DurabilityInterpreter, emit_durability
from exporter.metrics import Samples
from exporter.sources.admin.records import ClusterState
from exporter.sources.admin.source import TopicMemory
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES

STATES = ("healthy", "broker3-down", "broker3-restarted")


def load(state: str, internal: bool = True) -> ClusterState:
    return load_metadata(FIXTURES / f"metadata-{state}.json", include_internal=internal)


def interpret(*states: ClusterState) -> Samples:
    """Run the interpreter over successive cycles; the samples of the last one."""
    step = DurabilityInterpreter()
    out = Samples()
    for state in states:
        out = Samples()
        emit_durability(step.analyse(state), out)
    return out


def flagged(out: Samples, name: str) -> set[str]:
    """Partitions (``topic-N``) whose 0/1 flag is 1; asserts the flag is present for all."""
    found = set()
    for spec, rows in out:
        if spec.name == name:
            for (topic, partition), value in rows:
                assert value in (0, 1)
                if value:
                    found.add(f"{topic}-{partition}")
    return found


@pytest.fixture(scope="module")
def samples() -> dict[str, Samples]:
    return {state: interpret(load(state)) for state in STATES}


USER_PARTITIONS = 26  # compacted 3, durable 6, minisr-over-rf 2, risky-rf2 6, single 3, strict 3, unclean 3


def test_flags_are_present_for_every_partition(samples: dict[str, Samples]) -> None:
    out = interpret(load("broker3-down", internal=False))
    for name in (
        "kafka_insight_partition_at_min_isr",
        "kafka_insight_partition_under_min_isr",
        "kafka_insight_partition_under_replicated",
        "kafka_insight_partition_offline",
        "kafka_insight_partition_replicas_in_one_rack",
    ):
        rows = next(rows for spec, rows in out if spec.name == name)
        assert len(rows) == USER_PARTITIONS, name


def test_healthy_at_min_is_rf_at_or_below_min_isr(samples: dict[str, Samples]) -> None:
    out = samples["healthy"]
    assert flagged(out, "kafka_insight_partition_at_min_isr") == {
        "single-0", "single-1", "single-2", "strict-0", "strict-1", "strict-2", "minisr-over-rf-0", "minisr-over-rf-1",
    }  # fmt: skip
    assert flagged(out, "kafka_insight_partition_under_min_isr") == set()
    assert flagged(out, "kafka_insight_partition_under_replicated") == set()
    # brokers' AtMinIsrPartitionCount 3 + 2 + 3; UnderMinIsr 0
    assert out.get("kafka_insight_cluster_at_min_isr_partitions") == 8
    assert out.get("kafka_insight_cluster_under_min_isr_partitions") == 0
    assert out.get("kafka_insight_cluster_offline_partitions") == 0
    assert out.get("kafka_insight_cluster_leader_not_preferred_partitions") == 0
    assert out.get("kafka_insight_partition_isr_headroom", topic="durable", partition="0") == 1  # ISR 3 - min 2
    assert out.get("kafka_insight_partition_isr_headroom", topic="risky-rf2", partition="0") == 1  # ISR 2 - min 1
    assert out.get("kafka_insight_partition_isr_headroom", topic="__consumer_offsets", partition="0") == 2  # 3 - 1


def test_broker3_down_matches_the_brokers_own_view(samples: dict[str, Samples]) -> None:
    out = samples["broker3-down"]
    assert flagged(out, "kafka_insight_partition_under_min_isr") == {"strict-0", "strict-1", "strict-2", "minisr-over-rf-0"}
    assert flagged(out, "kafka_insight_partition_at_min_isr") == {
        "compacted-0", "compacted-1", "compacted-2",
        "durable-0", "durable-1", "durable-2", "durable-3", "durable-4", "durable-5",
        "minisr-over-rf-1",
        "risky-rf2-0", "risky-rf2-2", "risky-rf2-3", "risky-rf2-4",
        "single-0", "single-1",
        "unclean-0", "unclean-1", "unclean-2",
    }  # fmt: skip
    # UnderMinIsrPartitionCount 3 + 1, AtMinIsrPartitionCount 11 + 8, UnderReplicated 16 + 14
    assert out.get("kafka_insight_cluster_under_min_isr_partitions") == 4
    assert out.get("kafka_insight_cluster_at_min_isr_partitions") == 19
    assert out.get("kafka_insight_cluster_under_replicated_partitions") == 30
    # the controller's OfflinePartitionsCount 1 and PreferredReplicaImbalanceCount 12
    assert out.get("kafka_insight_cluster_offline_partitions") == 1
    assert out.get("kafka_insight_cluster_leader_not_preferred_partitions") == 12
    assert out.get("kafka_insight_partition_isr_headroom", topic="strict", partition="0") == -1  # ISR 2 - min 3
    assert out.get("kafka_insight_partition_isr_headroom", topic="minisr-over-rf", partition="0") == -1  # 1 - min(3, 2)
    assert out.get("kafka_insight_partition_isr_headroom", topic="minisr-over-rf", partition="1") == 0  # 2 - min(3, 2)
    assert out.get("kafka_insight_partition_isr_headroom", topic="risky-rf2", partition="0") == 0  # one copy left
    assert out.get("kafka_insight_partition_isr_headroom", topic="risky-rf2", partition="1") == 1


def test_leaderless_partition_is_offline_not_under_or_at_min(samples: dict[str, Samples]) -> None:
    """single-2 in broker3-down: leader null, ISR [3] (the last in-sync replica, a dead broker).

    kafka-topics.sh lists it as both under-min and at-min; the brokers count neither (only a
    leader counts its partition).  We follow the brokers and say "offline" instead.
    """
    out = samples["broker3-down"]
    assert flagged(out, "kafka_insight_partition_offline") == {"single-2"}
    assert out.get("kafka_insight_partition_at_min_isr", topic="single", partition="2") == 0
    assert out.get("kafka_insight_partition_under_min_isr", topic="single", partition="2") == 0
    assert out.get("kafka_insight_partition_isr_headroom", topic="single", partition="2") is None
    assert out.get("kafka_insight_partition_under_replicated", topic="single", partition="2") == 0  # ISR == replicas


def test_restarted_isr_full_but_leaders_not_moved_back(samples: dict[str, Samples]) -> None:
    out = samples["broker3-restarted"]
    assert out.get("kafka_insight_cluster_at_min_isr_partitions") == 8  # AtMinIsr 5 + 2 + 1
    assert out.get("kafka_insight_cluster_under_min_isr_partitions") == 0
    assert out.get("kafka_insight_cluster_under_replicated_partitions") == 0
    assert out.get("kafka_insight_cluster_offline_partitions") == 0
    assert out.get("kafka_insight_cluster_leader_not_preferred_partitions") == 11  # PreferredReplicaImbalanceCount


def test_minisr_over_rf_configured_and_effective() -> None:
    """min.insync.replicas=3 on an RF-2 topic: the brokers enforce 2; kafka-topics.sh says under-min."""
    down = load("broker3-down", internal=False)
    cli_under_min = {f"{t}-{p}" for t, p in load_metadata_cli(down_state="broker3-down")}
    assert {"minisr-over-rf-0", "minisr-over-rf-1"} <= cli_under_min  # the CLI's view (configured min 3)
    out = interpret(down)
    assert out.get("kafka_insight_topic_effective_min_insync_replicas", topic="minisr-over-rf") == 2
    assert out.get("kafka_insight_topic_effective_min_insync_replicas", topic="strict") == 3
    assert out.get("kafka_insight_topic_effective_min_insync_replicas", topic="durable") == 2
    assert out.get("kafka_insight_partition_at_min_isr", topic="minisr-over-rf", partition="1") == 1
    assert out.get("kafka_insight_partition_under_min_isr", topic="minisr-over-rf", partition="1") == 0
    healthy = interpret(load("healthy", internal=False))
    assert flagged(healthy, "kafka_insight_partition_under_min_isr") == set()


def load_metadata_cli(down_state: str) -> list[tuple[str, int]]:
    import json

    doc = json.loads((FIXTURES / f"metadata-{down_state}.json").read_text())
    return [(t, p) for t, p in doc["kafka_topics_cli"]["under_min_isr_partitions"]]


def risks(out: Samples) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {r: set() for r in RISK_REASONS}
    for spec, rows in out:
        if spec.name == "kafka_insight_topic_durability_risk":
            for (topic, reason), value in rows:
                if value:
                    found[reason].add(topic)
    return found


@pytest.mark.parametrize("state", STATES)
def test_durability_risk_reasons_per_topic(state: str) -> None:
    out = interpret(load(state, internal=False))
    assert risks(out) == {
        "single_copy_ack": {"risky-rf2"},  # RF 2, min ISR 1
        "no_failure_tolerance": {"single", "strict", "minisr-over-rf"},  # RF <= min ISR
        "unclean_election": {"unclean"},
        "single_replica": {"single"},
        "single_rack": {"single"},  # every other partition spans 2 or 3 racks
    }
    rows = next(rows for spec, rows in out if spec.name == "kafka_insight_topic_durability_risk")
    assert len(rows) == 7 * len(RISK_REASONS)  # always present: 7 topics x 5 reasons
    assert out.get("kafka_insight_cluster_durability_risk_topics", reason="no_failure_tolerance") == 3
    assert out.get("kafka_insight_cluster_durability_risk_topics", reason="single_copy_ack") == 1


def test_internal_offsets_topic_acks_on_one_copy() -> None:
    """__consumer_offsets: RF 3 with the broker default min.insync.replicas 1."""
    out = interpret(load("healthy"))
    assert out.get("kafka_insight_topic_durability_risk", topic="__consumer_offsets", reason="single_copy_ack") == 1
    assert out.get("kafka_insight_cluster_durability_risk_topics", reason="single_copy_ack") == 2


def test_racks_are_remembered_while_a_broker_is_down() -> None:
    """broker3-down's metadata lacks broker 3 (and its rack r3)."""
    alone = interpret(load("broker3-down"))
    # racks r1 and r2 are known; r3 of the dead broker is not
    assert alone.get("kafka_insight_partition_replica_racks", topic="durable", partition="0") == 2
    assert alone.get("kafka_insight_partition_replica_racks", topic="single", partition="2") == 0
    # a partition with one known and one unknown rack is not called single-rack
    assert alone.get("kafka_insight_partition_replicas_in_one_rack", topic="risky-rf2", partition="0") == 0
    after = interpret(load("healthy"), load("broker3-down"))
    assert after.get("kafka_insight_partition_replica_racks", topic="durable", partition="0") == 3
    assert after.get("kafka_insight_partition_replica_racks", topic="risky-rf2", partition="0") == 2
    assert after.get("kafka_insight_partition_replica_racks", topic="single", partition="2") == 1
    assert flagged(after, "kafka_insight_partition_replicas_in_one_rack") == {
        "single-0", "single-1", "single-2",
    }  # fmt: skip
    assert after.get("kafka_insight_cluster_partitions_in_one_rack") == 3


def test_racks_unknown_count_as_one_rack() -> None:
    state = load("healthy", internal=False)
    for i, broker in enumerate(state.brokers):
        state.brokers[i] = type(broker)(broker.id, broker.host, broker.port, None)
    out = interpret(state)
    assert out.get("kafka_insight_partition_replica_racks", topic="durable", partition="0") == 0
    assert out.get("kafka_insight_cluster_partitions_in_one_rack") == USER_PARTITIONS
    assert out.get("kafka_insight_cluster_durability_risk_topics", reason="single_rack") == 7


def test_configs_of_a_failed_describe_configs_are_remembered() -> None:
    """describe_configs failed for strict (Topic.configs None): the Admin source's memory fills
    in the configs of an earlier cycle, so its min ISR stays 3, not Kafka's default 1."""
    memory, step = TopicMemory(), DurabilityInterpreter()
    healthy = load("healthy", internal=False)
    memory.fill(healthy)
    step.analyse(healthy)
    failing = load("broker3-down", internal=False)
    failing.topics["strict"].configs = None
    assert memory.fill(failing)
    out = Samples()
    emit_durability(step.analyse(failing), out)
    assert out.get("kafka_insight_partition_under_min_isr", topic="strict", partition="0") == 1
    # never seen before: the topic's min-ISR gauges are left out rather than guessed
    failing = load("broker3-down", internal=False)
    failing.topics["strict"].configs = None
    assert not TopicMemory().fill(failing)
    out = Samples()
    emit_durability(DurabilityInterpreter().analyse(failing), out)
    assert out.get("kafka_insight_partition_under_min_isr", topic="strict", partition="0") is None
    assert out.get("kafka_insight_partition_under_replicated", topic="strict", partition="0") == 1
    assert out.get("kafka_insight_partition_under_min_isr", topic="durable", partition="0") == 0


def test_no_configs_reported_means_kafka_defaults() -> None:
    """A broker that answers describe_configs with nothing (Tansu) gets Kafka's defaults."""
    state = load("healthy", internal=False)
    state.topics["strict"].configs = {}
    out = interpret(state)
    assert out.get("kafka_insight_topic_effective_min_insync_replicas", topic="strict") == 1
    assert out.get("kafka_insight_topic_durability_risk", topic="strict", reason="single_copy_ack") == 1
