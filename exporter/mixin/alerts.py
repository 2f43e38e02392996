"""Prometheus alert rules and their runbooks, built from catalogue specs.

Each :class:`AlertDef` carries its rule (expression, ``for:``, severity, annotations) and its
runbook section (what it means, how to confirm it with Kafka's own tools, what to do);
``generate`` writes both, so a runbook_url can never point at a missing section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from exporter import selfmetrics as sm
from exporter.catalogue import MetricSpec
from exporter.mixin import dashboards as dash
from exporter.mixin.promql import sel
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad

Severity = Literal["critical", "warning", "info"]
BY_EXPORTER = "job, instance"
EMPTY = 'state="EMPTY"'


@dataclass(frozen=True)
class Runbook:
    meaning: str
    confirm: str
    action: str


@dataclass(frozen=True)
class AlertDef:
    group: str
    name: str
    severity: Severity
    expr: str
    for_: str
    summary: str
    description: str
    dashboard: str
    runbook: Runbook
    #: dashboard variables filled from the alert's labels (besides job and instance)
    dashboard_vars: tuple[str, ...] = ()

    @property
    def anchor(self) -> str:
        return self.name.lower()

    def rule(self, settings: Settings) -> dict[str, Any]:
        link_vars = "".join(f"&var-{v}={{{{ $labels.{v} }}}}" for v in ("job", "instance", *self.dashboard_vars))
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_.strip("0msh") != "":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {
            "summary": self.summary,
            "description": " ".join(self.description.split()),
            "runbook_url": f"{settings.runbook_url}#{self.anchor}",
            "dashboard_url": f"{settings.grafana_url.rstrip('/')}/d/{self.dashboard}?{link_vars.lstrip('&')}",
        }
        return rule


class _Builder:
    """Shorthands that keep expressions readable and every name tied to a spec."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def m(self, spec: MetricSpec, *matchers: str) -> str:
        return sel(spec, self.s.job_selector, *matchers)

    def with_cluster(self, expr: str) -> str:
        """Add the cluster_id label (from the cluster info gauge) to an expression's series."""
        return f"({expr}) * on ({BY_EXPORTER}) group_left (cluster_id) {self.m(ad.CLUSTER_INFO)}"


