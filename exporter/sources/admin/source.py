"""The Admin-API source as the collection cycle sees it (parent side).

It holds a :class:`ClusterReader`: in production the :class:`~.worker.AdminWorker`, which
runs the Admin client (:mod:`.client`) in a process of its own and renders the Admin-API
families there; tests may hand it an in-process :class:`~.client.AdminCollector` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from exporter.config import Config
from exporter.metrics import RenderedBlock, Samples
from exporter.sources.admin.emit import emit_cluster
from exporter.sources.admin.records import ClusterState
from exporter.sources.admin.specs import SRC
from exporter.sources.admin.worker import AdminWorker
from exporter.sources.base import Job, Source

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot


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
        #: the state whose families the reader renders elsewhere
        self._rendered_elsewhere: ClusterState | None = None

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        return [Job(SRC, self.servers, self.collect)]

    def collect(self) -> ClusterState:
        state = self.reader.collect()
        self._rendered_elsewhere = state
        return state

    def close(self) -> None:
        self.reader.close()

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.admin
        if state is None:
            return
        rendered, self._rendered_elsewhere = self._rendered_elsewhere, None
        if rendered is None or rendered is not state:
            emit_cluster(state, out)
            return
        reader, current = self.reader, rendered

        def resolve() -> RenderedBlock | None:
            block = reader.block(self.config.timeout)
            if block is None:
                emit_cluster(current, out)  # fallback: render them here, after the others
            return block

        out.add_block(resolve)
