"""What the collector keeps between cycles (issue 20: memory at 50k partitions / 5k groups).

The previous cycle's cluster state and derived records are let go once the next cycle's
sources have read the previous snapshot, so two cluster states never coexist; what the
HTTP side serves between cycles (times, target status, the findings document) stays.
"""

from __future__ import annotations

import weakref

from exporter import config
from exporter.app import build_collector
from exporter.metrics import RenderedBlock
from exporter.sources.admin.records import Broker, ClusterState, ConsumerGroup, Partition, Topic
from exporter.sources.admin.source import AdminSource


class _Reader:
    """A cluster state per cycle; remembers what it saw of the collector's previous one."""

    def __init__(self) -> None:
        self.cycles = 0
        self.previous: weakref.ref[ClusterState] | None = None
        self.previous_alive_at_collect: list[bool] = []

    def collect(self) -> ClusterState:
        self.cycles += 1
        self.previous_alive_at_collect.append(self.previous is not None and self.previous() is not None)
        parts = [Partition("t", p, 1, [1], [1], 0, 10 + self.cycles, 10 + self.cycles) for p in range(3)]
        group = ConsumerGroup("g", "STABLE", "CLASSIC", False, 1, [], {("t", 0): 5, ("t", 1): 6})
        state = ClusterState("c", [Broker(1, "h", 9092, None)], {"t": Topic("t", False, parts)}, {"g": group})
        self.previous = weakref.ref(state)
        return state

    def block(self, timeout: float) -> RenderedBlock | None:
        return None

    def close(self) -> None:
        pass


def test_the_previous_cluster_state_is_released_before_the_next_is_collected() -> None:
    cfg = config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:1"})
    collector = build_collector(cfg)
    admin = next(s for s in collector.sources if isinstance(s, AdminSource))
    reader = _Reader()
    admin.reader = reader
    collector.sources = [admin]
    first = collector.collect_once()
    assert first.admin is not None and collector.snapshot is first
    findings = first.derived["findings"]
    del first
    collector.collect_once()
    # the first state was gone when the second was collected (nothing but the published
    # snapshot held it), and the second stays readable after its cycle
    assert reader.previous_alive_at_collect == [False, False]
    assert collector.snapshot is not None and collector.snapshot.admin is reader.previous()
    assert collector.snapshot.derived["findings"]["schema"] == findings["schema"]


def test_a_slim_snapshot_keeps_what_the_http_side_serves() -> None:
    cfg = config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:1"})
    collector = build_collector(cfg)
    admin = next(s for s in collector.sources if isinstance(s, AdminSource))
    admin.reader = _Reader()
    collector.sources = [admin]
    snap = collector.collect_once()
    slim = snap.slim()
    assert slim.admin is None and all(r.payload is None for r in slim.results)
    assert [(r.source, r.target, r.up, r.error, r.duration) for r in slim.results] == [
        (r.source, r.target, r.up, r.error, r.duration) for r in snap.results
    ]
    assert (slim.started, slim.finished) == (snap.started, snap.finished)
    assert slim.derived == {"findings": snap.derived["findings"]}
    assert "durability" in snap.derived  # what the slim copy lets go
