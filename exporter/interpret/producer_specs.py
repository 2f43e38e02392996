"""Metric specs of the P2/P4/P5 producer interpretation (:mod:`exporter.interpret.producers` emits them).

Names, types, labels and HELP of the ordering-verdict, compression-savings and batch-size
families; the rule tables and the computation live in ``producers.py``.
"""

from __future__ import annotations

from exporter.metrics import metric

SRC = "interpret"
C = ("target", "client_id")
CT = ("target", "client_id", "topic")
#: the compression and batching families cover Java (JMX) and librdkafka (statistics)
#: producers alike; client_kind says which, and target is the JMX target or the
#: librdkafka client instance (host/pid/handle with the forwarder)
CK = (*C, "client_kind")
CTK = (*CT, "client_kind")

_KINDS = """client_kind="java": a Java producer read over JMX (target = its JMX target);
    client_kind="librdkafka": a librdkafka producer's forwarded statistics (target = the
    client instance)"""

VERDICT_HELP = """reorders: with these settings a batch that fails and is retried can
    land after a later batch (retries on, more than one request in flight, idempotence
    off) - set enable.idempotence=true (or max.in.flight.requests.per.connection=1).
    safe: idempotence on or one request in flight. no_retries: nothing is reordered
    because failed sends are not retried (Java clients before 2.1 by default, retries=0,
    acks=0): those records are lost instead. unknown: the version or library is not known
    (clients before Kafka 2.4 send no name/version): reordering cannot be ruled out."""

