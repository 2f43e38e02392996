"""Typed records of librdkafka statistics, and the one mapping from their JSON.

librdkafka (the C library under confluent-kafka-python, -go and -dotnet) emits a JSON
object every ``statistics.interval.ms`` to the application's ``stats_cb``; its fields are
described in librdkafka's ``STATISTICS.md``.  Applications forward it to a Kafka topic
(``exporter.stats_forwarder``); this module turns one forwarded message into a
:class:`ClientInstance`.  It is pure (no I/O) and defensive: the topic is writable by any
client, so every field is checked for its type and anything unexpected is either ignored
(unknown fields) or rejects the whole message with :class:`InvalidStatsError` (wrong shapes).

Two message formats are accepted:

* the forwarder's envelope ``{"format": "kafka-insight-client-stats/1", "stats": {...},
  "host": ..., "pid": ..., "librdkafka_version": ..., "settings": {...}, ...}``;
* the bare statistics JSON, as a Go or .NET application can forward it without this
  package (then the librdkafka version, the group and the declared settings are unknown).

The records are also the interface for interpretation (``exporter.interpret``):
:attr:`ClientInstance.producer_settings` says whether a producer can reorder, and
:attr:`ClientInstance.partitions` gives a consumer's positions per partition.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

ENVELOPE_FORMAT = "kafka-insight-client-stats/1"
#: label values from the topic are cut to this length (the topic is writable by anyone)
MAX_LABEL = 128
#: librdkafka's "no offset" sentinel is -1001 (RD_KAFKA_OFFSET_INVALID); lags use -1
_NO_OFFSET = 0

#: broker states librdkafka reports (rdkafka_broker.c rd_kafka_broker_state_names)
BROKER_STATES = (
    "INIT",
    "DOWN",
    "TRY_CONNECT",
    "CONNECT",
    "SSL_HANDSHAKE",
    "AUTH_LEGACY",
    "UP",
    "UPDATE",
    "APIVERSION_QUERY",
    "AUTH_HANDSHAKE",
    "AUTH_REQ",
    "REAUTH",
)

#: the producer settings the forwarder passes on (and their librdkafka aliases)
SETTING_ALIASES = {
    "max.in.flight": "max.in.flight.requests.per.connection",
    "retries": "message.send.max.retries",
    "queue.buffering.max.ms": "linger.ms",
    "compression.codec": "compression.type",
    "request.required.acks": "acks",
}
FORWARDED_SETTINGS = (
    "enable.idempotence",
    "acks",
    "max.in.flight.requests.per.connection",
    "message.send.max.retries",
    "compression.type",
    "batch.size",
    "batch.num.messages",
    "linger.ms",
    "transactional.id",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "auto.offset.reset",
    "statistics.interval.ms",
)
#: librdkafka's defaults of the settings that decide reordering (CONFIGURATION.md)
LIBRDKAFKA_DEFAULTS = {
    "enable.idempotence": "false",
    "acks": "all",
    "max.in.flight.requests.per.connection": "1000000",
    "message.send.max.retries": "2147483647",
    "compression.type": "none",
    "batch.size": "1000000",
    "linger.ms": "5",
}
OFFSET_STORAGE = ("kafka", "external", "unknown")


class InvalidStatsError(ValueError):
    """The message is not librdkafka statistics (the reason names the bad field)."""


def normalize_setting(name: str) -> str:
    return SETTING_ALIASES.get(name, name)


@dataclass(frozen=True)
class BrokerStats:
    """One broker connection of a client (``brokers.<name>``; only learned brokers)."""

    name: str  # "host:port/id"
    broker_id: int
    state: str
    rtt_avg_us: float | None  # rtt.avg, None when no request completed in the window
    rtt_p99_us: float | None
    requests_sent: int  # tx
    request_retries: int  # txretries
    transmit_errors: int  # txerrs
    receive_errors: int  # rxerrs
    request_timeouts: int  # req_timeouts
    disconnects: int  # disconnects


@dataclass(frozen=True)
class TopicStats:
    """Producer batching of one topic (``topics.<name>``), window averages."""

    topic: str
    batch_size_avg: float | None  # batchsize.avg, bytes as written (after compression)
    batch_messages_avg: float | None  # batchcnt.avg
    batches_in_window: int  # batchsize.cnt


@dataclass(frozen=True)
class PartitionStats:
    """One partition of one topic as the client sees it (``topics.<t>.partitions.<p>``).

    Offsets are None where librdkafka reports none (-1001) and lags None where it reports -1.
    """

    topic: str
    partition: int
    fetch_state: str
    desired: bool
    next_offset: int | None  # next offset to fetch (prefetch position)
    app_offset: int | None  # offset of the last message passed to the application + 1
    stored_offset: int | None  # offset to be committed
    committed_offset: int | None  # last committed offset
    lo_offset: int | None
    hi_offset: int | None
    ls_offset: int | None
    consumer_lag: int | None  # hi (or ls) - committed_offset
    consumer_lag_stored: int | None  # hi (or ls) - stored_offset
    txmsgs: int
    txbytes: int
    rxmsgs: int
    rxbytes: int
    fetchq_cnt: int = 0

    @property
    def assigned(self) -> bool:
        """A consumer fetches it (librdkafka lists every partition of a known topic)."""
        return self.desired or self.fetch_state not in ("none", "stopped", "")

    @property
    def position(self) -> int | None:
        """The consumer's position: the next offset the application gets.

        ``app_offset``, else the stored, else the committed offset (a consumer that was
        just assigned an offset of its own has no app_offset yet: ``next_offset`` then holds
        the offset it was told to start from).
        """
        for value in (self.app_offset, self.stored_offset, self.committed_offset, self.next_offset):
            if value is not None:
                return value
        return None

    @property
    def furthest_offset(self) -> int | None:
        """The highest offset this consumer claims to have reached, by any of its fields."""
        values = [
            v
            for v in (self.next_offset, self.app_offset, self.stored_offset, self.committed_offset)
            if v is not None
        ]
        return max(values) if values else None


@dataclass(frozen=True)
class ProducerSettings:
    """What decides whether a librdkafka producer can reorder on retries.

    ``declared`` is True when the application forwarded its settings through the
    forwarder; otherwise idempotence is taken from the statistics' ``eos`` section and the
    rest are librdkafka's defaults.
    """

    declared: bool
    idempotence: bool
    acks: str
    max_in_flight: int
    retries: int
    compression_type: str
    batch_size: int
    linger_ms: float

    @property
    def can_reorder(self) -> bool:
        """Retries with more than one request in flight and no idempotence reorder batches."""
        return not self.idempotence and self.max_in_flight > 1 and self.retries > 0 and self.acks not in ("0",)


@dataclass(frozen=True)
class ClientInstance:
    """The latest statistics of one client instance (one librdkafka handle)."""

    instance: str  # the message key (host/pid/name with the forwarder)
    client_id: str
    name: str  # librdkafka handle name, e.g. "rdkafka#producer-1"
    role: str  # "producer" or "consumer"
    librdkafka_version: str  # "" when the application did not say (bare statistics)
    software: str
    host: str
    group: str
    offset_storage: str  # one of OFFSET_STORAGE
    #: the settings the application declared (normalized names), {} for bare statistics
    settings: dict[str, str]
    #: the client's statistics interval in seconds, when known
    interval: float | None
    #: when the exporter received the statistics (Unix seconds); for records read back
    #: at start, the message's own timestamp
    timestamp: float
    ts_us: int  # librdkafka's monotonic clock at emission
    requests_sent: int  # tx
    sent_bytes: int  # tx_bytes (txbytes in older versions)
    responses_received: int  # rx
    received_bytes: int  # rx_bytes
    messages_sent: int  # txmsgs
    message_bytes_sent: int  # txmsg_bytes
    messages_received: int  # rxmsgs
    message_bytes_received: int  # rxmsg_bytes
    reply_queue: int  # replyq
    queue_messages: int  # msg_cnt
    queue_bytes: int  # msg_size
    queue_max_messages: int  # msg_max
    queue_max_bytes: int  # msg_size_max
    #: the eos section: None when absent (idempotence off), else the producer id (-1 none yet)
    producer_id: int | None
    brokers: list[BrokerStats] = field(default_factory=list)
    topics: list[TopicStats] = field(default_factory=list)
    partitions: list[PartitionStats] = field(default_factory=list)

    @property
    def producer_settings(self) -> ProducerSettings:
        declared = bool(self.settings)

        def get(name: str) -> str:
            return self.settings.get(name, LIBRDKAFKA_DEFAULTS.get(name, ""))

        if "enable.idempotence" in self.settings or "transactional.id" in self.settings:
            idempotence = self.settings.get("enable.idempotence", "").lower() == "true" or bool(
                self.settings.get("transactional.id")
            )
        else:
            idempotence = self.producer_id is not None
        acks = get("acks").lower()
        acks = "all" if acks in ("-1", "all") else acks
        return ProducerSettings(
            declared,
            idempotence,
            acks,
            _int_or(get("max.in.flight.requests.per.connection"), 1000000),
            _int_or(get("message.send.max.retries"), 2147483647),
            get("compression.type") or "none",
            _int_or(get("batch.size"), 1000000),
            _float_or(get("linger.ms"), 5.0),
        )

    @property
    def assigned_partitions(self) -> list[PartitionStats]:
        return [p for p in self.partitions if p.assigned]


# -- mapping -----------------------------------------------------------------------------
def _int_or(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _float_or(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _label(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text[:MAX_LABEL]


def _count(obj: dict[str, Any], key: str, *alternatives: str) -> int:
    """A non-negative integer counter or gauge; absent or garbage -> 0 (librdkafka omits none)."""
    for name in (key, *alternatives):
        value = obj.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return max(0, value)
        if isinstance(value, float) and math.isfinite(value):
            return max(0, int(value))
    return 0


def _offset(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < _NO_OFFSET:
        return None
    return value


def _window_avg(obj: Any) -> tuple[float | None, float | None, int]:
    """(avg, p99, cnt) of a window-stats object; no samples in the window -> no average."""
    if not isinstance(obj, dict):
        return None, None, 0
    cnt = _count(obj, "cnt")
    if cnt == 0:
        return None, None, 0
    return _nonneg(obj.get("avg")), _nonneg(obj.get("p99")), cnt


def _nonneg(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _dict(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise InvalidStatsError(f"{where}{key} is a {type(value).__name__}, not an object")
    return value


def parse_message(
    value: bytes | str | None,
    key: bytes | str | None,
    timestamp: float,
) -> ClientInstance:
    """One message from the statistics topic -> a :class:`ClientInstance`.

    ``timestamp`` is when the statistics count as heard from (Unix seconds).  Raises :class:`InvalidStatsError`
    (with a one-line reason) for anything that is not librdkafka statistics.
    """
    if value is None:
        raise InvalidStatsError("empty message")
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise InvalidStatsError(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise InvalidStatsError(f"top level is a {type(doc).__name__}, not an object")
    meta: dict[str, Any] = {}
    if "format" in doc:
        if doc.get("format") != ENVELOPE_FORMAT:
            raise InvalidStatsError(f"unknown envelope format {str(doc.get('format'))[:40]!r}")
        meta = doc
        stats = doc.get("stats")
        if not isinstance(stats, dict):
            raise InvalidStatsError("envelope without a stats object")
    else:
        stats = doc
    return _instance(stats, meta, _key(key), timestamp)


def _key(key: bytes | str | None) -> str:
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    return (key or "")[:MAX_LABEL]


def _instance(stats: dict[str, Any], meta: dict[str, Any], key: str, timestamp: float) -> ClientInstance:
    role = stats.get("type")
    if role not in ("producer", "consumer"):
        raise InvalidStatsError(f"type is {str(role)[:20]!r}, not producer or consumer")
    name = stats.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidStatsError("no handle name")
    client_id = _label(stats.get("client_id"))
    instance = key or f"{client_id}/{name}"[:MAX_LABEL]
    settings_raw = meta.get("settings", {})
    if not isinstance(settings_raw, dict):
        raise InvalidStatsError("envelope settings is not an object")
    settings = {
        normalize_setting(k): _label(v if isinstance(v, str) else json.dumps(v))
        for k, v in settings_raw.items()
        if isinstance(k, str) and normalize_setting(k) in FORWARDED_SETTINGS
    }
    interval = meta.get("interval_ms", settings.get("statistics.interval.ms"))
    interval_s = _float_or(str(interval), 0.0) / 1000 if interval is not None else 0.0
    storage = meta.get("offset_storage")
    eos = stats.get("eos")
    producer_id: int | None = None
    if isinstance(eos, dict):
        pid = eos.get("producer_id")
        producer_id = pid if isinstance(pid, int) and not isinstance(pid, bool) else -1
    ts = stats.get("ts")
    return ClientInstance(
        instance=instance,
        client_id=client_id,
        name=name[:MAX_LABEL],
        role=role,
        librdkafka_version=_label(meta.get("librdkafka_version")),
        software=_label(meta.get("software")),
        host=_label(meta.get("host")),
        group=_label(meta.get("group_id", settings.get("group.id", ""))),
        offset_storage=storage if storage in OFFSET_STORAGE else "unknown",
        settings=settings,
        interval=interval_s if interval_s > 0 else None,
        timestamp=timestamp,
        ts_us=ts if isinstance(ts, int) and not isinstance(ts, bool) else 0,
        requests_sent=_count(stats, "tx"),
        sent_bytes=_count(stats, "tx_bytes", "txbytes"),
        responses_received=_count(stats, "rx"),
        received_bytes=_count(stats, "rx_bytes", "rxbytes"),
        messages_sent=_count(stats, "txmsgs"),
        message_bytes_sent=_count(stats, "txmsg_bytes"),
        messages_received=_count(stats, "rxmsgs"),
        message_bytes_received=_count(stats, "rxmsg_bytes"),
        reply_queue=_count(stats, "replyq"),
        queue_messages=_count(stats, "msg_cnt"),
        queue_bytes=_count(stats, "msg_size"),
        queue_max_messages=_count(stats, "msg_max"),
        queue_max_bytes=_count(stats, "msg_size_max"),
        producer_id=producer_id,
        brokers=_brokers(_dict(stats, "brokers", "")),
        topics=_topics(_dict(stats, "topics", "")) if role == "producer" else [],
        partitions=_partitions(_dict(stats, "topics", "")),
    )


def _brokers(brokers: dict[str, Any]) -> list[BrokerStats]:
    result = []
    for key, b in brokers.items():
        if not isinstance(b, dict):
            raise InvalidStatsError(f"brokers.{key[:40]} is not an object")
        # bootstrap ("configured") and logical (GroupCoordinator) entries are not brokers:
        # an idle bootstrap connection sits in DOWN/INIT without anything being wrong
        if b.get("source") != "learned":
            continue
        node = b.get("nodeid")
        if not isinstance(node, int) or isinstance(node, bool) or node < 0:
            continue
        avg, p99, _ = _window_avg(b.get("rtt"))
        state = b.get("state")
        result.append(
            BrokerStats(
                _label(b.get("name")) or str(key)[:MAX_LABEL],
                node,
                state if isinstance(state, str) else "",
                avg,
                p99,
                _count(b, "tx"),
                _count(b, "txretries"),
                _count(b, "txerrs"),
                _count(b, "rxerrs"),
                _count(b, "req_timeouts"),
                _count(b, "disconnects"),
            )
        )
    return sorted(result, key=lambda x: x.broker_id)


def _topics(topics: dict[str, Any]) -> list[TopicStats]:
    result = []
    for name, t in topics.items():
        if not isinstance(t, dict):
            raise InvalidStatsError(f"topics.{name[:40]} is not an object")
        size, _, cnt = _window_avg(t.get("batchsize"))
        msgs, _, _ = _window_avg(t.get("batchcnt"))
        result.append(TopicStats(name[:MAX_LABEL], size, msgs, cnt))
    return result


def _partitions(topics: dict[str, Any]) -> list[PartitionStats]:
    result = []
    for name, t in topics.items():
        if not isinstance(t, dict):
            raise InvalidStatsError(f"topics.{name[:40]} is not an object")
        parts = _dict(t, "partitions", f"topics.{name[:40]}.")
        for pid, p in parts.items():
            if not isinstance(p, dict):
                raise InvalidStatsError(f"topics.{name[:40]}.partitions.{pid[:10]} is not an object")
            number = p.get("partition")
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                continue  # -1 is librdkafka's internal UnAssigned partition
            state = p.get("fetch_state")
            lag = p.get("consumer_lag")
            lag_stored = p.get("consumer_lag_stored")
            result.append(
                PartitionStats(
                    name[:MAX_LABEL],
                    number,
                    state if isinstance(state, str) else "",
                    p.get("desired") is True,
                    _offset(p, "next_offset"),
                    _offset(p, "app_offset"),
                    _offset(p, "stored_offset"),
                    _offset(p, "committed_offset"),
                    _offset(p, "lo_offset"),
                    _offset(p, "hi_offset"),
                    _offset(p, "ls_offset"),
                    lag if isinstance(lag, int) and not isinstance(lag, bool) and lag >= 0 else None,
                    lag_stored if isinstance(lag_stored, int) and not isinstance(lag_stored, bool) and lag_stored >= 0 else None,
                    _count(p, "txmsgs"),
                    _count(p, "txbytes"),
                    _count(p, "rxmsgs"),
                    _count(p, "rxbytes"),
                    _count(p, "fetchq_cnt"),
                )
            )
    return sorted(result, key=lambda x: (x.topic, x.partition))
