"""Blast radius (issue 15) on hand-built metadata and on the recorded real-Kafka states.

Every expected value below was worked out by hand from the replica lists, ISRs and topic
settings in the comments (or in ``tests/fixtures``), not computed by the code under test.
"""

from __future__ import annotations

import pytest

from exporter.interpret.blast_radius import OUTCOMES, BlastRadiusInterpreter, blast_radius, emit_blast_radius
from exporter.metrics import Samples
from exporter.snapshot import Snapshot, TargetResult
from exporter.sources.admin.records import Broker, ClusterState, ConfigValue, Partition, Topic
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES


def cfg(**values: str) -> dict[str, ConfigValue]:
    return {k.replace("_", "."): ConfigValue(v, "DYNAMIC_TOPIC_CONFIG", True) for k, v in values.items()}


def topic(name: str, parts: list[tuple[int, list[int], list[int]]], configs: dict[str, ConfigValue]) -> Topic:
    return Topic(
        name,
        name.startswith("__"),
        [Partition(name, i, leader, reps, isr) for i, (leader, reps, isr) in enumerate(parts)],
        configs,
    )


def hand_built() -> ClusterState:
    brokers = [Broker(1, "h", 1, "r1"), Broker(2, "h", 2, "r1"), Broker(3, "h", 3, "r2"), Broker(4, "h", 4, None)]
    topics = [
        # RF 3, min ISR 2: ISR sizes 3, 2 and 1 (the last already under min ISR)
        topic("t3", [(1, [1, 2, 3], [1, 2, 3]), (1, [1, 3, 4], [1, 3]), (2, [2, 3, 4], [2])], cfg(min_insync_replicas="2")),
        # min.insync.replicas 3 above RF 2: the brokers enforce 2
        topic("over", [(3, [3, 4], [3, 4])], cfg(min_insync_replicas="3")),
        # unclean election on, ISR shrunk to the leader
        topic("unc", [(1, [1, 3, 4], [1])], cfg(min_insync_replicas="2", unclean_leader_election_enable="true")),
        # RF 1 on the broker without a rack; no configs at all: Kafka's min ISR 1
        topic("single", [(4, [4], [4])], {}),
        # no leader now: already broken, never counted
        topic("down", [(-1, [1, 2], [1])], cfg(min_insync_replicas="1")),
        # internal topics count: min ISR 1, ISR {1, 2} both in rack r1
        topic("__consumer_offsets", [(1, [1, 2, 3], [1, 2])], cfg(min_insync_replicas="1")),
    ]
    return ClusterState("c", brokers, {t.name: t for t in topics}, {})


def as_dict(impact: object) -> dict[str, list[tuple[str, int]]]:
    return {o: v for o, v in impact.partitions.items() if v}  # type: ignore[attr-defined]


def test_hand_built_brokers() -> None:
    r = blast_radius(hand_built())
    assert r.rack_of == {1: "r1", 2: "r1", 3: "r2", 4: "unknown"}
    assert as_dict(r.brokers[1]) == {
        "under_min_isr": [("t3", 1)],  # ISR {1,3} -> {3} < 2
        "no_insync_copy": [("unc", 0)],
        "unclean_election": [("unc", 0)],  # ISR {1} -> {}, replicas 3 and 4 survive
    }
    assert as_dict(r.brokers[2]) == {"offline": [("t3", 2)], "no_insync_copy": [("t3", 2)]}
    # t3/2 (ISR {2}) is under min ISR already: broker 3 changes nothing there
    assert as_dict(r.brokers[3]) == {"under_min_isr": [("over", 0), ("t3", 1)]}
    assert as_dict(r.brokers[4]) == {
        "offline": [("single", 0)],
        "under_min_isr": [("over", 0)],  # effective min ISR 2 = RF, not 3
        "no_insync_copy": [("single", 0)],
    }


