"""The contract between a source and the collection cycle."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exporter.metrics import Samples
    from exporter.snapshot import Snapshot


class SourceError(Exception):
    """A failure that names its cause in one line (logged once, exported as source_up 0)."""


@dataclass(frozen=True)
class Job:
    """One unit of I/O: a source's call against one target, run in the cycle's pool."""

    source: str
    target: str
    run: Callable[[], Any]
    #: resolved by the job, before it ends, with a payload it offers ahead (a state that is
    #: not changed afterwards: the collector interprets it while the job goes on, see
    #: exporter.cycle), or with None when it has none; None: the job offers nothing ahead
    ahead: Future[Any] | None = field(default=None, compare=False)


class Source:
    """Base class of every source.

    ``jobs`` lists this cycle's work (one job per target; it may look at the previous
    snapshot, e.g. to discover JMX targets from Admin-API metadata).  The cycle runs the
    jobs in parallel with a deadline.  ``emit`` turns the payloads of the jobs that
    succeeded this cycle into samples; a failed target simply contributes nothing.
    """

    name: str = ""

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        raise NotImplementedError

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release clients and connections (called once at shutdown)."""
