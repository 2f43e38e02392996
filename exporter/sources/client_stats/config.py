"""The ``client_stats`` configuration section (a section of :class:`exporter.config.Config`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.configbase import option


@dataclass(frozen=True)
class ClientStatsConfig:
    """``client_stats``: the librdkafka statistics source."""

    enabled: bool = field(
        metadata=option(
            "bool",
            False,
            "Consume librdkafka client statistics that applications forward with `exporter.stats_forwarder` (always on in demo mode).",
        )
    )
    topic: str = field(
        metadata=option(
            "str",
            "kafka-insight-client-stats",
            "Topic the applications forward their statistics to.",
        )
    )
    expire_after_intervals: float = field(
        metadata=option(
            "float",
            3.0,
            "A client instance not heard from for this many of its statistics intervals (the collection interval when it did not say) disappears with its series.",
            1,
            1000,
        )
    )
    max_instances: int = field(
        metadata=option(
            "int",
            1000,
            "Most client instances tracked; statistics from further new instances are dropped and counted until others expire.",
            1,
            1000000,
        )
    )
    max_message_bytes: int = field(
        metadata=option(
            "int",
            1048576,
            "Statistics messages larger than this are dropped and counted.",
            1024,
            104857600,
        )
    )
    create_topic: bool = field(
        metadata=option(
            "bool",
            True,
            "Create the statistics topic when it does not exist (retention below, delete policy).",
        )
    )
    partitions: int = field(
        metadata=option(
            "int",
            3,
            "Partitions of the statistics topic when the exporter creates it.",
            1,
            1000,
        )
    )
    replication_factor: int = field(
        metadata=option(
            "int",
            -1,
            "Replication factor of the statistics topic when the exporter creates it (-1: the broker default).",
            -1,
            100,
        )
    )
    retention_seconds: float = field(
        metadata=option(
            "float",
            3600.0,
            "retention.ms of the statistics topic when the exporter creates it.",
            60,
            31536000,
        )
    )
