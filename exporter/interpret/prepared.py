"""Partition-level interpretation prepared from the state sent ahead, and when it still holds.

The Admin-API worker sends the cluster state as it is before the consumer groups' requests
ahead of the rest (:mod:`exporter.sources.admin.worker`); the collector hands it to the
interpreters that can work on it while the groups are read (``prepare`` methods, see
:meth:`exporter.cycle.Collector._prepare`).  The cycle's final state is a new object made
from that state and the tail sent after the groups (:meth:`~exporter.sources.admin.records.StateTail.apply`):
brokers (racks), topic ids and configs may differ, and log end offsets read again; the
leaders, replicas and ISRs are the same.  What an interpreter prepared is used when
everything it reads is the same in both (:meth:`PartitionInputs.hold_for`), else it is done
again on the final state: never a result of the state sent ahead where the final one differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.sources.admin.records import Broker, ClusterState, ConfigValue, Partition
from exporter.sources.jmx.broker_records import BrokerJmx


@dataclass(frozen=True)
class PartitionInputs:
    """What the durability step reads of a cycle: the brokers (their racks),
    every topic's id, configs and partitions (leader, replicas, ISR), and the broker JMX
    records (versions, reassignment; the same objects in both snapshots of a cycle)."""

    brokers: tuple[Broker, ...]
    topics: tuple[tuple[str, str | None, dict[str, ConfigValue] | None], ...]
    partitions: tuple[list[Partition], ...]
    jmx: tuple[int, ...]

    @classmethod
    def of(cls, state: ClusterState, jmx: Iterable[BrokerJmx]) -> PartitionInputs:
        every = {**state.topics, **state.internal_topics}
        return cls(
            tuple(state.brokers),
            tuple((name, t.topic_id, t.configs) for name, t in every.items()),
            tuple(t.partitions for t in every.values()),
            tuple(map(id, jmx)),
        )

    def hold_for(self, final: PartitionInputs) -> bool:
        """True when ``final`` (the cycle's) has the inputs these were taken from."""
        if (self.brokers, self.topics, self.jmx) != (final.brokers, final.topics, final.jmx):
            return False
        return all(
            mine is theirs or _same_replicas(mine, theirs)
            for mine, theirs in zip(self.partitions, final.partitions, strict=True)
        )


def _same_replicas(mine: list[Partition], theirs: list[Partition]) -> bool:
    """A topic's partitions copied (a log end offset read again): the same leaders, replicas, ISRs."""
    return len(mine) == len(theirs) and all(
        a is b or (a.partition, a.leader, a.replicas, a.isr) == (b.partition, b.leader, b.replicas, b.isr)
        for a, b in zip(mine, theirs, strict=True)
    )
