"""Issue 17's broker operational set, mapped from a fresh JMX dump of node 1 of the real Kafka
4.0 cluster (tests/fixtures/jmx-broker1-ops.json, recorded by tests/fixtures/record_broker_ops.py
after 20,000 acks=all records and two consumer groups).  Node 1 was a KRaft follower (leader 3,
epoch 2); the older healthy dumps hold the leader (node 1 then).  Every expected number below was
read by hand from the dump's JSON (Kafka's milliseconds divided by 1000), not computed by the code.
"""

from __future__ import annotations

import pytest

from exporter.metrics import Samples
from exporter.sources.jmx.broker import emit_broker, patterns
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.rows import JmxRow, load_dump
from tests.conftest import FIXTURES

OPS = FIXTURES / "jmx-broker1-ops.json"
LATENCY = "kafka_insight_broker_request_latency_seconds"


def samples(*, log_size: bool = False, per_topic: bool = False, rows: list[JmxRow] | None = None) -> Samples:
    record = parse_broker(rows if rows is not None else load_dump(OPS), "127.0.0.1:40301", per_topic=per_topic,
                          per_partition=False, log_size=log_size)
    out = Samples()
    emit_broker(record, out)
    return out


def test_produce_latency_quantiles_sum_and_count() -> None:
    out = samples()
    # TotalTimeMs,request=Produce: Count 23, Mean 162.6086956521739, 50th 59, 99th 1392, 999th 1392 (ms)
    for q, seconds in (("0.5", 0.059), ("0.99", 1.392), ("0.999", 1.392)):
        assert out.get("kafka_insight_broker_request_latency_seconds", broker_id="1", request="Produce", quantile=q) == pytest.approx(seconds)
    # a summary: _count (requests completed) and _sum (Mean x Count) as rows of the same family
    assert out.get("kafka_insight_broker_request_latency_seconds", broker_id="1", request="Produce", quantile="_count") == 23
    assert out.get("kafka_insight_broker_request_latency_seconds", broker_id="1", request="Produce", quantile="_sum") == pytest.approx(
        23 * 0.1626086956521739
    )
    # quantiles other than 0.5/0.99/0.999 (75th, 95th, 98th) are not exported
    qs = {lb[2] for spec, rows in out for lb, _ in rows if spec.name == "kafka_insight_broker_request_latency_seconds"}
    assert qs == {"0.5", "0.99", "0.999", "_sum", "_count"}


def test_fetch_types_and_metadata() -> None:
    out = samples()
    assert out.get(LATENCY, broker_id="1", request="FetchFollower", quantile="_count") == 89
    assert out.get("kafka_insight_broker_request_latency_seconds", broker_id="1", request="FetchFollower", quantile="0.99") == pytest.approx(1.827)
    assert out.get(LATENCY, broker_id="1", request="FetchConsumer", quantile="_count") == 14
    # a consumer fetch waits fetch.max.wait.ms (500 ms) for data: the median is about that
    assert out.get("kafka_insight_broker_request_latency_seconds", broker_id="1", request="FetchConsumer", quantile="0.5") == pytest.approx(0.504)
    assert out.get(LATENCY, broker_id="1", request="Metadata", quantile="_count") == 4


def test_produce_phases_in_seconds() -> None:
    out = samples()
    # 99thPercentile of RequestQueueTimeMs 97, LocalTimeMs 918, RemoteTimeMs 425, ResponseQueueTimeMs 15, ResponseSendTimeMs 5
    expected = {"request_queue": 0.097, "local": 0.918, "remote": 0.425, "response_queue": 0.015, "response_send": 0.005}
    for phase, seconds in expected.items():
        got = out.get("kafka_insight_broker_request_phase_latency_seconds", broker_id="1", request="Produce", phase=phase, quantile="0.99")
        assert got == pytest.approx(seconds), phase
    # RemoteTimeMs Mean 70.1304347826087 x Count 23
    remote = out.get("kafka_insight_broker_request_phase_latency_seconds", broker_id="1", request="Produce", phase="remote", quantile="_sum")
    assert remote == pytest.approx(23 * 0.0701304347826087)


def test_request_errors_without_none() -> None:
    out = samples()
    errors = {lb[1:]: v for spec, rows in out for lb, v in rows if spec.name == "kafka_insight_broker_request_errors_total"}
    # ErrorsPerSec Counts with error != NONE; fetch errors are counted per API (request=Fetch)
    assert errors == {
        ("BeginQuorumEpoch", "FENCED_LEADER_EPOCH"): 1,
        ("Fetch", "NOT_LEADER_OR_FOLLOWER"): 5,
        ("Fetch", "UNKNOWN_LEADER_EPOCH"): 2,
        ("FindCoordinator", "COORDINATOR_NOT_AVAILABLE"): 1,
        ("JoinGroup", "MEMBER_ID_REQUIRED"): 1,
        ("JoinGroup", "NOT_COORDINATOR"): 1,
    }


