"""The ``connect`` source's metric specs (its part of the catalogue).

REST families (source ``connect``) carry ``connect_cluster`` (the configured name of the
Connect cluster); worker JMX families (source ``connect_jmx``) carry ``target`` (the
worker's JMX address) and ``connect_cluster``.  ``connector_type`` is source or sink
(the conventions avoid a label called ``type``).
"""

from __future__ import annotations

from exporter.metrics import MetricSpec, metric

SRC = "connect"
SRC_JMX = "connect_jmx"
CC = ("connect_cluster",)
CN = ("connect_cluster", "connector")
CT = ("connect_cluster", "connector", "task")
W = ("target", "connect_cluster")
WT = ("target", "connect_cluster", "connector", "task")
_STATES = "RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING"

CLUSTER_INFO = metric(
    "kafka_insight_connect_cluster_info",
    "gauge",
    """Always 1 per Connect cluster whose REST API answered: its Kafka Connect version and
    commit and the id of the Kafka cluster it runs against (GET /).""",
    (*CC, "version", "commit", "cluster_id"),
    source=SRC,
)
WORKERS = metric(
    "kafka_insight_connect_workers",
    "gauge",
    """Workers of the Connect cluster that run at least one connector or task (distinct
    worker_id in GET /connectors?expand=status; the REST API lists no idle workers). A drop
    means a worker left the group: its work was rebalanced onto the others.""",
    CC,
    source=SRC,
)
WORKER_CONNECTORS = metric(
    "kafka_insight_connect_worker_connectors",
    "gauge",
    "Connectors whose connector instance runs on this worker (REST status worker_id).",
    (*CC, "worker"),
    source=SRC,
)
WORKER_TASKS = metric(
    "kafka_insight_connect_worker_tasks",
    "gauge",
    "Tasks assigned to this worker (REST status worker_id); uneven numbers mean an unbalanced cluster.",
    (*CC, "worker"),
    source=SRC,
)
CONNECTOR_INFO = metric(
    "kafka_insight_connect_connector_info",
    "gauge",
    "Always 1 per connector: its type (source or sink) and connector.class (GET /connectors?expand=info).",
    (*CN, "connector_type", "connector_class"),
    source=SRC,
)
CONNECTOR_STATE = metric(
    "kafka_insight_connect_connector_state",
    "gauge",
    f"""1 for the connector's current state, 0 for the others ({_STATES}; GET
    /connectors?expand=status), with the worker running the connector instance. A RUNNING
    connector may still have FAILED tasks: see kafka_insight_connect_task_state.""",
    (*CN, "connector_type", "worker", "state"),
    source=SRC,
)
TASK_STATE = metric(
    "kafka_insight_connect_task_state",
    "gauge",
    f"""1 for the task's current state, 0 for the others ({_STATES}; GET
    /connectors?expand=status). A FAILED task stays FAILED until restarted (POST
    /connectors/<name>/tasks/<task>/restart): no data flows through it.""",
    (*CT, "connector_type", "worker", "state"),
    source=SRC,
)
CONNECTOR_TASKS = metric(
    "kafka_insight_connect_connector_tasks",
    "gauge",
    "Tasks of the connector in its status (GET /connectors?expand=status).",
    CN,
    source=SRC,
)
CONNECTOR_CONFIGURED_TASKS = metric(
    "kafka_insight_connect_connector_configured_tasks",
    "gauge",
    """Task configurations the connector generated (GET /connectors/<name>/tasks); more than
    kafka_insight_connect_connector_tasks means tasks are not (yet) started.""",
    CN,
    source=SRC,
)
CONNECTOR_FAILED_TASKS = metric(
    "kafka_insight_connect_connector_failed_tasks",
    "gauge",
    """Tasks of the connector in state FAILED. Above 0 means part of its data does not flow,
    whatever the connector's own state says.""",
    CN,
    source=SRC,
)
TASK_FAILURE_INFO = metric(
    "kafka_insight_connect_task_failure_info",
    "gauge",
    """Always 1 per FAILED task: the exception class at the top of its trace and the class
    of the last 'Caused by' (root_cause) - never the message or the trace. Read the full
    trace in GET /connectors/<name>/status or the worker log.""",
    (*CT, "exception", "root_cause"),
    source=SRC,
)
CONNECTOR_FAILURE_INFO = metric(
    "kafka_insight_connect_connector_failure_info",
    "gauge",
    "Always 1 per FAILED connector instance: the exception class of its trace and of its root cause.",
    (*CN, "exception", "root_cause"),
    source=SRC,
)
CONNECTOR_GROUP_INFO = metric(
    "kafka_insight_connect_connector_group_info",
    "gauge",
    """Always 1 per sink connector: the consumer group its tasks commit to (connect-<name>
    unless consumer.override.group.id is set). Join with the group gauges, e.g.
    kafka_insight_consumer_group_lag_seconds * on (group) group_left (connector)
    kafka_insight_connect_connector_group_info, for "sink X is N seconds behind".""",
    (*CN, "group"),
    source=SRC,
)
CONNECTOR_ERROR_TOLERANCE = metric(
    "kafka_insight_connect_connector_tolerates_errors",
    "gauge",
    """1 when the connector's config sets errors.tolerance=all: records that fail conversion
    or transformation are skipped (or sent to the dead letter queue when dlq_topic is set),
    not stopping the task - data can be dropped silently. Watch
    kafka_insight_connect_task_records_skipped_total. 0 for the default (none).""",
    (*CN, "dlq_topic"),
    source=SRC,
)


