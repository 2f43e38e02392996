"""Every threshold, ``for:`` duration and selector of the generated mixin, in one place.

The committed ``alerts/`` and ``dashboards/`` use :data:`DEFAULTS`.  To generate your own,
write a YAML file with the keys you want to change and run
``python -m exporter.mixin.generate --settings my-settings.yml --out DIR``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

_DURATION_RE = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class Settings:
    # -- where the exporter's series are ------------------------------------------------
    #: label matcher(s) that select the exporter's scrape job in every query and rule
    job_selector: str = 'job=~"kafka-insight.*"'
    #: where docs/runbook.md is published (runbook_url = this + "#" + anchor)
    #: (default: the path inside this repository; point it at your published copy)
    runbook_url: str = "docs/runbook.md"
    #: Grafana's base URL for the dashboard links in alerts
    grafana_url: str = "http://localhost:3000"

    #: how long an exporter's last known cluster id labels its alerts while the Admin API is unreachable
    cluster_id_memory: str = "6h"

    # -- the exporter itself -------------------------------------------------------------
    exporter_down_for: str = "5m"
    #: no exporter target of the job is up (or none exists): nothing watches Kafka any more
    exporter_absent_for: str = "5m"
    source_down_for: str = "5m"
    #: collection is stale when the last cycle is older than this many intervals
    stale_intervals: float = 3.0
    stale_for: str = "2m"

    # -- cluster and durability --------------------------------------------------------
    #: no exporter reaches the cluster's Admin API (every broker down, network cut, power loss)
    cluster_unreachable_for: str = "2m"
    no_controller_for: str = "1m"
    #: a JMX target that is (or may be) a KRaft controller does not answer
    controller_target_down_for: str = "5m"
    #: the cluster has fewer brokers than it had within broker_count_window
    broker_count_dropped_for: str = "5m"
    broker_count_window: str = "6h"
    log_dir_offline_for: str = "1m"
    #: every answering KRaft node reports no quorum leader (raft-metrics current-leader -1)
    kraft_no_leader_for: str = "1m"
    #: Produce p99 (TotalTimeMs) above this factor x its own median over the baseline window ...
    produce_latency_factor: float = 3.0
    produce_latency_baseline_window: str = "1d"
    #: ... and above this absolute floor (seconds), for this long
    produce_latency_floor_seconds: float = 0.05
    produce_latency_for: str = "15m"
    #: the last stable offset has not moved for lso_stuck_window while below the log end
    lso_stuck_window: str = "5m"
    lso_stuck_for: str = "15m"
    fenced_brokers_for: str = "5m"
    broker_not_running_for: str = "10m"
    offline_partitions_for: str = "1m"
    under_min_isr_for: str = "1m"
    at_min_isr_for: str = "5m"
    under_replicated_for: str = "10m"
    durability_risk_for: str = "30m"
    replicas_one_rack_for: str = "30m"
    #: how long the cluster may be unsafe against one broker failure (blast radius) before alerting
    not_single_broker_safe_for: str = "15m"
    #: how long KafkaLogEndOffsetDecreased / KafkaUncleanLeaderElection keep firing after the event
    data_loss_window: str = "30m"

    # -- consumers -------------------------------------------------------------------------
    #: lag in seconds (age of the oldest unconsumed message) above which KafkaConsumerGroupLagHigh fires
    lag_seconds_warning: float = 300.0
    lag_for: str = "10m"
    #: the exporter decides stalled/stopped (its commit window); the alert fires on either, so a
    #: crash-looping consumer that flips between the two keeps its for: timer
    not_progressing_for: str = "10m"
    #: share of the topic's retention.ms that the group's lag in seconds may reach (warning, critical)
    lag_retention_warning_ratio: float = 0.5
    lag_retention_critical_ratio: float = 0.8
    lag_retention_for: str = "5m"
    #: how long KafkaConsumerGroupRewound keeps firing after a committed offset went backwards
    rewound_window: str = "15m"
    #: seconds since a Java consumer's last poll() that are close to max.poll.interval.ms
    #: (80 % of Kafka's default 300 s; set it to 0.8 x your max.poll.interval.ms)
    poll_age_warning_seconds: float = 240.0
    poll_age_for: str = "1m"
    offset_beyond_log_end_for: str = "0m"
    offset_below_log_start_for: str = "5m"

    # -- producers -------------------------------------------------------------------------
    reordering_for: str = "30m"
    #: records that failed after all retries, or appends refused by a full buffer, within this window
    producer_errors_window: str = "10m"
    #: librdkafka producer queue fill (messages or bytes, 0-1) counted as buffer exhaustion
    producer_queue_full_ratio: float = 0.95
    #: compression savings below this (0-1) on a producer that compresses is "ineffective"
    compression_savings_min_ratio: float = 0.1
    compression_ineffective_for: str = "1h"

    # -- Kafka Connect (exporter/mixin/connect.py) -------------------------------------------
    connect_task_failed_for: str = "5m"
    connect_connector_not_running_for: str = "5m"
    connect_unreachable_for: str = "5m"
    #: lag in seconds of a sink connector's consumer group above which KafkaConnectSinkLagHigh fires
    connect_sink_lag_seconds_warning: float = 600.0
    connect_sink_lag_for: str = "10m"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith(("_for", "_window", "_memory")) and not _DURATION_RE.match(str(value)):
                raise ValueError(f"{f.name}: {value!r} is not a Prometheus duration such as 5m or 1h30m")
        for name in (
            "compression_savings_min_ratio",
            "lag_retention_warning_ratio",
            "lag_retention_critical_ratio",
            "producer_queue_full_ratio",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be a 0-1 ratio")


DEFAULTS = Settings()


def load(path: Path | None) -> Settings:
    """Defaults overridden by the keys of a YAML mapping; unknown keys are an error."""
    if path is None:
        return DEFAULTS
    data: Any = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of setting: value")
    known = {f.name: f for f in fields(Settings)}
    for key in data:
        if key not in known:
            raise ValueError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
    return dataclasses.replace(DEFAULTS, **data)
