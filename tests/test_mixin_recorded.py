"""The alerts on what real Kafka reported when a broker died: recorded data through the real pipeline.

The recordings in ``tests/fixtures/`` (a real 3-node Kafka 4.0 cluster, racks r1..r3:
healthy, node 3 killed with SIGKILL, node 3 restarted) are replayed through the exporter's
own sources, interpreters, cycle and HTTP server: only the two I/O calls are replaced, the
Admin API call by the recorded metadata and the jmxquery call by the recorded MBean dumps
(the dead node's dump is a refused connection, so its target fails as it would). A real
Prometheus scrapes the exporter and evaluates every alert expression in each state.

What must fire comes from the recorded cluster's topics (fixtures/README.md):
``durable`` RF 3 / min ISR 2, ``risky-rf2`` RF 2 / min ISR 1, ``single`` RF 1,
``unclean`` RF 3 / min ISR 2 with unclean election on, ``strict`` RF 3 / min ISR 3,
``compacted`` RF 3 / min ISR 2, ``minisr-over-rf`` RF 2 / min ISR 3; and the lz4 producer
(Java 4.0, ``enable.idempotence=false``, 5 in flight, retries on).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
import yaml

from exporter import config
from exporter.app import build_collector
from exporter.catalogue import series_specs
from exporter.cycle import Collector
from exporter.demo.broker import free_port
from exporter.mixin import alerts, dashboards, promql
from exporter.mixin.connect import CONNECT_UID
from exporter.mixin.settings import DEFAULTS
from exporter.selfmetrics import COLLECTIONS_TOTAL
from exporter.sources.admin.records import ClusterState
from exporter.sources.admin.source import AdminSource
from exporter.sources.base import SourceError
from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.config import JmxAuth
from exporter.sources.jmx.rows import JmxRow, load_dump
from tests._fixture_loader import load_metadata
from tests._prometheus import JOB, Prometheus, wait_for
from tests._serving import serve
from tests.conftest import FIXTURES

STATES = ("healthy", "broker3-down", "broker3-restarted")
BROKER_JMX = {f"127.0.0.1:{29998 + n}": n for n in (1, 2, 3)}
PRODUCERS = ("none", "gzip", "lz4", "zstd")
CONSUMERS = ("perf", "live-tail")
RISKY = {
    ("risky-rf2", "single_copy_ack"),
    ("single", "no_failure_tolerance"),
    ("strict", "no_failure_tolerance"),
    ("minisr-over-rf", "no_failure_tolerance"),
    ("unclean", "unclean_election"),
}

#: what the recorded consumer groups did (fixtures/README.md step 5), true in every state
GROUPS = {
    # EMPTY groups with lag: audit-stale (offset 100 on risky-rf2), analytics-lagging (read half
    # of durable), perf-consumer (stopped after 20 s under a quota)
    "KafkaConsumerGroupNotProgressing": {"audit-stale", "analytics-lagging", "perf-consumer"},
    # analytics-lagging's offset on durable-0 was set to log end + 1,000,000 ("power loss")
    "KafkaCommittedOffsetBeyondLogEnd": {("analytics-lagging", "durable")},
    # delete_records moved risky-rf2's log start past audit-stale's commits
    "KafkaCommittedOffsetBelowLogStart": {("audit-stale", "risky-rf2")},
    # the lz4 perf producer: Java 4.0 with enable.idempotence=false declared, 5 in flight
    "KafkaProducerCanReorder": {"perf-producer-lz4"},
    # one alert per reason with the number of topics (not one per topic)
    "KafkaTopicDurabilityRisk": {
        (reason, float(sum(1 for _, r in RISKY if r == reason))) for reason in {r for _, r in RISKY}
    },
}
# the snapshots were taken with confluent-kafka-python 2.16.1 (librdkafka's defaults reorder); the
# alert leaves out the library version the exporter itself runs with, as its own Admin client's
RECORDED_CLIENT = ("confluent-kafka-python", "2.16.1-rdkafka-2.16.0")
OWN_CLIENT = ("confluent-kafka-python", f"{confluent_kafka.version()[0]}-rdkafka-{confluent_kafka.libversion()[0]}")
if RECORDED_CLIENT != OWN_CLIENT:
    GROUPS["KafkaClientVersionCanReorder"] = {RECORDED_CLIENT}
#: alert -> the label values that must fire (alert expression, for: aside) in each state;
#: every alert not listed for a state must return nothing
#: blast radius: with every broker up, one broker's failure breaks single (RF 1, 3), strict
#: (min ISR 3 = RF, 3) and minisr-over-rf (effective min 2 = RF, 2): 8 partitions; with node 3 down
#: 20 (tests/test_interpret_blast_radius.py works them out)
NOT_SAFE = "KafkaClusterNotSingleBrokerSafe"
EXPECTED: dict[str, dict[str, set[Any]]] = {
    "healthy": {**GROUPS, NOT_SAFE: {8.0}},
    "broker3-down": {
        **GROUPS,
        NOT_SAFE: {20.0},
        "KafkaInsightSourceDown": {("broker_jmx", "127.0.0.1:30001")},  # node 3's JMX refuses connections
        "KafkaFencedBrokers": {1.0},  # both surviving controllers report 1: max, not sum
        # node 3 is a combined broker+controller: its JMX target is a controller target, and the
        # controller sum (nodes 1 and 2 only) is not judged while it is unreachable
        "KafkaControllerTargetDown": {"127.0.0.1:30001"},
        "KafkaBrokerCountDropped": {1.0},  # describe_cluster lists 2 of the 3 brokers
        "KafkaOfflinePartitions": {"single"},  # RF 1 partitions on node 3
        "KafkaUnderReplicatedPartitions": {"durable", "risky-rf2", "unclean", "strict", "compacted", "minisr-over-rf"},
        # ISR 2 of min 2 (RF 3), and risky-rf2's ISR 1 of min 1; strict and minisr-over-rf are below
        "KafkaPartitionsAtMinIsr": {"durable", "unclean", "compacted", "risky-rf2"},
        # strict: min 3 with 2 in sync; minisr-over-rf: effective min min(3, RF 2) = 2 with 1 in sync
        "KafkaPartitionsUnderMinIsr": {"strict", "minisr-over-rf"},
    },
    "broker3-restarted": {**GROUPS, NOT_SAFE: {8.0}},
}
#: may fire, and only with these values: lag in seconds extrapolates the log end offsets between
#: cycles that the replay runs a second apart though they were recorded minutes apart (and the
#: groups really were minutes behind); only the first cycle has no rate to extrapolate with
MAY_FIRE = {"KafkaConsumerGroupLagHigh": {"audit-stale", "analytics-lagging", "perf-consumer"}}


def _key(alert: str, metric: dict[str, str], value: str) -> Any:
    if alert == "KafkaTopicDurabilityRisk":
        return (metric["reason"], float(value))
    if alert == "KafkaInsightSourceDown":
        return (metric["source"], metric["target"])
    if alert == "KafkaControllerTargetDown":
        return metric["target"]
    if alert in ("KafkaFencedBrokers", "KafkaBrokerCountDropped", NOT_SAFE):
        return float(value)
    if alert == "KafkaClientVersionCanReorder":
        return (metric["client_software_name"], metric["client_software_version"])
    if alert in ("KafkaConsumerGroupNotProgressing", "KafkaConsumerGroupLagHigh"):
        return metric["group"]
    if alert in ("KafkaCommittedOffsetBeyondLogEnd", "KafkaCommittedOffsetBelowLogStart"):
        return (metric["group"], metric["topic"])
    return metric.get("topic") or metric.get("client_id")


@dataclass
class Replay:
    state: str = "healthy"

    def metadata(self) -> ClusterState:
        return load_metadata(FIXTURES / f"metadata-{self.state}.json")

    def jmx_query(self, address: str, patterns: Sequence[str], auth: JmxAuth, **_: Any) -> list[JmxRow]:
        if address in BROKER_JMX:
            path = FIXTURES / f"jmx-broker{BROKER_JMX[address]}-{self.state}.json"
        else:  # "producer-lz4:30100" -> jmx-producer-lz4.json, "consumer-perf:30100" -> jmx-consumer-perf.json
            path = FIXTURES / f"jmx-{address.split(':')[0]}.json"
        doc = json.loads(path.read_text())
        if not doc["reachable"]:
            raise SourceError(f"JMX {address}: {doc['error']}")
        return load_dump(path)

    def jmx_query_groups(self, address: str, patterns: Sequence[str], auth: JmxAuth, **kw: Any) -> list[list[JmxRow]]:
        """The broker source asks for rows per pattern (its slow families): the whole dump
        as the first pattern's rows, so every cycle replays every MBean of the state."""
        return [self.jmx_query(address, patterns, auth, **kw), *([] for _ in patterns[1:])]


