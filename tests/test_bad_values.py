"""Malformed values from Kafka or JMX never reach the exposition (issue 9).

`metrics.to_float` is the one place foreign values become numbers; everything that is not
a finite number is dropped and counted.  Negative offsets (Kafka's -1 "unknown") are never
exported as offsets, and garbage topic configs do not break the Admin source's emit.
"""

from __future__ import annotations

import math

import pytest

from exporter.cycle import Collector
from exporter.exposition import render
from exporter.metrics import Samples, to_float
from exporter.snapshot import Snapshot
from exporter.sources.admin.emit import emit_cluster
from exporter.sources.admin.records import Broker, ClusterState, ConfigValue, ConsumerGroup, Partition, Topic
from exporter.sources.admin.specs import BROKERS
from exporter.sources.base import Job, Source
from tests._exposition import Parsed

GARBAGE: list[object] = [
    float("nan"), float("inf"), float("-inf"), "NaN", "nan", "inf", "-Infinity", "1e999", "abc", "", " ", "12abc", "0x10",
    "²", "١٢", None, b"5", [1], {"a": 1}, object(), 10**400, -(10**400), complex(1, 0),
]


@pytest.mark.parametrize("value", GARBAGE, ids=lambda v: repr(v)[:20])
def test_to_float_drops_garbage(value: object) -> None:
    assert to_float(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5.0), (-1, -1.0), (2.5, 2.5), (True, 1.0), ("false", 0.0), (" 42 ", 42.0), ("-3.5e2", -350.0), (2**62, float(2**62))],
)
def test_to_float_keeps_numbers(value: object, expected: float) -> None:
    assert to_float(value) == expected


def test_samples_count_what_they_drop() -> None:
    out = Samples()
    for value in GARBAGE:
        out.add(BROKERS, value)
    out.add(BROKERS, 3)
    assert out.series_count() == 1 and out.dropped == {"admin": len(GARBAGE)}
    body = render(out).body.decode()
    assert "NaN" not in body and "Inf" not in body


def test_bulk_extend_keeps_and_drops_exactly_what_add_does() -> None:
    from exporter.sources.admin.specs import PARTITION_LOG_END

    rows = [(("t", str(i)), v) for i, v in enumerate([*GARBAGE, 5, 2.5, -1, 2**62, float("nan"), float("inf")])]
    one_by_one, bulk, numbers_only = Samples(), Samples(), Samples()
    for labels, value in rows:
        one_by_one.add(PARTITION_LOG_END, value, *labels)
    bulk.extend(PARTITION_LOG_END, rows)  # type: ignore[arg-type]  # garbage on purpose
    assert bulk.by_spec == one_by_one.by_spec and bulk.dropped == one_by_one.dropped
    assert one_by_one.series_count() == 4 and one_by_one.dropped == {"admin": len(GARBAGE) + 2}
    # the fast path (only numbers) drops NaN/inf too, and appends to what add() started
    numbers_only.add(PARTITION_LOG_END, 7, "t", "x")
    numbers_only.extend(PARTITION_LOG_END, [(("t", "a"), 1), (("t", "b"), float("nan")), (("t", "c"), 2.0)])
    assert [n for _, n in numbers_only.by_spec[PARTITION_LOG_END]] == [7.0, 1.0, 2.0]
    assert numbers_only.dropped == {"admin": 1}
    with pytest.raises(ValueError, match="expected labels"):
        numbers_only.extend(PARTITION_LOG_END, [(("t",), 1)])


def _state() -> ClusterState:
    garbage_configs = {
        "retention.ms": ConfigValue("²", "DYNAMIC_TOPIC_CONFIG", True),
        "retention.bytes": ConfigValue("NaN", "DYNAMIC_TOPIC_CONFIG", True),
        "min.insync.replicas": ConfigValue("abc", "DEFAULT_CONFIG", False),
        "unclean.leader.election.enable": ConfigValue(None, "DEFAULT_CONFIG", False),
    }
    # offsets None: what the Admin source records when list_offsets answers -1 (unknown)
    unknown = Partition("t", 0, -1, [1, 2, 3], [], None, None, None)
    known = Partition("t", 1, 1, [1, 2, 3], [1, 2, 3], 0, 10, 10)
    group = ConsumerGroup("g", "STABLE", "CLASSIC", False, 1, [], {("t", 0): 5, ("t", 1): 12})
    return ClusterState("c1", [Broker(1, "h", 9092, None)], {"t": Topic("t", False, [unknown, known], garbage_configs)}, {"g": group})


def test_garbage_from_kafka_never_reaches_the_exposition() -> None:
    out = Samples()
    emit_cluster(_state(), out)
    body = render(out).body.decode()
    m = Parsed(body)
    # (label values may quote what the broker said, e.g. value="NaN" in topic_config_info)
    assert all(math.isfinite(v) for samples in m.samples.values() for _, v in samples)
    # no offsets for the partition whose offsets are unknown, and no lag computed from them
    assert m.value("kafka_insight_partition_log_end_offset", topic="t", partition=0) is None
    assert m.value("kafka_insight_partition_log_start_offset", topic="t", partition=0) is None
    assert m.value("kafka_insight_consumer_group_partition_lag", group="g", topic="t", partition=0) is None
    assert all(v >= 0 for _, v in m.series("kafka_insight_partition_log_end_offset"))
    # a committed offset beyond the log end is not negative lag
    assert m.value("kafka_insight_consumer_group_partition_lag", group="g", topic="t", partition=1) == 0
    assert m.value("kafka_insight_topic_retention_seconds", topic="t") is None
    assert m.value("kafka_insight_topic_retention_bytes", topic="t") is None
    assert out.dropped.get("admin", 0) >= 2


class GarbageSource(Source):
    """A source double whose payload is garbage, like a JMX target answering nonsense."""

    name = "garbage"

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        return [Job(self.name, "t", lambda: GARBAGE)]

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        for payload in snapshot.payloads(self.name):
            for value in payload:
                out.add(BROKERS, value)


def test_garbage_is_counted_in_self_metrics() -> None:
    collector = Collector([GarbageSource()], timeout=1)
    collector.collect_once()
    collector.collect_once()
    m = Parsed(collector.exposition.body)
    assert m.value("kafka_insight_dropped_values_total", source="admin") == 2 * len(GARBAGE)
    assert m.series("kafka_insight_brokers") == []
    assert not any(math.isnan(v) for samples in m.samples.values() for _, v in samples)


def test_committed_offsets_find_their_partition_when_the_metadata_has_a_gap() -> None:
    """A partition missing from a metadata answer must not shift the others: partition 2
    listed second is still partition 2, for lookups one by one and by index."""
    two = Partition("t", 2, 1, [1], [1], 0, 30, 30)
    state = ClusterState("c1", [Broker(1, "h", 9092, None)], {"t": Topic("t", False, [Partition("t", 0, 1, [1], [1], 0, 10, 10), two])}, {})
    assert state.partition("t", 2) is two and state.partition("t", 1) is None and state.partition("t", -1) is None
    assert state.partition_index()[("t", 2)] is two and ("t", 1) not in state.partition_index()
    state.groups["g"] = ConsumerGroup("g", "STABLE", "CLASSIC", False, 1, [], {("t", 2): 25})
    out = Samples()
    emit_cluster(state, out)
    assert out.get("kafka_insight_consumer_group_partition_lag", group="g", topic="t", partition="2") == 5
