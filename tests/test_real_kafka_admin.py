"""Admin-API collection live on the real 3-node Apache Kafka 4.0 cluster (shared/kafka).

What users run: racks, ISR shrink after a broker crash, leaders moving, recovery.
"""

from __future__ import annotations

import time
import uuid

from exporter import config
from exporter.cycle import Collector
from exporter.sources.admin.source import AdminSource
from tests._exposition import Parsed
from tests.conftest import RealKafka, commit_offsets, create_topic, produce_exactly


def collector_for(cluster: RealKafka, **overrides: object) -> Collector:
    cfg = config.load(
        None,
        {
            "kafka.bootstrap_servers": cluster.bootstrap,
            "kafka.request_timeout_seconds": 5,
            "collection.interval_seconds": 10,
            "collection.timeout_seconds": 10,
            **overrides,
        },
    )
    return Collector([AdminSource(cfg)], interval=cfg.interval, timeout=cfg.timeout)


def scrape(collector: Collector) -> Parsed:
    collector.collect_once()
    return Parsed(collector.exposition.body)


def test_live_cluster_racks_isr_and_a_broker_crash(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    topic = f"live-rf3-{uuid.uuid4().hex[:6]}"  # unique: the cluster may be reused between runs
    group = f"reader-{topic}"
    create_topic(b, topic, 3, 3, {"min.insync.replicas": "2"}, exist_ok=True)
    for pid in range(3):
        produce_exactly(b, topic, pid, 10 + pid)
    commit_offsets(b, group, {(topic, 0): 4})

    collector = collector_for(real_kafka)
    try:
        m = scrape(collector)
        assert m.value("kafka_insight_brokers") == 3
        racks = {labels["broker_id"]: labels["rack"] for labels, _ in m.series("kafka_insight_broker_info")}
        assert racks == {"1": "r1", "2": "r2", "3": "r3"}
        for pid in range(3):
            assert m.value("kafka_insight_partition_in_sync_replicas", topic=topic, partition=pid) == 3
            assert m.value("kafka_insight_partition_log_end_offset", topic=topic, partition=pid) == 10 + pid
        assert m.value("kafka_insight_consumer_group_partition_lag", group=group, topic=topic, partition=0) == 6
        assert (
            m.value(
                "kafka_insight_topic_config_info",
                topic=topic,
                config="min.insync.replicas",
                value="2",
                config_source="DYNAMIC_TOPIC_CONFIG",
                explicit="true",
            )
            == 1
        )
        # internal topics are excluded by default
        assert m.series("kafka_insight_topic_partitions", topic="__consumer_offsets") == []
        led_by_3 = [pid for pid in range(3) if m.value("kafka_insight_partition_leader", topic=topic, partition=pid) == 3]

        real_kafka.kill_broker(3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = scrape(collector)
            isr = [m.value("kafka_insight_partition_in_sync_replicas", topic=topic, partition=pid) for pid in range(3)]
            if m.value("kafka_insight_brokers") == 2 and isr == [2, 2, 2]:
                break
            time.sleep(1)
        assert m.value("kafka_insight_source_up", source="admin", target=b) == 1
        assert m.value("kafka_insight_brokers") == 2
        assert isr == [2, 2, 2]
        for pid in range(3):
            assert m.value("kafka_insight_partition_leader", topic=topic, partition=pid) in (1, 2)
            assert m.value("kafka_insight_partition_replicas", topic=topic, partition=pid) == 3
        for pid in led_by_3:
            assert m.value("kafka_insight_partition_leader_is_preferred", topic=topic, partition=pid) == 0
    finally:
        real_kafka.start_broker(3)
        real_kafka.wait_full_isr()
    m = scrape(collector)
    assert m.value("kafka_insight_brokers") == 3
    assert [m.value("kafka_insight_partition_in_sync_replicas", topic=topic, partition=p) for p in range(3)] == [3, 3, 3]
    collector.stop()

    internal = collector_for(real_kafka, **{"filters.topics.include_internal": True})
    m = scrape(internal)
    internal.stop()
    assert (m.value("kafka_insight_topic_partitions", topic="__consumer_offsets") or 0) > 0
