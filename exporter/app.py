"""Wiring: config -> sources + interpreters -> collector -> HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Callable

from exporter.config import Config
from exporter.cycle import Collector, Interpreter
from exporter.interpret import client_stats as client_stats_interpretation
from exporter.interpret.durability import DurabilityInterpreter
from exporter.interpret.offsets import OffsetSettings, OffsetsInterpreter
from exporter.interpret.producers import ProducersInterpreter
from exporter.sources.admin.source import AdminSource
from exporter.sources.base import Source
from exporter.sources.canary import source as canary
from exporter.sources.client_stats import consumer as client_stats
from exporter.sources.jmx import broker as broker_jmx
from exporter.sources.jmx import client as client_jmx

log = logging.getLogger(__name__)

#: factories of the sources beyond the Admin API; each returns None when not configured
SOURCE_FACTORIES: list[Callable[[Config], Source | None]] = [broker_jmx.factory, client_jmx.factory]
#: factories of interpretation steps (stateful ones keep a bounded history)
INTERPRETER_FACTORIES: list[Callable[[Config], Interpreter]] = [
    lambda config: DurabilityInterpreter(),
    lambda config: OffsetsInterpreter(OffsetSettings.from_raw(config.raw)),
    lambda config: ProducersInterpreter(),
]


# librdkafka client statistics (issue 6): the source, and its derived gauges
SOURCE_FACTORIES.append(client_stats.build)
INTERPRETER_FACTORIES.append(client_stats_interpretation.build)


def build_collector(config: Config) -> Collector:
    sources: list[Source] = [AdminSource(config)]
    for factory in SOURCE_FACTORIES:
        source = factory(config)
        if source is not None:
            sources.append(source)
    interpreters = [factory(config) for factory in INTERPRETER_FACTORIES]
    return Collector(sources, interpreters, interval=config.interval, timeout=config.timeout)

# the durability canary (issue 19): opt-in, writes to its own topic
SOURCE_FACTORIES.append(canary.factory)
