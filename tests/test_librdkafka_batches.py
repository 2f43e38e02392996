"""Compression and raw batch estimates for librdkafka producers, from recorded statistics.

``tests/fixtures/client-stats/*.json`` hold the statistics a real librdkafka producer
emitted every second on the real 3-node cluster, and the truth about the same run from the
broker's log (``kafka-dump-log.sh``: each batch's base offset, record count, size on disk)
plus the raw payload bytes of each batch (``tests/_compression_truth.py`` records them).
The estimates here are computed from the statistics alone and compared with that truth.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter.interpret import librdkafka_batches as lb
from exporter.interpret import producers as pr
from exporter.interpret.librdkafka_batches import emit_librdkafka_batches
from exporter.metrics import Samples
from exporter.sources.client_stats.parse import parse_message
from exporter.sources.client_stats.records import ClientInstance
from exporter.sources.client_stats.store import StatsStore
from tests._compression_truth import Batch, Truth, window_offsets, window_truth

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "client-stats"
RUNS = sorted(p.stem for p in FIXTURES.glob("*.json"))


@dataclass
class Recorded:
    doc: dict[str, Any]
    instances: list[ClientInstance]
    batches: list[Batch]

    @property
    def topic(self) -> str:
        return str(self.doc["topic"])


def load(name: str) -> Recorded:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    instances = [parse_message(json.dumps(s), None, 1000.0 + i) for i, s in enumerate(doc["stats"])]
    batches = [Batch(*b) for b in doc["batches"]]
    return Recorded(doc, instances, batches)


def totals(inst: ClientInstance) -> dict[str, tuple[int, int]]:
    return inst.tx_totals


def windows(rec: Recorded) -> list[lb.TopicWindow]:
    """The topic's window in each statistics message, each against the one before."""
    out = []
    previous: dict[str, tuple[int, int]] | None = None
    for inst in rec.instances:
        t = next(t for t in inst.topics if t.topic == rec.topic)
        now = totals(inst)
        out.append(
            lb.topic_window(
                rec.topic,
                t.batches_in_window,
                t.batch_size_avg,
                t.batch_messages_avg,
                now.get(rec.topic, (0, 0)),
                None if previous is None else previous.get(rec.topic, (0, 0)),
            )
        )
        previous = now
    return out


def test_the_recordings_cover_every_case() -> None:
    assert set(RUNS) >= {"zstd-json", "gzip-random", "none-json", "lz4-json"}
    for name in RUNS:
        rec = load(name)
        ws = windows(rec)
        assert ws[0].cumulative and not any(w.cumulative for w in ws[1:])
        assert any(w.batches == 0 for w in ws), f"{name}: no window without batches"
        assert sum(1 for w in ws if w.batches > 0) >= 3
        assert sum(b.count for b in rec.batches) == rec.doc["sent"]


@pytest.mark.parametrize("name", RUNS)
def test_windows_without_batches_give_no_estimate(name: str) -> None:
    for w in windows(load(name)):
        if w.batches == 0:
            assert lb.estimate(w) is None
        else:
            assert lb.estimate(w) is not None


def _run_truth(rec: Recorded) -> Truth:
    truth = window_truth(rec.batches, 0, rec.doc["sent"])
    assert truth is not None
    return truth


@pytest.mark.parametrize("name", RUNS)
def test_estimates_match_the_log_over_the_run(name: str) -> None:
    """All windows' batches together against every batch in the log."""
    rec = load(name)
    estimates = [e for e in map(lb.estimate, windows(rec)) if e is not None]
    run = lb.combined(estimates)
    assert run is not None
    truth = _run_truth(rec)
    assert run.ratio == pytest.approx(truth.ratio, abs=0.05)
    assert run.raw_estimate == pytest.approx(truth.raw_per_batch, rel=0.10)


@pytest.mark.parametrize("name", RUNS)
def test_each_window_matches_its_batches_in_the_log(name: str) -> None:
    """Each window with batches against exactly the log's batches of that window."""
    rec = load(name)
    checked = 0
    bounds = window_offsets(rec.doc["stats"], rec.topic)
    for w, (start, end) in zip(windows(rec), bounds, strict=True):
        e = lb.estimate(w)
        truth = window_truth(rec.batches, start, end)
        if w.batches == 0:
            assert e is None and truth is None
            continue
        assert e is not None and truth is not None
        assert truth.batches == w.batches, "librdkafka counted batches the log does not hold"
        assert e.ratio == pytest.approx(truth.ratio, abs=0.05)
        assert e.raw_estimate == pytest.approx(truth.raw_per_batch, rel=0.10)
        checked += 1
    assert checked >= 3


