"""Alerts on the broker's operational set (issue 17): the KRaft quorum without a leader and
Produce latency far above its own baseline.  (Offline log directories: cluster_rules.)"""

from __future__ import annotations

from exporter.mixin.boards import common as dash
from exporter.mixin.rules.base import AlertDef, Builder, Runbook
from exporter.sources.jmx import broker_ops_specs as ops

GROUP = "kafka-insight-cluster"


def broker_ops_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    # every answering node reports current-leader -1: max over the nodes is -1 only then
    no_leader = f"{b.per_cluster(b.m(ops.KRAFT_LEADER), without_admin=True)} < 0"
    p99 = b.m(ops.REQUEST_LATENCY, 'request="Produce"', 'quantile="0.99"')
    baseline = f"quantile_over_time(0.5, {p99}[{s.produce_latency_baseline_window}])"
    slow = f"({p99} > {s.produce_latency_factor:g} * {baseline}) and {p99} > {s.produce_latency_floor_seconds:g}"
    return [
        AlertDef(
            GROUP,
            "KafkaKRaftQuorumNoLeader",
            "critical",
            no_leader,
            s.kraft_no_leader_for,
            "The KRaft metadata quorum has no leader: no metadata changes are possible.",
            """Every KRaft node of {CLUSTER} that answers JMX has reported no quorum leader
            (raft-metrics current-leader {{ $value }}) for {for_}.""".replace("{for_}", s.kraft_no_leader_for),
            dash.CLUSTER_UID,
            Runbook(
                "The controllers cannot elect a leader of the `__cluster_metadata` log: fewer than a majority of the "
                "voters are up or they cannot reach each other on the controller listener. Without a leader there is "
                "no active controller: no leader elections for partitions whose leader dies, no topic or config "
                "changes, brokers cannot register or unfence. Running leaders keep serving until something changes.",
                "`kafka-metadata-quorum.sh --bootstrap-controller <c> describe --status` (LeaderId, CurrentVoters); "
                "the dashboard's KRaft row shows each node's state (candidate / unattached) and a climbing epoch; "
                "the controllers' logs show vote requests and connection errors to the other voters.",
                "Bring a majority of the voters (`controller.quorum.voters` / `controller.quorum.bootstrap.servers`) "
                "back and make sure they reach each other on the controller listener (firewall, DNS, TLS). Do not "
                "wipe a voter's metadata log to 'fix' it: that can lose committed metadata.",
                "Outage: nodes whose JMX does not answer report nothing; if every node is down this cannot fire "
                "(KafkaClusterUnreachable / KafkaControllerTargetDown fire). A partition reassignment does not "
                "touch the quorum. HA pair: one alert per cluster (max over the exporters). Related: "
                "KafkaNoActiveController reads ActiveControllerCount; this one reads the raft layer below it.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaProduceLatencyHigh",
            "warning",
            b.per_cluster(slow, "broker_id", without_admin=True),
            s.produce_latency_for,
            "Produce p99 latency on a broker is far above its own usual value.",
            """Broker {{ $labels.broker_id }} of {CLUSTER}: Produce p99 latency {{ $value | humanizeDuration }}
            has been above {f} x its median of the last {w} (and above {floor} s) for {for_}.""".replace(
                "{f}", f"{s.produce_latency_factor:g}"
            )
            .replace("{w}", s.produce_latency_baseline_window)
            .replace("{floor}", f"{s.produce_latency_floor_seconds:g}")
            .replace("{for_}", s.produce_latency_for),
            dash.CLUSTER_UID,
            Runbook(
                "Producers to this broker wait much longer than usual for their acknowledgements "
                "(RequestMetrics TotalTimeMs, request=Produce, p99). The baseline is the broker's own median p99 over "
                "the window, so a cluster that is always slow does not page; the floor keeps tiny absolute values "
                "quiet. Producers slow down in step (`linger`, `max.in.flight` full) and may time out.",
                "The Broker requests row: the Produce p99 per phase says where the time goes — remote (followers "
                "slow to replicate acks=all writes: a follower's disk or network, see replica fetcher max lag), "
                "local (the leader's own disk: see log flush time), request_queue (handlers saturated: request "
                "handler idle below 0.3, request queue above 0), response_queue/send (network threads). "
                "`kafka-producer-perf-test.sh --producer-props acks=all ...` to a topic led by the broker shows the "
                "latency producers get.",
                "Fix the slow phase: move leadership off a broker with a failing disk, add `num.io.threads` / "
                "`num.network.threads` or brokers, throttle a reassignment (`--throttle`) that saturates "
                "replication, or spread hot partitions.",
                "Outage: no series, cannot fire. Reassignment: replication traffic can raise the remote phase and "
                "fire it, which is intended (producers really are slower); throttle the reassignment. HA pair: one "
                "alert per broker (max over the exporters).",
            ),
        ),
    ]
