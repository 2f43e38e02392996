"""The exporter dashboard: is the exporter itself healthy. One builder per row."""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.mixin.boards.common import (
    EXPORTER_UID,
    RATE,
    _vars,
)
from exporter.mixin.panels import DashboardDef, PanelDef, Query, q
from exporter.mixin.settings import Settings
from exporter.sources import client_stats as cs


def _status_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Sources up",
            """Share of the exporter's source targets (Admin API, broker JMX, client JMX, ...) whose last
            collection succeeded. Good: 100%. Below 100%: some series are absent (not stale) — see
            'Source up per target' for which one, and the exporter log for the one-line reason.""",
            "percentunit",
            (Query(f"sum({q(sm.SOURCE_UP)}) / count({q(sm.SOURCE_UP)})"),),
            kind="stat",
            width=6,
            height=5,
            thresholds=((None, "red"), (0.99, "yellow"), (1.0, "green")),
        ),
        PanelDef(
            "Data age",
            """Seconds since the last collection cycle finished: every value on /metrics is this old
            plus up to one scrape interval. Good: below the collection interval. Growing steadily:
            the cycle is stuck (look for 'still hanging' in the exporter log).""",
            "s",
            (Query(f"time() - {q(sm.LAST_COLLECTION)}", "{{instance}}"),),
            kind="stat",
            width=6,
            height=5,
            thresholds=((None, "green"), (120.0, "yellow"), (300.0, "red")),
        ),
        PanelDef(
            "Collection interval",
            "Configured time between collection cycles (--collection.interval). Data is at most this old plus one cycle.",
            "s",
            (Query(q(sm.COLLECTION_INTERVAL), "{{instance}}"),),
            kind="stat",
            width=6,
            height=5,
        ),
        PanelDef(
            "Exposed series",
            """Series in the last exposition. Watch it for cardinality: if it keeps growing, narrow the
            topic/group filters in the exporter config.""",
            "short",
            (Query(q(sm.EXPOSED_SERIES), "{{instance}}"),),
            kind="stat",
            width=6,
            height=5,
        ),
    )


def _sources_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Source up per target",
            """1 when the last collection from a source/target succeeded, 0 when it failed or timed out.
            Good: all lines at 1. A 0 means that target's series are absent; the others keep working.
            Check the exporter log and the target itself (broker reachable? JMX port open?).""",
            "short",
            (Query(q(sm.SOURCE_UP), "{{source}} {{target}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Source duration",
            """Wall time of each source's last collection. Good: well below the collection timeout
            and the scrape interval. Close to the timeout: the target is slow or hanging.""",
            "s",
            (Query(q(sm.SOURCE_DURATION), "{{source}} {{target}}"),),
        ),
        PanelDef(
            "Source errors per cycle",
            """Errors in the last cycle per source/target, including partial failures (e.g. topic configs
            timed out while metadata worked). Good: 0. Non-zero with source up = 1: some series of that
            source are missing; the exporter log names them.""",
            "short",
            (Query(q(sm.SOURCE_ERRORS), "{{source}} {{target}}"),),
        ),
        PanelDef(
            "Source errors rate",
            "Errors per second per source/target since start (rate of the error counter). Good: 0.",
            "cps",
            (Query(f"rate({q(sm.SOURCE_ERRORS_TOTAL)}{RATE})", "{{source}} {{target}}"),),
        ),
    )


def _cycle_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Cycle and render duration",
            """Wall time of the whole collection cycle (all sources in parallel, then interpretation) and
            of rendering the exposition. Good: far below the collection interval. A cycle as long as the
            interval means the exporter cannot keep up: raise the interval or narrow the filters.""",
            "s",
            (
                Query(q(sm.COLLECTION_DURATION), "cycle {{instance}}"),
                Query(q(sm.RENDER_DURATION), "render {{instance}}"),
            ),
        ),
        PanelDef(
            "Cycles per second",
            "Completed collection cycles per second; about 1/interval when healthy, 0 when the cycle is stuck.",
            "cps",
            (Query(f"rate({q(sm.COLLECTIONS_TOTAL)}{RATE})", "{{instance}}"),),
        ),
        PanelDef(
            "Dropped values",
            """Values per second from a source that were not finite numbers and were dropped. A little is
            normal (Kafka reports NaN for 'no data in the window'); a steady rise means a target
            sends garbage.""",
            "cps",
            (Query(f"rate({q(sm.DROPPED_VALUES_TOTAL)}{RATE})", "{{source}}"),),
        ),
        PanelDef(
            "Build",
            "Exporter, Python, confluent-kafka and librdkafka versions of each exporter instance.",
            "none",
            (Query(q(sm.BUILD_INFO), instant=True),),
            kind="table",
        ),
    )


def _client_stats_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Client statistics messages by outcome",
            """Messages per second read from the client statistics topic, by outcome. Good: only accepted.
            invalid or too_large rising: something other than the forwarder writes to the topic. instance_cap:
            more client instances than client_stats.max_instances — new clients are ignored. expired at start
            is normal (old statistics read back).""",
            "cps",
            (Query(f"rate({q(cs.STATS_MESSAGES)}{RATE})", "{{outcome}}"),),
            stacked=True,
        ),
        PanelDef(
            "Tracked client instances",
            """librdkafka client instances whose statistics are currently kept, next to the configured cap.
            Equal to the cap: statistics of further new clients are dropped until others expire.""",
            "short",
            (Query(q(cs.TRACKED), "tracked"), Query(q(cs.MAX_TRACKED), "cap")),
        ),
    )


# -- exporter ---------------------------------------------------------------------------------
def exporter_dashboard(settings: Settings) -> DashboardDef:
    return DashboardDef(
        EXPORTER_UID,
        "Kafka Insight / Exporter",
        "Is the exporter itself healthy: per-source status, durations, errors and the age of the data.",
        _vars(settings, instance_from_build_info=True),
        (
            ("Status", _status_row()),
            ("Sources", _sources_row()),
            ("Collection cycle", _cycle_row()),
            ("Client statistics source", _client_stats_row()),
        ),
    )
