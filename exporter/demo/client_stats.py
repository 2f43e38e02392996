"""Demo: every synthetic client forwards its librdkafka statistics, plus one consumer that
keeps its offsets outside Kafka.

:func:`install` adds a ``CLIENT_HOOKS`` entry to :mod:`exporter.demo.traffic`, so each demo
producer and consumer gets ``statistics.interval.ms`` and a ``stats_cb`` from one
:class:`~exporter.stats_forwarder.StatsForwarder`.  The statistics topic only receives
batched, compressed records; nothing reads its offsets, so Tansu's wrong log end offsets
after multi-record batches (``shared/tansu-quirks.md``) do not matter there.

The ``ledger`` consumer reads ``orders`` the way applications with transactional "manual
offset management" do: ``enable.auto.commit=false``, never commits, and ``assign()``s the
partitions at the offsets from its own store (here a dict, as if it were a database row
written in the same transaction as the processing).  Kafka's Admin API shows no group and
no lag for it; its statistics show its position and lag.

The ``restored`` consumer keeps its offsets outside Kafka too, but its store is AHEAD of
the log of ``orders`` partition 0 (:data:`RESTORED_AHEAD` messages), as after a broker lost
acknowledged data while the application's own store kept the offsets it had reached: the
client-statistics "beyond the log end" gauge shows it.  (Tansu answers such fetches with
nothing rather than OFFSET_OUT_OF_RANGE, so it simply waits there.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from exporter.demo import traffic
from exporter.sources.client_stats.forwarder import DEFAULT_TOPIC, StatsForwarder

log = logging.getLogger(__name__)

#: the demo collects every 5 s; statistics every 2 s arrive before its second cycle (every
#: headline gauge of the producers needs one statistics message)
INTERVAL_MS = 2000
LEDGER_TOPIC = "orders"
#: messages per second the ledger processes (orders get 20/s): it keeps up, with some lag
LEDGER_RATE = 30.0
#: how far the restored consumer's own offset store is ahead of the log end
RESTORED_AHEAD = 100000


class DemoClientStats:
    def __init__(self, bootstrap: str, topic: str = DEFAULT_TOPIC) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        admin = AdminClient({"bootstrap.servers": bootstrap, **traffic.QUIET})
        for future in admin.create_topics([NewTopic(topic, 3, 1, config={"retention.ms": "3600000"})], request_timeout=10).values():
            try:
                future.result()
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        self.forwarder = StatsForwarder(bootstrap, topic, interval_ms=INTERVAL_MS, extra=traffic.QUIET)
        self._hook: Callable[[str, dict[str, Any]], dict[str, Any]] = self._settings
        traffic.CLIENT_HOOKS.append(self._hook)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.restored: threading.Thread | None = None
        #: the ledger's own offset store: partition -> next offset to process
        self.ledger_offsets: dict[int, int] = {}

    def _settings(self, role: str, conf: dict[str, Any]) -> dict[str, Any]:
        return self.forwarder.configure(conf)

    def start_ledger(self) -> None:
        """Start the externally-stored-offset consumers (after the demo topics exist)."""
        self.thread = threading.Thread(target=self._guarded, args=(self._ledger,), name="consumer-ledger", daemon=True)
        self.thread.start()
        self.restored = threading.Thread(target=self._guarded, args=(self._restored,), name="consumer-restored", daemon=True)
        self.restored.start()

    def _guarded(self, target: Callable[[], None]) -> None:
        try:
            target()
        except Exception:
            if not self.stop_event.is_set():
                log.exception("demo consumer %s stopped", target.__name__)

    def _restored(self) -> None:
        settings = {
            "bootstrap.servers": self.bootstrap,
            "group.id": "restored",  # required by the client; never joined, never committed
            "client.id": "demo-restored",
            "enable.auto.commit": False,
            **traffic.QUIET,
        }
        consumer = Consumer(self.forwarder.configure(settings, offset_storage="external"))
        try:
            _, end = consumer.get_watermark_offsets(TopicPartition(LEDGER_TOPIC, 0), timeout=10)
            consumer.assign([TopicPartition(LEDGER_TOPIC, 0, end + RESTORED_AHEAD)])
            while not self.stop_event.is_set():
                consumer.poll(0.5)
        finally:
            consumer.close()

    def _ledger(self) -> None:
        settings = {
            "bootstrap.servers": self.bootstrap,
            "group.id": "ledger",  # required by the client; never joined, never committed
            "client.id": "demo-ledger",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **traffic.QUIET,
        }
        consumer = Consumer(self.forwarder.configure(settings, offset_storage="external"))
        try:
            partitions = sorted(consumer.list_topics(LEDGER_TOPIC, timeout=10).topics[LEDGER_TOPIC].partitions)
            # the offsets come from the application's own store, not from Kafka
            consumer.assign([TopicPartition(LEDGER_TOPIC, p, self.ledger_offsets.get(p, 0)) for p in partitions])
            while not self.stop_event.is_set():
                msg = consumer.poll(0.5)
                if msg is None or msg.error() is not None:
                    continue
                self.ledger_offsets[msg.partition()] = msg.offset() + 1
                self.stop_event.wait(1.0 / LEDGER_RATE)
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in (self.thread, self.restored):
            if thread is not None:
                thread.join(timeout=10)
        if self._hook in traffic.CLIENT_HOOKS:
            traffic.CLIENT_HOOKS.remove(self._hook)
        self.forwarder.flush(2)
