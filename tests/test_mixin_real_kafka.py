"""End to end on the real 3-node Kafka 4.0 cluster: a real Prometheus scrapes two exporters of
one cluster (an HA pair: Admin API, broker JMX discovered from the metadata, a Java producer and
consumer over JMX), loads the generated rules and evaluates every dashboard query and alert
expression; then a broker is killed and the alerts that must fire do — once, not once per
exporter — while the others stay silent; then every broker is stopped and the cluster-unreachable
alert fires in Prometheus and resolves after the restart.

Alert expressions are evaluated directly (their ``for:`` aside, which promtool's unit tests
cover); for the alerts that are waited for as real firing alerts, the rules are generated with
short ``for:`` durations (:data:`SHORT_FOR`, through the mixin settings).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from exporter.catalogue import all_specs
from exporter.demo.broker import free_port
from exporter.mixin import alerts, dashboards, generate, promql
from exporter.mixin.settings import DEFAULTS
from tests._prometheus import JOB, ROOT, Prometheus, stop_process, wait_for
from tests.conftest import RealKafka, create_topic
from tests.test_jmx_live import _java_tool, _stop

RATE_INTERVAL = "60s"
#: collection interval of the exporters: two exporters start a JVM per JMX target and cycle
INTERVAL = 20
#: for: durations short enough to watch alerts really fire (the expressions are the defaults')
SHORT_FOR = dataclasses.replace(
    DEFAULTS,
    cluster_unreachable_for="10s",
    source_down_for="5s",
    controller_target_down_for="5s",
    under_replicated_for="5s",
    at_min_isr_for="5s",
    fenced_brokers_for="5s",
)
E, C, K, P, R = dashboards.EXPORTER_UID, dashboards.CLUSTER_UID, dashboards.CONSUMERS_UID, dashboards.PRODUCERS_UID, dashboards.RISK_UID
#: panels that are empty on a healthy cluster, and why (checked before the broker is killed)
HEALTHY_EMPTY: dict[tuple[str, str, str], str] = {
    (E, "Dropped values", "{{source}}"): "only exported for a source that dropped a value",
    (C, "Partitions under / at min ISR by topic", "under min ISR {{topic}}"): "healthy: every ISR is full",
    (C, "Partitions under / at min ISR by topic", "at min ISR {{topic}}"): "healthy: every ISR is full",
    (C, "Offline and under-replicated partitions by topic", "offline {{topic}}"): "healthy: every partition has a leader",
    (C, "Offline and under-replicated partitions by topic", "under-replicated {{topic}}"): "healthy: full ISRs",
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
    """Queries on librdkafka client statistics: that source is not configured in this test
    (it is checked live on the demo, test_mixin_live.py)."""
    specs = all_specs()
    used = [specs[n] for n in promql.metric_names(expr) if n in specs]
    return bool(used) and all(u.source == "client_stats" or u.name.startswith("kafka_insight_librdkafka") for u in used)


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


#: the alerts about one exporter process: per instance by design
PER_EXPORTER = {"KafkaInsightExporterDown", "KafkaInsightCollectionStale"}


def firing_alerts(prometheus: Prometheus) -> list[dict[str, str]]:
    return series(prometheus, 'ALERTS{alertstate="firing"}')


def alerts_named(prometheus: Prometheus, name: str) -> list[dict[str, str]]:
    return [a for a in firing_alerts(prometheus) if a["alertname"] == name]


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
        "kafka": {"bootstrap_servers": real_kafka.bootstrap, "request_timeout_seconds": INTERVAL - 2},
        "collection": {"interval_seconds": INTERVAL, "timeout_seconds": INTERVAL - 1},
        "jmx": {
            "timeout_seconds": INTERVAL - 1.5,
            "brokers": {"discover": {"port_base": real_kafka.jmx_port(0)}},
            "clients": {
                "targets": [
                    {"address": f"127.0.0.1:{pport}", "name": "e2e-producer", "settings": {"compression.type": "gzip"}},
                    {"address": f"127.0.0.1:{cport}", "name": "e2e-consumer"},
                ]
            },
        },
    }
    (tmp_path / "exporter-a.yml").write_text(yaml.safe_dump(config))
    # the second exporter of the pair watches the cluster (Admin API, broker JMX) but not the Java
    # clients: every JMX query starts a JVM, and this machine has two cores
    del config["jmx"]["clients"]  # type: ignore[attr-defined]
    (tmp_path / "exporter-b.yml").write_text(yaml.safe_dump(config))
    rules = tmp_path / "rules.yml"
    rules.write_text(generate.render_rules(SHORT_FOR))
    exporters, instances, logs_ = [], [], []
    for name in ("a", "b"):  # an HA pair: two exporters of one cluster, one Prometheus
        port = free_port()
        instances.append(f"127.0.0.1:{port}")
        logs_.append(tmp_path / f"exporter-{name}.log")
        exporters.append(
            subprocess.Popen(
                [sys.executable, "-m", "exporter", "--config.file", str(tmp_path / f"exporter-{name}.yml"), "--web.listen-address", instances[-1]],
                stdout=logs_[-1].open("wb"),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
        )
    instance = instances[0]
    prometheus = Prometheus(tmp_path, instances, rules=rules)
    procs, plogs = [*exporters, prometheus.process], [*logs_, prometheus.log]
    try:
        ready = {
            "broker JMX of both exporters": 'count(kafka_insight_source_up{source="broker_jmx"} == 1) == 6',
            "the Java producer's compression ratio": 'kafka_insight_producer_compressed_size_ratio{target="e2e-producer"}',
            "the topic's log end": f'kafka_insight_partition_log_end_offset{{topic="{topic}"}} > 0',
            # the group has committed for long enough that rates and lag seconds exist
            # (its lag series alone exists before its first commit)
            "a minute of the group's commits": (
                f'count_over_time(kafka_insight_consumer_group_committed_offset{{group="{topic}-readers"}}[1m]) >= 30'
            ),
            "the group's lag in seconds": f'kafka_insight_consumer_group_lag_seconds{{group="{topic}-readers"}}',
        }

        def missing() -> list[str]:
            return [what for what, expr in ready.items() if not series(prometheus, expr)]

        try:
            wait_for("the exporters' data in Prometheus", lambda: not missing(), 180, procs, plogs)
        except TimeoutError as exc:
            seen = [(m.get("instance"), m.get("source"), m.get("target")) for m in series(prometheus, "kafka_insight_source_up == 1")]
            scraped = [(m.get("instance")) for m in series(prometheus, "up == 1")]
            raise TimeoutError(f"still missing after 180 s: {missing()}; sources up: {seen}; scraped: {scraped}") from exc
        yield prometheus, instance, topic
    finally:
        prometheus.stop()
        for exporter in exporters:
            stop_process(exporter, 15)
        _stop(producer)
        _stop(consumer)
        shutil.rmtree(logs, ignore_errors=True)


def test_dashboards_and_alerts_on_the_real_cluster_through_a_broker_crash_and_an_outage(
    real_kafka: RealKafka, stack: tuple[Prometheus, str, str]
) -> None:
    prometheus, instance, topic = stack
    errors: list[str] = []
    empty: list[str] = []
    with_data, checked = 0, 0
    for board in dashboards.all_dashboards(DEFAULTS):
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

        # the HA pair, as real alerts (short for: from SHORT_FOR): one per condition, no instance label
        def ha_fired() -> list[dict[str, str]] | None:
            fired = firing_alerts(prometheus)
            urp = [a for a in fired if a["alertname"] == "KafkaUnderReplicatedPartitions" and a.get("topic") == topic]
            target_down = [a for a in fired if a["alertname"] == "KafkaControllerTargetDown"]
            return fired if urp and target_down else None

        fired = wait_for("the broker loss as firing alerts", ha_fired, 90, [], [])
        assert [a for a in fired if a["alertname"] not in PER_EXPORTER and "instance" in a] == []
        assert len([a for a in fired if a["alertname"] == "KafkaUnderReplicatedPartitions" and a.get("topic") == topic]) == 1
        node3_jmx = f":{real_kafka.jmx_port(3)}"
        assert [a["target"][-len(node3_jmx) :] for a in fired if a["alertname"] == "KafkaControllerTargetDown"] == [node3_jmx]
        assert [a for a in fired if a["alertname"] == "KafkaInsightSourceDown"] == [
            a for a in fired if a["alertname"] == "KafkaInsightSourceDown" and a["target"].endswith(node3_jmx)
        ]
        assert len([a for a in fired if a["alertname"] == "KafkaInsightSourceDown"]) == 1
        assert not [a for a in fired if a["alertname"] in ("KafkaNoActiveController", "KafkaClusterUnreachable")]
    finally:
        real_kafka.start_broker(3)
        real_kafka.wait_full_isr()

    # every broker stops: the Admin-API series vanish, and KafkaClusterUnreachable fires once for
    # the pair (with the cluster id remembered from before), then resolves after the restart
    cluster_id = series(prometheus, "kafka_insight_cluster_info")[0]["cluster_id"]
    stopped = time.monotonic()
    for node in (1, 2, 3):
        real_kafka.kill_broker(node)
    try:
        unreachable = wait_for("KafkaClusterUnreachable to fire", lambda: alerts_named(prometheus, "KafkaClusterUnreachable"), 120, [], [])
        took = time.monotonic() - stopped
        assert [a.get("cluster_id") for a in unreachable] == [cluster_id]
        assert "instance" not in unreachable[0]
        # an admin cycle times out (one interval), then for: 10 s, evaluated every second
        assert took < 10 + 3 * INTERVAL + 15, took
        print(f"KafkaClusterUnreachable fired {took:.0f} s after every broker was killed")
    finally:
        with ThreadPoolExecutor(3) as pool:  # the quorum needs two nodes back before any is ready
            list(pool.map(real_kafka.start_broker, (1, 2, 3)))
        real_kafka.wait_full_isr(timeout=180)
    wait_for("KafkaClusterUnreachable to resolve", lambda: not alerts_named(prometheus, "KafkaClusterUnreachable"), 120, [], [])
