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
from exporter.interpret import client_stats as ic
from exporter.interpret import durability as du
from exporter.interpret import offsets as of
from exporter.interpret import producers as pr
from exporter.mixin import connect as connect_mixin
from exporter.mixin import dashboards as dash
from exporter.mixin.promql import sel
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad
from exporter.sources import broker_jmx as bj
from exporter.sources import client_jmx as cj

Severity = Literal["critical", "warning", "info"]
BY_EXPORTER = "job, instance"
#: names the cluster in descriptions of alerts that fire even without the Admin API's cluster id
CLUSTER = "{{ if $labels.cluster_id }}cluster {{ $labels.cluster_id }}{{ else }}the cluster of {{ $labels.instance }}{{ end }}"
CLUSTER_CAP = "{{ if $labels.cluster_id }}Cluster {{ $labels.cluster_id }}{{ else }}The cluster of {{ $labels.instance }}{{ end }}"
NO_TOLERANCE = 'reason="no_failure_tolerance"'
#: single_replica implies no_failure_tolerance; single_rack has its own alert
ALERTED_RISKS = 'reason=~"single_copy_ack|no_failure_tolerance|unclean_election"'
STALLED = 'status="stalled"'
REORDERS = 'verdict="reorders"'
CODEC_SET = 'setting="compression.type", value!~"none|"'
LIBRDKAFKA_CODEC_SET = 'compression_type!~"none|"'
STOPPED = 'status="stopped"'


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
            "description": " ".join(self.description.split()).replace("{CLUSTER}", CLUSTER).replace("{CLUSTER_CAP}", CLUSTER_CAP),
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

    def own_client_software(self) -> str:
        """The KIP-511 name/version the exporter's own librdkafka clients announce, from its build info
        (confluent-kafka-python announces ``<confluent-kafka version>-rdkafka-<librdkafka version>``)."""
        joined = (
            f'label_join({self.m(sm.BUILD_INFO)}, "client_software_version", "-rdkafka-", '
            '"confluent_kafka_version", "librdkafka_version")'
        )
        return f'label_replace({joined}, "client_software_name", "confluent-kafka-python", "version", ".*")'

    def with_cluster(self, expr: str, *, without_admin: bool = False) -> str:
        """Add the cluster_id label (from the Admin API's cluster info gauge) to an expression's series.

        ``without_admin``: the expression does not depend on the Admin API (JMX, client statistics),
        so it must still fire, without cluster_id, while the Admin API source is down.
        """
        joined = f"({expr}) * on ({BY_EXPORTER}) group_left (cluster_id) {self.m(ad.CLUSTER_INFO)}"
        return f"{joined} or ignoring (cluster_id) ({expr})" if without_admin else joined


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
    by_topic = f"{BY_EXPORTER}, topic"
    return [
        AlertDef(
            group,
            "KafkaNoActiveController",
            "critical",
            # controller MBeans are reported by every controller node: max, never sum
            b.with_cluster(f"max by ({BY_EXPORTER}) ({b.m(bj.CONTROLLER_ACTIVE)}) == 0", without_admin=True),
            s.no_controller_for,
            "No Kafka node is the active KRaft controller.",
            """None of the controller nodes of {CLUSTER} reports itself as the active
            controller (ActiveControllerCount 0 on every node the exporter reaches via JMX).""",
            dash.CLUSTER_UID,
            Runbook(
                "Without an active controller the cluster cannot change metadata: no leader elections when a broker "
                "dies, no topic creation, no ISR changes. Existing leaders keep serving, so the damage grows with the "
                "next failure. Usually the controller quorum lost its majority.",
                "`kafka-metadata-quorum.sh --bootstrap-server <b> describe --status` shows LeaderId, the voters and "
                "their lag; `--replication` shows which voters are behind. Check the controller nodes' logs.",
                "Bring the controller voters back until a majority runs (2 of 3, 3 of 5). Do not wipe a controller's "
                "metadata log to force it: that can lose the cluster metadata.",
            ),
        ),
        AlertDef(
            group,
            "KafkaFencedBrokers",
            "warning",
            b.with_cluster(f"max by ({BY_EXPORTER}) ({b.m(bj.CONTROLLER_FENCED_BROKERS)}) > 0", without_admin=True),
            s.fenced_brokers_for,
            "Kafka brokers are registered but fenced by the controller.",
            """{CLUSTER_CAP} has {{ $value }} fenced broker(s) for more than {for_}: they are
            out of every ISR and lead nothing.""".replace("{for_}", s.fenced_brokers_for),
            dash.CLUSTER_UID,
            Runbook(
                "The KRaft controller fenced brokers that stopped heartbeating (crashed, paused by GC, cut off). "
                "Their replicas left every ISR, so the partitions they hold have less headroom until they return.",
                "`kafka-metadata-quorum.sh --bootstrap-server <b> describe --status` and "
                "`kafka-broker-api-versions.sh --bootstrap-server <b>` (a fenced broker is missing); the "
                "Brokers table of the cluster dashboard lists the live ones.",
                "Restart the missing broker, check its log for the reason (disk full, OOM, long GC). Watch the min "
                "ISR alerts: they say how close writes are to being refused meanwhile.",
            ),
        ),
        AlertDef(
            group,
            "KafkaBrokerNotRunning",
            "warning",
            b.with_cluster(f"{b.m(bj.BROKER_RUNNING)} == 0", without_admin=True),
            s.broker_not_running_for,
            "A Kafka broker answers JMX but is not in the RUNNING state.",
            """Broker {{ $labels.broker_id }} of {CLUSTER} has not reported BrokerState
            RUNNING for {for_}: it is starting, recovering its logs or shutting down.""".replace(
                "{for_}", s.broker_not_running_for
            ),
            dash.CLUSTER_UID,
            Runbook(
                "The broker process is up (its JMX answers) but its BrokerState is not 3 (RUNNING): log recovery after "
                "an unclean shutdown can take long with many partitions, or a shutdown hangs.",
                "The broker's `server.log` shows `Recovering unflushed segment` or shutdown progress; "
                "`kafka-broker-api-versions.sh --bootstrap-server <broker>` fails until it runs.",
                "Let log recovery finish (`num.recovery.threads.per.data.dir` speeds it up next time). A shutdown "
                "that hangs for long: take a thread dump, then kill and restart the broker.",
            ),
        ),
        AlertDef(
            group,
            "KafkaOfflinePartitions",
            "critical",
            b.with_cluster(f"count by ({by_topic}) ({b.m(du.OFFLINE)} == 1)"),
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
            "KafkaPartitionsUnderMinIsr",
            "critical",
            b.with_cluster(f"count by ({by_topic}) ({b.m(du.UNDER_MIN_ISR)} == 1)"),
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
                "cannot commit offsets or transactions cannot complete. The leader refuses `acks=all` writes with NOT_ENOUGH_REPLICAS: "
                "producers that care about durability are failing right now; `acks=1` producers still succeed "
                "with fewer copies than you asked for.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --under-min-isr-partitions` (it ignores the cap "
                "at the replica count, so topics with min ISR > RF show up there forever), and the Isr column of "
                "`--describe --topic <topic>`.",
                "Bring back the brokers missing from the ISR. Lowering `min.insync.replicas` restores writes at the "
                "cost of durability: only as a deliberate, temporary decision.",
            ),
            ("topic",),
        ),
        AlertDef(
            group,
            "KafkaPartitionsAtMinIsr",
            "warning",
            b.with_cluster(
                f"count by ({by_topic}) ({b.m(du.AT_MIN_ISR)} == 1)"
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
                "`kafka-topics.sh --bootstrap-server <b> --describe --at-min-isr-partitions`; the ISR headroom "
                "panel of the cluster dashboard.",
                "Find the replica missing from the ISR (down broker, slow disk) and bring it back before any planned "
                "maintenance continues.",
            ),
            ("topic",),
        ),
        AlertDef(
            group,
            "KafkaUnderReplicatedPartitions",
            "warning",
            b.with_cluster(f"count by ({by_topic}) ({b.m(du.UNDER_REPLICATED)} == 1)"),
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
            ),
            ("topic",),
        ),
        AlertDef(
            group,
            "KafkaUncleanLeaderElection",
            "critical",
            b.with_cluster(
                f"max by ({BY_EXPORTER}) (round(increase({b.m(bj.UNCLEAN_ELECTIONS)}[{s.data_loss_window}]))) > 0", without_admin=True
            ),
            "0m",
            "Kafka made an unclean leader election: acknowledged data was probably lost.",
            """The controller of {CLUSTER} made {{ $value | humanize }} unclean leader
            election(s) in the last {w}: an out-of-sync replica became leader and truncated what the old
            leader had acknowledged.""".replace("{w}", s.data_loss_window),
            dash.CLUSTER_UID,
            Runbook(
                "An out-of-sync replica was made leader because `unclean.leader.election.enable=true` (or an operator "
                "forced it). Messages the old leader had acknowledged but the new leader never received are gone, "
                "and consumers whose committed offsets were beyond the new log end will reset.",
                "The controller's log names the partition (`Unclean leader election`); "
                "`kafka-configs.sh --bootstrap-server <b> --entity-type topics --entity-name <topic> --describe` shows "
                "the setting. See also KafkaLogEndOffsetDecreased and KafkaCommittedOffsetBeyondLogEnd.",
                "Treat it as data loss: find the producers whose writes are gone and replay them if you can. Set "
                "`unclean.leader.election.enable=false` unless availability truly matters more than data.",
            ),
        ),
        AlertDef(
            group,
            "KafkaLogEndOffsetDecreased",
            "critical",
            b.with_cluster(
                f"sum by ({by_topic}, partition) (round(increase({b.m(of.REGRESSIONS)}[{s.data_loss_window}]))) > 0"
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
                "Treat it as data loss: replay from the producers' side if possible, reset affected groups "
                "deliberately (`kafka-consumer-groups.sh --reset-offsets --to-offset ...`). Prevent it by spreading "
                "replicas across racks/power domains (`broker.rack`) so one power loss cannot take every copy.",
            ),
            ("topic",),
        ),
        AlertDef(
            group,
            "KafkaTopicDurabilityRisk",
            "warning",
            b.with_cluster(
                f"{b.m(du.DURABILITY_RISK, ALERTED_RISKS)} == 1"
            ),
            s.durability_risk_for,
            "A Kafka topic's settings cannot survive a broker loss without losing or refusing writes.",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has durability risk
            {{ $labels.reason }} (single_copy_ack: RF >= 2 with min.insync.replicas 1; no_failure_tolerance:
            RF <= min.insync.replicas; unclean_election: unclean.leader.election.enable=true).""",
            dash.CLUSTER_UID,
            Runbook(
                "`acks=all` waits only for the replicas currently in the ISR. **single_copy_ack**: with RF 2 (or 3) and "
                "`min.insync.replicas=1` the ISR may shrink to the leader alone and writes are still acknowledged by "
                "that one copy; when that broker then dies, acknowledged data is lost. **no_failure_tolerance**: "
                "RF <= `min.insync.replicas` (RF 1 included) means losing any one broker refuses `acks=all` writes, "
                "so every restart is an outage. **unclean_election**: `unclean.leader.election.enable=true` lets an "
                "out-of-sync replica become leader and silently truncate acknowledged data. Topics inherit "
                "`min.insync.replicas=1` from the broker default unless it is set.",
                "`kafka-configs.sh --bootstrap-server <b> --entity-type topics --entity-name <topic> --describe --all` "
                "shows `min.insync.replicas` and `unclean.leader.election.enable` with their source; "
                "`kafka-topics.sh --bootstrap-server <b> --describe --topic <topic>` shows the replication factor.",
                "Use RF 3 with `min.insync.replicas=2` (survives one broker loss, never acknowledges a single copy): "
                "`kafka-configs.sh --alter --entity-type topics --entity-name <topic> --add-config "
                "min.insync.replicas=2`, raise RF with `kafka-reassign-partitions.sh`, and set "
                "`unclean.leader.election.enable=false`.",
            ),
            ("topic",),
        ),
        AlertDef(
            group,
            "KafkaReplicasInOneRack",
            "warning",
            b.with_cluster(
                f"count by ({by_topic}) ({b.m(du.IN_ONE_RACK)} == 1)"
                f" unless on ({by_topic}) ({b.m(ad.TOPIC_REPLICATION_FACTOR)} == 1)"
            ),
            s.replicas_one_rack_for,
            "All replicas of some Kafka partitions share one rack (or racks are unknown).",
            """Topic {{ $labels.topic }} in cluster {{ $labels.cluster_id }} has {{ $value }} partition(s) whose
            replicas all sit in one rack or on brokers without broker.rack: one power or network failure can
            take every copy.""",
            dash.CLUSTER_UID,
            Runbook(
                "Kafka does not fsync by default: acknowledged writes live in the replicas' page cache. If every "
                "replica of a partition is in one power domain, one power loss takes all copies at once and the "
                "log end offset comes back lower (see KafkaLogEndOffsetDecreased). Without `broker.rack`, Kafka "
                "cannot spread replicas across racks and the exporter cannot tell. RF 1 topics are left to "
                "KafkaTopicDurabilityRisk.",
                "`kafka-topics.sh --bootstrap-server <b> --describe --topic <topic>` lists each partition's replicas; "
                "the Brokers table of the cluster dashboard shows each broker's rack.",
                "Set `broker.rack` on every broker (one value per power domain / availability zone), then move "
                "replicas with `kafka-reassign-partitions.sh --generate` (rack-aware) and `--execute`.",
            ),
            ("topic",),
        ),
    ]


def _consumer_alerts(b: _Builder) -> list[AlertDef]:
    s = b.s
    group = "kafka-insight-consumers"
    by_group_topic = f"{BY_EXPORTER}, group, topic"
    return [
        AlertDef(
            group,
            "KafkaConsumerGroupLagHigh",
            "warning",
            b.with_cluster(f"{b.m(of.GROUP_LAG_SECONDS)} > {s.lag_seconds_warning:g}"),
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
                "busy and quiet topics. Once it reaches the topic's retention, unread messages are deleted.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` (LAG in messages per "
                "partition); the consumers dashboard shows lag in seconds next to retention.",
                "Scale the consumers (up to one per partition), find slow processing in the application, or raise "
                "retention while it catches up. If the group is stalled or stopped, those alerts say so.",
            ),
            ("group",),
        ),
        AlertDef(
            group,
            "KafkaConsumerGroupStalled",
            "warning",
            b.with_cluster(f"{b.m(of.GROUP_STATUS, STALLED)} == 1"),
            s.stalled_for,
            "A Kafka consumer group has members and lag but does not commit progress.",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} has members and unconsumed messages,
            but its committed offsets have not moved (status stalled for {for_}).""".replace("{for_}", s.stalled_for),
            dash.CONSUMERS_UID,
            Runbook(
                "The exporter marks a group stalled when members are present and lag is above 0 but no committed "
                "offset moved for `interpretation.stalled_after_seconds`: the consumers are stuck (a poison message "
                "retried forever, a deadlock, a blocked downstream) or rebalance in a loop.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group <group>` twice a minute apart: "
                "CURRENT-OFFSET does not move while LAG stays. `--describe --group <group> --state` shows "
                "whether it keeps rebalancing.",
                "Look at the consumers' logs for the partition they are stuck on and restart them; skip a poison "
                "message only deliberately (`kafka-consumer-groups.sh --reset-offsets --shift-by 1 ...` with the "
                "group stopped).",
            ),
            ("group",),
        ),
        AlertDef(
            group,
            "KafkaConsumerGroupStopped",
            "warning",
            b.with_cluster(f"{b.m(of.GROUP_STATUS, STOPPED)} == 1"),
            s.stopped_for,
            "A Kafka consumer group with unconsumed messages has no members.",
            """Group {{ $labels.group }} in cluster {{ $labels.cluster_id }} has had no running member and
            unconsumed messages for {for_}.""".replace("{for_}", s.stopped_for),
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
        AlertDef(
            group,
            "KafkaCommittedOffsetBeyondLogEnd",
            "critical",
            b.with_cluster(f"count by ({by_group_topic}) ({b.m(of.BEYOND_END)} == 1)"),
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
                "Decide where the group should continue, then stop it and reset explicitly: "
                "`kafka-consumer-groups.sh --bootstrap-server <b> --group <group> --topic <topic> --reset-offsets "
                "--to-offset <log end before the new writes, or the current end> --execute`. Find out what was lost "
                "(KafkaLogEndOffsetDecreased) and spread replicas across power domains.",
            ),
            ("group", "topic"),
        ),
        AlertDef(
            group,
            "KafkaCommittedOffsetBelowLogStart",
            "warning",
            b.with_cluster(f"count by ({by_group_topic}) ({b.m(of.BELOW_START)} == 1)"),
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
                "Find why the group fell so far behind (KafkaConsumerGroupLagHigh, stopped consumers); raise retention "
                "for the topic if the consumer legitimately needs more time; alert earlier on lag in seconds.",
            ),
            ("group", "topic"),
        ),
    ]


