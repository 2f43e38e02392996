"""The last stable offset on the real cluster (Kafka 4.0, RF 3).

An open transaction holds a partition's last stable offset at its first record: read_committed
consumers stop there, and ``kafka_insight_partition_last_stable_offset`` says where.  A partition
written all the time without transactions has no LSO series at all: its LSO is read after its
log end (one moment later, the high watermark has moved on), and only an LSO below the log end
is exported.  Before that, such a partition showed an LSO above its log end in most cycles,
and below it when the read_committed answer came first.
"""

from __future__ import annotations

import threading
import uuid

from confluent_kafka import Producer

from exporter import config
from exporter.cycle import Collector
from exporter.sources.admin.source import AdminSource
from tests._exposition import Parsed
from tests.conftest import QUIET, RealKafka, collect_until, create_topic, produce_exactly


def test_an_open_transaction_holds_the_lso_and_a_busy_partition_without_one_shows_none(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    topic = f"txn-{uuid.uuid4().hex[:6]}"
    create_topic(b, topic, partitions=2, replication=3)
    produce_exactly(b, topic, 0, 3)  # offsets 0-2, no transaction

    stop = threading.Event()
    sent = [0]

    def busy() -> None:  # partition 1: written all the time, never in a transaction
        producer = Producer({"bootstrap.servers": b, "linger.ms": 0, "acks": "all", **QUIET})
        while not stop.is_set():
            producer.produce(topic, b"busy", partition=1)
            producer.poll(0.005)
            sent[0] += 1
        producer.flush(10)

    writer = threading.Thread(target=busy, daemon=True)
    writer.start()
    txn = Producer({"bootstrap.servers": b, "transactional.id": f"{topic}-tx", "linger.ms": 0, **QUIET})
    txn.init_transactions(30)
    txn.begin_transaction()
    for i in range(5):
        txn.produce(topic, f"in-transaction-{i}".encode(), partition=0)
    assert txn.flush(30) == 0  # offsets 3-7 written, the transaction still open

    cfg = config.load(None, {"kafka.bootstrap_servers": b, "filters.topics.include": [topic]})
    collector = Collector([AdminSource(cfg)], interval=cfg.interval, timeout=cfg.timeout)

    def cycle() -> Parsed:
        collector.collect_once()
        m = Parsed(collector.exposition.body)
        assert m.value("kafka_insight_source_up", source="admin", target=b) == 1
        return m

    try:
        for _ in range(6):
            m = cycle()
            assert m.value("kafka_insight_partition_log_end_offset", topic=topic, partition=0) == 8
            assert m.value("kafka_insight_partition_last_stable_offset", topic=topic, partition=0) == 3
            end = m.value("kafka_insight_partition_log_end_offset", topic=topic, partition=1)
            assert end is not None and end > 0
            # the busy partition: no LSO series in any cycle (neither above nor below its log end)
            assert m.value("kafka_insight_partition_last_stable_offset", topic=topic, partition=1) is None, end
        assert sent[0] > 100, "the busy partition was not written during the cycles"
        txn.commit_transaction(30)
        # committed: the coordinator writes the commit marker (offset 8) to the partition after
        # commit_transaction returns; then nothing holds read_committed consumers back
        seen: list[tuple[float | None, float | None]] = []

        def marker_written(m: Parsed) -> bool:
            assert m.value("kafka_insight_source_up", source="admin", target=b) == 1
            seen.append(
                (
                    m.value("kafka_insight_partition_log_end_offset", topic=topic, partition=0),
                    m.value("kafka_insight_partition_last_stable_offset", topic=topic, partition=0),
                )
            )
            return seen[-1][0] == 9

        collect_until(collector, marker_written, 30, pause=0)
        assert seen[-1] == (9, None), seen
        # before the marker: still the open transaction's view (log end 8, LSO 3); never an LSO at 8 or above
        assert all(s in ((8, 3), (9, None)) for s in seen), seen
    finally:
        stop.set()
        writer.join(15)
        collector.stop()
