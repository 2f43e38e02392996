"""Java client JMX records (the ``client_jmx`` payload) and :func:`parse_client_target`, their pure parser."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from exporter.sources.jmx.rows import JmxRow, Values, is_id, parse_object_name

ClientKind = Literal["producer", "consumer"]

#: the client settings an operator may declare per client target (used by interpretation P2/P5)
DECLARABLE_SETTINGS = (
    "batch.size",
    "linger.ms",
    "acks",
    "enable.idempotence",
    "max.in.flight.requests.per.connection",
    "retries",
    "compression.type",
    "transactional.id",
)


@dataclass
class ProducerTopic:
    """``kafka.producer:type=producer-topic-metrics,client-id=..,topic=..``."""

    #: ``compression-rate``: compressed/uncompressed size of this topic's batches (window
    #: average); 1.0 = not compressed, lower is better
    compression_rate: float | None = None
    byte_total: float | None = None  # byte-total (bytes sent, compressed)
    record_send_total: float | None = None
    record_retry_total: float | None = None
    record_error_total: float | None = None


@dataclass
class ProducerMetrics:
    """``kafka.producer:type=producer-metrics,client-id=..`` (+ per-topic metrics).

    Averages (``*_avg``, ``*_max``) are over the client's metrics window (default 2 x 30 s)
    and are None (NaN in JMX) when nothing was sent in that window.
    """

    #: ``compression-rate-avg``: average compressed/uncompressed size per batch; 1.0 = no
    #: compression, lower is better (savings = 1 - value)
    compression_rate_avg: float | None = None
    #: ``batch-size-avg|max``: bytes per partition per request *after compression*
    batch_size_avg: float | None = None
    batch_size_max: float | None = None
    #: ``record-size-avg|max``: per batch the *largest* record's estimated size, averaged
    #: over batches -- not the mean record size
    record_size_avg: float | None = None
    record_size_max: float | None = None
    records_per_request_avg: float | None = None
    record_queue_time_avg_seconds: float | None = None
    record_queue_time_max_seconds: float | None = None
    request_latency_avg_seconds: float | None = None
    request_latency_max_seconds: float | None = None
    produce_throttle_time_avg_seconds: float | None = None
    record_send_total: float | None = None
    record_retry_total: float | None = None
    record_error_total: float | None = None
    request_total: float | None = None
    outgoing_byte_total: float | None = None
    buffer_available_bytes: float | None = None
    buffer_total_bytes: float | None = None
    buffer_exhausted_total: float | None = None
    requests_in_flight: float | None = None
    waiting_threads: float | None = None
    topics: dict[str, ProducerTopic] = field(default_factory=dict)


@dataclass
class ConsumerPartition:
    """``consumer-fetch-manager-metrics,client-id,topic,partition``: current lag of one assigned partition."""

    records_lag: float | None = None  # records-lag: messages behind the log end (high watermark / LSO)
    records_lead: float | None = None  # records-lead: messages ahead of the log start (near 0 = about to lose data)


@dataclass
class ConsumerTopic:
    records_consumed_total: float | None = None
    bytes_consumed_total: float | None = None


@dataclass
class ConsumerMetrics:
    """``kafka.consumer:type=consumer-fetch-manager-metrics|consumer-coordinator-metrics``."""

    #: ``records-lag-max``: the maximum lag over the metrics window (2 x 30 s), NOT the current
    #: lag (a caught-up consumer can show thousands); use ``partitions`` for the current lag
    records_lag_max: float | None = None
    records_lead_min: float | None = None
    records_consumed_total: float | None = None
    bytes_consumed_total: float | None = None
    fetch_total: float | None = None
    fetch_latency_avg_seconds: float | None = None
    fetch_latency_max_seconds: float | None = None
    fetch_throttle_time_avg_seconds: float | None = None
    fetch_size_avg: float | None = None
    records_per_request_avg: float | None = None
    #: coordinator (group membership); None for assign-only consumers
    rebalance_total: float | None = None
    failed_rebalance_total: float | None = None
    last_rebalance_age_seconds: float | None = None  # last-rebalance-seconds-ago
    rebalance_latency_avg_seconds: float | None = None
    commit_total: float | None = None
    commit_latency_avg_seconds: float | None = None
    commit_latency_max_seconds: float | None = None
    assigned_partitions: float | None = None
    #: ``consumer-metrics`` last-poll-seconds-ago: a stuck application stops polling
    last_poll_age_seconds: float | None = None
    topics: dict[str, ConsumerTopic] = field(default_factory=dict)
    partitions: dict[tuple[str, int], ConsumerPartition] = field(default_factory=dict)


@dataclass
class ClientJmx:
    """One Java producer or consumer (a ``client-id``) inside a JMX target."""

    target: str
    kind: ClientKind
    client_id: str
    #: app-info ``version`` (e.g. ``4.0.0``) and ``commit-id``; None if the MBean is missing
    version: str | None = None
    commit_id: str | None = None
    #: the client settings the operator declared for this target in the config (strings as
    #: written, keys from :data:`DECLARABLE_SETTINGS`); JMX does not expose a client's config
    declared: dict[str, str] = field(default_factory=dict)
    producer: ProducerMetrics | None = None
    consumer: ConsumerMetrics | None = None


@dataclass
class ClientJmxTarget:
    """One Java client JVM's JMX in one cycle (the ``client_jmx`` payload)."""

    target: str
    clients: list[ClientJmx] = field(default_factory=list)
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