def test_compressible_json_saves_most_and_random_bytes_nothing() -> None:
    zstd = lb.combined(e for e in map(lb.estimate, windows(load("zstd-json"))) if e is not None)
    gzip_random = lb.combined(e for e in map(lb.estimate, windows(load("gzip-random"))) if e is not None)
    none = lb.combined(e for e in map(lb.estimate, windows(load("none-json"))) if e is not None)
    assert zstd is not None and gzip_random is not None and none is not None
    assert zstd.savings > 0.7
    # framing makes incompressible data "larger": the ratio is above 1, savings clamp to 0
    assert gzip_random.ratio > 1.0 and gzip_random.savings == 0.0
    assert 1.0 < none.ratio < 1.06 and none.savings == 0.0


def test_fill_counts_raw_bytes_for_compressed_batches() -> None:
    """librdkafka's batch.size bounds the batch before compression (checked live)."""
    rec = load("zstd-json")
    limit, origin = lb.batch_size_limit({"batch.size": str(rec.doc["producer"]["batch.size"])})
    assert (limit, origin) == (65536, "declared")
    run = lb.combined(e for e in map(lb.estimate, windows(rec)) if e is not None)
    assert run is not None
    assert run.fill(limit) == pytest.approx(run.raw_estimate / limit)
    assert run.fill(limit) > 5 * run.batch_size_avg / limit


def test_first_message_and_counter_reset_use_cumulative_totals() -> None:
    first = lb.topic_window("t", 2, 900.0, 10.0, (20, 8000), None)
    assert first.cumulative and (first.messages, first.message_bytes) == (20, 8000)
    reset = lb.topic_window("t", 2, 900.0, 10.0, (20, 8000), (500, 200000))
    assert reset.cumulative and reset.messages == 20
    later = lb.topic_window("t", 2, 900.0, 10.0, (120, 48000), (20, 8000))
    assert not later.cumulative and (later.messages, later.message_bytes) == (100, 40000)
    e = lb.estimate(later)
    assert e is not None and e.raw_estimate == pytest.approx(4000.0) and e.ratio == pytest.approx(0.225)


def test_a_window_with_batches_but_no_new_messages_uses_the_cumulative_mean() -> None:
    """The batch counted in this window's batchcnt, its messages in the previous txmsgs."""
    w = lb.topic_window("t", 1, 900.0, 10.0, (20, 8000), (20, 8000))
    assert w.cumulative and (w.messages, w.message_bytes) == (20, 8000)
    e = lb.estimate(w)
    assert e is not None and e.raw_estimate == pytest.approx(4000.0)
    idle = lb.topic_window("t", 0, None, None, (20, 8000), (20, 8000))
    assert not idle.cumulative and lb.estimate(idle) is None


def test_combined_weights_topics_by_their_batches() -> None:
    a = lb.BatchEstimate("a", 9, 100.0, 1000.0)  # ratio 0.1
    b = lb.BatchEstimate("b", 1, 1000.0, 1000.0)  # ratio 1.0
    c = lb.combined([a, b])
    assert c is not None and c.batches == 10
    assert c.ratio == pytest.approx((9 * 100 + 1000) / (10 * 1000))
    assert lb.combined([]) is None


def test_fill_and_limit() -> None:
    assert lb.batch_size_limit({}) == (lb.LIBRDKAFKA_BATCH_SIZE, "default")
    assert lb.batch_size_limit({"batch.size": "garbage"}) == (lb.LIBRDKAFKA_BATCH_SIZE, "default")
    assert lb.batch_size_limit({"batch.size": "65536"}) == (65536, "declared")
    # compressed: the raw size counts; incompressible: the framed size as written counts
    assert lb.BatchEstimate("t", 1, 6000.0, 60000.0).fill(65536) == pytest.approx(60000 / 65536)
    assert lb.BatchEstimate("t", 1, 64000.0, 62000.0).fill(65536) == pytest.approx(64000 / 65536)
    assert lb.BatchEstimate("t", 1, 70000.0, 68000.0).fill(65536) == 1.0


# -- the samples -------------------------------------------------------------------------
def enveloped(rec: Recorded, index: int, settings: dict[str, str] | None = None) -> ClientInstance:
    doc = {"format": "kafka-insight-client-stats/1", "stats": rec.doc["stats"][index], "settings": settings or {}}
    return parse_message(json.dumps(doc), "host/1/rdkafka#producer-1", 1000.0 + index)


