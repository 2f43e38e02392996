"""Slow broker families: read every ``jmx.brokers.slow_every`` cycles, re-exported in between.

Each MBean read is one RMI round trip (JMX has no multi-MBean read), and a broker target's
cost is nearly proportional to its reads (issue 17: ~120 reads per broker per cycle with the
complete set).  Some families move slowly or are diagnostic detail, so they are read every
``slow_every`` cycles (default :data:`DEFAULT_SLOW_EVERY`) and their last rows are reused in the
cycles between, per target:

* ``version``: ``app-info`` Version/CommitId (and the broker id it names);
* ``phase <name>``: the request phase histograms (``RequestQueueTimeMs``, ``LocalTimeMs``,
  ``RemoteTimeMs``, ``ResponseQueueTimeMs``, ``ResponseSendTimeMs``; the totals, which the
  latency alert and panels use, are read every cycle).  Their quantiles come from Yammer's
  reservoir of roughly the last five minutes, so they move slowly by construction;
* ``group states``: groups per state (GroupMetadataManager ``NumGroups<State>`` and
  ``group-coordinator-metrics`` ``consumer-group-count`` per state);
* ``log size``: the opt-in per-partition ``Size``/``NumLogSegments`` (two reads per replica).

The families are spread over the ``slow_every`` cycles (each cycle reads about
``1/slow_every`` of the slow reads), so no cycle is a spike.  A target's first cycle, and its
first cycle after a failed one (a restarted broker), reads every family.  Everything the alerts
use (offline log directories, under-min-ISR, controller, KRaft leader, request totals, queues,
flush) is read every cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from exporter.sources.jmx.broker_ops import REQUEST_TIMES
from exporter.sources.jmx.patterns import CACHE_NAMES
from exporter.sources.jmx.rows import JmxRow, parse_object_name

#: the default of ``jmx.brokers.slow_every`` (cycles between two reads of a slow family)
DEFAULT_SLOW_EVERY = 4
_PHASES = {name for name, phase in REQUEST_TIMES.items() if phase is not None}


def slow_family(pattern: str) -> str | None:
    """The slow family a broker pattern belongs to, or None when it is read every cycle."""
    domain, props = parse_object_name(pattern.removeprefix(CACHE_NAMES).split("/", 1)[0])
    kind, name = props.get("type"), props.get("name")
    if domain == "kafka.server" and kind == "app-info":
        return "version"
    if domain == "kafka.network" and kind == "RequestMetrics" and name in _PHASES:
        return f"phase {name}"
    if (domain == "kafka.coordinator.group" and kind == "GroupMetadataManager") or (
        domain == "kafka.server" and kind == "group-coordinator-metrics" and "state" in props
    ):
        return "group states"
    if domain == "kafka.log" and kind == "Log" and name in ("Size", "NumLogSegments"):
        return "log size"
    return None


class SlowReads:
    """Which patterns a target's query asks this cycle, and its rows with the slow families'
    last rows filled in.  Thread-safe; one instance per broker source."""

    def __init__(self, patterns: Sequence[str], every: int) -> None:
        self.every = max(1, every)
        self.fast = [p for p in patterns if self.every == 1 or slow_family(p) is None]
        self.slow = [p for p in patterns if self.every > 1 and slow_family(p) is not None]
        families: dict[str, list[int]] = {}
        for i, p in enumerate(self.slow):
            families.setdefault(slow_family(p) or "", []).append(i)
        #: slow pattern index -> its slot (0..every-1): families spread over the cycles by size
        self.slot: dict[int, int] = {}
        load = [0] * self.every
        for members in sorted(families.values(), key=len, reverse=True):
            slot = load.index(min(load))
            load[slot] += len(members)
            self.slot.update(dict.fromkeys(members, slot))
        self._lock = threading.Lock()
        #: target key -> [cycles done, {slow pattern index: its last rows}]
        self._state: dict[str, tuple[int, dict[int, list[JmxRow]]]] = {}

    def plan(self, key: str) -> tuple[list[str], list[int]]:
        """This cycle's patterns for a target: the fast ones, then the slow ones due."""
        with self._lock:
            count, last = self._state.get(key, (0, {}))
        due = [i for i in range(len(self.slow)) if i not in last or (count + self.slot[i]) % self.every == 0]
        return [*self.fast, *(self.slow[i] for i in due)], due

    def merge(self, key: str, due: list[int], groups: Sequence[list[JmxRow]]) -> list[JmxRow]:
        """The answer's rows (one group per planned pattern), with the slow families not read
        this cycle taken from their last read."""
        fast = len(self.fast)
        with self._lock:
            count, last = self._state.get(key, (0, {}))
            last = dict(last)
            for i, group in zip(due, groups[fast:], strict=True):
                last[i] = group
            self._state[key] = (count + 1, last)
        rows = [row for group in groups[:fast] for row in group]
        for i in range(len(self.slow)):
            rows += last.get(i, [])
        return rows

    def forget(self, key: str) -> None:
        """A failed query: the target's next cycle reads every family (it may have restarted)."""
        with self._lock:
            self._state.pop(key, None)

    def keep_only(self, keys: Iterable[str]) -> None:
        """Drop the state of targets that are gone."""
        wanted = set(keys)
        with self._lock:
            for key in [k for k in self._state if k not in wanted]:
                del self._state[key]