def client_records(payloads: Iterable[ClientJmxTarget]) -> list[ClientJmx]:
    """All clients of ``snapshot.client_jmx``."""
    return [c for p in payloads for c in p.clients]


# (attribute, field, unit) with unit "ms" converted to seconds
_PRODUCER_ATTRS = {
    "compression-rate-avg": ("compression_rate_avg", ""),
    "batch-size-avg": ("batch_size_avg", ""),
    "batch-size-max": ("batch_size_max", ""),
    "record-size-avg": ("record_size_avg", ""),
    "record-size-max": ("record_size_max", ""),
    "records-per-request-avg": ("records_per_request_avg", ""),
    "record-queue-time-avg": ("record_queue_time_avg_seconds", "ms"),
    "record-queue-time-max": ("record_queue_time_max_seconds", "ms"),
    "request-latency-avg": ("request_latency_avg_seconds", "ms"),
    "request-latency-max": ("request_latency_max_seconds", "ms"),
    "produce-throttle-time-avg": ("produce_throttle_time_avg_seconds", "ms"),
    "record-send-total": ("record_send_total", ""),
    "record-retry-total": ("record_retry_total", ""),
    "record-error-total": ("record_error_total", ""),
    "request-total": ("request_total", ""),
    "outgoing-byte-total": ("outgoing_byte_total", ""),
    "buffer-available-bytes": ("buffer_available_bytes", ""),
    "buffer-total-bytes": ("buffer_total_bytes", ""),
    "buffer-exhausted-total": ("buffer_exhausted_total", ""),
    "requests-in-flight": ("requests_in_flight", ""),
    "waiting-threads": ("waiting_threads", ""),
}
_PRODUCER_TOPIC_ATTRS = {
    "compression-rate": "compression_rate",
    "byte-total": "byte_total",
    "record-send-total": "record_send_total",
    "record-retry-total": "record_retry_total",
    "record-error-total": "record_error_total",
}
_FETCH_ATTRS = {
    "records-lag-max": ("records_lag_max", ""),
    "records-lead-min": ("records_lead_min", ""),
    "records-consumed-total": ("records_consumed_total", ""),
    "bytes-consumed-total": ("bytes_consumed_total", ""),
    "fetch-total": ("fetch_total", ""),
    "fetch-latency-avg": ("fetch_latency_avg_seconds", "ms"),
    "fetch-latency-max": ("fetch_latency_max_seconds", "ms"),
    "fetch-throttle-time-avg": ("fetch_throttle_time_avg_seconds", "ms"),
    "fetch-size-avg": ("fetch_size_avg", ""),
    "records-per-request-avg": ("records_per_request_avg", ""),
}
_COORDINATOR_ATTRS = {
    "rebalance-total": ("rebalance_total", ""),
    "failed-rebalance-total": ("failed_rebalance_total", ""),
    "last-rebalance-seconds-ago": ("last_rebalance_age_seconds", ""),
    "rebalance-latency-avg": ("rebalance_latency_avg_seconds", "ms"),
    "commit-total": ("commit_total", ""),
    "commit-latency-avg": ("commit_latency_avg_seconds", "ms"),
    "commit-latency-max": ("commit_latency_max_seconds", "ms"),
    "assigned-partitions": ("assigned_partitions", ""),
}


