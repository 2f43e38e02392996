"""A small panel model on top of grafanalib: what every panel must carry, and the layout.

Dashboards are described as :class:`DashboardDef` (sections of :class:`PanelDef`), which
the tests can walk (every query, every description, every unit) and which
:func:`render` turns into Grafana JSON through grafanalib.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from grafanalib import core as g

from exporter.catalogue import MetricSpec
from exporter.mixin.promql import sel

PanelKind = Literal["timeseries", "stat", "table", "text"]
DS = "${datasource}"
#: matchers every dashboard query carries (the job selector itself lives in the $job variable)
SCOPE = 'job=~"$job", instance=~"$instance"'
#: Grafana units allowed in panels; ratios 0-1 must use percentunit
UNITS = frozenset({"short", "none", "s", "bytes", "percentunit", "cps", "Bps", "dateTimeAsIso"})
TAG = "kafka-insight"


def q(spec: MetricSpec, *matchers: str) -> str:
    """A dashboard selector of a catalogue spec, scoped to the chosen job and instance."""
    return sel(spec, SCOPE, *matchers)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    #: instant query (tables and stats of the current state)
    instant: bool = False


@dataclass(frozen=True)
class PanelDef:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...] = ()
    kind: PanelKind = "timeseries"
    width: int = 12
    height: int = 8
    #: stat/timeseries thresholds: (value, color); the first value is None (base)
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    #: text panels: markdown content
    content: str = ""
    min: int | None = None
    max: int | None = None
    stacked: bool = False

    def __post_init__(self) -> None:
        # descriptions are written as indented triple-quoted text; Grafana shows one paragraph
        object.__setattr__(self, "description", " ".join(self.description.split()))


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    #: a label_values(...) query, or "" for the datasource variable
    query: str
    include_all: bool = False
    multi: bool = False
    description: str = ""


@dataclass(frozen=True)
class DashboardDef:
    uid: str
    title: str
    description: str
    variables: tuple[Variable, ...]
    sections: tuple[tuple[str, tuple[PanelDef, ...]], ...]
    tags: tuple[str, ...] = field(default=(TAG,))

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"

    def panels(self) -> Iterator[PanelDef]:
        for _, panels in self.sections:
            yield from panels

    def queries(self) -> Iterator[tuple[PanelDef, Query]]:
        for panel in self.panels():
            for query in panel.queries:
                yield panel, query


# -- variables ------------------------------------------------------------------------------
def datasource_var() -> Variable:
    return Variable("datasource", "Data source", "", description="The Prometheus that scrapes the exporter.")


def label_var(
    name: str, label: str, spec: MetricSpec, matchers: str, *, include_all: bool = False, description: str = ""
) -> Variable:
    return Variable(
        name,
        label,
        f"label_values({sel(spec, matchers)}, {name})",
        include_all=include_all,
        multi=include_all,
        description=description,
    )


def _template(var: Variable) -> g.Template:
    if not var.query:
        return g.Template(
            name=var.name,
            label=var.label,
            query="prometheus",
            type="datasource",
            default="default",
            refresh=g.REFRESH_ON_DASHBOARD_LOAD,
        )
    return g.Template(
        name=var.name,
        label=var.label,
        query=var.query,
        dataSource=DS,
        includeAll=var.include_all,
        multi=var.multi,
        allValue=".*" if var.include_all else None,
        default="All" if var.include_all else None,
        refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
        sort=g.SORT_ALPHA_ASC,
    )


# -- panels ---------------------------------------------------------------------------------
def _targets(panel: PanelDef) -> list[g.Target]:
    targets = []
    for i, query in enumerate(panel.queries):
        target = g.Target(
            expr=query.expr,
            legendFormat=query.legend,
            refId=chr(ord("A") + i),
            instant=query.instant,
            format="table" if panel.kind == "table" else "time_series",
            datasource=DS,
            intervalFactor=1,
        )
        targets.append(target)
    return targets


def _steps(panel: PanelDef) -> list[dict[str, Any]]:
    return [{"color": color, "value": value} for value, color in panel.thresholds]


def _panel(panel: PanelDef, pos: g.GridPos) -> g.Panel:
    common: dict[str, Any] = {
        "title": panel.title,
        "description": panel.description,
        "dataSource": DS,
        "targets": _targets(panel),
        "gridPos": pos,
    }
    if panel.kind == "text":
        return g.Text(title=panel.title, description=panel.description, gridPos=pos, content=panel.content)
    if panel.kind == "stat":
        return g.Stat(
            **common,
            format=panel.unit,
            thresholds=_steps(panel),
            reduceCalc="lastNotNull",
            graphMode="area",
            colorMode="value",
            noValue="no data",
        )
    if panel.kind == "table":
        return g.Table(
            **common,
            unit=panel.unit,
            filterable=True,
            transformations=[
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}},
            ],
        )
    return g.TimeSeries(
        **common,
        unit=panel.unit,
        valueMin=panel.min,
        valueMax=panel.max,
        thresholds=_steps(panel),
        legendDisplayMode="table",
        legendPlacement="right" if len(panel.queries) > 1 or panel.width >= 24 else "bottom",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        stacking={"mode": "normal", "group": "A"} if panel.stacked else {},
        fillOpacity=20 if panel.stacked else 5,
        showPoints="never",
    )


def _layout(dashboard: DashboardDef) -> list[g.Panel]:
    result: list[g.Panel] = []
    y = 0
    for title, panels in dashboard.sections:
        result.append(g.RowPanel(title=title, gridPos=g.GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        x = 0
        row_height = 0
        for panel in panels:
            if x + panel.width > 24:
                x = 0
                y += row_height
                row_height = 0
            result.append(_panel(panel, g.GridPos(h=panel.height, w=panel.width, x=x, y=y)))
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return result


class _Encoder(json.JSONEncoder):
    """grafanalib objects by their public ``to_json_data()`` (what grafanalib's private
    ``_gen.DashboardEncoder`` does, without importing a private module)."""

    def default(self, o: Any) -> Any:
        to_json_data = getattr(o, "to_json_data", None)
        if callable(to_json_data):
            return to_json_data()
        return super().default(o)


def render(dashboard: DashboardDef) -> str:
    """Deterministic Grafana JSON: sorted keys, stable panel ids (their order), no wall-clock."""
    board = g.Dashboard(
        title=dashboard.title,
        uid=dashboard.uid,
        description=dashboard.description,
        tags=list(dashboard.tags),
        editable=True,
        refresh="1m",
        schemaVersion=37,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        time=g.Time("now-3h", "now"),
        timezone="browser",
        templating=g.Templating(list=[_template(v) for v in dashboard.variables]),
        links=[g.DashboardLink(title="Kafka Insight", tags=[TAG], asDropdown=True, includeVars=True, keepTime=True)],
        panels=_layout(dashboard),
    ).auto_panel_ids()
    data = json.loads(json.dumps(board.to_json_data(), cls=_Encoder))
    for var, template in zip(dashboard.variables, data["templating"]["list"], strict=True):
        template["description"] = var.description or None
        if var.include_all:
            template["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return json.dumps(data, sort_keys=True, indent=2) + "\n"
