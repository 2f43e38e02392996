"""Client-statistics source: librdkafka statistics that applications forward to a topic.

A background thread consumes the statistics topic (``client_stats.topic``, default
``kafka-insight-client-stats``) with ``assign()`` — no consumer group, nothing committed
— starting a little before the end of each partition, and keeps the latest statistics per
client instance in a bounded :class:`StatsStore`.  The cycle's job only snapshots that
store, so it takes microseconds whatever the number of clients.

Instances not heard from for ``expire_after_intervals`` of their own statistics intervals
disappear with their series.  The topic is writable by any client: every message is
parsed defensively (``client_stats_records``); malformed, oversized or unknown messages
are dropped and counted by outcome (first of each kind logged), and at most
``max_instances`` instances are tracked — statistics from new instances beyond the cap
are dropped and counted, the instances already tracked keep updating.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from exporter.catalogue import Samples, metric
from exporter.config import Config
from exporter.sources.base import Job, Source, SourceError
from exporter.sources.client_stats_records import BROKER_STATES, ClientInstance, InvalidStatsError, parse_message

if TYPE_CHECKING:
    from exporter.cycle import Interpreter, Snapshot

log = logging.getLogger(__name__)
SRC = "client_stats"
DEFAULT_TOPIC = "kafka-insight-client-stats"
#: how each message from the statistics topic ended
OUTCOMES = ("accepted", "invalid", "too_large", "instance_cap", "expired", "out_of_order")
#: records read back per partition when the exporter starts, so it knows its clients at once
LOOKBACK = 200
#: how often the consumer thread re-reads the topic's partitions
REFRESH_SECONDS = 30.0


# -- configuration ------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientStatsConfig:
    enabled: bool
    topic: str
    expire_after_intervals: float
    max_instances: int
    max_message_bytes: int
    create_topic: bool
    partitions: int
    replication_factor: int
    retention_seconds: float

    @staticmethod
    def of(config: Config) -> ClientStatsConfig:
        raw = config.raw.get("client_stats") or {}
        return ClientStatsConfig(
            enabled=bool(raw.get("enabled", False)),
            topic=str(raw.get("topic", DEFAULT_TOPIC)),
            expire_after_intervals=float(raw.get("expire_after_intervals", 3)),
            max_instances=int(raw.get("max_instances", 1000)),
            max_message_bytes=int(raw.get("max_message_bytes", 1048576)),
            create_topic=bool(raw.get("create_topic", True)),
            partitions=int(raw.get("partitions", 3)),
            replication_factor=int(raw.get("replication_factor", -1)),
            retention_seconds=float(raw.get("retention_seconds", 3600)),
        )


# -- state shared between the consumer thread and the cycle -------------------------------
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


class StatsStore:
    """Latest statistics per client instance, bounded; thread-safe.

    Memory: one parsed :class:`ClientInstance` per instance (roughly 1 KB plus ~300 bytes
    per partition and broker it reports), at most ``max_instances`` of them.
    """

    def __init__(self, max_instances: int, expire_after_intervals: float, default_interval: float) -> None:
        self.max_instances = max_instances
        self.expire_after_intervals = expire_after_intervals
        self.default_interval = default_interval
        self._latest: dict[str, ClientInstance] = {}
        self._outcomes = dict.fromkeys(OUTCOMES, 0)
        self._expired = 0
        self._logged: set[str] = set()
        self._lock = threading.Lock()

    def ttl(self, inst: ClientInstance) -> float:
        return self.expire_after_intervals * (inst.interval or self.default_interval)

    def count(self, outcome: str, detail: str = "") -> None:
        with self._lock:
            self._outcomes[outcome] += 1
            first = outcome not in self._logged
            self._logged.add(outcome)
        if first and outcome != "accepted":
            log.warning(
                "client statistics: dropped a message (%s)%s; further ones are only counted in "
                "kafka_insight_librdkafka_stats_messages_total{outcome=%r}",
                outcome,
                f": {detail}" if detail else "",
                outcome,
            )

    def offer(self, value: bytes | None, key: bytes | None, timestamp: float, now: float, max_bytes: int) -> str:
        """Parse and keep one message; returns its outcome."""
        if value is not None and len(value) > max_bytes:
            self.count("too_large", f"{len(value)} bytes > client_stats.max_message_bytes {max_bytes}")
            return "too_large"
        try:
            inst = parse_message(value, key, min(timestamp, now))
        except InvalidStatsError as exc:
            self.count("invalid", str(exc))
            return "invalid"
        if now - inst.timestamp > self.ttl(inst):
            self.count("expired")  # read back at start: the client is gone already
            return "expired"
        with self._lock:
            known = self._latest.get(inst.instance)
            if known is None and len(self._latest) >= self.max_instances:
                outcome = "instance_cap"
            elif known is not None and inst.ts_us and known.ts_us and inst.ts_us < known.ts_us and known.name == inst.name:
                outcome = "out_of_order"  # two partitions, or a replay: keep the newer one
            else:
                self._latest[inst.instance] = inst
                outcome = "accepted"
        if outcome == "instance_cap":
            self.count(outcome, f"{self.max_instances} instances tracked (client_stats.max_instances); new ones are ignored")
        else:
            self.count(outcome)
        return outcome

    def snapshot(self, now: float) -> tuple[list[ClientInstance], dict[str, int], int]:
        with self._lock:
            for name, inst in list(self._latest.items()):
                if now - inst.timestamp > self.ttl(inst):
                    del self._latest[name]
                    self._expired += 1
            instances = sorted(self._latest.values(), key=lambda i: i.instance)
            return instances, dict(self._outcomes), self._expired


# -- the source ----------------------------------------------------------------------------
class ClientStatsSource(Source):
    name = SRC

    def __init__(self, config: Config, settings: ClientStatsConfig) -> None:
        self.config = config
        self.settings = settings
        self.servers = ",".join(config.bootstrap_servers)
        self.store = StatsStore(settings.max_instances, settings.expire_after_intervals, config.interval)
        self._errors: list[str] = []
        self._fatal: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: assigned partition -> its end offset at assignment (records before it are read back)
        self._assigned: dict[int, int] = {}
        self._thread = threading.Thread(target=self._run, name="client-stats-consumer", daemon=True)
        self._thread.start()

    # -- consumer thread ------------------------------------------------------------------
    def _client_settings(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.servers,
            "logger": logging.getLogger("librdkafka"),
            **self.config.client,
        }

    def _run(self) -> None:
        consumer: Consumer | None = None
        try:
            consumer = Consumer(
                {
                    **self._client_settings(),
                    "client.id": "kafka-insight-exporter-client-stats",
                    # required by the client; never joined (assign()) and never committed
                    "group.id": "kafka-insight-exporter-client-stats",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": False,
                    "auto.offset.reset": "latest",
                    "fetch.message.max.bytes": self.settings.max_message_bytes + 65536,
                    "queued.max.messages.kbytes": 16384,
                    "socket.timeout.ms": int(self.config.request_timeout * 1000),
                }
            )
            next_refresh = 0.0
            while not self._stop.is_set():
                if time.monotonic() >= next_refresh:
                    self._refresh(consumer)
                    next_refresh = time.monotonic() + (REFRESH_SECONDS if self._assigned else 2.0)
                if not self._assigned:
                    self._stop.wait(0.5)
                    continue
                for msg in consumer.consume(500, timeout=0.5):
                    err = msg.error()
                    if err is not None:
                        self._error(f"consuming {self.settings.topic}: {err.str()}")
                        continue
                    now = time.time()
                    # live records count as heard from now (immune to the client's clock);
                    # records read back at start carry their own timestamp, so clients
                    # that are already gone are not brought back for one expiry period
                    seen = now
                    if msg.offset() < self._assigned.get(msg.partition(), -1):
                        _, ts_ms = msg.timestamp()
                        seen = ts_ms / 1000 if ts_ms > 0 else now
                    self.store.offer(msg.value(), msg.key(), seen, now, self.settings.max_message_bytes)
        except Exception as exc:  # the thread's death is reported by every later cycle
            log.exception("client statistics consumer stopped")
            self._fatal = f"consumer thread stopped: {exc.__class__.__name__}: {exc}"
        finally:
            if consumer is not None:
                consumer.close()

    def _error(self, text: str) -> None:
        with self._lock:
            if len(self._errors) < 20 and text not in self._errors:  # one line per distinct error per cycle
                self._errors.append(text)

    def _refresh(self, consumer: Consumer) -> None:
        topic = self.settings.topic
        try:
            md = consumer.list_topics(topic, timeout=self.config.request_timeout)
        except KafkaException as exc:
            self._error(f"metadata of {topic}: {exc.args[0].str() if exc.args else exc}")
            return
        tm = md.topics.get(topic)
        if tm is None or tm.error is not None or not tm.partitions:
            if tm is not None and tm.error is not None and tm.error.code() not in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_TOPIC,
            ):
                self._error(f"metadata of {topic}: {tm.error.str()}")
                return
            if self.settings.create_topic:
                self._create_topic()
            else:
                self._error(f"topic {topic} does not exist (create it, or set client_stats.create_topic: true)")
            return
        new = [pid for pid in sorted(tm.partitions) if pid not in self._assigned]
        if not new:
            return
        start = []
        backlog: dict[int, int] = {}
        for pid in new:
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=self.config.request_timeout)
                offset = max(low, high - LOOKBACK) if high >= 0 else OFFSET_END
            except KafkaException:
                high, offset = -1, OFFSET_END
            start.append(TopicPartition(topic, pid, offset))
            backlog[pid] = high
        consumer.incremental_assign(start)
        self._assigned.update(backlog)
        log.info("client statistics: reading %s partitions %s", topic, [tp.partition for tp in start])

    def _create_topic(self) -> None:
        s = self.settings
        admin = AdminClient(self._client_settings())
        config = {"retention.ms": str(int(s.retention_seconds * 1000)), "cleanup.policy": "delete"}
        future = admin.create_topics(
            [NewTopic(s.topic, s.partitions, s.replication_factor, config=config)], request_timeout=self.config.request_timeout
        )[s.topic]
        try:
            future.result()
            log.info("client statistics: created topic %s (%d partitions)", s.topic, s.partitions)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if err is None or err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                self._error(f"creating topic {s.topic}: {err.str() if err is not None else exc}")

    # -- cycle ----------------------------------------------------------------------------
    def jobs(self, previous: Snapshot | None) -> list[Job]:
        return [Job(SRC, self.settings.topic, self.collect)]

    def collect(self) -> ClientStatsState:
        if self._fatal is not None or not self._thread.is_alive():
            raise SourceError(self._fatal or "client statistics consumer thread is not running")
        with self._lock:
            errors, self._errors = self._errors, []
        if not self._assigned:
            raise SourceError(errors[-1] if errors else f"waiting for the partitions of topic {self.settings.topic}")
        now = time.time()
        instances, outcomes, expired = self.store.snapshot(now)
        return ClientStatsState(self.settings.topic, instances, outcomes, expired, self.store.max_instances, errors, now)

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.payload(SRC)
        if state is not None:
            emit_client_stats(state, out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def build(config: Config) -> ClientStatsSource | None:
    """Source factory for ``exporter.app``: None unless ``client_stats.enabled``."""
    settings = ClientStatsConfig.of(config)
    return ClientStatsSource(config, settings) if settings.enabled else None


def build_interpreter(config: Config) -> Interpreter:
    """Interpreter factory for ``exporter.app``: the derived gauges (a no-op without statistics)."""
    from exporter.interpret.client_stats import build

    return build(config)


# -- catalogue -------------------------------------------------------------------------------
INSTANCE = ("client_id", "client_instance")
_FROM = "librdkafka statistics (STATISTICS.md)"

STATS_MESSAGES = metric(
    "kafka_insight_librdkafka_stats_messages_total",
    "counter",
    f"""Messages read from the client statistics topic since start, by outcome: accepted;
    invalid (not JSON, not an object, wrong field types, not producer/consumer statistics);
    too_large (over client_stats.max_message_bytes); instance_cap (a new client instance
    while client_stats.max_instances are tracked: ignored until others expire); expired
    (already older than the expiry when read, e.g. read back at start); out_of_order (older
    than the instance's latest). Rising invalid or instance_cap means something other than
    the forwarder writes to the topic. Source: {_FROM} forwarded by applications.""",
    ("outcome",),
    source=SRC,
)
TRACKED = metric(
    "kafka_insight_librdkafka_tracked_instances",
    "gauge",
    """Client instances whose statistics are currently kept (heard from within
    client_stats.expire_after_intervals of their statistics interval). Equal to
    kafka_insight_librdkafka_max_tracked_instances means new clients are being ignored.""",
    source=SRC,
)
MAX_TRACKED = metric(
    "kafka_insight_librdkafka_max_tracked_instances",
    "gauge",
    "Configured cap on tracked client instances (client_stats.max_instances).",
    source=SRC,
)
EXPIRED = metric(
    "kafka_insight_librdkafka_expired_instances_total",
    "counter",
    """Client instances dropped since start because no statistics arrived for
    client_stats.expire_after_intervals of their statistics interval (the application
    stopped, or its forwarder cannot reach Kafka). Their series disappear.""",
    source=SRC,
)
CLIENT_INFO = metric(
    "kafka_insight_librdkafka_client_info",
    "gauge",
    f"""Always 1 per librdkafka client instance that forwards its statistics. role is the
    statistics' type (producer/consumer); client_id and the handle name come from the
    statistics (client_id, name); librdkafka_version, software, host, group and
    offset_storage (kafka, external, or unknown) come from the forwarder envelope and are
    empty/unknown when an application forwards bare statistics. client_instance is the
    message key (host/pid/handle name with the forwarder). Source: {_FROM}.""",
    (*INSTANCE, "name", "role", "librdkafka_version", "software", "host", "group", "offset_storage"),
    source=SRC,
)
STATS_AGE = metric(
    "kafka_insight_librdkafka_stats_age_seconds",
    "gauge",
    """Seconds since the client's latest statistics arrived at the exporter. Growing beyond a few statistics intervals means the client or its forwarder stalled;
    the instance expires after client_stats.expire_after_intervals intervals.""",
    INSTANCE,
    unit="seconds",
    source=SRC,
)
STATS_INTERVAL = metric(
    "kafka_insight_librdkafka_stats_interval_seconds",
    "gauge",
    """The client's statistics.interval.ms in seconds, as its forwarder declared it (absent
    for bare statistics: the exporter's collection interval is used for expiry then).""",
    INSTANCE,
    unit="seconds",
    source=SRC,
)
REQUESTS_SENT = metric(
    "kafka_insight_librdkafka_requests_sent_total",
    "counter",
    f"Requests sent to Kafka brokers by the client (top-level tx, {_FROM}).",
    INSTANCE,
    source=SRC,
)
SENT_BYTES = metric(
    "kafka_insight_librdkafka_sent_bytes_total",
    "counter",
    f"""Bytes sent to Kafka brokers, all requests, as on the wire (after compression)
    (top-level tx_bytes, {_FROM}).""",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
RESPONSES = metric(
    "kafka_insight_librdkafka_responses_received_total",
    "counter",
    f"Responses received from Kafka brokers (top-level rx, {_FROM}).",
    INSTANCE,
    source=SRC,
)
RECEIVED_BYTES = metric(
    "kafka_insight_librdkafka_received_bytes_total",
    "counter",
    f"Bytes received from Kafka brokers, all responses (top-level rx_bytes, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
MESSAGES_SENT = metric(
    "kafka_insight_librdkafka_messages_sent_total",
    "counter",
    f"Messages the producer transmitted to brokers (top-level txmsgs, {_FROM}).",
    INSTANCE,
    source=SRC,
)
MESSAGE_BYTES_SENT = metric(
    "kafka_insight_librdkafka_message_bytes_sent_total",
    "counter",
    f"""Message bytes the producer transmitted (top-level txmsg_bytes, {_FROM}). Measured
    on librdkafka 2.x this is the key+value size BEFORE compression, so it is not
    comparable with sent_bytes: the ratio of the two also includes every non-produce
    request and is not a compression ratio.""",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
MESSAGES_RECEIVED = metric(
    "kafka_insight_librdkafka_messages_received_total",
    "counter",
    f"Messages the consumer received, not counting ones skipped by offset (top-level rxmsgs, {_FROM}).",
    INSTANCE,
    source=SRC,
)
MESSAGE_BYTES_RECEIVED = metric(
    "kafka_insight_librdkafka_message_bytes_received_total",
    "counter",
    f"Message bytes the consumer received (top-level rxmsg_bytes, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
REPLY_QUEUE = metric(
    "kafka_insight_librdkafka_reply_queue_ops",
    "gauge",
    f"""Callbacks and events waiting for the application to call poll() (replyq, {_FROM}).
    Growing means the application does not poll often enough: delivery reports and
    rebalances are late.""",
    INSTANCE,
    source=SRC,
)
QUEUE_MESSAGES = metric(
    "kafka_insight_librdkafka_producer_queue_messages",
    "gauge",
    f"""Messages waiting in the producer's queues, not yet acknowledged (msg_cnt, {_FROM}).
    Near kafka_insight_librdkafka_producer_queue_max_messages means produce() is about to
    fail with a full queue (BufferError / QUEUE_FULL).""",
    INSTANCE,
    source=SRC,
)
QUEUE_BYTES = metric(
    "kafka_insight_librdkafka_producer_queue_bytes",
    "gauge",
    f"Bytes of the messages waiting in the producer's queues (msg_size, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
QUEUE_MAX_MESSAGES = metric(
    "kafka_insight_librdkafka_producer_queue_max_messages",
    "gauge",
    f"The producer queue's message limit, queue.buffering.max.messages (msg_max, {_FROM}).",
    INSTANCE,
    source=SRC,
)
QUEUE_MAX_BYTES = metric(
    "kafka_insight_librdkafka_producer_queue_max_bytes",
    "gauge",
    f"The producer queue's size limit, queue.buffering.max.kbytes in bytes (msg_size_max, {_FROM}).",
    INSTANCE,
    unit="bytes",
    source=SRC,
)
BROKER = (*INSTANCE, "broker", "broker_id")
BROKER_STATE = metric(
    "kafka_insight_librdkafka_broker_state",
    "gauge",
    f"""1 for the state of the client's connection to this broker, 0 for the other states
    (brokers.*.state, {_FROM}). UP is healthy; anything else for long means the client
    cannot reach or authenticate to the broker. Only brokers learned from metadata are
    listed (not bootstrap or logical entries).""",
    (*BROKER, "state"),
    source=SRC,
)
BROKER_RTT = metric(
    "kafka_insight_librdkafka_broker_rtt_avg_seconds",
    "gauge",
    f"""Average request round-trip time to the broker over the last statistics window
    (brokers.*.rtt.avg, microseconds -> seconds, {_FROM}). Absent when no request
    completed in the window.""",
    BROKER,
    unit="seconds",
    source=SRC,
)
BROKER_RTT_P99 = metric(
    "kafka_insight_librdkafka_broker_rtt_p99_seconds",
    "gauge",
    f"""99th percentile request round-trip time to the broker over the last statistics
    window (brokers.*.rtt.p99, microseconds -> seconds, {_FROM}).""",
    BROKER,
    unit="seconds",
    source=SRC,
)
BROKER_RETRIES = metric(
    "kafka_insight_librdkafka_broker_request_retries_total",
    "counter",
    f"""Requests to the broker that were retried (brokers.*.txretries, {_FROM}). Retries by a
    producer without idempotence and with more than one request in flight can reorder
    messages: see kafka_insight_librdkafka_producer_reordering_risk.""",
    BROKER,
    source=SRC,
)
BROKER_TX_ERRORS = metric(
    "kafka_insight_librdkafka_broker_transmit_errors_total",
    "counter",
    f"Transmission errors to the broker (brokers.*.txerrs, {_FROM}).",
    BROKER,
    source=SRC,
)
BROKER_RX_ERRORS = metric(
    "kafka_insight_librdkafka_broker_receive_errors_total",
    "counter",
    f"Receive errors from the broker (brokers.*.rxerrs, {_FROM}).",
    BROKER,
    source=SRC,
)
BROKER_TIMEOUTS = metric(
    "kafka_insight_librdkafka_broker_request_timeouts_total",
    "counter",
    f"Requests to the broker that timed out (brokers.*.req_timeouts, {_FROM}).",
    BROKER,
    source=SRC,
)
BROKER_DISCONNECTS = metric(
    "kafka_insight_librdkafka_broker_disconnects_total",
    "counter",
    f"Disconnects from the broker, by the broker, network or load balancer (brokers.*.disconnects, {_FROM}).",
    BROKER,
    source=SRC,
)
TOPIC = (*INSTANCE, "topic")
BATCH_SIZE = metric(
    "kafka_insight_librdkafka_producer_batch_size_avg_bytes",
    "gauge",
    f"""Average size of the producer's batches (MessageSets) to the topic over the last
    statistics window, as written, i.e. AFTER compression (topics.*.batchsize.avg,
    {_FROM}). librdkafka reports no pre-compression batch size and no compression ratio, so
    this exporter derives neither for librdkafka producers. Absent when no batch was sent
    in the window.""",
    TOPIC,
    unit="bytes",
    source=SRC,
)
BATCH_MESSAGES = metric(
    "kafka_insight_librdkafka_producer_batch_messages_avg",
    "gauge",
    f"""Average number of messages per batch to the topic over the last statistics window
    (topics.*.batchcnt.avg, {_FROM}). Near 1 under load means batches leave before they fill
    (linger.ms too short). Absent when no batch was sent in the window.""",
    TOPIC,
    source=SRC,
)
TOPIC_MESSAGES_SENT = metric(
    "kafka_insight_librdkafka_producer_topic_messages_sent_total",
    "counter",
    f"Messages the producer transmitted to the topic (sum of topics.*.partitions.*.txmsgs, {_FROM}).",
    TOPIC,
    source=SRC,
)
PART = (*INSTANCE, "group", "topic", "partition")
POSITION = metric(
    "kafka_insight_librdkafka_consumer_position",
    "gauge",
    f"""The consumer's position on the partition: offset of the last message passed to the
    application + 1 (topics.*.partitions.*.app_offset, {_FROM}). Known even for consumers
    that keep their offsets outside Kafka. Absent until the application got a message.""",
    PART,
    source=SRC,
)
FETCH_OFFSET = metric(
    "kafka_insight_librdkafka_consumer_fetch_offset",
    "gauge",
    f"""Next offset the consumer will fetch from the broker (next_offset, {_FROM}); ahead of
    the position by what is pre-fetched.""",
    PART,
    source=SRC,
)
STORED_OFFSET = metric(
    "kafka_insight_librdkafka_consumer_stored_offset",
    "gauge",
    f"""Offset stored for the next commit (stored_offset, {_FROM}); follows the position
    unless enable.auto.offset.store=false.""",
    PART,
    source=SRC,
)
COMMITTED_OFFSET = metric(
    "kafka_insight_librdkafka_consumer_committed_offset",
    "gauge",
    f"""Last offset the consumer committed to Kafka, as the client knows it
    (committed_offset, {_FROM}). Absent for consumers that never commit.""",
    PART,
    source=SRC,
)
HIGH_WATERMARK = metric(
    "kafka_insight_librdkafka_consumer_high_watermark",
    "gauge",
    f"The partition's high watermark as last seen by the consumer (hi_offset, {_FROM}).",
    PART,
    source=SRC,
)
CONSUMER_LAG = metric(
    "kafka_insight_librdkafka_consumer_lag",
    "gauge",
    f"""Lag as the client sees it: hi_offset (ls_offset with isolation.level=read_committed)
    minus committed_offset (topics.*.partitions.*.consumer_lag, {_FROM}). Absent when the
    consumer has not committed (librdkafka reports -1): use
    kafka_insight_librdkafka_consumer_lag_stored or
    kafka_insight_librdkafka_consumer_position_lag for consumers that keep offsets
    elsewhere.""",
    PART,
    source=SRC,
)
CONSUMER_LAG_STORED = metric(
    "kafka_insight_librdkafka_consumer_lag_stored",
    "gauge",
    f"""Lag from the stored offset: hi_offset (or ls_offset) minus stored_offset
    (consumer_lag_stored, {_FROM}). With the default enable.auto.offset.store=true the
    stored offset follows what the application consumed, so this covers consumers that
    never commit to Kafka.""",
    PART,
    source=SRC,
)
FETCH_QUEUE = metric(
    "kafka_insight_librdkafka_consumer_fetch_queue_messages",
    "gauge",
    f"""Pre-fetched messages waiting for the application (fetchq_cnt, {_FROM}). Full while
    lag grows means the application is the bottleneck, not the broker.""",
    PART,
    source=SRC,
)


def emit_client_stats(state: ClientStatsState, out: Samples) -> None:
    """ClientStatsState -> samples.  Pure."""
    for outcome in OUTCOMES:
        out.add(STATS_MESSAGES, state.outcomes.get(outcome, 0), outcome)
    out.add(TRACKED, len(state.instances))
    out.add(MAX_TRACKED, state.max_instances)
    out.add(EXPIRED, state.expired_total)
    for inst in state.instances:
        ids = (inst.client_id, inst.instance)
        out.add(
            CLIENT_INFO,
            1,
            *ids,
            inst.name,
            inst.role,
            inst.librdkafka_version,
            inst.software,
            inst.host,
            inst.group,
            inst.offset_storage,
        )
        out.add(STATS_AGE, max(0.0, state.taken - inst.timestamp), *ids)
        if inst.interval is not None:
            out.add(STATS_INTERVAL, inst.interval, *ids)
        out.add(REQUESTS_SENT, inst.requests_sent, *ids)
        out.add(SENT_BYTES, inst.sent_bytes, *ids)
        out.add(RESPONSES, inst.responses_received, *ids)
        out.add(RECEIVED_BYTES, inst.received_bytes, *ids)
        out.add(REPLY_QUEUE, inst.reply_queue, *ids)
        for b in inst.brokers:
            bl = (*ids, b.name, b.broker_id)
            for s in BROKER_STATES:
                out.add(BROKER_STATE, 1 if b.state == s else 0, *bl, s)
            if b.rtt_avg_us is not None:  # None: no request completed in the window
                out.add(BROKER_RTT, b.rtt_avg_us / 1e6, *bl)
            if b.rtt_p99_us is not None:
                out.add(BROKER_RTT_P99, b.rtt_p99_us / 1e6, *bl)
            out.add(BROKER_RETRIES, b.request_retries, *bl)
            out.add(BROKER_TX_ERRORS, b.transmit_errors, *bl)
            out.add(BROKER_RX_ERRORS, b.receive_errors, *bl)
            out.add(BROKER_TIMEOUTS, b.request_timeouts, *bl)
            out.add(BROKER_DISCONNECTS, b.disconnects, *bl)
        if inst.role == "producer":
            _emit_producer(inst, out)
        else:
            _emit_consumer(inst, out)


def _emit_producer(inst: ClientInstance, out: Samples) -> None:
    ids = (inst.client_id, inst.instance)
    out.add(MESSAGES_SENT, inst.messages_sent, *ids)
    out.add(MESSAGE_BYTES_SENT, inst.message_bytes_sent, *ids)
    out.add(QUEUE_MESSAGES, inst.queue_messages, *ids)
    out.add(QUEUE_BYTES, inst.queue_bytes, *ids)
    out.add(QUEUE_MAX_MESSAGES, inst.queue_max_messages, *ids)
    out.add(QUEUE_MAX_BYTES, inst.queue_max_bytes, *ids)
    sent: dict[str, int] = {}
    for p in inst.partitions:
        sent[p.topic] = sent.get(p.topic, 0) + p.txmsgs
    for t in inst.topics:
        if t.batch_size_avg is not None:
            out.add(BATCH_SIZE, t.batch_size_avg, *ids, t.topic)
        if t.batch_messages_avg is not None:
            out.add(BATCH_MESSAGES, t.batch_messages_avg, *ids, t.topic)
        out.add(TOPIC_MESSAGES_SENT, sent.get(t.topic, 0), *ids, t.topic)


def _emit_consumer(inst: ClientInstance, out: Samples) -> None:
    ids = (inst.client_id, inst.instance)
    out.add(MESSAGES_RECEIVED, inst.messages_received, *ids)
    out.add(MESSAGE_BYTES_RECEIVED, inst.message_bytes_received, *ids)
    for p in inst.assigned_partitions:
        labels = (*ids, inst.group, p.topic, p.partition)
        for spec, value in (
            (POSITION, p.app_offset),
            (FETCH_OFFSET, p.next_offset),
            (STORED_OFFSET, p.stored_offset),
            (COMMITTED_OFFSET, p.committed_offset),
            (HIGH_WATERMARK, p.hi_offset),
            (CONSUMER_LAG, p.consumer_lag),
            (CONSUMER_LAG_STORED, p.consumer_lag_stored),
        ):
            if value is not None:
                out.add(spec, value, *labels)
        out.add(FETCH_QUEUE, p.fetchq_cnt, *labels)
