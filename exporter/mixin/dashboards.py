"""The Grafana dashboards, built from catalogue specs.

Every query goes through :func:`exporter.mixin.panels.q` with a spec object, so renaming a
metric regenerates the dashboards instead of breaking them. One module per dashboard, one
builder function per row (``_<row>_row``), so a new row is one function and one line.
"""

from __future__ import annotations

from exporter.mixin.boards.cluster_board import cluster_dashboard
from exporter.mixin.boards.common import CLUSTER_UID, CONSUMERS_UID, EXPORTER_UID, PRODUCERS_UID, RISK_UID
from exporter.mixin.boards.consumers_board import consumers_dashboard
from exporter.mixin.boards.exporter_board import exporter_dashboard
from exporter.mixin.boards.producers_board import producers_dashboard
from exporter.mixin.boards.risk_board import risk_dashboard
from exporter.mixin.connect import connect_dashboard
from exporter.mixin.panels import DashboardDef
from exporter.mixin.settings import Settings

__all__ = [
    "CLUSTER_UID",
    "CONSUMERS_UID",
    "EXPORTER_UID",
    "PRODUCERS_UID",
    "RISK_UID",
    "all_dashboards",
    "cluster_dashboard",
    "consumers_dashboard",
    "exporter_dashboard",
    "producers_dashboard",
    "risk_dashboard",
]


def all_dashboards(settings: Settings) -> list[DashboardDef]:
    return [
        risk_dashboard(settings),
        exporter_dashboard(settings),
        cluster_dashboard(settings),
        consumers_dashboard(settings),
        producers_dashboard(settings),
        connect_dashboard(settings),
    ]