def test_hand_built_racks_and_cluster() -> None:
    r = blast_radius(hand_built())
    assert sorted(r.racks) == ["r1", "r2", "unknown"]
    assert as_dict(r.racks["r1"]) == {
        "offline": [("__consumer_offsets", 0), ("t3", 2)],
        "under_min_isr": [("t3", 0), ("t3", 1)],
        "no_insync_copy": [("__consumer_offsets", 0), ("t3", 2), ("unc", 0)],
        "unclean_election": [("unc", 0)],
    }
    assert as_dict(r.racks["r2"]) == as_dict(r.brokers[3])
    assert as_dict(r.racks["unknown"]) == as_dict(r.brokers[4])
    assert len(r.exposed("broker", "acks_all_writes")) == 5  # t3/1, unc/0, t3/2, over/0, single/0
    assert len(r.exposed("broker", "reads")) == 2  # t3/2, single/0
    assert len(r.exposed("rack", "acks_all_writes")) == 7
    assert len(r.exposed("rack", "reads")) == 3
    assert not r.survives("broker", "reads") and not r.survives("rack", "acks_all_writes")
    # broker 1 breaks 2 (t3/1 under min, unc/0 without in-sync copy), 3 breaks 2, 4 breaks 2, 2 breaks 1
    assert r.worst("broker", "acks_all_writes") == ("1", 2)
    assert r.worst("rack", "acks_all_writes") == ("r1", 5)


def test_safe_cluster_and_unknown_racks() -> None:
    configs = cfg(min_insync_replicas="2")
    parts = [(1, [1, 2, 3], [1, 2, 3]), (2, [2, 3, 1], [2, 3, 1])]
    racked = ClusterState("c", [Broker(i, "h", i, f"r{i}") for i in (1, 2, 3)], {"t": topic("t", parts, configs)}, {})
    r = blast_radius(racked)
    assert all(r.survives(kind, access) for kind in ("broker", "rack") for access in ("acks_all_writes", "reads"))
    assert r.worst("broker", "acks_all_writes") is None
    # the same cluster without broker.rack is one "unknown" rack: losing it loses everything
    unracked = ClusterState("c", [Broker(i, "h", i, None) for i in (1, 2, 3)], {"t": topic("t", parts, configs)}, {})
    r = blast_radius(unracked)
    assert list(r.racks) == ["unknown"]
    assert r.survives("broker", "acks_all_writes")
    assert as_dict(r.racks["unknown"]) == {"offline": [("t", 0), ("t", 1)], "no_insync_copy": [("t", 0), ("t", 1)]}


def test_emitted_families_are_complete() -> None:
    out = Samples()
    emit_blast_radius(blast_radius(hand_built()), out)
    for b in ("1", "2", "3", "4"):
        for outcome in OUTCOMES:
            assert out.get("kafka_insight_broker_failure_partitions", broker_id=b, outcome=outcome) is not None
    assert out.get("kafka_insight_broker_failure_partitions", broker_id="3", outcome="under_min_isr") == 2
    assert out.get("kafka_insight_rack_failure_partitions", rack="unknown", outcome="offline") == 1
    assert out.get("kafka_insight_cluster_survives_broker_failure", access="acks_all_writes") == 0
    assert out.get("kafka_insight_cluster_broker_failure_exposed_partitions", access="acks_all_writes") == 5
    assert out.get("kafka_insight_cluster_rack_failure_exposed_partitions", access="reads") == 3


def test_topics_whose_configs_were_never_read_are_left_out_not_defaulted() -> None:
    state = hand_built()
    interpreter = BlastRadiusInterpreter()
    first = interpreter.analyse(state)
    state.topics["over"].configs = None  # describe_configs never answered for it (the Admin source's marker)
    again = interpreter.analyse(state)
    without = hand_built()
    del without.topics["over"]
    assert as_dict(again.brokers[4]) == as_dict(blast_radius(without).brokers[4])
    assert as_dict(again.brokers[4]) != as_dict(first.brokers[4])  # not judged with min ISR 1 either
    snapshot = Snapshot.of(0.0, [TargetResult("admin", "-", True, 0.1, state)])
    out = Samples()
    interpreter(snapshot, out)
    assert snapshot.derived["blast_radius"].brokers[4].count("under_min_isr") == again.brokers[4].count("under_min_isr")


