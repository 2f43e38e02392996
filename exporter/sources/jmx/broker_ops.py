"""The broker's operational MBeans (issue 17): request latency, queues, purgatory, log flush,
log size, replica fetcher, KRaft quorum, controller event queue, group coordinator.

:func:`ops_patterns` says what to read (few JMX calls: named MBeans are read directly, one
``getAttributes`` per MBean with only the attributes used); :func:`parse_ops_row` fills a
:class:`BrokerOps` from the rows, called by :func:`~exporter.sources.jmx.broker_records.parse_broker`
for every row.  Pure: tested on the recorded dump ``tests/fixtures/jmx-broker1-ops.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.sources.jmx.rows import JmxRow, Values

#: Yammer histogram attributes -> quantile label (Kafka's biased reservoir, ~ the last 5 minutes)
QUANTILES = {"50thPercentile": "0.5", "99thPercentile": "0.99", "999thPercentile": "0.999"}
_HISTOGRAM_ATTRS = ",".join(("Count", "Mean", *QUANTILES))
#: RequestMetrics histograms: MBean name -> phase label (None: the total)
REQUEST_TIMES: dict[str, str | None] = {
    "TotalTimeMs": None,
    "RequestQueueTimeMs": "request_queue",
    "LocalTimeMs": "local",
    "RemoteTimeMs": "remote",
    "ResponseQueueTimeMs": "response_queue",
    "ResponseSendTimeMs": "response_send",
}
PURGATORIES = ("Produce", "Fetch")
#: raft-metrics attributes read (current-state is a string, the others numbers)
RAFT_ATTRS = (
    "current-state",
    "current-leader",
    "current-epoch",
    "high-watermark",
    "commit-latency-avg",
    "commit-latency-max",
    "append-records-rate",
    "fetch-records-rate",
)
#: the values of raft-metrics current-state (KafkaRaftMetrics)
RAFT_STATES = ("leader", "candidate", "voted", "follower", "unattached", "observer")
#: GroupMetadataManager gauges (classic-protocol groups per state)
CLASSIC_GROUP_STATES = {
    "NumGroupsPreparingRebalance": "PreparingRebalance",
    "NumGroupsCompletingRebalance": "CompletingRebalance",
    "NumGroupsStable": "Stable",
    "NumGroupsEmpty": "Empty",
    "NumGroupsDead": "Dead",
}


def ops_patterns(request_types: tuple[str, ...], request_phases: bool, log_size: bool) -> list[str]:
    """The MBean patterns of the operational set (appended to the broker's batch)."""
    names = [n for n, phase in REQUEST_TIMES.items() if phase is None or request_phases]
    found = [
        f"kafka.network:type=RequestMetrics,name={n},request={r}/{_HISTOGRAM_ATTRS}" for r in request_types for n in names
    ]
    # errors are counted per API: FetchConsumer and FetchFollower are both request=Fetch there
    apis = dict.fromkeys("Fetch" if r in ("FetchConsumer", "FetchFollower") else r for r in request_types)
    # one queryNames for every API's error meters (kept: these APIs; error=NONE counts successes:
    # not read), asked every cycle since a meter appears with its error code's first response
    if apis:
        found.append(f"kafka.network:type=RequestMetrics,name=ErrorsPerSec,request={'|'.join(apis)},error=!NONE/Count")
    found += [
        "kafka.network:type=RequestChannel,name=RequestQueueSize/Value",
        "kafka.network:type=RequestChannel,name=ResponseQueueSize/Value",
        *(f"kafka.server:type=DelayedOperationPurgatory,name=PurgatorySize,delayedOperation={p}/Value" for p in PURGATORIES),
        *(f"kafka.server:type=DelayedOperationPurgatory,name=NumDelayedOperations,delayedOperation={p}/Value" for p in PURGATORIES),
        f"kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs/{_HISTOGRAM_ATTRS}",
        "kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica/Value",
        "kafka.server:type=ReplicaFetcherManager,name=FailedPartitionsCount,clientId=Replica/Value",
        f"kafka.server:type=raft-metrics/{','.join(RAFT_ATTRS)}",
        f"kafka.controller:type=ControllerEventManager,name=EventQueueTimeMs/{_HISTOGRAM_ATTRS}",
        f"kafka.controller:type=ControllerEventManager,name=EventQueueProcessingTimeMs/{_HISTOGRAM_ATTRS}",
        *(f"kafka.coordinator.group:type=GroupMetadataManager,name={n}/Value" for n in CLASSIC_GROUP_STATES),
        "kafka.server:type=group-coordinator-metrics/group-completed-rebalance-count,consumer-group-rebalance-count",
        "~kafka.server:type=group-coordinator-metrics,state=*/consumer-group-count",
    ]
    if log_size:
        found += ["kafka.log:type=Log,name=Size,*/Value", "kafka.log:type=Log,name=NumLogSegments,*/Value"]
    return found


@dataclass
class Histogram:
    """A Yammer histogram or timer in seconds: ``count`` and ``sum`` since the broker started
    (``sum`` = Mean x Count: Yammer keeps the exact sum), quantiles from its reservoir."""

    count: float | None = None
    sum_seconds: float | None = None
    mean_ms: float | None = None
    #: quantile label ("0.99") -> seconds
    quantiles: dict[str, float] = field(default_factory=dict)

    def finish(self) -> None:
        if self.count is not None and self.mean_ms is not None:
            self.sum_seconds = self.count * self.mean_ms / 1000.0


@dataclass
class RaftValues:
    """``kafka.server:type=raft-metrics`` of one node (KRaft voters and observers alike)."""

    state: str | None = None
    leader: float | None = None  # current-leader, -1 when unknown
    epoch: float | None = None
    high_watermark: float | None = None  # -1 when unknown
    commit_latency_avg_seconds: float | None = None
    commit_latency_max_seconds: float | None = None
    append_records_rate: float | None = None
    fetch_records_rate: float | None = None


@dataclass
class BrokerOps:
    """What the operational MBeans of one node said this cycle (absent MBeans stay empty)."""

    #: sum kafka.log Log Size / NumLogSegments per topic (``jmx.brokers.log_size``)
    want_log_size: bool = False
    #: and emit them per topic too (``jmx.brokers.per_topic``)
    per_topic: bool = False

    #: (request, phase or None for the total) -> histogram
    requests: dict[tuple[str, str | None], Histogram] = field(default_factory=dict)
    #: (request, error name) -> ErrorsPerSec Count; error NONE (successes) is left out
    request_errors: dict[tuple[str, str], float] = field(default_factory=dict)
    request_queue_size: float | None = None
    response_queue_size: float | None = None
    #: operation (Produce, Fetch) -> PurgatorySize / NumDelayedOperations
    purgatory_size: dict[str, float] = field(default_factory=dict)
    purgatory_delayed: dict[str, float] = field(default_factory=dict)
    log_flush: Histogram | None = None
    #: topic -> bytes / segments summed over this broker's replicas (log_size only)
    log_size_bytes: dict[str, float] = field(default_factory=dict)
    log_segments: dict[str, float] = field(default_factory=dict)
    replica_max_lag: float | None = None
    replica_failed_partitions: float | None = None
    raft: RaftValues | None = None
    event_queue_time: Histogram | None = None
    event_processing_time: Histogram | None = None
    #: (protocol, state) -> groups this node coordinates
    groups: dict[tuple[str, str], float] = field(default_factory=dict)
    #: protocol -> completed rebalances (classic: group-completed-rebalance-count,
    #: consumer: consumer-group-rebalance-count)
    rebalances: dict[str, float] = field(default_factory=dict)

    def finish(self) -> None:
        for h in (*self.requests.values(), self.log_flush, self.event_queue_time, self.event_processing_time):
            if h is not None:
                h.finish()


def _histogram(h: Histogram, row: JmxRow, values: Values) -> None:
    attr = row.attribute
    if attr == "Count":
        h.count = values.num(row)
    elif attr == "Mean":
        h.mean_ms = values.num(row)
    elif attr in QUANTILES:
        seconds = values.ms(row)
        if seconds is not None:
            h.quantiles[QUANTILES[attr]] = seconds


def parse_ops_row(ops: BrokerOps, domain: str, props: Mapping[str, str], row: JmxRow, values: Values) -> bool:
    """Fill ``ops`` from one row; True if the row was one of the operational set."""
    kind, name, attr = props.get("type"), props.get("name"), row.attribute
    if domain == "kafka.network":
        if kind == "RequestMetrics" and "request" in props:
            request = props["request"]
            if name in REQUEST_TIMES:
                _histogram(ops.requests.setdefault((request, REQUEST_TIMES[name]), Histogram()), row, values)
                return True
            if name == "ErrorsPerSec" and attr == "Count" and props.get("error", "NONE") != "NONE":
                count = values.num(row)
                if count is not None:
                    ops.request_errors[(request, props["error"])] = count
                return True
            return False
        if kind == "RequestChannel" and attr == "Value" and "processor" not in props:
            if name == "RequestQueueSize":
                ops.request_queue_size = values.num(row)
                return True
            if name == "ResponseQueueSize":
                ops.response_queue_size = values.num(row)
                return True
        return False
    if domain == "kafka.server":
        if kind == "DelayedOperationPurgatory" and attr == "Value" and props.get("delayedOperation") in PURGATORIES:
            op = props["delayedOperation"]
            target = ops.purgatory_size if name == "PurgatorySize" else ops.purgatory_delayed if name == "NumDelayedOperations" else None
            if target is None:
                return False
            number = values.num(row)
            if number is not None:
                target[op] = number
            return True
        if kind == "ReplicaFetcherManager" and props.get("clientId") == "Replica" and attr == "Value":
            if name == "MaxLag":
                ops.replica_max_lag = values.num(row)
                return True
            if name == "FailedPartitionsCount":
                ops.replica_failed_partitions = values.num(row)
                return True
            return False
        if kind == "raft-metrics" and attr in RAFT_ATTRS and len(props) == 1:
            _raft(ops.raft if ops.raft is not None else _new_raft(ops), row, values)
            return True
        if kind == "group-coordinator-metrics":
            if len(props) == 1 and attr in ("group-completed-rebalance-count", "consumer-group-rebalance-count"):
                count = values.num(row)
                if count is not None:
                    ops.rebalances["classic" if attr.startswith("group-") else "consumer"] = count
                return True
            if "state" in props and "protocol" not in props and attr == "consumer-group-count":
                count = values.num(row)
                if count is not None:
                    ops.groups[("consumer", props["state"])] = count
                return True
        return False
    if domain == "kafka.log":
        if kind == "LogFlushStats" and name == "LogFlushRateAndTimeMs":
            ops.log_flush = ops.log_flush or Histogram()
            _histogram(ops.log_flush, row, values)
            return True
        if kind == "Log" and name in ("Size", "NumLogSegments") and attr == "Value" and "topic" in props and ops.want_log_size:
            number = values.num(row)
            if number is not None:
                sums = ops.log_size_bytes if name == "Size" else ops.log_segments
                sums[props["topic"]] = sums.get(props["topic"], 0.0) + number
            return False  # per-partition values may be wanted too (per_partition)
        return False
    if domain == "kafka.controller" and kind == "ControllerEventManager":
        if name == "EventQueueTimeMs":
            ops.event_queue_time = ops.event_queue_time or Histogram()
            _histogram(ops.event_queue_time, row, values)
            return True
        if name == "EventQueueProcessingTimeMs":
            ops.event_processing_time = ops.event_processing_time or Histogram()
            _histogram(ops.event_processing_time, row, values)
            return True
        return False
    if domain == "kafka.coordinator.group" and kind == "GroupMetadataManager" and name in CLASSIC_GROUP_STATES and attr == "Value":
        count = values.num(row)
        if count is not None:
            ops.groups[("classic", CLASSIC_GROUP_STATES[name])] = count
        return True
    return False


def _new_raft(ops: BrokerOps) -> RaftValues:
    ops.raft = RaftValues()
    return ops.raft


def _raft(raft: RaftValues, row: JmxRow, values: Values) -> None:
    attr = row.attribute
    if attr == "current-state":
        raft.state = row.value if isinstance(row.value, str) and row.value else None
    elif attr == "current-leader":
        raft.leader = values.num(row)
    elif attr == "current-epoch":
        raft.epoch = values.num(row)
    elif attr == "high-watermark":
        raft.high_watermark = values.num(row)
    elif attr == "commit-latency-avg":
        raft.commit_latency_avg_seconds = values.ms(row)
    elif attr == "commit-latency-max":
        raft.commit_latency_max_seconds = values.ms(row)
    elif attr == "append-records-rate":
        raft.append_records_rate = values.num(row)
    elif attr == "fetch-records-rate":
        raft.fetch_records_rate = values.num(row)
