"""Kafka Connect alerts (with runbooks) and the Connect dashboard (issue 18).

Kept apart from :mod:`exporter.mixin.alerts` and :mod:`exporter.mixin.dashboards`, which
hook it in (``alerts`` turns :func:`alert_rows` into ``AlertDef`` objects; ``dashboards``
adds :func:`connect_dashboard`).  It imports neither: only the layers below them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exporter import selfmetrics as sm
from exporter.interpret import connect as ic
from exporter.interpret import offsets_specs as of
from exporter.metrics import MetricSpec
from exporter.mixin.panels import DashboardDef, PanelDef, Query, Variable, datasource_var, label_var, q
from exporter.mixin.settings import Settings
from exporter.sources import connect as cn

CONNECT_UID = "kafka-insight-connect"
GROUP = "kafka-insight-connect"
BY = "job, instance, connect_cluster, connector"
CC = 'connect_cluster=~"$connect_cluster"'
RATE = "[$__rate_interval]"
NOT_RUNNING = 'state=~"FAILED|UNASSIGNED|RESTARTING"'
FAILED = 'state="FAILED"'
NOT_RUNNING_TASK = 'state!="RUNNING"'
REST_SOURCE = f'source="{cn.SRC}"'

Selector = Callable[..., str]


def sink_lag_seconds(m: Selector, *matchers: str) -> str:
    """Lag in seconds of every sink connector's consumer group, labelled with the connector."""
    return (
        f"max by ({BY}, group) ({m(of.GROUP_LAG_SECONDS)} * on (job, instance, group) "
        f"group_left (connect_cluster, connector) {m(cn.CONNECTOR_GROUP_INFO, *matchers)})"
    )


def _row(
    name: str, severity: str, expr: str, for_: str, summary: str, description: str, runbook: tuple[str, str, str], *vars: str
) -> dict[str, Any]:
    return {
        "group": GROUP,
        "name": name,
        "severity": severity,
        "expr": expr,
        "for_": for_,
        "summary": summary,
        "description": description,
        "dashboard": CONNECT_UID,
        "runbook": runbook,
        "dashboard_vars": vars,
    }


