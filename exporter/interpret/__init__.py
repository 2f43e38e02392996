"""Interpretation: derived gauges that say what Kafka's raw numbers mean.

Every module here is pure (no I/O): it reads the cycle's :class:`~exporter.cycle.Snapshot`
and adds samples.  State that must survive a cycle (log end offset history for lag in
seconds and regressions, committed offsets for stalled/rewound groups, last known racks
and topic configs) lives in bounded objects owned by the interpreter instances, each with
its memory cost documented where it is defined.

* :mod:`.durability` — P1: ISR headroom, at/under min ISR, racks, durability risk per topic.
* :mod:`.offsets` — P3 and lag: committed offsets beyond the log end / below the log start,
  log end offset regressions, forced flush, lag in seconds, Burrow-style group status.
* :mod:`.producers` — P2/P4/P5 from JMX: reordering risk, compression savings, batching.
* :mod:`.blast_radius` — P1/P3 ahead of time: what a broker or rack failure would break now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.interpret.blast_radius import BlastRadiusInterpreter
from exporter.interpret.durability import DurabilityInterpreter
from exporter.interpret.offsets import OffsetSettings, OffsetsInterpreter
from exporter.interpret.producers import ProducersInterpreter

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.cycle import Interpreter

#: one factory per interpretation step; app.py registers them in INTERPRETER_FACTORIES
FACTORIES: list[Callable[[Config], Interpreter]] = [
    lambda config: DurabilityInterpreter(),
    lambda config: OffsetsInterpreter(OffsetSettings.from_raw(config.raw)),
    lambda config: ProducersInterpreter(),
    lambda config: BlastRadiusInterpreter(),
]
