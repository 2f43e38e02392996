"""The effective min ISR by broker version (issue 13, item 5).

Kafka 3.7 (KAFKA-15583, apache/kafka#14594) caps min.insync.replicas at the replica count;
older leaders refuse acks=all writes whenever the ISR is below the configured value.  The
recorded topic ``minisr-over-rf`` (RF 2, min.insync.replicas 3; leaders: partition 0 on
broker 3, partition 1 on broker 1) tells the rules apart.  Expected values are written by hand.
"""

from __future__ import annotations

import pytest

from exporter.interpret.durability import (
    DurabilityInterpreter,
    effective_min_isr,
    emit_durability,
    emit_min_isr_rules,
    min_isr_rule,
)
from exporter.metrics import Samples
from exporter.sources.jmx.broker_records import BrokerJmx
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES


def run(versions: dict[int, str | None], step: DurabilityInterpreter | None = None) -> Samples:
    step = step or DurabilityInterpreter()
    jmx = [BrokerJmx(f"b{bid}:9999", broker_id=bid, version=v) for bid, v in versions.items()]
    out = Samples()
    emit_durability(step.analyse(load_metadata(FIXTURES / "metadata-healthy.json"), jmx), out)
    emit_min_isr_rules(step.rules, out)
    return out


def part(out: Samples, name: str, partition: int, topic: str = "minisr-over-rf") -> float | None:
    return out.get(f"kafka_insight_partition_{name}", topic=topic, partition=str(partition))


@pytest.mark.parametrize(
    ("min_isr", "replicas", "version", "expected"),
    [
        (3, 2, "3.6.2", 3),  # before the cap: the configured value
        (3, 2, "3.7.0", 2),
        (3, 2, "4.0.0", 2),
        (3, 2, None, 2),  # unknown: the cap is assumed
        (3, 2, "garbage", 2),
        (3, 2, "7.6.1-ccs", 3),  # Confluent Platform 7.6 ships Apache Kafka 3.6
        (3, 2, "7.7.0-ce", 2),  # ... and 7.7 ships 3.7
        (2, 3, "2.8.0", 2),  # below the replica count the rules agree
        (2, 3, "4.0.0", 2),
    ],
)
def test_effective_min_isr(min_isr: int, replicas: int, version: str | None, expected: int) -> None:
    assert effective_min_isr(min_isr, replicas, version) == expected


def test_min_isr_rule_names_its_basis() -> None:
    assert min_isr_rule("3.6.0") == ("configured", "broker_version")
    assert min_isr_rule("3.7.0") == ("capped", "broker_version")
    assert min_isr_rule(None) == ("capped", "assumed")


def test_all_brokers_4_0_cap_min_isr_at_the_replica_count() -> None:
    out = run({1: "4.0.0", 2: "4.0.0", 3: "4.0.0"})
    assert [part(out, "at_min_isr", i) for i in (0, 1)] == [1, 1]  # ISR 2 == min(3, 2)
    assert [part(out, "under_min_isr", i) for i in (0, 1)] == [0, 0]
    assert out.get("kafka_insight_topic_effective_min_insync_replicas", topic="minisr-over-rf") == 2
    for bid in ("1", "2", "3"):
        assert out.get("kafka_insight_broker_min_isr_rule_info", broker_id=bid, rule="capped", basis="broker_version") == 1


def test_a_pre_3_7_leader_refuses_acks_all_below_the_configured_min_isr() -> None:
    """Broker 3 runs 3.6.1 (mid rolling upgrade): its partition 0 is under min ISR, partition 1 (broker 1, 3.7) is not."""
    out = run({1: "3.7.0", 2: "3.7.0", 3: "3.6.1"})
    assert part(out, "under_min_isr", 0) == 1
    assert part(out, "isr_headroom", 0) == -1  # ISR 2 - configured 3
    assert part(out, "under_min_isr", 1) == 0
    assert part(out, "at_min_isr", 1) == 1
    # the topic's value is the strictest its leaders apply
    assert out.get("kafka_insight_topic_effective_min_insync_replicas", topic="minisr-over-rf") == 3
    assert out.get("kafka_insight_cluster_under_min_isr_partitions") == 1
    assert out.get("kafka_insight_broker_min_isr_rule_info", broker_id="3", rule="configured", basis="broker_version") == 1
    assert out.get("kafka_insight_broker_min_isr_rule_info", broker_id="1", rule="capped", basis="broker_version") == 1
    # topics whose min ISR is within the replica count are judged alike by both rules
    assert part(out, "under_min_isr", 0, "durable") == 0
    assert part(out, "isr_headroom", 0, "strict") == 0  # RF 3, min ISR 3, leader broker 3


def test_unknown_versions_assume_the_cap_and_say_so() -> None:
    out = run({})
    assert [part(out, "under_min_isr", i) for i in (0, 1)] == [0, 0]
    assert out.get("kafka_insight_broker_min_isr_rule_info", broker_id="3", rule="capped", basis="assumed") == 1
    # Confluent Platform 7.6 on broker 3 (Apache Kafka 3.6)
    assert part(run({3: "7.6.1-ccs"}), "under_min_isr", 0) == 1


def test_a_broker_version_is_remembered_while_its_jmx_is_unreachable() -> None:
    step = DurabilityInterpreter()
    run({1: "3.6.1", 2: "3.6.1", 3: "3.6.1"}, step)
    out = run({1: "3.6.1"}, step)  # brokers 2 and 3 time out this cycle
    assert part(out, "under_min_isr", 0) == 1
    assert out.get("kafka_insight_broker_min_isr_rule_info", broker_id="3", rule="configured", basis="broker_version") == 1
