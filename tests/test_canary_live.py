"""The durability canary against the real 3-node cluster (issue 19).

Broker kills and restarts are real (kill -9).  Every test restores all brokers and waits for
full ISRs at the end: the session cluster is shared with the other live tests.
"""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from exporter.cycle import Collector
from exporter.sources.canary.config import CanarySettings
from exporter.sources.canary.records import CanaryRecord, CanarySnapshot
from exporter.sources.canary.runner import CanaryRunner, plan_assignment
from exporter.sources.canary.source import CanarySource
from tests._exposition import Parsed
from tests._serving import serve
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


def order_in_log(bootstrap: str, topic: str, session: str, partition: int) -> tuple[int, int]:
    """(duplicated, out of order) canary records of ``session`` in the partition, read by the
    test's own consumer in offset order: a sequence number seen before is a duplicate; else one
    below the highest seen so far is out of order (refusal probes, sequence -1, are skipped)."""
    found, _ = read_partition(bootstrap, topic, partition)
    seen: set[int] = set()
    top = -1
    duplicated = out_of_order = 0
    for offset in sorted(found):
        record = CanaryRecord.decode(found[offset])
        if record is None or record.session != session or record.sequence < 0:
            continue
        if record.sequence in seen:
            duplicated += 1
        elif record.sequence < top:
            out_of_order += 1
        seen.add(record.sequence)
        top = max(top, record.sequence)
    return duplicated, out_of_order


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


def set_min_isr(admin: AdminClient, topic: str, value: int) -> None:
    resource = ConfigResource(
        "topic", topic, incremental_configs=[ConfigEntry("min.insync.replicas", str(value), incremental_operation=AlterConfigOpType.SET)]
    )
    admin.incremental_alter_configs([resource])[resource].result(30)


def refused(runner: CanaryRunner) -> dict[int, set[int]]:
    """partition -> brokers whose refusal probes were answered NOT_ENOUGH_REPLICAS*."""
    found: dict[int, set[int]] = {}
    for p, b, error in snap(runner).probe_failures:
        if error.startswith("NOT_ENOUGH_REPLICAS"):
            found.setdefault(p, set()).add(b)
    return found


def metrics_over_http(base: str) -> Parsed:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as answer:
        assert answer.status == 200
        return Parsed(answer.read())