def _config(tmp: Path) -> config.Config:
    clients = []
    for codec in PRODUCERS:
        configured = json.loads((FIXTURES / f"jmx-producer-{codec}.json").read_text())["source"]["configured"]
        settings = {k: v for k, v in configured.items() if k != "client.id"}
        clients.append({"address": f"producer-{codec}:30100", "name": f"perf-{codec}", "settings": settings})
    clients += [{"address": f"consumer-{name}:30100", "name": name} for name in CONSUMERS]
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:29092"},
        # group status is judged over a window of commits: 1 s, so the warm-up cycle below
        # is enough for the recorded groups that never commit to be stopped
        "interpretation": {"group_status_window_seconds": 1},
        "jmx": {
            "brokers": {"targets": [{"address": a, "broker_id": n} for a, n in BROKER_JMX.items()]},
            "clients": {"targets": clients},
        },
    }
    path = tmp / "exporter.yml"
    path.write_text(yaml.safe_dump(raw))
    return config.load(str(path))


@dataclass
class Recorded:
    prometheus: Prometheus
    fired: dict[str, dict[str, set[Any]]]
    instance: str


@pytest.fixture(scope="module")
def recorded() -> Iterator[Recorded]:
    tmp = Path(tempfile.mkdtemp(prefix="mixin-recorded-"))
    replay = Replay()
    # undone however the setup ends: a patch left behind made later modules' AdminSource
    # read the recorded metadata instead of their own broker
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        patch.setattr(AdminSource, "collect", lambda self: replay.metadata())
        patch.setattr(jvm, "query", replay.jmx_query)
        patch.setattr(jvm, "query_groups", replay.jmx_query_groups)
        collector: Collector = build_collector(_config(tmp))
        cleanup.callback(collector.stop)
        port = free_port()
        server = serve(collector, "127.0.0.1", port)
        cleanup.callback(server.shutdown)
        prometheus = Prometheus(tmp, [f"127.0.0.1:{port}"])
        cleanup.callback(prometheus.stop)
        yield _replay_states(replay, collector, prometheus, f"127.0.0.1:{port}")