def _producer_alerts(b: _Builder) -> list[AlertDef]:
    s = b.s
    group = "kafka-insight-producers"
    ordering_meaning = (
        "With retries on, more than one request in flight per connection and idempotence off, a batch that "
        "failed and is retried can land after a later batch that succeeded: messages of one key arrive out "
        "of order. librdkafka (confluent-kafka-python, -go, -dotnet) defaults to exactly that "
        "(`enable.idempotence=false`, `max.in.flight=1000000`, `retries=2147483647`). Java producers 2.1–2.8 "
        "reorder with default settings (KIP-91 made retries effectively infinite, 5 in flight, idempotence off), "
        "and so do 3.0.0 and 3.1.0 (KAFKA-13598: idempotence was not really on by default); 3.0.1, 3.1.1 and "
        "3.2+ are idempotent by default unless `acks` other than all, `max.in.flight` above 5 or `retries=0` is "
        "set explicitly, which silently turns idempotence off (KAFKA-13673). Kafka Connect's producers have it "
        "off (KAFKA-13759)."
    )
    ordering_fix = (
        "Set `enable.idempotence=true` in the producer (keeps ordering with retries and up to 5 requests in "
        "flight) and do not override `acks`/`retries`/`max.in.flight` against it; where that is impossible, "
        "`max.in.flight.requests.per.connection=1`. Upgrade Java clients older than 3.2."
    )
    return [
        AlertDef(
            group,
            "KafkaProducerCanReorder",
            "warning",
            b.with_cluster(
                f"({b.m(pr.PRODUCER_REORDERING, REORDERS)} == 1) or ({b.m(ic.REORDERING_RISK)} == 1)", without_admin=True
            ),
            s.reordering_for,
            "A Kafka producer runs with settings that can reorder messages on retry.",
            """Producer {{ $labels.client_id }} ({{ $labels.target }}{{ $labels.client_instance }}) in
            {CLUSTER} can write messages out of order when it retries: retries on, several
            requests in flight and idempotence off.""",
            dash.PRODUCERS_UID,
            Runbook(
                ordering_meaning,
                f"For Java producers the verdict comes from the client version in JMX (app-info) and the settings "
                f"declared for the target in the exporter's `jmx.clients` config; for librdkafka producers "
                f"`{ic.SETTINGS_INFO.name}` on the exporter's /metrics shows the settings it runs with and "
                f"`{ic.IDEMPOTENCE.name}` whether its statistics show an idempotent producer id. The producers "
                "dashboard lists both. In the application, check `enable.idempotence`.",
                ordering_fix,
            ),
        ),
        AlertDef(
            group,
            "KafkaProducerMayHaveReordered",
            "warning",
            b.with_cluster(f"{b.m(pr.PRODUCER_REORDERING_EVIDENCE)} == 1", without_admin=True),
            "0m",
            "A Kafka producer that can reorder has retried sends: ordering may already be broken.",
            """Java producer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER}
            runs with settings that reorder on retry and has retried sends: records of one key may already be
            out of order on the topic.""",
            dash.PRODUCERS_UID,
            Runbook(
                ordering_meaning + " Settings do not change while a producer runs, so once it has retried, every "
                "retry had the chance to put a batch behind a later one.",
                "The producers dashboard shows the producer's retries (record-retry-total) and its verdict; "
                "consumers that depend on per-key order may show out-of-order events around the retry times "
                "(`kafka-console-consumer.sh --bootstrap-server <b> --topic <topic> --property print.offset=true "
                "--property print.key=true`).",
                ordering_fix + " Check the consumers that depend on order for duplicates or out-of-order state.",
            ),
        ),
        AlertDef(
            group,
            "KafkaClientVersionCanReorder",
            "info",
            b.with_cluster(
                f"{b.m(pr.SOFTWARE_CONNECTIONS)} > 0"
                f" and on ({BY_EXPORTER}, client_software_name, client_software_version)"
                f" ({b.m(pr.SOFTWARE_REORDERING, REORDERS)} == 1)"
                # the exporter's own Admin/statistics clients are confluent-kafka-python: not a producer
                f" unless on ({BY_EXPORTER}, client_software_name, client_software_version) {b.own_client_software()}",
                without_admin=True,
            ),
            s.reordering_for,
            "Clients connected to Kafka use a library version that reorders by default.",
            """{{ $value }} connection(s) in {CLUSTER} come from
            {{ $labels.client_software_name }} {{ $labels.client_software_version }}, whose producers can reorder
            messages with default settings.""",
            dash.PRODUCERS_UID,
            Runbook(
                ordering_meaning + " Brokers count connections per client library and version (KIP-511), so this "
                "alert sees every application, not only the ones the exporter has JMX or statistics for. It is "
                "about defaults: an application may have set `enable.idempotence=true`, and consumers and admin "
                "clients of the same library are counted too. The exporter's own clients (confluent-kafka-python "
                f"of the exporter's version, from `{sm.BUILD_INFO.name}`) are left out, so applications on "
                "exactly that version are too: the client statistics alert covers those that forward statistics.",
                "The *Client software connected* table on the producers dashboard; "
                "`kafka-broker-api-versions.sh` does not list clients — ask the owners of applications using that "
                "library which producer settings they run with.",
                ordering_fix,
            ),
        ),
        AlertDef(
            group,
            "KafkaCompressionIneffective",
            "info",
            b.with_cluster(
                f"({b.m(pr.SAVINGS)} > 0 and {b.m(pr.SAVINGS)} < {s.compression_savings_min_ratio:g})"
                f" or ({b.m(pr.SAVINGS)} < {s.compression_savings_min_ratio:g}"
                f" and on ({BY_EXPORTER}, target, client_id) {b.m(cj.DECLARED_SETTING, CODEC_SET)})"
                # librdkafka producers: the codec from their forwarded settings (target = client instance)
                f" or ({b.m(pr.SAVINGS)} < {s.compression_savings_min_ratio:g}"
                f" and on ({BY_EXPORTER}, target, client_id) label_replace({b.m(ic.SETTINGS_INFO, LIBRDKAFKA_CODEC_SET)},"
                ' "target", "$1", "client_instance", "(.*)"))',
                without_admin=True,
            ),
            s.compression_ineffective_for,
            "A Kafka producer compresses but saves almost nothing.",
            """Producer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER} saves only
            {{ $value | humanizePercentage }} of its bytes by compression: CPU spent for little gain.""",
            dash.PRODUCERS_UID,
            Runbook(
                "Savings are 1 - compression-rate-avg: Kafka's compression-rate-avg is compressed/uncompressed size, "
                "so 1.0 means nothing was saved — the name reads backwards. For librdkafka producers the ratio is "
                "estimated from their statistics (batch size as written over messages per batch x mean message "
                "size). Savings near 0 with a codec set mean the "
                "data does not compress (already compressed, encrypted, random) or batches are too small for the "
                "codec to find repetition; both cost producer CPU and, if the topic's codec differs, broker CPU "
                "for recompression.",
                "The producers dashboard shows savings next to the raw ratio and the batch sizes; "
                "`kafka-configs.sh --bootstrap-server <b> --entity-type topics --entity-name <topic> --describe` "
                "shows the topic's `compression.type`.",
                "Try zstd or lz4 instead of gzip/snappy, raise `linger.ms` (and `batch.size`) so batches are larger, "
                "or drop compression for incompressible payloads. Keep the topic's `compression.type=producer` (or "
                "equal to the producer's codec) to avoid recompression on the broker.",
            ),
        ),
    ]


def _connect_alerts(b: _Builder) -> list[AlertDef]:
    """Kafka Connect (issue 18), defined in exporter.mixin.connect (which cannot import this module)."""
    return [AlertDef(**{**row, "runbook": Runbook(*row["runbook"])}) for row in connect_mixin.alert_rows(b.s, b.m)]


ALERT_BUILDERS: list[Callable[[_Builder], list[AlertDef]]] = [
    _exporter_alerts,
    _cluster_alerts,
    _consumer_alerts,
    _producer_alerts,
    _connect_alerts,
]


def all_alerts(settings: Settings) -> list[AlertDef]:
    b = _Builder(settings)
    return [alert for build in ALERT_BUILDERS for alert in build(b)]


def rule_groups(settings: Settings) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in all_alerts(settings):
        groups.setdefault(alert.group, []).append(alert.rule(settings))
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}
