"""Alerts about the exporter itself: scraped, present at all, its sources and its cycle."""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.mixin.boards import common as dash
from exporter.mixin.rules.base import AlertDef, Builder, Runbook

GROUP = "kafka-insight-exporter"


def exporter_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    return [
        AlertDef(
            GROUP,
            "KafkaInsightExporterDown",
            "warning",
            f"up{{{s.job_selector}}} == 0",
            s.exporter_down_for,
            "Prometheus cannot scrape kafka-insight-exporter.",
            """Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) for
            {for_}: every Kafka panel and alert fed by it is blind.""".replace("{for_}", s.exporter_down_for),
            dash.EXPORTER_UID,
            Runbook(
                "Prometheus' own `up` series for the exporter's scrape target is 0: the process is not running, "
                "not listening on the configured address, or the scrape times out. While it lasts, no Kafka "
                "alert fed by this exporter can fire (with an HA pair, the other exporter still feeds them).",
                "Open `http://<instance>/healthz` and `/metrics` from the Prometheus host. On Prometheus' "
                "Targets page, the scrape error says whether it is a refused connection or a timeout.",
                "Restart the exporter (container/service logs say why it stopped; a config error exits with "
                "status 2 and one line naming the bad option). If scrapes time out, raise the scrape timeout "
                "or narrow the exporter's topic/group filters.",
                "Per exporter (job, instance): each exporter of an HA pair is its own scrape target. When no "
                "exporter of the job is up at all, KafkaInsightExporterAbsent pages as well.",
            ),
            per_exporter=True,
        ),
        AlertDef(
            GROUP,
            "KafkaInsightExporterAbsent",
            "critical",
            f"absent(up{{{s.job_selector}}} == 1)",
            s.exporter_absent_for,
            "No kafka-insight-exporter is being scraped successfully: nothing watches Kafka.",
            """No scrape target matching {sel} has been up for {for_} (none is down either when service
            discovery lost them): no Kafka alert of this project can fire.""".replace("{for_}", s.exporter_absent_for).replace(
                "{sel}", s.job_selector.replace('"', "'")
            ),
            dash.EXPORTER_UID,
            Runbook(
                "`up` of the exporter's job is 1 nowhere: every exporter is down, or the targets vanished from "
                "Prometheus (service discovery lost the pods, the scrape config was changed). A power loss of the "
                "whole data centre that runs both Kafka and the exporter looks like this from a Prometheus "
                "elsewhere — the Kafka alerts cannot fire, so this one pages instead.",
                "Prometheus' Targets page for the job (are there targets, and why are they down?); the "
                "exporter's `/healthz`; the orchestrator's view of the exporter pods.",
                "Restore the exporter (and, if the data centre lost power, follow the power-loss steps of "
                "KafkaLogEndOffsetDecreased and KafkaCommittedOffsetBeyondLogEnd once Kafka is back).",
                "Outage of the site running the exporter: fires after its for:. HA pair: fires only when no "
                "exporter of the job is up. It has no labels besides severity (absent() keeps none from a "
                "regex selector).",
            ),
            per_exporter=True,
            unlabelled=True,
        ),
        AlertDef(
            GROUP,
            "KafkaInsightSourceDown",
            "warning",
            b.per_cluster(f"{b.m(sm.SOURCE_UP)} == 0", "source", "target", without_admin=True),
            s.source_down_for,
            "An exporter source cannot collect from its target.",
            """Source {{ $labels.source }} has failed to collect from {{ $labels.target }} in {CLUSTER}
            for {for_}; its series are absent, the other sources still work.""".replace("{for_}", s.source_down_for),
            dash.EXPORTER_UID,
            Runbook(
                "The last collections of one source (Admin API, a broker's JMX, a client's JMX, ...) from one target "
                "failed or timed out. Only that source's series are missing; alerts built on them cannot fire. "
                'For `source="admin"` the exporter sees nothing of the cluster (KafkaClusterUnreachable pages '
                "when no exporter reaches it).",
                "The exporter log has one line per failure with the reason (`source X target Y is down: ...`). "
                "Check the target by hand: `kafka-broker-api-versions.sh --bootstrap-server <target>` for the "
                "Admin API; for JMX, that the JMX port answers (`jconsole`/`jmxterm` to `<host>:<port>`).",
                "Fix reachability (firewall, TLS/SASL settings in the exporter's `kafka.client` config, JMX "
                "authentication) or remove a decommissioned target from the config.",
                "Outage: fires for the admin source and every broker JMX target; the Alertmanager example "
                "inhibits it while KafkaClusterUnreachable fires. HA pair: one alert per cluster, source and "
                "target when either exporter fails.",
            ),
        ),
        AlertDef(
            GROUP,
            "KafkaInsightCollectionStale",
            "warning",
            f"time() - {b.m(sm.LAST_COLLECTION)} > {s.stale_intervals:g} * {b.m(sm.COLLECTION_INTERVAL)}",
            s.stale_for,
            "kafka-insight-exporter serves stale data: its collection cycle is stuck.",
            """The last collection cycle of {{ $labels.instance }} finished {{ $value | humanizeDuration }}
            ago, more than {n} collection intervals: /metrics still answers, but with old
            values.""".replace("{n}", f"{s.stale_intervals:g}"),
            dash.EXPORTER_UID,
            Runbook(
                "The exporter serves the exposition of its last finished cycle. If no cycle finishes, the numbers "
                "on /metrics (and so the dashboards) freeze while scrapes still succeed.",
                "Compare `kafka_insight_last_collection_timestamp_seconds` with the current time; the exporter log "
                "shows `still hanging since an earlier cycle` for the source that blocks.",
                "Find the hanging target in the log, fix or remove it, and restart the exporter if the cycle does "
                "not recover. Lower `collection.timeout_seconds` if targets hang often.",
                "Per exporter (each of an HA pair alerts for itself): a stuck cycle is a fault of that process. An outage does not stop cycles (sources "
                "time out), so it does not fire then.",
            ),
            per_exporter=True,
        ),
    ]
