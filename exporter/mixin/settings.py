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

    # -- the exporter itself -------------------------------------------------------------
    exporter_down_for: str = "5m"
    source_down_for: str = "5m"
    #: collection is stale when the last cycle is older than this many intervals
    stale_intervals: float = 3.0
    stale_for: str = "2m"

    # -- cluster and durability --------------------------------------------------------
    no_controller_for: str = "1m"
    fenced_brokers_for: str = "5m"
    broker_not_running_for: str = "10m"
    offline_partitions_for: str = "1m"
    under_min_isr_for: str = "1m"
    at_min_isr_for: str = "5m"
    under_replicated_for: str = "10m"
    durability_risk_for: str = "30m"
    replicas_one_rack_for: str = "30m"
    #: how long KafkaLogEndOffsetDecreased / KafkaUncleanLeaderElection keep firing after the event
    data_loss_window: str = "30m"

    # -- consumers -------------------------------------------------------------------------
    #: lag in seconds (age of the oldest unconsumed message) above which KafkaConsumerGroupLagHigh fires
    lag_seconds_warning: float = 300.0
    lag_for: str = "10m"
    #: the exporter decides stalled/stopped (interpretation.stalled_after_seconds); these add patience
    stalled_for: str = "5m"
    stopped_for: str = "15m"
    offset_beyond_log_end_for: str = "0m"
    offset_below_log_start_for: str = "5m"

    # -- producers -------------------------------------------------------------------------
    reordering_for: str = "30m"
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
            if f.name.endswith(("_for", "_window")) and not _DURATION_RE.match(str(value)):
                raise ValueError(f"{f.name}: {value!r} is not a Prometheus duration such as 5m or 1h30m")
        if not 0 <= self.compression_savings_min_ratio <= 1:
            raise ValueError("compression_savings_min_ratio: must be a 0-1 ratio")


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
