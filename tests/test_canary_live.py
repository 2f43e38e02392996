"""The durability canary against the real 3-node cluster (issue 19).

Broker kills and restarts are real (kill -9).  Every test restores all brokers and waits for
full ISRs at the end: the session cluster is shared with the other live tests.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from exporter.cycle import Collector
from exporter.sources.base import SourceError
from exporter.sources.canary.config import CanarySettings
from exporter.sources.canary.records import CanarySnapshot
from exporter.sources.canary.runner import CanaryRunner, plan_assignment
from exporter.sources.canary.source import CanarySource
from tests._exposition import Parsed
from tests.conftest import QUIET, RealKafka


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def restore(real_kafka: RealKafka) -> Iterator[RealKafka]:
    yield real_kafka
    status = real_kafka.run("status")
    for node in (1, 2, 3):
        if f"node {node}: up" not in status:
            start(real_kafka, node)
    real_kafka.wait_full_isr(timeout=120)


def start(kafka: RealKafka, node: int) -> None:
    """start_broker, tolerant of the script's start-up deadline on a loaded machine (a node
    whose controller quorum is still missing waits for it)."""
    try:
        kafka.start_broker(node)
    except RuntimeError as exc:
        if "timeout waiting" not in str(exc):
            raise
        kafka.wait_up([node], exc, timeout=180)


def snap(runner: CanaryRunner) -> CanarySnapshot:
    return runner.ledger.snapshot(time.time_ns())


def read_partition(bootstrap: str, topic: str, partition: int) -> tuple[dict[int, bytes], int]:
    """Everything in the partition now (offset -> value) and its high watermark, read by the
    test's own consumer."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}", "enable.auto.commit": False, **QUIET})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        found: dict[int, bytes] = {}
        consumer.assign([TopicPartition(topic, partition, low)])
        deadline = time.monotonic() + 30
        while len(found) < high - low and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found[msg.offset() or 0] = msg.value() or b""
        return found, high
    finally:
        consumer.close()


def isr(admin: AdminClient, topic: str, partition: int) -> tuple[int, list[int]]:
    try:
        p = admin.list_topics(topic, timeout=5).topics[topic].partitions[partition]
    except Exception:
        return -2, []
    return p.leader, sorted(p.isrs)


def test_unclean_election_loss_is_counted_exactly(restore: RealKafka) -> None:
    """RF 2, min ISR 1, unclean election on: the follower stops, the leader alone acknowledges,
    the leader stops, the stale follower becomes leader, the old leader comes back and
    truncates.  The canary's lost count must equal the test's own count."""
    kafka = restore
    topic = f"canary-loss-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, **QUIET})
    assignment = plan_assignment([1, 2, 3], 2)
    leader, follower = assignment[0]
    config = {"min.insync.replicas": "1", "unclean.leader.election.enable": "true"}
    admin.create_topics([NewTopic(topic, len(assignment), replica_assignment=assignment, config=config)])[topic].result(30)
    acks: list[tuple[int, int, bytes]] = []
    lock = threading.Lock()

    def on_ack(partition: int, offset: int, value: bytes) -> None:
        with lock:
            acks.append((partition, offset, value))

    settings = CanarySettings(enabled=True, topic=topic, records_per_second=5, create_topic=False, window_records=100000)
    runner = CanaryRunner(settings, kafka.bootstrap, QUIET, on_ack=on_ack)
    runner.start()
    try:
        wait_for("canary records read back", lambda: snap(runner).read.get((0, leader), 0) >= 5)
        kafka.kill_broker(follower)
        wait_for("the ISR to shrink to the leader", lambda: isr(admin, topic, 0) == (leader, [leader]), timeout=60)
        acked_by_leader_alone = len([a for a in acks if a[0] == 0])
        wait_for("writes acknowledged by the leader alone", lambda: len([a for a in acks if a[0] == 0]) >= acked_by_leader_alone + 15)
        kafka.kill_broker(leader)
        start(kafka, follower)
        wait_for("the stale follower to lead", lambda: isr(admin, topic, 0)[0] == follower, timeout=90)
        start(kafka, leader)
        wait_for("the old leader back in sync", lambda: isr(admin, topic, 0) == (follower, sorted([leader, follower])), timeout=90)
        time.sleep(3)  # let the canary read what was written since
        with lock:
            ours = list(acks)
        expected = 0
        for partition in (0, 1, 2):
            found, high = read_partition(kafka.bootstrap, topic, partition)
            expected += sum(1 for p, offset, value in ours if p == partition and (offset >= high or found.get(offset) != value))
        assert expected > 0, "the scenario lost nothing: the unclean election did not truncate"
        wait_for(
            f"the canary to count {expected} lost",
            lambda: sum(snap(runner).lost.values()) >= expected,
            timeout=30,
        )
        time.sleep(2)
        lost = snap(runner).lost
        assert sum(lost.values()) == expected, (lost, expected)
        assert {p for p, _, _ in lost} == {0}
    finally:
        runner.stop()