def test_samples_of_a_window_with_batches_for_both_views() -> None:
    rec = load("zstd-json")
    declared = {"compression.type": "zstd", "batch.size": "65536"}
    before, inst = enveloped(rec, 1, declared), enveloped(rec, 2, declared)
    out = Samples()
    emit_librdkafka_batches(inst, totals(before), {rec.topic: "lz4"}, out)
    topic = {"client_id": inst.client_id, "client_instance": inst.instance, "topic": rec.topic}
    shared = {"target": inst.instance, "client_id": inst.client_id, "client_kind": "librdkafka"}
    e = lb.estimate(windows(rec)[2])
    assert e is not None
    assert out.get(lb.RAW_BATCH.name, **topic) == pytest.approx(e.raw_estimate)
    assert out.get(lb.RATIO.name, **topic) == pytest.approx(e.ratio)
    assert out.get(lb.FILL.name, **topic) == pytest.approx(e.raw_estimate / 65536)
    assert out.get(pr.TOPIC_SAVINGS.name, **shared, topic=rec.topic) == pytest.approx(1 - e.ratio)
    # one topic: the producer's figures are the topic's
    assert out.get(pr.SAVINGS.name, **shared) == pytest.approx(1 - e.ratio)
    assert out.get(pr.RAW_BATCH.name, **shared) == pytest.approx(e.raw_estimate)
    assert out.get(pr.BATCH_LIMIT.name, **shared, origin="declared") == 65536
    # the topic says lz4, the producer sends zstd: the broker recompresses
    assert out.get(pr.RECOMPRESSED.name, **shared, topic=rec.topic) == 1


def test_samples_of_an_idle_window_and_of_bare_statistics() -> None:
    rec = load("gzip-random")
    idle = next(i for i, w in enumerate(windows(rec)) if w.batches == 0 and i > 0)
    before, inst = enveloped(rec, idle - 1), enveloped(rec, idle)
    out = Samples()
    emit_librdkafka_batches(inst, totals(before), {rec.topic: "producer"}, out)
    shared = {"target": inst.instance, "client_id": inst.client_id, "client_kind": "librdkafka"}
    for spec in (lb.RAW_BATCH, lb.RATIO, lb.FILL, pr.SAVINGS, pr.TOPIC_SAVINGS, pr.RAW_BATCH, pr.FILL):
        assert spec not in out.by_spec, f"{spec.name} on a window without batches"
    # settings declared without a codec: librdkafka's default none, the topic takes any
    assert out.get(pr.RECOMPRESSED.name, **shared, topic=rec.topic) is None  # nothing declared at all
    assert out.get(pr.BATCH_LIMIT.name, **shared, origin="default") == lb.LIBRDKAFKA_BATCH_SIZE
    first = Samples()
    emit_librdkafka_batches(enveloped(rec, 0, {"linger.ms": "50"}), None, {rec.topic: "gzip"}, first)
    assert first.get(pr.RECOMPRESSED.name, **shared, topic=rec.topic) == 1  # declared none vs topic gzip
    assert first.get(pr.SAVINGS.name, **shared) == 0.0  # random bytes: nothing saved


def test_the_store_keeps_the_previous_totals_of_the_same_handle() -> None:
    rec = load("lz4-json")
    store = StatsStore(10, 3, 1.0)
    key = b"host/1/rdkafka#producer-1"
    seen = []
    for i, stats in enumerate(rec.doc["stats"]):
        assert store.offer(json.dumps(stats).encode(), key, 1000.0 + i, 1000.0 + i, 1 << 20) == "accepted"
        (inst,) = store.snapshot(1000.0 + i)[0]
        seen.append(inst)
    assert seen[0].previous_totals is None
    for before, inst in itertools.pairwise(seen):
        assert inst.previous_totals == before.tx_totals
    # a replayed older message is dropped, so the window never goes backwards
    assert store.offer(json.dumps(rec.doc["stats"][1]).encode(), key, 1010.0, 1010.0, 1 << 20) == "out_of_order"
    # another handle under the same key (a restarted client) starts afresh
    other = dict(rec.doc["stats"][0], name="rdkafka#producer-2")
    assert store.offer(json.dumps(other).encode(), key, 1011.0, 1011.0, 1 << 20) == "accepted"
    assert store.snapshot(1011.0)[0][0].previous_totals is None