SOFTWARE_CONNECTIONS = metric(
    "kafka_insight_client_software_connections",
    "gauge",
    """Client connections per client library and version (KIP-511), summed over all brokers
    and client listeners (socket-server-metrics connections; the KRaft CONTROLLER listener,
    where the nodes talk to each other, is left out). Includes consumers and admin
    clients; the reordering verdict below concerns the producers among them.""",
    ("client_software_name", "client_software_version"),
    source=SRC,
)
SOFTWARE_REORDERING = metric(
    "kafka_insight_client_software_reordering_risk",
    "gauge",
    f"""1 for the verdict on this client library and version under its DEFAULT settings,
    0 for the others (one explicit rule table: Java before 2.1 no_retries, 2.1.0-2.8.x
    reorders, 3.0.0 and 3.1.0 reorders (KAFKA-13598: idempotence was not really on by
    default), 3.0.1, 3.1.1 and 3.2.0+ safe (but setting acks other than all, max.in.flight
    above 5 or retries=0 silently turns idempotence off, KAFKA-13673; Kafka Connect
    producers have it off, KAFKA-13759); Confluent Platform builds (-ccs, -ce) by the
    Apache Kafka release they ship (5.x = 2.x, 6.0-6.2 = 2.6-2.8, 7.x = 3.x, 8.x = 4.x;
    the KAFKA-13598 fix is in CP 7.0.2 and 7.1.1, not 7.0.1 or 7.1.0); librdkafka-based
    clients (confluent-kafka-*, librdkafka) reorders (enable.idempotence defaults to false);
    unknown otherwise). basis is always assumed_defaults here: applications may override
    the defaults, ask their owners. {VERDICT_HELP}""",
    ("client_software_name", "client_software_version", "basis", "verdict"),
    source=SRC,
)
PRODUCER_REORDERING = metric(
    "kafka_insight_producer_reordering_risk",
    "gauge",
    f"""1 for the verdict on this Java producer, 0 for the others: the rule table applied
    to its app-info version, overridden by the settings declared for it in the exporter's
    config (enable.idempotence, acks, max.in.flight.requests.per.connection, retries,
    transactional.id - a transactional producer is always idempotent; JMX does not expose
    them). Producers of Kafka Connect source tasks (client.id connector-producer-*) start
    from Connect's defaults: acks=all and one request in flight, so they keep order.
    basis="declared" when any of those settings was declared for the client;
    basis="assumed_defaults" when the verdict rests on its version's (or Connect's)
    defaults alone - a producer configured otherwise looks the same over JMX, so declare
    its settings before trusting a safe verdict. {VERDICT_HELP}""",
    (*C, "basis", "verdict"),
    source=SRC,
)
PRODUCER_REORDERING_EVIDENCE = metric(
    "kafka_insight_producer_retried_while_reordering_possible",
    "gauge",
    """1 if this producer's verdict is reorders AND it retried sends within the last 10
    minutes (producer-metrics record-retry-total grew between two collections in that
    window; retries before the exporter first saw the producer are not counted): every
    retry had the chance to put a batch behind a later one - the order of its recent
    records on the topic may be broken. Back to 0 ten minutes after retries stop. Fix the
    settings (enable.idempotence=true) and check consumers that depend on order.""",
    C,
    source=SRC,
)
SAVINGS = metric(
    "kafka_insight_producer_compression_savings_ratio",
    "gauge",
    f"""Share of bytes compression saves: 1 - compressed/uncompressed size, clamped to 0-1.
    Java: 1 - compression-rate-avg (producer-metrics; Kafka's compression-rate-avg is
    compressed/uncompressed, 1.0 = none, so it reads backwards). librdkafka: an ESTIMATE
    from the statistics, over all topics of the last statistics window: batchsize.avg /
    (batchcnt.avg x mean message size), see
    kafka_insight_librdkafka_producer_compressed_size_estimate_ratio; it includes record
    and batch framing, so uncompressed data gives a ratio of about 1.03 and 0 savings. 0 = no saving
    (codec none, or incompressible data; 0 also when compression made batches larger),
    0.75 = batches are a quarter of the raw size. Low with a codec set means CPU spent for
    nothing: try zstd or lz4, or larger batches. Absent when the producer sent nothing in
    its window (Java: 2 x 30 s; librdkafka: one statistics interval). {_KINDS}.""",
    CK,
    unit="ratio",
    source=SRC,
)
TOPIC_SAVINGS = metric(
    "kafka_insight_producer_topic_compression_savings_ratio",
    "gauge",
    f"""1 - compressed/uncompressed size of this producer's batches to this topic, clamped
    to 0-1 (Java: producer-topic-metrics compression-rate; librdkafka: the per-topic
    estimate from its statistics, incl. framing): 0 nothing saved, 0.75 batches are a
    quarter of their raw size. Low on a topic with a codec set: the data does not
    compress or batches are too small; see kafka_insight_producer_compression_savings_ratio.
    {_KINDS}.""",
    CTK,
    unit="ratio",
    source=SRC,
)
RECOMPRESSED = metric(
    "kafka_insight_producer_topic_codec_mismatch",
    "gauge",
    f"""1 if the topic's own compression.type (describe_configs; not "producer") differs
    from the codec this producer sends with (its declared compression.type; for Java a
    declared codec with compression-rate-avg at 1.0 means incompressible data, not codec
    none - or, when none is declared, none if compression-rate-avg is exactly 1.0, as
    Kafka reports uncompressed batches; above 1.0 a codec adds framing to incompressible
    data, and which codec is not known): the broker decompresses and recompresses every
    batch of it, which costs broker CPU and latency. Make the producer use the topic's
    codec or set the topic's compression.type=producer. Absent when the producer's codec
    is not known. {_KINDS}.""",
    CTK,
    source=SRC,
)
RAW_BATCH = metric(
    "kafka_insight_producer_batch_uncompressed_size_estimate_bytes",
    "gauge",
    f"""ESTIMATE of the raw (pre-compression) bytes per batch. Java: batch-size-avg /
    compression-rate-avg (a ratio of two window averages); it may exceed batch.size
    legitimately: the Java producer closes a batch when its estimated COMPRESSED size
    reaches batch.size (or linger.ms expires first). librdkafka: batchcnt.avg x mean
    message size (the change of the partitions' txbytes/txmsgs between two statistics
    messages), averaged over all topics' batches of the last statistics window; message
    bytes only, no framing; librdkafka's batch.size bounds the UNCOMPRESSED batch. Use it
    to size batch.size and buffer memory in raw terms. {_KINDS}.""",
    CK,
    unit="bytes",
    source=SRC,
)
FILL = metric(
    "kafka_insight_producer_batch_fill_ratio",
    "gauge",
    f"""How full batches are when they leave, against batch.size (capped at 1). Java:
    batch-size-avg / batch.size, both after compression (the Java producer fills batches
    by their estimated compressed size). librdkafka: the larger of batchsize.avg (as
    written) and the raw estimate, / batch.size (librdkafka fills batches by their
    uncompressed size). Low with a short linger.ms means batches leave before they fill:
    raise linger.ms (Java 4.0's default is 5 ms, before 0; librdkafka's 5 ms) for fewer,
    larger requests; low with a long linger.ms means the producer simply has little data.
    Uses the declared batch.size, else the client's default (see
    kafka_insight_producer_batch_size_limit_bytes). {_KINDS}.""",
    CK,
    unit="ratio",
    source=SRC,
)
BATCH_LIMIT = metric(
    "kafka_insight_producer_batch_size_limit_bytes",
    "gauge",
    f"""The batch.size the fill ratio is computed against: origin="declared" when set for
    this client (Java: in the exporter's config, JMX does not expose a client's
    configuration; librdkafka: in the settings its forwarder sent), "default" for the
    client's default (Java 16384, librdkafka 1000000). {_KINDS}.""",
    (*C, "origin", "client_kind"),
    unit="bytes",
    source=SRC,
)


# -- P2: the rule table -------------------------------------------------------------------
