"""The ``client_stats`` configuration section, as the source reads it."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import Config

DEFAULT_TOPIC = "kafka-insight-client-stats"


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