@pytest.mark.parametrize(
    ("state", "brokers", "writes", "reads"),
    [
        # healthy: RF 1 `single` goes offline with its broker; `strict` (min ISR 3 = RF) and
        # `minisr-over-rf` (effective 2 = RF) go under min ISR wherever the broker holds a replica
        (
            "healthy",
            {
                1: {"offline": 1, "under_min_isr": 5, "no_insync_copy": 1},  # strict x3, minisr 0 and 1
                2: {"offline": 1, "under_min_isr": 4, "no_insync_copy": 1},  # strict x3, minisr 1
                3: {"offline": 1, "under_min_isr": 4, "no_insync_copy": 1},  # strict x3, minisr 0
            },
            8,  # single 3 + strict 3 + minisr 2
            3,
        ),
        # broker 3 down, ISRs shrunk to {1,2}: compacted x3, durable x6, minisr 1 and unclean x3 sit at
        # min ISR 2 and go under with either broker; strict is under min ISR already; ISRs of one
        # broker (minisr 0, risky 0 on 1; risky 2-4 on 2) and single 0/1 go offline; single 2 has
        # no leader and is not counted
        (
            "broker3-down",
            {
                1: {"offline": 3, "under_min_isr": 13, "no_insync_copy": 3},
                2: {"offline": 4, "under_min_isr": 13, "no_insync_copy": 4},
            },
            20,
            7,
        ),
    ],
)
def test_recorded_states(state: str, brokers: dict[int, dict[str, int]], writes: int, reads: int) -> None:
    recorded = load_metadata(FIXTURES / f"metadata-{state}.json", include_internal=True)
    assert "__consumer_offsets" in recorded.topics
    r = blast_radius(recorded)
    found = {b: {o: n for o in OUTCOMES if (n := impact.count(o))} for b, impact in r.brokers.items()}
    assert found == brokers
    # one broker per rack (r1..r3): each rack's loss is its broker's
    for b, rack in r.rack_of.items():
        assert as_dict(r.racks[rack]) == as_dict(r.brokers[b])
    assert len(r.exposed("broker", "acks_all_writes")) == writes
    assert len(r.exposed("broker", "reads")) == reads
    assert len(r.exposed("rack", "acks_all_writes")) == writes


def test_effective_min_isr_comes_from_the_durability_step() -> None:
    # "over": min.insync.replicas 3 above RF 2, ISR {3,4}: a 3.7+ leader enforces 2, so either
    # broker's failure takes it under min ISR; a pre-3.7 leader enforces 3: it is under min ISR
    # already, and a failure changes nothing there
    state = hand_built()
    assert ("over", 0) in blast_radius(state).brokers[3].partitions["under_min_isr"]
    uncapped = blast_radius(state, effective={("over", 0): 3})
    assert ("over", 0) not in uncapped.brokers[3].partitions["under_min_isr"]
    # through the cycle: the durability interpreter's records reach the blast radius
    from exporter.interpret.durability import DurabilityInterpreter

    snapshot = Snapshot.of(0.0, [TargetResult("admin", "-", True, 0.1, state)])
    out = Samples()
    DurabilityInterpreter()(snapshot, out)
    BlastRadiusInterpreter()(snapshot, out)
    assert snapshot.derived["blast_radius"].brokers[3].partitions["under_min_isr"] == [("over", 0), ("t3", 1)]


def test_internal_topics_left_out_by_the_filters_still_count() -> None:
    state = hand_built()
    internal = state.topics.pop("__consumer_offsets")
    state.internal_topics["__consumer_offsets"] = internal
    r = blast_radius(state)
    assert ("__consumer_offsets", 0) in r.racks["r1"].partitions["offline"]
