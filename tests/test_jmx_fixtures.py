"""JMX mapping on the recorded Kafka 4.0 dumps (tests/fixtures/jmx-*.json): exact values, no timing.

Expected numbers are the ones fixtures/README.md reads from the same files.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from exporter import config
from exporter.catalogue import all_specs
from exporter.exposition import render
from exporter.metrics import Samples
from exporter.sources.jmx.broker import emit_broker, patterns
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.client import emit_clients
from exporter.sources.jmx.client_records import client_records, parse_client_target
from exporter.sources.jmx.query import jmx_url, tls_properties
from exporter.sources.jmx.rows import JmxRow, load_dump, parse_object_name, rows_from_jmxquery
from tests.conftest import FIXTURES

STATES = ("healthy", "broker3-down", "broker3-restarted")
# state -> broker -> (UnderMinIsr, AtMinIsr, UnderReplicated, LeaderCount), from fixtures/README.md
REPLICA_MANAGER = {
    "healthy": {1: (0, 3, 0, 12), 2: (0, 2, 0, 12), 3: (0, 3, 0, 12)},
    "broker3-down": {1: (3, 11, 16, 20), 2: (1, 8, 14, 15)},
    "broker3-restarted": {1: (0, 5, 0, 20), 2: (0, 2, 0, 15), 3: (0, 1, 0, 1)},
}


def broker(state: str, node: int, **kw: bool) -> Samples:
    record = parse_broker(load_dump(FIXTURES / f"jmx-broker{node}-{state}.json"), f"127.0.0.1:{29998 + node}", **kw)
    out = Samples()
    emit_broker(record, out)
    return out


@pytest.mark.parametrize("state", STATES)
def test_replica_manager_counts_per_broker_per_state(state: str) -> None:
    for node, (under_min, at_min, under_rep, leaders) in REPLICA_MANAGER[state].items():
        out = broker(state, node)
        bid = str(node)
        assert out.get("kafka_insight_broker_under_min_isr_partitions", broker_id=bid) == under_min, (state, node)
        assert out.get("kafka_insight_broker_at_min_isr_partitions", broker_id=bid) == at_min, (state, node)
        assert out.get("kafka_insight_broker_under_replicated_partitions", broker_id=bid) == under_rep, (state, node)
        assert out.get("kafka_insight_broker_leader_partitions", broker_id=bid) == leaders, (state, node)
        assert out.get("kafka_insight_broker_running", broker_id=bid) == 1  # BrokerState "3" (a Byte) = RUNNING


@pytest.mark.parametrize("state", STATES)
def test_active_controller_only_on_node_1(state: str) -> None:
    active = {node: broker(state, node).get("kafka_insight_controller_active", broker_id=str(node)) for node in REPLICA_MANAGER[state]}
    assert active[1] == 1
    assert all(v == 0 for node, v in active.items() if node != 1)


def test_controller_mbeans_are_reported_by_every_node_broker3_down() -> None:
    for node in (1, 2):
        out = broker("broker3-down", node)
        bid = str(node)
        assert out.get("kafka_insight_controller_fenced_brokers", broker_id=bid) == 1
        assert out.get("kafka_insight_controller_active_brokers", broker_id=bid) == 2
        assert out.get("kafka_insight_controller_offline_partitions", broker_id=bid) == 1
        assert out.get("kafka_insight_controller_preferred_replica_imbalance_partitions", broker_id=bid) == 12
        assert out.get("kafka_insight_controller_unclean_leader_elections_total", broker_id=bid) == 0
        # KRaft: the controller removed the dead broker from the ISRs, the leaders shrank nothing
        assert out.get("kafka_insight_broker_isr_shrinks_total", broker_id=bid) == 0


def test_isr_expands_after_restart() -> None:
    expands = [broker("broker3-restarted", n).get("kafka_insight_broker_isr_expands_total", broker_id=str(n)) for n in (1, 2, 3)]
    assert expands == [2, 14, 0]


def test_failed_produce_requests_per_topic_only_when_enabled() -> None:
    for node, failed in ((1, 26), (2, 13)):
        bid = str(node)
        with_topics = broker("broker3-down", node, per_topic=True)
        assert with_topics.get("kafka_insight_broker_topic_failed_produce_requests_total", broker_id=bid, topic="strict") == failed
        total = with_topics.get("kafka_insight_broker_failed_produce_requests_total", broker_id=bid)
        assert total is not None and total >= failed
        without = broker("broker3-down", node, per_topic=False, per_partition=False)
        assert without.get("kafka_insight_broker_failed_produce_requests_total", broker_id=bid) == total
        names = {spec.name for spec, rows in without if rows}
        assert not any(n.startswith("kafka_insight_broker_topic_") for n in names)
        assert "kafka_insight_broker_partition_at_min_isr" not in names


def test_request_handler_idle_is_a_counter_of_seconds_with_two_pools_on_combined_nodes() -> None:
    record = parse_broker(load_dump(FIXTURES / "jmx-broker1-healthy.json"), "t")
    assert record.is_broker and record.is_controller and record.request_handler_pools == 2
    assert record.request_handler_idle_seconds_total == pytest.approx(588197624479 / 1e9)
    assert record.request_handler_idle_one_minute_rate == pytest.approx(1.9923, abs=1e-4)  # why it is not a 0-1 ratio
    out = Samples()
    emit_broker(record, out)
    assert out.get("kafka_insight_broker_request_handler_idle_seconds_total", broker_id="1") == pytest.approx(588.197624479)
    assert out.get("kafka_insight_broker_request_handler_pools", broker_id="1") == 2
    restarted3 = broker("broker3-restarted", 3)
    assert restarted3.get("kafka_insight_broker_network_processor_idle_ratio", broker_id="3") == pytest.approx(0.4421, abs=1e-4)


def test_kip511_connections_summed_over_network_processors() -> None:
    out = broker("healthy", 1)

    def conns(listener: str, name: str, version: str) -> float | None:
        return out.get(
            "kafka_insight_broker_client_connections",
            broker_id="1",
            listener=listener,
            client_software_name=name,
            client_software_version=version,
        )

    assert conns("CONTROLLER", "apache-kafka-java", "4.0.0") == 12  # 7 + 5
    assert conns("PLAINTEXT", "apache-kafka-java", "4.0.0") == 2
    assert conns("PLAINTEXT", "confluent-kafka-python", "2.16.1-rdkafka-2.16.0") == 2  # 2 + 0
    assert conns("PLAINTEXT", "unknown", "unknown") == 2


def test_broker_id_rack_and_version_from_app_info() -> None:
    record = parse_broker(load_dump(FIXTURES / "jmx-broker2-healthy.json"), "127.0.0.1:30000", rack="r2")
    assert (record.broker_id, record.rack, record.version, record.commit_id) == (2, "r2", "4.0.0", "985bc99521dd22bb")
    out = Samples()
    emit_broker(record, out)
    info = out.get(
        "kafka_insight_broker_jmx_info", broker_id="2", rack="r2", target="127.0.0.1:30000", version="4.0.0", roles="broker,controller"
    )
    assert info == 1


def test_per_partition_flags_only_on_the_leader() -> None:
    # minisr-over-rf-0 is led by node 3: node 3 says AtMinIsr 1, its follower node 1 says 0
    one = broker("healthy", 1, per_partition=True)
    three = broker("healthy", 3, per_partition=True)
    labels = {"topic": "minisr-over-rf", "partition": "0"}
    assert one.get("kafka_insight_broker_partition_at_min_isr", broker_id="1", **labels) == 0
    assert three.get("kafka_insight_broker_partition_at_min_isr", broker_id="3", **labels) == 1
    assert three.get("kafka_insight_broker_partition_under_min_isr", broker_id="3", **labels) == 0
    assert three.get("kafka_insight_broker_log_end_offset", broker_id="3", **labels) is not None


def test_unreachable_broker_dump_has_no_mbeans() -> None:
    record = parse_broker(load_dump(FIXTURES / "jmx-broker3-broker3-down.json"), "t", broker_id=3)
    assert record.replica_manager.under_min_isr is None and record.controller is None and not record.client_connections


# -- producers and consumers ----------------------------------------------------------------------
PRODUCERS = {  # codec: (compression-rate-avg, batch-size-avg, batch-size-max, records-per-request-avg)
    "none": (1.0, 12489.1, 16384, 14.95),
    "gzip": (0.27770, 3331.99, 6477, 13.39),
    "lz4": (0.41005, 4769.22, 8422, 13.04),
    "zstd": (0.20881, 18143.8, 20165, 101.59),
}


@pytest.mark.parametrize("codec", sorted(PRODUCERS))
def test_producer_compression_and_batch_size(codec: str) -> None:
    ratio, batch_avg, batch_max, per_request = PRODUCERS[codec]
    target = parse_client_target(load_dump(FIXTURES / f"jmx-producer-{codec}.json"), "perf", declared={"batch.size": "16384"})
    assert target.errors == []
    (client,) = client_records([target])
    assert (client.kind, client.client_id, client.version) == ("producer", f"perf-producer-{codec}", "4.0.0")
    out = Samples()
    emit_clients(target, out)
    cid = f"perf-producer-{codec}"
    assert out.get("kafka_insight_producer_compressed_size_ratio", target="perf", client_id=cid) == pytest.approx(ratio, abs=5e-5)
    assert out.get("kafka_insight_producer_batch_size_avg_bytes", target="perf", client_id=cid) == pytest.approx(batch_avg, abs=0.05)
    assert out.get("kafka_insight_producer_batch_size_max_bytes", target="perf", client_id=cid) == batch_max
    assert out.get("kafka_insight_producer_records_per_request_avg", target="perf", client_id=cid) == pytest.approx(per_request, abs=0.005)
    assert out.get("kafka_insight_producer_record_retries_total", target="perf", client_id=cid) == 0
    info = {"target": "perf", "client_id": cid, "kind": "producer", "version": "4.0.0", "commit_id": "985bc99521dd22bb"}
    assert out.get("kafka_insight_client_info", **info) == 1
    assert out.get("kafka_insight_client_declared_setting_info", target="perf", client_id=cid, setting="batch.size", value="16384") == 1
    # NaN (reauthentication latency, bootstrap node latencies) never becomes a sample
    assert all(v == v for _, rows in out for _, v in rows)


def test_producer_times_in_seconds_and_per_topic_ratio() -> None:
    (gzip,) = client_records([parse_client_target(load_dump(FIXTURES / "jmx-producer-gzip.json"), "g")])
    assert gzip.producer is not None
    assert gzip.producer.topics["durable"].compression_rate == pytest.approx(0.27768, abs=5e-5)
    (zstd,) = client_records([parse_client_target(load_dump(FIXTURES / "jmx-producer-zstd.json"), "z")])
    assert zstd.producer is not None
    assert zstd.producer.record_queue_time_avg_seconds == pytest.approx(48.629441624365484 / 1000)
    assert zstd.producer.request_latency_max_seconds == pytest.approx(0.072)
    # P5: raw bytes per batch = batch-size-avg / compression-rate-avg exceeds batch.size (65536)
    assert zstd.producer.batch_size_avg is not None and zstd.producer.compression_rate_avg is not None
    assert zstd.producer.batch_size_avg / zstd.producer.compression_rate_avg == pytest.approx(86891.5, abs=1)


def test_consumer_perf_lag_throttle_rebalances() -> None:
    target = parse_client_target(load_dump(FIXTURES / "jmx-consumer-perf.json"), "c", per_partition=True)
    out = Samples()
    emit_clients(target, out)
    key = {"target": "c", "client_id": "perf-consumer"}
    assert out.get("kafka_insight_consumer_records_lag_max", **key) == 46488
    assert out.get("kafka_insight_consumer_fetch_throttle_time_avg_seconds", **key) == pytest.approx(0.6948, abs=1e-4)
    assert out.get("kafka_insight_consumer_rebalances_total", **key) == 1
    assert out.get("kafka_insight_consumer_failed_rebalances_total", **key) == 1
    lags = [out.get("kafka_insight_consumer_partition_records_lag", **key, topic="durable", partition=str(p)) for p in range(6)]
    assert lags == [35181, 29514, 31601, 27567, 29300, 28880]


def test_consumer_live_tail_window_max_is_not_current_lag_and_nan_dropped() -> None:
    target = parse_client_target(load_dump(FIXTURES / "jmx-consumer-live-tail.json"), "c", per_partition=True)
    (client,) = target.clients
    assert client.consumer is not None
    assert client.consumer.records_lag_max == 2370
    assert {p.records_lag for p in client.consumer.partitions.values()} == {0}
    # rebalance-latency-avg is "NaN": dropped and counted, not an error
    assert client.consumer.rebalance_latency_avg_seconds is None
    assert target.dropped == 1 and target.errors == []
    out = Samples()
    emit_clients(target, out)
    assert out.dropped == {"client_jmx": 1}
    assert out.get("kafka_insight_consumer_rebalance_latency_avg_seconds", target="c", client_id="live-tail-1") is None


def test_garbage_and_non_finite_values_are_dropped_and_counted() -> None:
    mbean = "kafka.producer:type=producer-metrics,client-id=p"
    rows = [
        JmxRow(mbean, "compression-rate-avg", "not-a-number", "String"),
        JmxRow(mbean, "batch-size-avg", "Infinity", "Double"),
        JmxRow(mbean, "record-send-total", 12.0, "Double"),
        JmxRow(mbean, "record-retry-total", None, "Null"),
        JmxRow("kafka.producer:type=app-info,client-id=p", "version", "3.0.0", "String"),
    ]
    target = parse_client_target(rows, "x")
    assert target.dropped == 3
    assert len(target.errors) == 1 and "compression-rate-avg" in target.errors[0] and "not-a-number" in target.errors[0]
    out = Samples()
    emit_clients(target, out)
    assert out.get("kafka_insight_producer_records_sent_total", target="x", client_id="p") == 12
    assert out.get("kafka_insight_producer_compressed_size_ratio", target="x", client_id="p") is None
    assert out.dropped == {"client_jmx": 3}


# -- plumbing -------------------------------------------------------------------------------------
def test_object_name_parsing_with_quoted_values() -> None:
    domain, props = parse_object_name('kafka.log:type=LogManager,name=LogDirectoryOffline,logDirectory="data/node1,x"')
    assert domain == "kafka.log" and props == {"type": "LogManager", "name": "LogDirectoryOffline", "logDirectory": "data/node1,x"}


def test_parsed_object_names_are_shared_and_read_only() -> None:
    # parsed once per name (every cycle reads the same MBeans), so no caller may change them
    name = "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=t"
    first, again = parse_object_name(name), parse_object_name(name)
    assert again[1] is first[1]
    with pytest.raises(TypeError):
        first[1]["topic"] = "other"  # type: ignore[index]
    assert parse_object_name(name)[1]["topic"] == "t"


def test_rows_from_jmxquery_json_and_composite_keys() -> None:
    rows = rows_from_jmxquery(
        [
            {"mBeanName": "java.lang:type=Memory", "attribute": "HeapMemoryUsage", "attributeKey": "used", "attributeType": "Long", "value": 5},
            {"mBeanName": "a:b=c", "attribute": "Value", "attributeType": "Integer", "value": 1},
        ]
    )
    assert rows == [JmxRow("java.lang:type=Memory", "HeapMemoryUsage/used", 5, "Long"), JmxRow("a:b=c", "Value", 1, "Integer")]


def test_patterns_urls_and_tls_settings_for_the_worker() -> None:
    from exporter.sources.jmx.config import JmxAuth, JmxTls
    from exporter.sources.jmx.patterns import split_pattern as _split

    # jmxquery's pattern syntax: object name, then optionally /attribute and /composite key;
    # several attributes of one MBean are read in one call: /A,B (then no composite key)
    assert _split("kafka.server:type=ReplicaManager,*/Value") == ("kafka.server:type=ReplicaManager,*", ["Value"], None)
    assert _split("java.lang:type=Memory/HeapMemoryUsage/used") == ("java.lang:type=Memory", ["HeapMemoryUsage"], "used")
    assert _split("kafka.server:type=app-info,*") == ("kafka.server:type=app-info,*", None, None)
    assert _split("kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs/Count,Mean") == (
        "kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs",
        ["Count", "Mean"],
        None,
    )
    assert all(_split(p)[0].count(":") == 1 for p in patterns(True, True))
    assert jmx_url("h:9999") == "service:jmx:rmi:///jndi/rmi://h:9999/jmxrmi"
    assert jmx_url("service:jmx:rmi:///jndi/rmi://h:1/x") == "service:jmx:rmi:///jndi/rmi://h:1/x"
    # TLS settings become system properties inside the worker (one worker per distinct set)
    assert tls_properties(JmxAuth("u", "s3cret")) == []
    assert tls_properties(JmxAuth(tls=JmxTls(truststore="/t.jks", truststore_password="pw"))) == [
        ("javax.net.ssl.trustStore", "/t.jks"),
        ("javax.net.ssl.trustStorePassword", "pw"),
    ]


def test_jmx_config_errors_name_the_yaml_path(tmp_path: object) -> None:
    from pathlib import Path

    def err(text: str) -> str:
        path = Path(str(tmp_path)) / "c.yaml"
        path.write_text(text)
        with pytest.raises(config.ConfigError) as info:
            config.load(str(path))
        return str(info.value)

    assert err("jmx:\n  brokers:\n    targets: [{address: 'kafka-1'}]\n") == (
        "jmx.brokers.targets[0].address: 'kafka-1' is not host:port or a service:jmx: URL"
    )
    assert err("jmx:\n  clients:\n    targets: [{address: 'a:1', settings: {lingerms: 5}}]\n").startswith(
        "jmx.clients.targets[0].settings.lingerms: unknown key; did you mean 'linger.ms'?"
    )
    assert err("jmx:\n  brokers:\n    discover: {}\n") == (
        "jmx.brokers.discover: set exactly one of port (same JMX port on every broker) or port_base (port_base + broker_id)"
    )
    assert err("jmx:\n  brokers:\n    targets: [{address: 'a:1', username: u}]\n") == (
        "jmx.brokers.targets[0]: set both username and password, or neither"
    )
    assert err("jmx:\n  timeout_seconds: 0\n") == "jmx.timeout_seconds: expected a number in [0.5, 300], got 0"
    # request types become parts of MBean names: letters only
    assert err("jmx:\n  brokers:\n    request_types: [Produce, 'Fetch,*']\n") == (
        "jmx.brokers.request_types[1]: 'Fetch,*' is not a Kafka request name (e.g. Produce, FetchConsumer)"
    )
    assert err("jmx:\n  brokers:\n    log_size: maybe\n").startswith("jmx.brokers.log_size: ")


def test_every_jmx_family_is_in_the_catalogue_and_promtool_clean() -> None:
    specs = all_specs()
    out = Samples()
    for state in STATES:
        for node in REPLICA_MANAGER[state]:
            emit_broker(parse_broker(load_dump(FIXTURES / f"jmx-broker{node}-{state}.json"), f"{state}-{node}", broker_id=node + 10 * STATES.index(state)), out)
    # issue 17's fresh dump (log sizes per topic too)
    emit_broker(parse_broker(load_dump(FIXTURES / "jmx-broker1-ops.json"), "ops-1", broker_id=99, log_size=True), out)
    for name in ("producer-none", "producer-gzip", "producer-lz4", "producer-zstd", "consumer-perf", "consumer-live-tail"):
        emit_clients(parse_client_target(load_dump(FIXTURES / f"jmx-{name}.json"), name, declared={"acks": "all"}, per_partition=True), out)
    emitted = {spec.name for spec, rows in out if rows}
    assert emitted <= set(specs)
    jmx_specs = {n for n, s in specs.items() if s.source in ("broker_jmx", "client_jmx")}
    # every family except per-topic broker traffic (per_topic off above) and meters never seen here
    missing = jmx_specs - emitted
    assert missing <= {"kafka_insight_consumer_commit_latency_avg_seconds"} | {
        n for n in jmx_specs if n.startswith("kafka_insight_broker_topic_")
    }, missing
    body = render(out).body
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert done.returncode == 0 and done.stdout.decode() + done.stderr.decode() == "", done


def test_two_targets_reaching_one_broker_are_exported_once() -> None:
    from exporter.sources.jmx.broker import emit_brokers

    rows = load_dump(FIXTURES / "jmx-broker1-healthy.json")
    out = Samples()
    emit_brokers([parse_broker(rows, "kafka-1:9999"), parse_broker(rows, "127.0.0.1:9999"), parse_broker(rows, "x:1", broker_id=2)], out)
    leaders = [(labels, v) for spec, found in out if spec.name == "kafka_insight_broker_leader_partitions" for labels, v in found]
    assert leaders == [(("1",), 12.0), (("2",), 12.0)]
    targets = [labels[2] for spec, found in out if spec.name == "kafka_insight_broker_jmx_info" for labels, _ in found]
    assert targets == ["kafka-1:9999", "x:1"]


def test_odd_ids_in_mbean_names_are_ignored_not_fatal() -> None:
    rows = [
        JmxRow("kafka.server:type=app-info,id=²", "Version", "4.0.0", "String"),
        JmxRow("kafka.cluster:type=Partition,name=AtMinIsr,topic=t,partition=٣", "Value", 1, "Integer"),
        JmxRow("kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c,topic=t,partition=" + "9" * 5000, "records-lag", 1.0, "Double"),
    ]
    record = parse_broker(rows, "t")
    assert record.broker_id is None and record.partitions == {} and record.version == "4.0.0"
    (client,) = parse_client_target(rows, "t", per_partition=True).clients
    assert client.consumer is not None and client.consumer.partitions == {}


def test_offline_log_directories_from_the_log_manager() -> None:
    # every recorded broker has all its log directories online (LogManager OfflineLogDirectoryCount 0)
    for node in (1, 2, 3):
        assert broker("healthy", node).get("kafka_insight_broker_offline_log_directories", broker_id=str(node)) == 0
    # a broker whose disk failed: the count as the broker reports it, and the pattern asks for it
    rows = [
        *load_dump(FIXTURES / "jmx-broker2-healthy.json"),
    ]
    rows = [r for r in rows if "OfflineLogDirectoryCount" not in r.mbean]
    rows.append(JmxRow("kafka.log:type=LogManager,name=OfflineLogDirectoryCount", "Value", 2, "Integer"))
    out = Samples()
    emit_broker(parse_broker(rows, "127.0.0.1:30000"), out)
    assert out.get("kafka_insight_broker_offline_log_directories", broker_id="2") == 2
    assert "kafka.log:type=LogManager,name=OfflineLogDirectoryCount/Value" in patterns(False, False)
