"""Forward a librdkafka client's statistics to Kafka, for kafka-insight-exporter.

Two lines in an application that uses confluent-kafka-python::

    from exporter.stats_forwarder import StatsForwarder

    forwarder = StatsForwarder("broker1:9092")                     # once per process
    producer = Producer(forwarder.configure(my_producer_settings))  # each client

:meth:`StatsForwarder.configure` returns the application's settings plus
``statistics.interval.ms`` and a ``stats_cb`` that hands each statistics JSON to the
forwarder's *own* producer.  The application's delivery is not affected: the callback
never blocks and never raises (librdkafka calls it from the application's ``poll()``);
the forwarder's queue is bounded, and when it is full or the message is too large the
statistics are dropped and counted (:attr:`StatsForwarder.dropped`).

Each message is keyed by ``host/pid/handle-name`` (one key per client instance) and wraps
the untouched statistics JSON in a small envelope with the librdkafka version, the
application's declared producer/consumer settings that matter to the exporter
(``enable.idempotence``, ``acks``, ``max.in.flight``, ``retries``, ``compression.type``,
``batch.size``, ``linger.ms``, ``group.id``, ``enable.auto.commit``, ...) and where the
consumer keeps its offsets (``offset_storage="external"`` for consumers that store
offsets outside Kafka).  Applications in other languages may forward the bare statistics
JSON to the same topic; the exporter accepts both.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaException, Producer

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "kafka-insight-client-stats"
ENVELOPE_FORMAT = "kafka-insight-client-stats/1"
#: settings copied from the application's configuration into the envelope
FORWARDED_SETTINGS = (
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
    "message.send.max.retries",
    "retries",
    "compression.type",
    "compression.codec",
    "batch.size",
    "batch.num.messages",
    "linger.ms",
    "queue.buffering.max.ms",
    "transactional.id",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
    "auto.offset.reset",
)
_NAME_RE = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


class StatsForwarder:
    """One small producer per process that forwards every client's statistics."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = DEFAULT_TOPIC,
        *,
        interval_ms: int = 15000,
        extra: Mapping[str, Any] | None = None,
        max_queued: int = 1000,
    ) -> None:
        """``extra``: settings for the forwarder's producer (e.g. ``security.protocol``, ``sasl.*``)."""
        self.topic = topic
        self.interval_ms = int(interval_ms)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.dropped = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": "kafka-insight-stats-forwarder",
                "linger.ms": 200,
                "compression.type": "lz4",
                "queue.buffering.max.messages": max_queued,
                "queue.buffering.max.kbytes": 16384,
                "message.timeout.ms": 30000,
                "acks": 1,
                "log_level": 3,
                **(extra or {}),
            }
        )
        self._software = f"confluent-kafka-python/{confluent_kafka.version()[0]}"
        self._librdkafka = confluent_kafka.libversion()[0]

    def configure(
        self,
        settings: Mapping[str, Any],
        *,
        offset_storage: str | None = None,
        interval_ms: int | None = None,
    ) -> dict[str, Any]:
        """The application's ``settings`` plus statistics forwarding.

        ``offset_storage``: ``"kafka"`` or ``"external"`` (the consumer keeps its offsets in
        its own store); by default ``"kafka"`` for consumers with ``enable.auto.commit`` on,
        unknown otherwise.
        """
        interval = int(interval_ms or settings.get("statistics.interval.ms") or self.interval_ms)
        return {**settings, "statistics.interval.ms": interval, "stats_cb": self.callback(settings, offset_storage, interval)}

    def callback(
        self, settings: Mapping[str, Any], offset_storage: str | None = None, interval_ms: int | None = None
    ) -> Callable[[str], None]:
        """A ``stats_cb`` for a client created with ``settings``."""
        declared = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items() if k in FORWARDED_SETTINGS}
        if offset_storage is None and "group.id" in settings:
            auto = str(settings.get("enable.auto.commit", "true")).lower()
            offset_storage = "kafka" if auto == "true" else None
        meta = {
            "format": ENVELOPE_FORMAT,
            "host": self.host,
            "pid": self.pid,
            "software": self._software,
            "librdkafka_version": self._librdkafka,
            "interval_ms": interval_ms or self.interval_ms,
            "settings": declared,
        }
        if offset_storage is not None:
            meta["offset_storage"] = offset_storage
        if "group.id" in settings:
            meta["group_id"] = str(settings["group.id"])
        # the envelope is built around the statistics string, never parsing it in poll()
        head = json.dumps(meta, separators=(",", ":"))[:-1] + ',"stats":'

        def stats_cb(stats_json: str) -> None:
            try:
                match = _NAME_RE.search(stats_json, 0, 400)
                name = match.group(1) if match else "unknown"
                self._producer.produce(self.topic, (head + stats_json + "}").encode(), key=f"{self.host}/{self.pid}/{name}")
                self._producer.poll(0)
                with self._lock:
                    self.forwarded += 1
            except (BufferError, KafkaException, ValueError, TypeError):
                with self._lock:
                    self.dropped += 1
                    first = self.dropped == 1
                if first:
                    log.warning("statistics forwarder: dropped statistics (queue full or message too large); counting further drops")
            except Exception:  # never raise into the application's poll()
                with self._lock:
                    self.dropped += 1

        return stats_cb

    def flush(self, timeout: float = 5.0) -> int:
        """Send what is queued; returns the number of messages still queued."""
        remaining: int = self._producer.flush(timeout)
        return remaining

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