def _exporter_alerts(b: _Builder) -> list[AlertDef]:
    s = b.s
    group = "kafka-insight-exporter"
    return [
        AlertDef(
            group,
            "KafkaInsightExporterDown",
            "warning",
            f"up{{{s.job_selector}}} == 0",
            s.exporter_down_for,
            "Prometheus cannot scrape kafka-insight-exporter.",
            """Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for
            {for_}: every Kafka panel and alert fed by it is blind.""".replace("{for_}", s.exporter_down_for),
            dash.EXPORTER_UID,
            Runbook(
                "Prometheus' own `up` series for the exporter's scrape target is 0: the process is not running, "
                "not listening on the configured address, or the scrape times out. While it lasts, no Kafka "
                "alert from this project can fire.",
                "Open `http://<instance>/healthz` and `/metrics` from the Prometheus host. On Prometheus' "
                "Targets page, the scrape error says whether it is a refused connection or a timeout.",
                "Restart the exporter (container/service logs say why it stopped; a config error exits with "
                "status 2 and one line naming the bad option). If scrapes time out, raise the scrape timeout "
                "or narrow the exporter's topic/group filters.",
            ),
        ),
        AlertDef(
            group,
            "KafkaInsightSourceDown",
            "warning",
            f"{b.m(sm.SOURCE_UP)} == 0",
            s.source_down_for,
            "An exporter source cannot collect from its target.",
            """Source {{ $labels.source }} of {{ $labels.instance }} has failed to collect from
            {{ $labels.target }} for {for_}; its series are absent, the other sources still
            work.""".replace("{for_}", s.source_down_for),
            dash.EXPORTER_UID,
            Runbook(
                "The last collections of one source (Admin API, a broker's JMX, a client's JMX, ...) from one target "
                "failed or timed out. Only that source's series are missing; alerts built on them cannot fire. "
                "For `source=\"admin\"` the exporter sees nothing of the cluster.",
                "The exporter log has one line per failure with the reason (`source X target Y is down: ...`). "
                "Check the target by hand: `kafka-broker-api-versions.sh --bootstrap-server <target>` for the "
                "Admin API; for JMX, that the JMX port answers (`jconsole`/`jmxterm` to `<host>:<port>`).",
                "Fix reachability (firewall, TLS/SASL settings in the exporter's `kafka.client` config, JMX "
                "authentication) or remove a decommissioned target from the config.",
            ),
        ),
        AlertDef(
            group,
            "KafkaInsightCollectionStale",
            "warning",
            f"time() - {b.m(sm.LAST_COLLECTION)} > {s.stale_intervals:g} * {b.m(sm.COLLECTION_INTERVAL)}",
            s.stale_for,
            "kafka-insight-exporter serves stale data: its collection cycle is stuck.",
            """The last collection cycle of {{ $labels.instance }} finished {{ $value | humanizeDuration }}
            ago, more than {n} collection intervals: /metrics still answers, but with old
            values.""".replace("{n}", f"{s.stale_intervals:g}"),
            dash.EXPORTER_UID,
            Runbook(
                "The exporter serves the exposition of its last finished cycle. If no cycle finishes, the numbers "
                "on /metrics (and so the dashboards) freeze while scrapes still succeed.",
                "Compare `kafka_insight_last_collection_timestamp_seconds` with the current time; the exporter log "
                "shows `still hanging since an earlier cycle` for the source that blocks.",
                "Find the hanging target in the log, fix or remove it, and restart the exporter if the cycle does "
                "not recover. Lower `collection.timeout_seconds` if targets hang often.",
            ),
        ),
    ]


def _cluster_alerts(b: _Builder) -> list[AlertDef]:
    s = b.s
    group = "kafka-insight-cluster"
    return [
        AlertDef(
            group,
            "KafkaOfflinePartitions",
            "critical",
            b.with_cluster(f"count by ({BY_EXPORTER}, topic) ({b.m(ad.PARTITION_LEADER)} == -1)"),
            s.offline_partitions_for,
            "Kafka partitions have no leader: producing and consuming them fails.",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has {{ $value }} partition(s)
            without a leader.""",
            dash.CLUSTER_UID,
            Runbook(
                "The partition's leader is -1: no replica that may lead is alive. Every produce and fetch to it "
                "fails; `acks=all` and `acks=1` producers alike get errors or block until `delivery.timeout.ms`.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --unavailable-partitions` lists them with "
                "their replicas; `kafka-metadata-quorum.sh --bootstrap-server <b> describe --status` shows "
                "whether the controller quorum itself is healthy.",
                "Bring back the brokers that hold the partitions' replicas (see the Replicas column). Do not "
                "enable `unclean.leader.election.enable` to get out of it unless losing the acknowledged data "
                "that only the dead replicas hold is acceptable.",
            ),
            ("topic",),
        ),
        AlertDef(
            group,
            "KafkaUnderReplicatedPartitions",
            "warning",
            b.with_cluster(
                f"count by ({BY_EXPORTER}, topic) ({b.m(ad.PARTITION_ISR)} < {b.m(ad.PARTITION_REPLICAS)})"
            ),
            s.under_replicated_for,
            "Kafka partitions have replicas out of sync.",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has {{ $value }} partition(s) with
            fewer in-sync replicas than replicas for more than {for_}.""".replace("{for_}", s.under_replicated_for),
            dash.CLUSTER_UID,
            Runbook(
                "At least one replica of these partitions is not in the ISR: its broker is down, or it cannot keep "
                "up with the leader (slow disk, network, a broker overloaded). Durability is reduced until it "
                "catches up; see the min ISR alerts for how close writes are to being refused.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --under-replicated-partitions` shows which "
                "replica is missing from the Isr column; check that broker's log and disk.",
                "Restart or repair the missing broker. If one broker is the lagging replica everywhere, look at its "
                "disk and network. Brief blips during rolling restarts are normal (hence the `for:`).",
            ),
            ("topic",),
        ),
    ]


