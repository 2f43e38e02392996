"""The cluster dashboard: brokers, controller, partitions at risk, durability settings. One builder per row."""

from __future__ import annotations

from exporter.interpret import durability_specs as du
from exporter.interpret import offsets_specs as of
from exporter.mixin.boards.cluster_brokers_row import brokers_row as _brokers_row
from exporter.mixin.boards.cluster_ops_rows import quorum_row, requests_row, storage_row
from exporter.mixin.boards.common import (
    CLUSTER_UID,
    DURABILITY_TEXT,
    RATE,
    TOPIC,
    _topic_var,
    _vars,
)
from exporter.mixin.panels import DashboardDef, PanelDef, Query, q
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad
from exporter.sources.jmx import broker_specs as bj

T = (TOPIC,)


def _overview_row() -> tuple[PanelDef, ...]:
    return (
        _stat(
            "Brokers",
            """Brokers in the cluster metadata (Admin API). Good: the number you run. Fewer: a broker is
            down or fenced — the Brokers table shows which ids are present.""",
            f"max({q(ad.BROKERS)})",
            bad=None,
        ),
        PanelDef(
            "Active controller",
            """1 when a KRaft controller node reports itself active (ActiveControllerCount, max over the
            nodes the exporter reaches by JMX — controller MBeans are reported by every node, so never sum
            them). 0: no controller, no leader elections or metadata changes — check the quorum with
            kafka-metadata-quorum.sh. Empty without broker JMX.""",
            "short",
            (Query(f"max({q(bj.CONTROLLER_ACTIVE)})"),),
            kind="stat",
            width=4,
            height=5,
            thresholds=((None, "red"), (1.0, "green")),
        ),
        _stat(
            "Offline partitions",
            """Partitions without a leader: nothing can be produced to or consumed from them. Good: 0.
            Anything else is an outage: bring the brokers holding their replicas back.""",
            q(du.CLUSTER_OFFLINE),
        ),
        _stat(
            "Under min ISR",
            """Partitions with fewer in-sync replicas than their effective min.insync.replicas: acks=all
            producers get NotEnoughReplicas now. Good: 0. Anything else: bring the missing brokers back.""",
            q(du.CLUSTER_UNDER_MIN),
        ),
        _stat(
            "At min ISR",
            """Partitions with exactly min.insync.replicas in sync: one more broker loss refuses acks=all
            writes. Good: 0 (unless some topics have RF <= min ISR by design — see Durability). Do not restart
            another broker while this is above 0.""",
            q(du.CLUSTER_AT_MIN),
            color="orange",
        ),
        _stat(
            "Under-replicated",
            """Partitions whose ISR is smaller than their target replica count (replicas being added by a
            reassignment do not count). Good: 0. Short blips during restarts are normal; persistent values
            mean a replica's broker is down or cannot keep up.""",
            q(du.CLUSTER_UNDER_REPLICATED),
            color="orange",
        ),
        _stat(
            "Fenced brokers",
            """Brokers registered but fenced by the KRaft controller (FencedBrokerCount, max over controller
            nodes — never summed). Good: 0. Above 0: a broker stopped heartbeating; its replicas left every
            ISR. Empty without broker JMX.""",
            f"max({q(bj.CONTROLLER_FENCED_BROKERS)})",
            color="orange",
        ),
        _stat(
            "Topics at durability risk",
            """Topics with at least one durability risk (RF 2 with min ISR 1, RF <= min ISR, unclean election,
            RF 1, all replicas in one rack). Good: 0. See the Durability row for which and why.""",
            f"count(max by (topic) ({q(du.DURABILITY_RISK)} == 1)) or vector(0)",
            color="orange",
        ),
        _stat(
            "Partitions in one rack",
            """Partitions whose replicas all sit in one rack, or whose racks are unknown (broker.rack unset).
            Good: 0. One power failure can take every copy of these (Kafka does not fsync by default).""",
            q(du.CLUSTER_ONE_RACK),
            color="orange",
        ),
        _stat(
            "Leaders not preferred",
            """Partitions led by a replica other than the preferred (first) one. Good: 0. Many after a broker
            restart: load is skewed; run kafka-leader-election.sh --election-type PREFERRED.""",
            q(du.CLUSTER_NOT_PREFERRED),
            color="yellow",
        ),
        _stat(
            "Log end regressions",
            """Times a partition's log end offset went backwards in the dashboard's time range: acknowledged
            messages vanished (power loss of every in-sync replica, unclean election). Good: 0. Any other
            value is data loss: see the runbook of KafkaLogEndOffsetDecreased.""",
            f"sum(increase({q(of.CLUSTER_REGRESSIONS)}[$__range]))",
        ),
        _stat(
            "Offsets beyond log end",
            """Group partitions whose committed offset is beyond the log end: data the group had read is gone
            and the group will reset by auto.offset.reset. Good: 0. See the consumers dashboard.""",
            q(of.CLUSTER_BEYOND_END),
        ),
        PanelDef(
            "Brokers",
            "Live brokers with host, port and rack (broker.rack; empty when racks are not configured).",
            "none",
            (Query(q(ad.BROKER_INFO), instant=True),),
            kind="table",
            width=24,
            height=6,
        ),
    )


