"""Alerts about the cluster as a whole: reachable at all, its controller quorum, its brokers."""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.mixin.boards import common as dash
from exporter.mixin.rules.base import BY_EXPORTER, AlertDef, Builder, Runbook
from exporter.sources import admin as ad
from exporter.sources.jmx import broker_specs as bj

GROUP = "kafka-insight-cluster"
ADMIN = 'source="admin"'
BROKER_JMX = 'source="broker_jmx"'
CONTROLLER_ROLE = 'roles=~".*controller.*"'
BROKER_ONLY = 'roles="broker"'


def _controller_targets_down(b: Builder, *, known_only: bool) -> str:
    """Broker JMX targets that do not answer and were (``known_only``) or may be KRaft controllers:
    a target is only known to be broker-only when it answered as one within cluster_id_memory."""
    down = f"{b.m(sm.SOURCE_UP, BROKER_JMX)} == 0"
    memory = b.s.cluster_id_memory
    if known_only:
        return f"{down} and on ({BY_EXPORTER}, target) max_over_time({b.m(bj.BROKER_JMX_INFO, CONTROLLER_ROLE)}[{memory}])"
    return f"{down} unless on ({BY_EXPORTER}, target) max_over_time({b.m(bj.BROKER_JMX_INFO, BROKER_ONLY)}[{memory}])"


def _active_controllers(b: Builder) -> str:
    """Nodes reporting ActiveControllerCount 1, each node counted once however many exporters see it."""
    per_node = b.per_cluster(b.m(bj.CONTROLLER_ACTIVE), "broker_id", without_admin=True)
    return f"sum by (cluster_id, {BY_EXPORTER}) ({per_node})"


