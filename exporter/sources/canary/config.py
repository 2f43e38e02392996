"""The ``canary:`` section (declared in :data:`exporter.config.SCHEMA`) as typed settings."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import Config


@dataclass(frozen=True)
class CanarySettings:
    enabled: bool = False
    topic: str = "kafka-insight-canary"
    records_per_second: float = 1.0
    replication_factor: int = 3
    min_insync_replicas: int = 2
    create_topic: bool = True
    window_records: int = 10000

    @classmethod
    def of(cls, config: Config) -> CanarySettings:
        raw = config.raw.get("canary") or {}
        return cls(
            enabled=bool(raw.get("enabled", False)),
            topic=str(raw.get("topic", cls.topic)),
            records_per_second=float(raw.get("records_per_second", cls.records_per_second)),
            replication_factor=int(raw.get("replication_factor", cls.replication_factor)),
            min_insync_replicas=int(raw.get("min_insync_replicas", cls.min_insync_replicas)),
            create_topic=bool(raw.get("create_topic", cls.create_topic)),
            window_records=int(raw.get("window_records", cls.window_records)),
        )
