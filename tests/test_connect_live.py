"""Kafka Connect end to end (issue 18): one real Connect 4.0 worker in distributed mode on the
real 3-node cluster, with basic auth on its REST API and remote JMX; the exporter reads both,
a real Prometheus scrapes the exporter and loads the generated rules.

One worker start for the module (tests/_connect.py).  Connectors: a FileStreamSource whose
producer overrides allow reordering, a FileStreamSink writing where it cannot (its task
FAILS, then its config is fixed and it recovers), and a FileStreamSink with
errors.tolerance=all and a dead letter queue fed with records its JSON converter cannot read.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from exporter.demo.broker import free_port
from exporter.mixin import alerts
from exporter.mixin import connect as connect_mixin
from exporter.mixin.settings import DEFAULTS
from tests._connect import PASSWORD, USER, ConnectWorker
from tests._prometheus import JOB, ROOT, Prometheus, stop_process, wait_for
from tests.conftest import RealKafka, create_topic

ALERTS = {a.name: a for a in alerts.all_alerts(DEFAULTS)}


@dataclass
class Live:
    worker: ConnectWorker
    prometheus: Prometheus
    instance: str
    exporter: subprocess.Popen[bytes]
    log: Path
    tmp: Path
    bootstrap: str
    lines: str
    garbage: str

    def series(self, expr: str) -> list[tuple[dict[str, str], float]]:
        result = self.prometheus.query(expr)
        assert result["status"] == "success", f"{expr}: {result.get('error')}"
        return [(r["metric"], float(r["value"][1])) for r in result["data"]["result"]]

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 120) -> Any:
        return wait_for(what, check, timeout, [self.exporter, self.prometheus.process], [self.log, self.prometheus.log])


@pytest.fixture(scope="module")
def live(real_kafka: RealKafka, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("connect-live")
    suffix = uuid.uuid4().hex[:6]
    lines, garbage = f"connect-lines-{suffix}", f"connect-garbage-{suffix}"
    for topic in (lines, garbage):
        create_topic(real_kafka.bootstrap, topic, partitions=1, replication=3)
    worker = ConnectWorker(tmp, real_kafka.bootstrap, group=f"kafka-insight-connect-{suffix}")
    procs: list[subprocess.Popen[bytes]] = []
    prometheus: Prometheus | None = None
    try:
        worker.start(timeout=180)
        source_file = tmp / "source.txt"
        source_file.write_text("".join(f"line {i}\n" for i in range(50)))
        worker.put_config(
            "file-source",
            {
                "connector.class": "FileStreamSource",
                "file": str(source_file),
                "topic": lines,
                "tasks.max": "1",
                "producer.override.max.in.flight.requests.per.connection": "5",
                "producer.override.enable.idempotence": "false",
            },
        )
        worker.put_config(
            "file-sink",
            {"connector.class": "FileStreamSink", "file": "/proc/forbidden/out.txt", "topics": lines, "tasks.max": "1"},
        )
        worker.put_config(
            "tolerant-sink",
            {
                "connector.class": "FileStreamSink",
                "file": str(tmp / "tolerant.txt"),
                "topics": garbage,
                "tasks.max": "1",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": f"{garbage}-dlq",
                "errors.deadletterqueue.topic.replication.factor": "3",
            },
        )
        config = {
            "kafka": {"bootstrap_servers": real_kafka.bootstrap, "request_timeout_seconds": 4},
            "collection": {"interval_seconds": 8, "timeout_seconds": 8},
            "connect": {
                "jmx_timeout_seconds": 7.5,
                "clusters": [
                    {
                        "url": worker.url,
                        "name": "live",
                        "username": USER,
                        "password": PASSWORD,
                        "timeout_seconds": 4,
                        "jmx": [f"127.0.0.1:{worker.jmx_port}"],
                    }
                ],
            },
        }
        (tmp / "exporter.yml").write_text(yaml.safe_dump(config))
        instance = f"127.0.0.1:{free_port()}"
        log = tmp / "exporter.log"
        exporter = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--config.file", str(tmp / "exporter.yml"), "--web.listen-address", instance],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        procs.append(exporter)
        prometheus = Prometheus(tmp, [instance])
        yield Live(worker, prometheus, instance, exporter, log, tmp, real_kafka.bootstrap, lines, garbage)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for proc in procs:
            stop_process(proc, 15)
        worker.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_failed_task_exception_and_alert_in_prometheus(live: Live) -> None:
    failed = 'kafka_insight_connect_task_state{connector="file-sink", state="FAILED"} == 1'
    live.wait("the failed sink task in Prometheus", lambda: live.series(failed), 180)
    info = live.series('kafka_insight_connect_task_failure_info{connector="file-sink"}')
    assert [(m["exception"], m["task"]) for m, _ in info] == [("org.apache.kafka.connect.errors.ConnectException", "0")]
    assert live.series('kafka_insight_connect_connector_failed_tasks{connector="file-sink"} == 1')
    # the other connectors run
    for name in ("file-source", "tolerant-sink"):
        assert live.series(f'kafka_insight_connect_task_state{{connector="{name}", state="RUNNING"}} == 1'), name
    assert live.series('kafka_insight_source_up{source="connect", target="live"} == 1')
    # the worker's JMX: one short-lived JVM per cycle, slow on a loaded machine
    live.wait("the worker's JMX", lambda: live.series('kafka_insight_source_up{source="connect_jmx"} == 1'), 90)
    # the alert: its expression has the task, and Prometheus holds it pending (for: 5m)
    fired = live.series(ALERTS["KafkaConnectTaskFailed"].expr)
    assert [(m["connector"], m["exception"]) for m, _ in fired] == [("file-sink", "org.apache.kafka.connect.errors.ConnectException")]

    def pending() -> list[dict[str, object]]:
        got = live.prometheus.api("alerts")["data"]["alerts"]
        return [a for a in got if a["labels"]["alertname"] == "KafkaConnectTaskFailed" and a["labels"]["connector"] == "file-sink"]

    alerts_now = live.wait("KafkaConnectTaskFailed pending in Prometheus", pending, 30)
    assert alerts_now[0]["state"] in ("pending", "firing")
    assert not live.series(ALERTS["KafkaConnectClusterUnreachable"].expr)


def test_ordering_verdict_and_sink_group_mapping(live: Live) -> None:
    verdict = 'kafka_insight_connect_connector_reordering_risk{connector="file-source"} == 1'
    got = live.wait("the source connector's ordering verdict", lambda: live.series(verdict), 60)
    assert [(m["verdict"], m["basis"]) for m, _ in got] == [("reorders", "declared")]
    groups = live.series("kafka_insight_connect_connector_group_info")
    assert {m["connector"]: m["group"] for m, _ in groups} == {"file-sink": "connect-file-sink", "tolerant-sink": "connect-tolerant-sink"}


def test_skipped_records_with_errors_tolerance_all(live: Live) -> None:
    skipped = 'kafka_insight_connect_task_records_skipped_total{connector="tolerant-sink"}'
    live.wait("the tolerant sink's error counters", lambda: live.series(skipped), 120)
    producer = Producer({"bootstrap.servers": live.bootstrap})
    for i in range(7):
        producer.produce(live.garbage, value=b"{not json " + str(i).encode())
    producer.flush(15)
    live.wait("7 skipped records", lambda: [v for _, v in live.series(skipped) if v >= 7], 120)
    dlq = live.series('kafka_insight_connect_task_dlq_produce_requests_total{connector="tolerant-sink"}')
    assert [v for _, v in dlq] == [7.0]
    assert live.series('kafka_insight_connect_connector_tolerates_errors{connector="tolerant-sink"} == 1')
    dropped = live.wait("KafkaConnectRecordsDropped", lambda: live.series(ALERTS["KafkaConnectRecordsDropped"].expr), 60)
    assert {m["connector"] for m, _ in dropped} == {"tolerant-sink"}
    # once the sink committed, "sink X is N s behind" is one query: the join the alert uses
    lag = connect_mixin.sink_lag_seconds(lambda spec, *m: f"{spec.name}{{{', '.join(m)}}}")
    joined = live.wait("sink lag in seconds joined to the connector", lambda: live.series(lag), 120)
    # (connect-file-sink may hold offsets from an earlier run on this cluster: the groups outlive the worker)
    assert ("tolerant-sink", "connect-tolerant-sink") in {(m["connector"], m["group"]) for m, _ in joined}


def test_every_connect_panel_has_data(live: Live) -> None:
    board = connect_mixin.connect_dashboard(DEFAULTS)
    may_be_empty = {
        "DLQ write failed {{connector}}": "the dead letter queue accepts every write",
        "poll {{connector}}": "FileStreamSource reports no poll time until a batch took measurable time",
    }
    live.wait("rates over two JMX samples", lambda: live.series("rate(kafka_insight_connect_task_source_records_written_total[30s]) >= 0"), 60)
    empty = []
    for panel, query in board.queries():
        expr = query.expr
        for var, value in (("$__rate_interval", "30s"), ("$job", JOB), ("$instance", live.instance), ("$connect_cluster", ".*"), ("$cluster_id", ".*"), ("$connector", ".*")):
            expr = expr.replace(var, value)
        result = live.prometheus.query(expr)
        assert result["status"] == "success", (panel.title, result.get("error"))
        if not result["data"]["result"] and query.legend not in may_be_empty:
            empty.append(f"{panel.title} / {query.legend}: {expr}")
    assert empty == []


def test_fixed_config_recovers(live: Live) -> None:
    out = live.tmp / "sink-out.txt"
    live.worker.put_config("file-sink", {"connector.class": "FileStreamSink", "file": str(out), "topics": live.lines, "tasks.max": "1"})
    live.worker.wait_for(lambda: live.worker.task_states("file-sink") == ["RUNNING"], 90, "file-sink RUNNING")
    running = 'kafka_insight_connect_task_state{connector="file-sink", state="RUNNING"} == 1'
    live.wait("the recovered task in Prometheus", lambda: live.series(running), 60)
    live.wait("no failed task left", lambda: live.series('kafka_insight_connect_connector_failed_tasks{connector="file-sink"} == 0'), 30)
    assert not live.series('kafka_insight_connect_task_failure_info{connector="file-sink"}')
    assert not live.series(ALERTS["KafkaConnectTaskFailed"].expr)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 50):
        time.sleep(1)
    assert len(out.read_text().splitlines()) == 50  # the sink wrote what the source read


def test_basic_auth_refused_without_the_password(live: Live) -> None:
    from exporter.cycle import Collector
    from exporter.sources.connect.config import ConnectClusterConfig, ConnectConfig
    from exporter.sources.connect.source import ConnectSource
    from tests._exposition import Parsed

    for username, password, up in ((None, None, 0.0), (USER, "wrong", 0.0), (USER, PASSWORD, 1.0)):
        cluster = ConnectClusterConfig(url=live.worker.url, name="auth", timeout=4, username=username, password=password)
        collector = Collector([ConnectSource(ConnectConfig((cluster,)), 10)], interval=10, timeout=10)
        collector.collect_once()
        parsed = Parsed(collector.exposition.body)
        assert parsed.value("kafka_insight_source_up", source="connect", target="auth") == up, (username, password)
        result = collector.snapshot.results[0] if collector.snapshot else None
        assert result is not None
        if not up:
            assert result.error is not None and "HTTP 401" in result.error, result.error
