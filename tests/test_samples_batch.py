"""Samples.extend and Batch give what one Samples.add per row gives: same families, same
family order, same rows in the same order (the renderer writes them in that order)."""

from __future__ import annotations

from exporter.metrics import Batch, MetricSpec, Samples

UNIT = ("topic", "partition")
# not registered with metric(): the catalogue (README, dashboards) must not see them
ALWAYS = MetricSpec("kafka_insight_test_batch_always", "gauge", "a row for every unit", UNIT)
SOMETIMES = MetricSpec("kafka_insight_test_batch_sometimes", "gauge", "rows for some units only", UNIT)
LATE = MetricSpec("kafka_insight_test_batch_late", "gauge", "rows from the second chunk on", UNIT)
PER_CHUNK = MetricSpec("kafka_insight_test_batch_per_chunk", "gauge", "one row per chunk, added one by one", ("topic",))

#: chunk -> units (partition, value of SOMETIMES or None, value of LATE or None)
CHUNKS = {
    "a": [(0, None, None), (1, 5, None), (2, None, None)],  # SOMETIMES first appears at unit 1
    "b": [(0, 7, 1), (1, None, 2)],
    "c": [],
    "d": [(0, float("nan"), 3)],
}


def per_row() -> Samples:
    out = Samples()
    for topic, units in CHUNKS.items():
        out.add(PER_CHUNK, len(units), topic)
        for pid, sometimes, late in units:
            if sometimes is not None:
                out.add(SOMETIMES, sometimes, topic, pid)
            out.add(ALWAYS, pid, topic, pid)
            if late is not None:
                out.add(LATE, late, topic, pid)
    return out


def batched() -> Samples:
    out = Samples()
    with Batch(out) as batch:
        for topic, units in CHUNKS.items():
            out.add(PER_CHUNK, len(units), topic)
            keys = [(topic, str(pid)) for pid, _, _ in units]
            pairs = list(zip(keys, units, strict=True))
            batch.extend_units(
                keys,
                (
                    (SOMETIMES, [(k, u[1]) for k, u in pairs if u[1] is not None]),
                    (ALWAYS, [(k, u[0]) for k, u in pairs]),
                    (LATE, [(k, u[2]) for k, u in pairs if u[2] is not None]),
                ),
            )
    return out


def test_batch_matches_add_per_row() -> None:
    one_by_one, bulk = per_row(), batched()
    assert list(one_by_one.by_spec) == [PER_CHUNK, ALWAYS, SOMETIMES, LATE]  # the order the test is about
    assert list(bulk.by_spec) == list(one_by_one.by_spec)
    assert bulk.by_spec == one_by_one.by_spec
    assert bulk.dropped == one_by_one.dropped == {"": 1}


def test_extend_creates_no_family_without_a_kept_row() -> None:
    out = Samples()
    out.extend(ALWAYS, [])
    out.extend(SOMETIMES, [(("t", "0"), float("nan"))])
    assert out.by_spec == {} and out.dropped == {"": 1}
    out.add(LATE, float("inf"), "t", "0")
    assert out.by_spec == {}  # what add does


def test_extend_keeps_finite_values_whose_sum_overflows() -> None:
    out = Samples()
    out.extend(ALWAYS, [(("t", "0"), 1e308), (("t", "1"), 1e308), (("t", "2"), float("-inf"))])
    assert out.by_spec[ALWAYS] == [(("t", "0"), 1e308), (("t", "1"), 1e308)]
    assert out.dropped == {"": 1}


def test_a_family_is_held_as_two_columns_and_reads_like_its_rows() -> None:
    """Rows: 16 bytes a sample (a label tuple reference and a double) instead of a tuple and a
    float object each; read like the list of (labels, number) rows it replaces."""
    from array import array

    from exporter.metrics import Rows

    out = Samples()
    with Batch(out) as batch:
        batch.extend(ALWAYS, [(("t", "0"), 1), (("t", "1"), 2.5)])
        batch.extend(ALWAYS, [(("t", "2"), 3), (("t", "3"), float("nan"))])  # held, checked on close
    out.add(ALWAYS, 4, "t", "4")
    rows = out.by_spec[ALWAYS]
    assert isinstance(rows, Rows) and isinstance(rows.values, array) and rows.values.typecode == "d"
    expected = [(("t", "0"), 1.0), (("t", "1"), 2.5), (("t", "2"), 3.0), (("t", "4"), 4.0)]
    assert rows == expected and list(rows) == expected and len(rows) == 4
    assert rows[1] == (("t", "1"), 2.5) and rows[1:3] == expected[1:3]
    assert [type(n) for _, n in rows] == [float] * 4
    assert out.dropped == {"": 1}  # the NaN, as add would have counted it
