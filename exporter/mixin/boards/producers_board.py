"""The producers dashboard: compression, batching, errors and ordering. One builder per row."""

from __future__ import annotations

from exporter.interpret import client_stats as ic
from exporter.interpret import librdkafka_batches as lb
from exporter.interpret import producer_specs as pr
from exporter.mixin.boards.common import (
    PRODUCER_TEXT,
    PRODUCERS_UID,
    RATE,
    TOPIC,
    _client_var,
    _topic_var,
    _vars,
)
from exporter.mixin.panels import DashboardDef, PanelDef, Query, q
from exporter.mixin.promql import spec as _s
from exporter.mixin.settings import Settings
from exporter.sources import client_stats as cs
from exporter.sources.jmx import client_specs as cj

CLIENT = 'client_id=~"$client_id"'


def _compression_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Reading compression and batch metrics",
            "Two Kafka producer metrics that are easy to read backwards, and how this dashboard shows them.",
            "none",
            kind="text",
            width=24,
            height=6,
            content=PRODUCER_TEXT,
        ),
        PanelDef(
            "Compression savings",
            """Share of bytes compression saves per producer: 1 - compression-rate-avg for Java producers, 1 - the
            estimated compressed/raw ratio for librdkafka producers (client_kind). Good: well above 0 for
            text-like data (50-80 % is common with zstd/lz4). Near 0 with a codec set: the data does not
            compress (already compressed or encrypted) or batches are too small — CPU spent for nothing. 0 with
            codec none is simply no compression.""",
            "percentunit",
            (Query(q(pr.SAVINGS, CLIENT), "{{client_id}} {{target}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Compression savings by topic",
            """The same savings per producer and topic (producer-topic-metrics compression-rate). Topics whose
            data does not compress stand out here.""",
            "percentunit",
            (Query(q(pr.TOPIC_SAVINGS, CLIENT, TOPIC), "{{client_id}} / {{topic}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Compressed / uncompressed size (Kafka's compression-rate-avg)",
            """The raw ratio Kafka reports as compression-rate-avg: compressed size divided by uncompressed
            size. It reads backwards: LOWER IS BETTER. 1.0 (100 %) = no compression; 0.2 (20 %) = 80 %
            saved. Windowed average (default 2 x 30 s); absent when nothing was sent in the window. librdkafka
            producers: the estimate per topic from their statistics, incl. framing (uncompressed reads ~103 %).""",
            "percentunit",
            (
                Query(q(_s("kafka_insight_producer_compressed_size_ratio"), CLIENT), "{{client_id}} {{target}}"),
                Query(q(lb.RATIO, CLIENT, TOPIC), "{{client_id}} / {{topic}} (estimate)"),
            ),
            min=0,
            max=1,
        ),
        PanelDef(
            "Topics recompressing this producer's batches",
            """Producer/topic pairs where the topic's own compression.type differs from the producer's codec: the
            broker decompresses and recompresses every batch (broker CPU and latency). Good: empty. Fix: send with
            the topic's codec, or set the topic's compression.type=producer.""",
            "none",
            (Query(f"{q(pr.RECOMPRESSED, CLIENT, TOPIC)} == 1", instant=True),),
            kind="table",
        ),
    )


def _batching_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Batch size: after compression, raw estimate, batch.size",
            """batch-size-avg is the average bytes per partition batch AS SENT, i.e. after compression; the
            producer closes a batch when its estimated compressed size reaches batch.size, or when linger.ms
            expires first. The raw (pre-compression) estimate is batch-size-avg / compression-rate-avg (a ratio of
            two window averages) and can legitimately exceed batch.size. batch.size is the declared value, or the
            client's default (Java 16384, librdkafka 1000000). librdkafka producers' raw estimate is
            batchcnt.avg x mean message size.""",
            "bytes",
            (
                Query(q(_s("kafka_insight_producer_batch_size_avg_bytes"), CLIENT), "after compression {{client_id}}"),
                Query(q(pr.RAW_BATCH, CLIENT), "raw estimate {{client_id}}"),
                Query(q(pr.BATCH_LIMIT, CLIENT), "batch.size ({{origin}}) {{client_id}}"),
            ),
        ),
        PanelDef(
            "Batch fill",
            """batch-size-avg / batch.size, both after compression (librdkafka: the raw size, which its batch.size
            bounds): how full batches are when they leave. Low
            with a short linger.ms: batches leave before they fill — raise linger.ms for fewer, larger requests
            and better compression. Low with a long linger.ms: the producer simply has little data.""",
            "percentunit",
            (Query(q(pr.FILL, CLIENT), "{{client_id}} {{target}}"),),
            min=0,
            max=1,
        ),
        PanelDef(
            "Batch size (librdkafka producers)",
            """Average batch size per librdkafka producer and topic, as written (after compression), from the
            forwarded statistics, next to the estimated raw size (batchcnt.avg x mean message size), which
            librdkafka's batch.size bounds.""",
            "bytes",
            (
                Query(q(cs.BATCH_SIZE, CLIENT, TOPIC), "{{client_id}} / {{topic}}"),
                Query(q(lb.RAW_BATCH, CLIENT, TOPIC), "raw estimate {{client_id}} / {{topic}}"),
            ),
        ),
        PanelDef(
            "Messages per batch (librdkafka producers)",
            """Average messages per batch per producer and topic. Near 1 under load means batches leave before
            they fill (linger.ms too short for the traffic): more requests, worse compression.""",
            "short",
            (Query(q(cs.BATCH_MESSAGES, CLIENT, TOPIC), "{{client_id}} / {{topic}}"),),
        ),
        PanelDef(
            "Queue time (Java producers)",
            """Average time records waited in the producer's buffer before being sent (record-queue-time-avg).
            Close to linger.ms is normal; far above means the sender cannot keep up (network, broker latency,
            max.in.flight).""",
            "s",
            (Query(q(_s("kafka_insight_producer_record_queue_time_avg_seconds"), CLIENT), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Producer queue (librdkafka producers)",
            """Messages waiting in each librdkafka producer's queue, next to its limit
            (queue.buffering.max.messages). Near the limit: produce() is about to fail with QUEUE_FULL.""",
            "short",
            (
                Query(q(cs.QUEUE_MESSAGES, CLIENT), "queued {{client_id}}"),
                Query(q(cs.QUEUE_MAX_MESSAGES, CLIENT), "limit {{client_id}}"),
            ),
        ),
    )


def _errors_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Record errors and retries (Java producers)",
            """Records per second that failed after all retries (lost from the application's point of view) and
            sends that were retried. Good: errors 0. Retries with idempotence off and more than one request in
            flight can reorder records.""",
            "cps",
            (
                Query(f"rate({q(_s('kafka_insight_producer_record_errors_total'), CLIENT)}{RATE})", "errors {{client_id}}"),
                Query(f"rate({q(_s('kafka_insight_producer_record_retries_total'), CLIENT)}{RATE})", "retries {{client_id}}"),
            ),
        ),
        PanelDef(
            "Request retries and errors (librdkafka clients)",
            """Requests per second each librdkafka client retried, and transmit errors, summed over brokers.
            Good: near 0. Retries of a producer that can reorder are exactly when ordering breaks.""",
            "cps",
            (
                Query(f"sum by (client_id) (rate({q(cs.BROKER_RETRIES, CLIENT)}{RATE}))", "retries {{client_id}}"),
                Query(f"sum by (client_id) (rate({q(cs.BROKER_TX_ERRORS, CLIENT)}{RATE}))", "tx errors {{client_id}}"),
            ),
        ),
    )


def _throughput_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Records sent per second",
            """Records each producer sent per second: Java producers from JMX (record-send-total), librdkafka
            producers from their forwarded statistics (txmsgs).""",
            "cps",
            (
                Query(f"rate({q(_s('kafka_insight_producer_records_sent_total'), CLIENT)}{RATE})", "{{client_id}} {{target}}"),
                Query(f"rate({q(cs.MESSAGES_SENT, CLIENT)}{RATE})", "{{client_id}} {{client_instance}}"),
            ),
        ),
        PanelDef(
            "Produce request latency (Java producers)",
            """Average produce request latency, from sending to the broker's answer (request-latency-avg). With
            acks=all it includes replication to the ISR. Rising with a slow follower or an overloaded broker.""",
            "s",
            (Query(q(_s("kafka_insight_producer_request_latency_avg_seconds"), CLIENT), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Throttle time (Java producers)",
            """Average time brokers delayed this producer for a quota (produce-throttle-time-avg). Good: 0. Above
            0: a client quota (producer_byte_rate) limits it; batches queue up in the producer meanwhile.""",
            "s",
            (Query(q(_s("kafka_insight_producer_throttle_time_avg_seconds"), CLIENT), "{{client_id}} {{target}}"),),
        ),
        PanelDef(
            "Buffer: free vs total (Java producers)",
            """Free bytes of the producer's record buffer next to its size (buffer.memory). Free near 0: send()
            blocks up to max.block.ms, then fails — the producer writes faster than it can send.""",
            "bytes",
            (
                Query(q(_s("kafka_insight_producer_buffer_available_bytes"), CLIENT), "free {{client_id}}"),
                Query(q(_s("kafka_insight_producer_buffer_total_bytes"), CLIENT), "total {{client_id}}"),
            ),
        ),
        PanelDef(
            "Queue bytes (librdkafka producers)",
            """Bytes waiting in each librdkafka producer's queue, next to its limit (queue.buffering.max.kbytes).
            Near the limit: produce() is about to fail with QUEUE_FULL.""",
            "bytes",
            (
                Query(q(cs.QUEUE_BYTES, CLIENT), "queued {{client_id}}"),
                Query(q(cs.QUEUE_MAX_BYTES, CLIENT), "limit {{client_id}}"),
            ),
        ),
    )


def _ordering_row() -> tuple[PanelDef, ...]:
    return (
        PanelDef(
            "Producers that can reorder (librdkafka)",
            """librdkafka producers whose settings let a retried batch land after a later one: idempotence off
            (librdkafka's default), more than one request in flight and retries on. Good: empty. Fix: set
            enable.idempotence=true.""",
            "none",
            (Query(f"{q(ic.REORDERING_RISK, CLIENT)} == 1", instant=True),),
            kind="table",
        ),
        PanelDef(
            "Producer settings (librdkafka)",
            """The settings that decide ordering, durability and batching per librdkafka producer, as declared
            to the forwarder, or librdkafka's defaults (settings_source=statistics). Note librdkafka's batch.size
            default is 1,000,000 bytes, unlike Java's 16,384.""",
            "none",
            (Query(q(ic.SETTINGS_INFO, CLIENT), instant=True),),
            kind="table",
            width=24,
        ),
        PanelDef(
            "Client software connected (KIP-511)",
            """Connections per client library and version as clients announce them to the brokers (summed over
            brokers and client listeners), with the verdict for that version's DEFAULT producer settings:
            reorders (Java 2.1-2.8, 3.0.0, 3.1.0; librdkafka-based clients), safe, no_retries (Java before 2.1:
            failed sends are lost instead), unknown (clients before Kafka 2.4 send no version). Applications may
            override defaults: ask their owners.""",
            "short",
            (
                Query(q(pr.SOFTWARE_CONNECTIONS), "connections", instant=True),
                Query(f"{q(pr.SOFTWARE_REORDERING)} == 1", "verdict", instant=True),
            ),
            kind="table",
        ),
        PanelDef(
            "Java producers that can reorder",
            """Verdict per Java producer from its client version (JMX app-info) and the settings declared for it in
            the exporter's config: reorders, safe, no_retries or unknown. A 1 in the retried column means it
            can reorder AND has retried sends: ordering may already be broken. Good: safe everywhere.""",
            "none",
            (
                Query(f"{q(pr.PRODUCER_REORDERING, CLIENT)} == 1", "verdict", instant=True),
                Query(q(pr.PRODUCER_REORDERING_EVIDENCE, CLIENT), "retried while reordering possible", instant=True),
            ),
            kind="table",
        ),
        PanelDef(
            "Java clients (JMX)",
            "Java producers and consumers found in the JMX targets, with their Kafka client version.",
            "none",
            (Query(q(cj.CLIENT_INFO, CLIENT), instant=True),),
            kind="table",
        ),
    )


# -- producers ------------------------------------------------------------------------------------
def producers_dashboard(settings: Settings) -> DashboardDef:
    return DashboardDef(
        PRODUCERS_UID,
        "Kafka Insight / Producers: compression and batching",
        "What compression really saves, how full batches are before and after compression, errors, retries, "
        "and which clients can reorder messages.",
        _vars(settings, _topic_var(), _client_var()),
        (
            ("Compression", _compression_row()),
            ("Batching", _batching_row()),
            ("Throughput, latency and buffers", _throughput_row()),
            ("Errors and retries", _errors_row()),
            ("Clients and ordering", _ordering_row()),
        ),
    )
