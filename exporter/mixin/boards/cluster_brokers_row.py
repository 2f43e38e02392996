"""The cluster dashboard's "Brokers (JMX)" row (split from cluster_board to keep modules small)."""

from __future__ import annotations

from exporter.mixin.boards.common import (
    RATE,
    TOPIC,
)
from exporter.mixin.panels import PanelDef, Query, q
from exporter.mixin.promql import spec as _s
from exporter.sources.jmx import broker_specs as bj

T = (TOPIC,)


def brokers_row() -> tuple[PanelDef, ...]:
    return (
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
                Query(
                    f"sum by (broker_id) (rate({q(_s('kafka_insight_broker_incoming_bytes_total'))}{RATE}))", "in {{broker_id}}"
                ),
                Query(
                    f"sum by (broker_id) (rate({q(_s('kafka_insight_broker_outgoing_bytes_total'))}{RATE}))", "out {{broker_id}}"
                ),
            ),
        ),
        PanelDef(
            "Messages in per broker",
            "Records produced to each broker per second (MessagesInPerSec Count, as a rate).",
            "cps",
            (
                Query(
                    f"sum by (broker_id) (rate({q(_s('kafka_insight_broker_incoming_messages_total'))}{RATE}))", "{{broker_id}}"
                ),
            ),
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


# -- cluster health and durability --------------------------------------------------------------
