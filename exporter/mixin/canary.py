"""The durability canary's alerts and dashboard row (issue 19).

Kept apart from :mod:`exporter.mixin.alerts` and :mod:`exporter.mixin.dashboards` (which
import this module; it imports neither): the alerts are plain field dicts that
``alerts`` turns into ``AlertDef``s, the row is a ``(title, panels)`` section.
"""

from __future__ import annotations

from typing import Any, Protocol

from exporter import selfmetrics as sm
from exporter.mixin.panels import PanelDef, Query, q
from exporter.sources import canary as cn

GROUP = "kafka-insight-canary"
REFUSED = 'error=~"NOT_ENOUGH_REPLICAS|NOT_ENOUGH_REPLICAS_AFTER_APPEND"'
#: end-to-end p99 this many times its baseline (the day before), and at least FLOOR seconds
LATENCY_FACTOR = 5
LATENCY_FLOOR = 1.0
#: seconds without a new canary record read back before the canary counts as stuck
STUCK_AFTER = 120
BY = "job, instance"
CANARY_SOURCE = 'source="canary"'


class Builder(Protocol):
    def m(self, spec: Any, *matchers: str) -> str: ...

    def with_cluster(self, expr: str) -> str: ...


def _clustered(b: Builder, expr: str) -> str:
    """The expression with its exporter's cluster_id where known; without one it still fires (the
    canary does not need the Admin API, and its alerts matter most when that is down)."""
    return f"({b.with_cluster(expr)}) or ignoring (cluster_id) ({expr})"


def _p99(b: Builder, window: str, offset: str = "") -> str:
    return f"histogram_quantile(0.99, sum by ({BY}, broker, le) (rate({b.m(cn.E2E_LATENCY.part('_bucket'))}[{window}]{offset})))"


