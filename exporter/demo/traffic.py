"""Synthetic traffic for the demo, shaped around Tansu's known bugs.

Topics that consumer groups read get exactly one record per produce batch
(``linger.ms=0``, ``batch.num.messages=1``): Tansu reports the log end offset of a
multi-record batch as its base offset + 1, which would make lag and offsets wrong.
Batched, compressed traffic goes only to topics no group reads.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger(__name__)

#: topics read by consumer groups: one record per batch, so offsets are true on Tansu
READ_TOPICS = {"orders": 3, "payments": 2}
#: batched, compressed traffic per codec; no consumer group reads these
COMPRESSED_TOPICS = {"clicks-zstd": "zstd", "logs-gzip": "gzip", "metrics-lz4": "lz4", "audit-none": "none"}
TOPIC_CONFIGS = {
    "orders": {"retention.ms": "86400000", "min.insync.replicas": "1"},
    "payments": {"retention.ms": "604800000", "cleanup.policy": "delete"},
}
QUIET = {"log_level": 0}

#: extra settings merged into every demo client (e.g. a statistics callback)
CLIENT_HOOKS: list[Callable[[str, dict[str, Any]], dict[str, Any]]] = []


def _client_conf(role: str, conf: dict[str, Any]) -> dict[str, Any]:
    for hook in CLIENT_HOOKS:
        conf = {**conf, **hook(role, conf)}
    return conf


def _event(i: int) -> bytes:
    return json.dumps(
        {
            "id": i,
            "user": f"user-{i % 97}",
            "amount": round(random.random() * 100, 2),
            "items": [f"sku-{random.randint(1, 500)}" for _ in range(random.randint(1, 6))],
            "note": "demo event " * random.randint(1, 8),
        }
    ).encode()


class Traffic:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def setup(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **QUIET})
        wanted = [NewTopic(name, n, 1, config=TOPIC_CONFIGS.get(name, {})) for name, n in READ_TOPICS.items()]
        wanted += [NewTopic(name, 2, 1) for name in COMPRESSED_TOPICS]
        for future in admin.create_topics(wanted, request_timeout=10).values():
            try:
                future.result()
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        # seed the 'payments' history, then point a group beyond its log end: after a data
        # loss this is what a group looks like (its next fetch gets OffsetOutOfRange)
        producer = Producer(
            _client_conf("producer", {"bootstrap.servers": self.bootstrap, "linger.ms": 0, "batch.num.messages": 1, **QUIET})
        )
        for i in range(50):
            producer.produce("payments", _event(i), partition=i % 2)
            producer.flush()
        offsets = [TopicPartition("payments", 0, 5000), TopicPartition("payments", 1, 25)]
        admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions("replay-after-loss", offsets)])[
            "replay-after-loss"
        ].result()

    def start(self) -> None:
        self.setup()
        self._spawn("producer-orders", self._single_record_producer, "orders", 20.0)
        self._spawn("producer-payments", self._single_record_producer, "payments", 2.0)
        for topic, codec in COMPRESSED_TOPICS.items():
            self._spawn(f"producer-{codec}", self._batched_producer, topic, codec)
        self._spawn("consumer-billing", self._consumer, "billing", ["orders", "payments"], 0.0)
        self._spawn("consumer-analytics", self._consumer, "analytics", ["orders"], 0.2)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target, *args), name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _guard(self, name: str, target: Callable[..., None], *args: Any) -> None:
        try:
            target(*args)
        except Exception:
            if not self.stop_event.is_set():
                log.exception("demo traffic %s stopped", name)

    def _single_record_producer(self, topic: str, per_second: float) -> None:
        producer = Producer(
            _client_conf(
                "producer",
                {
                    "bootstrap.servers": self.bootstrap,
                    "client.id": f"demo-{topic}",
                    "linger.ms": 0,
                    "batch.num.messages": 1,
                    **QUIET,
                },
            )
        )
        i = 0
        while not self.stop_event.wait(1.0 / per_second):
            producer.produce(topic, _event(i))
            producer.poll(0)
            i += 1
        producer.flush(5)

    def _batched_producer(self, topic: str, codec: str) -> None:
        producer = Producer(
            _client_conf(
                "producer",
                {
                    "bootstrap.servers": self.bootstrap,
                    "client.id": f"demo-{codec}",
                    "compression.type": codec,
                    "linger.ms": 50,
                    "batch.size": 65536,
                    **QUIET,
                },
            )
        )
        i = 0
        while not self.stop_event.wait(0.1):
            for _ in range(100):
                producer.produce(topic, _event(i))
                i += 1
            producer.poll(0)
        producer.flush(5)

    def _consumer(self, group: str, topics: list[str], delay: float) -> None:
        consumer = Consumer(
            _client_conf(
                "consumer",
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": group,
                    "client.id": f"demo-{group}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": True,
                    "auto.commit.interval.ms": 1000,
                    # Tansu answers a JoinGroup only after the rebalance timeout
                    # (max.poll.interval.ms): a short one lets the groups join within seconds
                    "max.poll.interval.ms": 10000,
                    "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 1000,
                    **QUIET,
                },
            )
        )
        consumer.subscribe(topics)
        try:
            while not self.stop_event.is_set():
                msg = consumer.poll(0.5)
                if msg is not None and delay:
                    self.stop_event.wait(delay)
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)
