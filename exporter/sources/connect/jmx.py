"""Connect worker JMX: the MBean patterns, and the pure parser of their rows.

Read with the JMX source's jmxquery call (:func:`exporter.sources.jmx.query.query`), one
call per worker per cycle.  Counters come from Kafka's ``*-total`` attributes (exported as
``_total``), times from ms to seconds; Kafka's precomputed ``*-rate`` attributes and the
windowed averages that merely restate a counter are not read.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.sources.connect.records import ConnectorJmx, TaskJmx, WorkerJmx
from exporter.sources.jmx.rows import JmxRow, Values, is_id, parse_object_name

DOMAIN = "kafka.connect"
PATTERNS = [
    "kafka.connect:type=app-info,client-id=*/version",
    "kafka.connect:type=connect-worker-metrics",
    "kafka.connect:type=connect-worker-metrics,connector=*",
    "kafka.connect:type=connect-worker-rebalance-metrics",
    "kafka.connect:type=connector-metrics,connector=*",
    "kafka.connect:type=connector-task-metrics,connector=*,task=*",
    "kafka.connect:type=source-task-metrics,connector=*,task=*",
    "kafka.connect:type=sink-task-metrics,connector=*,task=*",
    "kafka.connect:type=task-error-metrics,connector=*,task=*",
]

# attribute -> (field, unit): "ms" converted to seconds
WORKER_ATTRS = {
    "connector-count": ("connectors", ""),
    "task-count": ("tasks", ""),
    "connector-startup-attempts-total": ("connector_startup_attempts_total", ""),
    "connector-startup-failure-total": ("connector_startup_failures_total", ""),
    "task-startup-attempts-total": ("task_startup_attempts_total", ""),
    "task-startup-failure-total": ("task_startup_failures_total", ""),
}
REBALANCE_ATTRS = {
    "completed-rebalances-total": ("rebalances_total", ""),
    "rebalancing": ("rebalancing", ""),
    "time-since-last-rebalance-ms": ("last_rebalance_age_seconds", "ms"),
    "rebalance-avg-time-ms": ("rebalance_avg_seconds", "ms"),
    "epoch": ("epoch", ""),
}
TASK_ATTRS = {
    # connector-task-metrics
    "batch-size-avg": ("batch_size_avg", ""),
    "batch-size-max": ("batch_size_max", ""),
    # *-percentage are fractions 0..1 despite the name (a worker whose commits all succeed reports 1.0)
    "offset-commit-success-percentage": ("offset_commit_success_ratio", ""),
    "offset-commit-failure-percentage": ("offset_commit_failure_ratio", ""),
    "offset-commit-avg-time-ms": ("offset_commit_avg_seconds", "ms"),
    "running-ratio": ("running_ratio", ""),
    "pause-ratio": ("pause_ratio", ""),
    # source-task-metrics
    "source-record-poll-total": ("source_records_polled_total", ""),
    "source-record-write-total": ("source_records_written_total", ""),
    "source-record-active-count": ("source_records_active", ""),
    "poll-batch-avg-time-ms": ("poll_batch_avg_seconds", "ms"),
    # sink-task-metrics
    "sink-record-read-total": ("sink_records_read_total", ""),
    "sink-record-send-total": ("sink_records_sent_total", ""),
    "sink-record-active-count": ("sink_records_active", ""),
    "put-batch-avg-time-ms": ("put_batch_avg_seconds", "ms"),
    "offset-commit-completion-total": ("offset_commit_completions_total", ""),
    "offset-commit-skip-total": ("offset_commit_skips_total", ""),
    "partition-count": ("partitions", ""),
    # task-error-metrics
    "total-record-errors": ("record_errors_total", ""),
    "total-record-failures": ("record_failures_total", ""),
    "total-records-skipped": ("records_skipped_total", ""),
    "total-retries": ("retries_total", ""),
    "total-errors-logged": ("errors_logged_total", ""),
    "deadletterqueue-produce-requests": ("dlq_produce_requests_total", ""),
    "deadletterqueue-produce-failures": ("dlq_produce_failures_total", ""),
    "last-error-timestamp": ("last_error_timestamp_seconds", "ms"),
}


def parse_worker(rows: Iterable[JmxRow], target: str) -> WorkerJmx:
    """``kafka.connect:*`` rows of one worker JVM -> :class:`WorkerJmx`."""
    out = WorkerJmx(target=target)
    values = Values()

    def put(obj: object, spec: tuple[str, str], row: JmxRow) -> None:
        setattr(obj, spec[0], values.ms(row) if spec[1] == "ms" else values.num(row))

    for row in rows:
        domain, props = parse_object_name(row.mbean)
        if domain != DOMAIN:
            continue
        mtype, attr = props.get("type"), row.attribute
        connector, task = props.get("connector"), props.get("task")
        if mtype == "app-info":
            if attr == "version" and isinstance(row.value, str):
                out.version = row.value
        elif mtype == "connect-worker-metrics" and connector is None and attr in WORKER_ATTRS:
            put(out, WORKER_ATTRS[attr], row)
        elif mtype == "connect-worker-rebalance-metrics" and attr in REBALANCE_ATTRS:
            put(out, REBALANCE_ATTRS[attr], row)
        elif mtype == "connector-metrics" and connector is not None:
            c = out.connector_metrics.setdefault(connector, ConnectorJmx())
            if attr == "status" and isinstance(row.value, str):
                c.status = row.value.upper()
            elif attr == "connector-type" and isinstance(row.value, str):
                c.connector_type = row.value.lower()
            elif attr == "connector-class" and isinstance(row.value, str):
                c.connector_class = row.value
        elif connector is not None and task is not None and is_id(task) and mtype in (
            "connector-task-metrics",
            "source-task-metrics",
            "sink-task-metrics",
            "task-error-metrics",
        ):
            t = out.task_metrics.setdefault((connector, int(task)), TaskJmx())
            if mtype == "connector-task-metrics" and attr == "status" and isinstance(row.value, str):
                t.status = row.value.upper()
            elif attr in TASK_ATTRS:
                put(t, TASK_ATTRS[attr], row)
    out.dropped, out.errors = values.dropped, values.errors
    return out