def _replay_states(replay: Replay, collector: Collector, prometheus: Prometheus, instance: str) -> Recorded:
    """Each recorded state as one collection cycle, scraped by Prometheus; the alerts that fire."""
    fired: dict[str, dict[str, set[Any]]] = {}
    replay.state = STATES[0]
    collector.collect_once()  # warm-up: the first look at the groups
    time.sleep(1.1)  # a whole status window without progress
    for cycle, state in enumerate(STATES, start=2):
        replay.state = state
        collector.collect_once()
        wait_for(
            f"Prometheus to scrape the {state} cycle",
            lambda c=cycle: prometheus.query(f"{COLLECTIONS_TOTAL.name} == {c}")["data"]["result"],
            20,
            [prometheus.process],
            [prometheus.log],
        )
        fired[state] = {}
        for alert in alerts.all_alerts(DEFAULTS):
            result = prometheus.query(alert.expr)
            assert result["status"] == "success", f"{alert.name}: {result.get('error')}"
            if result["data"]["result"]:
                fired[state][alert.name] = {_key(alert.name, r["metric"], r["value"][1]) for r in result["data"]["result"]}
    # a few scrapes of the last state, so that rate() over $__rate_interval has samples
    wait_for(
        "scrapes of the last state",
        lambda: prometheus.query(f"count_over_time({COLLECTIONS_TOTAL.name}[5s]) >= 4")["data"]["result"],
        20,
    )
    return Recorded(prometheus, fired, instance)


@pytest.mark.parametrize("state", STATES)
def test_exactly_the_expected_alerts_fire(recorded: Recorded, state: str) -> None:
    fired = dict(recorded.fired[state])
    for name, allowed in MAY_FIRE.items():
        assert fired.pop(name, set()) <= allowed, name
    assert fired == EXPECTED[state]


