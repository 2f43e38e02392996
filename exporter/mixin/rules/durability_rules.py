"""Alerts about partitions and topics: availability, ISR headroom, lost data, risky settings."""

from __future__ import annotations

from exporter.interpret import durability_specs as du
from exporter.interpret import offsets_specs as of
from exporter.mixin.boards import common as dash
from exporter.mixin.rules.base import BY_EXPORTER, AlertDef, Builder, Runbook
from exporter.sources import admin as ad

GROUP = "kafka-insight-durability"
NO_TOLERANCE = 'reason="no_failure_tolerance"'
#: single_replica implies no_failure_tolerance; single_rack has its own alert
ALERTED_RISKS = 'reason=~"single_copy_ack|no_failure_tolerance|unclean_election"'
RACK_SET = 'rack!=""'
PARTITION_BEHAVIOUR = (
    "Outage: the Admin API answers nothing, so the series vanish and this alert resolves — "
    "KafkaClusterUnreachable pages instead. HA pair: one alert per cluster and topic (the max over the exporters)."
)


def durability_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    by_topic = f"{BY_EXPORTER}, topic"

    def topic_count(spec_expr: str) -> str:
        return b.per_cluster(f"count by ({by_topic}) ({spec_expr})", "topic")

    one_rack = (
        f"count by ({BY_EXPORTER}) ({b.m(du.IN_ONE_RACK)} == 1 unless on ({by_topic}) ({b.m(ad.TOPIC_REPLICATION_FACTOR)} == 1))"
    )
    racks_unset = (
        f'label_replace({one_rack} unless on ({BY_EXPORTER}) {b.m(ad.BROKER_INFO, RACK_SET)}, "reason", "racks_unset", "", "")'
    )
    placement = f'label_replace({one_rack} and on ({BY_EXPORTER}) {b.m(ad.BROKER_INFO, RACK_SET)}, "reason", "placement", "", "")'
    return [
        AlertDef(
            GROUP,
            "KafkaOfflinePartitions",
            "critical",
            topic_count(f"{b.m(du.OFFLINE)} == 1"),
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
                PARTITION_BEHAVIOUR + " Reassignment: the leader stays, no effect.",
            ),
            ("topic",),
        ),
        AlertDef(
            GROUP,
            "KafkaPartitionsUnderMinIsr",
            "critical",
            topic_count(f"{b.m(du.UNDER_MIN_ISR)} == 1"),
            s.under_min_isr_for,
            "Kafka partitions are under their min ISR: acks=all producers are failing.",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has {{ $value }} partition(s) with
            fewer in-sync replicas than min.insync.replicas: acks=all writes to them get
            NotEnoughReplicas.""",
            dash.CLUSTER_UID,
            Runbook(
                "Fewer replicas are in sync than the effective `min.insync.replicas` (capped at the replica count by "
                "leaders running Kafka 3.7 or later, KAFKA-15583; the configured value on older leaders — "
                "`kafka_insight_broker_min_isr_rule_info` says which rule each broker gets). Kafka's internal topics "
                "(`__consumer_offsets`, `__transaction_state`) are always included: under min ISR there, groups "
                "cannot commit offsets or transactions cannot complete. The leader refuses `acks=all` writes with "
                "NOT_ENOUGH_REPLICAS: producers that care about durability are failing right now; `acks=1` "
                "producers still succeed with fewer copies than you asked for.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --under-min-isr-partitions` (it ignores the cap "
                "at the replica count, so topics with min ISR > RF show up there forever), and the Isr column of "
                "`--describe --topic <topic>`.",
                "Bring back the brokers missing from the ISR. Lowering `min.insync.replicas` restores writes at the "
                "cost of durability: only as a deliberate, temporary decision.",
                PARTITION_BEHAVIOUR + " Reassignment: replicas being added are not counted, no effect.",
            ),
            ("topic",),
        ),
        AlertDef(
            GROUP,
            "KafkaPartitionsAtMinIsr",
            "warning",
            topic_count(
                f"{b.m(du.AT_MIN_ISR)} == 1"
                # topics whose RF <= min ISR sit at min ISR forever: KafkaTopicDurabilityRisk reports them
                f" unless on ({by_topic}) ({b.m(du.DURABILITY_RISK, NO_TOLERANCE)} == 1)"
            ),
            s.at_min_isr_for,
            "Kafka partitions are at their min ISR: one more broker loss stops acks=all writes.",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has {{ $value }} partition(s) with
            exactly min.insync.replicas in sync: losing one more replica refuses acks=all writes.""",
            dash.CLUSTER_UID,
            Runbook(
                "The ISR has shrunk to exactly the effective min ISR (headroom 0). Writes still succeed, but one more "
                "broker loss — a restart in a rolling upgrade counts — refuses `acks=all` writes. Do not restart or "
                "take down another broker now. Topics that are at min ISR by design (RF <= min ISR) are left to "
                "KafkaTopicDurabilityRisk.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --at-min-isr-partitions`; the *Minimum ISR headroom by topic* "
                "panel of the cluster dashboard.",
                "Find the replica missing from the ISR (down broker, slow disk) and bring it back before any planned "
                "maintenance continues.",
                PARTITION_BEHAVIOUR,
            ),
            ("topic",),
        ),
        AlertDef(
            GROUP,
            "KafkaUnderReplicatedPartitions",
            "warning",
            topic_count(f"{b.m(du.UNDER_REPLICATED)} == 1"),
            s.under_replicated_for,
            "Kafka partitions have replicas out of sync.",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has {{ $value }} partition(s) with
            fewer in-sync replicas than replicas for more than {for_}.""".replace("{for_}", s.under_replicated_for),
            dash.CLUSTER_UID,
            Runbook(
                "At least one replica of these partitions is not in the ISR: its broker is down, or it cannot keep "
                "up with the leader (slow disk, network, a broker overloaded). Durability is reduced until it "
                "catches up; the min ISR alerts say how close writes are to being refused. On KRaft the leaders' "
                "IsrShrinks meter stays 0 when a broker dies (the controller removes it), so alert on this instead.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --under-replicated-partitions` shows which "
                "replica is missing from the Isr column; check that broker's log and disk.",
                "Restart or repair the missing broker. If one broker is the lagging replica everywhere, look at its "
                "disk and network. Brief blips during rolling restarts are normal (hence the `for:`). A partition "
                "reassignment (`kafka-reassign-partitions.sh`, Cruise Control) does not fire this: like the brokers, "
                "the exporter does not count the replicas being added (`kafka_insight_partition_reassigning` shows "
                "them), only original replicas that drop out of the ISR during the move.",
                PARTITION_BEHAVIOUR + " Reassignment: the exporter's under-replicated flag leaves out the replicas "
                "being added (as the brokers do), so a long reassignment does not page.",
            ),
            ("topic",),
        ),
        AlertDef(
            GROUP,
            "KafkaLogEndOffsetDecreased",
            "critical",
            b.per_cluster(
                f"sum by ({by_topic}, partition) (round(increase({b.m(of.REGRESSIONS)}[{s.data_loss_window}]))) > 0",
                "topic",
                "partition",
            ),
            "0m",
            "A Kafka partition's log end offset went backwards: acknowledged messages vanished.",
            """The log end offset of {{ $labels.topic }}[{{ $labels.partition }}] in cluster {{ $labels.cluster_id }}
            went backwards {{ $value | humanize }} time(s) in the last {w}.""".replace("{w}", s.data_loss_window),
            dash.CLUSTER_UID,
            Runbook(
                "The high watermark is lower than at an earlier observation. Kafka acknowledges a write once it is in "
                "the page cache of the in-sync replicas and leaves flushing to the OS (`flush.messages`/`flush.ms` "
                "default to never): if every in-sync replica loses power at once, those writes vanish and the log "
                "comes back shorter. An unclean leader election does the same. New messages will reuse the lost "
                "offsets, and consumers that had read past the new end get OffsetOutOfRange and fall back to "
                "`auto.offset.reset` — `earliest` re-reads the whole partition, `latest` skips everything written "
                "until then.",
                "`kafka-get-offsets.sh --bootstrap-server <b> --topic <topic> --time -1` shows the current end; "
                "compare with what producers logged as acknowledged. `kafka-consumer-groups.sh --bootstrap-server <b> "
                "--describe --all-groups` shows groups whose CURRENT-OFFSET is beyond LOG-END-OFFSET.",
                "Treat it as data loss: stop the consumers of the topic (or set `auto.offset.reset=none`) so they do "
                "not reset by themselves, replay from the producers' side if possible, then reset affected groups "
                "deliberately (`kafka-consumer-groups.sh --reset-offsets --to-offset ...`). Prevent it by spreading "
                "replicas across racks/power domains (`broker.rack`) so one power loss cannot take every copy.",
                f"Fires after the cluster is back from a power loss, and keeps firing for {s.data_loss_window}. "
                "HA pair: both exporters see the regression; one alert per partition.",
            ),
            ("topic",),
        ),
        AlertDef(
            GROUP,
            "KafkaTopicDurabilityRisk",
            "info",
            b.per_cluster(f"count by ({BY_EXPORTER}, reason) ({b.m(du.DURABILITY_RISK, ALERTED_RISKS)} == 1)", "reason"),
            s.durability_risk_for,
            "Kafka topics have settings that cannot survive a broker loss without losing or refusing writes.",
            """{{ $value }} topic(s) in cluster {{ $labels.cluster_id }} have durability risk {{ $labels.reason }}
            (single_copy_ack: RF >= 2 with min.insync.replicas 1; no_failure_tolerance: RF <= min.insync.replicas;
            unclean_election: unclean.leader.election.enable=true). The topics are listed on the cluster
            dashboard's Durability row.""",
            dash.CLUSTER_UID,
            Runbook(
                "`acks=all` waits only for the replicas currently in the ISR. **single_copy_ack**: with RF 2 (or 3) and "
                "`min.insync.replicas=1` the ISR may shrink to the leader alone and writes are still acknowledged by "
                "that one copy; when that broker then dies, acknowledged data is lost. **no_failure_tolerance**: "
                "RF <= `min.insync.replicas` (RF 1 included) means losing any one broker refuses `acks=all` writes, "
                "so every restart is an outage. **unclean_election**: `unclean.leader.election.enable=true` lets an "
                "out-of-sync replica become leader and silently truncate acknowledged data. Topics inherit "
                "`min.insync.replicas=1` from the broker default unless it is set. One alert per cluster and reason "
                "(not per topic): it is a configuration decision to plan, so its severity is info.",
                "The *Durability risks* table of the cluster dashboard lists the topics per reason; "
                "`kafka-configs.sh --bootstrap-server <b> --entity-type topics --entity-name <topic> --describe --all` "
                "shows `min.insync.replicas` and `unclean.leader.election.enable` with their source; "
                "`kafka-topics.sh --bootstrap-server <b> --describe --topic <topic>` shows the replication factor.",
                "Use RF 3 with `min.insync.replicas=2` (survives one broker loss, never acknowledges a single copy): "
                "set it as the broker default or per topic (`kafka-configs.sh --alter --entity-type topics "
                "--entity-name <topic> --add-config min.insync.replicas=2`), raise RF with "
                "`kafka-reassign-partitions.sh`, and set `unclean.leader.election.enable=false`.",
                "Settings, not state: unaffected by outages (absent while the Admin API is unreachable) and "
                "reassignments. HA pair: one alert per reason.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaReplicasInOneRack",
            "info",
            b.per_cluster(f"{racks_unset} or {placement}", "reason"),
            s.replicas_one_rack_for,
            "All replicas of some Kafka partitions share one rack (or racks are unknown).",
            """{{ $value }} partition(s) in cluster {{ $labels.cluster_id }} have all replicas in one rack
            (reason {{ $labels.reason }}: racks_unset = no broker has broker.rack; placement = racks are set but
            replicas were placed in one): one power or network failure can take every copy.""",
            dash.CLUSTER_UID,
            Runbook(
                "Kafka does not fsync by default: acknowledged writes live in the replicas' page cache. If every "
                "replica of a partition is in one power domain, one power loss takes all copies at once and the "
                "log end offset comes back lower (see KafkaLogEndOffsetDecreased). **racks_unset**: no broker sets "
                "`broker.rack`, so Kafka cannot spread replicas and the exporter cannot tell — every partition "
                "counts. **placement**: racks are set, but these partitions' replicas ended up in one (manual "
                "assignment, topics created before the racks). RF 1 topics are left to KafkaTopicDurabilityRisk. "
                "One alert per cluster and reason; severity info: it is planned work.",
                "The *Partitions with all replicas in one rack* table of the cluster dashboard lists the topics; "
                "`kafka-topics.sh --bootstrap-server <b> --describe --topic <topic>` lists each partition's "
                "replicas; the Brokers table shows each broker's rack.",
                "Set `broker.rack` on every broker (one value per power domain / availability zone), then move "
                "replicas with `kafka-reassign-partitions.sh --generate` (rack-aware) and `--execute`.",
                "Settings, not state: absent while the Admin API is unreachable. HA pair: one alert per reason.",
            ),
        ),
    ]
