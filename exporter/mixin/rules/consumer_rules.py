"""Alerts about consumers: lag in time and against retention, groups that do not progress, offsets
that no longer fit the log, transactions that hold read_committed consumers back."""

from __future__ import annotations

from exporter.interpret import budget as bu
from exporter.interpret import client_stats as ic
from exporter.interpret import offsets_specs as of
from exporter.mixin.boards import common as dash
from exporter.mixin.promql import spec
from exporter.mixin.rules.base import BY_EXPORTER, AlertDef, Builder, Runbook
from exporter.sources import admin as ad

GROUP = "kafka-insight-consumers"
NOT_PROGRESSING = 'status=~"stalled|stopped"'
COMPACT_ONLY = 'config="cleanup.policy", value="compact"'
GROUP_BEHAVIOUR = (
    "Outage: offsets cannot be read, the series vanish and the alert resolves (KafkaClusterUnreachable pages). "
    "Reassignment: no effect. HA pair: one alert per cluster and group."
)
REPAIR = (
    "Before repairing offsets, stop the group's consumers (or deploy them with `auto.offset.reset=none`, so "
    "they fail instead of jumping) — a running consumer resets by itself on its next fetch and commits over "
    "your repair. Offsets kept in Kafka: `kafka-consumer-groups.sh --bootstrap-server <b> --group <group> "
    "--topic <topic> --reset-offsets --to-offset <offset> --execute` (`--dry-run` first). Offsets kept in an "
    "external store (a database table, Flink/Spark checkpoints, librdkafka apps with "
    "`enable.auto.commit=false`): the application seeks to what that store says, so repair the store itself — "
    "stop the application, update the stored offset per partition to the chosen one (in the same transaction "
    "as the application's own state if it keeps them together), or restore the checkpoint/savepoint taken "
    "before the loss — then start it again."
)


