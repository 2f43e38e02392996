"""Alerts about producers: settings that reorder on retry, records lost after retries, full
buffers, compression that does not pay."""

from __future__ import annotations

from exporter import selfmetrics as sm
from exporter.interpret import client_stats as ic
from exporter.interpret import producer_specs as pr
from exporter.mixin.boards import common as dash
from exporter.mixin.promql import spec
from exporter.mixin.rules.base import BY_EXPORTER, AlertDef, Builder, Runbook
from exporter.sources import client_stats as cs
from exporter.sources.jmx import client_specs as cj

GROUP = "kafka-insight-producers"
REORDERS = 'verdict="reorders"'
CODEC_SET = 'setting="compression.type", value!~"none|"'
LIBRDKAFKA_CODEC_SET = 'compression_type!~"none|"'
#: Java producers are named by JMX target and client.id, librdkafka ones by client.id and instance
CLIENT = ("target", "client_id", "client_instance")
CLIENT_BEHAVIOUR = (
    "From the clients' JMX or statistics: it keeps firing while the Admin API is unreachable (without cluster_id "
    "if the exporter never learnt it). Reassignment: no effect. HA pair: one alert per client."
)


def producer_alerts(b: Builder) -> list[AlertDef]:
    s = b.s
    group = GROUP
    errors = spec("kafka_insight_producer_record_errors_total")
    exhausted = spec("kafka_insight_producer_buffer_exhausted_total")
    ordering_meaning = (
        "With retries on, more than one request in flight per connection and idempotence off, a batch that "
        "failed and is retried can land after a later batch that succeeded: messages of one key arrive out "
        "of order. librdkafka (confluent-kafka-python, -go, -dotnet) defaults to exactly that "
        "(`enable.idempotence=false`, `max.in.flight=1000000`, `retries=2147483647`). Java producers 2.1–2.8 "
        "reorder with default settings (KIP-91 made retries effectively infinite, 5 in flight, idempotence off), "
        "and so do 3.0.0 and 3.1.0 (KAFKA-13598: idempotence was not really on by default); 3.0.1, 3.1.1 and "
        "3.2+ are idempotent by default unless `acks` other than all, `max.in.flight` above 5 or `retries=0` is "
        "set explicitly, which silently turns idempotence off (KAFKA-13673). Kafka Connect's producers have it "
        "off (KAFKA-13759)."
    )
    ordering_fix = (
        "Set `enable.idempotence=true` in the producer (keeps ordering with retries and up to 5 requests in "
        "flight) and do not override `acks`/`retries`/`max.in.flight` against it; where that is impossible, "
        "`max.in.flight.requests.per.connection=1`. Upgrade Java clients older than 3.0.1 (3.0.x), 3.1.1 (3.1.x) or 3.2.0 (later lines), which are not idempotent by default."
    )
    return [
        AlertDef(
            group,
            "KafkaProducerCanReorder",
            "warning",
            b.per_cluster(
                f"({b.m(pr.PRODUCER_REORDERING, REORDERS)} == 1) or ({b.m(ic.REORDERING_RISK)} == 1)",
                *CLIENT,
                without_admin=True,
            ),
            s.reordering_for,
            "A Kafka producer runs with settings that can reorder messages on retry.",
            """Producer {{ $labels.client_id }} ({{ $labels.target }}{{ $labels.client_instance }}) in
            {CLUSTER} can write messages out of order when it retries: retries on, several
            requests in flight and idempotence off.""",
            dash.PRODUCERS_UID,
            Runbook(
                ordering_meaning,
                f"For Java producers the verdict comes from the client version in JMX (app-info) and the settings "
                f"declared for the target in the exporter's `jmx.clients` config; for librdkafka producers "
                f"`{ic.SETTINGS_INFO.name}` on the exporter's /metrics shows the settings it runs with and "
                f"`{ic.IDEMPOTENCE.name}` whether its statistics show an idempotent producer id. The producers "
                "dashboard lists both. In the application, check `enable.idempotence`.",
                ordering_fix,
                CLIENT_BEHAVIOUR,
            ),
        ),
        AlertDef(
            group,
            "KafkaProducerMayHaveReordered",
            "warning",
            b.per_cluster(f"{b.m(pr.PRODUCER_REORDERING_EVIDENCE)} == 1", "target", "client_id", without_admin=True),
            "0m",
            "A Kafka producer that can reorder has retried sends: ordering may already be broken.",
            """Java producer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER}
            runs with settings that reorder on retry and has retried sends: records of one key may already be
            out of order on the topic.""",
            dash.PRODUCERS_UID,
            Runbook(
                ordering_meaning + " Settings do not change while a producer runs, so once it has retried, every "
                "retry had the chance to put a batch behind a later one.",
                "The producers dashboard shows the producer's retries (record-retry-total) and its verdict; "
                "consumers that depend on per-key order may show out-of-order events around the retry times "
                "(`kafka-console-consumer.sh --bootstrap-server <b> --topic <topic> --property print.offset=true "
                "--property print.key=true`).",
                ordering_fix + " Check the consumers that depend on order for duplicates or out-of-order state.",
                CLIENT_BEHAVIOUR,
            ),
        ),
        AlertDef(
            group,
            "KafkaClientVersionCanReorder",
            "info",
            b.per_cluster(
                f"{b.m(pr.SOFTWARE_CONNECTIONS)} > 0"
                f" and on ({BY_EXPORTER}, client_software_name, client_software_version)"
                f" ({b.m(pr.SOFTWARE_REORDERING, REORDERS)} == 1)"
                # the exporter's own Admin/statistics clients are confluent-kafka-python: not a producer
                f" unless on ({BY_EXPORTER}, client_software_name, client_software_version) {b.own_client_software()}",
                "client_software_name",
                "client_software_version",
                without_admin=True,
            ),
            s.reordering_for,
            "Clients connected to Kafka use a library version that reorders by default.",
            """{{ $value }} connection(s) in {CLUSTER} come from
            {{ $labels.client_software_name }} {{ $labels.client_software_version }}, whose producers can reorder
            messages with default settings.""",
            dash.PRODUCERS_UID,
            Runbook(
                ordering_meaning + " Brokers count connections per client library and version (KIP-511), so this "
                "alert sees every application, not only the ones the exporter has JMX or statistics for. It is "
                "about defaults: an application may have set `enable.idempotence=true`, and consumers and admin "
                "clients of the same library are counted too. The exporter's own clients (confluent-kafka-python "
                f"of the exporter's version, from `{sm.BUILD_INFO.name}`) are left out, so applications on "
                "exactly that version are too: the client statistics alert covers those that forward statistics.",
                "The *Client software connected* table on the producers dashboard; "
                "`kafka-broker-api-versions.sh` does not list clients — ask the owners of applications using that "
                "library which producer settings they run with.",
                ordering_fix,
                CLIENT_BEHAVIOUR,
            ),
        ),
        AlertDef(
            group,
            "KafkaCompressionIneffective",
            "info",
            b.per_cluster(
                f"({b.m(pr.SAVINGS)} > 0 and {b.m(pr.SAVINGS)} < {s.compression_savings_min_ratio:g})"
                f" or ({b.m(pr.SAVINGS)} < {s.compression_savings_min_ratio:g}"
                f" and on ({BY_EXPORTER}, target, client_id) {b.m(cj.DECLARED_SETTING, CODEC_SET)})"
                # librdkafka producers: the codec from their forwarded settings (target = client instance)
                f" or ({b.m(pr.SAVINGS)} < {s.compression_savings_min_ratio:g}"
                f" and on ({BY_EXPORTER}, target, client_id) label_replace({b.m(ic.SETTINGS_INFO, LIBRDKAFKA_CODEC_SET)},"
                ' "target", "$1", "client_instance", "(.*)"))',
                "target",
                "client_id",
                without_admin=True,
            ),
            s.compression_ineffective_for,
            "A Kafka producer compresses but saves almost nothing.",
            """Producer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER} saves only
            {{ $value | humanizePercentage }} of its bytes by compression: CPU spent for little gain.""",
            dash.PRODUCERS_UID,
            Runbook(
                "Savings are 1 - compression-rate-avg: Kafka's compression-rate-avg is compressed/uncompressed size, "
                "so 1.0 means nothing was saved — the name reads backwards. For librdkafka producers the ratio is "
                "estimated from their statistics (batch size as written over messages per batch x mean message "
                "size). Savings near 0 with a codec set mean the "
                "data does not compress (already compressed, encrypted, random) or batches are too small for the "
                "codec to find repetition; both cost producer CPU and, if the topic's codec differs, broker CPU "
                "for recompression.",
                "The producers dashboard shows savings next to the raw ratio and the batch sizes; "
                "`kafka-configs.sh --bootstrap-server <b> --entity-type topics --entity-name <topic> --describe` "
                "shows the topic's `compression.type`.",
                "Try zstd or lz4 instead of gzip/snappy, raise `linger.ms` (and `batch.size`) so batches are larger, "
                "or drop compression for incompressible payloads. Keep the topic's `compression.type=producer` (or "
                "equal to the producer's codec) to avoid recompression on the broker.",
                CLIENT_BEHAVIOUR,
            ),
        ),
        AlertDef(
            group,
            "KafkaProducerRecordErrors",
            "warning",
            f"{b.per_cluster(f'round(increase({b.m(errors)}[{s.producer_errors_window}]))', 'target', 'client_id', without_admin=True)} > 0",
            "0m",
            "A Kafka producer failed to send records after all retries: the application was told they are lost.",
            """Java producer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER} failed to send
            {{ $value | humanize }} record(s) after all retries in the last {w}.""".replace("{w}", s.producer_errors_window),
            dash.PRODUCERS_UID,
            Runbook(
                "record-error-total counts records whose send failed for good: retries exhausted or "
                "`delivery.timeout.ms` expired (brokers down or refusing writes — NOT_ENOUGH_REPLICAS under min ISR, "
                "a record too large, authorization). The application's callback got the error; unless it retries "
                "itself, those records are not in Kafka.",
                "The *Record errors and retries* panel of the producers dashboard; per topic, "
                "`kafka_insight_producer_topic_record_errors_total` on the exporter's /metrics; the application's "
                "log has the exception; the cluster "
                "alerts (KafkaPartitionsUnderMinIsr, KafkaOfflinePartitions) say whether the cluster refused them.",
                "Fix the cause on the cluster side first (min ISR, offline partitions, quotas, max.message.bytes), then "
                "make sure the application re-sends or records what it lost.",
                f"Keeps firing for {s.producer_errors_window} after the last error. " + CLIENT_BEHAVIOUR,
            ),
            ("client_id",),
        ),
        AlertDef(
            group,
            "KafkaProducerBufferExhausted",
            "warning",
            b.per_cluster(
                f"round(increase({b.m(exhausted)}[{s.producer_errors_window}])) > 0"
                f" or {b.m(cs.QUEUE_MESSAGES)} / {b.m(cs.QUEUE_MAX_MESSAGES)} > {s.producer_queue_full_ratio:g}"
                f" or {b.m(cs.QUEUE_BYTES)} / {b.m(cs.QUEUE_MAX_BYTES)} > {s.producer_queue_full_ratio:g}",
                *CLIENT,
                without_admin=True,
            ),
            "0m",
            "A Kafka producer's buffer is full: sends block and then fail.",
            """{{ if $labels.target }}Java producer {{ $labels.client_id }} ({{ $labels.target }}) in {CLUSTER}
            had {{ $value | humanize }} append(s) refused by its full buffer in the last {w}.{{ else }}librdkafka
            producer {{ $labels.client_id }} ({{ $labels.client_instance }}) in {CLUSTER} has its queue
            {{ $value | humanizePercentage }} full.{{ end }}""".replace("{w}", s.producer_errors_window),
            dash.PRODUCERS_UID,
            Runbook(
                "The producer writes faster than it can send: Java producers block `send()` for up to "
                "`max.block.ms` once `buffer.memory` is used up and then fail the append (buffer-exhausted-total); "
                "librdkafka producers fail `produce()` with QUEUE_FULL once `queue.buffering.max.messages` or "
                "`queue.buffering.max.kbytes` is reached. Brokers that are slow or unreachable, or a quota, usually "
                "cause it.",
                "The *Buffer: free vs total* (Java) and *Producer queue* (librdkafka) panels of the producers "
                "dashboard, request latency and throttle time next to them; `kafka_insight_producer_buffer_exhausted_total` on the "
                "exporter's /metrics.",
                "Fix the slow path (broker latency, throttling, fewer partitions per request), raise `buffer.memory` "
                "or the queue limits if bursts are legitimate, and make the application handle the errors.",
                f"Java: keeps firing for {s.producer_errors_window} after the last refused append. " + CLIENT_BEHAVIOUR,
            ),
            ("client_id",),
        ),
    ]
