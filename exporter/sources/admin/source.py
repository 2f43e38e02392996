"""The Admin-API source as the collection cycle sees it (parent side).

It holds a :class:`ClusterReader`: in production the :class:`~.worker.AdminWorker`, which
runs the Admin client (:mod:`.client`) in a process of its own and renders the Admin-API
families there; tests may hand it an in-process :class:`~.client.AdminCollector` instead.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from exporter.config import Config
from exporter.metrics import RenderedBlock, Samples
from exporter.sources.admin.emit import emit_cluster
from exporter.sources.admin.records import ClusterState, ConfigValue
from exporter.sources.admin.specs import SRC
from exporter.sources.admin.worker import AdminWorker
from exporter.sources.base import Job, Source

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot


@dataclass
class _Known:
    topic_id: str | None
    configs: dict[str, ConfigValue] | None
    read_at: float | None


class TopicMemory:
    """Last-known configs (with the time they were read) and topic ids of every topic.

    A cycle in which describe_configs fails for a topic (a broker down, a missing
    DescribeConfigs ACL) uses the configs last read for it, so ``min.insync.replicas`` never
    falls back to Kafka's default 1; ``kafka_insight_topic_configs_age_seconds`` shows how
    old they are.  A topic never read has none (its config-dependent values are absent).
    Kept here, in the collector's process, so a restarted Admin-API worker loses nothing.
    A topic that leaves the metadata (or comes back under another topic id) is forgotten.
    Memory: one small dict per topic (~1 KB with its nine config values).
    """

    def __init__(self) -> None:
        self.known: dict[str, _Known] = {}

    def fill(self, state: ClusterState) -> bool:
        """Fill in ``state``'s missing configs and topic ids from memory, remember the rest;
        True when any configs were filled in (the families rendered from ``state`` before
        this no longer match it)."""
        filled = False
        known = self.known
        every = {**state.internal_topics, **state.topics}  # internal ones left out by the filters too
        for name, topic in every.items():
            last = known.get(name)
            if last is not None and topic.topic_id is not None and last.topic_id is not None and topic.topic_id != last.topic_id:
                last = None  # re-created: nothing of the old topic applies
            if topic.topic_id is None and last is not None:
                topic.topic_id = last.topic_id
            if topic.configs is None and last is not None and last.configs is not None:
                topic.configs, topic.configs_read_at = last.configs, last.read_at
                filled = True
            if topic.configs is not None or last is None or last.topic_id != topic.topic_id:
                known[name] = _Known(topic.topic_id, topic.configs, topic.configs_read_at)
        for gone in [name for name in known if name not in every]:
            del known[gone]
        return filled


class ClusterReader(Protocol):
    """Where the cluster state comes from."""

    def collect(self) -> ClusterState:
        """This cycle's state (raises on failure)."""

    def block(self, timeout: float) -> RenderedBlock | None:
        """The Admin-API families of the state :meth:`collect` returned, rendered elsewhere;
        None when they are not coming (the source then renders them itself)."""

    def close(self) -> None:
        """Release the client (and the worker process)."""


class AdminSource(Source):
    """Collects a :class:`ClusterState` from the Admin API each cycle."""

    name = SRC

    def __init__(self, config: Config, reader: ClusterReader | None = None) -> None:
        self.config = config
        #: by default the Admin client runs in a worker process (see .worker)
        self.reader: ClusterReader = reader if reader is not None else AdminWorker(config)
        self.servers = ",".join(config.bootstrap_servers)
        #: last-known topic configs and ids (see TopicMemory)
        self.memory = TopicMemory()
        #: the state whose families the reader renders elsewhere
        self._rendered_elsewhere: ClusterState | None = None
        #: the future the cycle's job resolves with the state sent ahead (see collect)
        self._ahead: Future[ClusterState | None] | None = None

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        if not isinstance(self.reader, AdminWorker):  # an in-process reader changes the state it would offer
            return [Job(SRC, self.servers, self.collect)]
        ahead: Future[ClusterState | None] = Future()
        self._ahead = ahead
        return [Job(SRC, self.servers, self.collect, ahead)]

    def collect(self) -> ClusterState:
        """This cycle's state.  The cycle's job also resolves the future it offers ahead with
        the state the worker sent ahead of the groups' requests (last-known configs and topic
        ids filled in), for the collector to interpret while the groups are read, or with
        None when none came."""
        ahead, self._ahead = self._ahead, None  # this cycle's (a call outside a cycle has none)
        if ahead is None or not isinstance(self.reader, AdminWorker):
            return self._collected(self.reader.collect())

        def offer(partial: ClusterState) -> None:
            self.memory.fill(partial)
            ahead.set_result(partial)

        try:
            return self._collected(self.reader.collect(ahead=offer))
        finally:
            if not ahead.done():
                ahead.set_result(None)

    def _collected(self, state: ClusterState) -> ClusterState:
        # families rendered by the reader do not have the last-known configs filled in here
        self._rendered_elsewhere = None if self.memory.fill(state) else state
        return state

    def close(self) -> None:
        self.reader.close()

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.admin
        if state is None:
            return
        rendered, self._rendered_elsewhere = self._rendered_elsewhere, None
        # over the series budget, the offsets interpretation emits the group partitions it chose
        group_partitions = not state.over_budget(self.config.series_budget.group_partitions)
        if rendered is None or rendered is not state:
            emit_cluster(state, out, group_partitions)
            return
        reader, current = self.reader, rendered

        def resolve() -> RenderedBlock | None:
            block = reader.block(self.config.timeout)
            if block is None:
                emit_cluster(current, out, group_partitions)  # fallback: render them here, after the others
            return block

        out.add_block(resolve)