def consumer_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    by_group_topic = f"{BY_EXPORTER}, group, topic"
    retention = (
        f"({b.m(ad.TOPIC_RETENTION_SECONDS)} > 0 unless on ({BY_EXPORTER}, topic) {b.m(ad.TOPIC_CONFIG_INFO, COMPACT_ONLY)})"
    )
    # the per group x topic maximum: present whatever the series budget left out per partition
    lag_share = f"max by ({by_group_topic}) ({b.m(bu.GROUP_TOPIC_LAG_SECONDS)}) / on ({BY_EXPORTER}, topic) group_left () {retention}"
    poll_age = spec("kafka_insight_consumer_last_poll_age_seconds")
    return [
        AlertDef(
            GROUP,
            "KafkaConsumerGroupLagHigh",
            "warning",
            b.per_cluster(f"{b.m(of.GROUP_LAG_SECONDS)} > {s.lag_seconds_warning:g}", "group"),
            s.lag_for,
            "A Kafka consumer group is far behind in time.",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} is {{ $value | humanizeDuration }}
            behind (age of its oldest unconsumed message), above {t} s for {for_}.""".replace(
                "{t}", f"{s.lag_seconds_warning:g}"
            ).replace("{for_}", s.lag_for),
            dash.CONSUMERS_UID,
            Runbook(
                "Lag in seconds is how long ago the log end was where the group's committed offset is now, i.e. the "
                "age of the oldest message the group has not consumed. Unlike lag in messages it means the same on "
                "busy and quiet topics. Once it reaches the topic's retention, unread messages are deleted "
                "(KafkaConsumerLagHalfRetention and KafkaConsumerLagNearRetention).",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` (LAG in messages per "
                "partition); the consumers dashboard shows lag in seconds and the *Lag in seconds / retention* panel.",
                "Scale the consumers (up to one per partition), find slow processing in the application, or raise "
                "retention while it catches up. If the group is stalled or stopped, KafkaConsumerGroupNotProgressing "
                "says so (the Alertmanager example inhibits this alert meanwhile).",
                GROUP_BEHAVIOUR,
            ),
            ("group",),
        ),
        AlertDef(
            GROUP,
            "KafkaConsumerGroupNotProgressing",
            "warning",
            b.per_cluster(f"{b.m(of.GROUP_STATUS, NOT_PROGRESSING)} == 1", "group"),
            s.not_progressing_for,
            "A Kafka consumer group has lag but its committed offsets do not move (stalled or stopped).",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} has had unconsumed messages and no
            commit progress for {for_} (status stalled or stopped; the consumers dashboard shows
            which).""".replace("{for_}", s.not_progressing_for),
            dash.CONSUMERS_UID,
            Runbook(
                "The exporter judges each group over a window of its commits: **stopped** = no commit progress "
                "while lag > 0 and no member (or a consumer that uses `assign()` and stopped committing); "
                "**stalled** = members are present but no committed offset moves (a poison message retried "
                "forever, a deadlock, a blocked downstream, an endless rebalance). The alert fires on either, so a "
                "crash-looping consumer that flips between the two keeps its `for:` timer and does page.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` twice a minute apart: "
                "CURRENT-OFFSET does not move while LAG stays; `--members` shows whether anyone runs, `--state` "
                "whether it keeps rebalancing. The Group status panel of the consumers dashboard shows which one.",
                "Stopped: start the consuming application again; if the group is retired, delete it "
                "(`kafka-consumer-groups.sh --delete --group <group>`) so it stops alerting. Stalled: look at the "
                "consumers' logs for the partition they are stuck on and restart them; skip a poison message only "
                "deliberately (`kafka-consumer-groups.sh --reset-offsets --shift-by 1 ...` with the group stopped).",
                GROUP_BEHAVIOUR,
            ),
            ("group",),
        ),
        AlertDef(
            GROUP,
            "KafkaConsumerLagHalfRetention",
            "warning",
            b.per_cluster(f"{lag_share} > {s.lag_retention_warning_ratio:g}", "group", "topic"),
            s.lag_retention_for,
            "A Kafka consumer group's oldest unread message is past half of the topic's retention.",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} lags {{ $value | humanizePercentage }}
            of the retention.ms of topic {{ $labels.topic }}: unread messages will be deleted if it does not
            catch up.""",
            dash.CONSUMERS_UID,
            Runbook(
                "Lag in seconds (the age of the oldest message the group has not consumed) divided by the topic's "
                "`retention.ms`. At 1, retention deletes messages the group never read (KafkaCommittedOffsetBelowLogStart "
                "follows). `retention.bytes` can delete earlier than `retention.ms`; compacted-only topics are left out.",
                "The *Lag in seconds / retention* panel of the consumers dashboard; "
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` and "
                "`kafka-configs.sh --bootstrap-server <b> --entity-type topics --entity-name <topic> --describe`.",
                "Make the group catch up (scale, fix the stalled consumer) or raise the topic's `retention.ms` for the "
                "time it needs (`kafka-configs.sh --alter --entity-type topics --entity-name <topic> --add-config "
                "retention.ms=...`).",
                GROUP_BEHAVIOUR,
            ),
            ("group", "topic"),
        ),
        AlertDef(
            GROUP,
            "KafkaConsumerLagNearRetention",
            "critical",
            b.per_cluster(f"{lag_share} > {s.lag_retention_critical_ratio:g}", "group", "topic"),
            s.lag_retention_for,
            "A Kafka consumer group is about to lose unread messages to retention.",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} lags {{ $value | humanizePercentage }}
            of the retention.ms of topic {{ $labels.topic }}: retention is about to delete messages it has not
            read.""",
            dash.CONSUMERS_UID,
            Runbook(
                "The age of the group's oldest unconsumed message is close to the topic's `retention.ms`: the next "
                "log segments retention deletes hold messages this group has not read. They are lost for it.",
                "The *Lag in seconds / retention* panel of the consumers dashboard; "
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>`.",
                "Raise the topic's `retention.ms` now (`kafka-configs.sh --alter --entity-type topics --entity-name "
                "<topic> --add-config retention.ms=...`), then make the group catch up. The Alertmanager example "
                "inhibits KafkaConsumerLagHalfRetention for the same group and topic meanwhile.",
                GROUP_BEHAVIOUR,
            ),
            ("group", "topic"),
        ),
        AlertDef(
            GROUP,
            "KafkaConsumerGroupRewound",
            "warning",
            f"{b.per_cluster(f'round(increase({b.m(of.GROUP_REWINDS)}[{s.rewound_window}]))', 'group')} > 0",
            "0m",
            "A Kafka consumer group's committed offsets went backwards: messages will be processed again.",
            """Committed offsets of group {{ $labels.group }} in cluster {{ $labels.cluster_id }} went backwards
            {{ $value | humanize }} time(s) in the last {w}.""".replace("{w}", s.rewound_window),
            dash.CONSUMERS_UID,
            Runbook(
                "A committed offset is lower than in the previous cycle: someone reset the group "
                "(`kafka-consumer-groups.sh --reset-offsets`), the application seeked back, or a consumer hit "
                "OffsetOutOfRange and `auto.offset.reset=earliest` sent it to the log start (after data loss or "
                "retention). Messages between the new and the old offset will be processed again.",
                "The *Offset rewinds* panel of the consumers dashboard; `kafka-consumer-groups.sh --bootstrap-server "
                "<b> --describe --group <group>`; the application's log around that time (OffsetOutOfRange, "
                "`Resetting offset`).",
                "If nobody reset it on purpose, check for KafkaLogEndOffsetDecreased / KafkaCommittedOffsetBelowLogStart "
                "and make sure the downstream tolerates the duplicates.",
                f"Keeps firing for {s.rewound_window} after the rewind. HA pair: each exporter counts the rewind; one alert.",
            ),
            ("group",),
        ),
        AlertDef(
            GROUP,
            "KafkaCommittedOffsetBeyondLogEnd",
            "critical",
            b.per_cluster(f"count by ({by_group_topic}) ({b.m(of.BEYOND_END)} == 1)", "group", "topic"),
            s.offset_beyond_log_end_for,
            "A consumer group's committed offset is beyond the log end: data was lost and the group will reset.",
            """Group {{ $labels.group }} has committed offsets beyond the log end on {{ $value }} partition(s) of
            {{ $labels.topic }} (cluster {{ $labels.cluster_id }}).""",
            dash.CONSUMERS_UID,
            Runbook(
                "The group committed (read and acknowledged) messages that the partition no longer has: the log end "
                "came back lower after all in-sync replicas lost their page cache (power loss) or an unclean leader "
                "election, or someone set the offset by hand. The exporter reads committed offsets before log end "
                "offsets, so a commit racing the read cannot cause this. On its next fetch the consumer gets "
                "OffsetOutOfRange and applies `auto.offset.reset`: `earliest` re-reads the **whole partition** from "
                "the log start (duplicates, possibly days of them), `latest` silently skips everything produced until "
                "then — including the new messages that now reuse the lost offsets.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>`: CURRENT-OFFSET > "
                "LOG-END-OFFSET (LAG shows negative or `-`). `kafka-get-offsets.sh --bootstrap-server <b> --topic "
                "<topic> --time -1` for the end.",
                "Decide where the group should continue (usually the log end as it was before new writes, or the "
                "current end). " + REPAIR + " Find out what was lost (KafkaLogEndOffsetDecreased) and spread "
                "replicas across power domains.",
                "Fires once the cluster is back from a power loss (during the outage there are no offsets to "
                "compare). HA pair: one alert per group and topic.",
            ),
            ("group", "topic"),
        ),
        AlertDef(
            GROUP,
            "KafkaLibrdkafkaConsumerBeyondLogEnd",
            "critical",
            b.per_cluster(
                f"count by ({BY_EXPORTER}, client_id, group, topic) ({b.m(ic.BEYOND_LOG_END)} == 1)",
                "client_id",
                "group",
                "topic",
            ),
            s.offset_beyond_log_end_for,
            "A librdkafka consumer reads beyond the log end: data was lost and it will reset or skip.",
            """Consumer {{ $labels.client_id }} (group {{ $labels.group }}) is beyond the log end on
            {{ $value }} partition(s) of {{ $labels.topic }} (cluster {{ $labels.cluster_id }}).""",
            dash.CONSUMERS_UID,
            Runbook(
                "The furthest offset this librdkafka consumer holds on a partition (position, fetch, stored or "
                "committed offset, from its forwarded statistics) is beyond the partition's log end. This catches "
                "consumers that keep their offsets outside Kafka, which KafkaCommittedOffsetBeyondLogEnd cannot see: "
                "after a power loss of every replica the log end came back lower, and the consumer will ask for "
                "offsets that no longer exist — `auto.offset.reset` then re-reads or skips, and new messages reuse "
                "the lost offsets.",
                "The *Consumers beyond the log end (client statistics)* table of the consumers dashboard; "
                "`kafka-get-offsets.sh --bootstrap-server <b> --topic <topic> --time -1` for the end, the "
                "application's own offset store for where it is.",
                "Decide where the consumer should continue. " + REPAIR,
                "Fires once the cluster is back (it needs the log end from the Admin API). HA pair: one alert per "
                "client, group and topic.",
            ),
            ("group", "topic"),
        ),
        AlertDef(
            GROUP,
            "KafkaCommittedOffsetBelowLogStart",
            "warning",
            b.per_cluster(f"count by ({by_group_topic}) ({b.m(of.BELOW_START)} == 1)", "group", "topic"),
            s.offset_below_log_start_for,
            "Retention deleted messages a consumer group had not read yet.",
            """Group {{ $labels.group }} has committed offsets below the log start on {{ $value }} partition(s) of
            {{ $labels.topic }} (cluster {{ $labels.cluster_id }}): messages it never read were deleted.""",
            dash.CONSUMERS_UID,
            Runbook(
                "Retention (`retention.ms`/`retention.bytes`) or `kafka-delete-records.sh` moved the log start past "
                "the group's committed offset: those messages are gone for this group. When it next fetches it gets "
                "OffsetOutOfRange and jumps according to `auto.offset.reset`.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` and "
                "`kafka-get-offsets.sh --bootstrap-server <b> --topic <topic> --time -2` (earliest offset) — the "
                "committed offset is lower.",
                "Find why the group fell so far behind (KafkaConsumerGroupLagHigh, KafkaConsumerGroupNotProgressing); "
                "raise retention for the topic if the consumer legitimately needs more time; the lag-vs-retention "
                "alerts warn before this happens.",
                GROUP_BEHAVIOUR,
            ),
            ("group", "topic"),
        ),
        AlertDef(
            GROUP,
            "KafkaConsumerPollIntervalNearMax",
            "warning",
            b.per_cluster(f"{b.m(poll_age)} > {s.poll_age_warning_seconds:g}", "target", "client_id", without_admin=True),
            s.poll_age_for,
            "A Java consumer has not called poll() for nearly max.poll.interval.ms: it is about to leave its group.",
            """Consumer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER} last polled
            {{ $value | humanizeDuration }} ago (threshold {t} s, 80 % of max.poll.interval.ms' default).""".replace(
                "{t}", f"{s.poll_age_warning_seconds:g}"
            ),
            dash.CONSUMERS_UID,
            Runbook(
                "Java consumers must call `poll()` within `max.poll.interval.ms` (default 300 s); otherwise the "
                "consumer leaves the group, its partitions are reassigned and its in-flight work is processed "
                "again by another member. Processing a batch takes too long (slow downstream, huge "
                "`max.poll.records`) or the application hangs. The threshold is the setting poll_age_warning_seconds "
                "(240 s = 80 % of the default); set it to 0.8 x your `max.poll.interval.ms`.",
                "The *Time since last poll* panel of the consumers dashboard (consumer-metrics "
                "last-poll-seconds-ago); the application's log for `consumer poll timeout has expired`; "
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group> --members`.",
                "Process less per poll (`max.poll.records`), speed up or decouple the slow step, or raise "
                "`max.poll.interval.ms` to the real worst case.",
                "From the consumer's JMX: unaffected by an outage of the Admin API. HA pair: one alert per target and client.",
            ),
            ("client_id",),
        ),
        AlertDef(
            GROUP,
            "KafkaLastStableOffsetStuck",
            "warning",
            b.per_cluster(
                f"({b.m(ad.PARTITION_LAST_STABLE)} < on ({BY_EXPORTER}, topic, partition) {b.m(ad.PARTITION_LOG_END)})"
                f" and changes({b.m(ad.PARTITION_LAST_STABLE)}[{s.lso_stuck_window}]) == 0",
                "topic",
                "partition",
            ),
            s.lso_stuck_for,
            "A partition's last stable offset is stuck behind the log end: a transaction hangs.",
            """The last stable offset of {{ $labels.topic }}[{{ $labels.partition }}] in cluster
            {{ $labels.cluster_id }} has stayed at {{ $value }} below the log end for {for_}: read_committed
            consumers cannot read past it.""".replace("{for_}", s.lso_stuck_for),
            dash.CONSUMERS_UID,
            Runbook(
                "The last stable offset (LSO) is the first offset of the oldest open transaction; read_committed "
                "consumers (Kafka Streams with exactly-once, Flink, transactional pipelines) never read past it. A "
                "transaction is aborted by its coordinator after `transaction.timeout.ms` (at most "
                "`transaction.max.timeout.ms`, 15 min by default); an LSO that stays put longer is a hanging "
                "transaction (a producer that died mid-transaction on old brokers, KAFKA-12671/KIP-890), and the lag "
                "of every read_committed group on the partition only grows.",
                "`kafka-transactions.sh --bootstrap-server <b> find-hanging --broker-id <leader>` and `describe-producers "
                "--topic <topic> --partition <p>`; `kafka-get-offsets.sh --bootstrap-server <b> --topic <topic> "
                "--time -1` (log end) against the LSO.",
                "Find the producer that owns the transaction and let it finish or restart it; otherwise abort it: "
                "`kafka-transactions.sh --bootstrap-server <b> abort --topic <topic> --partition <p> --start-offset "
                "<LSO>`.",
                "Outage: no offsets, no alert. HA pair: one alert per partition.",
            ),
            ("topic",),
        ),
    ]
