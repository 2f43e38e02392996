"""The Grafana dashboards, built from catalogue specs.

Every query goes through :func:`exporter.mixin.panels.q` with a spec object, so renaming a
metric regenerates the dashboards instead of breaking them.
"""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.interpret import client_stats as ic
from exporter.interpret import durability as du
from exporter.interpret import librdkafka_batches as lb
from exporter.interpret import offsets as of
from exporter.interpret import producers as pr
from exporter.mixin import connect as connect_mixin
from exporter.mixin.panels import DashboardDef, PanelDef, Query, Variable, datasource_var, label_var, q
from exporter.mixin.promql import spec as _s
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad
from exporter.sources import broker_jmx as bj
from exporter.sources import client_jmx as cj
from exporter.sources import client_stats as cs

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


def _client_var() -> Variable:
    # client ids come from Java clients (JMX) and librdkafka clients (forwarded statistics)
    return Variable(
        "client_id",
        "Client",
        f"label_values({{__name__=~\"{cj.CLIENT_INFO.name}|{cs.CLIENT_INFO.name}\", job=~\"$job\", instance=~\"$instance\"}}, client_id)",
        include_all=True,
        multi=True,
        description="client.id of the producers and consumers (Java via JMX, librdkafka via forwarded statistics).",
    )


def _group_var() -> Variable:
    return label_var("group", "Consumer group", ad.GROUP_STATE, 'job=~"$job", instance=~"$instance"', include_all=True)


DURABILITY_TEXT = """\
**acks=all only waits for the replicas in the ISR.** With RF 2 and `min.insync.replicas=1` the ISR can
shrink to the leader alone and writes are still acknowledged by that single copy: lose that broker and
they are gone. RF 3 with `min.insync.replicas=2` survives one broker loss. RF <= min ISR cannot lose any
broker without refusing writes. Topics inherit `min.insync.replicas=1` unless set.
**Kafka does not fsync by default:** an acknowledged write lives in the page cache of the in-sync
replicas. If they all lose power at once (one rack, one data centre), recent writes vanish, the log end
offset comes back lower, and consumers whose committed offset is now beyond the end reset by
`auto.offset.reset` (`earliest` re-reads the whole partition). Spread replicas with `broker.rack`.
"""

PRODUCER_TEXT = """\
**compression-rate-avg is compressed / uncompressed size:** 1.0 means no compression and *lower is
better* (0.2 = 80 % saved). This dashboard shows the savings (1 - ratio) next to the raw ratio.
**batch-size-avg is measured after compression**, and the producer closes a batch when its *estimated
compressed* size reaches `batch.size` (or `linger.ms` expires). The raw data per batch is about
batch-size-avg / compression-rate-avg, which can legitimately exceed `batch.size`.
"""


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
    client_stats = (
        PanelDef(
            "Client statistics messages by outcome",
            """Messages per second read from the client statistics topic, by outcome. Good: only accepted.
            invalid or too_large rising: something other than the forwarder writes to the topic. instance_cap:
            more client instances than client_stats.max_instances — new clients are ignored. expired at start
            is normal (old statistics read back).""",
            "cps",
            (Query(f"rate({q(cs.STATS_MESSAGES)}{RATE})", "{{outcome}}"),),
            stacked=True,
        ),
        PanelDef(
            "Tracked client instances",
            """librdkafka client instances whose statistics are currently kept, next to the configured cap.
            Equal to the cap: statistics of further new clients are dropped until others expire.""",
            "short",
            (Query(q(cs.TRACKED), "tracked"), Query(q(cs.MAX_TRACKED), "cap")),
        ),
    )
    return DashboardDef(
        EXPORTER_UID,
        "Kafka Insight / Exporter",
        "Is the exporter itself healthy: per-source status, durations, errors and the age of the data.",
        _vars(settings, instance_from_build_info=True),
        (("Status", status), ("Sources", sources), ("Collection cycle", cycle), ("Client statistics source", client_stats)),
    )


# -- cluster health and durability --------------------------------------------------------------
def _stat(title: str, description: str, expr: str, *, bad: float | None = 1.0, color: str = "red", unit: str = "short") -> PanelDef:
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),) if bad is None else ((None, "green"), (bad, color))
    return PanelDef(title, description, unit, (Query(expr),), kind="stat", width=4, height=5, thresholds=thresholds)