def alert_rows(s: Settings, m: Selector) -> list[dict[str, Any]]:
    """The Connect alerts as AlertDef keyword arguments (``runbook`` as (meaning, confirm, action))."""
    failed = (
        f"({m(cn.TASK_STATE, FAILED)} == 1) * on (job, instance, connect_cluster, connector, task) "
        f"group_left (exception, root_cause) {m(cn.TASK_FAILURE_INFO)}"
    )
    dropped = (
        f"sum by ({BY}) (increase({m(cn.TASK['records_skipped_total'])}[10m])) > 0"
        f" or sum by ({BY}) (increase({m(cn.TASK['dlq_produce_requests_total'])}[10m])) > 0"
    )
    status = "curl -s -u <user>:<password> <connect-url>/connectors/<connector>/status"
    return [
        _row(
            "KafkaConnectTaskFailed",
            "critical",
            failed,
            s.connect_task_failed_for,
            "A Kafka Connect task has failed: its share of the data no longer flows.",
            f"""Task {{{{ $labels.task }}}} of connector {{{{ $labels.connector }}}} (Connect cluster
            {{{{ $labels.connect_cluster }}}}, worker {{{{ $labels.worker }}}}) has been FAILED for
            {s.connect_task_failed_for}: {{{{ $labels.exception }}}} caused by {{{{ $labels.root_cause }}}}.""",
            (
                "A Connect task stopped on an exception and stays FAILED until someone restarts it; the worker and "
                "often the connector itself still say RUNNING. The partitions or source objects of that task are not "
                "processed: a sink falls behind, a source stops producing. `exception` and `root_cause` are the "
                "classes of the top and last `Caused by` of its trace.",
                f"`{status}` shows the full trace of the task; the worker log has it with context "
                "(`grep -A30 'Task threw an uncaught' connect.log`); the exporter's Connect dashboard lists every "
                "failed task with its exception classes.",
                "Fix the cause (permissions, credentials, a schema or a poison record: see the trace), then "
                "`curl -X POST <connect-url>/connectors/<connector>/tasks/<task>/restart` (or "
                "`/connectors/<connector>/restart?includeTasks=true&onlyFailed=true`). A PUT of a corrected config "
                "restarts the tasks too.",
            ),
            "connect_cluster",
            "connector",
        ),
        _row(
            "KafkaConnectConnectorNotRunning",
            "warning",
            f"{m(cn.CONNECTOR_STATE, NOT_RUNNING)} == 1",
            s.connect_connector_not_running_for,
            "A Kafka Connect connector is not running.",
            f"""Connector {{{{ $labels.connector }}}} of Connect cluster {{{{ $labels.connect_cluster }}}} has
            been {{{{ $labels.state }}}} for {s.connect_connector_not_running_for}.""",
            (
                "The connector instance (which configures and starts the tasks) is FAILED, UNASSIGNED (no worker runs "
                "it: a worker left, or a rebalance does not finish) or keeps RESTARTING. New task configurations are "
                "not generated while it lasts. PAUSED and STOPPED are deliberate and do not alert; the Connect "
                "dashboard shows them.",
                f"`{status}`; `curl <connect-url>/connectors?expand=status` for all of them; the worker logs; the "
                "exporter's Connect dashboard (Connector states).",
                "For FAILED: fix the cause in the trace and `POST /connectors/<connector>/restart`. For UNASSIGNED: "
                "check that all workers run and share the same group.id and internal topics.",
            ),
            "connect_cluster",
            "connector",
        ),
        _row(
            "KafkaConnectRecordsDropped",
            "warning",
            dropped,
            "0m",
            "A Kafka Connect connector skips records or sends them to its dead letter queue.",
            """Connector {{ $labels.connector }} of Connect cluster {{ $labels.connect_cluster }} dropped
            {{ $value | humanize }} records in the last 10 minutes (errors.tolerance=all: skipped, or sent to
            the dead letter queue).""",
            (
                "With `errors.tolerance=all` a record that fails conversion or transformation does not stop the task: "
                "it is skipped (`total-records-skipped`) and, if `errors.deadletterqueue.topic.name` is set, written "
                "to that topic. The data does not reach its destination; nothing else tells you.",
                "The task-error metrics on the Connect dashboard; the DLQ topic's records carry the error in their "
                "headers (`kafka-console-consumer.sh --bootstrap-server <b> --topic <dlq> --property print.headers=true`); "
                "`errors.log.enable=true` logs each failure.",
                "Fix the producer of the bad records or the converter settings, then replay the DLQ if it has them. "
                "If no record may be lost, set `errors.tolerance=none` so the task fails instead.",
            ),
            "connect_cluster",
            "connector",
        ),
        _row(
            "KafkaConnectClusterUnreachable",
            "warning",
            f"{m(sm.SOURCE_UP, REST_SOURCE)} == 0",
            s.connect_unreachable_for,
            "The exporter cannot read a Kafka Connect cluster's REST API.",
            f"""The REST API of Connect cluster {{{{ $labels.target }}}} has not answered the exporter
            {{{{ $labels.instance }}}} for {s.connect_unreachable_for}: connector and task states are unknown.""",
            (
                "Every cycle the exporter calls `GET /`, `GET /connectors?expand=status&expand=info` and "
                "`/connectors/<name>/tasks`. They failed: workers down, a wrong URL or credentials, TLS, a proxy "
                "answering HTML, or a REST API too slow for `timeout_seconds`. Connect alerts cannot fire meanwhile.",
                "The exporter log has one line with the reason (`source connect target <cluster> is down: ...`); "
                "`curl -v -u <user>:<password> <connect-url>/connectors` from the exporter's host.",
                "Start the workers or fix the `connect.clusters` entry (url, username/password, tls) of the exporter.",
            ),
        ),
        _row(
            "KafkaConnectSinkLagHigh",
            "warning",
            f"{sink_lag_seconds(m)} > {s.connect_sink_lag_seconds_warning:g}",
            s.connect_sink_lag_for,
            "A Kafka Connect sink connector is far behind.",
            f"""Sink connector {{{{ $labels.connector }}}} (Connect cluster {{{{ $labels.connect_cluster }}}},
            group {{{{ $labels.group }}}}) is {{{{ $value | humanizeDuration }}}} behind, above
            {s.connect_sink_lag_seconds_warning:g} s for {s.connect_sink_lag_for}.""",
            (
                "The lag in seconds of the sink's consumer group (`connect-<connector>` unless "
                "`consumer.override.group.id` is set): the age of the oldest record it has not committed. Failed or "
                "paused tasks, a slow destination and too few tasks are the usual causes.",
                "`kafka-consumer-groups.sh --bootstrap-server <b> --describe --group connect-<connector>`; the task "
                "states and put times on the Connect dashboard.",
                "Restart failed tasks, raise `tasks.max` (up to the partitions), or speed up the destination.",
            ),
            "connect_cluster",
            "connector",
        ),
    ]