def _w(name: str, help: str, type: str = "gauge", unit: str = "") -> MetricSpec:
    return metric(name, "counter" if type == "counter" else "gauge", help, W, unit=unit, source=SRC_JMX)


def _t(name: str, help: str, type: str = "gauge", unit: str = "") -> MetricSpec:
    return metric(name, "counter" if type == "counter" else "gauge", help, WT, unit=unit, source=SRC_JMX)


#: WorkerJmx field -> spec
WORKER: dict[str, MetricSpec] = {
    "connectors": _w("kafka_insight_connect_worker_jmx_connectors", "Connectors on this worker (connect-worker-metrics connector-count)."),
    "tasks": _w("kafka_insight_connect_worker_jmx_tasks", "Tasks on this worker (connect-worker-metrics task-count)."),
    "connector_startup_attempts_total": _w(
        "kafka_insight_connect_worker_connector_startup_attempts_total",
        "Connector starts this worker attempted (connect-worker-metrics connector-startup-attempts-total).",
        "counter",
    ),
    "connector_startup_failures_total": _w(
        "kafka_insight_connect_worker_connector_startup_failures_total",
        "Connector starts that failed on this worker (connect-worker-metrics connector-startup-failure-total).",
        "counter",
    ),
    "task_startup_attempts_total": _w(
        "kafka_insight_connect_worker_task_startup_attempts_total",
        "Task starts this worker attempted (connect-worker-metrics task-startup-attempts-total).",
        "counter",
    ),
    "task_startup_failures_total": _w(
        "kafka_insight_connect_worker_task_startup_failures_total",
        "Task starts that failed on this worker (connect-worker-metrics task-startup-failure-total).",
        "counter",
    ),
    "rebalances_total": _w(
        "kafka_insight_connect_worker_rebalances_total",
        """Rebalances this worker completed (connect-worker-rebalance-metrics
        completed-rebalances-total). Frequent rebalances stop and restart tasks.""",
        "counter",
    ),
    "rebalancing": _w(
        "kafka_insight_connect_worker_rebalancing",
        "1 while this worker is rebalancing (connect-worker-rebalance-metrics rebalancing); its tasks are paused meanwhile.",
    ),
    "last_rebalance_age_seconds": _w(
        "kafka_insight_connect_worker_last_rebalance_age_seconds",
        "Seconds since this worker's last completed rebalance (connect-worker-rebalance-metrics time-since-last-rebalance-ms).",
        unit="seconds",
    ),
    "rebalance_avg_seconds": _w(
        "kafka_insight_connect_worker_rebalance_avg_seconds",
        "Average duration of this worker's rebalances (connect-worker-rebalance-metrics rebalance-avg-time-ms).",
        unit="seconds",
    ),
}