def _partitions_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Minimum ISR headroom by topic",
            """Per topic, the smallest number of in-sync replicas any partition can still lose before acks=all
            writes are refused (ISR size minus effective min ISR). Good: 1 or more. 0: one broker loss away
            from refusing writes. Negative: writes are being refused now.""",
            "short",
            (Query(f"min by (topic) ({q(du.ISR_HEADROOM, *T)})", "{{topic}}"),),
            thresholds=((None, "red"), (0.0, "orange"), (1.0, "green")),
        ),
        PanelDef(
            "Partitions under / at min ISR by topic",
            """Per topic, partitions below their min ISR (acks=all refused now) and at their min ISR (one
            broker loss away). Good: no line. Topics with RF <= min ISR are at min ISR permanently.""",
            "short",
            (
                Query(f"sum by (topic) ({q(du.UNDER_MIN_ISR, *T)}) > 0", "under min ISR {{topic}}"),
                Query(f"sum by (topic) ({q(du.AT_MIN_ISR, *T)}) > 0", "at min ISR {{topic}}"),
            ),
        ),
        PanelDef(
            "Offline and under-replicated partitions by topic",
            """Per topic, partitions without a leader (outage), partitions with fewer in-sync replicas than
            their target replica count (reduced durability) and partitions being reassigned (replicas being
            copied: not under-replicated while the original replicas stay in sync). Good: no offline or
            under-replicated line; a reassigning line that never ends is a stuck or over-throttled move.""",
            "short",
            (
                Query(f"sum by (topic) ({q(du.OFFLINE, *T)}) > 0", "offline {{topic}}"),
                Query(f"sum by (topic) ({q(du.UNDER_REPLICATED, *T)}) > 0", "under-replicated {{topic}}"),
                Query(f"sum by (topic) ({q(du.REASSIGNING, *T)}) > 0", "reassigning {{topic}}"),
            ),
        ),
        PanelDef(
            "Log end offset regressions",
            """Partitions whose log end offset went backwards (acknowledged messages lost), per interval.
            Good: no line. A point here is data loss: producers' acknowledged writes are gone and consumers
            past the new end will reset.""",
            "short",
            (
                Query(
                    f"sum by (topic, partition) (increase({q(of.REGRESSIONS, *T)}[$__rate_interval])) > 0",
                    "{{topic}}[{{partition}}]",
                ),
            ),
        ),
        PanelDef(
            "Messages produced per second by topic",
            """Growth of the log end offsets (high watermark) per topic, i.e. messages written per second.
            Computed with deriv() because offsets are gauges (they can go down after data loss).""",
            "cps",
            (Query(f"sum by (topic) (deriv({q(ad.PARTITION_LOG_END, *T)}{RATE}))", "{{topic}}"),),
            stacked=True,
        ),
        PanelDef(
            "Messages retained by topic",
            """Log end minus log start offset summed over the topic's partitions: roughly how many
            messages the topic holds (compaction and transaction markers make it approximate).""",
            "short",
            (Query(f"sum by (topic) ({q(ad.PARTITION_LOG_END, *T)} - {q(ad.PARTITION_LOG_START, *T)})", "{{topic}}"),),
        ),
    )


