"""Records -> samples for the ``connect`` source (pure: tested on the recorded REST and JMX outputs)."""

from __future__ import annotations

from collections import Counter

from exporter.metrics import Samples
from exporter.sources.connect.records import STATES, ConnectCluster, WorkerJmx
from exporter.sources.connect.specs import (
    CLUSTER_INFO,
    CONNECTOR_CONFIGURED_TASKS,
    CONNECTOR_ERROR_TOLERANCE,
    CONNECTOR_FAILED_TASKS,
    CONNECTOR_FAILURE_INFO,
    CONNECTOR_GROUP_INFO,
    CONNECTOR_INFO,
    CONNECTOR_STATE,
    CONNECTOR_TASKS,
    SRC_JMX,
    TASK,
    TASK_FAILURE_INFO,
    TASK_STATE,
    WORKER,
    WORKER_CONNECTORS,
    WORKER_TASKS,
    WORKERS,
)


def emit_cluster(c: ConnectCluster, out: Samples) -> None:
    cc = c.name
    out.add(CLUSTER_INFO, 1, cc, c.version or "", c.commit or "", c.kafka_cluster_id or "")
    connectors_on: Counter[str] = Counter()
    tasks_on: Counter[str] = Counter()
    for k in c.connectors:
        name, ctype = k.name, k.connector_type
        out.add(CONNECTOR_INFO, 1, cc, name, ctype, k.connector_class)
        for state in STATES:
            out.add(CONNECTOR_STATE, 1 if k.state == state else 0, cc, name, ctype, k.worker, state)
        if k.state == "FAILED":
            out.add(CONNECTOR_FAILURE_INFO, 1, cc, name, k.exception or "unknown", k.root_cause or "unknown")
        if k.worker:
            connectors_on[k.worker] += 1
        out.add(CONNECTOR_TASKS, len(k.tasks), cc, name)
        if k.configured_tasks is not None:
            out.add(CONNECTOR_CONFIGURED_TASKS, k.configured_tasks, cc, name)
        out.add(CONNECTOR_FAILED_TASKS, sum(1 for t in k.tasks if t.state == "FAILED"), cc, name)
        for t in k.tasks:
            for state in STATES:
                out.add(TASK_STATE, 1 if t.state == state else 0, cc, name, t.task, ctype, t.worker, state)
            if t.state == "FAILED":
                out.add(TASK_FAILURE_INFO, 1, cc, name, t.task, t.exception or "unknown", t.root_cause or "unknown")
            if t.worker:
                tasks_on[t.worker] += 1
        group = k.consumer_group
        if group is not None:
            out.add(CONNECTOR_GROUP_INFO, 1, cc, name, group)
        tolerates = (k.config.get("errors.tolerance") or "none").strip().lower() == "all"
        out.add(CONNECTOR_ERROR_TOLERANCE, 1 if tolerates else 0, cc, name, k.config.get("errors.deadletterqueue.topic.name", ""))
    workers = sorted(set(connectors_on) | set(tasks_on))
    out.add(WORKERS, len(workers), cc)
    for w in workers:
        out.add(WORKER_CONNECTORS, connectors_on[w], cc, w)
        out.add(WORKER_TASKS, tasks_on[w], cc, w)


def emit_worker(w: WorkerJmx, out: Samples) -> None:
    if w.dropped:
        out.dropped[SRC_JMX] = out.dropped.get(SRC_JMX, 0) + w.dropped
    for attr, spec in WORKER.items():
        value = getattr(w, attr)
        if value is not None:
            out.add(spec, value, w.target, w.cluster)
    for (connector, task), t in sorted(w.task_metrics.items()):
        for attr, spec in TASK.items():
            value = getattr(t, attr)
            if value is None or (attr == "last_error_timestamp_seconds" and value <= 0):
                continue
            out.add(spec, value, w.target, w.cluster, connector, task)
