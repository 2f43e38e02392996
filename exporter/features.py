"""The feature table: each source, the interpreters that read it, the modules declaring its metrics.

The one list that says what the exporter consists of.  :mod:`exporter.app` builds the
collector from it (sources in table order, then every interpreter in table order),
:mod:`exporter.catalogue` collects the specs of its modules, and the docs name each
metric's feature from it.  A new source (Connect, a canary, ...) is a package shaped like
``sources/admin`` plus one row here; a module that declares metrics without a row fails
``tests/test_features.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from exporter import selfmetrics
from exporter.config import Config
from exporter.interpret import (
    blast_radius,
    budget,
    durability,
    durability_specs,
    findings,
    librdkafka_batches,
    offsets,
    offsets_specs,
    producer_specs,
    producers,
)
from exporter.interpret import client_stats as client_stats_interpretation
from exporter.interpret import connect as connect_interpretation
from exporter.snapshot import Interpreter
from exporter.sources.admin import specs as admin_specs
from exporter.sources.admin.source import AdminSource
from exporter.sources.base import Source
from exporter.sources.canary import source as canary_source
from exporter.sources.canary import specs as canary_specs
from exporter.sources.client_stats import consumer as client_stats_consumer
from exporter.sources.client_stats import specs as client_stats_specs
from exporter.sources.connect import source as connect_source
from exporter.sources.connect import specs as connect_specs
from exporter.sources.jmx import broker, broker_ops_specs, broker_specs, client, client_specs

#: builds a feature's source from the configuration; None when the feature is not configured
SourceFactory = Callable[[Config], Source | None]
#: builds an interpretation step (stateful ones keep a bounded history)
InterpreterFactory = Callable[[Config], Interpreter]


@dataclass(frozen=True)
class Feature:
    name: str
    #: one line for the docs
    summary: str
    source: SourceFactory | None
    interpreters: tuple[InterpreterFactory, ...]
    #: the modules that declare this feature's metrics (its source's specs, its interpreters')
    spec_modules: tuple[ModuleType, ...]


FEATURES: tuple[Feature, ...] = (
    Feature(
        "admin",
        "Admin API: cluster, brokers, topics, partitions, offsets, topic configs, consumer groups; durability and lag",
        AdminSource,
        (
            lambda config: durability.DurabilityInterpreter(),
            lambda config: offsets.OffsetsInterpreter(
                offsets.OffsetSettings.of(config.interpretation), config.series_budget.group_partitions
            ),
            lambda config: blast_radius.BlastRadiusInterpreter(),
        ),
        (admin_specs, durability_specs, offsets_specs, budget, blast_radius),
    ),
    Feature(
        "broker_jmx",
        "Broker JMX: ReplicaManager, controller, traffic, idle ratios, client versions; request latency, queues, purgatory, log flush, KRaft quorum, group coordinator",
        broker.factory,
        (),
        (broker_specs, broker_ops_specs),
    ),
    Feature(
        "client_jmx",
        "Java client JMX: producer and consumer metrics; reordering risk, compression, batching",
        client.factory,
        (lambda config: producers.ProducersInterpreter(),),
        (client_specs, producer_specs),
    ),
    Feature(
        "client_stats",
        "librdkafka statistics forwarded by applications; reordering risk, positions, lag in seconds",
        client_stats_consumer.build,
        (client_stats_interpretation.build,),
        (client_stats_specs, client_stats_interpretation, librdkafka_batches),
    ),
    Feature(
        "canary",
        "Durability canary (opt-in, writes): acknowledged records lost, acks=all writes refused, end-to-end latency",
        canary_source.factory,
        (),
        (canary_specs,),
    ),
    Feature(
        "connect",
        "Kafka Connect: connector and task states, failures, records, errors and DLQ, workers; source ordering verdict",
        connect_source.factory,
        (lambda config: connect_interpretation.ConnectInterpreter(),),
        (connect_specs, connect_interpretation),
    ),
    Feature(
        "self",
        "The exporter about itself: source up, durations, errors, build info",
        None,
        (),
        (selfmetrics,),
    ),
    # last: it reads what every interpreter before it added (issue 15; no metrics of its own)
    Feature(
        "findings",
        "The findings page (/ and /findings.json): what is at risk now, in plain words, from all of the above",
        None,
        (findings.build,),
        (),
    ),
)


def spec_modules() -> list[str]:
    """Names of every module that declares metrics, in table order."""
    return [m.__name__ for f in FEATURES for m in f.spec_modules]


def feature_of_module(module: str) -> Feature | None:
    """The feature whose metrics ``module`` declares."""
    for feature in FEATURES:
        if any(m.__name__ == module for m in feature.spec_modules):
            return feature
    return None
