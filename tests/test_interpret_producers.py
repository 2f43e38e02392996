"""P2 reordering verdicts, P4 compression savings, P5 batching: rule table and recorded Kafka 4.0 JMX.

Expected numbers are written by hand from tests/fixtures/README.md ("Producers") and from
the recorded broker dumps (KIP-511 connections on the PLAINTEXT listener, summed by hand).
"""

from __future__ import annotations

import json

import pytest

from exporter.interpret.producers import (
    VERDICTS,
    RetryWindow,
    emit_producers,
    java_default_verdict,
    parse_version,
    producer_verdict,
    software_verdict,
)
from exporter.metrics import Samples
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.client_records import DECLARABLE_SETTINGS, ClientJmx, parse_client_target
from exporter.sources.jmx.rows import load_dump
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES


# -- the rule table: one case per boundary --------------------------------------------------
@pytest.mark.parametrize(
    ("version", "verdict"),
    [
        ("0.11.0.3", "no_retries"),  # retries defaulted to 0
        ("2.0.1", "no_retries"),
        ("2.1.0", "reorders"),  # KIP-91: retries effectively infinite, idempotence off
        ("2.8.2", "reorders"),
        ("3.0.0", "reorders"),  # KAFKA-13598: idempotence not really on
        ("3.0.1", "safe"),
        ("3.0.2", "safe"),
        ("3.1.0", "reorders"),  # KAFKA-13598
        ("3.1.1", "safe"),
        ("3.2.0", "safe"),
        ("4.0.0", "safe"),
        ("3.1.0-SNAPSHOT", "reorders"),
        ("7.0.0-ccs", "reorders"),  # Confluent Platform 7.0.0 = Apache Kafka 3.0.0
        ("7.0.1-ccs", "reorders"),  # CP 7.0.1 still has KAFKA-13598 ...
        ("7.0.2-ccs", "safe"),  # ... fixed in CP 7.0.2
        ("7.1.0-ccs", "reorders"),
        ("7.1.1-ce", "safe"),
        ("7.2.0-ccs", "safe"),
        ("8.0.0-ccs", "safe"),  # CP 8.x = Apache Kafka 4.x
        ("8.1.1-ce", "safe"),
        ("7.4.0", "safe"),  # no Apache Kafka 7: Confluent's without the suffix too
        ("6.2.4-ccs", "reorders"),  # = 2.8.4
        ("5.0.0-ccs", "no_retries"),  # = 2.0.0
        ("garbage", "unknown"),
        (None, "unknown"),
    ],
)
def test_java_rule_table(version: str | None, verdict: str) -> None:
    assert java_default_verdict(version) == verdict


@pytest.mark.parametrize(
    ("name", "version", "verdict"),
    [
        ("apache-kafka-java", "4.0.0", "safe"),
        ("apache-kafka-java", "3.1.0", "reorders"),
        ("apache-kafka-java", "2.4.1", "reorders"),
        ("confluent-kafka-python", "2.16.1-rdkafka-2.16.0", "reorders"),  # librdkafka: idempotence off
        ("confluent-kafka-go", "2.3.0", "reorders"),
        ("confluent-kafka-dotnet", "2.3.0", "reorders"),
        ("librdkafka", "2.3.0", "reorders"),
        ("unknown", "unknown", "unknown"),  # pre-2.4 clients (no KIP-511): cannot be ruled out
        ("some-other-library", "1.0", "unknown"),  # not in the table: not called safe
    ],
)
def test_software_rule_table(name: str, version: str, verdict: str) -> None:
    assert software_verdict(name, version) == verdict


