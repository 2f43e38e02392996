"""Samples -> Prometheus text exposition, rendered once per cycle and served from memory."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.catalogue import Samples

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Exposition:
    body: bytes
    gzipped: bytes
    series: int


class SamplesCollector(Collector):  # type: ignore[misc]
    """A custom collector over one cycle's samples (never touches Kafka)."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for spec, rows in self.samples:
            family: Metric
            if spec.type == "counter":
                family = CounterMetricFamily(spec.family_name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(spec.family_name, spec.help, labels=spec.labels)
            for values, number in rows:
                family.add_metric(list(values), number)
            yield family


def render(samples: Samples) -> Exposition:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplesCollector(samples))
    body = generate_latest(registry)
    return Exposition(body, gzip.compress(body, compresslevel=5), samples.series_count())
