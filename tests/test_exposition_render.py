"""The hand-written renderer must produce exactly what prometheus_client's generate_latest does."""

from __future__ import annotations

import random

from exporter.exposition import render, render_reference, render_text
from exporter.metrics import MetricSpec, Samples

GAUGE = MetricSpec(
    "kafka_insight_test_render_gauge",
    "gauge",
    "A gauge with labels out of alphabetical order, a back\\slash in HELP.",
    ("topic", "partition", "group"),
)
COUNTER = MetricSpec(
    "kafka_insight_test_render_total", "counter", "A counter: prometheus_client appends _total itself.", ("b", "a")
)
PLAIN = MetricSpec("kafka_insight_test_render_plain", "gauge", "A gauge without labels, for single values.")
EMPTY = MetricSpec("kafka_insight_test_render_empty", "gauge", "Declared but without samples this cycle.", ("x",))
ONE = MetricSpec("kafka_insight_test_render_one", "gauge", "One label, values that need escaping.", ("name",))

VALUES = [0, 1, -1, 0.5, 1e-7, 999_999.0, 1e6, 1_000_001, 12_345_678, 1.5e20, -5e7, 2**53, 3.25e6, 7.0e15, 123456.789]


def test_render_equals_generate_latest() -> None:
    rng = random.Random(8)
    samples = Samples()
    for i in range(400):
        samples.add(GAUGE, rng.choice(VALUES) * rng.choice((1, 1, 3, 0.1)), f"topic-{i % 7}", i, f"g{i % 3}")
    for i, value in enumerate(VALUES):
        samples.add(COUNTER, abs(value), f"b{i}", f"a{i}")
    samples.add(PLAIN, 42)
    samples.declare(EMPTY)
    for text in ('quote " inside', "back\\slash", "new\nline", "plain", "ünïcode ✓", "", "%s %d %%"):
        samples.add(ONE, 1, text)
    fast = render_text(samples)
    assert fast == render_reference(samples)
    assert b'name="quote \\" inside"' in fast and b'name="new\\nline"' in fast  # escaping happened
    assert b"# TYPE kafka_insight_test_render_empty gauge\n" in fast
    assert b'kafka_insight_test_render_gauge{group="g0",partition="0",topic="topic-0"}' in fast
    exposition = render(samples)
    assert exposition.body == fast and exposition.series == samples.series_count()


def test_render_equals_generate_latest_on_random_values() -> None:
    rng = random.Random(5)
    samples = Samples()
    for i in range(9000):  # more than two RENDER_SLICEs
        value = rng.choice((rng.uniform(-1e9, 1e9), rng.randint(0, 10**12), rng.random(), float(rng.randint(0, 100))))
        samples.add(GAUGE, value, "t", i, "g")
    assert render_text(samples) == render_reference(samples)


def test_gzip_only_exposition_gives_back_the_same_text_whole_and_in_pieces() -> None:
    out = Samples()
    for i in range(3000):
        out.add(GAUGE, float(i), f"topic-{i % 7}", str(i), f"g{i % 3}")
    full = render(out)
    slim = render(out, keep_body=False)  # what the command line keeps: the gzip copy only
    assert full.has_body and not slim.has_body and slim.gzipped == full.gzipped
    assert slim.body_length == len(full.body) and slim.series == full.series == 3000
    assert slim.body == full.body
    for exposition in (full, slim):
        pieces = list(exposition.body_chunks(size=4096))
        assert b"".join(pieces) == full.body
        assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)


def test_a_family_rendered_slice_by_slice_equals_generate_latest() -> None:
    """Big values in one slice only, a label needing escaping in another only: the slices
    are rendered (and escaped) one by one, and the text is still exactly the reference."""
    from exporter.exposition import RENDER_SLICE

    samples = Samples()
    for i in range(3 * RENDER_SLICE + 5):
        value = 12_345_678.0 if i < RENDER_SLICE else float(i)
        topic = 'a "quoted" topic' if i == 2 * RENDER_SLICE + 1 else "t"
        samples.add(GAUGE, value, topic, i, "g")
    fast = render_text(samples)
    assert fast == render_reference(samples)
    assert b'topic="a \\"quoted\\" topic"' in fast and b"1.2345678e+07" in fast
    assert render(samples, keep_body=False).body == fast


def test_label_cache_renders_the_reference_text_cycle_after_cycle() -> None:
    """The collector keeps a LabelCache between cycles: each cycle's text must still be exactly
    the reference while values change, rows come and go, and label values hold %, quotes,
    backslashes or a NUL; unchanged slices are rendered from their templates."""
    from exporter.exposition import RENDER_SLICE, LabelCache

    rng = random.Random(11)
    cache = LabelCache()
    odd = ("50% done", 'say "hi"', "back\\slash", "nul\x00inside", "%(x)s %r")
    rows = [(f"topic-{i % 7}", i, f"g{i % 3}") for i in range(2 * RENDER_SLICE + 10)]
    hits = []
    for cycle in range(6):
        if cycle == 3:  # a row inserted in the first slice shifts every slice after it
            rows.insert(5, ("topic-new", 99_999, "g-new"))
        if cycle == 4:
            rows[RENDER_SLICE + 1] = (odd[rng.randrange(len(odd))], 7, "g0")
        samples = Samples()
        for topic, partition, group in rows:
            samples.add(GAUGE, rng.choice((0.0, 1.0, rng.random() * 1000, float(rng.randint(0, 10**5)))), topic, partition, group)
        for text in odd:
            samples.add(ONE, rng.random(), text)
        before = cache.hits
        assert render(samples, cache=cache).body == render_reference(samples), cycle
        hits.append(cache.hits - before)
    # cycle 0 builds the templates; 1-2 reuse every one (3 GAUGE slices, ONE's slice holds a
    # NUL: never cached); 3 misses all of GAUGE (shifted); 4 misses the changed slice only
    assert hits == [0, 3, 3, 0, 2, 3], hits


def test_label_cache_keeps_to_its_budget_and_forgets_families_gone() -> None:
    from exporter.exposition import RENDER_SLICE, LabelCache

    samples = Samples()
    for i in range(4 * RENDER_SLICE):
        samples.add(GAUGE, float(i), "t", i, "g")
    cache = LabelCache(budget=1)  # the first template passes it: no second one is made
    render(samples, cache=cache)
    assert len(cache.entries) == 1
    assert render(samples, cache=cache).body == render_reference(samples) and cache.hits == 1
    roomy = LabelCache()
    render(samples, cache=roomy)
    assert len(roomy.entries) == 4 and roomy.size > 0
    other = Samples()
    other.add(ONE, 1.0, "x")
    render(other, cache=roomy)  # GAUGE not rendered this cycle: its templates are dropped
    assert [key[0] for key in roomy.entries] == [ONE.name] and roomy.size == len(next(iter(roomy.entries.values()))[2])