def _durability_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Why these settings matter",
            "The durability pitfalls behind this row, and the settings that avoid them.",
            "none",
            kind="text",
            width=24,
            height=7,
            content=DURABILITY_TEXT,
        ),
        PanelDef(
            "Durability risks",
            """Topics with a durability risk, one row per reason. single_copy_ack: RF >= 2 with min ISR 1 —
            writes acknowledged by one copy die with that broker; set min.insync.replicas=2 with RF 3.
            no_failure_tolerance: RF <= min ISR — any broker loss refuses acks=all writes. unclean_election:
            an out-of-sync replica may lead and truncate acknowledged data. single_replica: RF 1.
            single_rack: replicas share one rack or racks are unknown. Good: empty.""",
            "none",
            (Query(f"{q(du.DURABILITY_RISK, *T)} == 1", instant=True),),
            kind="table",
            height=9,
        ),
        PanelDef(
            "Topic durability settings",
            """Per topic: replication factor, configured and effective min.insync.replicas (capped at the
            replica count, as the brokers do) and whether unclean leader election is on. Good: RF 3, min ISR
            2, unclean 0. Configured above effective means min.insync.replicas exceeds RF: fix the config.""",
            "short",
            (
                Query(q(ad.TOPIC_REPLICATION_FACTOR, *T), "replication factor", instant=True),
                Query(q(ad.TOPIC_MIN_ISR, *T), "min.insync.replicas", instant=True),
                Query(q(du.EFFECTIVE_MIN_ISR, *T), "effective min ISR", instant=True),
                Query(q(ad.TOPIC_UNCLEAN, *T), "unclean election", instant=True),
            ),
            kind="table",
            height=9,
        ),
        PanelDef(
            "Partitions with all replicas in one rack",
            """Per topic, partitions whose replicas share one rack or whose racks are unknown. Good: empty. A
            whole-rack power loss takes every copy of these, and writes still in page cache are lost; set
            broker.rack and reassign replicas rack-aware.""",
            "short",
            (Query(f"sum by (topic) ({q(du.IN_ONE_RACK, *T)}) > 0", "{{topic}}", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Forced flush by topic",
            """1 where the topic forces fsync (flush.messages or flush.ms set below Kafka's default of never), 0
            for Kafka's default: acknowledged writes live in the replicas' page cache until the OS flushes them.
            Not an alarm — with 0, only replicas in different power domains protect against a site-wide power loss.""",
            "short",
            (Query(q(of.FLUSH_FORCED, *T), "{{topic}}", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Retention by topic",
            "retention.ms per topic (-1 = unlimited). Consumers that fall further behind than this lose data.",
            "s",
            (Query(q(ad.TOPIC_RETENTION_SECONDS, *T), "{{topic}}", instant=True),),
            kind="table",
        ),
    )


def _stat(
    title: str, description: str, expr: str, *, bad: float | None = 1.0, color: str = "red", unit: str = "short"
) -> PanelDef:
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),) if bad is None else ((None, "green"), (bad, color))
    return PanelDef(title, description, unit, (Query(expr),), kind="stat", width=4, height=5, thresholds=thresholds)


def cluster_dashboard(settings: Settings) -> DashboardDef:
    return DashboardDef(
        CLUSTER_UID,
        "Kafka Insight / Cluster health and durability",
        "Brokers and controller, partitions at risk, and whether the topics' settings can survive a broker loss.",
        _vars(settings, _topic_var()),
        (
            ("Overview", _overview_row()),
            ("Partitions", _partitions_row()),
            ("Durability", _durability_row()),
            ("Brokers (JMX)", _brokers_row()),
            ("Broker requests (JMX)", requests_row()),
            ("Broker storage and groups (JMX)", storage_row()),
            ("KRaft quorum (JMX)", quorum_row()),
        ),
    )