# -- dashboard ------------------------------------------------------------------------------
def _table(title: str, description: str, expr: str) -> PanelDef:
    return PanelDef(title, description, "none", (Query(expr, instant=True),), kind="table")


def _ts(title: str, description: str, unit: str, *queries: tuple[str, str]) -> PanelDef:
    return PanelDef(title, description, unit, tuple(Query(e, legend) for e, legend in queries))


def _rate(spec: MetricSpec) -> str:
    return f"sum by (connect_cluster, connector) (rate({q(spec, CC)}{RATE}))"


def connect_dashboard(settings: Settings) -> DashboardDef:
    job = label_var("job", "Job", sm.BUILD_INFO, settings.job_selector, description="Prometheus job scraping the exporter.")
    instance = label_var("instance", "Exporter", sm.BUILD_INFO, 'job=~"$job"', description="Exporter instance.")
    kafka_cluster = label_var(
        "cluster_id",
        "Kafka cluster",
        cn.CLUSTER_INFO,
        'job=~"$job", instance=~"$instance"',
        include_all=True,
        description="Id of the Kafka cluster the Connect clusters run against (GET / kafka_cluster_id).",
    )
    cluster = label_var(
        "connect_cluster",
        "Connect cluster",
        cn.CLUSTER_INFO,
        'job=~"$job", instance=~"$instance", cluster_id=~"$cluster_id"',
        include_all=True,
        description="Connect cluster (the name in the exporter's connect.clusters).",
    )
    connector = Variable(
        "connector",
        "Connector",
        f"label_values({q(cn.CONNECTOR_INFO, CC)}, connector)",
        include_all=True,
        multi=True,
        description="Connector name.",
    )
    health = (
        _table(
            "Tasks not running",
            """Tasks in any state but RUNNING, with their worker. FAILED tasks do not process data until restarted;
            good: empty.""",
            f"{q(cn.TASK_STATE, CC, NOT_RUNNING_TASK)} == 1",
        ),
        _table(
            "Why tasks failed",
            """The exception class at the top of each FAILED task's trace and of its root cause. The full trace is
            in GET /connectors/<name>/status.""",
            q(cn.TASK_FAILURE_INFO, CC),
        ),
        _table(
            "Connector states",
            """Every connector's state (RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING), type and
            worker. A RUNNING connector can still have FAILED tasks (table above).""",
            f"{q(cn.CONNECTOR_STATE, CC)} == 1",
        ),
        _ts(
            "Failed tasks per connector",
            "FAILED tasks per connector over time. Good: 0.",
            "short",
            (q(cn.CONNECTOR_FAILED_TASKS, CC), "{{connect_cluster}} {{connector}}"),
        ),
        _ts(
            "Connect REST API up",
            "1 when the exporter could read the Connect cluster's REST API this cycle. 0: states are unknown.",
            "short",
            (q(sm.SOURCE_UP, REST_SOURCE), "{{target}}"),
        ),
        _table(
            "Source connectors: can they reorder records?",
            """The ordering verdict for each source connector's producer: Connect's defaults (acks=all, one
            request in flight) keep order; producer.override.* settings may not. basis=assumed_defaults: the
            worker's own producer.* settings are not visible and could change it.""",
            f"{q(ic.CONNECTOR_REORDERING, CC)} == 1",
        ),
    )
    flow = (
        _ts(
            "Records per second",
            """Source tasks: records written to Kafka; sink tasks: records put to the destination (worker JMX).
            Good: steady; a connector dropping to 0 while its input grows is stuck.""",
            "cps",
            (_rate(cn.TASK["source_records_written_total"]), "written {{connector}}"),
            (_rate(cn.TASK["sink_records_sent_total"]), "put {{connector}}"),
        ),
        _ts(
            "Records dropped (skipped, dead letter queue)",
            """Records skipped because of errors (errors.tolerance=all) and records written to the dead letter
            queue, per second. Good: no points. Anything here is data that did not reach its destination.""",
            "cps",
            (_rate(cn.TASK["records_skipped_total"]), "skipped {{connector}}"),
            (_rate(cn.TASK["dlq_produce_requests_total"]), "to DLQ {{connector}}"),
            (_rate(cn.TASK["dlq_produce_failures_total"]), "DLQ write failed {{connector}}"),
        ),
        _ts(
            "Errors and retries",
            "Record errors and retries per second (task-error-metrics).",
            "cps",
            (_rate(cn.TASK["record_errors_total"]), "errors {{connector}}"),
            (_rate(cn.TASK["retries_total"]), "retries {{connector}}"),
        ),
        _ts(
            "Sink lag in seconds",
            """Age of the oldest record each sink connector's consumer group has not committed (its group
            connect-<name> joined with the group lag). Growing: the sink is slower than its input, or tasks
            failed.""",
            "s",
            (sink_lag_seconds(q, CC), "{{connector}} ({{group}})"),
        ),
        _ts(
            "Put and poll time (average)",
            "Average time a sink task's put() or a source task's poll() took (worker JMX).",
            "s",
            (f"max by (connector) ({q(cn.TASK['put_batch_avg_seconds'], CC)})", "put {{connector}}"),
            (f"max by (connector) ({q(cn.TASK['poll_batch_avg_seconds'], CC)})", "poll {{connector}}"),
        ),
        _ts(
            "Offset commit failures",
            "Fraction of offset commits that failed per task; failed commits mean reprocessing after a restart.",
            "percentunit",
            (q(cn.TASK["offset_commit_failure_ratio"], CC), "{{connector}}-{{task}}"),
        ),
    )
    workers = (
        _ts(
            "Workers",
            "Workers running at least one connector or task. A drop: a worker left and its work was rebalanced.",
            "short",
            (q(cn.WORKERS, CC), "{{connect_cluster}}"),
        ),
        _ts(
            "Tasks per worker",
            "Tasks assigned to each worker (REST). Very uneven numbers: an unbalanced cluster.",
            "short",
            (q(cn.WORKER_TASKS, CC), "{{worker}}"),
        ),
        _ts(
            "Rebalances",
            "Rebalances per second each worker completed (worker JMX). Each one stops and restarts tasks.",
            "cps",
            (f"rate({q(cn.WORKER['rebalances_total'], CC)}{RATE})", "{{target}}"),
        ),
        _ts(
            "Time since last rebalance",
            "Seconds since each worker's last completed rebalance.",
            "s",
            (q(cn.WORKER["last_rebalance_age_seconds"], CC), "{{target}}"),
        ),
    )
    return DashboardDef(
        CONNECT_UID,
        "Kafka Insight / Kafka Connect",
        "Kafka Connect clusters: connector and task health, data flow and dropped records, sink lag, workers.",
        (datasource_var(), job, instance, kafka_cluster, cluster, connector),
        (("Connector and task health", health), ("Data flow", flow), ("Workers", workers)),
    )