def cluster_dashboard(settings: Settings) -> DashboardDef:
    t = (TOPIC,)
    overview = (
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
    partitions = (
        PanelDef(
            "Minimum ISR headroom by topic",
            """Per topic, the smallest number of in-sync replicas any partition can still lose before acks=all
            writes are refused (ISR size minus effective min ISR). Good: 1 or more. 0: one broker loss away
            from refusing writes. Negative: writes are being refused now.""",
            "short",
            (Query(f"min by (topic) ({q(du.ISR_HEADROOM, *t)})", "{{topic}}"),),
            thresholds=((None, "red"), (0.0, "orange"), (1.0, "green")),
        ),
        PanelDef(
            "Partitions under / at min ISR by topic",
            """Per topic, partitions below their min ISR (acks=all refused now) and at their min ISR (one
            broker loss away). Good: no line. Topics with RF <= min ISR are at min ISR permanently.""",
            "short",
            (
                Query(f"sum by (topic) ({q(du.UNDER_MIN_ISR, *t)}) > 0", "under min ISR {{topic}}"),
                Query(f"sum by (topic) ({q(du.AT_MIN_ISR, *t)}) > 0", "at min ISR {{topic}}"),
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
                Query(f"sum by (topic) ({q(du.OFFLINE, *t)}) > 0", "offline {{topic}}"),
                Query(f"sum by (topic) ({q(du.UNDER_REPLICATED, *t)}) > 0", "under-replicated {{topic}}"),
                Query(f"sum by (topic) ({q(du.REASSIGNING, *t)}) > 0", "reassigning {{topic}}"),
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
                    f"sum by (topic, partition) (increase({q(of.REGRESSIONS, *t)}[$__rate_interval])) > 0",
                    "{{topic}}[{{partition}}]",
                ),
            ),
        ),
        PanelDef(
            "Messages produced per second by topic",
            """Growth of the log end offsets (high watermark) per topic, i.e. messages written per second.
            Computed with deriv() because offsets are gauges (they can go down after data loss).""",
            "cps",
            (Query(f"sum by (topic) (deriv({q(ad.PARTITION_LOG_END, *t)}{RATE}))", "{{topic}}"),),
            stacked=True,
        ),
        PanelDef(
            "Messages retained by topic",
            """Log end minus log start offset summed over the topic's partitions: roughly how many
            messages the topic holds (compaction and transaction markers make it approximate).""",
            "short",
            (Query(f"sum by (topic) ({q(ad.PARTITION_LOG_END, *t)} - {q(ad.PARTITION_LOG_START, *t)})", "{{topic}}"),),
        ),
    )
    durability = (
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
            (Query(f"{q(du.DURABILITY_RISK, *t)} == 1", instant=True),),
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
                Query(q(ad.TOPIC_REPLICATION_FACTOR, *t), "replication factor", instant=True),
                Query(q(ad.TOPIC_MIN_ISR, *t), "min.insync.replicas", instant=True),
                Query(q(du.EFFECTIVE_MIN_ISR, *t), "effective min ISR", instant=True),
                Query(q(ad.TOPIC_UNCLEAN, *t), "unclean election", instant=True),
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
            (Query(f"sum by (topic) ({q(du.IN_ONE_RACK, *t)}) > 0", "{{topic}}", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Forced flush by topic",
            """1 where the topic forces fsync (flush.messages or flush.ms set below Kafka's default of never), 0
            for Kafka's default: acknowledged writes live in the replicas' page cache until the OS flushes them.
            Not an alarm — with 0, only replicas in different power domains protect against a site-wide power loss.""",
            "short",
            (Query(q(of.FLUSH_FORCED, *t), "{{topic}}", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Retention by topic",
            "retention.ms per topic (-1 = unlimited). Consumers that fall further behind than this lose data.",
            "s",
            (Query(q(ad.TOPIC_RETENTION_SECONDS, *t), "{{topic}}", instant=True),),
            kind="table",
        ),
    )
    brokers = (
        PanelDef(
            "Broker JMX targets",
            """Each broker whose JMX answered: broker id, rack, Kafka version and roles (broker, controller).
            A broker missing here while the Admin API lists it: its JMX target is down (see the exporter
            dashboard).""",
            "none",
            (Query(q(bj.BROKER_JMX_INFO), instant=True),),
            kind="table",
            width=24,
            height=6,
        ),
        PanelDef(
            "Bytes in / out per broker",
            """Bytes produced to (in) and fetched by consumers from (out) each broker per second, replication
            excluded. One broker far above the others: partition leadership or hot topics are skewed.""",
            "Bps",
            (
                Query(f"sum by (broker_id) (rate({q(_s('kafka_insight_broker_incoming_bytes_total'))}{RATE}))", "in {{broker_id}}"),
                Query(f"sum by (broker_id) (rate({q(_s('kafka_insight_broker_outgoing_bytes_total'))}{RATE}))", "out {{broker_id}}"),
            ),
        ),
        PanelDef(
            "Messages in per broker",
            "Records produced to each broker per second (MessagesInPerSec Count, as a rate).",
            "cps",
            (Query(f"sum by (broker_id) (rate({q(_s('kafka_insight_broker_incoming_messages_total'))}{RATE}))", "{{broker_id}}"),),
            stacked=True,
        ),
        PanelDef(
            "Request handler idle",
            """Idle fraction of each broker's request handler threads (0-1), from the idle meter divided by the
            number of handler pools (2 on combined broker+controller nodes). Good: above 0.3. Below: handlers
            are saturated and requests queue — add num.io.threads or brokers.""",
            "percentunit",
            (
                Query(
                    f"rate({q(bj.REQUEST_HANDLER_IDLE)}{RATE}) / on (job, instance, broker_id) {q(bj.REQUEST_HANDLER_POOLS)}",
                    "{{broker_id}}",
                ),
            ),
            min=0,
            max=1,
        ),
        PanelDef(
            "Network processor idle",
            """Idle fraction of each broker's network threads (0-1 despite the MBean's name). Good: above 0.3.
            Below: the network threads are the bottleneck — add num.network.threads.""",
            "percentunit",
            (Query(q(bj.NETWORK_IDLE), "{{broker_id}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Leaders and replicas per broker",
            """Partitions each broker leads and hosts. Very uneven leader counts after restarts mean leadership
            was not moved back: run a preferred leader election.""",
            "short",
            (
                Query(q(bj.LEADERS), "leaders {{broker_id}}"),
                Query(q(bj.PARTITIONS), "replicas {{broker_id}}"),
            ),
        ),
        PanelDef(
            "Failed produce and fetch requests",
            """Produce and fetch requests answered with an error per broker and second. Good: 0. Failed
            produces with under-min-ISR partitions are acks=all writes refused with NotEnoughReplicas.""",
            "cps",
            (
                Query(f"rate({q(_s('kafka_insight_broker_failed_produce_requests_total'))}{RATE})", "produce {{broker_id}}"),
                Query(f"rate({q(_s('kafka_insight_broker_failed_fetch_requests_total'))}{RATE})", "fetch {{broker_id}}"),
            ),
        ),
        PanelDef(
            "ISR shrinks and expands",
            """ISR changes per second made by each broker as leader. Flapping (shrink, expand, repeat) means a
            follower keeps falling behind. On KRaft a crashed broker is removed from ISRs by the controller, so
            this stays 0 when a broker dies: rely on the under-replicated panels for that.""",
            "cps",
            (
                Query(f"rate({q(bj.ISR_SHRINKS)}{RATE})", "shrinks {{broker_id}}"),
                Query(f"rate({q(bj.ISR_EXPANDS)}{RATE})", "expands {{broker_id}}"),
            ),
        ),
        PanelDef(
            "Controller view (max over controller nodes)",
            """Offline partitions, fenced brokers and preferred-replica imbalance as the KRaft controllers see
            them. Every controller node reports these, so the cluster value is the max over nodes, never the
            sum. Good: 0 for all three.""",
            "short",
            (
                Query(f"max({q(bj.CONTROLLER_OFFLINE)})", "offline partitions"),
                Query(f"max({q(bj.CONTROLLER_FENCED_BROKERS)})", "fenced brokers"),
                Query(f"max({q(bj.CONTROLLER_IMBALANCE)})", "preferred replica imbalance"),
            ),
        ),
        PanelDef(
            "Replication traffic per broker",
            """Bytes per second each broker fetched from leaders as a follower (in) and served to followers as a
            leader (out). A jump after a restart is a replica catching up; sustained imbalance means leadership
            is skewed.""",
            "Bps",
            (
                Query(f"rate({q(_s('kafka_insight_broker_replication_incoming_bytes_total'))}{RATE})", "in {{broker_id}}"),
                Query(f"rate({q(_s('kafka_insight_broker_replication_outgoing_bytes_total'))}{RATE})", "out {{broker_id}}"),
            ),
        ),
        PanelDef(
            "Offline replicas per broker",
            """Replicas a broker cannot serve, e.g. on a failed log directory (OfflineReplicaCount). Good: 0.
            Above 0: check the broker's disks and log.dirs; those replicas are out of their ISRs.""",
            "short",
            (Query(q(bj.OFFLINE_REPLICAS), "{{broker_id}}"),),
        ),
        PanelDef(
            "Cluster metadata (max over controller nodes)",
            """Topics, partitions and unfenced brokers in the KRaft metadata, as the controllers report them (max
            over nodes, never summed). Active brokers below the number you run: a broker is fenced or gone.""",
            "short",
            (
                Query(f"max({q(bj.CONTROLLER_TOPICS)})", "topics"),
                Query(f"max({q(bj.CONTROLLER_PARTITIONS)})", "partitions"),
                Query(f"max({q(bj.CONTROLLER_ACTIVE_BROKERS)})", "active brokers"),
            ),
        ),
        PanelDef(
            "Unclean leader elections",
            """Unclean leader elections per interval (max over controller nodes). Good: never. Any point: an
            out-of-sync replica became leader and acknowledged data was probably lost.""",
            "short",
            (Query(f"max(increase({q(bj.UNCLEAN_ELECTIONS)}[$__rate_interval]))", "unclean elections"),),
        ),
    )
    return DashboardDef(
        CLUSTER_UID,
        "Kafka Insight / Cluster health and durability",
        "Brokers and controller, partitions at risk, and whether the topics' settings can survive a broker loss.",
        _vars(settings, _topic_var()),
        (("Overview", overview), ("Partitions", partitions), ("Durability", durability), ("Brokers (JMX)", brokers)),
    )


# -- consumers and lag ---------------------------------------------------------------------------
def consumers_dashboard(settings: Settings) -> DashboardDef:
    gt = (GROUP, TOPIC)
    client = 'client_id=~"$client_id"'
    lag = (
        PanelDef(
            "Lag in seconds by group",
            """Age of the oldest message each group has not consumed: how long ago the log end was where its
            committed offset is now. Good: flat and small (seconds). Growing steadily: the group is slower
            than producers. Compare with the topics' retention: reaching it means unread data is deleted.""",
            "s",
            (Query(q(of.GROUP_LAG_SECONDS, GROUP), "{{group}}"),),
        ),
        PanelDef(
            "Lag in messages by group and topic",
            """Messages each group has not yet consumed per topic (log end minus committed offset, never
            below 0). Good: flat and small. Growing steadily: the group consumes slower than producers
            write — scale consumers or fix what slows them. A committed offset beyond the log end is not
            negative lag here: it has its own panel.""",
            "short",
            (Query(f"sum by (group, topic) ({q(ad.GROUP_TOPIC_LAG, *gt)})", "{{group}} / {{topic}}"),),
        ),
        PanelDef(
            "Lag in seconds per partition",
            """Per group and partition, the age of the oldest unconsumed message. One partition far above the
            others: a hot key or a stuck consumer instance owning it.""",
            "s",
            (Query(q(of.LAG_SECONDS, *gt), "{{group}} {{topic}}[{{partition}}]"),),
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
            "Group status",
            """The exporter's verdict per group (most urgent wins). ok. lagging: consumes, but lag in seconds is
            above the threshold — scale it. stalled: members present, lag above 0, no commit progress — stuck
            consumer, check its logs. stopped: no member and lag above 0 — start the consumers. rewound: a
            committed offset went backwards — messages will be processed again.""",
            "none",
            (Query(f"{q(of.GROUP_STATUS, GROUP)} == 1", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Group state",
            """Kafka's group state (describe_consumer_groups). STABLE: consuming. EMPTY: no member runs but
            offsets are kept. Rebalancing states for long: members keep joining and leaving (check session
            and poll timeouts).""",
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
        PanelDef(
            "Offset rewinds",
            """Committed offsets that went backwards per interval (someone reset the group, or it re-committed
            older offsets): those messages will be processed again. Good: no points.""",
            "short",
            (Query(f"increase({q(of.GROUP_REWINDS, GROUP)}[$__rate_interval]) > 0", "{{group}}"),),
        ),
        PanelDef(
            "Java consumer rebalances",
            """Rebalances per second each Java consumer took part in (client JMX). Good: near 0 outside deploys.
            Steady rebalancing: consumers exceed max.poll.interval.ms or session.timeout.ms.""",
            "cps",
            (Query(f"rate({q(_s('kafka_insight_consumer_rebalances_total'))}{RATE})", "{{client_id}} {{target}}"),),
        ),
    )
    lost = (
        PanelDef(
            "Committed offsets beyond the log end",
            """Group partitions whose committed offset is beyond the log end offset, with by how many messages.
            Good: empty. A row means messages the group had consumed no longer exist (power loss of every
            in-sync replica, unclean election) or the offset was set by hand; on its next fetch the consumer
            applies auto.offset.reset — earliest re-reads the whole partition. Reset the group deliberately.""",
            "short",
            (Query(f"{q(of.BEYOND_END_MESSAGES, *gt)} > 0", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Committed offsets below the log start",
            """Group partitions whose committed offset is below the log start, with how many messages were
            deleted before the group read them. Good: empty. A row means retention overtook the group: it
            lost those messages and will jump by auto.offset.reset.""",
            "short",
            (Query(f"{q(of.BELOW_START_MESSAGES, *gt)} > 0", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Consumers beyond the log end (client statistics)",
            """librdkafka consumers (including ones that keep offsets outside Kafka) whose furthest offset is
            beyond the partition's log end, by how many messages. Good: empty. Same meaning as above, for
            consumers the Admin API cannot see.""",
            "short",
            (Query(f"{q(ic.BEYOND_LOG_END_MESSAGES, *gt)} > 0", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Position lag of librdkafka consumers",
            """Messages each librdkafka consumer has not read yet (log end minus its position), from its
            forwarded statistics. Works for consumers that never commit to Kafka and so have no group lag.""",
            "short",
            (Query(f"sum by (client_id, group, topic) ({q(ic.POSITION_LAG, *gt)})", "{{client_id}} {{group}} / {{topic}}"),),
        ),
    )
    clients = (
        PanelDef(
            "Time since last poll (Java consumers)",
            """Seconds since the application last called poll() (last-poll-seconds-ago). Good: well below
            max.poll.interval.ms (300 s by default). Approaching it: processing one batch takes too long and the
            consumer will be kicked out of its group (a rebalance) — process faster or lower max.poll.records.""",
            "s",
            (Query(q(_s("kafka_insight_consumer_last_poll_age_seconds"), client), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Fetch throttling (Java consumers)",
            """Average time brokers delayed this consumer's fetches for a quota (fetch-throttle-time-avg). Good: 0.
            Above 0: a client quota (consumer_byte_rate) limits it — lag may grow however fast the application is.""",
            "s",
            (Query(q(_s("kafka_insight_consumer_fetch_throttle_time_avg_seconds"), client), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Records consumed per second",
            """Records each consumer received per second: Java consumers from JMX (records-consumed-total),
            librdkafka consumers from their forwarded statistics (rxmsgs). A consumer at 0 while its group has lag
            is stuck or throttled.""",
            "cps",
            (
                Query(f"rate({q(_s('kafka_insight_consumer_records_consumed_total'), client)}{RATE})", "{{client_id}} {{target}}"),
                Query(f"rate({q(cs.MESSAGES_RECEIVED, client)}{RATE})", "{{client_id}} {{client_instance}}"),
            ),
        ),
        PanelDef(
            "Position lag in seconds (librdkafka consumers)",
            """How far behind in time each librdkafka consumer is on each partition, from its own position
            (works for consumers that keep offsets outside Kafka and have no group lag). Good: seconds. Growing:
            the consumer is slower than producers.""",
            "s",
            (
                Query(
                    f"max by (client_id, group, topic) ({q(ic.POSITION_LAG_SECONDS, client, TOPIC)})",
                    "{{client_id}} {{group}} / {{topic}}",
                ),
            ),
        ),
    )
    return DashboardDef(
        CONSUMERS_UID,
        "Kafka Insight / Consumers and lag",
        "Consumer lag in seconds and messages, group status, and committed offsets that no longer fit the log.",
        _vars(settings, _topic_var(), _group_var(), _client_var()),
        (("Lag", lag), ("Groups", groups), ("Offsets that no longer fit the log", lost), ("Consumer clients", clients)),
    )


# -- producers ------------------------------------------------------------------------------------
def producers_dashboard(settings: Settings) -> DashboardDef:
    client = 'client_id=~"$client_id"'
    compression = (
        PanelDef(
            "Reading compression and batch metrics",
            "Two Kafka producer metrics that are easy to read backwards, and how this dashboard shows them.",
            "none",
            kind="text",
            width=24,
            height=6,
            content=PRODUCER_TEXT,
        ),
        PanelDef(
            "Compression savings",
            """Share of bytes compression saves per producer: 1 - compression-rate-avg for Java producers, 1 - the
            estimated compressed/raw ratio for librdkafka producers (client_kind). Good: well above 0 for
            text-like data (50-80 % is common with zstd/lz4). Near 0 with a codec set: the data does not
            compress (already compressed or encrypted) or batches are too small — CPU spent for nothing. 0 with
            codec none is simply no compression.""",
            "percentunit",
            (Query(q(pr.SAVINGS, client), "{{client_id}} {{target}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Compression savings by topic",
            """The same savings per producer and topic (producer-topic-metrics compression-rate). Topics whose
            data does not compress stand out here.""",
            "percentunit",
            (Query(q(pr.TOPIC_SAVINGS, client, TOPIC), "{{client_id}} / {{topic}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Compressed / uncompressed size (Kafka's compression-rate-avg)",
            """The raw ratio Kafka reports as compression-rate-avg: compressed size divided by uncompressed
            size. It reads backwards: LOWER IS BETTER. 1.0 (100 %) = no compression; 0.2 (20 %) = 80 %
            saved. Windowed average (default 2 x 30 s); absent when nothing was sent in the window. librdkafka
            producers: the estimate per topic from their statistics, incl. framing (uncompressed reads ~103 %).""",
            "percentunit",
            (
                Query(q(_s("kafka_insight_producer_compressed_size_ratio"), client), "{{client_id}} {{target}}"),
                Query(q(lb.RATIO, client, TOPIC), "{{client_id}} / {{topic}} (estimate)"),
            ),
            min=0,
            max=1,
        ),
        PanelDef(
            "Topics recompressing this producer's batches",
            """Producer/topic pairs where the topic's own compression.type differs from the producer's codec: the
            broker decompresses and recompresses every batch (broker CPU and latency). Good: empty. Fix: send with
            the topic's codec, or set the topic's compression.type=producer.""",
            "none",
            (Query(f"{q(pr.RECOMPRESSED, client, TOPIC)} == 1", instant=True),),
            kind="table",
        ),
    )
    batching = (
        PanelDef(
            "Batch size: after compression, raw estimate, batch.size",
            """batch-size-avg is the average bytes per partition batch AS SENT, i.e. after compression; the
            producer closes a batch when its estimated compressed size reaches batch.size, or when linger.ms
            expires first. The raw (pre-compression) estimate is batch-size-avg / compression-rate-avg (a ratio of
            two window averages) and can legitimately exceed batch.size. batch.size is the declared value, or the
            client's default (Java 16384, librdkafka 1000000). librdkafka producers' raw estimate is
            batchcnt.avg x mean message size.""",
            "bytes",
            (
                Query(q(_s("kafka_insight_producer_batch_size_avg_bytes"), client), "after compression {{client_id}}"),
                Query(q(pr.RAW_BATCH, client), "raw estimate {{client_id}}"),
                Query(q(pr.BATCH_LIMIT, client), "batch.size ({{origin}}) {{client_id}}"),
            ),
        ),
        PanelDef(
            "Batch fill",
            """batch-size-avg / batch.size, both after compression (librdkafka: the raw size, which its batch.size
            bounds): how full batches are when they leave. Low
            with a short linger.ms: batches leave before they fill — raise linger.ms for fewer, larger requests
            and better compression. Low with a long linger.ms: the producer simply has little data.""",
            "percentunit",
            (Query(q(pr.FILL, client), "{{client_id}} {{target}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Batch size (librdkafka producers)",
            """Average batch size per librdkafka producer and topic, as written (after compression), from the
            forwarded statistics, next to the estimated raw size (batchcnt.avg x mean message size), which
            librdkafka's batch.size bounds.""",
            "bytes",
            (
                Query(q(cs.BATCH_SIZE, client, TOPIC), "{{client_id}} / {{topic}}"),
                Query(q(lb.RAW_BATCH, client, TOPIC), "raw estimate {{client_id}} / {{topic}}"),
            ),
        ),
        PanelDef(
            "Messages per batch (librdkafka producers)",
            """Average messages per batch per producer and topic. Near 1 under load means batches leave before
            they fill (linger.ms too short for the traffic): more requests, worse compression.""",
            "short",
            (Query(q(cs.BATCH_MESSAGES, client, TOPIC), "{{client_id}} / {{topic}}"),),
        ),
        PanelDef(
            "Queue time (Java producers)",
            """Average time records waited in the producer's buffer before being sent (record-queue-time-avg).
            Close to linger.ms is normal; far above means the sender cannot keep up (network, broker latency,
            max.in.flight).""",
            "s",
            (Query(q(_s("kafka_insight_producer_record_queue_time_avg_seconds"), client), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Producer queue (librdkafka producers)",
            """Messages waiting in each librdkafka producer's queue, next to its limit
            (queue.buffering.max.messages). Near the limit: produce() is about to fail with QUEUE_FULL.""",
            "short",
            (
                Query(q(cs.QUEUE_MESSAGES, client), "queued {{client_id}}"),
                Query(q(cs.QUEUE_MAX_MESSAGES, client), "limit {{client_id}}"),
            ),
        ),
    )
    errors = (
        PanelDef(
            "Record errors and retries (Java producers)",
            """Records per second that failed after all retries (lost from the application's point of view) and
            sends that were retried. Good: errors 0. Retries with idempotence off and more than one request in
            flight can reorder records.""",
            "cps",
            (
                Query(f"rate({q(_s('kafka_insight_producer_record_errors_total'), client)}{RATE})", "errors {{client_id}}"),
                Query(f"rate({q(_s('kafka_insight_producer_record_retries_total'), client)}{RATE})", "retries {{client_id}}"),
            ),
        ),
        PanelDef(
            "Request retries and errors (librdkafka clients)",
            """Requests per second each librdkafka client retried, and transmit errors, summed over brokers.
            Good: near 0. Retries of a producer that can reorder are exactly when ordering breaks.""",
            "cps",
            (
                Query(f"sum by (client_id) (rate({q(cs.BROKER_RETRIES, client)}{RATE}))", "retries {{client_id}}"),
                Query(f"sum by (client_id) (rate({q(cs.BROKER_TX_ERRORS, client)}{RATE}))", "tx errors {{client_id}}"),
            ),
        ),
    )
    throughput = (
        PanelDef(
            "Records sent per second",
            """Records each producer sent per second: Java producers from JMX (record-send-total), librdkafka
            producers from their forwarded statistics (txmsgs).""",
            "cps",
            (
                Query(f"rate({q(_s('kafka_insight_producer_records_sent_total'), client)}{RATE})", "{{client_id}} {{target}}"),
                Query(f"rate({q(cs.MESSAGES_SENT, client)}{RATE})", "{{client_id}} {{client_instance}}"),
            ),
        ),
        PanelDef(
            "Produce request latency (Java producers)",
            """Average produce request latency, from sending to the broker's answer (request-latency-avg). With
            acks=all it includes replication to the ISR. Rising with a slow follower or an overloaded broker.""",
            "s",
            (Query(q(_s("kafka_insight_producer_request_latency_avg_seconds"), client), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Throttle time (Java producers)",
            """Average time brokers delayed this producer for a quota (produce-throttle-time-avg). Good: 0. Above
            0: a client quota (producer_byte_rate) limits it; batches queue up in the producer meanwhile.""",
            "s",
            (Query(q(_s("kafka_insight_producer_throttle_time_avg_seconds"), client), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Buffer: free vs total (Java producers)",
            """Free bytes of the producer's record buffer next to its size (buffer.memory). Free near 0: send()
            blocks up to max.block.ms, then fails — the producer writes faster than it can send.""",
            "bytes",
            (
                Query(q(_s("kafka_insight_producer_buffer_available_bytes"), client), "free {{client_id}}"),
                Query(q(_s("kafka_insight_producer_buffer_total_bytes"), client), "total {{client_id}}"),
            ),
        ),
        PanelDef(
            "Queue bytes (librdkafka producers)",
            """Bytes waiting in each librdkafka producer's queue, next to its limit (queue.buffering.max.kbytes).
            Near the limit: produce() is about to fail with QUEUE_FULL.""",
            "bytes",
            (
                Query(q(cs.QUEUE_BYTES, client), "queued {{client_id}}"),
                Query(q(cs.QUEUE_MAX_BYTES, client), "limit {{client_id}}"),
            ),
        ),
    )
    ordering = (
        PanelDef(
            "Producers that can reorder (librdkafka)",
            """librdkafka producers whose settings let a retried batch land after a later one: idempotence off
            (librdkafka's default), more than one request in flight and retries on. Good: empty. Fix: set
            enable.idempotence=true.""",
            "none",
            (Query(f"{q(ic.REORDERING_RISK, client)} == 1", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Producer settings (librdkafka)",
            """The settings that decide ordering, durability and batching per librdkafka producer, as declared
            to the forwarder, or librdkafka's defaults (settings_source=statistics). Note librdkafka's batch.size
            default is 1,000,000 bytes, unlike Java's 16,384.""",
            "none",
            (Query(q(ic.SETTINGS_INFO, client), instant=True),),
            kind="table",
            width=24,
        ),
        PanelDef(
            "Client software connected (KIP-511)",
            """Connections per client library and version as clients announce them to the brokers (summed over
            brokers and client listeners), with the verdict for that version's DEFAULT producer settings:
            reorders (Java 2.1-2.8, 3.0.0, 3.1.0; librdkafka-based clients), safe, no_retries (Java before 2.1:
            failed sends are lost instead), unknown (clients before Kafka 2.4 send no version). Applications may
            override defaults: ask their owners.""",
            "short",
            (
                Query(q(pr.SOFTWARE_CONNECTIONS), "connections", instant=True),
                Query(f"{q(pr.SOFTWARE_REORDERING)} == 1", "verdict", instant=True),
            ),
            kind="table",
        ),
        PanelDef(
            "Java producers that can reorder",
            """Verdict per Java producer from its client version (JMX app-info) and the settings declared for it in
            the exporter's config: reorders, safe, no_retries or unknown. A 1 in the retried column means it
            can reorder AND has retried sends: ordering may already be broken. Good: safe everywhere.""",
            "none",
            (
                Query(f"{q(pr.PRODUCER_REORDERING, client)} == 1", "verdict", instant=True),
                Query(q(pr.PRODUCER_REORDERING_EVIDENCE, client), "retried while reordering possible", instant=True),
            ),
            kind="table",
        ),
        PanelDef(
            "Java clients (JMX)",
            "Java producers and consumers found in the JMX targets, with their Kafka client version.",
            "none",
            (Query(q(cj.CLIENT_INFO, client), instant=True),),
            kind="table",
        ),
    )
    return DashboardDef(
        PRODUCERS_UID,
        "Kafka Insight / Producers: compression and batching",
        "What compression really saves, how full batches are before and after compression, errors, retries, "
        "and which clients can reorder messages.",
        _vars(settings, _topic_var(), _client_var()),
        (
            ("Compression", compression),
            ("Batching", batching),
            ("Throughput, latency and buffers", throughput),
            ("Errors and retries", errors),
            ("Clients and ordering", ordering),
        ),
    )


def all_dashboards(settings: Settings) -> list[DashboardDef]:
    return [
        exporter_dashboard(settings),
        cluster_dashboard(settings),
        consumers_dashboard(settings),
        producers_dashboard(settings),
        connect_mixin.connect_dashboard(settings),
    ]
