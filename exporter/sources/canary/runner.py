"""The canary's background threads: topic, producer (acks=all, idempotent), refusal probe, reader.

Two daemon threads per exporter: ``canary-produce`` (metadata every few seconds, topic
creation, sending, the refusal probe) and ``canary-read`` (reads the topic back, checks the log end).  Every
failure inside them is caught, logged and kept as :attr:`CanaryRunner.problem`; nothing
propagates to the rest of the exporter.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from exporter.sources.canary.config import CanarySettings
from exporter.sources.canary.records import CanaryRecord, Ledger

log = logging.getLogger(__name__)

#: seconds between metadata refreshes (leaders, the spread) and log-end checks
METADATA_EVERY = 5.0
LOG_END_EVERY = 1.0
#: a log end below acknowledged offsets must be seen again this much later to count as loss
#: (a new leader can briefly answer with an old high watermark)
LOG_END_CONFIRM = 2.0
#: a refusal probe record not answered within this many ms counts as failed (_MSG_TIMED_OUT)
PROBE_TIMEOUT_MS = 5000
#: the canary producer's delivery timeout: longer than any broker fencing or leader election
DELIVERY_TIMEOUT_MS = 120_000


def plan_assignment(brokers: list[int], replication_factor: int) -> list[list[int]]:
    """One partition per broker, partition i led (preferred) by the i-th broker, its
    followers the next brokers round the ring: every broker leads exactly one."""
    ids = sorted(brokers)
    rf = min(replication_factor, len(ids))
    return [[ids[(i + k) % len(ids)] for k in range(rf)] for i in range(len(ids))]


class CanaryRunner:
    def __init__(
        self,
        settings: CanarySettings,
        bootstrap: str,
        client: Mapping[str, str] | None = None,
        session: str | None = None,
        on_ack: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or uuid.uuid4().hex[:12]
        self.ledger = Ledger(settings.topic, self.session, settings.window_records)
        self.base: dict[str, Any] = {"bootstrap.servers": bootstrap, **(client or {}), "logger": logging.getLogger("librdkafka")}
        #: test hook: (partition, offset, value) of every acknowledged record
        self.on_ack = on_ack
        #: one-line description of what is wrong now (None: healthy)
        self.problem: str | None = "starting"
        self.partitions: list[int] = []
        self.last_metadata = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spread_warned: frozenset[int] = frozenset()
        #: set on a failed send: re-read the leaders within a second, not METADATA_EVERY
        self._refresh = threading.Event()
        #: partition -> the next record's sequence number; kept here, not in the produce
        #: loop, so a replaced producer or a restarted thread continues the numbering (a
        #: restart at 0 would read back as the canary's own duplicates and reordering)
        self._sequence: dict[int, int] = {}

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        for name, target in (("canary-produce", self._produce_loop), ("canary-read", self._read_loop)):
            thread = threading.Thread(target=self._guard, args=(name, target), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads) and bool(self._threads)

    def _guard(self, name: str, target: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                target()
                return
            except Exception as exc:  # never let the canary take anything else down
                self.problem = f"{name}: {exc}"
                log.exception("canary thread %s failed; restarting it in 5 s", name)
                self._stop.wait(5)

    # -- topic and metadata --------------------------------------------------------
    def _metadata(self, admin: AdminClient) -> bool:
        s = self.settings
        try:
            md = admin.list_topics(timeout=5)
        except KafkaException as exc:
            self.problem = f"no broker answered the metadata request: {exc.args[0] if exc.args else exc}"
            return False
        brokers = sorted(md.brokers)
        topic = md.topics.get(s.topic)
        if topic is None or (topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            if not s.create_topic:
                self.problem = f"canary topic {s.topic} does not exist and canary.create_topic is false"
                return False
            self._create(admin, brokers)
            return False
        leaders = {p.id: p.leader for p in topic.partitions.values()}
        self.partitions = sorted(leaders)
        self.ledger.set_leaders(leaders, brokers)
        idle = frozenset(b for b, n in self.ledger.led.items() if n == 0)
        if idle != self._spread_warned:
            if idle:
                log.warning("canary: broker(s) %s lead no partition of %s: their writes are not probed", sorted(idle), s.topic)
            self._spread_warned = idle
        self.last_metadata = time.monotonic()
        self.problem = None
        return True

    def _create(self, admin: AdminClient, brokers: list[int]) -> None:
        s = self.settings
        if not brokers:
            self.problem = "no brokers in the metadata"
            return
        assignment = plan_assignment(brokers, s.replication_factor)
        rf = len(assignment[0])
        config = {"min.insync.replicas": str(min(s.min_insync_replicas, rf)), "retention.ms": str(3600 * 1000)}
        future = admin.create_topics([NewTopic(s.topic, len(assignment), replica_assignment=assignment, config=config)], request_timeout=10)[s.topic]
        try:
            future.result()
            log.info("canary: created topic %s (%d partitions, RF %d)", s.topic, len(assignment), rf)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                self.problem = f"creating canary topic {s.topic} failed: {err or exc}"

    # -- producer --------------------------------------------------------------------
    def _producer(self) -> Producer:
        """Idempotent, acks=all, librdkafka's unlimited retries, a long delivery timeout.

        Idempotence only holds while librdkafka retries a batch under the same producer epoch and
        sequence: once an in-flight record times out (message.timeout.ms) it bumps the epoch and
        sends the records queued behind it again under new sequences, and the copies the leader
        had already appended stay.  With ``retries: 2`` and a 10 s timeout, a plain broker crash
        (requests timing out while the dead follower was still in the ISR, ~10 s until the
        controller fenced it) left 43 records twice in the log in two live runs: the canary's own
        doing, not the cluster's.  So a record is retried until DELIVERY_TIMEOUT_MS, longer than
        any fencing or election; a refused write is retried too and reported late, which is why
        the refusal probe (:meth:`_prober`) names refusals."""
        return Producer(
            {
                **self.base,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                "request.timeout.ms": 5000,
                "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                "queue.buffering.max.messages": 10000,
            }
        )

    def _prober(self) -> Producer:
        """The refusal probe's producer: acks=all, NOT idempotent, no retries: the leader's first
        answer is what it reports (NOT_ENOUGH_REPLICAS as it comes)."""
        return Producer(
            {
                **self.base,
                "acks": "all",
                "enable.idempotence": False,
                "retries": 0,
                "linger.ms": 0,
                "request.timeout.ms": PROBE_TIMEOUT_MS // 2,
                "message.timeout.ms": PROBE_TIMEOUT_MS,
            }
        )

    def _probe_all(self, prober: Producer, in_flight: set[int]) -> None:
        """One probe record (sequence -1: never checked for loss or order) to every partition
        that has none in flight."""
        for partition in self.partitions:
            if partition in in_flight:
                continue
            broker = self.ledger.leader(partition)
            value = CanaryRecord(self.session, partition, -1, time.time_ns()).encode()

            def delivered(err: KafkaError | None, msg: Message, partition: int = partition, broker: int = broker) -> None:
                in_flight.discard(partition)
                if err is not None:
                    self.ledger.probe_failed(partition, broker, err.name())
                    self._refresh.set()

            self.ledger.probed(partition, broker)
            try:
                prober.produce(self.settings.topic, value, partition=partition, on_delivery=delivered)
                in_flight.add(partition)
            except (BufferError, KafkaException) as exc:
                self.ledger.probe_failed(partition, broker, type(exc).__name__)

    def _produce_loop(self) -> None:
        admin = AdminClient(dict(self.base))
        producer = self._producer()
        prober = self._prober() if self.settings.probe_interval > 0 else None
        probing: set[int] = set()
        fatal = threading.Event()
        sequence = self._sequence
        next_metadata = next_send = last_try = next_probe = 0.0
        period = 1.0 / self.settings.records_per_second
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_metadata or (self._refresh.is_set() and now >= last_try + 1.0):
                    self._refresh.clear()
                    last_try = now
                    ok = self._metadata(admin)
                    next_metadata = now + (METADATA_EVERY if ok else 1.0)
                if fatal.is_set():  # e.g. the idempotent sequence was broken by a truncation
                    with contextlib.suppress(KafkaException):
                        producer.flush(1)
                    producer = self._producer()
                    fatal.clear()
                if now >= next_send and self.partitions:
                    next_send = max(next_send + period, now)
                    for p in self.partitions:
                        seq = sequence.get(p, 0)
                        sequence[p] = seq + 1
                        self._send(producer, p, seq, fatal)
                if prober is not None and now >= next_probe and self.partitions:
                    next_probe = max(next_probe + self.settings.probe_interval, now)
                    self._probe_all(prober, probing)
                wake = next_send if prober is None else min(next_send, next_probe)
                try:
                    producer.poll(min(0.05, max(0.0, wake - time.monotonic())))
                except KafkaException as exc:
                    # librdkafka raises a fatal error (e.g. OUT_OF_ORDER_SEQUENCE_NUMBER after
                    # refused acks=all retries) from poll as well as in delivery reports: the
                    # producer is replaced, the loop and its sequence numbers go on
                    if not exc.args or not isinstance(exc.args[0], KafkaError) or not exc.args[0].fatal():
                        raise
                    log.warning("canary: fatal producer error, replacing the producer: %s", exc.args[0].str())
                    fatal.set()
                if prober is not None:
                    prober.poll(0)
        finally:
            with contextlib.suppress(KafkaException):
                producer.flush(2)
            if prober is not None:
                prober.flush(1)

    def _send(self, producer: Producer, partition: int, seq: int, fatal: threading.Event) -> None:
        broker = self.ledger.leader(partition)
        record = CanaryRecord(self.session, partition, seq, time.time_ns())
        self.ledger.sent(partition, broker)
        backlog = max(20.0, self.settings.records_per_second * 15) * max(1, len(self.partitions))
        if len(producer) > backlog:
            self.ledger.failed(partition, broker, "_QUEUE_FULL")  # cluster down: do not pile up
            return
        value = record.encode()

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self.ledger.failed(partition, broker, err.name())
                self._refresh.set()  # leadership may have moved: label the next failures right
                if err.fatal():
                    fatal.set()
                return
            offset = msg.offset()
            if offset is None or offset < 0:
                return
            self.ledger.acknowledged(record, offset, broker, time.time_ns())
            if self.on_ack is not None:
                self.on_ack(partition, offset, value)

        try:
            producer.produce(self.settings.topic, value, partition=partition, on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            self.ledger.failed(partition, broker, type(exc).__name__)

    # -- reader ----------------------------------------------------------------------
    def _read_loop(self) -> None:
        consumer = Consumer(
            {
                **self.base,
                "group.id": f"kafka-insight-canary-{self.session}",  # never joined: assign() only
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
            }
        )
        assigned: set[int] = set()
        suspect: dict[int, float] = {}
        next_check = 0.0
        try:
            while not self._stop.is_set():
                new = [p for p in self.partitions if p not in assigned]
                if new:
                    consumer.incremental_assign([TopicPartition(self.settings.topic, p, OFFSET_END) for p in new])
                    assigned.update(new)
                if not assigned:
                    self._stop.wait(0.2)
                    continue
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    self.ledger.found(msg.partition() or 0, msg.offset() or 0, msg.value(), time.time_ns())
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + LOG_END_EVERY
                    self._check_log_end(consumer, sorted(assigned), suspect, now)
        finally:
            consumer.close()

    def _check_log_end(self, consumer: Consumer, partitions: list[int], suspect: dict[int, float], now: float) -> None:
        for p in partitions:
            acked = self.ledger.acked_offsets(p)
            if not acked:
                continue
            try:
                _, high = consumer.get_watermark_offsets(TopicPartition(self.settings.topic, p), timeout=2, cached=False)
            except KafkaException:
                continue
            if high < 0 or high > max(acked):
                suspect.pop(p, None)
                continue
            first = suspect.setdefault(p, now)
            if now - first >= LOG_END_CONFIRM:
                lost = self.ledger.log_end(p, high)
                suspect.pop(p, None)
                if lost:
                    log.error("canary: %d acknowledged record(s) of partition %d lie beyond the log end %d", lost, p, high)
