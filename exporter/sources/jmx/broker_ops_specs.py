"""Specs (the catalogue's part) and emission of the broker's operational set (issue 17):
request latency, queues, purgatory, log flush, log size, replica fetcher, KRaft quorum,
controller event queue and group coordinator.  See docs/jmx.md for why latency percentiles
are gauges with a ``quantile`` label.
"""

from __future__ import annotations

from exporter.metrics import SUMMARY_COUNT, SUMMARY_SUM, MetricSpec, Samples, metric
from exporter.sources.jmx.broker_ops import RAFT_STATES, BrokerOps, Histogram

SRC = "broker_jmx"
B = ("broker_id",)
BR = ("broker_id", "request")
BQ = ("broker_id", "quantile")

_SLOW = """Read every jmx.brokers.slow_every cycles (default 4; 1 = every cycle), the last value
exported in between."""
_QUANTILE = """A summary: quantile 0.5, 0.99 and 0.999 of Kafka's own reservoir (exponentially decaying,
about the last 5 minutes; cannot be averaged or summed across brokers: take max()), _count and
_sum (Mean x Count, exact) since the broker started: rate(_sum) / rate(_count) is the mean over
any window."""

REQUEST_LATENCY = metric(
    "kafka_insight_broker_request_latency_seconds",
    "summary",
    f"""Total time of requests of this type on this broker, from receipt to the last byte of the
    response sent (kafka.network:type=RequestMetrics,name=TotalTimeMs,request=<type>); _count is the
    number of requests of the type completed. {_QUANTILE}
    A Produce p99 far above its usual value: slow disks, replication (acks=all waits for
    followers: see the remote phase) or saturated request handlers.""",
    ("broker_id", "request", "quantile"),
    unit="seconds",
    source=SRC,
)
REQUEST_PHASE_LATENCY = metric(
    "kafka_insight_broker_request_phase_latency_seconds",
    "summary",
    f"""Time requests of this type spent in one phase on this broker
    (kafka.network:type=RequestMetrics,name=<phase>TimeMs,request=<type>): request_queue (waiting
    for a request handler: handlers saturated), local (the leader's own work, e.g. the disk
    append), remote (waiting for others: followers for acks=all produce, new data for fetches
    with fetch.max.wait.ms), response_queue (waiting for a network thread), response_send.
    {_QUANTILE} {_SLOW}""",
    ("broker_id", "request", "phase", "quantile"),
    unit="seconds",
    source=SRC,
)
REQUEST_ERRORS = metric(
    "kafka_insight_broker_request_errors_total",
    "counter",
    """Responses of this request type with this error code from this broker
    (kafka.network:type=RequestMetrics,name=ErrorsPerSec,request=<type>,error=<error> Count;
    error NONE, the successes, left out). E.g. NOT_ENOUGH_REPLICAS on Produce: acks=all writes
    refused because an ISR is below min.insync.replicas.""",
    ("broker_id", "request", "error"),
    source=SRC,
)
REQUEST_QUEUE = metric(
    "kafka_insight_broker_request_queue_size",
    "gauge",
    """Requests received and waiting for a request handler thread (kafka.network:type=RequestChannel,
    name=RequestQueueSize). Persistently above 0: the handlers (num.io.threads) are saturated;
    at queued.max.requests the network threads stop reading.""",
    B,
    source=SRC,
)
RESPONSE_QUEUE = metric(
    "kafka_insight_broker_response_queue_size",
    "gauge",
    """Responses waiting for a network thread to send them (kafka.network:type=RequestChannel,
    name=ResponseQueueSize). Persistently above 0: the network threads are saturated.""",
    B,
    source=SRC,
)
PURGATORY_SIZE = metric(
    "kafka_insight_broker_purgatory_size",
    "gauge",
    """Requests parked in this broker's purgatory for the operation (Produce: acks=all writes
    waiting for the followers; Fetch: fetches waiting for fetch.min.bytes or fetch.max.wait.ms),
    including completed ones not yet purged (kafka.server:type=DelayedOperationPurgatory,
    name=PurgatorySize,delayedOperation=<operation>). A growing Produce purgatory: followers
    are slow to replicate.""",
    ("broker_id", "operation"),
    source=SRC,
)
PURGATORY_DELAYED = metric(
    "kafka_insight_broker_purgatory_delayed_operations",
    "gauge",
    """Requests still waiting in this broker's purgatory for the operation
    (DelayedOperationPurgatory NumDelayedOperations,delayedOperation=<operation>).""",
    ("broker_id", "operation"),
    source=SRC,
)
_FLUSH_PROOF = """What it proves: how often and how slowly this broker fsyncs log segments. What it
does not prove: that any acknowledged record was on disk. Kafka acknowledges writes (even
acks=all) once they are in the page cache of the ISR's brokers and flushes later (when a
segment rolls, or per log.flush.interval.*); durability comes from replication, not fsync. A
low rate is normal and no data-loss signal; a simultaneous crash of every ISR broker (power
loss) can lose unflushed acknowledged records whatever this says."""
LOG_FLUSH_LATENCY = metric(
    "kafka_insight_broker_log_flush_latency_seconds",
    "summary",
    f"""Time of one log flush (fsync of a log's segments) on this broker
    (kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs); _count is the number of flushes.
    {_QUANTILE} {_FLUSH_PROOF}""",
    BQ,
    unit="seconds",
    source=SRC,
)
_LOG_SIZE_NOTE = f"""Needs jmx.brokers.log_size (it reads every partition's kafka.log Log MBeans:
one JMX call per partition replica). {_SLOW}"""
BROKER_LOG_SIZE = metric(
    "kafka_insight_broker_logs_size_bytes",
    "gauge",
    f"""Bytes on disk of all partition replicas on this broker (sum of kafka.log:type=Log,name=Size
    over its partitions). {_LOG_SIZE_NOTE}""",
    B,
    unit="bytes",
    source=SRC,
)
BROKER_LOG_SEGMENTS = metric(
    "kafka_insight_broker_log_segments",
    "gauge",
    f"""Log segments of all partition replicas on this broker (sum of kafka.log:type=Log,
    name=NumLogSegments); each is open files and memory maps. {_LOG_SIZE_NOTE}""",
    B,
    source=SRC,
)
TOPIC_LOG_SIZE = metric(
    "kafka_insight_broker_topic_logs_size_bytes",
    "gauge",
    f"""Bytes on disk of the topic's replicas on this broker (sum of kafka.log Log Size over the
    topic's partitions here). {_LOG_SIZE_NOTE} Per topic only with jmx.brokers.per_topic too.""",
    ("broker_id", "topic"),
    unit="bytes",
    source=SRC,
)
REPLICA_MAX_LAG = metric(
    "kafka_insight_broker_replica_fetcher_max_lag",
    "gauge",
    """Largest lag, in records (offsets), of any partition this broker follows behind its
    leader (kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica). Growing:
    this broker cannot keep up and will drop out of ISRs.""",
    B,
    source=SRC,
)
REPLICA_FAILED = metric(
    "kafka_insight_broker_replica_fetcher_failed_partitions",
    "gauge",
    """Partitions this broker stopped replicating after an error, e.g. a storage error or an
    unexpected offset (ReplicaFetcherManager FailedPartitionsCount,clientId=Replica). Above
    0: those replicas stay out of sync until the broker is restarted or the cause fixed.""",
    B,
    source=SRC,
)
_RAFT = "kafka.server:type=raft-metrics"
KRAFT_STATE = metric(
    "kafka_insight_kraft_state",
    "gauge",
    f"""1 for this node's current KRaft quorum state, 0 for the others ({_RAFT} current-state):
    leader (the active controller), follower, candidate or voted (an election is running),
    unattached (no known leader), observer (a broker that is not a voter).""",
    ("broker_id", "state"),
    source=SRC,
)
KRAFT_LEADER = metric(
    "kafka_insight_kraft_leader_id",
    "gauge",
    f"""Node id of the KRaft quorum leader as this node sees it, -1 when it knows none
    ({_RAFT} current-leader). -1 on every node: the quorum has no leader (no metadata
    changes, no leader elections, no new topics).""",
    B,
    source=SRC,
)
KRAFT_EPOCH = metric(
    "kafka_insight_kraft_epoch",
    "gauge",
    f"""Quorum epoch as this node sees it ({_RAFT} current-epoch); it rises with every
    election: steady increases mean the controllers keep re-electing.""",
    B,
    source=SRC,
)
KRAFT_HIGH_WATERMARK = metric(
    "kafka_insight_kraft_high_watermark",
    "gauge",
    f"""Committed offset of the cluster metadata log as this node knows it ({_RAFT}
    high-watermark; -1 unknown). A node whose value stays behind the leader's is lagging on
    metadata.""",
    B,
    source=SRC,
)
KRAFT_COMMIT_LATENCY_AVG = metric(
    "kafka_insight_kraft_commit_latency_avg_seconds",
    "gauge",
    f"""Average time from appending a metadata record to its commit by the quorum, over the
    metrics window ({_RAFT} commit-latency-avg; reported by the quorum leader).""",
    B,
    unit="seconds",
    source=SRC,
)
KRAFT_COMMIT_LATENCY_MAX = metric(
    "kafka_insight_kraft_commit_latency_max_seconds",
    "gauge",
    f"Longest metadata commit in the metrics window ({_RAFT} commit-latency-max).",
    B,
    unit="seconds",
    source=SRC,
)
KRAFT_APPEND_RATE = metric(
    "kafka_insight_kraft_append_records_per_second",
    "gauge",
    f"""Metadata records appended to the log per second, windowed by Kafka ({_RAFT}
    append-records-rate; Kafka exposes no cumulative count for it).""",
    B,
    source=SRC,
)
KRAFT_FETCH_RATE = metric(
    "kafka_insight_kraft_fetch_records_per_second",
    "gauge",
    f"""Metadata records fetched from the leader per second, windowed by Kafka ({_RAFT}
    fetch-records-rate; followers and observers).""",
    B,
    source=SRC,
)
EVENT_QUEUE_LATENCY = metric(
    "kafka_insight_controller_event_queue_latency_seconds",
    "summary",
    f"""Time controller events waited in the controller's event queue
    (kafka.controller:type=ControllerEventManager,name=EventQueueTimeMs). {_QUANTILE} High:
    the controller is backlogged (metadata changes, broker heartbeats answered late).""",
    BQ,
    unit="seconds",
    source=SRC,
)
EVENT_PROCESSING_LATENCY = metric(
    "kafka_insight_controller_event_processing_latency_seconds",
    "summary",
    f"""Time the controller took to process one event
    (kafka.controller:type=ControllerEventManager,name=EventQueueProcessingTimeMs); _count is the
    number of events processed. {_QUANTILE}""",
    BQ,
    unit="seconds",
    source=SRC,
)
COORDINATOR_GROUPS = metric(
    "kafka_insight_broker_coordinator_groups",
    "gauge",
    f"""Consumer groups this broker coordinates, per protocol and state: classic from
    kafka.coordinator.group:type=GroupMetadataManager,name=NumGroups<State> (PreparingRebalance,
    CompletingRebalance, Stable, Empty, Dead), consumer (KIP-848) from
    kafka.server:type=group-coordinator-metrics,state=<state> consumer-group-count. Sum over
    brokers for the cluster: each group has one coordinator. {_SLOW}""",
    ("broker_id", "protocol", "state"),
    source=SRC,
)
COORDINATOR_REBALANCES = metric(
    "kafka_insight_broker_coordinator_rebalances_total",
    "counter",
    """Rebalances completed by the groups this broker coordinates (kafka.server:type=
    group-coordinator-metrics group-completed-rebalance-count for classic groups,
    consumer-group-rebalance-count for consumer groups). A steady rate: members keep
    joining and leaving (crash loops, max.poll.interval.ms exceeded).""",
    ("broker_id", "protocol"),
    source=SRC,
)


