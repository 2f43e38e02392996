"""Typed records of librdkafka statistics, and the one mapping from their JSON.

librdkafka (the C library under confluent-kafka-python, -go and -dotnet) emits a JSON
object every ``statistics.interval.ms`` to the application's ``stats_cb``; its fields are
described in librdkafka's ``STATISTICS.md``.  Applications forward it to a Kafka topic
(``exporter.stats_forwarder``); this package turns one forwarded message into a
:class:`ClientInstance` (:mod:`.parse`).  It is pure (no I/O) and defensive: the topic is writable by any
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

import math
from dataclasses import dataclass, field

ENVELOPE_FORMAT = "kafka-insight-client-stats/1"
#: label values from the topic are cut to this length (the topic is writable by anyone)
MAX_LABEL = 128
#: librdkafka's "no offset" sentinel is -1001 (RD_KAFKA_OFFSET_INVALID); lags use -1
NO_OFFSET = 0

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
    #: :attr:`tx_totals` of the same handle's previous statistics message (set by the
    #: store), None for its first: the window's messages and bytes are the difference
    previous_totals: dict[str, tuple[int, int]] | None = None

    @property
    def tx_totals(self) -> dict[str, tuple[int, int]]:
        """(txmsgs, txbytes) per topic, summed over its partitions: cumulative message counts
        and bytes (key + value, before compression) the producer wrote into batches."""
        totals: dict[str, tuple[int, int]] = {}
        for p in self.partitions:
            m, b = totals.get(p.topic, (0, 0))
            totals[p.topic] = (m + p.txmsgs, b + p.txbytes)
        return totals

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
            int_or(get("max.in.flight.requests.per.connection"), 1000000),
            int_or(get("message.send.max.retries"), 2147483647),
            get("compression.type") or "none",
            int_or(get("batch.size"), 1000000),
            float_or(get("linger.ms"), 5.0),
        )

    @property
    def assigned_partitions(self) -> list[PartitionStats]:
        return [p for p in self.partitions if p.assigned]

#: how each message from the statistics topic ended
OUTCOMES = ("accepted", "invalid", "too_large", "instance_cap", "expired", "out_of_order")


@dataclass
class ClientStatsState:
    """One cycle's view of the client statistics (the source's payload)."""

    topic: str
    instances: list[ClientInstance]
    #: messages per outcome since start (see OUTCOMES)
    outcomes: dict[str, int]
    #: instances expired since start
    expired_total: int
    max_instances: int
    #: consumer-thread errors since the previous cycle (partial failures)
    errors: list[str] = field(default_factory=list)
    taken: float = 0.0


def int_or(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def float_or(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if math.isfinite(value) else default