def alert_fields(b: Builder, dashboard: str) -> list[dict[str, Any]]:
    """Fields of the canary's AlertDefs (``runbook`` as (meaning, confirm, action))."""
    lost = b.m(cn.RECORDS_LOST)
    return [
        {
            "group": GROUP,
            "name": "KafkaCanaryAcknowledgedRecordsLost",
            "severity": "critical",
            # a counter's first series appears with its first loss: the `unless offset` branch sees it
            "expr": _clustered(
                b,
                f"sum by ({BY}, partition, broker) (increase({lost}[15m])) > 0 or sum by ({BY}, partition, broker) ({lost} unless {lost} offset 15m) > 0",
            ),
            "for_": "0m",
            "summary": "Kafka lost records it had acknowledged (acks=all) to the exporter's canary.",
            "description": """The canary found {{ $value }} acknowledged record(s) missing on partition {{ $labels.partition }}
            (led by broker {{ $labels.broker }} when it acknowledged them) in {CLUSTER}: applications'
            acknowledged writes were lost the same way.""",
            "dashboard": dashboard,
            "runbook": (
                "The canary writes with acks=all and idempotence, remembers the offset of every acknowledged record "
                "and reads them back. A record whose offset now holds a different record, or lies beyond the log end, "
                "was acknowledged and then lost: an unclean leader election (an out-of-sync replica became leader and "
                "the log was truncated), min.insync.replicas=1 with the leader failing alone, or all replicas losing "
                "unflushed page cache at once (power loss).",
                f"`{cn.RECORDS_LOST.name}` by partition, broker and reason; the unclean-election panel "
                "(UncleanLeaderElectionsPerSec) and broker restarts at that time; `kafka-topics.sh --describe "
                "--topic <canary topic>` for the current leaders and ISR.",
                "Treat it as data loss for every topic with the same settings: find the topics with "
                "`unclean.leader.election.enable=true` or min ISR 1 (Durability risks panel) and fix them; tell the "
                "owners of the affected topics which time window to reconcile. The counter keeps the count; the alert "
                "clears 15 minutes after the last loss.",
            ),
            "dashboard_vars": (),
        },
        {
            "group": GROUP,
            "name": "KafkaCanaryWritesRefused",
            "severity": "critical",
            # the probe names refusals; the idempotent producer's own reports only if it ever gives up with one
            "expr": _clustered(
                b,
                f"sum by ({BY}, broker) (rate({b.m(cn.PROBE_FAILURES, REFUSED)}[5m])) > 0 "
                f"or sum by ({BY}, broker) (rate({b.m(cn.PRODUCE_FAILURES, REFUSED)}[5m])) > 0",
            ),
            "for_": "2m",
            "summary": "acks=all writes are refused on a broker's partitions (NOT_ENOUGH_REPLICAS).",
            "description": """The canary's acks=all writes to the partitions led by broker {{ $labels.broker }}
            in {CLUSTER} are refused with NOT_ENOUGH_REPLICAS ({{ $value | humanize }} per second): fewer replicas than min.insync.replicas are in sync, and
            every acks=all producer writing there fails the same way.""",
            "dashboard": dashboard,
            "runbook": (
                "NOT_ENOUGH_REPLICAS (before the append) and NOT_ENOUGH_REPLICAS_AFTER_APPEND (the ISR shrank while "
                "waiting) mean the partition has fewer in-sync replicas than its min.insync.replicas: Kafka refuses "
                "acks=all writes rather than risk them. Measured by the canary's refusal probe (one acks=all record per "
                "partition every few seconds, not retried), not inferred from metadata. "
                "With the KRaft controller quorum lost too (two of three combined broker+controller nodes down), no ISR "
                "can shrink and Kafka answers with timeouts instead: KafkaCanaryStuck fires, not this alert.",
                f"`{cn.PROBE_FAILURES.name}` by error on the exporter's /metrics; the Under min ISR stat and the partitions' ISR on the "
                "cluster dashboard; which brokers are missing from `kafka_insight_broker_info`.",
                "Bring the missing replicas' brokers back (or let lagging followers catch up). Do not lower "
                "min.insync.replicas to get writes through: that trades the outage for silent loss.",
            ),
            "dashboard_vars": (),
        },
        {
            "group": GROUP,
            "name": "KafkaCanaryEndToEndLatencyHigh",
            "severity": "warning",
            "expr": _clustered(
                b,
                f"{_p99(b, '10m')} > {LATENCY_FACTOR} * {_p99(b, '1d', ' offset 1h')} and {_p99(b, '10m')} > {LATENCY_FLOOR}",
            ),
            "for_": "15m",
            "summary": "Canary end-to-end latency is far over its usual level on a broker.",
            "description": f"""The 99th percentile of the canary's send-to-read time on broker {{{{ $labels.broker }}}}'s
            partition in {{CLUSTER}} is {{{{ $value | humanizeDuration }}}}, more than {LATENCY_FACTOR} times
            its level over the day before the last hour.""",
            "dashboard": dashboard,
            "runbook": (
                "End-to-end latency is the time from the canary's send to reading the record back: produce "
                "(acks=all waits for the in-sync followers), replication and fetch. Far above its baseline, "
                "consumers see data late on that broker's partitions.",
                f"`{cn.E2E_LATENCY.name}` on the exporter's /metrics and the canary row's latency panels per broker; the broker's request handler idle ratio, disk and "
                "network; produce-ack latency (slow acks: replication) versus end-to-end (slow fetch).",
                "Relieve the broker (move leaders away with a preferred leader election after fixing the cause, "
                "reduce load), check its disk and followers' fetch; if it is the whole cluster, check capacity.",
            ),
            "dashboard_vars": (),
        },
        {
            "group": GROUP,
            "name": "KafkaCanaryStuck",
            "severity": "warning",
            "expr": _clustered(
                b,
                f"max by ({BY}, partition) ({b.m(cn.NEWEST_RECORD_AGE)}) > {STUCK_AFTER} "
                f"or max by ({BY}) ({b.m(sm.SOURCE_UP, CANARY_SOURCE)}) == 0",
            ),
            "for_": "5m",
            "summary": "The durability canary has read nothing new for minutes.",
            "description": """The canary in {CLUSTER} reads no new records back{{ if $labels.partition }} from
            partition {{ $labels.partition }}{{ end }}: nothing is acknowledged or nothing can be read there,
            so write availability and loss are not being measured.""",
            "dashboard": dashboard,
            "runbook": (
                "The newest canary record read back is older than "
                f"{STUCK_AFTER} s (or the canary source is down): the partition has no leader, writes are refused, "
                "the canary's reader is stuck, or the exporter cannot reach the cluster.",
                f'`kafka_insight_source_up{{source="canary"}}` and the exporter log (`canary:` lines); '
                f"`{cn.PRODUCE_FAILURES.name}` by error; the partition's leader in `{cn.BROKER_PARTITIONS_LED.name}` "
                "and on the cluster dashboard.",
                "Fix what the errors name (offline partition: bring its brokers back; authorization: grant the "
                "exporter's principal Write/Read on the canary topic). A canary that cannot write is a finding about "
                "the cluster, not only about the exporter.",
            ),
            "dashboard_vars": (),
        },
    ]