@pytest.mark.parametrize(
    ("version", "declared", "verdict"),
    [
        ("4.0.0", {}, "safe"),
        ("4.0.0", {"acks": "1"}, "reorders"),  # KAFKA-13673: conflicting setting turns idempotence off
        ("4.0.0", {"acks": "-1"}, "safe"),
        ("4.0.0", {"max.in.flight.requests.per.connection": "6"}, "reorders"),
        ("4.0.0", {"retries": "0"}, "no_retries"),
        ("4.0.0", {"acks": "1", "max.in.flight.requests.per.connection": "1"}, "safe"),
        ("4.0.0", {"enable.idempotence": "false"}, "reorders"),
        ("4.0.0", {"acks": "0"}, "no_retries"),
        ("3.0.0", {"acks": "all"}, "reorders"),
        ("3.0.0", {"enable.idempotence": "true"}, "safe"),
        ("2.5.0", {"enable.idempotence": "true"}, "safe"),
        ("2.0.0", {"retries": "5"}, "reorders"),  # retries on by hand, 5 in flight
        ("2.0.0", {}, "no_retries"),
        (None, {}, "unknown"),
        (None, {"enable.idempotence": "true"}, "safe"),
        (None, {"max.in.flight.requests.per.connection": "1"}, "safe"),
        # a declared transactional.id means idempotent, whatever the version's default
        ("2.5.0", {"transactional.id": "orders-tx"}, "safe"),
        ("3.0.0", {"transactional.id": "orders-tx", "max.in.flight.requests.per.connection": "5"}, "safe"),
        (None, {"transactional.id": "orders-tx"}, "safe"),
        ("3.0.0", {"transactional.id": " "}, "reorders"),  # blank is not declared
    ],
)
def test_declared_settings_override_the_version(version: str | None, declared: dict[str, str], verdict: str) -> None:
    assert producer_verdict(version, declared) == verdict


@pytest.mark.parametrize(
    ("version", "declared", "verdict"),
    [
        ("2.8.1", {}, "safe"),  # Connect's acks=all, one request in flight: order kept
        ("3.0.0", {}, "safe"),  # even where a plain producer reorders by default (KAFKA-13598)
        ("4.0.0", {}, "safe"),
        ("3.5.0", {"max.in.flight.requests.per.connection": "5"}, "reorders"),  # override, idempotence off (KAFKA-13759)
        ("3.5.0", {"max.in.flight.requests.per.connection": "5", "enable.idempotence": "true"}, "safe"),
        ("3.5.0", {"acks": "0"}, "no_retries"),
    ],
)
def test_kafka_connect_producers_start_from_connect_defaults(version: str, declared: dict[str, str], verdict: str) -> None:
    assert producer_verdict(version, declared, connect=True) == verdict


def test_connect_producers_recognised_by_their_client_id() -> None:
    client = recorded_producer("lz4")
    client.client_id, client.version, client.declared = "connector-producer-orders-source-0", "3.0.0", {}
    plain = recorded_producer("gzip")
    plain.version, plain.declared = "3.0.0", {}
    out = Samples()
    emit_producers([], [client, plain], None, out)
    risk = "kafka_insight_producer_reordering_risk"
    connect = {"target": "perf-lz4:9999", "client_id": "connector-producer-orders-source-0", "basis": "assumed_defaults"}
    assert out.get(risk, **connect, verdict="safe") == 1
    assert out.get(risk, **ids("gzip"), basis="assumed_defaults", verdict="reorders") == 1  # 3.0.0's own defaults


def test_a_verdict_without_declared_settings_says_so() -> None:
    """A Java 4.0 producer with enable.idempotence=false and acks=1 that nobody declared looks
    like a default one over JMX: the verdict is the default's, and says it is assumed."""
    client = recorded_producer("lz4")  # recorded with acks=1, enable.idempotence=false
    client.version, client.declared = "4.0.0", {}
    out = Samples()
    emit_producers([], [client], None, out)
    risk = "kafka_insight_producer_reordering_risk"
    assert out.get(risk, **ids("lz4"), basis="assumed_defaults", verdict="safe") == 1
    assert [labels for spec, rows in out if spec.name == risk for labels, _ in rows if "declared" in labels] == []
    client.declared = {"enable.idempotence": "false", "acks": "1", "batch.size": "16384"}
    out = Samples()
    emit_producers([], [client], None, out)
    assert out.get(risk, **ids("lz4"), basis="declared", verdict="reorders") == 1
    client.declared = {"batch.size": "16384", "compression.type": "lz4"}  # nothing that decides ordering
    out = Samples()
    emit_producers([], [client], None, out)
    assert out.get(risk, **ids("lz4"), basis="assumed_defaults", verdict="safe") == 1


