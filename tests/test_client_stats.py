"""librdkafka client statistics: real confluent-kafka clients forward through the helper to
an embedded Tansu broker; the exporter's source consumes them.

Tansu behaviours relied on (shared/tansu-quirks.md): offsets of the data topic are true
only with one record per batch (produce_exactly); the statistics topic gets batched records
and nothing here asserts its offsets; a fetch beyond the log end gets no
OFFSET_OUT_OF_RANGE from Tansu, so a consumer assigned there simply waits at that offset.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from exporter import config
from exporter.catalogue import all_specs
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.interpret.client_stats import ClientStatsInterpreter, derive, interpret_client_stats
from exporter.metrics import Samples
from exporter.sources.admin.source import AdminSource
from exporter.sources.client_stats.consumer import ClientStatsSource
from exporter.sources.client_stats.parse import parse_message
from exporter.sources.client_stats.records import InvalidStatsError
from exporter.sources.client_stats.store import StatsStore
from exporter.stats_forwarder import StatsForwarder
from tests._exposition import Parsed
from tests.conftest import QUIET, create_topic, produce_exactly

DATA = "cs-data"
STATS = "cs-stats"
HOSTILE = "cs-hostile"
RECORDS = 20
#: the externally-stored consumer starts here (from "its own store") and reads this many
EXT_START, EXT_READ = 5, 7
INTERVAL_MS = 500
CAPTURE_DATA = "cs-capture-data"


def _batches(stats_json: str) -> bool:
    topic = json.loads(stats_json)["topics"].get("cs-capture", {})
    return bool(topic.get("batchcnt", {}).get("cnt", 0) > 0)


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Poller:
    """Keeps a client polling in a thread (statistics are only emitted from poll())."""

    def __init__(self, client: Any, on_message: Callable[[Any], None] | None = None) -> None:
        self.client = client
        self.on_message = on_message
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            msg = self.client.poll(0.05)
            if msg is not None and self.on_message is not None and msg.error() is None:
                self.on_message(msg)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        if isinstance(self.client, Consumer):
            self.client.close()


def _cfg(bootstrap: str, topic: str, **extra: object) -> config.Config:
    return config.load(
        None,
        {
            "kafka.bootstrap_servers": bootstrap,
            "collection.interval_seconds": 1,
            "collection.timeout_seconds": 1,
            "client_stats.enabled": True,
            "client_stats.topic": topic,
            "client_stats.partitions": 2,
            "client_stats.expire_after_intervals": 4,
            **extra,
        },
    )


@pytest.fixture(scope="module")
def env(tansu: TansuBroker) -> Iterator[dict[str, Any]]:
    bs = tansu.bootstrap
    create_topic(bs, DATA, 1)
    create_topic(bs, "cs-produced", 1)
    produce_exactly(bs, DATA, 0, RECORDS)
    cfg = _cfg(bs, STATS)
    source = ClientStatsSource(cfg, cfg.client_stats)  # creates the statistics topic
    collector = Collector([AdminSource(cfg), source], [ClientStatsInterpreter()], interval=1, timeout=5)
    wait_for(lambda: collector.collect_once() and source._assigned, what="the statistics topic")
    fwd = StatsForwarder(bs, STATS, interval_ms=INTERVAL_MS, extra=QUIET)

    # a default librdkafka producer (idempotence off) and an idempotent one
    plain_conf = {"bootstrap.servers": bs, "client.id": "cs-plain", "linger.ms": 0, "batch.num.messages": 1, **QUIET}
    plain = Producer(fwd.configure(plain_conf))
    idem = Producer(fwd.configure({"bootstrap.servers": bs, "client.id": "cs-idem", "enable.idempotence": True, **QUIET}))
    for i in range(13):
        plain.produce("cs-produced", f"m{i}".encode())
    plain.flush(10)
    # a consumer that keeps its offsets outside Kafka: never commits, assigns from its store
    external = Consumer(
        fwd.configure(
            {"bootstrap.servers": bs, "group.id": "cs-ledger", "client.id": "cs-ledger", "enable.auto.commit": False, **QUIET},
            offset_storage="external",
        )
    )
    external.assign([TopicPartition(DATA, 0, EXT_START)])
    read: list[int] = []

    def stop_after(msg: Any) -> None:
        read.append(msg.offset())
        if len(read) == EXT_READ:
            external.pause([TopicPartition(DATA, 0)])

    # its store says 1000 on a partition whose log ends at 20: what it looks like after data loss
    ahead = Consumer(
        fwd.configure(
            {"bootstrap.servers": bs, "group.id": "cs-ahead", "client.id": "cs-ahead", "enable.auto.commit": False, **QUIET},
            offset_storage="external",
        )
    )
    ahead.assign([TopicPartition(DATA, 0, 1000)])
    pollers = {
        "plain": Poller(plain),
        "idem": Poller(idem),
        "external": Poller(external, stop_after),
        "ahead": Poller(ahead),
    }
    yield {"cfg": cfg, "source": source, "collector": collector, "pollers": pollers, "read": read, "fwd": fwd}
    for poller in pollers.values():
        poller.close()
    collector.stop()


def scrape(collector: Collector) -> Parsed:
    collector.collect_once()
    return Parsed(collector.exposition.body)


def scrape_until(collector: Collector, check: Callable[[Parsed], bool], timeout: float = 20.0) -> Parsed:
    def attempt() -> Parsed | None:
        parsed = scrape(collector)
        return parsed if check(parsed) else None

    result: Parsed = wait_for(attempt, timeout)
    return result


def instance_of(parsed: Parsed, client_id: str) -> str | None:
    rows = parsed.series("kafka_insight_librdkafka_client_info", client_id=client_id)
    return rows[0][0]["client_instance"] if rows else None


def test_families_match_what_the_clients_did(env: dict[str, Any]) -> None:
    collector = env["collector"]

    def ready() -> Parsed | None:
        p = scrape(collector)
        inst = instance_of(p, "cs-ledger")
        if (
            inst
            and p.value("kafka_insight_librdkafka_messages_sent_total", client_id="cs-plain", client_instance=instance_of(p, "cs-plain") or "")
            == 13
            and p.value(
                "kafka_insight_librdkafka_consumer_position",
                client_id="cs-ledger",
                client_instance=inst,
                group="cs-ledger",
                topic=DATA,
                partition=0,
            )
            == EXT_START + EXT_READ
            and instance_of(p, "cs-ahead")
        ):
            return p
        return None

    p = wait_for(ready, what="statistics of every client")
    assert env["read"] == list(range(EXT_START, EXT_START + EXT_READ))
    plain = instance_of(p, "cs-plain")
    assert plain is not None and plain.split("/")[-1].startswith("cs-plain#producer-")
    ids = {"client_id": "cs-plain", "client_instance": plain}
    info = p.series("kafka_insight_librdkafka_client_info", **ids)[0][0]
    assert info["role"] == "producer" and info["librdkafka_version"] and info["software"].startswith("confluent-kafka-python/")
    assert p.value("kafka_insight_librdkafka_producer_topic_messages_sent_total", **ids, topic="cs-produced") == 13
    assert p.value("kafka_insight_librdkafka_producer_queue_messages", **ids) == 0
    assert p.value("kafka_insight_librdkafka_stats_interval_seconds", **ids) == INTERVAL_MS / 1000
    brokers = p.series("kafka_insight_librdkafka_broker_state", **ids, state="UP")
    assert [(b["broker_id"], v) for b, v in brokers] == [("111", 1.0)]  # Tansu's one broker

    # the consumer that stores offsets outside Kafka: exact position and lag from the known log end
    ledger = {"client_id": "cs-ledger", "client_instance": instance_of(p, "cs-ledger"), "group": "cs-ledger", "topic": DATA, "partition": 0}
    position = EXT_START + EXT_READ
    assert p.value("kafka_insight_librdkafka_consumer_position", **ledger) == position
    assert p.value("kafka_insight_librdkafka_consumer_stored_offset", **ledger) == position
    assert p.value("kafka_insight_librdkafka_consumer_high_watermark", **ledger) == RECORDS
    assert p.value("kafka_insight_librdkafka_consumer_lag_stored", **ledger) == RECORDS - position
    assert p.value("kafka_insight_librdkafka_consumer_position_lag", **ledger) == RECORDS - position
    assert p.value("kafka_insight_librdkafka_consumer_committed_offset", **ledger) is None  # never committed
    assert p.value("kafka_insight_librdkafka_consumer_lag", **ledger) is None
    assert p.value("kafka_insight_librdkafka_consumer_beyond_log_end", **ledger) == 0
    # the log end has not moved since the first cycle: lag seconds is at least the time since
    later = scrape_until(collector, lambda q: (q.value("kafka_insight_librdkafka_consumer_position_lag_seconds", **ledger) or 0) > 0)
    assert later.value("kafka_insight_librdkafka_consumer_position_lag", **ledger) == RECORDS - position
    info = p.series("kafka_insight_librdkafka_client_info", client_id="cs-ledger")[0][0]
    assert info["offset_storage"] == "external" and info["group"] == "cs-ledger" and info["role"] == "consumer"
    # Kafka's own view has no group and no lag for it
    assert not p.series("kafka_insight_consumer_group_lag", group="cs-ledger")

    ahead = {"client_id": "cs-ahead", "client_instance": instance_of(p, "cs-ahead"), "group": "cs-ahead", "topic": DATA, "partition": 0}
    assert p.value("kafka_insight_librdkafka_consumer_fetch_offset", **ahead) == 1000
    assert p.value("kafka_insight_librdkafka_consumer_beyond_log_end", **ahead) == 1
    assert p.value("kafka_insight_librdkafka_consumer_beyond_log_end_messages", **ahead) == 1000 - RECORDS


def test_promtool_and_catalogue_accept_the_client_statistics_exposition(env: dict[str, Any]) -> None:
    import shutil
    import subprocess

    collector = env["collector"]
    scrape_until(collector, lambda q: bool(q.series("kafka_insight_librdkafka_consumer_position_lag_seconds")))
    body = collector.exposition.body
    parsed = Parsed(body)
    exposed = {f for f in parsed.families if f.startswith("kafka_insight_librdkafka_")}
    by_family = {spec.family_name: spec for spec in all_specs().values()}
    assert len(exposed) >= 40
    for family in exposed:
        kind, help_text = parsed.families[family]
        assert (kind, help_text) == (by_family[family].type, by_family[family].help), family
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_reordering_risk_of_librdkafka_producers(env: dict[str, Any]) -> None:
    collector = env["collector"]
    p = scrape_until(collector, lambda q: bool(instance_of(q, "cs-idem") and instance_of(q, "cs-plain")))
    plain = {"client_id": "cs-plain", "client_instance": instance_of(p, "cs-plain")}
    idem = {"client_id": "cs-idem", "client_instance": instance_of(p, "cs-idem")}
    # librdkafka's defaults: idempotence off, 1000000 in flight, retries on -> can reorder
    assert p.value("kafka_insight_librdkafka_producer_reordering_risk", **plain, settings_source="declared", basis="declared") == 1
    assert p.value("kafka_insight_librdkafka_producer_idempotence_enabled", **plain) == 0
    assert p.value("kafka_insight_librdkafka_producer_reordering_risk", **idem, settings_source="declared", basis="declared") == 0
    assert p.value("kafka_insight_librdkafka_producer_idempotence_enabled", **idem) == 1
    settings = p.series("kafka_insight_librdkafka_producer_settings_info", **plain)[0][0]
    assert settings["enable_idempotence"] == "false" and settings["max_in_flight"] == "1000000" and settings["linger_ms"] == "0"


def test_instances_expire_when_they_stop(env: dict[str, Any]) -> None:
    collector, source = env["collector"], env["source"]
    wait_for(lambda: instance_of(scrape(collector), "cs-idem"), what="the idempotent producer")
    env["pollers"]["idem"].close()  # no more poll(): no more statistics
    expired_before = source.store.snapshot(time.time())[2]
    # expiry = 4 intervals of 0.5 s
    p = scrape_until(collector, lambda q: instance_of(q, "cs-idem") is None, timeout=10)
    assert not p.series("kafka_insight_librdkafka_producer_reordering_risk", client_id="cs-idem")
    assert p.value("kafka_insight_librdkafka_expired_instances_total") >= expired_before + 1  # type: ignore[operator]
    assert instance_of(p, "cs-plain") is not None  # the others stay

    # an exporter started now reads the topic back: the gone producer's records are too old
    fresh = ClientStatsSource(env["cfg"], env["cfg"].client_stats)
    try:
        def replayed() -> tuple[list[Any], dict[str, int], int] | None:
            snap = fresh.store.snapshot(time.time())
            return snap if snap[1]["expired"] > 0 and any(i.client_id == "cs-plain" for i in snap[0]) else None

        instances, _, _ = wait_for(replayed, what="the read-back")
        assert not [i for i in instances if i.client_id == "cs-idem"]
    finally:
        fresh.close()


def test_hostile_messages_are_dropped_and_counted(tansu: TansuBroker) -> None:
    bs = tansu.bootstrap
    cfg = _cfg(bs, HOSTILE, **{"client_stats.max_instances": 5, "client_stats.max_message_bytes": 65536})
    source = ClientStatsSource(cfg, cfg.client_stats)
    collector = Collector([source], [interpret_client_stats], interval=1, timeout=5)
    try:
        wait_for(lambda: collector.collect_once() and source._assigned, what="the hostile topic")
        bare = {"name": "x#producer-1", "client_id": "fake", "type": "producer", "ts": 1, "unknown_field": {"a": [1]}}
        bad = [
            b"not json at all",
            b'{"truncated": ',
            b"[1, 2, 3]",
            json.dumps({"name": "x", "type": "broker"}).encode(),  # not a client type
            json.dumps({**bare, "brokers": "zz"}).encode(),  # wrong type
            json.dumps({**bare, "topics": {"t": {"partitions": {"0": 7}}}}).encode(),
            json.dumps({"format": "someone-else/9", "stats": bare}).encode(),
            b"[" * 5000,  # nesting deeper than the JSON parser's recursion limit
            b"[" * 100000,  # too large
            b'{"a": "' + b"x" * 70000 + b'"}',  # too large
        ]
        producer = Producer({"bootstrap.servers": bs, "message.max.bytes": 2000000, **QUIET})
        for value in bad:
            producer.produce(HOSTILE, value, key=b"garbage")
        # a flood of fake client ids (bare statistics with unknown fields are valid)
        for i in range(12):
            producer.produce(HOSTILE, json.dumps(bare).encode(), key=f"fake-{i}".encode())
        producer.flush(10)

        def counted() -> Parsed | None:
            p = scrape(collector)
            total = sum(v for _, v in p.series("kafka_insight_librdkafka_stats_messages_total"))
            return p if total >= len(bad) + 12 else None

        p = wait_for(counted, what="every hostile message counted")
        outcome = {labels["outcome"]: v for labels, v in p.series("kafka_insight_librdkafka_stats_messages_total")}
        assert outcome["invalid"] == 8
        assert outcome["too_large"] == 2
        assert outcome["accepted"] == 5 and outcome["instance_cap"] == 7
        assert p.value("kafka_insight_librdkafka_tracked_instances") == 5
        assert p.value("kafka_insight_source_up", source="client_stats", target=HOSTILE) == 1
        # the accepted fakes: no brokers, no topics, still well-formed series
        assert len(p.series("kafka_insight_librdkafka_client_info", client_id="fake")) == 5
    finally:
        collector.stop()


def test_missing_topic_without_create_is_a_clear_source_error(tansu: TansuBroker) -> None:
    cfg = _cfg(tansu.bootstrap, "cs-absent", **{"client_stats.create_topic": False})
    source = ClientStatsSource(cfg, cfg.client_stats)
    collector = Collector([source], interval=1, timeout=5)
    try:
        def failed() -> str | None:
            snap = collector.collect_once()
            err = snap.results[0].error
            return err if err and "does not exist" in err else None

        err = wait_for(failed, timeout=10, what="the source error")
        assert "cs-absent" in err and "create_topic" in err
        assert Parsed(collector.exposition.body).value("kafka_insight_source_up", source="client_stats", target="cs-absent") == 0
    finally:
        collector.stop()


# -- the JSON -> records mapping, from statistics captured from real clients ------------------
@pytest.fixture(scope="module")
def captured(tansu: TansuBroker) -> dict[str, Any]:
    """Statistics JSON captured from a real batching zstd producer and a real consumer."""
    bs = tansu.bootstrap
    create_topic(bs, "cs-capture", 2)
    create_topic(bs, CAPTURE_DATA, 1)
    produce_exactly(bs, CAPTURE_DATA, 0, RECORDS)
    got: dict[str, list[str]] = {"producer": [], "consumer": []}
    producer = Producer(
        {
            "bootstrap.servers": bs,
            "client.id": "cap-producer",
            "compression.type": "zstd",
            "linger.ms": 20,
            "statistics.interval.ms": 200,
            "stats_cb": got["producer"].append,
            **QUIET,
        }
    )
    payloads = [(f"event {i} " * 20).encode() for i in range(400)]
    for i, value in enumerate(payloads):
        producer.produce("cs-capture", value, partition=0, key=None if i % 2 else b"k")
        if i % 100 == 99:
            producer.poll(0.05)
    def window_with_batches() -> bool:
        producer.poll(0.05)
        return any(_batches(s) for s in got["producer"])

    wait_for(window_with_batches, what="producer statistics with batches")
    producer.flush(10)
    sent = len(got["producer"])
    wait_for(lambda: producer.poll(0.05) >= 0 and len(got["producer"]) > sent, what="statistics after the flush")
    consumer = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": "cap-group",
            "enable.auto.commit": False,
            "statistics.interval.ms": 200,
            "stats_cb": got["consumer"].append,
            **QUIET,
        }
    )
    consumer.assign([TopicPartition(CAPTURE_DATA, 0, 3)])
    n = 0
    while n < 4:
        if (m := consumer.poll(0.2)) is not None and m.error() is None:
            n += 1
    consumer.pause([TopicPartition(CAPTURE_DATA, 0)])
    before = len(got["consumer"])

    def more_stats() -> bool:
        consumer.poll(0.05)
        return len(got["consumer"]) > before + 1

    wait_for(more_stats, what="consumer statistics")
    consumer.close()
    with_batches = [s for s in got["producer"] if _batches(s)]
    return {"producer": with_batches[-1], "producer_last": got["producer"][-1], "consumer": got["consumer"][-1], "raw": sum(map(len, payloads)) + 200}


def test_mapping_of_a_captured_producer_statistics(captured: dict[str, Any]) -> None:
    text = captured["producer"]
    doc = json.loads(text)
    inst = parse_message(text.encode(), None, 1000.0)
    assert (inst.role, inst.client_id, inst.name) == ("producer", "cap-producer", doc["name"])
    assert inst.instance == f"cap-producer/{doc['name']}"  # bare statistics: no key
    assert inst.settings == {} and inst.librdkafka_version == "" and inst.offset_storage == "unknown"
    assert inst.messages_sent == doc["txmsgs"] and inst.message_bytes_sent == doc["txmsg_bytes"]
    assert inst.sent_bytes == doc["tx_bytes"] and inst.requests_sent == doc["tx"]
    assert inst.queue_max_messages == doc["msg_max"] and inst.producer_id is None
    topic = next(t for t in inst.topics if t.topic == "cs-capture")
    window = doc["topics"]["cs-capture"]
    assert topic.batch_size_avg == window["batchsize"]["avg"] and topic.batch_messages_avg == window["batchcnt"]["avg"]
    assert topic.batches_in_window == window["batchsize"]["cnt"] > 0
    learned = [b for b in doc["brokers"].values() if b["source"] == "learned"]
    assert [(b.name, b.broker_id, b.state) for b in inst.brokers] == [(b["name"], b["nodeid"], b["state"]) for b in learned]
    assert [b.rtt_avg_us for b in inst.brokers] == [b["rtt"]["avg"] if b["rtt"]["cnt"] else None for b in learned]
    # the UnAssigned partition (-1) is not a partition
    assert sorted(p.partition for p in inst.partitions if p.topic == "cs-capture") == [0, 1]
    # what librdkafka can and cannot say about compression: txmsg_bytes is the payload
    # before compression (key+value), batchsize is after it; no per-batch raw size exists
    final = parse_message(captured["producer_last"], None, 1000.0)
    assert final.messages_sent == 400
    assert final.message_bytes_sent == captured["raw"]
    assert topic.batch_size_avg is not None and topic.batch_messages_avg is not None
    assert topic.batch_size_avg < topic.batch_messages_avg * 100  # zstd: far below the 100+ raw bytes a message


def test_mapping_of_a_captured_consumer_statistics(captured: dict[str, Any]) -> None:
    text = captured["consumer"]
    doc = json.loads(text)
    envelope = json.dumps(
        {
            "format": "kafka-insight-client-stats/1",
            "host": "h",
            "pid": 1,
            "librdkafka_version": "2.16.0",
            "interval_ms": 200,
            "offset_storage": "external",
            "group_id": "cap-group",
            "settings": {"enable.auto.commit": "false", "max.in.flight": "5", "sasl.password": "secret"},
            "stats": doc,
        }
    )
    inst = parse_message(envelope.encode(), b"h/1/" + doc["name"].encode(), 1000.0)
    assert inst.instance == f"h/1/{doc['name']}" and inst.interval == 0.2 and inst.group == "cap-group"
    # aliases are normalized and only the settings the exporter needs are kept (no secrets)
    assert inst.settings == {"enable.auto.commit": "false", "max.in.flight.requests.per.connection": "5"}
    raw = doc["topics"][CAPTURE_DATA]["partitions"]["0"]
    (part,) = inst.assigned_partitions
    assert (part.topic, part.partition) == (CAPTURE_DATA, 0)
    assert part.app_offset == raw["app_offset"] == 7  # assigned at 3, read 4
    assert part.stored_offset == raw["stored_offset"] and part.hi_offset == raw["hi_offset"] == RECORDS
    assert part.committed_offset is None and raw["committed_offset"] == -1001
    assert part.consumer_lag is None and raw["consumer_lag"] == -1
    assert part.consumer_lag_stored == raw["consumer_lag_stored"] == RECORDS - 7
    assert inst.messages_received == doc["rxmsgs"] >= 4


def test_derived_gauges_from_captured_statistics_without_a_broker(captured: dict[str, Any]) -> None:
    from exporter.sources.admin.records import ClusterState, Partition, Topic
    from exporter.sources.client_stats.emit import emit_client_stats
    from exporter.sources.client_stats.records import ClientStatsState

    store = StatsStore(10, 3, 30.0)
    now = time.time()
    assert store.offer(captured["consumer"].encode(), b"c", now, now, 1 << 20) == "accepted"
    assert store.offer(captured["producer"].encode(), b"p", now, now, 1 << 20) == "accepted"
    instances, outcomes, _ = store.snapshot(now)
    state = ClientStatsState("t", instances, outcomes, 0, 10, taken=now)
    # the log end came back at 5 (data loss): the consumer read up to 7 and fetched further
    raw = json.loads(captured["consumer"])["topics"][CAPTURE_DATA]["partitions"]["0"]
    furthest = max(raw["next_offset"], raw["app_offset"], raw["stored_offset"])
    assert furthest >= 7
    cluster = ClusterState("c", [], {CAPTURE_DATA: Topic(CAPTURE_DATA, False, [Partition(CAPTURE_DATA, 0, 1, [1], [1], 0, 5)])}, {})
    out = Samples()
    emit_client_stats(state, out)
    derive(state, cluster, out)
    c = next(i for i in instances if i.role == "consumer")
    labels = {"client_id": c.client_id, "client_instance": "c", "group": "", "topic": CAPTURE_DATA, "partition": "0"}
    assert out.get("kafka_insight_librdkafka_consumer_beyond_log_end", **labels) == 1
    assert out.get("kafka_insight_librdkafka_consumer_beyond_log_end_messages", **labels) == furthest - 5
    assert out.dropped == {}
    assert out.get("kafka_insight_librdkafka_consumer_position_lag", **labels) == 0
    # bare statistics of a default producer: risk from the statistics, with defaults assumed
    p = next(i for i in instances if i.role == "producer")
    assert (
        out.get(
            "kafka_insight_librdkafka_producer_reordering_risk",
            client_id=p.client_id,
            client_instance="p",
            settings_source="statistics",
            basis="assumed_defaults",
        )
        == 1
    )


def test_store_expiry_and_out_of_order(captured: dict[str, Any]) -> None:
    store = StatsStore(10, 3, 10.0)  # bare statistics: 3 x the 10 s default interval
    now = time.time()
    assert store.offer(captured["producer_last"].encode(), b"p", now - 31, now, 1 << 20) == "expired"
    assert store.offer(captured["producer_last"].encode(), b"p", now - 5, now, 1 << 20) == "accepted"
    assert store.offer(captured["producer"].encode(), b"p", now - 4, now, 1 << 20) == "out_of_order"
    assert [i.messages_sent for i in store.snapshot(now)[0]] == [400]
    assert store.snapshot(now + 26)[0] == []
    assert store.snapshot(now + 26)[2] == 1


@pytest.mark.parametrize(
    "value",
    [b"", b"null", b'"text"', b'{"type": "producer"}', b'{"type": "consumer", "name": 5}', b'{"name": "x", "type": "producer", "topics": []}'],
)
def test_malformed_statistics_are_rejected_with_a_reason(value: bytes) -> None:
    with pytest.raises(InvalidStatsError) as err:
        parse_message(value, None, 0.0)
    assert str(err.value)


def test_catalogue_families_name_their_statistics_field() -> None:
    specs = {n: s for n, s in all_specs().items() if n.startswith("kafka_insight_librdkafka_")}
    assert len(specs) >= 40
    for name, spec in specs.items():
        if spec.source == "client_stats" and name not in (
            "kafka_insight_librdkafka_stats_messages_total",
            "kafka_insight_librdkafka_tracked_instances",
            "kafka_insight_librdkafka_max_tracked_instances",
            "kafka_insight_librdkafka_expired_instances_total",
            "kafka_insight_librdkafka_stats_age_seconds",
            "kafka_insight_librdkafka_stats_interval_seconds",
        ):
            assert "STATISTICS.md" in spec.help, name
    assert "no compression ratio" in specs["kafka_insight_librdkafka_producer_batch_size_avg_bytes"].help


def test_position_lag_seconds_interpolates_the_log_end_history(captured: dict[str, Any]) -> None:
    from exporter.sources.admin.records import ClusterState, Partition, Topic
    from exporter.sources.client_stats.records import ClientStatsState

    store = StatsStore(10, 3, 30.0)
    assert store.offer(captured["consumer"].encode(), b"c", 1020.0, 1020.0, 1 << 20) == "accepted"
    instances, outcomes, _ = store.snapshot(1020.0)
    state = ClientStatsState("t", instances, outcomes, 0, 10, taken=1020.0)
    position = json.loads(captured["consumer"])["topics"][CAPTURE_DATA]["partitions"]["0"]["app_offset"]
    labels = {"client_id": instances[0].client_id, "client_instance": "c", "group": "", "topic": CAPTURE_DATA, "partition": "0"}

    def cycle(now: float, log_end: int) -> Samples:
        cluster = ClusterState("c", [], {CAPTURE_DATA: Topic(CAPTURE_DATA, False, [Partition(CAPTURE_DATA, 0, 1, [1], [1], 0, log_end)])}, {})
        out = Samples()
        derive(state, cluster, out, history, now)
        return out

    history: dict[tuple[str, int], Any] = {}
    first = cycle(1000.0, position - 2)  # the consumer is 2 beyond: nothing to read, no lag
    assert first.get("kafka_insight_librdkafka_consumer_position_lag_seconds", **labels) == 0
    # 20 messages in 10 s: the log end passed the position 1 s after the first cycle
    second = cycle(1010.0, position + 18)
    assert second.get("kafka_insight_librdkafka_consumer_position_lag_seconds", **labels) == 9.0
    assert second.get("kafka_insight_librdkafka_consumer_position_lag", **labels) == 18
    # quiet since (log end flat, statistics of t = 1020): the unread message at the position
    # was still written at t = 1001, so it is 19 s old, not 18 (interpolating into t = 1020)
    third = cycle(1020.0, position + 18)
    assert third.get("kafka_insight_librdkafka_consumer_position_lag_seconds", **labels) == 19.0
    # a cycle without that consumer's partition in the cluster drops its history
    cluster = ClusterState("c", [], {}, {})
    derive(state, cluster, Samples(), history, 1020.0)
    assert history == {}


def test_demo_clients_forward_statistics_including_the_external_offset_consumer() -> None:
    from exporter.app import build_collector
    from exporter.demo.embedded import Demo

    demo = Demo()
    demo.start()
    try:
        cfg = demo.configure(config.load(None))
        assert cfg.client_stats.enabled is True
        collector = build_collector(cfg)
        try:
            def ready(p: Parsed) -> bool:
                # statistics come every 2 s: wait until the ledger has read from every partition
                return bool(
                    len(p.series("kafka_insight_librdkafka_consumer_position", client_id="demo-ledger")) == 3
                    and p.series("kafka_insight_librdkafka_producer_batch_size_avg_bytes", client_id="demo-zstd")
                )

            p = scrape_until(collector, ready, timeout=40)
        finally:
            collector.stop()
    finally:
        demo.stop()
    info = p.series("kafka_insight_librdkafka_client_info", client_id="demo-ledger")[0][0]
    assert info["offset_storage"] == "external" and info["group"] == "ledger"
    assert {labels["partition"] for labels, _ in p.series("kafka_insight_librdkafka_consumer_position", client_id="demo-ledger")} == {"0", "1", "2"}
    assert not p.series("kafka_insight_consumer_group_state", group="ledger")  # invisible to the Admin API
    # batched, compressed producers: many messages per batch
    assert (p.value("kafka_insight_librdkafka_producer_batch_messages_avg", client_id="demo-zstd",
                    client_instance=instance_of(p, "demo-zstd") or "", topic="clicks-zstd") or 0) > 1
    assert p.series("kafka_insight_librdkafka_producer_reordering_risk", client_id="demo-orders")


def test_forwarder_never_holds_up_the_application(tansu: TansuBroker) -> None:
    """Statistics to an unreachable broker, with a queue of 2: the application's own
    messages are all delivered and its poll() never raises; the overflow is counted."""
    create_topic(tansu.bootstrap, "cs-app", 1)
    fwd = StatsForwarder("127.0.0.1:1", STATS, interval_ms=50, extra=QUIET, max_queued=2)
    delivered: list[int] = []
    app = Producer(fwd.configure({"bootstrap.servers": tansu.bootstrap, "client.id": "cs-app", **QUIET}))
    deadline = time.monotonic() + 1.5
    i = 0
    while time.monotonic() < deadline:
        app.produce("cs-app", f"m{i}".encode(), on_delivery=lambda err, msg: delivered.append(0 if err else 1))
        app.poll(0.02)
        i += 1
    assert app.flush(10) == 0
    assert len(delivered) == i and all(delivered)
    assert fwd.forwarded <= 2 < fwd.dropped  # statistics were emitted every 50 ms, at most 2 queued