def dashboard_row() -> tuple[str, tuple[PanelDef, ...]]:
    return (
        "Durability canary",
        (
            PanelDef(
                "Acknowledged records lost",
                """Canary records the cluster acknowledged (acks=all) that are gone afterwards, by partition and the
                broker that acknowledged them. Good: always 0. Anything else: acknowledged data was lost — see the
                KafkaCanaryAcknowledgedRecordsLost runbook. Empty when the canary is off.""",
                "short",
                (
                    Query(
                        f"sum by (partition, broker, reason) ({q(cn.RECORDS_LOST)})",
                        "p{{partition}} broker {{broker}} {{reason}}",
                    ),
                ),
                thresholds=((None, "green"), (1.0, "red")),
            ),
            PanelDef(
                "Writes refused / failed",
                """Canary write failures per second by leader broker and error: the refusal probe's (the leader's
                first answer) and the idempotent producer's (mostly _MSG_TIMED_OUT). NOT_ENOUGH_REPLICAS*: acks=all
                writes refused (ISR below min ISR). REQUEST_TIMED_OUT/_MSG_TIMED_OUT: not replicated in time (a
                follower gone while still in the ISR, e.g. the controller quorum lost too). _TRANSPORT: leader
                unreachable. Good: none.""",
                "cps",
                (
                    Query(
                        f"sum by (broker, error) (rate({q(cn.PROBE_FAILURES)}[$__rate_interval]))",
                        "probe broker {{broker}} {{error}}",
                    ),
                    Query(
                        f"sum by (broker, error) (rate({q(cn.PRODUCE_FAILURES)}[$__rate_interval]))",
                        "producer broker {{broker}} {{error}}",
                    ),
                ),
            ),
            PanelDef(
                "End-to-end latency p99",
                """99th percentile of send-to-read time of canary records, per leader broker, next to the
                produce-ack p99. Good: flat and low; a broker far above the others is slow.""",
                "s",
                (
                    Query(
                        f"histogram_quantile(0.99, sum by (broker, le) (rate({q(cn.E2E_LATENCY.part('_bucket'))}[$__rate_interval])))",
                        "end-to-end broker {{broker}}",
                    ),
                    Query(
                        f"histogram_quantile(0.99, sum by (broker, le) (rate({q(cn.ACK_LATENCY.part('_bucket'))}[$__rate_interval])))",
                        "ack broker {{broker}}",
                    ),
                ),
            ),
            PanelDef(
                "Newest record age",
                f"""Seconds since the newest canary record read back was sent, per partition. Good: about one
                send interval. Growing: the canary is stuck on that partition (alert after {STUCK_AFTER} s).""",
                "s",
                (Query(f"max by (partition) ({q(cn.NEWEST_RECORD_AGE)})", "p{{partition}}"),),
            ),
            PanelDef(
                "Canary partitions led per broker",
                """How many canary partitions each broker leads. Good: 1 each. 0: that broker's writes are not
                probed (it is down, or leadership moved: run a preferred leader election).""",
                "short",
                (Query(f"max by (broker) ({q(cn.BROKER_PARTITIONS_LED)})", "broker {{broker}}"),),
            ),
            PanelDef(
                "Out of order / duplicated",
                """Canary records read back out of sequence or twice (same session). Good: 0; the idempotent
                producer guarantees it, so anything else is a broker or client bug worth a report.""",
                "short",
                (
                    Query(f"sum({q(cn.RECORDS_OUT_OF_ORDER)})", "out of order"),
                    Query(f"sum({q(cn.RECORDS_DUPLICATED)})", "duplicated"),
                ),
            ),
        ),
    )