def test_confluent_versions_map_to_apache_kafka() -> None:
    assert parse_version("7.4.0-ccs") == (3, 4, 0)
    assert parse_version("6.1.0-ce") == (2, 7, 0)
    assert parse_version("8.0.0-ccs") == (4, 0, 0)
    assert parse_version("7.0.1-ccs") == (3, 0, 0)  # the rules' view: without the KAFKA-13598 fix
    assert parse_version("7.0.2-ccs") == (3, 0, 1)
    assert parse_version("9.0.0-ccs") is None  # not in the map: unknown, not guessed
    assert parse_version("3.9.1") == (3, 9, 1)
    assert parse_version("") is None


# -- recorded producers ----------------------------------------------------------------------
CODECS = ("none", "gzip", "lz4", "zstd")


def recorded_producer(codec: str) -> ClientJmx:
    path = FIXTURES / f"jmx-producer-{codec}.json"
    configured = json.loads(path.read_text())["source"]["configured"]
    declared = {k: v for k, v in configured.items() if k in DECLARABLE_SETTINGS}
    target = parse_client_target(load_dump(path), f"perf-{codec}:9999", declared=declared)
    (client,) = [c for c in target.clients if c.kind == "producer"]
    return client


@pytest.fixture(scope="module")
def producers() -> Samples:
    clients = [recorded_producer(codec) for codec in CODECS]
    out = Samples()
    emit_producers([], clients, load_metadata(FIXTURES / "metadata-healthy.json"), out)
    return out


def ids(codec: str) -> dict[str, str]:
    return {"target": f"perf-{codec}:9999", "client_id": f"perf-producer-{codec}"}


def kind(codec: str) -> dict[str, str]:
    """The compression/batching families also carry the client kind."""
    return {**ids(codec), "client_kind": "java"}


@pytest.mark.parametrize(
    ("codec", "saving", "raw", "fill", "limit"),
    [
        ("none", 0.0, 12489.1, 0.762275, 16384),
        ("gzip", 1 - 0.27770, 11998.7, 3331.99 / 16384, 16384),
        ("lz4", 1 - 0.41005, 11630.9, 4769.22 / 16384, 16384),
        ("zstd", 1 - 0.20881, 86891.5, 18143.8 / 65536, 65536),
    ],
)
def test_compression_and_batching_from_recorded_producers(
    producers: Samples, codec: str, saving: float, raw: float, fill: float, limit: int
) -> None:
    out = producers
    assert out.get("kafka_insight_producer_compression_savings_ratio", **kind(codec)) == pytest.approx(saving, abs=5e-5)
    assert out.get("kafka_insight_producer_batch_uncompressed_size_estimate_bytes", **kind(codec)) == pytest.approx(raw, abs=0.05)
    assert out.get("kafka_insight_producer_batch_fill_ratio", **kind(codec)) == pytest.approx(fill, abs=5e-6)
    assert out.get("kafka_insight_producer_batch_size_limit_bytes", **kind(codec), origin="declared") == limit


def test_zstd_raw_batch_exceeds_batch_size(producers: Samples) -> None:
    """batch.size caps the estimated COMPRESSED size: ~86,891 raw bytes per 64 KiB batch."""
    raw = producers.get("kafka_insight_producer_batch_uncompressed_size_estimate_bytes", **kind("zstd"))
    assert raw is not None and raw > 65536


