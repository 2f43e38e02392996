"""JMX sources live: the real 3-node Kafka 4.0 cluster's brokers and real Java producers/consumers.

Faults are real too: a refused port, a port that accepts and never answers, a broker killed
with SIGKILL (restarted and ISRs full again before the test ends).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest

from exporter import config
from exporter.app import build_collector
from exporter.cycle import Collector
from exporter.demo.broker import free_port
from exporter.snapshot import TargetResult
from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.client import ClientJmxSource
from exporter.sources.jmx.config import JmxAuth
from tests._exposition import Parsed
from tests.conftest import KAFKA_BIN, RealKafka, create_topic

JMX_TIMEOUT = 8.0  # generous: the test machine has 2 cores and other clusters running


@pytest.fixture(scope="module")
def hanging_port() -> Iterator[int]:
    """A port that completes the TCP handshake (kernel backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def jmx_collector(cluster: RealKafka, jmx_section: dict[str, Any], **extra: Any) -> Collector:
    cfg = config.load(
        None,
        {
            "kafka.bootstrap_servers": cluster.bootstrap,
            "kafka.request_timeout_seconds": 5,
            "collection.interval_seconds": 20,
            "collection.timeout_seconds": 12,
            "jmx": {"timeout_seconds": JMX_TIMEOUT, **jmx_section},
            **extra,
        },
    )
    return build_collector(cfg)


def results(collector: Collector, source: str) -> dict[str, TargetResult]:
    return {r.target: r for r in collector.status() if r.source == source}


def per_broker(m: Parsed, name: str) -> dict[str, float]:
    return {labels["broker_id"]: value for labels, value in m.series(name)}


def broker_targets(cluster: RealKafka) -> list[str]:
    return [f"127.0.0.1:{cluster.jmx_port(n)}" for n in (1, 2, 3)]


def test_explicit_targets_refused_and_hanging_ports(real_kafka: RealKafka, hanging_port: int) -> None:
    refused = f"127.0.0.1:{free_port()}"
    hanging = f"127.0.0.1:{hanging_port}"
    collector = jmx_collector(real_kafka, {"brokers": {"targets": [*broker_targets(real_kafka), refused, hanging]}})
    try:
        for _attempt in range(3):  # a loaded machine may time out a real broker's JVM once: retry the cycle
            started = time.monotonic()
            collector.collect_once()
            took = time.monotonic() - started
            # the hanging target is killed at its own timeout; the cycle never runs past its deadline
            assert took < collector.timeout + 1, took
            res = results(collector, "broker_jmx")
            # a warm JMX worker can read the brokers before the cycle's Admin client has announced
            # itself (KIP-511 ApiVersions) on its new connections: then the next cycle counts them
            if all(res[t].up for t in broker_targets(real_kafka)) and _python_connections(Parsed(collector.exposition.body)):
                break
        m = Parsed(collector.exposition.body)
        for target in broker_targets(real_kafka):
            assert res[target].up, res[target].error
            assert m.value("kafka_insight_source_up", source="broker_jmx", target=target) == 1
        assert not res[refused].up and "Connection refused" in (res[refused].error or ""), res[refused].error
        assert not res[hanging].up and "no answer within" in (res[hanging].error or ""), res[hanging].error
        assert m.value("kafka_insight_source_up", source="broker_jmx", target=refused) == 0
        assert m.value("kafka_insight_source_up", source="broker_jmx", target=hanging) == 0
        assert m.value("kafka_insight_source_up", source="admin", target=real_kafka.bootstrap) == 1

        # broker ids come from the brokers' own app-info MBeans
        assert set(per_broker(m, "kafka_insight_broker_leader_partitions")) == {"1", "2", "3"}
        active = per_broker(m, "kafka_insight_controller_active")
        assert sorted(active.values()) == [0, 0, 1], active
        # each partition is led by exactly one broker: leaders add up to the controller's partition count
        leaders = sum(per_broker(m, "kafka_insight_broker_leader_partitions").values())
        assert leaders == max(per_broker(m, "kafka_insight_controller_global_partitions").values())
        assert set(per_broker(m, "kafka_insight_broker_request_handler_pools").values()) == {2}  # combined nodes
        for ratio in per_broker(m, "kafka_insight_broker_network_processor_idle_ratio").values():
            assert 0 <= ratio <= 1
        # KIP-511: the exporter's own Admin client (confluent-kafka) is counted by name and version
        assert _python_connections(m) >= 1, m.series("kafka_insight_broker_client_connections")
        java_controller = m.series("kafka_insight_broker_client_connections", client_software_name="apache-kafka-java", listener="CONTROLLER")
        assert sum(v for _, v in java_controller) >= 2  # the nodes talk to each other
        _assert_operational_set(m)
    finally:
        collector.stop()


def _python_connections(m: Parsed) -> float:
    version = confluent_kafka.version()[0]
    return sum(
        value
        for labels, value in m.series("kafka_insight_broker_client_connections", client_software_name="confluent-kafka-python")
        if labels["client_software_version"].startswith(version) and labels["listener"] == "PLAINTEXT"
    )


def _assert_operational_set(m: Parsed) -> None:
    """Issue 17: the operational families of every broker in the same scrape, with sane values."""
    nodes = {"1", "2", "3"}
    # KRaft: exactly one leader among the three combined nodes, and every node knows it
    leaders = [lb["broker_id"] for lb, v in m.series("kafka_insight_kraft_state", state="leader") if v == 1]
    assert len(leaders) == 1, m.series("kafka_insight_kraft_state")
    assert set(per_broker(m, "kafka_insight_kraft_leader_id").values()) == {float(leaders[0])}
    epochs = per_broker(m, "kafka_insight_kraft_epoch")
    assert set(epochs) == nodes and min(epochs.values()) >= 1
    assert min(per_broker(m, "kafka_insight_kraft_high_watermark").values()) > 0
    # request latency: the Admin API's own Metadata requests reached some broker; quantiles in seconds
    metadata = [v for _, v in m.series("kafka_insight_broker_request_latency_seconds_count", request="Metadata")]
    assert sum(metadata) >= 1, metadata
    for labels, seconds in m.series("kafka_insight_broker_request_latency_seconds"):
        assert 0 <= seconds < 60, labels
        assert labels["quantile"] in ("0.5", "0.99", "0.999")
    phases = {lb["phase"] for lb, _ in m.series("kafka_insight_broker_request_phase_latency_seconds_sum")}
    assert phases == {"request_queue", "local", "remote", "response_queue", "response_send"}, phases
    # FetchFollower: the nodes replicate from each other (RF 3 internal topics)
    assert sum(v for _, v in m.series("kafka_insight_broker_request_latency_seconds_count", request="FetchFollower")) > 0
    for name in ("kafka_insight_broker_request_queue_size", "kafka_insight_broker_response_queue_size",
                 "kafka_insight_broker_replica_fetcher_max_lag", "kafka_insight_broker_replica_fetcher_failed_partitions",
                 "kafka_insight_broker_log_flush_latency_seconds_count",
                 "kafka_insight_controller_event_processing_latency_seconds_count"):
        values = per_broker(m, name)
        assert set(values) == nodes and min(values.values()) >= 0, (name, values)
    assert sum(per_broker(m, "kafka_insight_controller_event_processing_latency_seconds_count").values()) > 0
    ops = {(lb["broker_id"], lb["operation"]) for lb, _ in m.series("kafka_insight_broker_purgatory_delayed_operations")}
    assert ops == {(n, op) for n in nodes for op in ("Produce", "Fetch")}, ops
    states = {(lb["protocol"], lb["state"]) for lb, _ in m.series("kafka_insight_broker_coordinator_groups")}
    assert ("classic", "Stable") in states and ("consumer", "Stable") in states, states


def test_discovery_from_admin_brokers_with_racks(real_kafka: RealKafka) -> None:
    base = real_kafka.jmx_port(0)
    collector = jmx_collector(real_kafka, {"brokers": {"discover": {"port_base": base}}})
    try:
        collector.collect_once()
        assert results(collector, "broker_jmx") == {}  # discovery needs one Admin-API answer first
        collector.collect_once()
        res = results(collector, "broker_jmx")
        assert sorted(res) == broker_targets(real_kafka)
        assert all(r.up for r in res.values()), res
        m = Parsed(collector.exposition.body)
        info = {(lb["broker_id"], lb["rack"], lb["target"], lb["version"]) for lb, _ in m.series("kafka_insight_broker_jmx_info")}
        assert info == {(str(n), f"r{n}", f"127.0.0.1:{base + n}", "4.0.0") for n in (1, 2, 3)}
    finally:
        collector.stop()


def _expected_min_isr_counts(m: Parsed) -> tuple[int, int]:
    """Under/at-min-ISR partitions with a leader, from the Admin API and effective min ISR."""
    under = at = 0
    for labels, isr in m.series("kafka_insight_partition_in_sync_replicas"):
        topic, pid = labels["topic"], labels["partition"]
        if m.value("kafka_insight_partition_leader", topic=topic, partition=pid) == -1:
            continue
        replicas = m.value("kafka_insight_partition_replicas", topic=topic, partition=pid) or 0
        min_isr = min(m.value("kafka_insight_topic_min_insync_replicas", topic=topic) or 1, replicas)
        under += isr < min_isr
        at += isr == min_isr
    return under, at


def _poll_min_isr(collector: Collector, enough: Any, timeout: float = 60) -> tuple[Parsed, tuple[float, float], tuple[int, int]]:
    """Collect until the brokers' own counts equal the Admin-API view and ``enough(expected)``."""
    deadline = time.monotonic() + timeout
    while True:
        collector.collect_once()
        m = Parsed(collector.exposition.body)
        expected = _expected_min_isr_counts(m)
        got = (
            sum(per_broker(m, "kafka_insight_broker_under_min_isr_partitions").values()),
            sum(per_broker(m, "kafka_insight_broker_at_min_isr_partitions").values()),
        )
        if (got == expected and enough(expected)) or time.monotonic() > deadline:
            return m, got, expected
        time.sleep(0.5)


def test_broker_killed_its_target_goes_down_and_the_others_count_min_isr(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    create_topic(b, "jmx-live-minisr2", 3, 3, {"min.insync.replicas": "2"}, exist_ok=True)
    create_topic(b, "jmx-live-minisr3", 3, 3, {"min.insync.replicas": "3"}, exist_ok=True)
    targets = broker_targets(real_kafka)
    # discovered targets: the dead broker must stay a target (source_up 0), not vanish with its metadata
    collector = jmx_collector(
        real_kafka, {"brokers": {"discover": {"port_base": real_kafka.jmx_port(0)}}}, **{"filters.topics.include_internal": True}
    )
    try:
        # while every broker is up the min.isr 3 topic is at-min (RF 3 = min.isr 3)
        m, got, expected = _poll_min_isr(collector, lambda exp: exp[1] >= 3)
        assert got == expected and expected[1] >= 3, (got, expected)

        real_kafka.kill_broker(3)
        # then it is under-min (3 partitions) and the min.isr 2 topic at-min
        m, got, expected = _poll_min_isr(collector, lambda exp: exp[0] >= 3 and exp[1] >= 3)
        assert got == expected and expected[0] >= 3 and expected[1] >= 3, (got, expected)
        res = results(collector, "broker_jmx")
        assert not res[targets[2]].up and "Connection refused" in (res[targets[2]].error or ""), res[targets[2]]
        assert res[targets[0]].up and res[targets[1]].up
        assert set(per_broker(m, "kafka_insight_broker_leader_partitions")) == {"1", "2"}
        fenced = per_broker(m, "kafka_insight_controller_fenced_brokers")
        assert set(fenced) == {"1", "2"} and max(fenced.values()) == 1
        assert m.value("kafka_insight_source_up", source="admin", target=b) == 1
    finally:
        collector.stop()
        real_kafka.start_broker(3)
        real_kafka.wait_full_isr()


# -- Java clients -------------------------------------------------------------------------------
def _java_tool(tool: str, args: list[str], jmx_port: int, log_dir: str, jmx_opts: str | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        KAFKA_HEAP_OPTS="-Xmx128m",
        LOG_DIR=log_dir,
        KAFKA_JMX_OPTS=jmx_opts
        or (
            f"-Dcom.sun.management.jmxremote.port={jmx_port} -Dcom.sun.management.jmxremote.rmi.port={jmx_port} "
            "-Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false "
            "-Djava.rmi.server.hostname=127.0.0.1"
        ),
    )
    return subprocess.Popen(
        [str(KAFKA_BIN / tool), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_java_producer_and_consumer_over_jmx(real_kafka: RealKafka) -> None:
    b = real_kafka.bootstrap
    topic = "jmx-live-zstd"
    create_topic(b, topic, 3, 3, exist_ok=True)
    pport, cport = free_port(), free_port()
    with tempfile.TemporaryDirectory() as logs:
        producer = _java_tool(
            "kafka-producer-perf-test.sh",
            ["--topic", topic, "--num-records", "10000000", "--record-size", "800", "--throughput", "3000",
             "--producer-props", f"bootstrap.servers={b}", "compression.type=zstd", "client.id=jmx-live-p1",
             "linger.ms=20", "batch.size=32768"],
            pport,
            logs,
        )
        consumer = _java_tool(
            "kafka-consumer-perf-test.sh",
            ["--bootstrap-server", b, "--topic", topic, "--group", "jmx-live-cg", "--messages", "100000000", "--timeout", "120000"],
            cport,
            logs,
        )
        producer_target = f"127.0.0.1:{pport}"
        settings = {"batch.size": 32768, "linger.ms": 20, "compression.type": "zstd"}
        collector = jmx_collector(
            real_kafka,
            {
                "brokers": {"targets": broker_targets(real_kafka)},
                "clients": {
                    "targets": [
                        {"address": producer_target, "name": "perf-producer", "settings": settings},
                        {"address": f"127.0.0.1:{cport}", "name": "perf-consumer"},
                    ],
                    "per_partition_lag": True,
                },
            },
        )
        try:
            deadline = time.monotonic() + 90  # generous for a loaded 2-core machine; ~10 s when idle
            while True:
                collector.collect_once()
                m = Parsed(collector.exposition.body)
                ratio = m.value("kafka_insight_producer_compressed_size_ratio", target="perf-producer", client_id="jmx-live-p1")
                consumed = m.series("kafka_insight_consumer_records_consumed_total", target="perf-consumer")
                java = m.series("kafka_insight_broker_client_connections", client_software_name="apache-kafka-java", listener="PLAINTEXT")
                consumer_lag = m.series("kafka_insight_consumer_partition_records_lag", target="perf-consumer", topic=topic)
                if ratio is not None and consumed and consumed[0][1] > 0 and consumer_lag and sum(v for _, v in java) >= 2:
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert producer.poll() is None and consumer.poll() is None, "a perf tool exited early"
            # what the producer itself reports over JMX, read directly
            direct = jvm.query(
                producer_target,
                ["kafka.producer:type=producer-metrics,client-id=jmx-live-p1/compression-rate-avg"],
                JmxAuth(),
                timeout=20,
            )
            assert ratio is not None and len(direct) == 1, (ratio, direct, collector.status(), m.series("kafka_insight_producer_compressed_size_ratio"))
            assert 0 < ratio < 1
            assert ratio == pytest.approx(float(str(direct[0].value)), rel=0.05)
            key = {"target": "perf-producer", "client_id": "jmx-live-p1"}
            assert m.value("kafka_insight_client_info", **key, kind="producer", version="4.0.0", commit_id="985bc99521dd22bb") == 1
            assert m.value("kafka_insight_client_declared_setting_info", **key, setting="batch.size", value="32768") == 1
            assert (m.value("kafka_insight_producer_records_sent_total", **key) or 0) > 0
            assert (m.value("kafka_insight_producer_batch_size_avg_bytes", **key) or 0) > 0
            latency = m.value("kafka_insight_producer_request_latency_avg_seconds", **key)
            assert latency is not None and 0 < latency < 5  # seconds, not ms
            assert m.value("kafka_insight_producer_topic_compressed_size_ratio", **key, topic=topic) is not None

            ((labels, _),) = m.series("kafka_insight_client_info", target="perf-consumer")
            assert labels["kind"] == "consumer" and labels["version"] == "4.0.0"
            assert consumer_lag
            assert m.series("kafka_insight_consumer_rebalances_total", target="perf-consumer")
            assert all(r.up for r in collector.status() if r.source == "client_jmx"), collector.status()
            # KIP-511: the brokers see the two Java clients by name and version
            assert sum(v for _, v in java) >= 2, java
        finally:
            collector.stop()
            _stop(producer)
            _stop(consumer)
    assert Path(logs).exists() is False


# -- TLS on the JMX connector ------------------------------------------------------------------------
def test_jmx_over_tls_with_a_truststore(kafka_home: Path, tmp_path: Path) -> None:
    """A Java consumer of the Kafka distribution (no cluster needed: it keeps retrying a dead bootstrap) with TLS JMX."""
    keytool = shutil.which("keytool")
    assert keytool, "keytool (from the Java runtime that runs Kafka) is required"
    ks, ts, cert = tmp_path / "ks.p12", tmp_path / "ts.p12", tmp_path / "cert.pem"
    common = ["-storetype", "PKCS12", "-storepass", "changeit"]
    subprocess.run([keytool, "-genkeypair", "-alias", "jmx", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=127.0.0.1",
                    "-ext", "SAN=ip:127.0.0.1", "-validity", "2", "-keystore", str(ks), "-keypass", "changeit", *common],
                   check=True, capture_output=True)
    subprocess.run([keytool, "-exportcert", "-alias", "jmx", "-rfc", "-file", str(cert), "-keystore", str(ks), *common],
                   check=True, capture_output=True)
    subprocess.run([keytool, "-importcert", "-noprompt", "-alias", "jmx", "-file", str(cert), "-keystore", str(ts), *common],
                   check=True, capture_output=True)
    port, rmi_port = free_port(), free_port()  # with TLS only on the connector, registry and connector need two ports
    jmx_opts = (
        f"-Dcom.sun.management.jmxremote.port={port} -Dcom.sun.management.jmxremote.rmi.port={rmi_port} "
        "-Dcom.sun.management.jmxremote.ssl=true -Dcom.sun.management.jmxremote.authenticate=false "
        f"-Djavax.net.ssl.keyStore={ks} -Djavax.net.ssl.keyStorePassword=changeit -Djava.rmi.server.hostname=127.0.0.1"
    )
    consumer = _java_tool(
        "kafka-console-consumer.sh", ["--bootstrap-server", f"127.0.0.1:{free_port()}", "--topic", "nowhere"], port, str(tmp_path), jmx_opts
    )
    try:
        tls = {"truststore": str(ts), "truststore_password": "changeit"}
        settings = config.load(None, {"jmx": {"clients": {"targets": [{"address": f"127.0.0.1:{port}", "name": "tls", "tls": tls}]}}})
        source = ClientJmxSource(settings.jmx)
        deadline = time.monotonic() + 60
        while True:
            try:
                record = source.collect(settings.jmx.clients[0])
                # app-info is registered at the end of the consumer's constructor, after its
                # metrics: a fast query can see the consumer a moment before its version
                if record.clients and all(c.version for c in record.clients):
                    break
            except Exception as exc:
                # (or a first TLS handshake of the JMX worker's JVM slower than the timeout on a loaded host)
                if not ("Connection refused" in str(exc) or "no answer within" in str(exc)) or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise AssertionError("no kafka.consumer MBeans over TLS JMX")
            time.sleep(0.5)
        assert [(c.kind, c.version) for c in record.clients] == [("consumer", "4.0.0")]
        with pytest.raises(Exception, match="SSLHandshakeException: PKIX path building failed"):
            jvm.query(f"127.0.0.1:{port}", ["java.lang:type=Runtime/Uptime"], JmxAuth(), timeout=10)
    finally:
        _stop(consumer)
