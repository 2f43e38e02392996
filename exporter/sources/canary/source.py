"""The canary source as the collection cycle sees it: a snapshot of the runner's counters.

The runner (:mod:`.runner`) works in its own threads between cycles; ``collect`` only copies
counters, so a slow or dead cluster never holds the cycle up.  When the canary cannot reach
the cluster (or its topic is missing) ``collect`` raises: ``source_up{source="canary"}`` is 0
and its families are absent for that cycle; every other source is untouched.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from exporter.config import Config
from exporter.metrics import Samples
from exporter.sources.base import Job, Source, SourceError
from exporter.sources.canary.config import CanarySettings
from exporter.sources.canary.emit import emit_canary
from exporter.sources.canary.records import CanarySnapshot
from exporter.sources.canary.runner import CanaryRunner
from exporter.sources.canary.specs import SRC

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot

#: metadata older than this (seconds) means the canary lost the cluster
STALE_AFTER = 15.0


class CanarySource(Source):
    name = SRC

    def __init__(self, runner: CanaryRunner, start: bool = True, stale_after: float = STALE_AFTER) -> None:
        self.runner = runner
        self.stale_after = stale_after
        if start:
            runner.start()

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        return [Job(SRC, self.runner.settings.topic, self.collect)]

    def collect(self) -> CanarySnapshot:
        runner = self.runner
        if not runner.alive():
            raise SourceError(f"canary threads are not running ({runner.problem})")
        age = time.monotonic() - runner.last_metadata if runner.last_metadata else None
        if runner.problem is not None and (age is None or age > self.stale_after):
            since = "" if age is None else f" (no metadata for {age:.0f} s)"
            raise SourceError(f"canary: {runner.problem}{since}")
        return runner.ledger.snapshot(time.time_ns())

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        for snap in snapshot.payloads(SRC):  # one target: the canary topic
            if isinstance(snap, CanarySnapshot):
                emit_canary(snap, out)

    def close(self) -> None:
        self.runner.stop()


def factory(config: Config) -> Source | None:
    settings = CanarySettings.of(config.canary)
    if not settings.enabled or config.demo:
        return None
    return CanarySource(CanaryRunner(settings, ",".join(config.bootstrap_servers), config.kafka.client))