def test_topic_savings_and_codec_mismatch(producers: Samples) -> None:
    out = producers
    # the per-topic compression-rate of the gzip producer on durable: 0.27768
    got = out.get("kafka_insight_producer_topic_compression_savings_ratio", **kind("gzip"), topic="durable")
    assert got == pytest.approx(1 - 0.27768, abs=5e-6)
    # risky-rf2 has compression.type=gzip, the lz4 producer writes to it: the broker recompresses
    assert out.get("kafka_insight_producer_topic_codec_mismatch", **kind("lz4"), topic="risky-rf2") == 1
    # durable inherits compression.type=producer: kept as sent
    for codec in ("none", "gzip", "zstd"):
        assert out.get("kafka_insight_producer_topic_codec_mismatch", **kind(codec), topic="durable") == 0


def test_recorded_producers_reordering(producers: Samples) -> None:
    """The lz4 producer (acks=1, enable.idempotence=false, 5 in flight) is the risky one."""
    for codec in CODECS:
        verdicts = {
            v: producers.get("kafka_insight_producer_reordering_risk", **ids(codec), basis="declared", verdict=v) for v in VERDICTS
        }
        assert sum(v or 0 for v in verdicts.values()) == 1
        expected = "reorders" if codec == "lz4" else "safe"
        assert verdicts[expected] == 1, codec
        # record-retry-total is 0 in every recording: no evidence of actual reordering
        assert producers.get("kafka_insight_producer_retried_while_reordering_possible", **ids(codec)) == 0


def test_retries_while_at_risk_are_evidence_within_a_window() -> None:
    """Evidence follows retries in the last 10 minutes, not the cumulative total."""
    risky, safe = recorded_producer("lz4"), recorded_producer("gzip")
    assert risky.producer is not None and safe.producer is not None
    window = RetryWindow()
    evidence = "kafka_insight_producer_retried_while_reordering_possible"

    def cycle(now: float, total: float) -> tuple[float | None, float | None]:
        assert risky.producer is not None and safe.producer is not None
        risky.producer.record_retry_total = safe.producer.record_retry_total = total
        out = Samples()
        emit_producers([], [risky, safe], None, out, window, now)
        return out.get(evidence, **ids("lz4")), out.get(evidence, **ids("gzip"))

    assert cycle(0.0, 7.0) == (0, 0)  # first sight: 7 old retries of unknown date are no evidence
    assert cycle(30.0, 7.0) == (0, 0)
    assert cycle(60.0, 10.0) == (1, 0)  # 3 retries between t = 30 and 60; the safe producer never counts
    assert cycle(90.0, 10.0) == (1, 0)  # retries stopped, still within 10 minutes
    assert cycle(659.0, 10.0) == (1, 0)
    assert cycle(660.0, 10.0) == (0, 0)  # 600 s after the last growth: resolved (the total stays 10)
    assert cycle(690.0, 12.0) == (1, 0)
    assert cycle(720.0, 1.0) == (0, 0)  # the counter went down: the producer restarted, a new baseline
    assert cycle(750.0, 2.0) == (1, 0)
    # without a window (one collection alone) no retry can be dated
    out = Samples()
    emit_producers([], [risky], None, out)
    assert out.get(evidence, **ids("lz4")) == 0


def test_producers_that_vanish_are_forgotten() -> None:
    window = RetryWindow()
    window.retried_recently(("a", "p1"), 1.0, 0.0)
    window.retried_recently(("b", "p2"), 1.0, 0.0)
    window.forget_all_but({("b", "p2")})
    assert set(window.seen) == {("b", "p2")}


def test_idle_window_gives_no_sample() -> None:
    client = recorded_producer("gzip")
    assert client.producer is not None
    client.producer.compression_rate_avg = None  # NaN in JMX: nothing sent in the window
    client.producer.batch_size_avg = None
    out = Samples()
    emit_producers([], [client], None, out)
    assert out.get("kafka_insight_producer_compression_savings_ratio", **kind("gzip")) is None
    assert out.get("kafka_insight_producer_batch_fill_ratio", **kind("gzip")) is None
    assert out.get("kafka_insight_producer_batch_uncompressed_size_estimate_bytes", **kind("gzip")) is None
    assert out.dropped == {}  # absent, not counted as garbage


