"""The ``canary`` configuration section (a section of :class:`exporter.config.Config`) and the
runner's settings built from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.configbase import option


@dataclass(frozen=True)
class CanaryConfig:
    """``canary``: the durability canary (docs/canary.md). Opt-in: it writes to the cluster."""

    enabled: bool = field(
        metadata=option(
            "bool",
            False,
            "Run the durability canary (docs/canary.md): it WRITES small records to its own topic with acks=all and reads them back to prove acknowledged writes survive. Off by default.",
        )
    )
    topic: str = field(metadata=option("str", "kafka-insight-canary", "The canary topic (nothing else may write to it)."))
    records_per_second: float = field(
        metadata=option("float", 1.0, "Records sent per canary partition per second.", 0.01, 100)
    )
    replication_factor: int = field(
        metadata=option(
            "int", 3, "Replication factor of the canary topic when the exporter creates it (capped at the broker count).", 1, 100
        )
    )
    min_insync_replicas: int = field(
        metadata=option(
            "int", 2, "min.insync.replicas of the canary topic when the exporter creates it (capped at the replication factor).", 1, 100
        )
    )
    create_topic: bool = field(
        metadata=option(
            "bool",
            True,
            "Create the canary topic (one partition per broker, each broker leading one) when it does not exist; when false it must exist.",
        )
    )
    probe_interval_seconds: float = field(
        metadata=option(
            "float",
            5.0,
            "Seconds between refusal probes: one acks=all record per canary partition, not idempotent and not retried, so a refusal (NOT_ENOUGH_REPLICAS) is counted as the leader answers; 0 turns the probe off.",
            0,
            3600,
        )
    )
    window_records: int = field(
        metadata=option(
            "int",
            10000,
            "Acknowledged records remembered per canary partition (about 100 bytes each); a record is checked for loss while it is in the window.",
            10,
            10000000,
        )
    )


@dataclass(frozen=True)
class CanarySettings:
    """What the runner needs (defaults as in :class:`CanaryConfig`; tests build it directly)."""

    enabled: bool = False
    topic: str = "kafka-insight-canary"
    records_per_second: float = 1.0
    replication_factor: int = 3
    min_insync_replicas: int = 2
    create_topic: bool = True
    window_records: int = 10000
    #: seconds between refusal probes (0: off)
    probe_interval: float = 5.0

    @classmethod
    def of(cls, c: CanaryConfig) -> CanarySettings:
        """From the validated section (``config.canary``)."""
        return cls(
            c.enabled,
            c.topic,
            c.records_per_second,
            c.replication_factor,
            c.min_insync_replicas,
            c.create_topic,
            c.window_records,
            c.probe_interval_seconds,
        )