def parse_client_target(
    rows: Iterable[JmxRow],
    target: str,
    *,
    declared: Mapping[str, str] | None = None,
    per_partition: bool = True,
) -> ClientJmxTarget:
    """``kafka.producer:*`` / ``kafka.consumer:*`` rows of one JVM -> :class:`ClientJmxTarget`.

    Clients are keyed by (kind, client-id); a client appears when any of its MBeans does.
    ``declared`` is attached to every client of the target.
    """
    out = ClientJmxTarget(target=target)
    values = Values()
    clients: dict[tuple[str, str], ClientJmx] = {}

    def client(kind: ClientKind, cid: str) -> ClientJmx:
        found = clients.get((kind, cid))
        if found is None:
            found = clients[(kind, cid)] = ClientJmx(target, kind, cid, declared=dict(declared or {}))
        return found

    def put(obj: object, spec: tuple[str, str], row: JmxRow) -> None:
        setattr(obj, spec[0], values.ms(row) if spec[1] == "ms" else values.num(row))

    for row in rows:
        domain, props = parse_object_name(row.mbean)
        if domain not in ("kafka.producer", "kafka.consumer"):
            continue
        kind: ClientKind = "producer" if domain == "kafka.producer" else "consumer"
        mtype, cid, attr = props.get("type"), props.get("client-id"), row.attribute
        if cid is None:
            continue  # app-info,id=... duplicates app-info,client-id=...
        if mtype == "app-info":
            c = client(kind, cid)
            if attr == "version" and isinstance(row.value, str):
                c.version = row.value
            elif attr == "commit-id" and isinstance(row.value, str):
                c.commit_id = row.value
        elif mtype == "producer-metrics" and attr in _PRODUCER_ATTRS:
            c = client("producer", cid)
            c.producer = c.producer or ProducerMetrics()
            put(c.producer, _PRODUCER_ATTRS[attr], row)
        elif mtype == "producer-topic-metrics" and attr in _PRODUCER_TOPIC_ATTRS and "topic" in props:
            c = client("producer", cid)
            c.producer = c.producer or ProducerMetrics()
            pt = c.producer.topics.setdefault(props["topic"], ProducerTopic())
            setattr(pt, _PRODUCER_TOPIC_ATTRS[attr], values.num(row))
        elif mtype == "consumer-fetch-manager-metrics":
            c = client("consumer", cid)
            cm = c.consumer = c.consumer or ConsumerMetrics()
            topic, pid = props.get("topic"), props.get("partition")
            if topic is None:
                if attr in _FETCH_ATTRS:
                    put(cm, _FETCH_ATTRS[attr], row)
            elif pid is None:
                if attr == "records-consumed-total":
                    cm.topics.setdefault(topic, ConsumerTopic()).records_consumed_total = values.num(row)
                elif attr == "bytes-consumed-total":
                    cm.topics.setdefault(topic, ConsumerTopic()).bytes_consumed_total = values.num(row)
            elif per_partition and is_id(pid) and attr in ("records-lag", "records-lead"):
                cp = cm.partitions.setdefault((topic, int(pid)), ConsumerPartition())
                if attr == "records-lag":
                    cp.records_lag = values.num(row)
                else:
                    cp.records_lead = values.num(row)
        elif mtype == "consumer-coordinator-metrics" and attr in _COORDINATOR_ATTRS:
            c = client("consumer", cid)
            c.consumer = c.consumer or ConsumerMetrics()
            put(c.consumer, _COORDINATOR_ATTRS[attr], row)
        elif mtype == "consumer-metrics" and attr == "last-poll-seconds-ago":
            c = client("consumer", cid)
            c.consumer = c.consumer or ConsumerMetrics()
            c.consumer.last_poll_age_seconds = values.num(row)
    out.clients = [clients[k] for k in sorted(clients)]
    out.dropped, out.errors = values.dropped, values.errors
    return out
