"""The ``connect`` source as the collection cycle sees it: one REST job per Connect cluster,
one JMX job per configured worker JMX target.

``source_up{source="connect",target=<cluster name>}`` is the Connect cluster's REST API;
``source_up{source="connect_jmx",target=<jmx address>}`` each worker's JMX.  Off until a
``connect`` section is configured.  Sample output::

    kafka_insight_connect_task_state{connect_cluster="main",connector="s3-sink",task="0",connector_type="sink",worker="10.0.0.5:8083",state="FAILED"} 1.0
    kafka_insight_connect_task_failure_info{connect_cluster="main",connector="s3-sink",task="0",exception="org.apache.kafka.connect.errors.ConnectException",root_cause="java.nio.file.AccessDeniedException"} 1.0
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.metrics import Samples
from exporter.sources.base import Job, Source
from exporter.sources.connect.config import ConnectClusterConfig, ConnectConfig, WorkerJmxTarget, of
from exporter.sources.connect.emit import emit_cluster, emit_worker
from exporter.sources.connect.jmx import PATTERNS, parse_worker
from exporter.sources.connect.records import ConnectCluster, WorkerJmx
from exporter.sources.connect.rest import RestClient
from exporter.sources.connect.specs import SRC, SRC_JMX
from exporter.sources.jmx import query as jvm

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.snapshot import Snapshot


class ConnectSource(Source):
    name = SRC

    def __init__(self, settings: ConnectConfig, cycle_timeout: float = 20.0) -> None:
        self.settings = settings
        self.budget = max(0.5, cycle_timeout - 0.5)
        self.clients = {c.name: RestClient(c) for c in settings.clusters}
        self.limiter = jvm.Limiter(4)

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        started = time.monotonic()
        jobs = [Job(SRC, c.name, self._rest(c, started)) for c in self.settings.clusters]
        for c in self.settings.clusters:
            jobs += [Job(SRC_JMX, t.address, self._jmx(c, t, started)) for t in c.jmx]
        return jobs

    def _rest(self, cluster: ConnectClusterConfig, started: float) -> Callable[[], ConnectCluster]:
        client = self.clients[cluster.name]

        def run() -> ConnectCluster:
            return client.collect(self.budget - (time.monotonic() - started))

        return run

    def _jmx(self, cluster: ConnectClusterConfig, target: WorkerJmxTarget, started: float) -> Callable[[], WorkerJmx]:
        def run() -> WorkerJmx:
            budget = min(self.settings.jmx_timeout, self.budget - (time.monotonic() - started))
            rows = jvm.query(target.address, PATTERNS, target.auth, timeout=budget, java=self.settings.java, limiter=self.limiter)
            record = parse_worker(rows, target.address)
            record.cluster = cluster.name
            if record.version is None and not record.task_metrics and record.connectors is None:
                record.errors.append(f"JMX {target.address}: no kafka.connect MBeans (not a Connect worker?)")
            return record

        return run

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        for cluster in snapshot.payloads(SRC):
            emit_cluster(cluster, out)
        for worker in snapshot.payloads(SRC_JMX):
            emit_worker(worker, out)


def factory(config: Config) -> Source | None:
    settings = of(config)
    if settings is None or not settings.clusters:
        return None
    return ConnectSource(settings, config.timeout)
