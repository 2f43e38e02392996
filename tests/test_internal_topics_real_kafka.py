"""Kafka's internal topics are judged whatever the topic filters say (issue 13, item 6), live.

On the real 3-node Kafka 4.0 cluster, with a topic filter that matches none of them and
``include_internal`` off (the default): ``__consumer_offsets`` still gets every durability
flag, from its real metadata and its real configs (``min.insync.replicas`` set on the topic
for the test shows up as at-min ISR), while the Admin-API families keep following the filter.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from exporter import config
from exporter.app import build_collector
from tests._exposition import Parsed
from tests.conftest import QUIET, RealKafka, commit_offsets, create_topic

OFFSETS = "__consumer_offsets"


def set_min_isr(admin: AdminClient, value: str | None) -> None:
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry("min.insync.replicas", value or "", incremental_operation=op)
    resource = ConfigResource(ResourceType.TOPIC, OFFSETS, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource], request_timeout=15).values():
        future.result()


def test_offsets_topic_is_judged_though_filtered_out(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    topic = f"internal-probe-{uuid.uuid4().hex[:8]}"
    create_topic(b, topic)
    commit_offsets(b, f"g-{topic}", {(topic, 0): 0})  # makes sure __consumer_offsets exists
    admin = AdminClient({"bootstrap.servers": b, **QUIET})
    offsets = admin.list_topics(OFFSETS, timeout=10).topics[OFFSETS]
    n = len(offsets.partitions)
    rf = len(offsets.partitions[0].replicas)
    assert n > 0 and rf == 3, (n, rf)
    overrides: dict[str, Any] = {
        "kafka.bootstrap_servers": b,
        "kafka.request_timeout_seconds": 5,
        "collection.timeout_seconds": 15,
        "filters.topics.include": ["matches-nothing-.*"],
    }
    collector = build_collector(config.load(None, overrides))
    set_min_isr(admin, "3")
    try:
        deadline = time.monotonic() + 60
        while True:  # the config change reaches describe_configs within a moment
            collector.collect_once()
            m = Parsed(collector.exposition.body)
            at_min = [m.value("kafka_insight_partition_at_min_isr", topic=OFFSETS, partition=p) for p in range(n)]
            if at_min == [1] * n or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert at_min == [1] * n  # ISR 3 == min.insync.replicas 3, read from the topic's own config
        for flag in ("offline", "under_min_isr", "under_replicated", "reassigning"):
            assert [m.value(f"kafka_insight_partition_{flag}", topic=OFFSETS, partition=p) for p in range(n)] == [0] * n, flag
        assert m.value("kafka_insight_topic_effective_min_insync_replicas", topic=OFFSETS) == 3
        # the filter still decides the Admin-API families: no offsets, leaders or configs of it
        assert m.value("kafka_insight_partition_leader", topic=OFFSETS, partition=0) is None
        assert m.value("kafka_insight_topic_partitions", topic=OFFSETS) is None
        assert m.value("kafka_insight_partition_offline", topic=topic, partition=0) is None
    finally:
        set_min_isr(admin, None)
        collector.stop()
        admin.delete_topics([topic], request_timeout=15)
