"""Synthetic traffic for the demo: every pitfall a single broker can show.

Tansu (``shared/tansu-quirks.md``) reports the log end offset of a multi-record batch as
its base offset + 1, so the topics whose offsets matter — ``orders`` and ``payments``, read
by the consumer groups and by the statistics consumers — get exactly one record per
produce batch (``linger.ms=0``, ``batch.num.messages=1``).  Batched, compressed traffic
goes only to ``clicks-zstd``, ``logs-gzip``, ``metrics-lz4`` and ``audit-none``, which
nothing reads and whose offsets nothing asserts.

What each client shows (see :data:`BATCHED` for the producers):

* ``demo-zstd``: zstd on compressible JSON — large compression savings;
* ``demo-gzip``: gzip on random bytes — compression that costs CPU and saves nothing
  (savings 0, the "compression ineffective" alert);
* ``demo-lz4``: lz4 while its topic ``metrics-lz4`` says ``compression.type=zstd`` — the
  broker recompresses every batch (codec mismatch);
* ``demo-none``: uncompressed, batches filled to ``batch.size`` — next to ``demo-orders``
  and ``demo-payments``, which send one-record batches (``linger.ms=0``): tiny batches;
* every producer is idempotent except ``demo-payments``, which keeps librdkafka's default
  (idempotence off): reordering risk;
* groups: ``billing`` keeps up, ``analytics`` lags (slow processing), ``reporting`` is
  stopped (committed offsets, no member, lag grows), ``replay-after-loss`` has a committed
  offset beyond the log end of ``payments`` (P3), ``reprocess`` is rewound by hand now and
  then (offset rewinds);
* topics: every one has replication factor 1 on a single broker (durability risk).

The consumers that keep their offsets outside Kafka live in :mod:`exporter.demo.client_stats`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger(__name__)

#: topics read by consumer groups: one record per batch, so offsets are true on Tansu
READ_TOPICS = {"orders": 3, "payments": 2}


@dataclass(frozen=True)
class Batched:
    """A producer of batched traffic to a topic of its own, which nothing reads."""

    client_id: str
    topic: str
    codec: str
    payload: str  # "json" (compressible) or "random" (incompressible)
    batch_size: int = 65536
    #: the topic's own compression.type, when it differs from "producer"
    topic_codec: str | None = None


BATCHED = (
    Batched("demo-zstd", "clicks-zstd", "zstd", "json"),
    Batched("demo-gzip", "logs-gzip", "gzip", "random"),
    Batched("demo-lz4", "metrics-lz4", "lz4", "json", topic_codec="zstd"),
    # 100 events (~20 KB) at once every 100 ms: each burst fills several 4 KB batches
    Batched("demo-none", "audit-none", "none", "json", batch_size=4096),
)
#: batched traffic per topic and the codec its producer uses; no consumer group reads these
COMPRESSED_TOPICS = {b.topic: b.codec for b in BATCHED}
TOPIC_CONFIGS = {
    "orders": {"retention.ms": "86400000", "min.insync.replicas": "1"},
    "payments": {"retention.ms": "604800000", "cleanup.policy": "delete"},
    **{b.topic: {"compression.type": b.topic_codec} for b in BATCHED if b.topic_codec},
}
#: the stopped group's committed offsets (it read orders once, then its consumers went away)
STOPPED_GROUP = "reporting"
#: the group whose offsets are rewound by hand, and how often (seconds)
REWOUND_GROUP = "reprocess"
REWIND_EVERY = 12.0  # each half longer than the demo's 5 s collection interval: every move is seen
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
        wanted += [NewTopic(name, 2, 1, config=TOPIC_CONFIGS.get(name, {})) for name in COMPRESSED_TOPICS]
        for future in admin.create_topics(wanted, request_timeout=10).values():
            try:
                future.result()
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        # seed the 'payments' history, then point a group beyond its log end: after a data
        # loss this is what a group looks like (its next fetch gets OffsetOutOfRange)
        seed = {"bootstrap.servers": self.bootstrap, "client.id": "demo-seed", "linger.ms": 0, "batch.num.messages": 1}
        producer = Producer(_client_conf("producer", {**seed, "enable.idempotence": True, **QUIET}))
        for i in range(50):
            producer.produce("payments", _event(i), partition=i % 2)
            producer.flush()
        offsets = [TopicPartition("payments", 0, 5000), TopicPartition("payments", 1, 25)]
        admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions("replay-after-loss", offsets)])[
            "replay-after-loss"
        ].result()
        # a group that read orders once and whose consumers are gone: its lag only grows
        stopped = [TopicPartition("orders", p, 0) for p in range(READ_TOPICS["orders"])]
        admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(STOPPED_GROUP, stopped)])[STOPPED_GROUP].result()

    def start(self) -> None:
        self.setup()
        self._spawn("producer-orders", self._single_record_producer, "orders", 20.0)
        self._spawn("producer-payments", self._single_record_producer, "payments", 2.0)
        for batched in BATCHED:
            self._spawn(f"producer-{batched.codec}", self._batched_producer, batched)
        self._spawn("consumer-billing", self._consumer, "billing", ["orders", "payments"], 0.0)
        self._spawn("consumer-analytics", self._consumer, "analytics", ["orders"], 0.2)
        self._spawn("rewinder", self._rewinder, REWOUND_GROUP, "payments")

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
        settings: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "client.id": f"demo-{topic}",
            "linger.ms": 0,
            "batch.num.messages": 1,
            **QUIET,
        }
        # payments keeps librdkafka's default (idempotence off): the demo's reordering risk
        if topic != "payments":
            settings["enable.idempotence"] = True
        producer = Producer(_client_conf("producer", settings))
        i = 0
        while not self.stop_event.wait(1.0 / per_second):
            producer.produce(topic, _event(i))
            producer.poll(0)
            i += 1
        producer.flush(5)

    def _batched_producer(self, b: Batched) -> None:
        producer = Producer(
            _client_conf(
                "producer",
                {
                    "bootstrap.servers": self.bootstrap,
                    "client.id": b.client_id,
                    "compression.type": b.codec,
                    "linger.ms": 50,
                    "batch.size": b.batch_size,
                    "enable.idempotence": True,
                    **QUIET,
                },
            )
        )
        i = 0
        while not self.stop_event.wait(0.1):
            for _ in range(100):
                producer.produce(b.topic, os.urandom(300) if b.payload == "random" else _event(i))
                i += 1
            producer.poll(0)
        producer.flush(5)

    def _rewinder(self, group: str, topic: str) -> None:
        """Commit the log end for ``group``, then half of it: someone resetting a group by hand."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **QUIET})
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"{group}-watermarks", **QUIET})
        try:
            partitions = range(READ_TOPICS[topic])
            forward = True
            while not self.stop_event.wait(REWIND_EVERY / 2):
                ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in partitions]
                offsets = [
                    TopicPartition(topic, p, end if forward else end // 2) for p, end in zip(partitions, ends, strict=True)
                ]
                admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, offsets)])[group].result()
                forward = not forward
        finally:
            consumer.close()

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
