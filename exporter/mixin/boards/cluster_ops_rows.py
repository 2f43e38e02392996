"""The cluster dashboard's rows for the broker's operational set (issue 17): request latency,
queues and purgatory; log flush, log directories and sizes; the KRaft quorum and the group
coordinator.  One builder per row, as cluster_brokers_row."""

from __future__ import annotations

from exporter.metrics import MetricSpec
from exporter.mixin.boards.common import RATE
from exporter.mixin.panels import PanelDef, Query, q
from exporter.sources.jmx import broker_ops_specs as ops
from exporter.sources.jmx import broker_specs as bj

P99 = 'quantile="0.99"'
PRODUCE = 'request="Produce"'


def _part(spec: MetricSpec, suffix: str, *matchers: str) -> str:
    """The ``_sum`` or ``_count`` series of a summary spec."""
    return q(spec, *matchers).replace(spec.name, spec.name + suffix, 1)


def _mean(spec: MetricSpec, *matchers: str) -> str:
    """Mean over the rate interval of a summary: rate(_sum) / rate(_count)."""
    return f"rate({_part(spec, '_sum', *matchers)}{RATE}) / rate({_part(spec, '_count', *matchers)}{RATE})"


def requests_row() -> tuple[PanelDef, ...]:
    def p99(request: str) -> PanelDef:
        this = f'request="{request}"'
        return PanelDef(
            f"{request} p99 latency per broker",
            f"""99th percentile of the total time of {request} requests on each broker (RequestMetrics
            TotalTimeMs, Kafka's reservoir of about the last 5 minutes), with the mean over the panel's rate
            interval dashed. Produce with acks=all includes the followers' replication (remote phase);
            FetchConsumer/FetchFollower include the wait for new data (fetch.max.wait.ms, 500 ms by default),
            so a high fetch p99 on an idle topic is normal.""",
            "s",
            (
                Query(q(ops.REQUEST_LATENCY, this, P99), "p99 {{broker_id}}"),
                Query(_mean(ops.REQUEST_LATENCY, this), "mean {{broker_id}}"),
            ),
            width=8,
        )

    return (
        p99("Produce"),
        p99("FetchConsumer"),
        p99("FetchFollower"),
        PanelDef(
            "Produce p99 per phase",
            """Where Produce time goes (p99 per phase, all brokers): request_queue = waiting for a handler
            thread (handlers saturated), local = the leader's append, remote = waiting for followers
            (acks=all), response_queue / response_send = the network threads.""",
            "s",
            (Query(f"max by (phase) ({q(ops.REQUEST_PHASE_LATENCY, PRODUCE, P99)})", "{{phase}}"),),
            width=8,
        ),
        PanelDef(
            "Request and response queues",
            """Requests waiting for a request handler thread and responses waiting for a network thread,
            per broker (RequestChannel). Good: 0 most of the time. Persistently above 0: add num.io.threads
            (requests) or num.network.threads (responses), or brokers.""",
            "short",
            (
                Query(q(ops.REQUEST_QUEUE), "requests {{broker_id}}"),
                Query(q(ops.RESPONSE_QUEUE), "responses {{broker_id}}"),
            ),
            width=8,
        ),
        PanelDef(
            "Purgatory (Produce / Fetch)",
            """Requests waiting in each broker's purgatory: Produce = acks=all writes waiting for the
            followers (growing: replication is slow), Fetch = fetches waiting for data or fetch.max.wait.ms
            (large and steady is normal with many idle consumers).""",
            "short",
            (Query(q(ops.PURGATORY_DELAYED), "{{operation}} {{broker_id}}"),),
            width=8,
        ),
        PanelDef(
            "Request errors per second",
            """Responses with an error code per request type and error, all brokers (RequestMetrics
            ErrorsPerSec, NONE left out). NOT_ENOUGH_REPLICAS on Produce: acks=all writes refused (ISR below
            min.insync.replicas); NOT_LEADER_OR_FOLLOWER: clients catching up after a leader change.""",
            "cps",
            (Query(f"sum by (request, error) (rate({q(ops.REQUEST_ERRORS)}{RATE})) > 0", "{{request}} {{error}}"),),
            width=24,
        ),
    )


