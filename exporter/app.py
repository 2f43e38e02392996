"""Wiring: config -> the feature table's sources and interpreters -> collector."""

from __future__ import annotations

from exporter.config import Config
from exporter.cycle import Collector
from exporter.features import FEATURES
from exporter.sources.base import Source


def build_collector(config: Config) -> Collector:
    sources: list[Source] = []
    for feature in FEATURES:
        source = feature.source(config) if feature.source is not None else None
        if source is not None:
            sources.append(source)
    interpreters = [build(config) for feature in FEATURES for build in feature.interpreters]
    return Collector(sources, interpreters, interval=config.interval, timeout=config.timeout)
