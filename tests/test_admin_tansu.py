"""Admin-API collection against a real (embedded Tansu) broker: exact values in the exposition.

Tansu behaviours relied on (shared/tansu-quirks.md): offsets are true only with one record
per batch (produce_exactly does that); alter_consumer_group_offsets makes committed offsets;
describe_consumer_groups' member list is empty (member counts are tested from fixtures).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from exporter import config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.sources.admin.source import AdminSource
from tests._exposition import Parsed
from tests.conftest import QUIET, collect_admin, create_topic, produce_exactly


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result()


def collect(bootstrap: str, **overrides: object) -> Parsed:
    return collect_admin({"kafka.bootstrap_servers": bootstrap, **overrides})


@pytest.fixture(scope="module")
def loaded(tansu: TansuBroker) -> Iterator[TansuBroker]:
    b = tansu.bootstrap
    create_topic(b, "orders", 2, config={"retention.ms": "3600000", "min.insync.replicas": "1"})
    create_topic(b, "audit-dlq", 1)
    produce_exactly(b, "orders", 0, 100)
    produce_exactly(b, "orders", 1, 7)
    produce_exactly(b, "audit-dlq", 0, 3)
    commit(b, "billing", {("orders", 0): 40, ("orders", 1): 7})
    commit(b, "ahead", {("orders", 0): 150})
    commit(b, "scratch-tool", {("audit-dlq", 0): 1})
    yield tansu


def test_offsets_committed_and_lag_are_exact(loaded: TansuBroker) -> None:
    m = collect(loaded.bootstrap)
    assert m.value("kafka_insight_source_up", source="admin", target=loaded.bootstrap) == 1
    assert m.value("kafka_insight_partition_log_end_offset", topic="orders", partition=0) == 100
    assert m.value("kafka_insight_partition_log_end_offset", topic="orders", partition=1) == 7
    assert m.value("kafka_insight_partition_log_start_offset", topic="orders", partition=0) == 0
    assert m.value("kafka_insight_consumer_group_committed_offset", group="billing", topic="orders", partition=0) == 40
    assert m.value("kafka_insight_consumer_group_partition_lag", group="billing", topic="orders", partition=0) == 60
    assert m.value("kafka_insight_consumer_group_partition_lag", group="billing", topic="orders", partition=1) == 0
    assert m.value("kafka_insight_consumer_group_topic_lag", group="billing", topic="orders") == 60
    assert m.value("kafka_insight_consumer_group_lag", group="billing") == 60
    # beyond the log end: lag is clamped at 0, the committed offset shows the truth
    assert m.value("kafka_insight_consumer_group_committed_offset", group="ahead", topic="orders", partition=0) == 150
    assert m.value("kafka_insight_consumer_group_partition_lag", group="ahead", topic="orders", partition=0) == 0
    # no transaction is open: the last stable offset is not repeated
    assert m.series("kafka_insight_partition_last_stable_offset") == []


def test_group_state_is_one_series_per_state(loaded: TansuBroker) -> None:
    m = collect(loaded.bootstrap)
    states = {labels["state"]: v for labels, v in m.series("kafka_insight_consumer_group_state", group="billing")}
    assert states["EMPTY"] == 1
    assert sum(states.values()) == 1
    assert set(states) == {
        "UNKNOWN",
        "PREPARING_REBALANCE",
        "COMPLETING_REBALANCE",
        "STABLE",
        "DEAD",
        "EMPTY",
        "ASSIGNING",
        "RECONCILING",
    }


def test_topic_metadata_and_configs(loaded: TansuBroker) -> None:
    m = collect(loaded.bootstrap)
    assert m.value("kafka_insight_topic_partitions", topic="orders") == 2
    assert m.value("kafka_insight_topic_replication_factor", topic="orders") == 1
    assert m.value("kafka_insight_partition_leader", topic="orders", partition=0) == 111  # Tansu's broker id
    assert m.value("kafka_insight_partition_in_sync_replicas", topic="orders", partition=0) == 1
    assert m.value("kafka_insight_partition_leader_is_preferred", topic="orders", partition=0) == 1
    assert m.value("kafka_insight_topic_retention_seconds", topic="orders") == 3600
    assert m.value("kafka_insight_topic_min_insync_replicas", topic="orders") == 1
    # Tansu reports explicitly set topic configs with source DEFAULT_CONFIG (a Tansu bug);
    # the explicit/default mapping is tested from the real-Kafka fixtures instead
    [(labels, value)] = m.series("kafka_insight_topic_config_info", topic="orders", config="retention.ms")
    assert labels["value"] == "3600000" and value == 1
    assert m.value("kafka_insight_brokers") == 1
    assert len(m.series("kafka_insight_broker_info", broker_id="111")) == 1


def test_filters_bound_what_is_collected(loaded: TansuBroker) -> None:
    m = collect(loaded.bootstrap, **{"filters.topics.exclude": [".*-dlq"], "filters.groups.include": ["billing|ahead"]})
    assert m.value("kafka_insight_topic_partitions", topic="orders") == 2
    assert m.series("kafka_insight_topic_partitions", topic="audit-dlq") == []
    assert m.series("kafka_insight_partition_log_end_offset", topic="audit-dlq") == []
    groups = {labels["group"] for labels, _ in m.series("kafka_insight_consumer_group_lag")}
    assert groups == {"billing", "ahead"}
    # without filters the excluded ones are there (so the test above can fail)
    full = collect(loaded.bootstrap)
    assert full.value("kafka_insight_topic_partitions", topic="audit-dlq") == 1
    assert full.value("kafka_insight_consumer_group_lag", group="scratch-tool") == 2


def test_exposition_is_clean_for_promtool(loaded: TansuBroker, tmp_path: object) -> None:
    import shutil
    import subprocess

    cfg = config.load(None, {"kafka.bootstrap_servers": loaded.bootstrap})
    collector = Collector([AdminSource(cfg)])
    collector.collect_once()
    collector.collect_once()
    body = collector.exposition.body
    collector.stop()
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert done.returncode == 0 and done.stdout.decode() + done.stderr.decode() == "", done
