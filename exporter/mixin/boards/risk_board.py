"""The first dashboard to open: "Kafka: what is at risk now".

One builder per row; :data:`RISK_ROWS` lists them in order, so a further row (the blast radius of
issue 15, for one) is one function appended there. Every heavy per-partition/per-group panel is a
``topk``; stats take the max over the selected exporters, so an HA pair does not double them.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter import selfmetrics as sm
from exporter.interpret import client_stats as ic
from exporter.interpret import durability_specs as du
from exporter.interpret import offsets_specs as of
from exporter.interpret import producer_specs as pr
from exporter.mixin.blast_radius import blast_radius_row
from exporter.mixin.boards.common import RISK_UID, _vars, lag_retention_share
from exporter.mixin.canary import dashboard_row as canary_row
from exporter.mixin.panels import SCOPE, DashboardDef, PanelDef, Query, q
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad
from exporter.sources.jmx import broker_specs as bj

Row = tuple[str, tuple[PanelDef, ...]]
TOP = 20
#: the alerts of each pitfall (README: P1-P5); the alert names are checked against the rules by the tests
PITFALL_ALERTS: dict[str, tuple[str, ...]] = {
    "P1 replication that cannot survive one broker": (
        "KafkaOfflinePartitions",
        "KafkaPartitionsUnderMinIsr",
        "KafkaPartitionsAtMinIsr",
        "KafkaUnderReplicatedPartitions",
        "KafkaTopicDurabilityRisk",
        "KafkaUncleanLeaderElection",
    ),
    "P2 producers that reorder": ("KafkaProducerCanReorder", "KafkaProducerMayHaveReordered", "KafkaClientVersionCanReorder"),
    "P3 a data centre loses power": (
        "KafkaClusterUnreachable",
        "KafkaInsightExporterAbsent",
        "KafkaLogEndOffsetDecreased",
        "KafkaCommittedOffsetBeyondLogEnd",
        "KafkaLibrdkafkaConsumerBeyondLogEnd",
        "KafkaReplicasInOneRack",
    ),
    "P4/P5 compression and batching read backwards": ("KafkaCompressionIneffective",),
}
ALERTS_SCOPE = 'alertstate="firing", cluster_id=~"$cluster_id"'
NOT_PROGRESSING = 'status=~"stalled|stopped"'
REORDERS = 'verdict="reorders"'


def _stat(
    title: str, description: str, expr: str, thresholds: tuple[tuple[float | None, str], ...], unit: str = "short"
) -> PanelDef:
    return PanelDef(title, description, unit, (Query(expr),), kind="stat", width=4, height=5, thresholds=thresholds)


GOOD_AT_0 = ((None, "green"), (1.0, "red"))


def _reachable_row() -> Row:
    admin = q(sm.SOURCE_UP, 'source="admin"')
    active = f"sum(max by (broker_id) ({q(bj.CONTROLLER_ACTIVE)}))"
    return (
        "Reachable now",
        (
            _stat(
                "Cluster reachable",
                """1 when at least one selected exporter's Admin-API source reached the cluster in its last cycle.
                0: no broker answers — every other panel here is blind (KafkaClusterUnreachable pages).""",
                f"max({admin})",
                ((None, "red"), (1.0, "green")),
            ),
            _stat(
                "Exporters up",
                """Selected exporter targets Prometheus scrapes successfully (an HA pair: 2). 0: nothing watches
                Kafka (KafkaInsightExporterAbsent pages).""",
                f"sum(up{{{SCOPE}}})",
                ((None, "red"), (1.0, "green")),
            ),
            _stat(
                "Active controllers",
                """ActiveControllerCount summed over the controller nodes (each node once, however many exporters
                reach it): exactly 1 is green. 0: no controller, no leader elections; 2 or more: split brain.
                Dedicated controllers must be explicit JMX targets to be counted. Empty without broker JMX.""",
                active,
                ((None, "red"), (1.0, "green"), (2.0, "red")),
            ),
            _stat(
                "Brokers",
                """Brokers in the cluster metadata now (describe_cluster lists live brokers only). The number you
                run is good; see 'Brokers lost' for a drop.""",
                f"max({q(ad.BROKERS)})",
                ((None, "green"),),
            ),
            _stat(
                "Brokers lost (vs 6 h peak)",
                """How many brokers fewer the metadata lists now than at its peak in the last 6 hours. Red at 1
                or more: a broker crashed, is fenced or cannot register (KafkaBrokerCountDropped).""",
                f"max(max_over_time({q(ad.BROKERS)}[6h])) - max({q(ad.BROKERS)})",
                GOOD_AT_0,
            ),
            _stat(
                "Fenced brokers",
                "Brokers the KRaft controller fenced (max over controller nodes, never summed). Good: 0.",
                f"max({q(bj.CONTROLLER_FENCED_BROKERS)})",
                GOOD_AT_0,
            ),
        ),
    )


def _firing_row() -> Row:
    stats = tuple(
        _stat(
            title,
            f"""Alerts of this pitfall firing now ({", ".join(names)}). Good: 0. The table on the right
            lists them; each alert links its runbook section.""",
            f'count(ALERTS{{{ALERTS_SCOPE}, alertname=~"{"|".join(names)}"}}) or vector(0)',
            GOOD_AT_0,
        )
        for title, names in PITFALL_ALERTS.items()
    )
    table = PanelDef(
        "Firing alerts",
        """Every kafka-insight alert firing now for the selected clusters, with its labels (which topic, group or
        client). Alerts are one per cluster and condition, so an HA pair lists each once.""",
        "none",
        (Query(f'ALERTS{{{ALERTS_SCOPE}, alertname=~"Kafka.*"}}', instant=True),),
        kind="table",
        width=8,
        height=10,
    )
    return ("Firing now, by pitfall", (*stats, table))


def _partitions_row() -> Row:
    per_topic = f"topk({TOP}, sum by (topic) (max by (topic, partition) ({{}} == 1)))"
    return (
        "Partitions at risk",
        (
            _stat(
                "Offline partitions",
                "Partitions without a leader: an outage for their producers and consumers. Good: 0.",
                f"max({q(du.CLUSTER_OFFLINE)})",
                GOOD_AT_0,
            ),
            _stat(
                "Under min ISR",
                "Partitions whose acks=all writes are refused now (fewer in-sync replicas than min ISR). Good: 0.",
                f"max({q(du.CLUSTER_UNDER_MIN)})",
                GOOD_AT_0,
            ),
            _stat(
                "At min ISR",
                "Partitions one broker loss away from refusing acks=all writes. Good: 0; do not restart a broker meanwhile.",
                f"max({q(du.CLUSTER_AT_MIN)})",
                ((None, "green"), (1.0, "orange")),
            ),
            PanelDef(
                "Topics with partitions offline / under / at min ISR",
                f"""Per topic, how many partitions are offline, under their min ISR or at it (the {TOP} topics with
                the most of each). Good: empty.""",
                "short",
                (
                    Query(per_topic.format(q(du.OFFLINE)), "offline {{topic}}", instant=True),
                    Query(per_topic.format(q(du.UNDER_MIN_ISR)), "under min ISR {{topic}}", instant=True),
                    Query(per_topic.format(q(du.AT_MIN_ISR)), "at min ISR {{topic}}", instant=True),
                ),
                kind="table",
                width=12,
                height=8,
            ),
        ),
    )


def _consumers_row() -> Row:
    not_progressing = f"max by (group, status) ({q(of.GROUP_STATUS, NOT_PROGRESSING)}) == 1"
    return (
        "Consumers at risk",
        (
            _stat(
                "Groups stalled or stopped",
                "Groups with lag whose committed offsets do not move (stalled: members present; stopped: none). Good: 0.",
                f"count(count by (group) ({not_progressing})) or vector(0)",
                GOOD_AT_0,
            ),
            _stat(
                "Offsets beyond the log end",
                "Group partitions whose committed offset is beyond the log end: data was lost, the group will reset. Good: 0.",
                f"max({q(of.CLUSTER_BEYOND_END)})",
                GOOD_AT_0,
            ),
            PanelDef(
                "Groups stalled or stopped",
                "Which groups do not progress, and whether they have members (stalled) or none (stopped).",
                "none",
                (Query(f"topk({TOP}, {not_progressing})", instant=True),),
                kind="table",
                width=8,
                height=8,
            ),
            PanelDef(
                "Lag in seconds / retention (highest)",
                f"""Per group and topic, the age of the oldest unconsumed message as a share of the topic's
                retention.ms (the {TOP} highest). At 100 % unread messages are deleted. Warning at 50 %, page at
                80 %.""",
                "percentunit",
                (Query(f"topk({TOP}, max by (group, topic) ({lag_retention_share()}))", "{{group}} / {{topic}}"),),
                width=8,
                height=8,
                min=0,
                thresholds=((None, "green"), (0.5, "orange"), (0.8, "red")),
            ),
        ),
    )


def _producers_row() -> Row:
    return (
        "Producers at risk",
        (
            PanelDef(
                "Producers that can reorder",
                """Java producers (verdict from version and declared settings) and librdkafka producers (from their
                statistics) that can write messages out of order when they retry. Good: empty.""",
                "none",
                (
                    Query(f"topk({TOP}, {q(pr.PRODUCER_REORDERING, REORDERS)} == 1)", "Java", instant=True),
                    Query(f"topk({TOP}, {q(ic.REORDERING_RISK)} == 1)", "librdkafka", instant=True),
                ),
                kind="table",
            ),
            PanelDef(
                "Compression that does not pay",
                f"""Producers whose compression saves less than 10 % of their bytes (Java: 1 - compression-rate-avg;
                librdkafka: estimated from their statistics;
                0 with no codec is simply no compression), the {TOP} lowest. CPU spent for little gain.""",
                "percentunit",
                (Query(f"bottomk({TOP}, {q(pr.SAVINGS)} < 0.1)", "{{client_id}} {{target}}", instant=True),),
                kind="table",
            ),
        ),
    )


#: the rows, top to bottom: append a builder to add a row
RISK_ROWS: list[Callable[[], Row]] = [
    _reachable_row,
    _firing_row,
    _partitions_row,
    blast_radius_row,
    _consumers_row,
    _producers_row,
    canary_row,
]


def risk_dashboard(settings: Settings) -> DashboardDef:
    return DashboardDef(
        RISK_UID,
        "Kafka: what is at risk now",
        "Open this first: is the cluster reachable, which alerts fire by pitfall, and which partitions, consumers and "
        "producers are at risk right now. The other Kafka Insight dashboards have the detail.",
        _vars(settings),
        tuple(build() for build in RISK_ROWS),
    )
