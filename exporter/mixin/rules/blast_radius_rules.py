"""Blast-radius alert (issue 15): the cluster is not single-broker safe for acks=all writes."""

from __future__ import annotations

from exporter.interpret import blast_radius as br
from exporter.mixin.boards import common as dash
from exporter.mixin.promql import sel
from exporter.mixin.rules.base import AlertDef, Builder, Runbook
from exporter.sources import admin as ad

GROUP = "kafka-insight-cluster"
BROKEN = 'outcome=~"under_min_isr|no_insync_copy"'


def blast_radius_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    # the worst broker, looked up when the alert fires (its id would make a poor alert label: it
    # changes as ISRs move, and each change would start a new alert); by cluster_id, so an HA pair
    # of exporters names one broker
    per_exporter = f"sum by (job, instance, broker_id) ({sel(br.BROKER_FAILURE, s.job_selector, BROKEN)})"
    cluster = sel(ad.CLUSTER_INFO, s.job_selector, "cluster_id=%q")  # the matchers hold no % of their own
    worst = (
        "{{ with printf `topk(1, max by (broker_id) ("
        + per_exporter
        + " * on (job, instance) group_left (cluster_id) "
        + cluster
        + "))` $labels.cluster_id | query }}{{ with . | first }}broker {{ .Labels.broker_id }}, whose failure "
        "alone would break {{ .Value }} of them{{ end }}{{ end }}"
    )
    return [
        AlertDef(
            GROUP,
            "KafkaClusterNotSingleBrokerSafe",
            "warning",
            b.per_cluster(b.m(br.BROKER_EXPOSED, 'access="acks_all_writes"')) + " > 0",
            s.not_single_broker_safe_for,
            "The Kafka cluster cannot lose one broker without refusing or losing acks=all writes.",
            """Cluster {{ $labels.cluster_id }} is not single-broker safe for acks=all writes: the failure of
            one broker would take {{ $value }} partition(s) under min ISR or leave them without an in-sync
            copy; the worst is """
            + worst
            + ".",
            dash.RISK_UID,
            Runbook(
                "The exporter's blast radius (`kafka_insight_broker_failure_partitions`) says that stopping one of "
                "the brokers now - a crash, or the next step of a rolling restart - would refuse `acks=all` writes "
                "(fewer in-sync replicas than the effective `min.insync.replicas` left) or leave partitions whose "
                "acknowledged writes sit on no surviving in-sync replica (offline, or an unclean election that "
                "truncates them). Usual causes: topics with RF <= `min.insync.replicas` or RF 1, ISRs shrunk "
                "because a broker is down or a follower lags, or replicas placed on too few brokers.",
                "The blast-radius row of the \"Kafka: what is at risk now\" dashboard lists each broker's outcomes, and the "
                "exporter's own page (`/`) names the partitions. `kafka-topics.sh --bootstrap-server <b> --describe "
                "--under-replicated-partitions` and `--at-min-isr-partitions` show the ISRs the prediction rests on.",
                "Do not stop or restart a broker while this fires. Bring back the brokers missing from the ISRs "
                "and wait until they are in sync; fix topics that can never survive a broker (RF 3 with "
                "`min.insync.replicas=2`, `kafka-reassign-partitions.sh` to add replicas).",
                "Outage: computed from the Admin API's metadata, so it resolves (goes absent) while the cluster "
                "is unreachable; KafkaClusterUnreachable pages instead. Reassignment: replicas being added are "
                "counted as replicas, so a move can make a partition look safer than it will be once the old "
                "replicas are removed. HA pair: aggregated by cluster_id, one alert for the pair.",
            ),
        ),
    ]
