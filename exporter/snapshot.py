"""What the sources returned in one cycle: the input of emission and interpretation.

One typed field per source kind, so emission and interpretation are typed functions of what
they read (``snapshot.admin``, ``snapshot.broker_jmx``, ...), never a payload fetched by
name and ``isinstance``-checked.  :meth:`Snapshot.of` is the one place where the cycle's
results land in those fields.  A new source kind adds its field here (its records module
sits below this one, as the ones imported here do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.metrics import Samples
from exporter.sources.admin import specs as admin_specs
from exporter.sources.admin.records import ClusterState
from exporter.sources.client_stats import specs as client_stats_specs
from exporter.sources.client_stats.records import ClientStatsState
from exporter.sources.jmx import broker_specs, client_specs
from exporter.sources.jmx.broker_records import BrokerJmx
from exporter.sources.jmx.client_records import ClientJmxTarget

#: the derived records the HTTP side serves between cycles (:meth:`Snapshot.slim` keeps them)
SERVED_DERIVED = ("findings",)

#: an interpretation step: reads the snapshot, adds derived samples, does no I/O
Interpreter = Callable[["Snapshot", Samples], None]


@dataclass
class TargetResult:
    source: str
    target: str
    up: bool
    duration: float
    payload: Any = None
    error: str | None = None
    #: errors of this cycle, including partial ones a successful payload carries
    errors: int = 0


@dataclass
class Snapshot:
    """What every source returned in one cycle."""

    started: float
    finished: float = 0.0
    #: every target's result, up or not (source_up, durations, errors; generic sources' payloads)
    results: list[TargetResult] = field(default_factory=list)
    #: records interpreters derived this cycle, for later interpreters (the findings), by name
    derived: dict[str, Any] = field(default_factory=dict)
    #: the Admin API's cluster state; None when it failed this cycle
    admin: ClusterState | None = None
    #: one record per broker JMX target that answered
    broker_jmx: list[BrokerJmx] = field(default_factory=list)
    #: one record per Java client JVM that answered
    client_jmx: list[ClientJmxTarget] = field(default_factory=list)
    #: the librdkafka statistics; None when the source is off or failed this cycle
    client_stats: ClientStatsState | None = None

    @classmethod
    def of(cls, started: float, results: Iterable[TargetResult]) -> Snapshot:
        """The snapshot of one cycle's results, each payload of a known kind in its field
        (a payload that is not of its kind's type stays in ``results`` only)."""
        snapshot = cls(started, results=list(results))
        for r in snapshot.results:
            if not r.up:
                continue
            payload = r.payload
            if r.source == admin_specs.SRC and isinstance(payload, ClusterState) and snapshot.admin is None:
                snapshot.admin = payload
            elif r.source == broker_specs.SRC and isinstance(payload, BrokerJmx):
                snapshot.broker_jmx.append(payload)
            elif r.source == client_specs.SRC and isinstance(payload, ClientJmxTarget):
                snapshot.client_jmx.append(payload)
            elif r.source == client_stats_specs.SRC and isinstance(payload, ClientStatsState) and snapshot.client_stats is None:
                snapshot.client_stats = payload
        return snapshot

    def slim(self) -> Snapshot:
        """What the HTTP side reads of a published snapshot between cycles (times, each
        target's result without its payload, the findings document): all the collector
        keeps of a cycle (:attr:`~exporter.cycle.Collector.snapshot`), so the previous and
        the new cluster state never coexist."""
        results = [replace(r, payload=None) for r in self.results]
        derived = {k: v for k, v in self.derived.items() if k in SERVED_DERIVED}
        return Snapshot(self.started, self.finished, results, derived)

    def payloads(self, source: str) -> list[Any]:
        """Payloads of the targets of ``source`` that succeeded this cycle: for sources without
        a field of their own (tests' sources); the exporter's own read their field."""
        return [r.payload for r in self.results if r.source == source and r.up]
