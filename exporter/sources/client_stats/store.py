"""The latest statistics per client instance: bounded, thread-safe, shared by the consumer thread and the cycle."""

from __future__ import annotations

import dataclasses
import logging
import threading

from exporter.sources.client_stats.parse import parse_message
from exporter.sources.client_stats.records import OUTCOMES, ClientInstance, InvalidStatsError

log = logging.getLogger(__name__)


class StatsStore:
    """Latest statistics per client instance, bounded; thread-safe.

    Memory: one parsed :class:`ClientInstance` per instance (roughly 1 KB plus ~300 bytes
    per partition and broker it reports, plus ~150 bytes per topic of a producer for the
    previous message's totals), at most ``max_instances`` of them.
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
                if known is not None and known.name == inst.name and inst.role == "producer":
                    # the window's message sizes are the change since this handle's previous message
                    inst = dataclasses.replace(inst, previous_totals=known.tx_totals)
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
