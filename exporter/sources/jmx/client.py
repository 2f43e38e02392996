"""Java client JMX source: producers and consumers (also Kafka Connect's embedded clients).

Targets are JVMs listed in ``jmx.clients.targets``, each optionally with the client
settings the operator declares for it (``batch.size``, ``linger.ms``, ``acks``, ...), which
JMX does not expose and the interpretation layer needs.  One query per target per
cycle reads ``kafka.producer:*`` and ``kafka.consumer:*`` attributes; every client-id found
in the JVM becomes a :class:`~exporter.sources.jmx.client_records.ClientJmx`.

Series carry ``target`` (the configured name, default host:port) and ``client_id``: two
JVMs may use the same client.id.  Sample output::

    kafka_insight_producer_compressed_size_ratio{target="app-1:30100",client_id="p1"} 0.2088
    kafka_insight_client_info{target="app-1:30100",client_id="p1",kind="producer",version="4.0.0",commit_id="985bc99521dd22bb"} 1.0
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.metrics import Samples
from exporter.sources.base import Job, Source
from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.client_records import ClientJmx, ClientJmxTarget, parse_client_target
from exporter.sources.jmx.client_specs import (
    CLIENT_INFO,
    CONSUMER,
    CONSUMER_PARTITION,
    CONSUMER_TOPIC,
    DECLARED_SETTING,
    PRODUCER,
    PRODUCER_TOPIC,
    SRC,
)
from exporter.sources.jmx.config import ClientTarget, JmxConfig

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.snapshot import Snapshot

PATTERNS = [
    "kafka.producer:type=app-info,client-id=*/version",
    "kafka.producer:type=app-info,client-id=*/commit-id",
    "kafka.producer:type=producer-metrics,*",
    "kafka.producer:type=producer-topic-metrics,*",
    "kafka.consumer:type=app-info,client-id=*/version",
    "kafka.consumer:type=app-info,client-id=*/commit-id",
    "kafka.consumer:type=consumer-fetch-manager-metrics,*",
    "kafka.consumer:type=consumer-coordinator-metrics,*",
    "kafka.consumer:type=consumer-metrics,*/last-poll-seconds-ago",
]


class ClientJmxSource(Source):
    """One job per client JVM; payload :class:`~exporter.sources.jmx.client_records.ClientJmxTarget`."""

    name = SRC

    def __init__(self, settings: JmxConfig, cycle_timeout: float = 20.0) -> None:
        self.settings = settings
        self.timeout = max(0.5, min(settings.timeout, cycle_timeout - 0.5))
        self.limiter = jvm.Limiter(settings.max_parallel)

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        started = time.monotonic()
        return [Job(SRC, t.name, self._collector(t, started)) for t in self.settings.clients]

    def _collector(self, target: ClientTarget, started: float) -> Callable[[], ClientJmxTarget]:
        def run() -> ClientJmxTarget:
            return self.collect(target, started)

        return run

    def collect(self, target: ClientTarget, started: float | None = None) -> ClientJmxTarget:
        budget = self.timeout - (time.monotonic() - started if started is not None else 0.0)
        rows = jvm.query(target.address, PATTERNS, target.auth, timeout=budget, java=self.settings.java, limiter=self.limiter)
        record = parse_client_target(rows, target.name, declared=target.settings, per_partition=self.settings.per_partition_lag)
        if not record.clients:
            record.errors.append(f"JMX {target.address}: no kafka.producer or kafka.consumer MBeans (no Kafka client running?)")
        return record

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        for payload in snapshot.client_jmx:
            emit_clients(payload, out)


def emit_clients(t: ClientJmxTarget, out: Samples) -> None:
    """ClientJmxTarget -> samples.  Pure: tested on the recorded dumps."""
    if t.dropped:
        out.dropped[SRC] = out.dropped.get(SRC, 0) + t.dropped
    declared: set[str] = set()
    for c in t.clients:
        _emit_client(c, out, declared)


def _emit_client(c: ClientJmx, out: Samples, declared: set[str]) -> None:
    tgt, cid = c.target, c.client_id
    out.add(CLIENT_INFO, 1, tgt, cid, c.kind, c.version or "", c.commit_id or "")
    if cid not in declared:  # a producer and a consumer may share a client.id
        declared.add(cid)
        for setting, value in sorted(c.declared.items()):
            out.add(DECLARED_SETTING, 1, tgt, cid, setting, value)
    if c.producer is not None:
        for attr, spec in PRODUCER.items():
            value = getattr(c.producer, attr)
            if value is not None:
                out.add(spec, value, tgt, cid)
        for topic, pt in sorted(c.producer.topics.items()):
            for attr, spec in PRODUCER_TOPIC.items():
                value = getattr(pt, attr)
                if value is not None:
                    out.add(spec, value, tgt, cid, topic)
    if c.consumer is not None:
        for attr, spec in CONSUMER.items():
            value = getattr(c.consumer, attr)
            if value is not None and not (attr.endswith("_age_seconds") and value < 0):  # -1 = never
                out.add(spec, value, tgt, cid)
        for topic, ct in sorted(c.consumer.topics.items()):
            for attr, spec in CONSUMER_TOPIC.items():
                value = getattr(ct, attr)
                if value is not None:
                    out.add(spec, value, tgt, cid, topic)
        for (topic, pid), cp in sorted(c.consumer.partitions.items()):
            for attr, spec in CONSUMER_PARTITION.items():
                value = getattr(cp, attr)
                if value is not None:
                    out.add(spec, value, tgt, cid, topic, pid)


def factory(config: Config) -> Source | None:
    settings = config.jmx
    if settings is None or not settings.clients:
        return None
    source = ClientJmxSource(settings, config.timeout)
    jvm.prestart(settings.java, [t.auth for t in settings.clients], source.timeout)
    return source
