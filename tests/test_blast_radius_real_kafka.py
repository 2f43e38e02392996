"""Blast radius (issue 15) against what really happens on the real 3-node Kafka 4.0 cluster.

One scenario, two failures:

1. **Broker 1 killed** (not broker 3: the other tests always kill 3). The blast radius of
   broker 1 (and of its rack r1, one broker per rack here) predicted in the cycle before the
   kill must equal the partitions that then went offline or under min ISR, as the exporter's
   own flags report them once the controller has fenced the broker (flags that the durability
   test checks against the brokers' JMX). Partitions whose ISR changed for another reason
   between the two cycles are measured and left out, and must be few.
2. **Broker 2 killed as well** — the loss of a rack holding brokers 1 and 2. Its prediction
   (made with every broker up, racks relabelled so that 1 and 2 share one) is checked with real
   acks=all writes through broker 3: every partition predicted to break refuses them. Two of
   three combined broker/controller nodes down also lose the KRaft quorum, which the model
   leaves out (no leader election, no ISR shrink): more partitions break than predicted (seen:
   one more, or every one, even those only on broker 3), and the test records which ones
   without asserting on them.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from confluent_kafka import KafkaError, Producer

from exporter import config
from exporter.app import build_collector
from exporter.cycle import Collector, Snapshot
from exporter.interpret.blast_radius import BlastRadius, blast_radius
from exporter.sources.admin.records import ClusterState
from tests._exposition import Parsed
from tests.conftest import QUIET, RealKafka, create_topic

TOPICS = {  # name: (partitions, RF, min.insync.replicas)
    "blast-rf3-min2": (3, 3, "2"),
    "blast-rf3-min3": (3, 3, "3"),
    "blast-rf2-min1": (3, 2, "1"),
    "blast-rf2-min2": (3, 2, "2"),
    "blast-rf1": (3, 1, "1"),
}
Key = tuple[str, int]


def collector_for(cluster: RealKafka) -> Collector:
    return build_collector(
        config.load(
            None,
            {
                "kafka.bootstrap_servers": cluster.bootstrap,
                "kafka.request_timeout_seconds": 5,
                "collection.interval_seconds": 20,
                "collection.timeout_seconds": 12,
                "filters.topics.include_internal": True,  # internal topics count
            },
        )
    )


def cycle(collector: Collector) -> tuple[Snapshot, ClusterState]:
    snap = collector.collect_once()
    state = snap.admin
    assert isinstance(state, ClusterState), [r.error for r in snap.results]
    return snap, state


def flagged(collector: Collector, name: str) -> set[Key]:
    """Partitions whose 0/1 family ``name`` is 1 in the collector's current exposition."""
    m = Parsed(collector.exposition.body)
    return {(labels["topic"], int(labels["partition"])) for labels, value in m.series(name) if value == 1}


def isrs(state: ClusterState) -> dict[Key, frozenset[int]]:
    return {(t.name, p.partition): frozenset(p.isr) for t in state.topics.values() for p in t.partitions}


def settled(state: ClusterState, gone: set[int]) -> bool:
    """The controller has fenced ``gone``: no broker of it listed, in no ISR of a partition with a leader."""
    live = {b.id for b in state.brokers}
    return not (live & gone) and all(
        not (set(p.isr) & gone) for t in state.topics.values() for p in t.partitions if p.leader >= 0
    )


