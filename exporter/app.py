"""Wiring: config -> sources + interpreters -> collector -> HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Callable

from exporter.config import Config
from exporter.cycle import Collector, Interpreter
from exporter.interpret import FACTORIES as INTERPRETATION
from exporter.interpret import findings
from exporter.sources import broker_jmx, client_jmx, client_stats
from exporter.sources.admin import AdminSource
from exporter.sources.base import Source

log = logging.getLogger(__name__)

#: factories of the sources beyond the Admin API; each returns None when not configured
SOURCE_FACTORIES: list[Callable[[Config], Source | None]] = [broker_jmx.factory, client_jmx.factory]
#: factories of interpretation steps (stateful ones keep a bounded history)
INTERPRETER_FACTORIES: list[Callable[[Config], Interpreter]] = [*INTERPRETATION]


# librdkafka client statistics (issue 6): the source, and its derived gauges
SOURCE_FACTORIES.append(client_stats.build)
INTERPRETER_FACTORIES.append(client_stats.build_interpreter)

# the findings page (issue 15) reads what every interpreter before it added: keep it last
INTERPRETER_FACTORIES.append(findings.build)


def build_collector(config: Config) -> Collector:
    sources: list[Source] = [AdminSource(config)]
    for factory in SOURCE_FACTORIES:
        source = factory(config)
        if source is not None:
            sources.append(source)
    interpreters = [factory(config) for factory in INTERPRETER_FACTORIES]
    return Collector(sources, interpreters, interval=config.interval, timeout=config.timeout)
