"""A throttled partition reassignment on the real 3-node Kafka 4.0 cluster (issue 13, item 4).

``kafka-reassign-partitions.sh --throttle`` moves a partition holding 10 MB at 50 kB/s,
so it runs for minutes.  Meanwhile the metadata lists three replicas for an RF-2
partition, one of them out of the ISR; the brokers do not count it as under-replicated
(their UnderReplicatedPartitions stays 0, ReassigningPartitions is 1), and neither may we:
``kafka_insight_partition_under_replicated`` 0 while ``kafka_insight_partition_reassigning``
is 1, for the exporter that saw the partition before and for one started mid-move.  The
reassignment is cancelled at the end, which also removes the throttle.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from exporter import config
from exporter.app import build_collector
from exporter.cycle import Collector
from tests._exposition import Parsed
from tests.conftest import KAFKA_BIN, QUIET, RealKafka, collect_until

TOOL = KAFKA_BIN / "kafka-reassign-partitions.sh"
THROTTLE = 50_000  # bytes/s
DATA = 10 * 1024 * 1024  # on partition 0: at the throttle about 200 s to copy


def collector_for(cluster: RealKafka, jmx: bool) -> Collector:
    overrides: dict[str, Any] = {
        "kafka.bootstrap_servers": cluster.bootstrap,
        "kafka.request_timeout_seconds": 5,
        "collection.interval_seconds": 30,
        "collection.timeout_seconds": 25,
    }
    if jmx:
        targets = [f"127.0.0.1:{cluster.jmx_port(n)}" for n in (1, 2, 3)]
        overrides["jmx"] = {"timeout_seconds": 20.0, "brokers": {"targets": targets}}
    return build_collector(config.load(None, overrides))


def scrape(collector: Collector) -> Parsed:
    collector.collect_once()
    return Parsed(collector.exposition.body)


def reassign(cluster: RealKafka, action: str, plan: Path, *extra: str) -> str:
    done = subprocess.run(
        [str(TOOL), "--bootstrap-server", cluster.bootstrap, "--reassignment-json-file", str(plan), action, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx128m"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_throttled_reassignment_is_not_under_replicated(real_kafka: RealKafka, tmp_path: Path) -> None:
    assert TOOL.exists(), TOOL
    b = real_kafka.bootstrap
    topic = f"reassign-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": b, **QUIET})
    new = NewTopic(topic, 2, replica_assignment=[[1, 2], [2, 3]], config={"min.insync.replicas": "1"})
    admin.create_topics([new], request_timeout=15)[topic].result()
    producer = Producer({"bootstrap.servers": b, "linger.ms": 20, "compression.type": "none", **QUIET})
    chunk = os.urandom(100_000)  # random: nothing for a codec to shrink
    for _ in range(DATA // len(chunk)):
        producer.produce(topic, chunk, partition=0)
        producer.poll(0)
    assert producer.flush(60) == 0

    def part(m: Parsed, name: str, partition: int = 0) -> float | None:
        return m.value(f"kafka_insight_partition_{name}", topic=topic, partition=partition)

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [3, 2]}]}))
    watching = collector_for(real_kafka, jmx=True)
    try:
        m = collect_until(watching, lambda m: part(m, "reassigning") is not None)
        assert (part(m, "reassigning"), part(m, "under_replicated"), part(m, "replicas")) == (0, 0, 2)

        started = time.monotonic()
        reassign(real_kafka, "--execute", plan, "--throttle", str(THROTTLE))
        try:
            # every broker's JMX answered too (JVMs start slowly on a loaded machine)
            m = collect_until(
                watching, lambda m: part(m, "replicas") == 3 and len(m.series("kafka_insight_broker_reassigning_partitions")) == 3
            )
            # the metadata lists old and new replicas, the new one not yet in sync
            assert (part(m, "replicas"), part(m, "in_sync_replicas")) == (3, 2)
            assert part(m, "reassigning") == 1
            assert part(m, "under_replicated") == 0
            assert part(m, "reassigning", 1) == 0 and part(m, "under_replicated", 1) == 0
            assert m.value("kafka_insight_cluster_reassigning_partitions") == 1
            assert m.value("kafka_insight_cluster_under_replicated_partitions") == 0
            # the brokers' own view agrees
            assert sum(v for _, v in m.series("kafka_insight_broker_reassigning_partitions")) == 1
            assert sum(v for _, v in m.series("kafka_insight_broker_under_replicated_partitions")) == 0
            # ISR 2 - min(min.insync.replicas 1, 3 replicas), as a 4.0 leader computes it
            assert part(m, "isr_headroom") == 1
            for broker in ("1", "2", "3"):
                assert (
                    m.value("kafka_insight_broker_min_isr_rule_info", broker_id=broker, rule="capped", basis="broker_version")
                    == 1
                )

            # an exporter started during the move, without JMX: it learns the target from partition 1
            fresh = collector_for(real_kafka, jmx=False)
            try:
                m = scrape(fresh)
                assert (part(m, "replicas"), part(m, "in_sync_replicas")) == (3, 2)
                assert (part(m, "reassigning"), part(m, "under_replicated")) == (1, 0)
                assert m.value("kafka_insight_broker_min_isr_rule_info", broker_id="1", rule="capped", basis="assumed") == 1
            finally:
                fresh.stop()
            # still copying: the throttle held it long enough to look twice
            m = scrape(watching)
            assert (part(m, "replicas"), part(m, "reassigning"), part(m, "under_replicated")) == (3, 1, 0), (
                time.monotonic() - started
            )
        finally:
            reassign(real_kafka, "--cancel", plan)
        m = collect_until(watching, lambda m: part(m, "replicas") == 2)
        assert (part(m, "replicas"), part(m, "reassigning"), part(m, "under_replicated")) == (2, 0, 0)
        assert m.value("kafka_insight_cluster_reassigning_partitions") == 0
    finally:
        watching.stop()
        admin.delete_topics([topic], request_timeout=15)
