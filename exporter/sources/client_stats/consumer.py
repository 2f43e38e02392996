"""Client-statistics source: librdkafka statistics that applications forward to a topic.

A background thread consumes the statistics topic (``client_stats.topic``, default
``kafka-insight-client-stats``) with ``assign()`` — no consumer group, nothing committed
— starting a little before the end of each partition, and keeps the latest statistics per
client instance in a bounded :class:`StatsStore`.  The cycle's job only snapshots that
store, so it takes microseconds whatever the number of clients.

Instances not heard from for ``expire_after_intervals`` of their own statistics intervals
disappear with their series.  The topic is writable by any client: every message is
parsed defensively (:mod:`.parse`); malformed, oversized or unknown messages
are dropped and counted by outcome (first of each kind logged), and at most
``max_instances`` instances are tracked — statistics from new instances beyond the cap
are dropped and counted, the instances already tracked keep updating.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from exporter.config import Config
from exporter.metrics import Samples
from exporter.sources.base import Job, Source, SourceError
from exporter.sources.client_stats.config import ClientStatsConfig
from exporter.sources.client_stats.emit import emit_client_stats
from exporter.sources.client_stats.records import ClientStatsState
from exporter.sources.client_stats.specs import SRC
from exporter.sources.client_stats.store import StatsStore

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot

log = logging.getLogger(__name__)
#: records read back per partition when the exporter starts, so it knows its clients at once
LOOKBACK = 200
#: how often the consumer thread re-reads the topic's partitions
REFRESH_SECONDS = 30.0


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
            **self.config.kafka.client,
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
                    "socket.timeout.ms": int(self.config.kafka.request_timeout_seconds * 1000),
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
            md = consumer.list_topics(topic, timeout=self.config.kafka.request_timeout_seconds)
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
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, pid), timeout=self.config.kafka.request_timeout_seconds)
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
            [NewTopic(s.topic, s.partitions, s.replication_factor, config=config)], request_timeout=self.config.kafka.request_timeout_seconds
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
        state = snapshot.client_stats
        if state is not None:
            emit_client_stats(state, out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def build(config: Config) -> ClientStatsSource | None:
    """Source factory for ``exporter.app``: None unless ``client_stats.enabled``."""
    settings = config.client_stats
    return ClientStatsSource(config, settings) if settings.enabled else None
