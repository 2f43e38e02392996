"""Prometheus alert rules and their runbooks, built from catalogue specs.

Each :class:`AlertDef` carries its rule (expression, ``for:``, severity, annotations) and its
runbook section (what it means, how to confirm it with Kafka's own tools, what to do, how it
behaves during an outage, a reassignment and with an HA pair); ``generate`` writes both, so a
runbook_url can never point at a missing section. One module per rule group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter.mixin import canary as canary_mixin
from exporter.mixin import connect as connect_mixin
from exporter.mixin.boards import common as boards
from exporter.mixin.rules.base import AlertDef, Builder, Runbook, Severity
from exporter.mixin.rules.blast_radius_rules import blast_radius_alerts
from exporter.mixin.rules.broker_ops_rules import broker_ops_alerts
from exporter.mixin.rules.cluster_rules import cluster_alerts
from exporter.mixin.rules.consumer_rules import consumer_alerts
from exporter.mixin.rules.durability_rules import durability_alerts
from exporter.mixin.rules.exporter_rules import exporter_alerts
from exporter.mixin.rules.producer_rules import producer_alerts
from exporter.mixin.settings import Settings

__all__ = ["ALERT_BUILDERS", "AlertDef", "Builder", "Runbook", "Severity", "all_alerts", "rule_groups"]

#: how the Connect alerts behave in the three situations every runbook section covers
CONNECT_BEHAVIOUR = (
    "Outage: when the Kafka cluster is down, Connect tasks usually fail or stop making progress, so these "
    "alerts fire beside KafkaClusterUnreachable; when the Connect REST API itself is unreachable, only "
    "KafkaConnectClusterUnreachable fires (the state series are absent, not stale). Reassignment: no effect. "
    "HA pair: the Connect alerts are per exporter (job, instance), so two exporters configured with the same "
    "Connect cluster each raise one; group them in Alertmanager by connect_cluster and connector."
)

#: how the canary alerts behave in the three situations every runbook section covers
CANARY_BEHAVIOUR = (
    "Outage: the canary needs no Admin API; while the whole cluster is down its produce failures rise, "
    "KafkaCanaryStuck fires beside KafkaClusterUnreachable, and no record can be counted lost until it reads "
    "again. Reassignment: moving a canary partition's leader is not a loss; the canary re-checks its "
    "leadership spread. HA pair: each exporter with the canary on runs its own canary (its own session), so "
    "each raises its own alert (job, instance); enable the canary on one exporter of a pair."
)


def canary_alerts(b: Builder) -> list[AlertDef]:
    """The durability canary (issue 19), defined in exporter.mixin.canary; per exporter, like the canary."""
    alerts = []
    for fields in canary_mixin.alert_fields(b, boards.RISK_UID):
        meaning, confirm, action = fields["runbook"]
        runbook = Runbook(meaning, confirm, action, CANARY_BEHAVIOUR)
        alerts.append(AlertDef(**{**fields, "runbook": runbook, "per_exporter": True}))
    return alerts


def connect_alerts(b: Builder) -> list[AlertDef]:
    """Kafka Connect (issue 18), defined in exporter.mixin.connect (which cannot import this module).
    They are per Connect cluster as its exporter sees it (job, instance), hence ``per_exporter``."""
    alerts = []
    for row in connect_mixin.alert_rows(b.s, b.m):
        meaning, confirm, action = row["runbook"]
        runbook = Runbook(meaning, confirm, action, CONNECT_BEHAVIOUR)
        alerts.append(AlertDef(**{**row, "runbook": runbook, "per_exporter": True}))
    return alerts


ALERT_BUILDERS: list[Callable[[Builder], list[AlertDef]]] = [
    exporter_alerts,
    cluster_alerts,
    broker_ops_alerts,
    durability_alerts,
    consumer_alerts,
    producer_alerts,
    blast_radius_alerts,
    canary_alerts,
    connect_alerts,
]


def all_alerts(settings: Settings) -> list[AlertDef]:
    b = Builder(settings)
    return [alert for build in ALERT_BUILDERS for alert in build(b)]


def rule_groups(settings: Settings) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in all_alerts(settings):
        groups.setdefault(alert.group, []).append(alert.rule(settings))
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}
