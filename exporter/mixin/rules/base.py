"""What an alert is (rule + runbook section) and the PromQL shorthands every alert group uses.

HA and stable labels: several exporters may watch one cluster (an HA pair), and an exporter's
``instance`` changes with its pod IP. Every Kafka alert therefore joins the exporter's series
with the cluster id it reports and aggregates them by ``cluster_id`` plus the labels that name
the condition (topic, group, broker, client, ...), never by ``job``/``instance``: two exporters
give one alert, and a restarted exporter with a new address keeps the ``for:`` timer running.
Only the alerts about an exporter process itself (down, stale) stay per ``instance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from exporter import selfmetrics as sm
from exporter.catalogue import MetricSpec
from exporter.mixin.promql import sel
from exporter.mixin.settings import Settings
from exporter.sources import admin as ad

Severity = Literal["critical", "warning", "info"]
BY_EXPORTER = "job, instance"
#: names the cluster in descriptions of alerts that fire even without the Admin API's cluster id
CLUSTER = "{{ if $labels.cluster_id }}cluster {{ $labels.cluster_id }}{{ else }}the cluster of {{ $labels.instance }}{{ end }}"
CLUSTER_CAP = (
    "{{ if $labels.cluster_id }}Cluster {{ $labels.cluster_id }}{{ else }}The cluster of {{ $labels.instance }}{{ end }}"
)


@dataclass(frozen=True)
class Runbook:
    meaning: str
    confirm: str
    action: str
    #: how the alert behaves during a whole-cluster outage, a partition reassignment and with an HA pair
    behaviour: str = ""


@dataclass(frozen=True)
class AlertDef:
    group: str
    name: str
    severity: Severity
    expr: str
    for_: str
    summary: str
    description: str
    dashboard: str
    runbook: Runbook
    #: dashboard variables filled from the alert's labels (besides the cluster or the exporter)
    dashboard_vars: tuple[str, ...] = ()
    #: the alert is about one exporter process (its labels are job and instance), not a cluster
    per_exporter: bool = False
    #: the alert has no labels to fill dashboard variables with (absent())
    unlabelled: bool = False

    @property
    def anchor(self) -> str:
        return self.name.lower()

    def link_vars(self) -> tuple[str, ...]:
        if self.unlabelled:
            return ()
        scope = ("job", "instance") if self.per_exporter else ("cluster_id",)
        return (*scope, *self.dashboard_vars)

    def rule(self, settings: Settings) -> dict[str, Any]:
        link_vars = "&".join(f"var-{v}={{{{ $labels.{v} }}}}" for v in self.link_vars())
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_.strip("0msh") != "":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {
            "summary": self.summary,
            "description": " ".join(self.description.split()).replace("{CLUSTER}", CLUSTER).replace("{CLUSTER_CAP}", CLUSTER_CAP),
            "runbook_url": f"{settings.runbook_url}#{self.anchor}",
            "dashboard_url": f"{settings.grafana_url.rstrip('/')}/d/{self.dashboard}" + (f"?{link_vars}" if link_vars else ""),
        }
        return rule


class Builder:
    """Shorthands that keep expressions readable and every name tied to a spec."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def m(self, spec: MetricSpec, *matchers: str) -> str:
        return sel(spec, self.s.job_selector, *matchers)

    def own_client_software(self) -> str:
        """The KIP-511 name/version the exporter's own librdkafka clients announce, from its build info
        (confluent-kafka-python announces ``<confluent-kafka version>-rdkafka-<librdkafka version>``)."""
        joined = (
            f'label_join({self.m(sm.BUILD_INFO)}, "client_software_version", "-rdkafka-", '
            '"confluent_kafka_version", "librdkafka_version")'
        )
        return f'label_replace({joined}, "client_software_name", "confluent-kafka-python", "version", ".*")'

    def cluster_ids(self) -> str:
        """Each exporter's cluster id: the current one, else the last one seen within
        ``cluster_id_memory`` — so alerts keep their cluster_id (and their ``for:``) while the
        Admin API is unreachable."""
        info = self.m(ad.CLUSTER_INFO)
        return f"({info} or on ({BY_EXPORTER}) last_over_time({info}[{self.s.cluster_id_memory}]))"

    def with_cluster(self, expr: str) -> str:
        """The expression's series with the cluster_id label of the exporter that reported them."""
        return f"({expr}) * on ({BY_EXPORTER}) group_left (cluster_id) {self.cluster_ids()}"

    def per_cluster(self, expr: str, *by: str, agg: str = "max", without_admin: bool = False) -> str:
        """``agg by (cluster_id, *by)`` over every exporter watching the cluster (an HA pair gives one series).

        ``without_admin``: the expression does not depend on the Admin API (JMX, client statistics),
        so an exporter that never learnt its cluster id still alerts, per exporter (``job``,
        ``instance``) since nothing else says which cluster it watches.
        """
        labels = ", ".join(("cluster_id", *by))
        clustered = f"{agg} by ({labels}) ({self.with_cluster(expr)})"
        if not without_admin:
            return clustered
        alone = ", ".join((BY_EXPORTER, *by))
        return f"({clustered} or {agg} by ({alone}) (({expr}) unless on ({BY_EXPORTER}) {self.cluster_ids()}))"
