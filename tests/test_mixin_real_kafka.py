"""End to end on the real 3-node Kafka 4.0 cluster: a real Prometheus scrapes two exporters of the
cluster (an HA pair) and loads the generated rules with short ``for:`` durations (the mixin
settings).  Exporter a reads the Admin API, broker JMX discovered from the metadata and a Java
producer and consumer over JMX; exporter b the Admin API only.

* every dashboard query and alert expression evaluates on exporter a's data;
* broker 3 killed: the alert expressions that must fire do while the others stay silent, and as
  firing alerts each condition fires once for the pair (no alert per exporter, no ``instance``);
* every broker stopped (the whole cluster down): KafkaClusterUnreachable fires once, with the
  cluster id the exporters remember, and resolves after the restart.

Alert expressions are evaluated directly first (their ``for:`` aside, which promtool's unit
tests cover), so the test does not wait minutes for pending alerts.  The HA pair and the single
exporter were two tests, each with its own Prometheus, Java clients and crash of broker 3 (about
two minutes each on the 2-core machine); one stack and one crash assert the same things.

Measured (load average ~60 on two cores): KafkaClusterUnreachable fired 18 s after every broker
was killed (for: 10 s).  The HA behaviour of the JMX alerts is in the promtool cases
(tests/promtool/cluster.yml).
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
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from exporter.catalogue import series_specs
from exporter.demo.broker import free_port
from exporter.mixin import alerts, dashboards, generate, promql
from exporter.mixin.connect import CONNECT_UID
from exporter.mixin.settings import DEFAULTS
from tests._prometheus import JOB, ROOT, Prometheus, stop_process, wait_for
from tests.conftest import RealKafka, create_topic
from tests.test_jmx_live import _java_tool, _stop

INTERVAL = 5
#: for: durations short enough to watch the alerts fire (the expressions are the defaults')
SHORT_FOR = dataclasses.replace(
    DEFAULTS,
    cluster_unreachable_for="10s",
    source_down_for="5s",
    controller_target_down_for="5s",
    under_replicated_for="5s",
    at_min_isr_for="5s",
)
#: the alerts about one exporter process: per instance by design
PER_EXPORTER = {"KafkaInsightExporterDown", "KafkaInsightCollectionStale"}
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
    (C, "Request errors per second", "{{request}} {{error}}"): "a healthy cluster may answer every request type without an error (the NONE code is not exported)",
    (C, "Log size per broker", "{{broker_id}}"): "jmx.brokers.log_size is opt-in (a JMX call per partition)",
    (C, "Groups per state (coordinators)", "{{protocol}} {{state}}"): (
        "seen live on Kafka 4.0: the classic per-state gauges (GroupMetadataManager NumGroupsStable, ...) "
        "read 0 for a Stable perf-consumer group while NumGroups and group-count{protocol=classic} read 1; "
        "the panel has data in the whole suite, where earlier tests' groups sit Empty"
    ),
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


def evaluated(prometheus: Prometheus) -> dict[str, list[dict[str, str]]]:
    """Every alert expression evaluated now (``for:`` aside)."""
    return {a.name: series(prometheus, a.expr) for a in alerts.all_alerts(DEFAULTS)}


def firing(prometheus: Prometheus, name: str | None = None) -> list[dict[str, str]]:
    """The alerts Prometheus fires (its ALERTS series, ``for:`` included)."""
    fired = series(prometheus, 'ALERTS{alertstate="firing"}')
    return [a for a in fired if name is None or a["alertname"] == name]


def start(real_kafka: RealKafka, node: int) -> None:
    """start-broker with room for a loaded machine (a node of a stopped quorum waits for the others)."""
    try:
        real_kafka.run("start-broker", str(node), timeout=420)
    except RuntimeError as exc:  # the launcher race RealKafka.start_broker also tolerates
        if "exited" not in str(exc):
            raise
        real_kafka.wait_up([node], exc, timeout=300)


@dataclass
class Stack:
    prometheus: Prometheus
    #: exporter a (the one with JMX), whose $instance the dashboards are evaluated for
    instance: str
    topic: str
    #: exporter a's and b's logs (stdout and stderr)
    logs: list[Path]


def diagnosis(prometheus: Prometheus, logs: list[Path], lines: int = 80) -> str:
    """What a failed assertion on the Admin-API source needs to be understood: its up, errors
    and duration series of the last minute (per exporter) and the tail of each exporter's log."""
    parts: list[str] = []
    for metric in ("kafka_insight_source_up", "kafka_insight_source_errors", "kafka_insight_source_duration_seconds"):
        try:
            result = prometheus.query(f'{metric}{{source="admin"}}[1m]')
            rows = result["data"]["result"] if result.get("status") == "success" else []
        except (OSError, ValueError, KeyError) as exc:
            parts.append(f"{metric}: query failed: {exc}")
            continue
        for row in rows:
            # local time, as in the exporters' log lines
            values = " ".join(f"{time.strftime('%H:%M:%S', time.localtime(float(t)))}={v}" for t, v in row["values"])
            parts.append(f"{metric} {row['metric'].get('instance')}: {values}")
    for log in logs:
        try:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
        except OSError as exc:
            tail = [f"cannot read: {exc}"]
        parts.append(f"---- {log.name} (last {len(tail)} lines) ----")
        parts.extend(tail)
    return "\n".join(parts)


