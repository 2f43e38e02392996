"""Kafka Connect interpretation: will a source connector's producer keep record order?

Connect workers give their source tasks' producers ``acks=all`` and one request in flight
(KAFKA-13759: idempotence off), so they keep order unless the connector config sets
``producer.override.*`` (read from the REST API, ``GET /connectors?expand=info``) or the
worker config changes the defaults (the worker's ``producer.*``, which the REST API does
not show: hence ``basis``).  The verdict is the producers' one
(:func:`exporter.interpret.producers.producer_verdict`) with the Connect version from ``GET /``.

Sink lag needs no derived family: ``kafka_insight_connect_connector_group_info`` links a
sink connector to its consumer group, and PromQL joins it with the group gauges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.interpret.producer_specs import VERDICT_HELP
from exporter.interpret.producers import VERDICTS, producer_verdict, verdict_basis
from exporter.metrics import Samples, metric
from exporter.sources.connect.records import ConnectCluster, Connector
from exporter.sources.connect.specs import SRC as CONNECT_SRC

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot

SRC = "interpret"

CONNECTOR_REORDERING = metric(
    "kafka_insight_connect_connector_reordering_risk",
    "gauge",
    f"""1 for the verdict on a source connector's producer, 0 for the others: Kafka
    Connect's producer defaults (acks=all, max.in.flight.requests.per.connection=1, so
    order is kept) overridden by the connector's producer.override.* settings (REST
    connector config), judged by the producers' rule table with the Connect version.
    basis="declared" when the connector overrides a setting that decides ordering,
    "assumed_defaults" otherwise (the worker's own producer.* settings are not visible over
    REST: check them before trusting a safe verdict). {VERDICT_HELP}""",
    ("connect_cluster", "connector", "basis", "verdict"),
    source=SRC,
)


def connector_verdict(version: str | None, connector: Connector) -> tuple[str, str]:
    """(verdict, basis) of a source connector's producer."""
    overrides = connector.producer_overrides()
    return producer_verdict(version, overrides, connect=True), verdict_basis(overrides)


def emit_connect(clusters: list[ConnectCluster], out: Samples) -> None:
    for c in clusters:
        for k in c.connectors:
            if k.connector_type != "source":
                continue
            verdict, basis = connector_verdict(c.version, k)
            for v in VERDICTS:
                out.add(CONNECTOR_REORDERING, 1 if v == verdict else 0, c.name, k.name, basis, v)


class ConnectInterpreter:
    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        emit_connect(snapshot.payloads(CONNECT_SRC), out)