def _summary(out: Samples, spec: MetricSpec, h: Histogram | None, *labels: str) -> None:
    if h is None:
        return
    for q, seconds in h.quantiles.items():
        out.add(spec, seconds, *labels, q)
    if h.sum_seconds is not None:
        out.add(spec, h.sum_seconds, *labels, SUMMARY_SUM)
    if h.count is not None:
        out.add(spec, h.count, *labels, SUMMARY_COUNT)


def emit_ops(ops: BrokerOps, bid: str, out: Samples) -> None:
    """BrokerOps -> samples.  Pure: tested on the recorded dump."""
    for (request, phase), h in sorted(ops.requests.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if phase is None:
            _summary(out, REQUEST_LATENCY, h, bid, request)
        else:
            _summary(out, REQUEST_PHASE_LATENCY, h, bid, request, phase)
    for (request, error), count in sorted(ops.request_errors.items()):
        out.add(REQUEST_ERRORS, count, bid, request, error)
    if ops.request_queue_size is not None:
        out.add(REQUEST_QUEUE, ops.request_queue_size, bid)
    if ops.response_queue_size is not None:
        out.add(RESPONSE_QUEUE, ops.response_queue_size, bid)
    for op, size in sorted(ops.purgatory_size.items()):
        out.add(PURGATORY_SIZE, size, bid, op)
    for op, size in sorted(ops.purgatory_delayed.items()):
        out.add(PURGATORY_DELAYED, size, bid, op)
    _summary(out, LOG_FLUSH_LATENCY, ops.log_flush, bid)
    if ops.want_log_size and ops.log_size_bytes:
        out.add(BROKER_LOG_SIZE, sum(ops.log_size_bytes.values()), bid)
        out.add(BROKER_LOG_SEGMENTS, sum(ops.log_segments.values()), bid)
        if ops.per_topic:
            for topic, size in sorted(ops.log_size_bytes.items()):
                out.add(TOPIC_LOG_SIZE, size, bid, topic)
    if ops.replica_max_lag is not None:
        out.add(REPLICA_MAX_LAG, ops.replica_max_lag, bid)
    if ops.replica_failed_partitions is not None:
        out.add(REPLICA_FAILED, ops.replica_failed_partitions, bid)
    raft = ops.raft
    if raft is not None:
        if raft.state is not None:
            for state in (*RAFT_STATES, *(() if raft.state in RAFT_STATES else (raft.state,))):
                out.add(KRAFT_STATE, 1 if state == raft.state else 0, bid, state)
        for spec, value in (
            (KRAFT_LEADER, raft.leader),
            (KRAFT_EPOCH, raft.epoch),
            (KRAFT_HIGH_WATERMARK, raft.high_watermark),
            (KRAFT_COMMIT_LATENCY_AVG, raft.commit_latency_avg_seconds),
            (KRAFT_COMMIT_LATENCY_MAX, raft.commit_latency_max_seconds),
            (KRAFT_APPEND_RATE, raft.append_records_rate),
            (KRAFT_FETCH_RATE, raft.fetch_records_rate),
        ):
            if value is not None:
                out.add(spec, value, bid)
    _summary(out, EVENT_QUEUE_LATENCY, ops.event_queue_time, bid)
    _summary(out, EVENT_PROCESSING_LATENCY, ops.event_processing_time, bid)
    for (protocol, state), count in sorted(ops.groups.items()):
        out.add(COORDINATOR_GROUPS, count, bid, protocol, state)
    for protocol, count in sorted(ops.rebalances.items()):
        out.add(COORDINATOR_REBALANCES, count, bid, protocol)
