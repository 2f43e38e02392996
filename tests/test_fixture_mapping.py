"""Snapshot -> metrics from data recorded on a real 3-broker Kafka 4.0 cluster (tests/fixtures).

Multi-broker facts (racks, ISR smaller than replicas, a leaderless partition, member
counts) that the embedded broker cannot produce; the expected figures are the ones
tests/fixtures/README.md gives.
"""

from __future__ import annotations

from exporter.metrics import Samples
from exporter.sources.admin.emit import emit_cluster
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES


def samples(state: str) -> Samples:
    out = Samples()
    emit_cluster(load_metadata(FIXTURES / f"metadata-{state}.json"), out)
    return out


def test_brokers_and_racks() -> None:
    healthy = samples("healthy")
    assert healthy.get("kafka_insight_brokers") == 3
    assert healthy.get("kafka_insight_cluster_info", cluster_id="M9RKLLyhQa6-S1-b4j_VvA") == 1
    for broker_id, port in ((1, 29092), (2, 29093), (3, 29094)):
        assert (
            healthy.get(
                "kafka_insight_broker_info", broker_id=str(broker_id), host="127.0.0.1", port=str(port), rack=f"r{broker_id}"
            )
            == 1
        )
    down = samples("broker3-down")
    assert down.get("kafka_insight_brokers") == 2
    assert down.get("kafka_insight_broker_info", broker_id="3", host="127.0.0.1", port="29094", rack="r3") is None


def test_isr_and_leaders_when_a_broker_is_down() -> None:
    healthy, down = samples("healthy"), samples("broker3-down")
    for pid in range(6):
        assert healthy.get("kafka_insight_partition_in_sync_replicas", topic="durable", partition=str(pid)) == 3
        assert down.get("kafka_insight_partition_in_sync_replicas", topic="durable", partition=str(pid)) == 2
        assert down.get("kafka_insight_partition_replicas", topic="durable", partition=str(pid)) == 3
    # single-2 lived only on broker 3: no leader while it is down
    assert down.get("kafka_insight_partition_leader", topic="single", partition="2") == -1
    assert down.get("kafka_insight_partition_leader_is_preferred", topic="single", partition="2") == 0
    assert down.get("kafka_insight_partition_log_end_offset", topic="single", partition="2") is None
    # durable-2 and -4 prefer broker 3; broker 1 took over
    assert down.get("kafka_insight_partition_leader", topic="durable", partition="2") == 1
    assert down.get("kafka_insight_partition_leader_is_preferred", topic="durable", partition="2") == 0
    assert healthy.get("kafka_insight_partition_leader_is_preferred", topic="durable", partition="2") == 1


def test_topic_configs_explicit_or_inherited() -> None:
    s = samples("healthy")
    assert (
        s.get(
            "kafka_insight_topic_config_info",
            topic="durable",
            config="min.insync.replicas",
            value="2",
            config_source="DYNAMIC_TOPIC_CONFIG",
            explicit="true",
        )
        == 1
    )
    assert (
        s.get(
            "kafka_insight_topic_config_info",
            topic="single",
            config="min.insync.replicas",
            value="1",
            config_source="DEFAULT_CONFIG",
            explicit="false",
        )
        == 1
    )
    assert (
        s.get(
            "kafka_insight_topic_config_info",
            topic="risky-rf2",
            config="compression.type",
            value="gzip",
            config_source="DYNAMIC_TOPIC_CONFIG",
            explicit="true",
        )
        == 1
    )
    assert s.get("kafka_insight_topic_min_insync_replicas", topic="minisr-over-rf") == 3
    assert s.get("kafka_insight_topic_replication_factor", topic="minisr-over-rf") == 2
    assert s.get("kafka_insight_topic_unclean_leader_election_enabled", topic="unclean") == 1
    assert s.get("kafka_insight_topic_unclean_leader_election_enabled", topic="durable") == 0


def test_groups_lag_members_and_states() -> None:
    healthy, later = samples("healthy"), samples("broker3-restarted")
    assert healthy.get("kafka_insight_consumer_group_members", group="live-tail") == 1
    assert healthy.get("kafka_insight_consumer_group_state", group="live-tail", state="STABLE") == 1
    assert (
        healthy.get(
            "kafka_insight_consumer_group_info", group="live-tail", protocol="CONSUMER", simple="false", coordinator_id="2"
        )
        == 1
    )
    assert healthy.get("kafka_insight_consumer_group_state", group="analytics-lagging", state="EMPTY") == 1
    assert healthy.get("kafka_insight_consumer_group_members", group="analytics-lagging") == 0
    # durable-0 is committed 1,000,000 beyond the log end: lag 0 there, the other five lag normally
    assert (
        healthy.get("kafka_insight_consumer_group_committed_offset", group="analytics-lagging", topic="durable", partition="0")
        == 1046841
    )
    assert (
        healthy.get("kafka_insight_consumer_group_partition_lag", group="analytics-lagging", topic="durable", partition="0") == 0
    )
    assert healthy.get("kafka_insight_consumer_group_lag", group="analytics-lagging") == 99632
    assert later.get("kafka_insight_consumer_group_lag", group="analytics-lagging") == 100044
    assert healthy.get("kafka_insight_consumer_group_lag", group="billing-caught-up") == 0
    # an empty group with committed offsets still counts
    assert healthy.get("kafka_insight_consumer_group_topic_lag", group="audit-stale", topic="risky-rf2") is not None


def test_internal_topics_excluded_unless_asked() -> None:
    state = load_metadata(FIXTURES / "metadata-healthy.json", include_internal=True)
    assert "__consumer_offsets" in state.topics
    assert "__consumer_offsets" not in load_metadata(FIXTURES / "metadata-healthy.json").topics
