"""A broker crash must not blank the Admin-API view (issue 13 item 7), live on the real cluster.

Reproduced before the fix (3 nodes, ``collection.interval_seconds: 10``): after ``kill -9`` of a
broker, every cycle until the controller fenced it ended in "timed out after 10 s" -
``source_up{source="admin"}`` 0 and every admin-derived series absent for 20-50 s, exactly
while partitions were under-replicated or offline.  The requests that wait on the dead broker
are the ones sent to it: ``list_consumer_groups`` (asks every broker), ``describe_configs`` /
``describe_topics`` / ``describe_cluster`` (librdkafka sends them to the metadata's
"controller", an arbitrary broker), the groups it coordinates and the offsets of the
partitions it still leads.  The metadata itself answers at once.

The victim is not broker 3 (the other live tests' victim) but broker 1 or 2, whichever
coordinates a consumer group of the test; it also leads partitions of both test topics
(explicit replica assignments) and holds the only replica of one RF 1 partition.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from exporter import config
from exporter.cycle import Collector
from exporter.interpret.durability import DurabilityInterpreter
from exporter.sources.admin.source import AdminSource
from tests._exposition import Parsed
from tests.conftest import QUIET, RealKafka, commit_offsets, produce_exactly
from tests.test_resilience import start_broker

INTERVAL = 10.0
#: the partition flags the durability alerts read (alerts/kafka-insight-rules.yml)
FLAGS = (
    "kafka_insight_partition_offline",
    "kafka_insight_partition_under_replicated",
    "kafka_insight_partition_under_min_isr",
    "kafka_insight_partition_at_min_isr",
    "kafka_insight_partition_leader",
)


def _create(bootstrap: str, name: str, assignment: list[list[int]], configs: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    for future in admin.create_topics([NewTopic(name, len(assignment), replica_assignment=assignment, config=configs)], request_timeout=15).values():
        future.result()


def _coordinators(bootstrap: str, groups: list[str]) -> dict[str, int]:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    found = {}
    for gid, future in admin.describe_consumer_groups(groups, request_timeout=10).items():
        found[gid] = future.result().coordinator.id
    return found


@pytest.fixture
def victim_restarted(real_kafka: RealKafka) -> Iterator[list[int]]:
    killed: list[int] = []
    yield killed
    for node in killed:
        start_broker(real_kafka, node)
    real_kafka.wait_full_isr()


def test_broker_crash_keeps_every_partition_flag_in_every_cycle(real_kafka: RealKafka, victim_restarted: list[int]) -> None:
    b = real_kafka.bootstrap
    tag = uuid.uuid4().hex[:6]
    rf3, rf1 = f"outage-rf3-{tag}", f"outage-rf1-{tag}"
    # every broker leads two RF 3 partitions; the RF 1 topic has one partition per broker
    _create(b, rf3, [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 3, 2], [2, 1, 3], [3, 2, 1]], {"min.insync.replicas": "2"})
    _create(b, rf1, [[1], [2], [3]], {})
    for pid in range(6):
        produce_exactly(b, rf3, pid, 2)
    for pid in range(3):
        produce_exactly(b, rf1, pid, 2)
    # a test before may have restarted brokers, leaving __consumer_offsets led by the broker that
    # came back first (Kafka moves leaders back only every 5 min): no group would then be
    # coordinated by broker 1 or 2 (seen once, after the mixin test's outage)
    admin = AdminClient({"bootstrap.servers": b, **QUIET})
    meta = admin.list_topics("__consumer_offsets", timeout=15).topics["__consumer_offsets"]
    offsets_topic = [TopicPartition("__consumer_offsets", p) for p in meta.partitions]
    admin.elect_leaders(ElectionType.PREFERRED, offsets_topic).result(timeout=30)  # per partition: done or not needed
    # groups until one is coordinated by broker 1 or 2 (its __consumer_offsets partition's leader)
    groups: list[str] = []
    coordinators: dict[str, int] = {}
    victim = 0
    committed = {(rf3, 0): 1, (rf3, 1): 1, (rf3, 2): 1, (rf1, 0): 1, (rf1, 1): 1, (rf1, 2): 1}
    for i in range(15):
        gid = f"outage-{tag}-{i}"
        commit_offsets(b, gid, committed)
        groups.append(gid)
        coordinators = _coordinators(b, groups)
        if any(c in (1, 2) for c in coordinators.values()) and len(set(coordinators.values())) > 1:
            victim = next(c for c in coordinators.values() if c in (1, 2))
            break
    assert victim, f"no test group is coordinated by broker 1 or 2 and another by a survivor: {coordinators}"
    survivor_groups = [g for g, c in coordinators.items() if c != victim]
    rf1_on_victim = victim - 1  # partition i of the RF 1 topic lives on broker i + 1

    cfg = config.load(
        None,
        {"kafka.bootstrap_servers": b, "collection.interval_seconds": INTERVAL, "filters.topics.include": [f"outage-.*-{tag}"]},
    )
    collector = Collector([AdminSource(cfg)], [DurabilityInterpreter()], interval=cfg.interval, timeout=cfg.timeout)
    partitions = [(rf3, p) for p in range(6)] + [(rf1, p) for p in range(3)]

    def cycle() -> Parsed:
        began = time.monotonic()
        collector.collect_once()
        m = Parsed(collector.exposition.body)
        time.sleep(max(0.0, INTERVAL - (time.monotonic() - began)))  # the configured interval, as in production
        return m

    try:
        m = cycle()
        assert m.value("kafka_insight_source_up", source="admin", target=b) == 1
        assert all(m.value(name, topic=t, partition=p) is not None for name in FLAGS for t, p in partitions)

        real_kafka.kill_broker(victim)
        victim_restarted.append(victim)
        killed_at = time.monotonic()
        seen: list[str] = []
        settled = 0
        groups_read = 0
        errors_seen: set[str] = set()
        while time.monotonic() - killed_at < 90:
            m = cycle()
            age = time.monotonic() - killed_at
            leaders = {(t, p): m.value("kafka_insight_partition_leader", topic=t, partition=p) for t, p in partitions}
            seen.append(
                f"victim {victim} +{age:.0f}s up={m.value('kafka_insight_source_up', source='admin', target=b)} "
                f"brokers={m.value('kafka_insight_brokers')} leaders={sorted(set(leaders.values()), key=str)} "
                f"errors={[(labels['request'], v) for labels, v in m.series('kafka_insight_admin_request_errors') if v]}"
            )
            # every cycle of the outage: the source is up and every partition keeps every flag the alerts read
            assert m.value("kafka_insight_source_up", source="admin", target=b) == 1, seen
            assert m.series("kafka_insight_cluster_info"), seen  # the alerts join on it
            missing = [f"{name}{{{t},{p}}}" for name in FLAGS for t, p in partitions if m.value(name, topic=t, partition=p) is None]
            assert not missing, (seen, missing)
            # what the survivors answered is there: offsets of partitions they lead, their groups' lag
            for (t, p), leader in leaders.items():
                if leader not in (None, -1, victim):
                    assert m.value("kafka_insight_partition_log_end_offset", topic=t, partition=p) == 2, (seen, t, p)
            errors = {labels["request"]: v for labels, v in m.series("kafka_insight_admin_request_errors")}
            errors_seen.update(r for r, v in errors.items() if v)
            present = [g for g in survivor_groups if m.series("kafka_insight_consumer_group_state", group=g)]
            if len(present) < len(survivor_groups):
                # groups missing this cycle (the worker died in their requests, or they were
                # not answered by the deadline) are counted, never silently gone
                assert errors.get("describe_consumer_groups", 0) + errors.get("list_consumer_groups", 0) >= 1, (seen, errors)
            else:
                groups_read += 1
            for gid in present:
                for t, p in committed:
                    assert m.value("kafka_insight_consumer_group_committed_offset", group=gid, topic=t, partition=p) == 1, seen
                    if leaders[(t, p)] not in (None, -1, victim):
                        assert m.value("kafka_insight_consumer_group_partition_lag", group=gid, topic=t, partition=p) == 1, seen
            # what the dead broker would have answered is absent, not stale, and counted
            if m.value("kafka_insight_brokers") == 2 and victim not in leaders.values():
                settled += 1
                assert m.value("kafka_insight_partition_offline", topic=rf1, partition=rf1_on_victim) == 1
                assert m.value("kafka_insight_partition_log_end_offset", topic=rf1, partition=rf1_on_victim) is None
                assert sum(m.value("kafka_insight_partition_under_replicated", topic=rf3, partition=p) or 0 for p in range(6)) == 6
                if settled >= 2 and age > 3 * INTERVAL:
                    break
        print("\n".join(seen))  # the outage cycle by cycle (pytest -s)
        assert settled >= 2, seen
        assert groups_read >= 1, seen  # the survivors' groups came back within the outage
        # the requests to the dead broker were cut off and counted (its offsets at least)
        assert errors_seen, seen
    finally:
        collector.stop()