def cluster_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    unknown = b.per_cluster(_controller_targets_down(b, known_only=False), without_admin=True)
    active = _active_controllers(b)
    return [
        AlertDef(
            GROUP,
            "KafkaClusterUnreachable",
            "critical",
            f"{b.per_cluster(b.m(sm.SOURCE_UP, ADMIN), without_admin=True)} == 0",
            s.cluster_unreachable_for,
            "No exporter reaches the Kafka cluster's Admin API: the cluster is down or cut off.",
            """No exporter has reached the Admin API of {CLUSTER} for {for_}: every admin-derived series
            (offline partitions, ISR, lag) is absent, so their alerts cannot fire.""".replace(
                "{for_}", s.cluster_unreachable_for
            ),
            dash.CLUSTER_UID,
            Runbook(
                "The Admin-API source of every exporter watching the cluster failed for the whole `for:`: no "
                "bootstrap server answers metadata requests. All brokers are down (power loss of the data centre, "
                "a bad rolling change), the network between the exporter and Kafka is cut, or the exporter's "
                "credentials were revoked. While it lasts the partition and lag alerts have no series and cannot "
                "fire — this alert pages in their place.",
                "`kafka-broker-api-versions.sh --bootstrap-server <b>` from the exporter's host; "
                "`kafka-metadata-quorum.sh --bootstrap-server <b> describe --status`; the exporter log names the "
                "error of the admin source (`source admin target ... is down: ...`).",
                "Restore the brokers (or the network path / credentials). After a power loss of every replica, "
                "expect KafkaLogEndOffsetDecreased and KafkaCommittedOffsetBeyondLogEnd once the cluster is back: "
                "stop the affected consumers (or set `auto.offset.reset=none`) before they reset by themselves.",
                "Outage: this is the alert that fires; it resolves on the first successful collection. A broker "
                "crash or a reassignment does not fire it (the other brokers answer). HA pair: fires only when no "
                "exporter of the cluster reaches it; one exporter failing is KafkaInsightSourceDown.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaNoActiveController",
            "critical",
            # ActiveControllerCount summed over the reachable controller nodes must be exactly 1:
            # 0 counts only when every (possible) controller answered, 2 or more is a split brain
            f"({active} == 0 unless on (cluster_id, {BY_EXPORTER}) {unknown}) or {active} > 1",
            s.no_controller_for,
            "The Kafka cluster does not have exactly one active KRaft controller.",
            """{{ $value }} controller node(s) of {CLUSTER} report themselves as the active controller
            (ActiveControllerCount summed over every controller the exporters reach): exactly 1 must.""",
            dash.CLUSTER_UID,
            Runbook(
                "Summed over the controller nodes, ActiveControllerCount must be exactly 1. **0**, with every "
                "controller's JMX answering: no active controller — the cluster cannot change metadata: no leader "
                "elections when a broker dies, no topic creation, no ISR changes; existing leaders keep serving, so "
                "the damage grows with the next failure; usually the quorum lost its majority. **2 or more**: a "
                "split brain, two nodes act as controller. The exporter sees controllers only through their JMX: "
                "list dedicated KRaft controllers as explicit `jmx.brokers.targets` (discovery from the Admin API "
                "finds brokers only).",
                "`kafka-metadata-quorum.sh --bootstrap-server <b> describe --status` shows LeaderId, the voters and "
                "their lag; `--replication` shows which voters are behind. Check the controller nodes' logs.",
                "0: bring the controller voters back until a majority runs (2 of 3, 3 of 5). Split brain: find the "
                "node(s) that are not in the quorum's LeaderId and restart them. Do not wipe a controller's metadata "
                "log to force it: that can lose the cluster metadata.",
                "A controller whose JMX does not answer is KafkaControllerTargetDown, not this page: while one "
                "(possible) controller target is down, a sum of 0 does not fire (the unreachable one may be the "
                "active one); a sum above 1 still does. Outage: every target is down, so only "
                "KafkaClusterUnreachable pages. HA pair: each node is counted once.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaControllerTargetDown",
            "warning",
            b.per_cluster(_controller_targets_down(b, known_only=True), "target", without_admin=True),
            s.controller_target_down_for,
            "A KRaft controller's JMX target does not answer: the controller alerts cannot judge it.",
            """The JMX target {{ $labels.target }} of {CLUSTER}, a KRaft controller node, has not answered
            for {for_}; KafkaNoActiveController cannot tell whether a controller is active meanwhile.""".replace(
                "{for_}", s.controller_target_down_for
            ),
            dash.CLUSTER_UID,
            Runbook(
                "A JMX target that reported controller MBeans (roles contains controller) stopped answering: the node "
                "is down, overloaded, or its JMX port is blocked. Its ActiveControllerCount is unknown, so "
                "KafkaNoActiveController holds back a 0 sum rather than false-paging.",
                "`kafka-metadata-quorum.sh --bootstrap-server <b> describe --status` shows whether the node is "
                "still a voter and who leads; the exporter log has the JMX error for the target.",
                "Bring the node (or its JMX port) back. If it was decommissioned, remove it from `jmx.brokers.targets`.",
                "Outage: fires for every controller (and KafkaClusterUnreachable pages; the Alertmanager example "
                "inhibits this one then). HA pair: one alert per target.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaFencedBrokers",
            "warning",
            f"{b.per_cluster(f'max by ({BY_EXPORTER}) ({b.m(bj.CONTROLLER_FENCED_BROKERS)})', without_admin=True)} > 0",
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
                "Controller MBeans come from every controller node: the max, never the sum. Outage: no controller "
                "answers, so it cannot fire. HA pair: one alert.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaBrokerCountDropped",
            "warning",
            b.per_cluster(f"max_over_time({b.m(ad.BROKERS)}[{s.broker_count_window}]) - {b.m(ad.BROKERS)} > 0"),
            s.broker_count_dropped_for,
            "The Kafka cluster lists fewer brokers than it recently had.",
            """{CLUSTER_CAP} lists {{ $value }} broker(s) fewer than at its peak in the last {w}, for more
            than {for_}.""".replace("{w}", s.broker_count_window).replace("{for_}", s.broker_count_dropped_for),
            dash.CLUSTER_UID,
            Runbook(
                "describe_cluster lists live brokers only: a broker that crashed, was fenced or cannot register is "
                "missing. Partitions with a replica there are under-replicated; with another loss, writes may be "
                "refused.",
                "`kafka-broker-api-versions.sh --bootstrap-server <b>` lists the live brokers; the Brokers table of "
                "the cluster dashboard shows which id is missing.",
                "Restart the missing broker and find why it stopped (its `server.log`). A broker decommissioned on "
                "purpose keeps this alert firing until the peak leaves the window: silence it meanwhile.",
                "Outage: no broker count at all, so KafkaClusterUnreachable pages instead. Reassignment: brokers "
                "stay, no effect. HA pair: one alert. Resolves by itself after broker_count_window even if the "
                "broker stays away (the under-replicated alerts keep reporting it).",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaBrokerNotRunning",
            "warning",
            b.per_cluster(f"{b.m(bj.BROKER_RUNNING)} == 0", "broker_id", without_admin=True),
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
                "Outage: JMX does not answer, so it cannot fire. HA pair: one alert per broker.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaLogDirectoryOffline",
            "warning",
            b.per_cluster(f"{b.m(bj.OFFLINE_LOG_DIRECTORIES)} > 0", "broker_id", without_admin=True),
            s.log_dir_offline_for,
            "A Kafka broker took a log directory offline: a disk failed.",
            """Broker {{ $labels.broker_id }} of {CLUSTER} has {{ $value }} offline log directory(ies)
            (LogManager OfflineLogDirectoryCount); the replicas on them are offline.""",
            dash.CLUSTER_UID,
            Runbook(
                "A broker marks a log directory offline after an I/O error (failed disk, full or read-only "
                "filesystem) and keeps running with the others; every replica on that directory is offline "
                "(`kafka_insight_broker_offline_replicas`, OfflineReplicaCount), leadership moves away and those "
                "partitions are under-replicated until the directory is back.",
                "The broker's `server.log` has `Error while ... in dir` / `Stopping serving logs in dir`; "
                "`kafka-log-dirs.sh --bootstrap-server <b> --describe --broker-list <id>` shows the directory "
                "with an error.",
                "Replace or repair the disk, then restart the broker; if the directory is gone for good, reassign "
                "its replicas (`kafka-reassign-partitions.sh`) and remove it from `log.dirs`.",
                "Outage: JMX does not answer, so it cannot fire. HA pair: one alert per broker.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaUncleanLeaderElection",
            "critical",
            f"{b.per_cluster(f'max by ({BY_EXPORTER}) (round(increase({b.m(bj.UNCLEAN_ELECTIONS)}[{s.data_loss_window}])))', without_admin=True)} > 0",
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
                f"Keeps firing for {s.data_loss_window} after the election (data_loss_window). HA pair: one alert.",
            ),
        ),
    ]