def test_queues_purgatory_replica_fetcher_and_log_flush() -> None:
    out = samples()
    assert out.get("kafka_insight_broker_request_queue_size", broker_id="1") == 0
    assert out.get("kafka_insight_broker_response_queue_size", broker_id="1") == 0
    assert out.get("kafka_insight_broker_purgatory_size", broker_id="1", operation="Fetch") == 137
    assert out.get("kafka_insight_broker_purgatory_delayed_operations", broker_id="1", operation="Fetch") == 3
    assert out.get("kafka_insight_broker_purgatory_delayed_operations", broker_id="1", operation="Produce") == 0
    assert out.get("kafka_insight_broker_replica_fetcher_max_lag", broker_id="1") == 0
    assert out.get("kafka_insight_broker_replica_fetcher_failed_partitions", broker_id="1") == 0
    # LogFlushRateAndTimeMs: Count 48, Mean 12.5860896875, 99th 176.834993 (ms)
    assert out.get("kafka_insight_broker_log_flush_latency_seconds", broker_id="1", quantile="_count") == 48
    assert out.get("kafka_insight_broker_log_flush_latency_seconds", broker_id="1", quantile="_sum") == pytest.approx(48 * 0.0125860896875)
    assert out.get("kafka_insight_broker_log_flush_latency_seconds", broker_id="1", quantile="0.99") == pytest.approx(0.176834993)


def test_kraft_follower_here_and_leader_in_the_older_dump() -> None:
    out = samples()
    states = {lb[1]: v for spec, rows in out for lb, v in rows if spec.name == "kafka_insight_kraft_state"}
    assert states == {"leader": 0, "candidate": 0, "voted": 0, "follower": 1, "unattached": 0, "observer": 0}
    assert out.get("kafka_insight_kraft_leader_id", broker_id="1") == 3
    assert out.get("kafka_insight_kraft_epoch", broker_id="1") == 2
    assert out.get("kafka_insight_kraft_high_watermark", broker_id="1") == 71
    assert out.get("kafka_insight_kraft_fetch_records_per_second", broker_id="1") == pytest.approx(1.5003125651177327)
    assert out.get("kafka_insight_kraft_append_records_per_second", broker_id="1") == 0
    # commit-latency-avg/max are NaN on a follower (no commits of its own in the window): dropped
    assert out.get("kafka_insight_kraft_commit_latency_avg_seconds", broker_id="1") is None
    # the healthy dump of node 1 when it was the leader: commit-latency-avg 6.309941520467836, max 305 (ms)
    leader = Samples()
    emit_broker(parse_broker(load_dump(FIXTURES / "jmx-broker1-healthy.json"), "t"), leader)
    assert leader.get("kafka_insight_kraft_state", broker_id="1", state="leader") == 1
    assert leader.get("kafka_insight_kraft_commit_latency_avg_seconds", broker_id="1") == pytest.approx(0.006309941520467836)
    assert leader.get("kafka_insight_kraft_commit_latency_max_seconds", broker_id="1") == pytest.approx(0.305)


def test_controller_event_queue_and_group_coordinator() -> None:
    out = samples()
    # EventQueueTimeMs 99th 84, EventQueueProcessingTimeMs 99th 193 and Count 47
    assert out.get("kafka_insight_controller_event_queue_latency_seconds", broker_id="1", quantile="0.99") == pytest.approx(0.084)
    assert out.get("kafka_insight_controller_event_processing_latency_seconds", broker_id="1", quantile="0.99") == pytest.approx(0.193)
    assert out.get("kafka_insight_controller_event_processing_latency_seconds", broker_id="1", quantile="_count") == 47
    # node 1 coordinated no group at recording time: every state 0; one classic rebalance completed
    groups = {lb[1:]: v for spec, rows in out for lb, v in rows if spec.name == "kafka_insight_broker_coordinator_groups"}
    assert set(groups.values()) == {0}
    assert set(groups) == {
        *(("classic", s) for s in ("PreparingRebalance", "CompletingRebalance", "Stable", "Empty", "Dead")),
        *(("consumer", s) for s in ("Assigning", "Dead", "Empty", "Reconciling", "Stable")),
    }
    assert out.get("kafka_insight_broker_coordinator_rebalances_total", broker_id="1", protocol="classic") == 1
    assert out.get("kafka_insight_broker_coordinator_rebalances_total", broker_id="1", protocol="consumer") == 0
    # the older dump of node 1: classic groups Stable 1 and Empty 1, group-completed-rebalance-count 2
    older = Samples()
    emit_broker(parse_broker(load_dump(FIXTURES / "jmx-broker1-healthy.json"), "t"), older)
    assert older.get("kafka_insight_broker_coordinator_groups", broker_id="1", protocol="classic", state="Stable") == 1
    assert older.get("kafka_insight_broker_coordinator_groups", broker_id="1", protocol="classic", state="Empty") == 1
    assert older.get("kafka_insight_broker_coordinator_rebalances_total", broker_id="1", protocol="classic") == 2