@pytest.mark.xfail(
    reason="open (issue 19): with two of three brokers killed on Kafka 4.0 the canary's writes to the survivor's "
    "partition failed with REQUEST_TIMED_OUT/_MSG_TIMED_OUT, never NOT_ENOUGH_REPLICAS, within 60 s (the non-retried "
    "classifier record mostly timed out too); the all-brokers-down step after it has not run live yet",
    strict=False,
)
def test_clean_failures_lose_nothing_refuse_writes_and_all_down_keeps_serving(restore: RealKafka) -> None:
    kafka = restore
    topic = f"canary-clean-{uuid.uuid4().hex[:6]}"
    settings = CanarySettings(enabled=True, topic=topic, records_per_second=5)  # created: RF 3, min ISR 2
    runner = CanaryRunner(settings, kafka.bootstrap, QUIET)
    source = CanarySource(runner)
    collector = Collector([source], [], interval=5, timeout=3)
    try:
        wait_for("every partition read back", lambda: len(snap(runner).newest_sent_ns) == 3)
        first = snap(runner)
        assert first.led == {1: 1, 2: 1, 3: 1}, "each broker leads one canary partition"
        # one broker down: RF 3 / min ISR 2 keeps acknowledging and loses nothing
        kafka.kill_broker(3)
        before = sum(snap(runner).acked.values())
        wait_for("acks with a broker down", lambda: sum(snap(runner).acked.values()) >= before + 30)
        # two brokers down: the ISR falls below min ISR and acks=all writes are refused
        kafka.kill_broker(2)

        def refused() -> bool:
            return any(e.startswith("NOT_ENOUGH_REPLICAS") for (_, _, e) in snap(runner).failures)

        try:
            wait_for("NOT_ENOUGH_REPLICAS produce failures", refused, timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; failures seen: {snap(runner).failures}") from None
        assert snap(runner).led.get(1, 0) >= 1
        # all brokers down: the canary says so, the exporter keeps rendering
        kafka.kill_broker(1)

        def down() -> bool:
            try:
                source.collect()
            except SourceError:
                return True
            return False

        wait_for("the canary to report the cluster unreachable", down, timeout=60)
        collector.collect_once()
        parsed = Parsed(collector.exposition.body.decode())
        assert parsed.value("kafka_insight_source_up", source="canary", target=topic) == 0
    finally:
        for node in (1, 2, 3):
            if f"node {node}: up" not in kafka.run("status"):
                start(kafka, node)
    try:
        kafka.wait_full_isr(timeout=120)
        wait_for("the canary back", lambda: _up(source), timeout=60)
        after = sum(snap(runner).read.values())
        wait_for("reads after the restart", lambda: sum(snap(runner).read.values()) > after + 10)
        assert sum(snap(runner).lost.values()) == 0, snap(runner).lost
        assert not snap(runner).duplicated and not snap(runner).out_of_order
    finally:
        collector.stop()
        runner.stop()


def _up(source: CanarySource) -> bool:
    try:
        source.collect()
    except SourceError:
        return False
    return True