def _consumer_alerts(b: _Builder) -> list[AlertDef]:
    s = b.s
    group = "kafka-insight-consumers"
    keys = f"{BY_EXPORTER}, group, topic"
    return [
        AlertDef(
            group,
            "KafkaConsumerGroupStalled",
            "warning",
            b.with_cluster(
                f"({b.m(ad.GROUP_TOPIC_LAG)} > 0)"
                f" and on ({keys}) (sum by ({keys}) (changes({b.m(ad.GROUP_COMMITTED)}[{s.stalled_window}])) == 0)"
                # only once a whole window of history exists: no false alarm right after a restart
                f" and on ({keys}) sum by ({keys}) ({b.m(ad.GROUP_COMMITTED)} offset {s.stalled_window})"
                f" unless on ({BY_EXPORTER}, group) ({b.m(ad.GROUP_STATE, EMPTY)} == 1)"
            ),
            s.stalled_for,
            "A consumer group has lag but has not committed progress.",
            """Group {{ $labels.group }} has {{ $value }} unconsumed messages on topic {{ $labels.topic }} (cluster
            {{ $labels.cluster_id }}) and its committed offsets have not moved for {w}.""".replace(
                "{w}", s.stalled_window
            ),
            dash.CONSUMERS_UID,
            Runbook(
                "The group is not empty (it has members or is rebalancing) and there are messages to read, but none "
                "of its committed offsets on the topic moved during the window: the consumers are stuck (a poison "
                "message retried forever, a deadlock, a blocked downstream) or rebalance in a loop.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` twice a minute apart: "
                "CURRENT-OFFSET does not move while LAG stays. `--describe --group <group> --state` shows "
                "whether it keeps rebalancing.",
                "Look at the consumers' logs for the partition they are stuck on. Restart them; skip a poison "
                "message only deliberately (`kafka-consumer-groups.sh --reset-offsets --shift-by 1 ...` with the "
                "group stopped).",
            ),
            ("group", "topic"),
        ),
        AlertDef(
            group,
            "KafkaConsumerGroupStopped",
            "warning",
            b.with_cluster(
                f"({b.m(ad.GROUP_LAG)} > 0) and on ({BY_EXPORTER}, group) ({b.m(ad.GROUP_STATE, EMPTY)} == 1)"
            ),
            s.stopped_for,
            "A consumer group with unconsumed messages has no members.",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} has been EMPTY for {for_} with
            {{ $value }} unconsumed messages.""".replace("{for_}", s.stopped_for),
            dash.CONSUMERS_UID,
            Runbook(
                "No consumer of the group runs, but it has committed offsets and messages arrived after them. "
                "Lag only grows; once retention deletes the unread data, the group's committed offset falls below "
                "the log start and it will skip or re-read according to `auto.offset.reset`.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group> --members` shows no "
                "members; `--describe --group <group>` shows the lag.",
                "Start the consuming application again. If the group is retired, delete it "
                "(`kafka-consumer-groups.sh --delete --group <group>`) so it stops alerting.",
            ),
            ("group",),
        ),
    ]


ALERT_BUILDERS: list[Callable[[_Builder], list[AlertDef]]] = [_exporter_alerts, _cluster_alerts, _consumer_alerts]


def all_alerts(settings: Settings) -> list[AlertDef]:
    b = _Builder(settings)
    return [alert for build in ALERT_BUILDERS for alert in build(b)]


def rule_groups(settings: Settings) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in all_alerts(settings):
        groups.setdefault(alert.group, []).append(alert.rule(settings))
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}
