"""The Grafana dashboards, built from catalogue specs.

Every query goes through :func:`exporter.mixin.panels.q` with a spec object, so renaming a
metric regenerates the dashboards instead of breaking them.
"""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.mixin.panels import DashboardDef, PanelDef, Query, Variable, datasource_var, label_var, q
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad

RATE = "[$__rate_interval]"
TOPIC = 'topic=~"$topic"'
GROUP = 'group=~"$group"'
REBALANCING = 'state=~"PREPARING_REBALANCE|COMPLETING_REBALANCE|ASSIGNING|RECONCILING"'

EXPORTER_UID = "kafka-insight-exporter"
CLUSTER_UID = "kafka-insight-cluster"
CONSUMERS_UID = "kafka-insight-consumers"
PRODUCERS_UID = "kafka-insight-producers"


def _vars(settings: Settings, *extra: Variable, instance_from_build_info: bool = False) -> tuple[Variable, ...]:
    job = label_var("job", "Job", sm.BUILD_INFO, settings.job_selector, description="Prometheus job scraping the exporter.")
    if instance_from_build_info:
        # the exporter dashboard must work even when the exporter never reached Kafka
        instance = label_var("instance", "Exporter", sm.BUILD_INFO, 'job=~"$job"', description="Exporter instance.")
        cluster = label_var(
            "cluster_id",
            "Cluster",
            ad.CLUSTER_INFO,
            'job=~"$job", instance=~"$instance"',
            include_all=True,
            description="Kafka cluster id the chosen exporter reports (empty while it cannot reach Kafka).",
        )
        return (datasource_var(), job, instance, cluster, *extra)
    cluster = label_var(
        "cluster_id", "Cluster", ad.CLUSTER_INFO, 'job=~"$job"', include_all=True, description="Kafka cluster id (describe_cluster)."
    )
    instance = label_var(
        "instance",
        "Exporter",
        ad.CLUSTER_INFO,
        'job=~"$job", cluster_id=~"$cluster_id"',
        description="Exporter instance watching the chosen cluster (one exporter per cluster).",
    )
    return (datasource_var(), job, cluster, instance, *extra)


def _topic_var() -> Variable:
    return label_var("topic", "Topic", ad.TOPIC_PARTITIONS, 'job=~"$job", instance=~"$instance"', include_all=True)


def _group_var() -> Variable:
    return label_var("group", "Consumer group", ad.GROUP_STATE, 'job=~"$job", instance=~"$instance"', include_all=True)