def test_default_batch_size_when_not_declared() -> None:
    client = recorded_producer("none")
    client.declared = {}
    out = Samples()
    emit_producers([], [client], None, out)
    assert out.get("kafka_insight_producer_batch_size_limit_bytes", **kind("none"), origin="default") == 16384
    assert out.get("kafka_insight_producer_batch_fill_ratio", **kind("none")) == pytest.approx(12489.12 / 16384, abs=1e-6)
    # no declared codec, compression-rate-avg 1.0: it sends uncompressed
    state = load_metadata(FIXTURES / "metadata-healthy.json")
    out = Samples()
    emit_producers([], [client], state, out)
    assert out.get("kafka_insight_producer_topic_codec_mismatch", **kind("none"), topic="durable") == 0


def test_incompressible_data_is_not_codec_none() -> None:
    """risky-rf2 has compression.type=gzip; the recorded gzip producer writes to it."""
    state = load_metadata(FIXTURES / "metadata-healthy.json")
    mismatch = "kafka_insight_producer_topic_codec_mismatch"
    client = recorded_producer("gzip")  # declared compression.type=gzip
    assert client.producer is not None
    client.producer.topics.setdefault("risky-rf2", client.producer.topics["durable"])
    client.producer.compression_rate_avg = 1.0  # incompressible data, gzip declared
    out = Samples()
    emit_producers([], [client], state, out)
    assert out.get(mismatch, **kind("gzip"), topic="risky-rf2") == 0  # still gzip, as the topic
    assert out.get("kafka_insight_producer_compression_savings_ratio", **kind("gzip")) == 0
    # nothing declared: 1.0 exactly is Kafka's value for uncompressed batches -> none, recompressed
    client.declared = {}
    out = Samples()
    emit_producers([], [client], state, out)
    assert out.get(mismatch, **kind("gzip"), topic="risky-rf2") == 1
    # above 1.0 a codec's framing on incompressible data: some codec, not known which -> absent
    client.producer.compression_rate_avg = 1.0213
    out = Samples()
    emit_producers([], [client], state, out)
    assert out.get(mismatch, **kind("gzip"), topic="risky-rf2") is None


# -- KIP-511 connections of the recorded brokers ----------------------------------------------
@pytest.mark.parametrize(
    ("state", "java", "python", "unknown"),
    [("healthy", 6, 6, 6), ("broker3-down", 4, 4, 2), ("broker3-restarted", 4, 5, 4)],
)
def test_software_connections_from_recorded_brokers(state: str, java: int, python: int, unknown: int) -> None:
    brokers = []
    for node in (1, 2, 3):
        doc = json.loads((FIXTURES / f"jmx-broker{node}-{state}.json").read_text())
        if doc.get("reachable"):
            brokers.append(parse_broker(load_dump(FIXTURES / f"jmx-broker{node}-{state}.json"), f"n{node}", broker_id=node))
    out = Samples()
    emit_producers(brokers, [], None, out)
    conn = "kafka_insight_client_software_connections"
    # PLAINTEXT only: the CONTROLLER listener's apache-kafka-java connections are the nodes
    assert out.get(conn, client_software_name="apache-kafka-java", client_software_version="4.0.0") == java
    assert out.get(conn, client_software_name="confluent-kafka-python", client_software_version="2.16.1-rdkafka-2.16.0") == python
    assert out.get(conn, client_software_name="unknown", client_software_version="unknown") == unknown
    risk = "kafka_insight_client_software_reordering_risk"
    py = {"client_software_name": "confluent-kafka-python", "client_software_version": "2.16.1-rdkafka-2.16.0"}
    py["basis"] = "assumed_defaults"
    assert out.get(risk, **py, verdict="reorders") == 1
    assert out.get(risk, **py, verdict="safe") == 0
    java = {"client_software_name": "apache-kafka-java", "client_software_version": "4.0.0", "basis": "assumed_defaults"}
    assert out.get(risk, **java, verdict="safe") == 1
    unknown = {"client_software_name": "unknown", "client_software_version": "unknown", "basis": "assumed_defaults"}
    assert out.get(risk, **unknown, verdict="unknown") == 1