def test_log_size_only_when_enabled_and_per_topic_with_per_topic() -> None:
    assert samples().get("kafka_insight_broker_logs_size_bytes", broker_id="1") is None
    out = samples(log_size=True)
    # 17 replicas (10 __consumer_offsets, 6 ops-durable, __cluster_metadata), one segment each
    assert out.get("kafka_insight_broker_logs_size_bytes", broker_id="1") == 8257164
    assert out.get("kafka_insight_broker_log_segments", broker_id="1") == 17
    assert out.get("kafka_insight_broker_topic_logs_size_bytes", broker_id="1", topic="ops-durable") is None
    per_topic = samples(log_size=True, per_topic=True)
    # Size of ops-durable partitions 0-5: 1485156 + 1566296 + 990234 + 1980068 + 1484757 + 741562
    assert per_topic.get("kafka_insight_broker_topic_logs_size_bytes", broker_id="1", topic="ops-durable") == 8248073
    assert per_topic.get("kafka_insight_broker_topic_logs_size_bytes", broker_id="1", topic="__cluster_metadata") == 7236


def test_patterns_read_only_the_configured_request_types_in_few_calls() -> None:
    base = patterns(False, False, ("Produce",), request_phases=False)
    ops = [p for p in base if "RequestMetrics" in p]
    # one named histogram (no queryNames) with only the attributes used, plus the API's error meters
    assert ops == [
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce/Count,Mean,50thPercentile,99thPercentile,999thPercentile",
        "kafka.network:type=RequestMetrics,name=ErrorsPerSec,request=Produce,error=!NONE/Count",
    ]
    full = patterns(False, False, ("FetchConsumer", "FetchFollower"))
    assert sum("RequestMetrics,name=" in p and "TimeMs" in p for p in full) == 12
    assert [p for p in full if "ErrorsPerSec" in p] == [
        "kafka.network:type=RequestMetrics,name=ErrorsPerSec,request=Fetch,error=!NONE/Count"
    ]
    assert not any("kafka.log:type=Log," in p for p in full)
    assert "kafka.log:type=Log,name=Size,*/Value" in patterns(False, False, log_size=True)
    # per_partition reads all Log MBeans already: no second pattern for the sizes
    assert "kafka.log:type=Log,name=Size,*/Value" not in patterns(False, True, log_size=True)


def test_garbage_in_ops_mbeans_is_dropped_not_fatal() -> None:
    rows = [
        JmxRow("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce", "99thPercentile", "NaN", "Double"),
        JmxRow("kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce", "Count", "many", "String"),
        JmxRow("kafka.server:type=raft-metrics", "current-state", None, "Null"),
        JmxRow("kafka.server:type=raft-metrics", "current-leader", -1.0, "Double"),
        JmxRow("kafka.server:type=app-info,id=7", "Version", "4.0.0", "String"),
    ]
    record = parse_broker(rows, "t")
    out = Samples()
    emit_broker(record, out)
    assert out.get("kafka_insight_kraft_leader_id", broker_id="7") == -1
    assert out.get(LATENCY, broker_id="7", request="Produce", quantile="_count") is None
    assert record.dropped == 2 and len(record.errors) == 1 and "not a number" in record.errors[0]
    assert not any(spec.name == "kafka_insight_kraft_state" for spec, rows in out if rows)


def test_summaries_render_as_prometheus_summaries() -> None:
    from exporter.exposition import render_reference, render_text

    out = Samples()
    emit_broker(parse_broker(load_dump(OPS), "t", per_partition=False), out)
    text = render_text(out).decode()
    assert text == render_reference(out).decode()
    assert "# TYPE kafka_insight_broker_request_latency_seconds summary\n" in text
    assert 'kafka_insight_broker_request_latency_seconds{broker_id="1",quantile="0.99",request="Produce"} 1.392\n' in text
    assert 'kafka_insight_broker_request_latency_seconds_count{broker_id="1",request="Produce"} 23.0\n' in text
    assert 'kafka_insight_broker_log_flush_latency_seconds_count{broker_id="1"} 48.0\n' in text