# -- exporter ---------------------------------------------------------------------------------
def exporter_dashboard(settings: Settings) -> DashboardDef:
    status = (
        PanelDef(
            "Sources up",
            """Share of the exporter's source targets (Admin API, broker JMX, client JMX, ...) whose last
            collection succeeded. Good: 100%. Below 100%: some series are absent (not stale) — see
            'Source up per target' for which one, and the exporter log for the one-line reason.""",
            "percentunit",
            (Query(f"sum({q(sm.SOURCE_UP)}) / count({q(sm.SOURCE_UP)})"),),
            kind="stat",
            width=6,
            height=5,
            thresholds=((None, "red"), (0.99, "yellow"), (1.0, "green")),
        ),
        PanelDef(
            "Data age",
            """Seconds since the last collection cycle finished: every value on /metrics is this old
            plus up to one scrape interval. Good: below the collection interval. Growing steadily:
            the cycle is stuck (look for 'still hanging' in the exporter log).""",
            "s",
            (Query(f"time() - {q(sm.LAST_COLLECTION)}", "{{instance}}"),),
            kind="stat",
            width=6,
            height=5,
            thresholds=((None, "green"), (120.0, "yellow"), (300.0, "red")),
        ),
        PanelDef(
            "Collection interval",
            "Configured time between collection cycles (--collection.interval). Data is at most this old plus one cycle.",
            "s",
            (Query(q(sm.COLLECTION_INTERVAL), "{{instance}}"),),
            kind="stat",
            width=6,
            height=5,
        ),
        PanelDef(
            "Exposed series",
            """Series in the last exposition. Watch it for cardinality: if it keeps growing, narrow the
            topic/group filters in the exporter config.""",
            "short",
            (Query(q(sm.EXPOSED_SERIES), "{{instance}}"),),
            kind="stat",
            width=6,
            height=5,
        ),
    )
    sources = (
        PanelDef(
            "Source up per target",
            """1 when the last collection from a source/target succeeded, 0 when it failed or timed out.
            Good: all lines at 1. A 0 means that target's series are absent; the others keep working.
            Check the exporter log and the target itself (broker reachable? JMX port open?).""",
            "short",
            (Query(q(sm.SOURCE_UP), "{{source}} {{target}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Source duration",
            """Wall time of each source's last collection. Good: well below the collection timeout
            and the scrape interval. Close to the timeout: the target is slow or hanging.""",
            "s",
            (Query(q(sm.SOURCE_DURATION), "{{source}} {{target}}"),),
        ),
        PanelDef(
            "Source errors per cycle",
            """Errors in the last cycle per source/target, including partial failures (e.g. topic configs
            timed out while metadata worked). Good: 0. Non-zero with source up = 1: some series of that
            source are missing; the exporter log names them.""",
            "short",
            (Query(q(sm.SOURCE_ERRORS), "{{source}} {{target}}"),),
        ),
        PanelDef(
            "Source errors rate",
            "Errors per second per source/target since start (rate of the error counter). Good: 0.",
            "cps",
            (Query(f"rate({q(sm.SOURCE_ERRORS_TOTAL)}{RATE})", "{{source}} {{target}}"),),
        ),
    )
    cycle = (
        PanelDef(
            "Cycle and render duration",
            """Wall time of the whole collection cycle (all sources in parallel, then interpretation) and
            of rendering the exposition. Good: far below the collection interval. A cycle as long as the
            interval means the exporter cannot keep up: raise the interval or narrow the filters.""",
            "s",
            (
                Query(q(sm.COLLECTION_DURATION), "cycle {{instance}}"),
                Query(q(sm.RENDER_DURATION), "render {{instance}}"),
            ),
        ),
        PanelDef(
            "Cycles per second",
            "Completed collection cycles per second; about 1/interval when healthy, 0 when the cycle is stuck.",
            "cps",
            (Query(f"rate({q(sm.COLLECTIONS_TOTAL)}{RATE})", "{{instance}}"),),
        ),
        PanelDef(
            "Dropped values",
            """Values per second from a source that were not finite numbers and were dropped. A little is
            normal (Kafka reports NaN for 'no data in the window'); a steady rise means a target
            sends garbage.""",
            "cps",
            (Query(f"rate({q(sm.DROPPED_VALUES_TOTAL)}{RATE})", "{{source}}"),),
        ),
        PanelDef(
            "Build",
            "Exporter, Python, confluent-kafka and librdkafka versions of each exporter instance.",
            "none",
            (Query(q(sm.BUILD_INFO), instant=True),),
            kind="table",
        ),
    )
    return DashboardDef(
        EXPORTER_UID,
        "Kafka Insight / Exporter",
        "Is the exporter itself healthy: per-source status, durations, errors and the age of the data.",
        _vars(settings, instance_from_build_info=True),
        (("Status", status), ("Sources", sources), ("Collection cycle", cycle)),
    )


# -- cluster health and durability --------------------------------------------------------------
def cluster_dashboard(settings: Settings) -> DashboardDef:
    scope_t = (TOPIC,)
    overview = (
        PanelDef(
            "Brokers",
            """Brokers in the cluster metadata. Good: the number you run. Fewer: a broker is down or
            fenced — the Brokers table shows which ids are present.""",
            "short",
            (Query(f"max({q(ad.BROKERS)})"),),
            kind="stat",
            width=4,
            height=5,
        ),
        PanelDef(
            "Offline partitions",
            """Partitions without a leader (leader = -1): nothing can be produced to or consumed from them.
            Good: 0. Any other value is an outage: bring the brokers holding their replicas back.""",
            "short",
            (Query(f"count({q(ad.PARTITION_LEADER)} == -1) or vector(0)"),),
            kind="stat",
            width=4,
            height=5,
            thresholds=((None, "green"), (1.0, "red")),
        ),
        PanelDef(
            "Under-replicated partitions",
            """Partitions whose in-sync replicas are fewer than their replicas (Admin API metadata). Good: 0.
            Non-zero for minutes: a broker is down or a replica cannot keep up (disk, network).""",
            "short",
            (Query(f"count({q(ad.PARTITION_ISR)} < {q(ad.PARTITION_REPLICAS)}) or vector(0)"),),
            kind="stat",
            width=4,
            height=5,
            thresholds=((None, "green"), (1.0, "orange")),
        ),
        PanelDef(
            "Topics",
            "Topics the exporter watches (after its topic filter).",
            "short",
            (Query(f"count({q(ad.TOPIC_PARTITIONS)})"),),
            kind="stat",
            width=4,
            height=5,
        ),
        PanelDef(
            "Partitions",
            "Partitions of the watched topics. A jump means topics were created, deleted or given more partitions.",
            "short",
            (Query(f"sum({q(ad.TOPIC_PARTITIONS)})"),),
            kind="stat",
            width=4,
            height=5,
        ),
        PanelDef(
            "Leaders not on the preferred replica",
            """Partitions led by a replica other than the preferred (first) one. Good: 0. Many after a
            broker restart: load is skewed; run kafka-leader-election.sh --election-type PREFERRED.""",
            "short",
            (Query(f"count({q(ad.PARTITION_LEADER_PREFERRED)} == 0) or vector(0)"),),
            kind="stat",
            width=4,
            height=5,
            thresholds=((None, "green"), (1.0, "yellow")),
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
    partitions = (
        PanelDef(
            "Offline partitions by topic",
            """Partitions without a leader, per topic. Good: no line at all. Any line is an outage for that
            topic's producers and consumers.""",
            "short",
            (Query(f"count by (topic) ({q(ad.PARTITION_LEADER, *scope_t)} == -1)", "{{topic}}"),),
        ),
        PanelDef(
            "Under-replicated partitions by topic",
            """Partitions per topic whose ISR is smaller than the replica set. Good: no line. Short blips
            during restarts are normal; a persistent line means a replica stays out of sync.""",
            "short",
            (
                Query(
                    f"count by (topic) ({q(ad.PARTITION_ISR, *scope_t)} < {q(ad.PARTITION_REPLICAS, *scope_t)})",
                    "{{topic}}",
                ),
            ),
        ),
        PanelDef(
            "Messages produced per second by topic",
            """Growth of the log end offsets (high watermark) per topic, i.e. messages written per second.
            Computed with deriv() because offsets are gauges (they can go down after data loss).""",
            "cps",
            (Query(f"sum by (topic) (deriv({q(ad.PARTITION_LOG_END, *scope_t)}{RATE}))", "{{topic}}"),),
            stacked=True,
        ),
        PanelDef(
            "Messages retained by topic",
            """Log end minus log start offset summed over the topic's partitions: roughly how many
            messages the topic holds (compaction and transactions markers make it approximate).""",
            "short",
            (
                Query(
                    f"sum by (topic) ({q(ad.PARTITION_LOG_END, *scope_t)} - {q(ad.PARTITION_LOG_START, *scope_t)})",
                    "{{topic}}",
                ),
            ),
        ),
    )
    durability = (
        PanelDef(
            "Topic durability settings",
            """Per topic: replication factor, min.insync.replicas and whether unclean leader election is on.
            Good: RF 3, min ISR 2, unclean 0. RF 2 with min ISR 1 acknowledges writes held by one broker;
            RF <= min ISR cannot lose any broker for acks=all; unclean 1 may silently truncate acknowledged
            data.""",
            "short",
            (
                Query(q(ad.TOPIC_REPLICATION_FACTOR, *scope_t), "replication factor", instant=True),
                Query(q(ad.TOPIC_MIN_ISR, *scope_t), "min.insync.replicas", instant=True),
                Query(q(ad.TOPIC_UNCLEAN, *scope_t), "unclean election", instant=True),
            ),
            kind="table",
            width=12,
            height=9,
        ),
        PanelDef(
            "Retention by topic",
            "retention.ms per topic (-1 = unlimited). Consumers that fall further behind than this lose data.",
            "s",
            (Query(q(ad.TOPIC_RETENTION_SECONDS, *scope_t), "{{topic}}", instant=True),),
            kind="table",
            width=12,
            height=9,
        ),
    )
    return DashboardDef(
        CLUSTER_UID,
        "Kafka Insight / Cluster health and durability",
        "Brokers, partitions and whether the topics' settings can survive a broker loss.",
        _vars(settings, _topic_var()),
        (("Overview", overview), ("Partitions", partitions), ("Durability", durability)),
    )


# -- consumers and lag ---------------------------------------------------------------------------
def consumers_dashboard(settings: Settings) -> DashboardDef:
    gt = (GROUP, TOPIC)
    lag = (
        PanelDef(
            "Lag by group and topic (messages)",
            """Messages each group has not yet consumed per topic (log end minus committed offset, never
            below 0). Good: flat and small. Growing steadily: the group consumes slower than producers
            write — scale consumers or fix what slows them. A committed offset beyond the log end is
            not shown here as negative lag: it has its own panel.""",
            "short",
            (Query(f"sum by (group, topic) ({q(ad.GROUP_TOPIC_LAG, *gt)})", "{{group}} / {{topic}}"),),
            width=24,
        ),
        PanelDef(
            "Lag per partition (messages)",
            """Lag of each partition the group has committed on. One partition far above the others: a hot
            key or a stuck consumer instance owning it.""",
            "short",
            (Query(q(ad.GROUP_PARTITION_LAG, *gt), "{{group}} {{topic}}[{{partition}}]"),),
        ),
        PanelDef(
            "Consumed vs produced (messages/s)",
            """Committed-offset growth per group and topic against log-end growth per topic. Good: the
            lines overlap. Consumption below production for long means lag grows; both at 0 with lag
            above 0 means the group is stalled.""",
            "cps",
            (
                Query(f"sum by (group, topic) (deriv({q(ad.GROUP_COMMITTED, *gt)}{RATE}))", "consumed {{group}} / {{topic}}"),
                Query(f"sum by (topic) (deriv({q(ad.PARTITION_LOG_END, TOPIC)}{RATE}))", "produced {{topic}}"),
            ),
        ),
    )
    groups = (
        PanelDef(
            "Group state",
            """Current state of each group (describe_consumer_groups). STABLE: consuming. EMPTY: no member
            runs but offsets are kept — lag will only grow. Rebalancing states for long: members keep
            joining and leaving (check session/poll timeouts).""",
            "none",
            (Query(f"{q(ad.GROUP_STATE, GROUP)} == 1", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Members",
            """Members per group. 0 with lag means nobody consumes. (Some brokers, e.g. the Tansu demo
            broker, report no members even for live groups.)""",
            "short",
            (Query(q(ad.GROUP_MEMBERS, GROUP), "{{group}}"),),
        ),
        PanelDef(
            "Groups rebalancing",
            """1 while a group is in a rebalancing state (PREPARING_REBALANCE, COMPLETING_REBALANCE,
            ASSIGNING, RECONCILING). Short blips on deploys are normal; frequent or long ones stop
            consumption each time.""",
            "short",
            (Query(f"sum by (group) ({q(ad.GROUP_STATE, GROUP, REBALANCING)})", "{{group}}"),),
            min=0,
        ),
    )
    return DashboardDef(
        CONSUMERS_UID,
        "Kafka Insight / Consumers and lag",
        "Consumer lag in messages, group state, and committed offsets that no longer fit the log.",
        _vars(settings, _topic_var(), _group_var()),
        (("Lag", lag), ("Groups", groups)),
    )


def all_dashboards(settings: Settings) -> list[DashboardDef]:
    return [
        exporter_dashboard(settings),
        cluster_dashboard(settings),
        consumers_dashboard(settings),
    ]
