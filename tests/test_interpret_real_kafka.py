"""Derived gauges live on the real 3-node Apache Kafka 4.0 cluster (shared/kafka).

* durability flags follow the brokers' own UnderMinIsrPartitionCount/AtMinIsrPartitionCount
  through a broker crash: tests/test_broker_crash_real_kafka.py (one crash shared with other
  views), with the topics, collector and polling defined here;
* committed offsets beyond the log end and below the log start (delete_records), exact;
* a consumer committing continuously never trips the beyond-log-end flag.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from exporter import config
from exporter.app import build_collector
from exporter.cycle import Collector
from exporter.demo.broker import free_port
from exporter.interpret.offsets import GROUP_STATUSES
from tests._exposition import Parsed
from tests.conftest import KAFKA_BIN, QUIET, RealKafka, collect_until, commit_offsets, create_topic, produce_exactly

TOPICS = {  # name: (partitions, RF, min.insync.replicas)
    "interp-rf2-min1": (3, 2, "1"),
    "interp-rf3-min2": (3, 3, "2"),
    "interp-rf3-min3": (3, 3, "3"),
    "interp-minisr-over-rf": (3, 2, "3"),
}


def placements(admin: AdminClient, timeout: float = 30) -> dict[str, list[list[int]]]:
    """Replica lists per topic, once the metadata of freshly created topics has propagated
    (right after create_topics a broker can answer with no partitions yet)."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            name: [list(p.replicas) for _, p in sorted(admin.list_topics(name, timeout=10).topics[name].partitions.items())]
            for name in TOPICS
        }
        if all(len(found[name]) == parts for name, (parts, _, _) in TOPICS.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def collector_for(cluster: RealKafka, jmx: bool = False) -> Collector:
    overrides: dict[str, Any] = {
        "kafka.bootstrap_servers": cluster.bootstrap,
        "kafka.request_timeout_seconds": 5,
        "collection.interval_seconds": 20,
        "collection.timeout_seconds": 12,
        "filters.topics.include_internal": True,
    }
    if jmx:
        targets = [f"127.0.0.1:{cluster.jmx_port(n)}" for n in (1, 2, 3)]
        overrides["jmx"] = {"timeout_seconds": 8.0, "brokers": {"targets": targets}}
    return build_collector(config.load(None, overrides))


def scrape(collector: Collector) -> Parsed:
    collector.collect_once()
    return Parsed(collector.exposition.body)


def brokers_view(m: Parsed) -> tuple[float, float]:
    under = sum(v for _, v in m.series("kafka_insight_broker_under_min_isr_partitions"))
    at = sum(v for _, v in m.series("kafka_insight_broker_at_min_isr_partitions"))
    return under, at


def ours(m: Parsed) -> tuple[float | None, float | None]:
    return m.value("kafka_insight_cluster_under_min_isr_partitions"), m.value("kafka_insight_cluster_at_min_isr_partitions")


def poll(collector: Collector, done: Any, timeout: float = 90) -> Parsed:
    """Collect until our counts equal the brokers' own and ``done(m)``; the last scrape otherwise."""
    return collect_until(collector, lambda m: ours(m) == brokers_view(m) and done(m), timeout)


def flags(m: Parsed, topic: str, name: str) -> list[float]:
    return [m.value(name, topic=topic, partition=p) or 0 for p in range(TOPICS[topic][0])]


def test_lost_data_signals_and_a_busy_consumer(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    topic = f"interp-loss-{uuid.uuid4().hex[:6]}"
    create_topic(b, topic, 1, 3, {"min.insync.replicas": "2"})
    produce_exactly(b, topic, 0, 100)
    commit_offsets(b, f"{topic}-beyond", {(topic, 0): 600})  # log end 100 + 500
    commit_offsets(b, f"{topic}-below", {(topic, 0): 10})
    admin = AdminClient({"bootstrap.servers": b, **QUIET})
    for future in admin.delete_records([TopicPartition(topic, 0, 50)], request_timeout=15).values():
        future.result()
    collector = collector_for(real_kafka)
    busy = f"{topic}-busy"
    stop = threading.Event()
    errors: list[str] = []

    def produce() -> None:
        producer = Producer({"bootstrap.servers": b, "linger.ms": 0, **QUIET})
        while not stop.is_set():
            producer.produce(topic, b"x", partition=0)
            producer.poll(0)
            time.sleep(0.002)
        producer.flush(10)

    def consume() -> None:
        consumer = Consumer(
            {"bootstrap.servers": b, "group.id": busy, "enable.auto.commit": False, "auto.offset.reset": "earliest", **QUIET}
        )
        consumer.subscribe([topic])
        try:
            while not stop.is_set():
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    consumer.commit(message=msg, asynchronous=False)
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            consumer.close()

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    try:
        m = scrape(collector)
        beyond = {"group": f"{topic}-beyond", "topic": topic, "partition": 0}
        below = {"group": f"{topic}-below", "topic": topic, "partition": 0}
        assert m.value("kafka_insight_consumer_group_offset_beyond_log_end", **beyond) == 1
        assert m.value("kafka_insight_consumer_group_offset_beyond_log_end_messages", **beyond) == 500
        assert m.value("kafka_insight_consumer_group_offset_below_log_start", **below) == 1
        assert m.value("kafka_insight_consumer_group_offset_below_log_start_messages", **below) == 40  # 50 - 10
        assert m.value("kafka_insight_consumer_group_offset_beyond_log_end", **below) == 0
        assert m.value("kafka_insight_consumer_group_offset_beyond_log_end_messages", **below) is None  # only while > 0
        assert m.value("kafka_insight_consumer_group_offset_below_log_start_messages", **beyond) is None
        for t in threads:
            t.start()
        # a consumer committing after every message while a producer writes: never beyond the end
        seen = 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = scrape(collector)
            flag = m.value("kafka_insight_consumer_group_offset_beyond_log_end", group=busy, topic=topic, partition=0)
            if flag is not None:
                seen += 1
                assert flag == 0, m.value(
                    "kafka_insight_consumer_group_offset_beyond_log_end_messages", group=busy, topic=topic, partition=0
                )
            time.sleep(0.2)
        assert seen >= 5, seen
        assert errors == []
        assert m.value("kafka_insight_cluster_log_end_offset_regressions_total") == 0
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(15)
        collector.stop()


# -- a real Java producer over JMX (P2/P4/P5) -------------------------------------------------
def _perf_producer(bootstrap: str, topic: str, jmx_port: int, log_dir: str, props: list[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        JMX_PORT=str(jmx_port),
        KAFKA_HEAP_OPTS="-Xmx128m",
        LOG_DIR=log_dir,
        KAFKA_JMX_OPTS=(
            "-Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false "
            "-Dcom.sun.management.jmxremote.ssl=false -Djava.rmi.server.hostname=127.0.0.1 "
            f"-Dcom.sun.management.jmxremote.rmi.port={jmx_port}"
        ),
    )
    args = ["--topic", topic, "--num-records", "10000000", "--record-size", "800", "--throughput", "2000"]
    return subprocess.Popen(
        [
            str(KAFKA_BIN / "kafka-producer-perf-test.sh"),
            *args,
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            *props,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_java_producer_compression_batching_and_reordering(real_kafka: RealKafka) -> None:
    """zstd, batch.size 32768, acks=1 without idempotence, into a topic whose compression.type is gzip.

    (kafka-producer-perf-test sends random letters: zstd and gzip compress them, lz4 does not.)
    """
    b = real_kafka.bootstrap
    topic = "interp-live-gzip-topic"
    create_topic(b, topic, 3, 3, {"compression.type": "gzip"}, exist_ok=True)
    port = free_port()
    declared = {"batch.size": "32768", "linger.ms": "20", "compression.type": "zstd", "acks": "1", "enable.idempotence": "false"}
    with tempfile.TemporaryDirectory() as logs:
        producer = _perf_producer(b, topic, port, logs, ["client.id=interp-p1", *(f"{k}={v}" for k, v in declared.items())])
        overrides: dict[str, Any] = {
            "kafka.bootstrap_servers": b,
            "collection.interval_seconds": 20,
            "collection.timeout_seconds": 12,
            "jmx": {
                "timeout_seconds": 8.0,
                "clients": {"targets": [{"address": f"127.0.0.1:{port}", "name": "p", "settings": declared}]},
            },
        }
        collector = build_collector(config.load(None, overrides))
        key = {"target": "p", "client_id": "interp-p1"}
        java = {**key, "client_kind": "java"}
        try:
            deadline = time.monotonic() + 90  # a cap: about 15 s on an idle machine
            while True:
                m = scrape(collector)
                if m.value("kafka_insight_producer_compression_savings_ratio", **java) is not None or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert producer.poll() is None, "the perf producer exited early"
            saving = m.value("kafka_insight_producer_compression_savings_ratio", **java)
            rate = m.value("kafka_insight_producer_compressed_size_ratio", **key)
            batch = m.value("kafka_insight_producer_batch_size_avg_bytes", **key)
            assert saving is not None and rate is not None and batch is not None, m.series(
                "kafka_insight_producer_compression_savings_ratio"
            )
            assert 0 < saving < 1  # random letters compress, not to nothing
            assert saving == pytest.approx(1 - rate)
            assert m.value("kafka_insight_producer_batch_fill_ratio", **java) == pytest.approx(min(1.0, batch / 32768))
            assert m.value("kafka_insight_producer_batch_size_limit_bytes", **java, origin="declared") == 32768
            raw = m.value("kafka_insight_producer_batch_uncompressed_size_estimate_bytes", **java)
            assert raw == pytest.approx(batch / rate) and raw > batch
            # the topic says gzip, the producer sends zstd: the broker recompresses
            assert m.value("kafka_insight_producer_topic_codec_mismatch", **java, topic=topic) == 1
            assert m.value("kafka_insight_producer_reordering_risk", **key, basis="declared", verdict="reorders") == 1
            assert m.value("kafka_insight_producer_reordering_risk", **key, basis="declared", verdict="safe") == 0
        finally:
            collector.stop()
            if producer.poll() is None:
                os.killpg(producer.pid, signal.SIGKILL)
            producer.wait(10)


# -- lag seconds and group status over time (issue 13 items 2 and 3) -------------------------
def short_cycle_collector(cluster: RealKafka, **extra: Any) -> Collector:
    """Collections driven by the test every 2 s or so (collect_once); generous timeouts, as
    a loaded machine makes Admin requests slow (a timed-out cycle only delays the test)."""
    overrides: dict[str, Any] = {
        "kafka.bootstrap_servers": cluster.bootstrap,
        "kafka.request_timeout_seconds": 5,
        "collection.interval_seconds": 10,
        "collection.timeout_seconds": 10,
        **extra,
    }
    return build_collector(config.load(None, overrides))


def test_lag_seconds_after_a_burst_then_quiet_is_the_age_of_the_burst(real_kafka: RealKafka) -> None:
    """200 messages in a burst, then nothing: a group 100 messages behind keeps the burst's age.

    Before the fix the age was interpolated into the moved time of the flat log end and
    stayed a few seconds whatever the real age (0.55 s reported for 90 s old messages).
    """
    b = real_kafka.bootstrap
    topic = f"interp-burst-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-behind"
    create_topic(b, topic, 1, 3)
    commit_offsets(b, group, {(topic, 0): 0})
    collector = short_cycle_collector(real_kafka)
    labels = {"group": group, "topic": topic, "partition": 0}
    try:
        deadline = time.monotonic() + 30
        while True:  # the group and the empty log are seen: the log end history starts at 0
            before = collector.collect_once()
            m = Parsed(collector.exposition.body)
            if m.value("kafka_insight_consumer_group_partition_lag", **labels) == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert m.value("kafka_insight_partition_log_end_offset", topic=topic, partition=0) == 0
        producer = Producer({"bootstrap.servers": b, "linger.ms": 0, "acks": "all", **QUIET})
        written: list[float] = []
        for i in range(200):  # the burst: a fraction of a second
            written.append(time.time())
            producer.produce(topic, f"burst-{i}".encode(), partition=0)
        assert producer.flush(10) == 0
        after = collector.collect_once()  # the first cycle that sees the burst
        assert Parsed(collector.exposition.body).value("kafka_insight_partition_log_end_offset", topic=topic, partition=0) == 200
        resolution = after.started - before.started  # the true write times lie in between
        assert before.started <= written[100] <= after.started
        commit_offsets(b, group, {(topic, 0): 100})  # 100 messages behind, committed after the burst
        checked = []
        quiet_until = time.time() + 24
        while time.time() < quiet_until:
            time.sleep(2)
            snap = collector.collect_once()
            m = Parsed(collector.exposition.body)
            if m.value("kafka_insight_consumer_group_partition_lag", **labels) != 100:
                continue  # the commit is not visible yet
            lag_seconds = m.value("kafka_insight_consumer_group_partition_lag_seconds", **labels)
            true_age = snap.started - written[100]
            assert lag_seconds is not None
            assert abs(lag_seconds - true_age) <= resolution, (lag_seconds, true_age, resolution)
            checked.append(true_age)
        # checked late into the quiet: the old interpolation was off by about half the quiet time
        assert len(checked) >= 5 and max(checked) >= 20, checked
        assert resolution < 10, resolution
    finally:
        collector.stop()


def test_assign_consumer_that_commits_is_never_stopped(real_kafka: RealKafka) -> None:
    """assign() + commits (no group membership, like Flink or Spark) under a 6 s status window."""
    b = real_kafka.bootstrap
    topic = f"interp-assign-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-assigned"
    create_topic(b, topic, 1, 3)
    stop_producer, stop_consumer = threading.Event(), threading.Event()
    errors: list[str] = []
    commits: list[int] = []

    def produce() -> None:
        producer = Producer({"bootstrap.servers": b, "linger.ms": 0, **QUIET})
        while not stop_producer.is_set():
            producer.produce(topic, b"x", partition=0)
            producer.poll(0)
            time.sleep(0.005)
        producer.flush(10)

    def consume() -> None:
        consumer = Consumer({"bootstrap.servers": b, "group.id": group, "enable.auto.commit": False, **QUIET})
        consumer.assign([TopicPartition(topic, 0, 0)])
        last_commit = time.monotonic()
        try:
            while not stop_consumer.is_set():
                msg = consumer.poll(0.1)
                if msg is not None and msg.error() is None and time.monotonic() - last_commit >= 1:
                    consumer.commit(message=msg, asynchronous=False)  # every second or so
                    commits.append(msg.offset() + 1)
                    last_commit = time.monotonic()
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            consumer.close()

    producer_thread, consumer_thread = threading.Thread(target=produce), threading.Thread(target=consume)
    collector = short_cycle_collector(real_kafka, **{"interpretation.group_status_window_seconds": 6})
    labels = {"group": group}
    try:
        producer_thread.start()
        consumer_thread.start()
        statuses: list[str] = []
        lagged = 0
        started = time.monotonic()
        # at least five windows and a dozen judged cycles (slow cycles on a loaded machine)
        while (time.monotonic() - started < 30 or len(statuses) < 12) and time.monotonic() - started < 150:
            time.sleep(1.5)
            m = scrape(collector)
            status = [s for s in GROUP_STATUSES if m.value("kafka_insight_consumer_group_status", group=group, status=s) == 1]
            if not status:
                continue  # no commit yet
            assert m.value("kafka_insight_consumer_group_members", **labels) == 0  # no membership: assign()
            statuses.append(status[0])
            lagged += (m.value("kafka_insight_consumer_group_partition_lag", group=group, topic=topic, partition=0) or 0) > 0
        assert errors == [] and len(commits) >= 10, (errors, len(commits))
        assert len(statuses) >= 10 and lagged >= 5, (statuses, lagged)
        assert "stopped" not in statuses, statuses  # the old rule: stopped whenever lag > 0
        # its commits stop while messages keep coming: stopped once a window passed without progress
        stop_consumer.set()
        consumer_thread.join(15)
        stopped_at = time.monotonic()
        while True:
            m = scrape(collector)
            if m.value("kafka_insight_consumer_group_status", group=group, status="stopped") == 1:
                break
            assert time.monotonic() - stopped_at < 60, "never stopped after the commits stopped"
            time.sleep(1)
        assert time.monotonic() - stopped_at >= 6 - 1  # not before the window
    finally:
        stop_producer.set()
        stop_consumer.set()
        for t in (producer_thread, consumer_thread):
            if t.is_alive():
                t.join(15)
        collector.stop()
