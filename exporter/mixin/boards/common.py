"""What every dashboard shares: selectors, uids, the template variables and small panel helpers."""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.interpret import budget as bu
from exporter.mixin.panels import Variable, datasource_var, label_var, q
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad
from exporter.sources import client_stats as cs
from exporter.sources.jmx import client_specs as cj

RISK_UID = "kafka-insight-risk"
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
        "cluster_id",
        "Cluster",
        ad.CLUSTER_INFO,
        'job=~"$job"',
        include_all=True,
        description="Kafka cluster id (describe_cluster).",
    )
    instance = label_var(
        "instance",
        "Exporter",
        ad.CLUSTER_INFO,
        'job=~"$job", cluster_id=~"$cluster_id"',
        include_all=True,
        description="Exporter instances watching the chosen clusters (an HA pair has two; they report the same values).",
    )
    return (datasource_var(), job, cluster, instance, *extra)


def _topic_var() -> Variable:
    return label_var("topic", "Topic", ad.TOPIC_PARTITIONS, 'job=~"$job", instance=~"$instance"', include_all=True)


def _client_var() -> Variable:
    # client ids come from Java clients (JMX) and librdkafka clients (forwarded statistics)
    return Variable(
        "client_id",
        "Client",
        f'label_values({{__name__=~"{cj.CLIENT_INFO.name}|{cs.CLIENT_INFO.name}", job=~"$job", instance=~"$instance"}}, client_id)',
        include_all=True,
        multi=True,
        description="client.id of the producers and consumers (Java via JMX, librdkafka via forwarded statistics).",
    )


def _group_var() -> Variable:
    return label_var("group", "Consumer group", ad.GROUP_STATE, 'job=~"$job", instance=~"$instance"', include_all=True)


COMPACT_ONLY = 'config="cleanup.policy", value="compact"'


def lag_retention_share(*matchers: str) -> str:
    """Per group and topic: the age of the oldest unconsumed message / the topic's retention.ms
    (compacted-only topics and unlimited retention left out) — 1 means unread data is being deleted."""
    retention = f"({q(ad.TOPIC_RETENTION_SECONDS)} > 0 unless on (job, instance, topic) {q(ad.TOPIC_CONFIG_INFO, COMPACT_ONLY)})"
    return (
        f"max by (job, instance, group, topic) ({q(bu.GROUP_TOPIC_LAG_SECONDS, *matchers)})"
        f" / on (job, instance, topic) group_left () {retention}"
    )


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