@pytest.mark.parametrize("state", STATES)
def test_partition_alerts_agree_with_kafka_topics_cli(recorded: Recorded, state: str) -> None:
    """Kafka's own kafka-topics.sh views, recorded with each state, as the oracle."""
    cli = json.loads((FIXTURES / f"metadata-{state}.json").read_text())["kafka_topics_cli"]

    def topics(key: str) -> set[str]:
        return {p[0] if isinstance(p, list) else p["topic"] for p in cli[key]} - {"__consumer_offsets"}

    fired = recorded.fired[state]
    assert fired.get("KafkaUnderReplicatedPartitions", set()) == topics("under_replicated_partitions")
    assert fired.get("KafkaOfflinePartitions", set()) == topics("unavailable_partitions")
    # topics that sit at min ISR by design (RF <= min ISR: single, strict) go to KafkaTopicDurabilityRisk
    by_design = {t for t, reason in RISKY if reason == "no_failure_tolerance"}
    assert fired.get("KafkaPartitionsAtMinIsr", set()) == topics("at_min_isr_partitions") - by_design
    # kafka-topics.sh ignores KIP-966's cap at the replica count (minisr-over-rf with a full ISR)
    # and lists leaderless partitions (single) as under min ISR; the brokers and the exporter do not
    under_min = fired.get("KafkaPartitionsUnderMinIsr", set())
    assert under_min <= topics("under_min_isr_partitions")
    assert topics("under_min_isr_partitions") - under_min <= {"minisr-over-rf", "single"}


def test_alerts_carry_the_recorded_cluster_id(recorded: Recorded) -> None:
    cluster_id = load_metadata(FIXTURES / "metadata-healthy.json").cluster_id
    risk = next(a for a in alerts.all_alerts(DEFAULTS) if a.name == "KafkaTopicDurabilityRisk")
    series = recorded.prometheus.query(risk.expr)["data"]["result"]
    assert cluster_id and series and {s["metric"]["cluster_id"] for s in series} == {cluster_id}


#: sources not replayed here (the Tansu live check covers them): their queries may be empty
NOT_REPLAYED = {"client_stats", "canary"}  # the canary writes: off in the recording, live in test_canary_live.py
#: queries (dashboard uid, panel title, query legend) that are rightly empty on the restarted cluster
EMPTY_WHEN_HEALTHY: dict[tuple[str, str, str], str] = {
    (dashboards.EXPORTER_UID, "Dropped values", "{{source}}"): "only exported for sources that dropped a value",
    (dashboards.CLUSTER_UID, "Partitions under / at min ISR by topic", "under min ISR {{topic}}"): "every ISR full again",
    (dashboards.CLUSTER_UID, "Offline and under-replicated partitions by topic", "offline {{topic}}"): "every partition led",
    (dashboards.CLUSTER_UID, "Offline and under-replicated partitions by topic", "under-replicated {{topic}}"): "ISRs full",
    (dashboards.CLUSTER_UID, "Offline and under-replicated partitions by topic", "reassigning {{topic}}"): "no move recorded",
    (dashboards.CLUSTER_UID, "Log end offset regressions", "{{topic}}[{{partition}}]"): "no data was lost",
    (dashboards.CONSUMERS_UID, "Offset rewinds", "{{group}}"): "no group was reset between the replayed states",
    (dashboards.RISK_UID, "Topics with partitions offline / under / at min ISR", "offline {{topic}}"): "every partition led",
    (dashboards.RISK_UID, "Topics with partitions offline / under / at min ISR", "under min ISR {{topic}}"): "every ISR full again",
    (dashboards.CLUSTER_UID, "Log size per broker", "{{broker_id}}"): "jmx.brokers.log_size is opt-in (a JMX call per partition)",
}


def test_every_dashboard_query_returns_data_on_the_recorded_cluster(recorded: Recorded) -> None:
    """Broker and client JMX panels, which the Tansu demo cannot light up, on real Kafka's numbers."""
    specs = series_specs()
    variables = {
        "$__rate_interval": "5s",
        "$__range": "1m",
        "$job": JOB,
        "$instance": recorded.instance,
        "$cluster_id": ".*",
        "$topic": ".*",
        "$group": ".*",
        "$client_id": ".*",
    }
    errors, empty = [], []
    for board in dashboards.all_dashboards(DEFAULTS):
        if board.uid == CONNECT_UID:
            continue  # Kafka Connect is not configured here: tests/test_connect_live.py checks that board
        for panel, query in board.queries():
            expr = query.expr
            for var, value in variables.items():
                expr = expr.replace(var, value)
            result = recorded.prometheus.query(expr)
            where = f"{board.uid} / {panel.title} / {query.legend}"
            if result["status"] != "success":
                errors.append(f"{where}: {result.get('error')}")
            elif not result["data"]["result"] and (board.uid, panel.title, query.legend) not in EMPTY_WHEN_HEALTHY:
                used = [specs[n] for n in promql.metric_names(query.expr) if n in specs]
                if not any(u.source in NOT_REPLAYED or u.name.startswith("kafka_insight_librdkafka_") for u in used):
                    empty.append(where)
    assert errors == []
    assert empty == []