def acks_all_writes(bootstrap: str, keys: list[Key], timeout: float = 12) -> dict[Key, bool]:
    """One acks=all record to each partition; True where it was acknowledged."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": int(timeout * 1000), "linger.ms": 0, **QUIET}
    )
    result: dict[Key, bool] = {}

    def done(key: Key) -> Any:
        def report(err: KafkaError | None, _msg: Any) -> None:
            result[key] = err is None

        return report

    for key in keys:
        producer.produce(key[0], b"blast-radius probe", partition=key[1], on_delivery=done(key))
    producer.flush(timeout + 10)
    return result


def broken_writes(radius: BlastRadius, rack: str) -> set[Key]:
    return radius.racks[rack].broken("acks_all_writes")


def test_predicted_blast_radius_matches_real_broker_failures(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    for name, (parts, rf, min_isr) in TOPICS.items():
        create_topic(b, name, parts, rf, {"min.insync.replicas": min_isr}, exist_ok=True)
    ours = {(name, p) for name, (parts, _, _) in TOPICS.items() for p in range(parts)}
    collector = collector_for(real_kafka)
    killed: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while True:  # freshly created topics: wait until their metadata and ISRs are complete
            snap, before = cycle(collector)
            if ours <= set(isrs(before)) and all(len(isrs(before)[k]) == TOPICS[k[0]][1] for k in ours):
                break
            assert time.monotonic() < deadline, "the test topics' ISRs did not fill"
            time.sleep(1)
        radius: BlastRadius = snap.derived["blast_radius"]
        predicted = {o: set(keys) for o, keys in radius.brokers[1].partitions.items()}
        assert radius.rack_of[1] == "r1" and radius.racks["r1"].partitions == radius.brokers[1].partitions
        offline_before, under_before = (
            flagged(collector, "kafka_insight_partition_offline"),
            flagged(collector, "kafka_insight_partition_under_min_isr"),
        )
        # the prediction says something about our topics: RF 1 on broker 1 goes offline, min ISR = RF goes under
        assert {k for k in predicted["offline"] if k[0] == "blast-rf1"}
        assert {k for k in predicted["under_min_isr"] if k[0] in ("blast-rf3-min3", "blast-rf2-min2")}
        # ...and the rack of brokers 1 and 2, predicted now, with every broker up
        paired = dataclasses.replace(
            before, brokers=[dataclasses.replace(x, rack="rA" if x.id in (1, 2) else "rB") for x in before.brokers]
        )
        rack_radius = blast_radius(paired, {name: t.configs for name, t in before.topics.items()})
        assert rack_radius.racks["rA"].failed == frozenset({1, 2})

        real_kafka.kill_broker(1)
        killed.append(1)
        deadline = time.monotonic() + 90
        while True:
            # a cycle may fail while the cluster reacts (a request to the dead broker times out)
            after = collector.collect_once().admin
            if isinstance(after, ClusterState) and settled(after, {1}):
                break
            assert time.monotonic() < deadline, "broker 1 was not fenced out of the ISRs"
            time.sleep(1)
        # ISR changes other than broker 1 leaving (a follower lagging meanwhile) are measured, not guessed
        old, new = isrs(before), isrs(after)
        other = {k for k in old.keys() & new.keys() if new[k] != old[k] - {1} and not (new[k] == old[k] == {1})}
        assert len(other) <= len(old) // 10, other
        offline = flagged(collector, "kafka_insight_partition_offline") - offline_before - other
        under = flagged(collector, "kafka_insight_partition_under_min_isr") - under_before - other
        assert offline == predicted["offline"] - other
        assert under == predicted["under_min_isr"] - other
        assert predicted["no_insync_copy"] == predicted["offline"]  # no unclean election configured

        # the rack of 1 and 2 loses power: broker 2 too (and with it the controller quorum)
        real_kafka.kill_broker(2)
        killed.append(2)
        time.sleep(2)
        third = f"127.0.0.1:{real_kafka.client_port(3)}"
        written = acks_all_writes(third, sorted(ours))
        assert set(written) == ours
        refused = {k for k, ok in written.items() if not ok}
        predicted_broken = broken_writes(rack_radius, "rA") & ours
        assert predicted_broken and predicted_broken <= refused, predicted_broken - refused
        # beyond the prediction, the lost quorum decides (no election, no ISR shrink, the
        # survivor may stop serving): recorded, not asserted. Seen: 1 partition more, or all.
        beyond = sorted(refused - predicted_broken)
        print(f"broken beyond the prediction (controller quorum lost): {len(beyond)} of {len(ours)}: {beyond}")
    finally:
        collector.stop()
        restart_errors = []
        for node in killed:  # every one of them, even if one start reports a failure
            try:
                real_kafka.start_broker(node)
            except Exception as exc:
                restart_errors.append(exc)
        if killed:
            real_kafka.wait_up(killed, restart_errors[0] if restart_errors else RuntimeError("brokers did not start"), 300)
            real_kafka.wait_full_isr(timeout=300)