@pytest.fixture
def stack(real_kafka: RealKafka, tmp_path: Path) -> Iterator[Stack]:
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
    base = {
        "kafka": {"bootstrap_servers": real_kafka.bootstrap, "request_timeout_seconds": INTERVAL - 1},
        "collection": {"interval_seconds": INTERVAL, "timeout_seconds": INTERVAL},
    }
    configs = {
        "a": {
            **base,
            "jmx": {
                "timeout_seconds": INTERVAL - 0.5,
                "brokers": {"discover": {"port_base": real_kafka.jmx_port(0)}},
                "clients": {
                    "targets": [
                        {"address": f"127.0.0.1:{pport}", "name": "e2e-producer", "settings": {"compression.type": "gzip"}},
                        {"address": f"127.0.0.1:{cport}", "name": "e2e-consumer"},
                    ]
                },
            },
        },
        "b": base,
    }
    rules = tmp_path / "rules.yml"
    rules.write_text(generate.render_rules(SHORT_FOR))
    exporters: list[subprocess.Popen[bytes]] = []
    instances: list[str] = []
    exporter_logs: list[Path] = []
    prometheus: Prometheus | None = None
    try:
        for name, config in configs.items():
            (tmp_path / f"exporter-{name}.yml").write_text(yaml.safe_dump(config))
            instances.append(f"127.0.0.1:{free_port()}")
            exporter_logs.append(tmp_path / f"exporter-{name}.log")
            exporters.append(
                subprocess.Popen(
                    [sys.executable, "-m", "exporter", "--config.file", str(tmp_path / f"exporter-{name}.yml"),
                     "--web.listen-address", instances[-1]],
                    stdout=exporter_logs[-1].open("wb"),
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=ROOT,
                )
            )
        prometheus = Prometheus(tmp_path, instances, rules=rules)
        p = prometheus
        wait_for(
            "both exporters' Admin API, broker JMX, the Java producer's compression ratio and its topic's log end in Prometheus",
            lambda: (
                series(p, 'count(kafka_insight_source_up{source="admin"} == 1) == 2')
                and series(p, 'count(kafka_insight_source_up{source="broker_jmx"} == 1) == 3')
                and series(p, f'count(kafka_insight_partition_log_end_offset{{topic="{topic}"}} > 0) == 6')
                and series(p, 'kafka_insight_producer_compressed_size_ratio{target="e2e-producer"}')
                # the group has committed for long enough that rates and lag seconds exist
                # (its lag series alone exists before its first commit)
                and series(
                    p,
                    f'count_over_time(kafka_insight_consumer_group_committed_offset{{group="{topic}-readers", instance="{instances[0]}"}}[1m]) >= 12',
                )
                and series(p, f'kafka_insight_consumer_group_lag_seconds{{group="{topic}-readers"}}')
            ),
            180,
            [*exporters, p.process],
            [*exporter_logs, p.log],
        )
        yield Stack(p, instances[0], topic, exporter_logs)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for exporter in exporters:
            stop_process(exporter, 15)
        _stop(producer)
        _stop(consumer)
        shutil.rmtree(logs, ignore_errors=True)


def _panels_without_data(prometheus: Prometheus, instance: str) -> tuple[list[str], list[str], int, int]:
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
    return errors, empty, with_data, checked


