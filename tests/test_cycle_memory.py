"""What the collector keeps between cycles (issue 20: memory at 50k partitions / 5k groups).

The collector keeps a slim snapshot between cycles (what the HTTP side serves: times,
target status, the findings document): the cluster state and the derived records live on
only in the snapshot returned to the caller, so two cluster states never coexist.
"""

from __future__ import annotations

import weakref

from exporter import config
from exporter.app import build_collector
from exporter.metrics import RenderedBlock
from exporter.sources.admin.records import Broker, ClusterState, ConsumerGroup, Partition, Topic
from exporter.sources.admin.source import AdminSource
from exporter.sources.jmx.broker import BrokerJmxSource


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


def test_the_cluster_state_is_not_kept_between_cycles() -> None:
    cfg = config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:1"})
    collector = build_collector(cfg)
    admin = next(s for s in collector.sources if isinstance(s, AdminSource))
    reader = _Reader()
    admin.reader = reader
    collector.sources = [admin]
    first = collector.collect_once()
    # the caller gets the whole snapshot; the collector publishes (and keeps) the slim one
    assert first.admin is reader.previous() is not None and "durability" in first.derived
    assert collector.snapshot is not None and collector.snapshot.admin is None
    assert collector.snapshot.derived["findings"] is first.derived["findings"]
    assert [r.up for r in collector.snapshot.results] == [r.up for r in first.results] == [True]
    del first
    second = collector.collect_once()
    # nothing but the caller held the first state: gone when the second was collected
    assert reader.previous_alive_at_collect == [False, False]
    assert second.admin is reader.previous()


def test_discovered_jmx_brokers_are_learned_from_the_cycle_not_the_kept_snapshot() -> None:
    """Broker JMX discovery used to read the brokers from the previous snapshot's cluster
    state, which the collector no longer keeps: it learns them when the cycle emits."""
    cfg = config.load(
        None, {"kafka.bootstrap_servers": "127.0.0.1:1", "jmx": {"brokers": {"discover": {"port_base": 39990}}}}
    )
    collector = build_collector(cfg)
    admin = next(s for s in collector.sources if isinstance(s, AdminSource))
    jmx = next(s for s in collector.sources if isinstance(s, BrokerJmxSource))
    admin.reader = _Reader()
    collector.sources = [admin, jmx]
    assert jmx.jobs(collector.snapshot) == []  # nothing known before the first Admin-API answer
    collector.collect_once()
    assert collector.snapshot is not None and collector.snapshot.admin is None
    assert [job.target for job in jmx.jobs(collector.snapshot)] == ["h:39991"]


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
