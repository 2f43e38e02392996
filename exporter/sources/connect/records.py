"""Typed records of the ``connect`` source: what the REST API and the workers' JMX said in one cycle.

* ``snapshot.payloads("connect")`` -> ``list[ConnectCluster]``, one per Connect cluster
  whose REST API answered this cycle;
* ``snapshot.payloads("connect_jmx")`` -> ``list[WorkerJmx]``, one per worker JMX target
  that answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: every state the REST API reports for a connector or a task (AbstractStatus.State)
STATES = ("RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "RESTARTING")
CONNECTOR_TYPES = ("source", "sink", "unknown")
#: exception class names are cut to this many characters (label values stay bounded)
MAX_EXCEPTION_CHARS = 200


@dataclass
class ConnectTask:
    task: int
    state: str  # one of STATES (anything else is mapped to UNASSIGNED by the parser and noted)
    worker: str
    #: the exception class of a FAILED task's trace (first line up to ':'), never the trace
    exception: str | None = None
    #: the class of the last "Caused by:" of the trace (the exception itself when none)
    root_cause: str | None = None


@dataclass
class Connector:
    name: str
    connector_type: str  # source, sink, unknown
    state: str
    worker: str
    connector_class: str = ""
    #: the connector's config from /connectors?expand=info (secrets are never exported)
    config: dict[str, str] = field(default_factory=dict)
    tasks: list[ConnectTask] = field(default_factory=list)
    exception: str | None = None
    root_cause: str | None = None
    #: task configs count from /connectors/{name}/tasks (None when that call failed)
    configured_tasks: int | None = None

    @property
    def consumer_group(self) -> str | None:
        """The consumer group of a sink connector: ``consumer.override.group.id`` or ``connect-<name>``."""
        if self.connector_type != "sink":
            return None
        return self.config.get("consumer.override.group.id") or f"connect-{self.name}"

    def producer_overrides(self) -> dict[str, str]:
        """``producer.override.X`` settings of the connector config, keyed by X."""
        prefix = "producer.override."
        return {k[len(prefix) :]: v for k, v in self.config.items() if k.startswith(prefix)}


@dataclass
class ConnectCluster:
    """One Connect cluster (worker group) as its REST API described it."""

    name: str
    url: str
    version: str | None = None
    commit: str | None = None
    kafka_cluster_id: str | None = None
    connectors: list[Connector] = field(default_factory=list)
    #: partial failures of this cycle (e.g. one connector's /tasks call)
    errors: list[str] = field(default_factory=list)


@dataclass
class ConnectorJmx:
    """``kafka.connect:type=connector-metrics,connector=..``."""

    status: str | None = None
    connector_type: str | None = None
    connector_class: str | None = None


@dataclass
class TaskJmx:
    """One task's ``connector-task-metrics``, ``source-task-metrics``/``sink-task-metrics`` and ``task-error-metrics``."""

    status: str | None = None
    batch_size_avg: float | None = None
    batch_size_max: float | None = None
    offset_commit_success_ratio: float | None = None
    offset_commit_failure_ratio: float | None = None
    offset_commit_avg_seconds: float | None = None
    running_ratio: float | None = None
    pause_ratio: float | None = None
    source_records_polled_total: float | None = None
    source_records_written_total: float | None = None
    source_records_active: float | None = None
    poll_batch_avg_seconds: float | None = None
    sink_records_read_total: float | None = None
    sink_records_sent_total: float | None = None
    sink_records_active: float | None = None
    put_batch_avg_seconds: float | None = None
    offset_commit_completions_total: float | None = None
    offset_commit_skips_total: float | None = None
    partitions: float | None = None
    record_errors_total: float | None = None
    record_failures_total: float | None = None
    records_skipped_total: float | None = None
    retries_total: float | None = None
    errors_logged_total: float | None = None
    dlq_produce_requests_total: float | None = None
    dlq_produce_failures_total: float | None = None
    last_error_timestamp_seconds: float | None = None


@dataclass
class WorkerJmx:
    """One Connect worker JVM's ``kafka.connect`` MBeans in one cycle (the ``connect_jmx`` payload)."""

    target: str
    cluster: str = ""
    version: str | None = None
    connectors: float | None = None
    tasks: float | None = None
    connector_startup_attempts_total: float | None = None
    connector_startup_failures_total: float | None = None
    task_startup_attempts_total: float | None = None
    task_startup_failures_total: float | None = None
    rebalances_total: float | None = None
    rebalancing: float | None = None
    last_rebalance_age_seconds: float | None = None
    rebalance_avg_seconds: float | None = None
    epoch: float | None = None
    connector_metrics: dict[str, ConnectorJmx] = field(default_factory=dict)
    task_metrics: dict[tuple[str, int], TaskJmx] = field(default_factory=dict)
    dropped: int = 0
    errors: list[str] = field(default_factory=list)