def storage_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Log flush time (mean, p99)",
            """Time of the fsyncs of log segments per broker (LogFlushStats): mean over the rate interval and
            Kafka's p99. Kafka acknowledges
            writes from the page cache and flushes later: a low flush rate is normal and says nothing about
            lost data; durability comes from replication (see the HELP of the metrics). Slow flushes (tens
            of ms and more): a slow or saturated disk.""",
            "s",
            (
                Query(_mean(ops.LOG_FLUSH_LATENCY), "mean {{broker_id}}"),
                Query(q(ops.LOG_FLUSH_LATENCY, P99), "p99 {{broker_id}}"),
            ),
            width=8,
        ),
        PanelDef(
            "Offline log directories",
            """Log directories each broker took offline after an I/O error (LogManager
            OfflineLogDirectoryCount). Good: 0. Above 0: a disk failed; its replicas are offline
            (KafkaLogDirectoryOffline).""",
            "short",
            (Query(q(bj.OFFLINE_LOG_DIRECTORIES), "{{broker_id}}"),),
            width=8,
            thresholds=((None, "green"), (1, "red")),
        ),
        PanelDef(
            "Log size per broker",
            """Bytes on disk of all replicas on each broker (needs jmx.brokers.log_size: it reads every
            partition's Log MBeans). Uneven sizes: partitions are not balanced across brokers.""",
            "bytes",
            (Query(q(ops.BROKER_LOG_SIZE), "{{broker_id}}"),),
            width=8,
        ),
        PanelDef(
            "Replica fetcher: max lag and failed partitions",
            """Largest lag in records of any partition each broker follows (ReplicaFetcherManager MaxLag)
            and partitions its fetchers gave up on after an error (FailedPartitionsCount). Failed above 0
            stays until the broker restarts or the cause is fixed.""",
            "short",
            (
                Query(q(ops.REPLICA_MAX_LAG), "max lag {{broker_id}}"),
                Query(q(ops.REPLICA_FAILED), "failed {{broker_id}}"),
            ),
            width=12,
        ),
        PanelDef(
            "Groups per state (coordinators)",
            """Consumer groups per protocol and state, summed over the coordinating brokers; and completed
            rebalances per minute. Groups stuck in PreparingRebalance / CompletingRebalance (classic) or
            Assigning / Reconciling (consumer) do not consume.""",
            "short",
            (
                Query(f"sum by (protocol, state) ({q(ops.COORDINATOR_GROUPS)}) > 0", "{{protocol}} {{state}}"),
                Query(f"sum by (protocol) (rate({q(ops.COORDINATOR_REBALANCES)}{RATE})) * 60", "rebalances/min {{protocol}}"),
            ),
            width=12,
        ),
    )


def quorum_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "KRaft quorum state per node",
            """Each node's state in the KRaft metadata quorum (raft-metrics current-state): exactly one
            leader; voters are followers, brokers that are not voters observers. candidate / voted /
            unattached: an election is running or the node knows no leader (KafkaKRaftQuorumNoLeader).""",
            "none",
            (Query(f"{q(ops.KRAFT_STATE)} == 1", "{{broker_id}} {{state}}", instant=True),),
            kind="table",
            width=8,
        ),
        PanelDef(
            "KRaft leader and epoch",
            """The quorum leader as each node sees it (-1: none) and the epoch, which rises with each election:
            a climbing epoch means the controllers keep re-electing (network, GC pauses, overloaded disk).""",
            "short",
            (
                Query(q(ops.KRAFT_LEADER), "leader seen by {{broker_id}}"),
                Query(q(ops.KRAFT_EPOCH), "epoch {{broker_id}}"),
            ),
            width=8,
        ),
        PanelDef(
            "KRaft commit latency",
            """Mean and max time for a metadata record to be committed by the quorum, over Kafka's metrics
            window (reported by the quorum leader). Seconds: the controllers' disks or network are slow.""",
            "s",
            (
                Query(q(ops.KRAFT_COMMIT_LATENCY_AVG), "avg {{broker_id}}"),
                Query(q(ops.KRAFT_COMMIT_LATENCY_MAX), "max {{broker_id}}"),
            ),
            width=8,
        ),
        PanelDef(
            "Controller event queue p99",
            """Time controller events wait in the queue and take to process (ControllerEventManager p99,
            each controller node). Rising queue time: the active controller is backlogged.""",
            "s",
            (
                # per node (each controller's own queue); max by node, as every controller_ family
                Query(f"max by (broker_id) ({q(ops.EVENT_QUEUE_LATENCY, P99)})", "queue {{broker_id}}"),
                Query(f"max by (broker_id) ({q(ops.EVENT_PROCESSING_LATENCY, P99)})", "processing {{broker_id}}"),
            ),
            width=12,
        ),
        PanelDef(
            "Metadata records appended / fetched per second",
            "Metadata records appended to the KRaft log (leader) and fetched from it (followers, observers), per node.",
            "short",
            (
                Query(q(ops.KRAFT_APPEND_RATE), "append {{broker_id}}"),
                Query(q(ops.KRAFT_FETCH_RATE), "fetch {{broker_id}}"),
            ),
            width=12,
        ),
    )
