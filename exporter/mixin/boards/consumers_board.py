"""The consumers dashboard: lag in time and messages, group status, offsets that no longer fit the log. One builder per row."""

from __future__ import annotations

from exporter.interpret import budget as bu
from exporter.interpret import client_stats as ic
from exporter.interpret import offsets_specs as of
from exporter.mixin.boards.common import (
    CONSUMERS_UID,
    GROUP,
    RATE,
    REBALANCING,
    TOPIC,
    _client_var,
    _group_var,
    _topic_var,
    _vars,
    lag_retention_share,
)
from exporter.mixin.panels import DashboardDef, PanelDef, Query, q
from exporter.mixin.promql import spec as _s
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad
from exporter.sources import client_stats as cs

GT = (GROUP, TOPIC)
CLIENT = 'client_id=~"$client_id"'


def _lag_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Lag in seconds by group",
            """Age of the oldest message each group has not consumed: how long ago the log end was where its
            committed offset is now. Good: flat and small (seconds). Growing steadily: the group is slower
            than producers. Compare with the topics' retention: reaching it means unread data is deleted.""",
            "s",
            (Query(q(of.GROUP_LAG_SECONDS, GROUP), "{{group}}"),),
        ),
        PanelDef(
            "Lag in seconds / retention",
            """Per group and topic, the age of the oldest unconsumed message divided by the topic's retention.ms
            (the 20 highest). At 100 % retention deletes messages the group has not read. Good: a few percent.
            The alerts warn at 50 % and page at 80 %. retention.bytes can delete earlier; compacted-only topics
            and unlimited retention are left out.""",
            "percentunit",
            (Query(f"topk(20, {lag_retention_share(*GT)})", "{{group}} / {{topic}}"),),
            min=0,
            thresholds=((None, "green"), (0.5, "orange"), (0.8, "red")),
        ),
        PanelDef(
            "Lag in messages by group and topic",
            """Messages each group has not yet consumed per topic (log end minus committed offset, never
            below 0). Good: flat and small. Growing steadily: the group consumes slower than producers
            write — scale consumers or fix what slows them. A committed offset beyond the log end is not
            negative lag here: it has its own panel.""",
            "short",
            (Query(f"sum by (group, topic) ({q(ad.GROUP_TOPIC_LAG, *GT)})", "{{group}} / {{topic}}"),),
        ),
        PanelDef(
            "Lag in seconds per partition",
            """Per group and partition, the age of the oldest unconsumed message. One partition far above the
            others: a hot key or a stuck consumer instance owning it. Over the series budget only the most
            urgent partitions are here (see kafka_insight_consumer_group_topic_aggregated_partitions).""",
            "s",
            (Query(q(of.LAG_SECONDS, *GT), "{{group}} {{topic}}[{{partition}}]"),),
        ),
        PanelDef(
            "Consumed vs produced (messages/s)",
            """Committed-offset growth per group and topic against log-end growth per topic. Good: the
            lines overlap. Consumption below production for long means lag grows; both at 0 with lag
            above 0 means the group is stalled.""",
            "cps",
            (
                Query(f"sum by (group, topic) (deriv({q(bu.GROUP_TOPIC_COMMITTED, *GT)}{RATE}))", "consumed {{group}} / {{topic}}"),
                Query(f"sum by (topic) (deriv({q(ad.PARTITION_LOG_END, TOPIC)}{RATE}))", "produced {{topic}}"),
            ),
        ),
    )


def _groups_row() -> tuple[PanelDef, ...]:
    return (
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


def _lost_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Committed offsets beyond the log end",
            """Group partitions whose committed offset is beyond the log end offset, with by how many messages.
            Good: empty. A row means messages the group had consumed no longer exist (power loss of every
            in-sync replica, unclean election) or the offset was set by hand; on its next fetch the consumer
            applies auto.offset.reset — earliest re-reads the whole partition. Reset the group deliberately.""",
            "short",
            (Query(f"{q(of.BEYOND_END_MESSAGES, *GT)} > 0", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Committed offsets below the log start",
            """Group partitions whose committed offset is below the log start, with how many messages were
            deleted before the group read them. Good: empty. A row means retention overtook the group: it
            lost those messages and will jump by auto.offset.reset.""",
            "short",
            (Query(f"{q(of.BELOW_START_MESSAGES, *GT)} > 0", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Consumers beyond the log end (client statistics)",
            """librdkafka consumers (including ones that keep offsets outside Kafka) whose furthest offset is
            beyond the partition's log end, by how many messages. Good: empty. Same meaning as above, for
            consumers the Admin API cannot see.""",
            "short",
            (Query(f"{q(ic.BEYOND_LOG_END_MESSAGES, *GT)} > 0", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Position lag of librdkafka consumers",
            """Messages each librdkafka consumer has not read yet (log end minus its position), from its
            forwarded statistics. Works for consumers that never commit to Kafka and so have no group lag.""",
            "short",
            (Query(f"sum by (client_id, group, topic) ({q(ic.POSITION_LAG, *GT)})", "{{client_id}} {{group}} / {{topic}}"),),
        ),
    )


def _clients_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Time since last poll (Java consumers)",
            """Seconds since the application last called poll() (last-poll-seconds-ago). Good: well below
            max.poll.interval.ms (300 s by default). Approaching it: processing one batch takes too long and the
            consumer will be kicked out of its group (a rebalance) — process faster or lower max.poll.records.""",
            "s",
            (Query(q(_s("kafka_insight_consumer_last_poll_age_seconds"), CLIENT), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Fetch throttling (Java consumers)",
            """Average time brokers delayed this consumer's fetches for a quota (fetch-throttle-time-avg). Good: 0.
            Above 0: a client quota (consumer_byte_rate) limits it — lag may grow however fast the application is.""",
            "s",
            (Query(q(_s("kafka_insight_consumer_fetch_throttle_time_avg_seconds"), CLIENT), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Records consumed per second",
            """Records each consumer received per second: Java consumers from JMX (records-consumed-total),
            librdkafka consumers from their forwarded statistics (rxmsgs). A consumer at 0 while its group has lag
            is stuck or throttled.""",
            "cps",
            (
                Query(
                    f"rate({q(_s('kafka_insight_consumer_records_consumed_total'), CLIENT)}{RATE})", "{{client_id}} {{target}}"
                ),
                Query(f"rate({q(cs.MESSAGES_RECEIVED, CLIENT)}{RATE})", "{{client_id}} {{client_instance}}"),
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
                    f"max by (client_id, group, topic) ({q(ic.POSITION_LAG_SECONDS, CLIENT, TOPIC)})",
                    "{{client_id}} {{group}} / {{topic}}",
                ),
            ),
        ),
    )


# -- consumers and lag ---------------------------------------------------------------------------
def consumers_dashboard(settings: Settings) -> DashboardDef:
    return DashboardDef(
        CONSUMERS_UID,
        "Kafka Insight / Consumers and lag",
        "Consumer lag in seconds and messages, group status, and committed offsets that no longer fit the log.",
        _vars(settings, _topic_var(), _group_var(), _client_var()),
        (
            ("Lag", _lag_row()),
            ("Groups", _groups_row()),
            ("Offsets that no longer fit the log", _lost_row()),
            ("Consumer clients", _clients_row()),
        ),
    )