def test_clean_failures_lose_nothing_refuse_writes_and_all_down_keeps_serving(restore: RealKafka) -> None:
    """RF 3 / min ISR 2 (the canary's defaults), 5 records per partition per second, a refusal
    probe per partition every second.

    1. One broker killed: the controller fences it, every ISR is the two others, the canary keeps
       being acknowledged on every partition and loses nothing.
    2. ISR below min ISR: every partition's leader must refuse acks=all writes with
       NOT_ENOUGH_REPLICAS and the canary must label them so, per partition and leader.  On this
       3-node cluster of combined broker+controller nodes a second dead NODE also takes the KRaft
       quorum, and without a controller no ISR can shrink (step 3), so the ISR (2) is put below
       min ISR by raising the topic's min.insync.replicas to 3: the same leader check a second
       lost broker trips on a cluster whose controllers survive.
    3. Two nodes killed (quorum lost): Kafka does not refuse, the survivor's partitions time out;
       the canary counts those failures under the error Kafka gives and acknowledges nothing.
    4. All nodes killed: source_up{source="canary"} is 0 and /metrics keeps being served.
    5. All back: the canary recovers, nothing acknowledged was lost, nothing reordered.
    """
    kafka = restore
    topic = f"canary-clean-{uuid.uuid4().hex[:6]}"
    settings = CanarySettings(enabled=True, topic=topic, records_per_second=5, probe_interval=1.0)  # created: RF 3, min ISR 2
    client = {**QUIET, "reconnect.backoff.ms": "500", "reconnect.backoff.max.ms": "2000"}
    runner = CanaryRunner(settings, kafka.bootstrap, client)
    source = CanarySource(runner, stale_after=3)
    collector = Collector([source], [], interval=1, timeout=3)
    server = serve(collector)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    collector.start()
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, **QUIET})
    try:
        wait_for("every partition read back", lambda: len(snap(runner).newest_sent_ns) == 3)
        assert snap(runner).led == {1: 1, 2: 1, 3: 1}, "each broker leads one canary partition"
        assert not refused(runner) and snap(runner).probes

        # 1. one broker down: RF 3 / min ISR 2 keeps acknowledging every partition, loses nothing
        kafka.kill_broker(3)
        wait_for(
            "the controller to fence node 3 (every ISR the two others)",
            lambda: all(isr(admin, topic, p)[1] == [1, 2] for p in (0, 1, 2)),
            timeout=60,
        )
        def acked() -> dict[int, int]:
            per_partition: dict[int, int] = {}
            for (p, _), n in snap(runner).acked.items():
                per_partition[p] = per_partition.get(p, 0) + n
            return per_partition

        def acked_everywhere(since: dict[int, int], more: int) -> bool:
            now = acked()
            return all(now.get(p, 0) >= since.get(p, 0) + more for p in (0, 1, 2))

        before = acked()
        wait_for("acks on every partition with a broker down", lambda: acked_everywhere(before, 10), timeout=30)
        assert not refused(runner)

        # 2. ISR (2) below min ISR (3): refused, labelled per partition and its leader
        leaders = {p: isr(admin, topic, p)[0] for p in (0, 1, 2)}
        set_min_isr(admin, topic, 3)

        def refused_by_leaders() -> bool:
            found = refused(runner)
            return all(leaders[p] in found.get(p, set()) for p in (0, 1, 2))

        try:
            wait_for("NOT_ENOUGH_REPLICAS from every partition's leader", refused_by_leaders, timeout=30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; leaders {leaders}, failures: {snap(runner).failures}") from None
        set_min_isr(admin, topic, 2)
        # new acks on every partition, counted from now: every leader has applied min ISR 2 (a
        # count from before step 2 could already be reached by step 1's backlog of retried
        # records; killing node 2 next, before node 1 applied the change, takes the quorum
        # with it and leaves node 1 refusing at min ISR 3 for good: seen once in CI)
        reset = acked()
        wait_for("acks again at min ISR 2", lambda: acked_everywhere(reset, 5), timeout=30)
        assert sum(snap(runner).lost.values()) == 0

        # 3. two nodes down: no controller quorum, no ISR shrink: Kafka times out instead of refusing
        survivor = sorted(p for p, b in leaders.items() if b == 1)
        kafka.kill_broker(2)
        stalled = sum(snap(runner).acked.values())
        before_kill = dict(snap(runner).probe_failures)

        def new_failures(p: int) -> dict[str, int]:
            found: dict[str, int] = {}
            for key, n in snap(runner).probe_failures.items():
                if key[0] == p and n > before_kill.get(key, 0):
                    found[key[2]] = found.get(key[2], 0) + n - before_kill.get(key, 0)
            return found

        wait_for("timed-out probes on the survivor's partitions", lambda: all(new_failures(p) for p in survivor), timeout=45)
        for p in survivor:  # timed out (broker or client side), never refused
            assert all("TIMED_OUT" in error for error in new_failures(p)), new_failures(p)
        # no controller: the ISR cannot shrink (asked until the admin client reaches the survivor)
        wait_for("the survivor's ISR", lambda: isr(admin, topic, survivor[0])[1] == [1, 2], timeout=20)
        assert sum(snap(runner).acked.values()) <= stalled + 15, "acks=all acknowledged without a second replica"

        # 4. all brokers down: the canary says so, the exporter keeps serving
        kafka.kill_broker(1)
        wait_for(
            "source_up{source=canary} 0 on /metrics",
            lambda: metrics_over_http(base).value("kafka_insight_source_up", source="canary", target=topic) == 0,
            timeout=60,
        )
        assert metrics_over_http(base).value("kafka_insight_source_up", source="canary", target=topic) == 0
    finally:
        with ThreadPoolExecutor(3) as pool:  # the quorum needs two nodes back before one is ready
            list(pool.map(lambda node: start(kafka, node), [n for n in (1, 2, 3) if f"node {n}: up" not in kafka.run("status")]))
    try:
        kafka.wait_full_isr(timeout=180)
        wait_for("the canary back on /metrics", lambda: metrics_over_http(base).value("kafka_insight_source_up", source="canary", target=topic) == 1, timeout=60)
        after = sum(snap(runner).read.values())
        wait_for("reads after the restart", lambda: sum(snap(runner).read.values()) > after + 15, timeout=60)
        final = snap(runner)
        assert sum(final.lost.values()) == 0, final.lost
        # duplicates and reordering as the test's own consumer finds them in the log, against the
        # canary's counts (both should be 0: the canary never re-sends, and an idempotent
        # producer replaced after a fatal error continues the sequence numbers)
        truth = {p: order_in_log(kafka.bootstrap, topic, runner.session, p) for p in (0, 1, 2)}
        counted = {p: (final.duplicated.get(p, 0), final.out_of_order.get(p, 0)) for p in (0, 1, 2)}
        assert counted == truth, f"canary (duplicated, out of order) {counted}, the log {truth}"
        assert truth == {p: (0, 0) for p in (0, 1, 2)}, f"the log holds duplicated or reordered canary records: {truth}"
    finally:
        collector.stop()
        server.shutdown()
        runner.stop()
