"""Every dashboard query and alert expression, evaluated by a real Prometheus.

A real ``/usr/bin/prometheus`` (temporary data dir, free port, 1 s scrape and rule
interval) scrapes the exporter (a subprocess, ``--kafka.bootstrap-servers`` pointing at the
``tansu`` fixture broker, ``--collection.interval 1``) while the demo's synthetic traffic
runs, and loads the generated rules. Each query is sent through the HTTP API with the
Grafana variables substituted: it must parse, and it must return data unless it is on
:data:`MAY_BE_EMPTY` with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.catalogue import series_specs
from exporter.demo.broker import TansuBroker, free_port
from exporter.interpret import producers as pr
from exporter.mixin import alerts, dashboards, promql
from exporter.mixin.connect import CONNECT_UID
from exporter.mixin.settings import DEFAULTS
from exporter.sources import admin as ad
from exporter.sources import client_stats as cs
from tests._prometheus import JOB, ROOT, Prometheus, stop_process, wait_for

#: Grafana's $__rate_interval for a 1 s scrape interval is 4 s; a little more keeps 4+ samples
RATE_INTERVAL = "5s"

#: sources this test does not run: queries that read only their metrics may return nothing
ABSENT_SOURCES = {
    "broker_jmx": "Tansu has no JMX; these panels are checked on the recorded real cluster (test_mixin_recorded.py)",
    "client_jmx": "the demo's clients are librdkafka, not Java with JMX; checked in test_mixin_recorded.py",
    "canary": "the canary writes to the cluster and is off in the demo; its families are checked in test_canary_live.py",
}
#: interpretation families computed only from the records of those absent sources
DERIVED_FROM_ABSENT = {
    # the compression and batching families also come from the demo's librdkafka producers
    **dict.fromkeys((pr.PRODUCER_REORDERING, pr.PRODUCER_REORDERING_EVIDENCE), "computed from Java client JMX"),
    **dict.fromkeys((pr.SOFTWARE_CONNECTIONS, pr.SOFTWARE_REORDERING), "computed from broker JMX (KIP-511 connections)"),
}
#: queries (dashboard uid, panel title, query legend) that may legitimately return nothing on the demo
MAY_BE_EMPTY: dict[tuple[str, str, str], str] = {
    (
        dashboards.EXPORTER_UID,
        "Dropped values",
        "{{source}}",
    ): "only exported for sources that dropped a value; a healthy demo drops none",
    (
        dashboards.CLUSTER_UID,
        "Partitions under / at min ISR by topic",
        "under min ISR {{topic}}",
    ): "healthy: no partition under min ISR",
    (
        dashboards.CLUSTER_UID,
        "Offline and under-replicated partitions by topic",
        "offline {{topic}}",
    ): "healthy: every partition has a leader",
    (
        dashboards.CLUSTER_UID,
        "Offline and under-replicated partitions by topic",
        "under-replicated {{topic}}",
    ): "healthy: full ISRs",
    (
        dashboards.CLUSTER_UID,
        "Offline and under-replicated partitions by topic",
        "reassigning {{topic}}",
    ): "nobody reassigns a demo partition",
    (dashboards.CLUSTER_UID, "Log end offset regressions", "{{topic}}[{{partition}}]"): "healthy: no data lost",
    (dashboards.CLUSTER_UID, "Topic durability settings", "unclean election"): (
        "Tansu's describe_configs does not report unclean.leader.election.enable (a real broker does)"
    ),
    (dashboards.CONSUMERS_UID, "Offset rewinds", "{{group}}"): (
        "the demo rewinds a group every 12 s, a moment this instant query may miss (test_demo_live.py polls for it)"
    ),
    (dashboards.RISK_UID, "Topics with partitions offline / under / at min ISR", "offline {{topic}}"): "healthy: all led",
    (dashboards.RISK_UID, "Topics with partitions offline / under / at min ISR", "under min ISR {{topic}}"): "healthy ISRs",
    (dashboards.CONSUMERS_UID, "Committed offsets below the log start", ""): "Tansu cannot delete records (tansu-quirks.md)",
}
#: may return series, and only for these groups: the demo rewinds reprocess every 12 s, but the
#: rewinds counter is born at the first rewind, so increase() needs a second one inside the window
DEMO_MAY_FIRE = {"KafkaConsumerGroupRewound": {"reprocess"}}
#: alert expressions that return series on the demo (their for: aside), and why; all others must not
DEMO_FIRES = {
    "KafkaTopicDurabilityRisk": "Tansu has one broker: every demo topic is RF 1 (no_failure_tolerance)",
    "KafkaConsumerGroupNotProgressing": "replay-after-loss, reporting and reprocess have committed offsets, lag and no member",
    "KafkaCommittedOffsetBeyondLogEnd": "the demo points replay-after-loss beyond the log end of payments[0]",
    "KafkaLibrdkafkaConsumerBeyondLogEnd": "demo-restored keeps its offsets outside Kafka, beyond the log end of orders",
    "KafkaProducerCanReorder": "demo-payments runs with librdkafka's default: idempotence off",
    "KafkaCompressionIneffective": "demo-gzip compresses random bytes: nothing saved",
    "KafkaClusterNotSingleBrokerSafe": "Tansu is one broker: its failure takes every partition offline",
}


@dataclass
class Live:
    prometheus: Prometheus
    exporter: str
    cluster_id: str = ""

    def api(self, path: str, **params: str) -> dict[str, Any]:
        return self.prometheus.api(path, **params)

    def query(self, expr: str) -> dict[str, Any]:
        return self.prometheus.query(expr)

    def substitute(self, expr: str) -> str:
        for var, value in (
            ("$__rate_interval", RATE_INTERVAL),
            ("$job", JOB),
            ("$instance", self.exporter),
            ("$cluster_id", self.cluster_id),
            ("$__range", "1m"),
            ("$topic", ".*"),
            ("$group", ".*"),
            ("$client_id", ".*"),
        ):
            expr = expr.replace(var, value)
        assert "$" not in expr.replace("$1", ""), f"unsubstituted variable in {expr}"
        return expr


@pytest.fixture(scope="module")
def live(tansu: TansuBroker) -> Iterator[Live]:
    tmp = Path(tempfile.mkdtemp(prefix="mixin-live-"))
    # the demo's clients, as in demo mode (every one forwards its librdkafka statistics to a
    # topic), in a process of their own: their librdkafka threads stay out of this one
    traffic_log = tmp / "traffic.log"
    traffic = subprocess.Popen(
        [sys.executable, "-m", "exporter.demo.run_traffic", tansu.bootstrap],
        stdout=traffic_log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    exporter_port = free_port()
    # a 5 s group status window (the demo consumers commit every second): replay-after-loss,
    # which never commits, is judged stopped within the test
    (tmp / "exporter.yml").write_text(
        "collection:\n  timeout_seconds: 1\nclient_stats:\n  enabled: true\ninterpretation:\n  group_status_window_seconds: 5\n"
    )
    exporter_log = tmp / "exporter.log"
    exporter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--config.file",
            str(tmp / "exporter.yml"),
            "--kafka.bootstrap-servers",
            tansu.bootstrap,
            "--collection.interval",
            "1",
            "--web.listen-address",
            f"127.0.0.1:{exporter_port}",
        ],
        stdout=exporter_log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )
    prometheus = Prometheus(tmp, [f"127.0.0.1:{exporter_port}"])
    procs, logs = [exporter, prometheus.process, traffic], [exporter_log, prometheus.log, traffic_log]
    try:
        live = Live(prometheus, f"127.0.0.1:{exporter_port}")

        def consumer_lag_seen() -> bool:
            # the demo's consumers have joined and committed, and rates have 4+ samples
            result = live.query(f'count_over_time({ad.GROUP_TOPIC_LAG.name}{{group="billing"}}[10s])')
            return any(float(r["value"][1]) >= 5 for r in result["data"]["result"])

        wait_for("the exporter's consumer-group series in Prometheus", consumer_lag_seen, 45, procs, logs)
        wait_for(
            "the demo's consumer groups to be STABLE",
            lambda: (
                len(live.query(f'{ad.GROUP_STATE.name}{{group=~"billing|analytics", state="STABLE"}} == 1')["data"]["result"])
                == 2
            ),
            30,
            procs,
            logs,
        )
        wait_for("forwarded client statistics", lambda: live.query(cs.BATCH_SIZE.name)["data"]["result"], 30, procs, logs)
        wait_for(
            "a whole status window without commits of replay-after-loss",
            lambda: live.query('kafka_insight_consumer_group_status{group="replay-after-loss", status="stopped"} == 1')["data"]["result"],
            30,
            procs,
            logs,
        )
        info = live.query(ad.CLUSTER_INFO.name)["data"]["result"]
        live.cluster_id = info[0]["metric"]["cluster_id"]
        yield live
    finally:
        prometheus.stop()
        stop_process(exporter, 10)
        stop_process(traffic, 30)
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_dashboard_query_parses_and_returns_data(live: Live) -> None:
    errors, empty, checked = [], [], 0
    specs = series_specs()
    for board in dashboards.all_dashboards(DEFAULTS):
        if board.uid == CONNECT_UID:
            continue  # Kafka Connect is not configured here: tests/test_connect_live.py checks that board
        for var in board.variables:
            if var.query:
                selector = var.query.removeprefix("label_values(").rsplit(",", 1)[0]
                result = live.api("series", **{"match[]": live.substitute(selector)})
                if result["status"] != "success" or not result["data"]:
                    errors.append(f"{board.uid} ${var.name}: {result}")
        for panel, query in board.queries():
            checked += 1
            result = live.query(live.substitute(query.expr))
            where = f"{board.uid} / {panel.title}: {query.expr}"
            if result["status"] != "success":
                errors.append(f"{where}: {result.get('error')}")
            elif not result["data"]["result"] and (board.uid, panel.title, query.legend) not in MAY_BE_EMPTY:
                # a summary's _sum / _count series belong to its spec
                names = {n if n in specs else n.removesuffix("_sum").removesuffix("_count") for n in promql.metric_names(query.expr)}
                used = [specs[n] for n in names if n in specs]
                if not used or not all(u.source in ABSENT_SOURCES or u in DERIVED_FROM_ABSENT for u in used):
                    empty.append(where)
    assert checked > 25
    known = {(b.uid, p.title, q.legend) for b in dashboards.all_dashboards(DEFAULTS) for p, q in b.queries()}
    assert set(MAY_BE_EMPTY) <= known, "stale MAY_BE_EMPTY entries"
    assert errors == []
    assert empty == [], "queries without data (add to MAY_BE_EMPTY with a reason only if that is right)"


def test_every_alert_expression_evaluates_and_exactly_the_expected_ones_fire(live: Live) -> None:
    firing = {}
    for alert in alerts.all_alerts(DEFAULTS):
        result = live.query(alert.expr)
        assert result["status"] == "success", f"{alert.name}: {result.get('error')}"
        if result["data"]["result"]:
            firing[alert.name] = [r["metric"] for r in result["data"]["result"]]
    for name, groups in DEMO_MAY_FIRE.items():
        assert {m["group"] for m in firing.pop(name, [])} <= groups, name
    assert set(firing) == set(DEMO_FIRES), firing
    assert {m["group"] for m in firing["KafkaCommittedOffsetBeyondLogEnd"]} == {"replay-after-loss"}
    # one series per reason (not per topic), counting the demo's RF 1 topics
    risk = {m["reason"]: m for m in firing["KafkaTopicDurabilityRisk"]}
    assert set(risk) == {"no_failure_tolerance"}, risk
    assert {m["client_id"] for m in firing["KafkaCompressionIneffective"]} == {"demo-gzip"}
    assert {(m["client_id"], m["group"]) for m in firing["KafkaLibrdkafkaConsumerBeyondLogEnd"]} == {("demo-restored", "restored")}
    assert {m["client_id"] for m in firing["KafkaProducerCanReorder"]} == {"demo-payments"}
    assert all(m["cluster_id"] == live.cluster_id for ms in firing.values() for m in ms)


def test_prometheus_loaded_every_rule_and_evaluates_them_cleanly(live: Live) -> None:
    def evaluated() -> list[dict[str, Any]]:
        groups = live.api("rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules) else []

    rules = wait_for("rule evaluation", evaluated, 10)
    assert sorted(r["name"] for r in rules) == sorted(a.name for a in alerts.all_alerts(DEFAULTS))
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