#: TaskJmx field -> spec
TASK: dict[str, MetricSpec] = {
    "batch_size_avg": _t("kafka_insight_connect_task_batch_size_avg", "Average records per batch the task processed (connector-task-metrics batch-size-avg)."),
    "batch_size_max": _t("kafka_insight_connect_task_batch_size_max", "Largest batch the task processed (connector-task-metrics batch-size-max)."),
    "offset_commit_success_ratio": _t(
        "kafka_insight_connect_task_offset_commit_success_ratio",
        "Fraction of the task's offset commits that succeeded (connector-task-metrics offset-commit-success-percentage, 0-1).",
        unit="ratio",
    ),
    "offset_commit_failure_ratio": _t(
        "kafka_insight_connect_task_offset_commit_failure_ratio",
        """Fraction of the task's offset commits that failed (connector-task-metrics
        offset-commit-failure-percentage, 0-1). Failed commits mean reprocessing after a restart.""",
        unit="ratio",
    ),
    "offset_commit_avg_seconds": _t(
        "kafka_insight_connect_task_offset_commit_avg_seconds",
        "Average time of the task's offset commits (connector-task-metrics offset-commit-avg-time-ms).",
        unit="seconds",
    ),
    "running_ratio": _t(
        "kafka_insight_connect_task_running_ratio",
        "Fraction of time the task spent running (connector-task-metrics running-ratio).",
        unit="ratio",
    ),
    "pause_ratio": _t(
        "kafka_insight_connect_task_pause_ratio",
        "Fraction of time the task spent paused (connector-task-metrics pause-ratio).",
        unit="ratio",
    ),
    "source_records_polled_total": _t(
        "kafka_insight_connect_task_source_records_polled_total",
        "Records the source task polled from its system, before transformations (source-task-metrics source-record-poll-total).",
        "counter",
    ),
    "source_records_written_total": _t(
        "kafka_insight_connect_task_source_records_written_total",
        "Records the source task's producer wrote to Kafka, after transformations (source-task-metrics source-record-write-total).",
        "counter",
    ),
    "source_records_active": _t(
        "kafka_insight_connect_task_source_records_active",
        "Records polled but not yet acknowledged by Kafka (source-task-metrics source-record-active-count).",
    ),
    "poll_batch_avg_seconds": _t(
        "kafka_insight_connect_task_poll_batch_avg_seconds",
        "Average time the source task took to poll a batch (source-task-metrics poll-batch-avg-time-ms).",
        unit="seconds",
    ),
    "sink_records_read_total": _t(
        "kafka_insight_connect_task_sink_records_read_total",
        "Records the sink task read from Kafka, before transformations (sink-task-metrics sink-record-read-total).",
        "counter",
    ),
    "sink_records_sent_total": _t(
        "kafka_insight_connect_task_sink_records_put_total",
        "Records the sink task handed to its connector's put(), after transformations (sink-task-metrics sink-record-send-total).",
        "counter",
    ),
    "sink_records_active": _t(
        "kafka_insight_connect_task_sink_records_active",
        "Records read but not yet committed (sink-task-metrics sink-record-active-count).",
    ),
    "put_batch_avg_seconds": _t(
        "kafka_insight_connect_task_put_batch_avg_seconds",
        "Average time the sink task took to put a batch (sink-task-metrics put-batch-avg-time-ms).",
        unit="seconds",
    ),
    "offset_commit_completions_total": _t(
        "kafka_insight_connect_task_offset_commit_completions_total",
        "Offset commits of the sink task that completed (sink-task-metrics offset-commit-completion-total).",
        "counter",
    ),
    "offset_commit_skips_total": _t(
        "kafka_insight_connect_task_offset_commit_skips_total",
        "Offset commits of the sink task that were skipped (sink-task-metrics offset-commit-skip-total).",
        "counter",
    ),
    "partitions": _t("kafka_insight_connect_task_partitions", "Topic partitions assigned to the sink task (sink-task-metrics partition-count)."),
    "record_errors_total": _t(
        "kafka_insight_connect_task_record_errors_total",
        "Record processing errors in the task (task-error-metrics total-record-errors).",
        "counter",
    ),
    "record_failures_total": _t(
        "kafka_insight_connect_task_record_failures_total",
        "Record processing failures in the task, including retried ones (task-error-metrics total-record-failures).",
        "counter",
    ),
    "records_skipped_total": _t(
        "kafka_insight_connect_task_records_skipped_total",
        """Records the task skipped because of errors (task-error-metrics total-records-skipped):
        with errors.tolerance=all this is data silently dropped (or only in the dead letter
        queue).""",
        "counter",
    ),
    "retries_total": _t(
        "kafka_insight_connect_task_retries_total",
        "Operations the task retried after errors (task-error-metrics total-retries).",
        "counter",
    ),
    "errors_logged_total": _t(
        "kafka_insight_connect_task_errors_logged_total",
        "Errors the task logged (task-error-metrics total-errors-logged; errors.log.enable).",
        "counter",
    ),
    "dlq_produce_requests_total": _t(
        "kafka_insight_connect_task_dlq_produce_requests_total",
        "Records the task wrote to its dead letter queue (task-error-metrics deadletterqueue-produce-requests).",
        "counter",
    ),
    "dlq_produce_failures_total": _t(
        "kafka_insight_connect_task_dlq_produce_failures_total",
        "Writes to the dead letter queue that failed: those records are lost (task-error-metrics deadletterqueue-produce-failures).",
        "counter",
    ),
    "last_error_timestamp_seconds": _t(
        "kafka_insight_connect_task_last_error_timestamp_seconds",
        "Unix time of the task's last error (task-error-metrics last-error-timestamp); absent when it never had one.",
        unit="seconds",
    ),
}