def check_dashboards_on_a_healthy_cluster(prometheus: Prometheus, instance: str) -> None:
    """Every panel has data, read a few times over 90 s: on a starved CI machine one JMX
    cycle can overrun its timeout, and the source's series then leave the exposition (and
    Prometheus) until its next good cycle; a panel empty at every look is the failure."""
    deadline = time.monotonic() + 90  # a replaced JMX worker's JVM may take most of it to start
    while True:
        errors, empty, with_data, checked = _panels_without_data(prometheus, instance)
        if errors or not empty or time.monotonic() > deadline:
            break
        time.sleep(INTERVAL)
    assert errors == []
    down = series(prometheus, f'kafka_insight_source_up{{instance="{instance}"}} == 0')
    assert empty == [], "\n".join([*empty, f"sources down now: {down}"])
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


def test_dashboards_and_alerts_through_a_broker_crash_and_a_whole_cluster_outage(
    real_kafka: RealKafka, stack: Stack
) -> None:
    prometheus, topic = stack.prometheus, stack.topic
    check_dashboards_on_a_healthy_cluster(prometheus, stack.instance)
    healthy = evaluated(prometheus)
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
    assert firing(prometheus, "KafkaClusterUnreachable") == []

    # ---- broker 3 crashes ---------------------------------------------------------------------
    real_kafka.kill_broker(3)
    try:

        def crashed() -> dict[str, list[dict[str, str]]] | None:
            now = evaluated(prometheus)
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
        sources_down = {m["source"] for m in now["KafkaInsightSourceDown"]}
        assert sources_down == {"broker_jmx"}, f"{sources_down}\n{diagnosis(prometheus, stack.logs)}"
        assert series(prometheus, 'kafka_insight_source_up{source="admin"} == 1'), diagnosis(prometheus, stack.logs)

        def crash_fired() -> list[dict[str, str]] | None:
            fired = firing(prometheus)
            at_min = [a for a in fired if a["alertname"] == "KafkaPartitionsAtMinIsr" and a.get("topic") == topic]
            target_down = [a for a in fired if a["alertname"] == "KafkaControllerTargetDown"]
            return fired if at_min and target_down else None

        fired = wait_for("the broker crash as firing alerts", crash_fired, 120)
        # one alert per condition: both exporters report the topic at min ISR, the alert has no instance
        assert [a for a in fired if a["alertname"] not in PER_EXPORTER and "instance" in a] == []
        for name in ("KafkaPartitionsAtMinIsr", "KafkaUnderReplicatedPartitions"):
            assert len([a for a in fired if a["alertname"] == name and a.get("topic") == topic]) <= 1, name
        node3 = f":{real_kafka.jmx_port(3)}"
        # node 3's controller target, once (on a loaded machine the others' JVMs may time out too: then
        # they are rightly reported, each once)
        down = [a["target"][-len(node3) :] for a in fired if a["alertname"] == "KafkaControllerTargetDown"]
        assert node3 in down and len(down) == len(set(down)), down
        # the crashed node is (or may be) the active controller: not a no-controller page
        assert firing(prometheus, "KafkaNoActiveController") == []
        assert firing(prometheus, "KafkaClusterUnreachable") == []
    finally:
        start(real_kafka, 3)
        real_kafka.wait_full_isr(timeout=180)

    # ---- every broker stopped ----------------------------------------------------------------
    cluster_id = series(prometheus, "kafka_insight_cluster_info")[0]["cluster_id"]
    stopped = time.monotonic()
    for node in (1, 2, 3):
        real_kafka.kill_broker(node)
    try:
        unreachable = wait_for("KafkaClusterUnreachable to fire", lambda: firing(prometheus, "KafkaClusterUnreachable"), 120)
        took = time.monotonic() - stopped
        # once for the pair, with the cluster id remembered from before the outage
        assert [a.get("cluster_id") for a in unreachable] == [cluster_id] and "instance" not in unreachable[0]
        # the admin cycles time out (one interval), for: 10 s, rules evaluated every second
        assert took < 10 + 3 * INTERVAL + 30, took
        print(f"\nKafkaClusterUnreachable fired {took:.0f} s after every broker was killed")
        assert firing(prometheus, "KafkaNoActiveController") == []
    finally:
        with ThreadPoolExecutor(3) as pool:  # the quorum needs two nodes back before one is ready
            list(pool.map(lambda node: start(real_kafka, node), (1, 2, 3)))
        real_kafka.wait_full_isr(timeout=180)
    restarted = time.monotonic()
    wait_for("KafkaClusterUnreachable to resolve", lambda: not firing(prometheus, "KafkaClusterUnreachable"), 120)
    print(f"resolved {time.monotonic() - restarted:.0f} s after the cluster was back (full ISRs)")
