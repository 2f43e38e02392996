"""End to end on the real 3-node Kafka 4.0 cluster: a real Prometheus scrapes the exporter
(Admin API, broker JMX discovered from the metadata, a Java producer and consumer over JMX),
loads the generated rules and evaluates every dashboard query and alert expression; then a
broker is killed and the alerts that must fire do, while the others stay silent.

Alert expressions are evaluated directly (their ``for:`` aside, which promtool's unit tests
cover), so the test does not wait minutes for pending alerts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.catalogue import series_specs
from exporter.demo.broker import free_port
from exporter.mixin import alerts, dashboards, promql
from exporter.mixin.connect import CONNECT_UID
from exporter.mixin.settings import DEFAULTS
from tests._prometheus import JOB, ROOT, Prometheus, stop_process, wait_for
from tests.conftest import RealKafka, create_topic
from tests.test_jmx_live import _java_tool, _stop

RATE_INTERVAL = "10s"
E, C, K, P, R = dashboards.EXPORTER_UID, dashboards.CLUSTER_UID, dashboards.CONSUMERS_UID, dashboards.PRODUCERS_UID, dashboards.RISK_UID
#: panels that are empty on a healthy cluster, and why (checked before the broker is killed)
HEALTHY_EMPTY: dict[tuple[str, str, str], str] = {
    (E, "Dropped values", "{{source}}"): "only exported for a source that dropped a value",
    (C, "Partitions under / at min ISR by topic", "under min ISR {{topic}}"): "healthy: every ISR is full",
    (C, "Partitions under / at min ISR by topic", "at min ISR {{topic}}"): "healthy: every ISR is full",
    (C, "Offline and under-replicated partitions by topic", "offline {{topic}}"): "healthy: every partition has a leader",
    (C, "Offline and under-replicated partitions by topic", "under-replicated {{topic}}"): "healthy: full ISRs",
    (C, "Offline and under-replicated partitions by topic", "reassigning {{topic}}"): "no partition is being moved",
    (C, "Log end offset regressions", "{{topic}}[{{partition}}]"): "no data was lost",
    (C, "Durability risks", ""): "the test's topic is RF 3 with min ISR 2; earlier tests' risky topics may be gone",
    (C, "Partitions with all replicas in one rack", "{{topic}}"): "RF 3 over racks r1..r3",
    (K, "Offset rewinds", "{{group}}"): "nobody resets the test group's offsets",
    (R, "Topics with partitions offline / under / at min ISR", "offline {{topic}}"): "healthy: every partition has a leader",
    (R, "Topics with partitions offline / under / at min ISR", "under min ISR {{topic}}"): "healthy: every ISR is full",
    (R, "Topics with partitions offline / under / at min ISR", "at min ISR {{topic}}"): "earlier tests' RF <= min ISR topics may be gone",
    (R, "Firing alerts", ""): "a healthy cluster may have no alert firing (info alerts wait 30 min)",
    (R, "Groups stalled or stopped", ""): "the test's consumer group consumes",
    (R, "Producers that can reorder", "Java"): "the Java 4.0 perf producer is idempotent by default",
    (R, "Producers that can reorder", "librdkafka"): "no librdkafka producer forwards statistics here",
    (R, "Compression that does not pay", "{{client_id}} {{target}}"): "gzip may well pay on the perf producer's records",
    (K, "Committed offsets beyond the log end", ""): "no data was lost",
    (K, "Committed offsets below the log start", ""): "retention deleted nothing",
    (P, "Topics recompressing this producer's batches", ""): "the topic keeps compression.type=producer",
}


def from_client_statistics(expr: str) -> bool:
    """Queries on librdkafka client statistics or the canary: those sources are not configured in
    this test (checked live on the demo, test_mixin_live.py, and in test_canary_live.py)."""
    specs = series_specs()
    used = [specs[n] for n in promql.metric_names(expr) if n in specs]
    return bool(used) and all(u.source in ("client_stats", "canary") or u.name.startswith("kafka_insight_librdkafka") for u in used)


def substitute(expr: str, instance: str) -> str:
    for var, value in (
        ("$__rate_interval", RATE_INTERVAL),
        ("$job", JOB),
        ("$instance", instance),
        ("$cluster_id", ".*"),
        ("$__range", "1m"),
        ("$topic", ".*"),
        ("$group", ".*"),
        ("$client_id", ".*"),
    ):
        expr = expr.replace(var, value)
    return expr


def series(prometheus: Prometheus, expr: str) -> list[dict[str, str]]:
    result = prometheus.query(expr)
    assert result["status"] == "success", f"{expr}: {result.get('error')}"
    return [r["metric"] for r in result["data"]["result"]]


def firing(prometheus: Prometheus) -> dict[str, list[dict[str, str]]]:
    return {a.name: series(prometheus, a.expr) for a in alerts.all_alerts(DEFAULTS)}


@pytest.fixture
def stack(real_kafka: RealKafka, tmp_path: Path) -> Iterator[tuple[Prometheus, str, str]]:
    topic = f"e2e-{uuid.uuid4().hex[:6]}"
    create_topic(real_kafka.bootstrap, topic, 3, 3, {"min.insync.replicas": "2"})
    logs = tempfile.mkdtemp(prefix="e2e-java-")
    pport, cport = free_port(), free_port()
    producer = _java_tool(
        "kafka-producer-perf-test.sh",
        [
            "--topic",
            topic,
            "--num-records",
            "100000000",
            "--record-size",
            "500",
            "--throughput",
            "500",
            "--producer-props",
            f"bootstrap.servers={real_kafka.bootstrap}",
            "compression.type=gzip",
            "client.id=e2e-producer",
        ],
        pport,
        logs,
    )
    consumer = _java_tool(
        "kafka-consumer-perf-test.sh",
        [
            "--bootstrap-server",
            real_kafka.bootstrap,
            "--topic",
            topic,
            "--group",
            f"{topic}-readers",
            "--messages",
            "100000000",
            "--timeout",
            "600000",
        ],
        cport,
        logs,
    )
    config = {
        "kafka": {"bootstrap_servers": real_kafka.bootstrap, "request_timeout_seconds": 4},
        "collection": {"interval_seconds": 5, "timeout_seconds": 5},
        "jmx": {
            "timeout_seconds": 4.5,
            "brokers": {"discover": {"port_base": real_kafka.jmx_port(0)}},
            "clients": {
                "targets": [
                    {"address": f"127.0.0.1:{pport}", "name": "e2e-producer", "settings": {"compression.type": "gzip"}},
                    {"address": f"127.0.0.1:{cport}", "name": "e2e-consumer"},
                ]
            },
        },
    }
    (tmp_path / "exporter.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    instance = f"127.0.0.1:{port}"
    log = tmp_path / "exporter.log"
    exporter = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(tmp_path / "exporter.yml"), "--web.listen-address", instance],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    prometheus = Prometheus(tmp_path, [instance])
    procs, plogs = [exporter, prometheus.process], [log, prometheus.log]
    try:
        wait_for(
            "broker JMX, the Java producer's compression ratio and its topic's log end in Prometheus",
            lambda: (
                len(series(prometheus, 'kafka_insight_source_up{source="broker_jmx"} == 1')) == 3
                and series(prometheus, 'kafka_insight_producer_compressed_size_ratio{target="e2e-producer"}')
                and series(prometheus, f'kafka_insight_partition_log_end_offset{{topic="{topic}"}} > 0')
                # the group has committed for long enough that rates and lag seconds exist
                # (its lag series alone exists before its first commit)
                and series(
                    prometheus,
                    f'count_over_time(kafka_insight_consumer_group_committed_offset{{group="{topic}-readers"}}[1m]) >= 12',
                )
                and series(prometheus, f'kafka_insight_consumer_group_lag_seconds{{group="{topic}-readers"}}')
            ),
            120,
            procs,
            plogs,
        )
        yield prometheus, instance, topic
    finally:
        prometheus.stop()
        stop_process(exporter, 15)
        _stop(producer)
        _stop(consumer)
        shutil.rmtree(logs, ignore_errors=True)


def test_dashboards_and_alerts_on_the_real_cluster_through_a_broker_crash(
    real_kafka: RealKafka, stack: tuple[Prometheus, str, str]
) -> None:
    prometheus, instance, topic = stack
    errors: list[str] = []
    empty: list[str] = []
    with_data, checked = 0, 0
    for board in dashboards.all_dashboards(DEFAULTS):
        if board.uid == CONNECT_UID:
            continue  # Kafka Connect is not configured here: tests/test_connect_live.py checks that board
        for panel, query in board.queries():
            checked += 1
            result = prometheus.query(substitute(query.expr, instance))
            if result["status"] != "success":
                errors.append(f"{board.uid} / {panel.title}: {result.get('error')}")
            elif result["data"]["result"]:
                with_data += 1
            elif not from_client_statistics(query.expr) and (board.uid, panel.title, query.legend) not in HEALTHY_EMPTY:
                empty.append(f"{board.uid} / {panel.title} / {query.legend}: {query.expr}")
    assert errors == []
    assert empty == [], "\n".join(empty)
    # what has data here and not on the demo: broker JMX, Java clients, the controller
    for expr in (
        "kafka_insight_controller_active == 1",
        "kafka_insight_producer_compressed_size_ratio",
        "kafka_insight_consumer_records_consumed_total",
        "kafka_insight_broker_client_connections",
    ):
        assert series(prometheus, expr), expr
    assert with_data > checked // 2, (with_data, checked)
    known = {(b.uid, p.title, q.legend) for b in dashboards.all_dashboards(DEFAULTS) for p, q in b.queries()}
    assert set(HEALTHY_EMPTY) <= known, "stale HEALTHY_EMPTY entries"

    healthy = firing(prometheus)
    for name in (
        "KafkaNoActiveController",
        "KafkaInsightSourceDown",
        "KafkaInsightExporterDown",
        "KafkaInsightCollectionStale",
        "KafkaOfflinePartitions",
        "KafkaFencedBrokers",
    ):
        assert healthy[name] == [], (name, healthy[name])
    assert [m for m in healthy["KafkaPartitionsAtMinIsr"] if m.get("topic") == topic] == []

    real_kafka.kill_broker(3)
    try:

        def crashed() -> dict[str, list[dict[str, str]]] | None:
            now = firing(prometheus)
            at_min = [m for m in now["KafkaPartitionsAtMinIsr"] if m.get("topic") == topic]
            jmx_down = [m for m in now["KafkaInsightSourceDown"] if m.get("source") == "broker_jmx"]
            return now if at_min and jmx_down and now["KafkaFencedBrokers"] else None

        now = wait_for("the broker loss in the alert expressions", crashed, 90, [], [])
        assert [m for m in now["KafkaUnderReplicatedPartitions"] if m.get("topic") == topic]
        # the others stay silent: a controller remains, the exporter and its other sources
        # keep working, nothing lost data and the topic still takes acks=all writes
        for name in ("KafkaNoActiveController", "KafkaInsightExporterDown", "KafkaInsightCollectionStale"):
            assert now[name] == [], (name, now[name])
        for name in ("KafkaPartitionsUnderMinIsr", "KafkaLogEndOffsetDecreased", "KafkaCommittedOffsetBeyondLogEnd"):
            assert [m for m in now[name] if m.get("topic") == topic] == [], (name, now[name])
        assert {m["source"] for m in now["KafkaInsightSourceDown"]} == {"broker_jmx"}
        assert series(prometheus, 'kafka_insight_source_up{source="admin"} == 1')
    finally:
        real_kafka.start_broker(3)
        real_kafka.wait_full_isr()
