"""The canary's bookkeeping (issue 19), without a cluster."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from exporter import config as cfg
from exporter.exposition import render_reference, render_text
from exporter.metrics import Samples
from exporter.sources.canary.config import CanarySettings
from exporter.sources.canary.emit import emit_canary
from exporter.sources.canary.records import CanaryRecord, Ledger
from exporter.sources.canary.runner import plan_assignment
from tests._exposition import Parsed

NS = 1_000_000_000


def ack(ledger: Ledger, partition: int, seq: int, offset: int, broker: int = 1, sent: int = 100 * NS) -> CanaryRecord:
    record = CanaryRecord(ledger.session, partition, seq, sent)
    ledger.acknowledged(record, offset, broker, sent + NS // 100)
    return record


def lost(ledger: Ledger) -> int:
    return sum(ledger.snapshot(0).lost.values())


def test_record_round_trip_and_garbage() -> None:
    record = CanaryRecord("abc", 2, 7, 123)
    assert CanaryRecord.decode(record.encode()) == record
    for junk in (None, b"", b"hello", b"kic1:a:b:c:d", b"\xff\xfe", b"kic2:a:1:2:3"):
        assert CanaryRecord.decode(junk) is None


def test_window_is_bounded_per_partition() -> None:
    ledger = Ledger("t", "s1", window=5)
    for i in range(12):
        ack(ledger, 0, i, i)
        ack(ledger, 1, i, 100 + i)
    assert sorted(ledger.acked_offsets(0)) == [7, 8, 9, 10, 11]  # the newest five
    assert ledger.window_size() == 10
    assert ledger.snapshot(0).window == 10
    # offsets that left the window are no longer checked (bounded memory, stated in the HELP)
    ledger.log_end(0, 3)
    assert lost(ledger) == 5  # 7..11 are beyond the log end; 0..6 were forgotten


def test_same_record_read_back_is_not_lost_and_counts_latency() -> None:
    ledger = Ledger("t", "s1", window=100)
    records = [ack(ledger, 0, i, 10 + i) for i in range(3)]
    for i, record in enumerate(records):
        ledger.found(0, 10 + i, record.encode(), record.sent_ns + 2 * NS)
    ledger.log_end(0, 13)
    snap = ledger.snapshot(records[-1].sent_ns + 5 * NS)
    assert sum(snap.lost.values()) == 0
    assert snap.read == {(0, -1): 3}
    assert snap.e2e_latency_sum[-1] == pytest.approx(6.0)
    assert dict(snap.e2e_latency[-1])[2.5] == 3 and dict(snap.e2e_latency[-1])[1.0] == 0
    out = Samples()
    emit_canary(snap, out)
    assert out.get("kafka_insight_canary_newest_record_age_seconds", partition="0") == pytest.approx(5.0)
    assert out.get("kafka_insight_canary_produce_ack_latency_seconds_bucket", broker="1", le="0.01") == 3
    assert out.get("kafka_insight_canary_produce_ack_latency_seconds_bucket", broker="1", le="0.005") == 0
    assert out.get("kafka_insight_canary_end_to_end_latency_seconds_count", broker="-1") == 3


def test_different_record_at_an_acknowledged_offset_is_lost_once() -> None:
    ledger = Ledger("t", "s1", window=100)
    ack(ledger, 0, 0, 5, broker=2)
    other = CanaryRecord("s1", 0, 9, 1)  # our session, but another sequence
    ledger.found(0, 5, other.encode(), 2 * NS)
    ledger.found(0, 5, other.encode(), 2 * NS)  # read again after a reset: not twice
    snap = ledger.snapshot(0)
    assert snap.lost == {(0, 2, "different_record"): 1}
    out = Samples()
    emit_canary(snap, out)
    assert out.get("kafka_insight_canary_acknowledged_records_lost_total", partition="0", broker="2", reason="different_record") == 1


def test_truncated_log_end_loses_what_lies_beyond() -> None:
    ledger = Ledger("t", "s1", window=100)
    for i in range(10):
        ack(ledger, 0, i, i)
    assert ledger.log_end(0, 10) == 0
    assert ledger.log_end(0, 6) == 4
    assert ledger.log_end(0, 6) == 0  # counted once
    assert ledger.snapshot(0).lost == {(0, 1, "beyond_log_end"): 4}


def test_a_new_acknowledgement_at_an_acknowledged_offset_means_the_old_record_is_lost() -> None:
    """Truncated and refilled before the reader or the log-end check saw it: the producer's own
    acknowledgement of a new record at the same offset proves the old one is gone."""
    ledger = Ledger("t", "s1", window=100)
    for i in range(5):
        ack(ledger, 0, i, 10 + i, broker=1)
    for i in range(5, 8):  # offsets 12..14 acknowledged again by the new (unclean) leader
        ack(ledger, 0, i, 7 + i, broker=2)
    assert ledger.snapshot(0).lost == {(0, 1, "different_record"): 3}
    assert ledger.acked_offsets(0) == {10: 0, 11: 1, 12: 5, 13: 6, 14: 7}


def test_restart_does_not_report_the_previous_sessions_records_as_lost() -> None:
    before = Ledger("t", "old-session", window=100)
    old = [ack(before, 0, i, i) for i in range(5)]
    # the exporter restarts: a new session reads the log that holds the old records
    after = Ledger("t", "new-session", window=100)
    for i, record in enumerate(old):
        after.found(0, i, record.encode(), NS)
    after.log_end(0, 0)  # even a log emptied below them: not this session's acknowledgements
    snap = after.snapshot(0)
    assert sum(snap.lost.values()) == 0 and not snap.read and not snap.duplicated and not snap.out_of_order
    # while the old session itself would have reported them
    before.log_end(0, 0)
    assert lost(before) == 5


def test_out_of_order_and_duplicates() -> None:
    ledger = Ledger("t", "s", window=100)
    seqs = [0, 1, 2, 2, 5, 4, 6]  # 2 twice (duplicate), 4 after 5 (out of order); gaps are failed sends
    for offset, seq in enumerate(seqs):
        ledger.found(0, offset, CanaryRecord("s", 0, seq, 1).encode(), NS)
    snap = ledger.snapshot(0)
    assert snap.duplicated == {0: 1}
    assert snap.out_of_order == {0: 1}
    # re-reading the same offsets after a reset is neither
    for offset, seq in enumerate(seqs):
        ledger.found(0, offset, CanaryRecord("s", 0, seq, 1).encode(), NS)
    snap = ledger.snapshot(0)
    assert snap.duplicated == {0: 1} and snap.out_of_order == {0: 1}


def test_leadership_plan_spreads_one_partition_per_broker() -> None:
    plan = plan_assignment([3, 1, 2], 3)
    assert [r[0] for r in plan] == [1, 2, 3]
    assert all(sorted(r) == [1, 2, 3] for r in plan)
    assert plan_assignment([1, 2, 3], 2) == [[1, 2], [2, 3], [3, 1]]
    assert len(plan_assignment([1], 3)[0]) == 1  # capped at the broker count


def test_broker_leading_nothing_shows_zero() -> None:
    ledger = Ledger("t", "s", window=10)
    ledger.set_leaders({0: 1, 1: 1, 2: 3}, [1, 2, 3])
    assert ledger.snapshot(0).led == {1: 2, 2: 0, 3: 1}


def test_config_section_defaults_and_errors_name_the_path() -> None:
    config = cfg.load(None, {"kafka.bootstrap_servers": "k:9092"})
    settings = CanarySettings.of(config.canary)
    assert not settings.enabled and settings.replication_factor == 3 and settings.min_insync_replicas == 2
    assert settings.probe_interval == 5.0
    config = cfg.load(None, {"kafka.bootstrap_servers": "k:9092", "canary.enabled": True, "canary.records_per_second": 5})
    assert CanarySettings.of(config.canary).enabled and CanarySettings.of(config.canary).records_per_second == 5
    with pytest.raises(cfg.ConfigError, match=r"canary\.records_per_second"):
        cfg.load(None, {"canary.records_per_second": 0})
    with pytest.raises(cfg.ConfigError, match=r"canary\.probe_interval_seconds"):
        cfg.load(None, {"canary.probe_interval_seconds": -1})
    with pytest.raises(cfg.ConfigError, match=r"canary\.window_records"):
        cfg.load(None, {"canary.window_records": "many"})
    with pytest.raises(cfg.ConfigError, match=r"canary\.tpoic"):
        cfg.load(None, {"canary.tpoic": "x"})


def test_latencies_are_prometheus_histograms() -> None:
    """_bucket with le (cumulative, +Inf = _count), _count and _sum, as prometheus_client writes a
    HistogramMetricFamily, and promtool accepts the text."""
    ledger = Ledger("t", "s1", window=100)
    for i, ms in enumerate((3, 7, 40, 2000, 60_000)):  # 60 s: only in +Inf
        ledger.acknowledged(CanaryRecord("s1", 0, i, 100 * NS), i, 2, 100 * NS + ms * 1_000_000)
    out = Samples()
    emit_canary(ledger.snapshot(0), out)
    text = render_text(out)
    assert text == render_reference(out)
    parsed = Parsed(text)
    name = "kafka_insight_canary_produce_ack_latency_seconds"
    assert parsed.families[name][0] == "histogram"
    buckets = {labels["le"]: n for labels, n in parsed.series(name + "_bucket", broker=2)}
    assert buckets["0.005"] == 1 and buckets["0.01"] == 2 and buckets["0.05"] == 3 and buckets["2.5"] == 4
    assert buckets["30.0"] == 4 and buckets["+Inf"] == 5 and list(buckets) == sorted(buckets, key=float)
    assert parsed.value(name + "_count", broker=2) == 5
    assert parsed.value(name + "_sum", broker=2) == pytest.approx(62.05)
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


def test_refusal_probe_results_are_their_own_families() -> None:
    ledger = Ledger("t", "s1", window=10)
    for _ in range(3):
        ledger.probed(0, 1)
    ledger.probe_failed(0, 1, "NOT_ENOUGH_REPLICAS")
    ledger.probe_failed(0, 1, "NOT_ENOUGH_REPLICAS")
    out = Samples()
    emit_canary(ledger.snapshot(0), out)
    assert out.get("kafka_insight_canary_refusal_probes_total", partition="0", broker="1") == 3
    assert out.get("kafka_insight_canary_refusal_probe_failures_total", partition="0", broker="1", error="NOT_ENOUGH_REPLICAS") == 2
    # the producer's own failures are not mixed in
    assert out.get("kafka_insight_canary_produce_failures_total", partition="0", broker="1", error="NOT_ENOUGH_REPLICAS") is None
    # a probe's record read back (sequence -1) is neither checked nor counted as read
    record = ack(ledger, 0, 0, 0)
    ledger.found(0, 0, record.encode(), NS)
    ledger.found(0, 1, CanaryRecord("s1", 0, -1, 1).encode(), NS)
    snap = ledger.snapshot(0)
    assert snap.read == {(0, -1): 1} and not snap.out_of_order and not snap.duplicated and not snap.lost


class FatalOnce:
    """A stand-in for the canary's idempotent producer: its first ``poll`` raises the fatal
    error CI saw when acks=all writes were refused (OUT_OF_ORDER_SEQUENCE_NUMBER after
    NOT_ENOUGH_REPLICAS retries); librdkafka raises it from ``poll``, not only through a
    delivery report."""

    made = 0

    def __init__(self, sent: list[bytes]) -> None:
        type(self).made += 1
        self.sent = sent
        self.polls = 0

    def produce(self, topic: str, value: bytes, partition: int, on_delivery: object) -> None:
        self.sent.append(value)

    def poll(self, timeout: float) -> int:
        self.polls += 1
        if type(self).made == 1 and self.polls == 1:
            from confluent_kafka import KafkaError, KafkaException

            raise KafkaException(KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence desynchronization", fatal=True))
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def __len__(self) -> int:
        return 0


def test_a_fatal_producer_error_keeps_the_sequence_numbers_going(monkeypatch: pytest.MonkeyPatch) -> None:
    """The canary's sequence numbers are its evidence of order: a producer replaced after a
    fatal error must continue them.  Before, the fatal error escaped ``poll``, the produce
    thread restarted 5 s later with every sequence back at 0, and the reader counted the
    canary's own restart as duplicated and out-of-order records (CI: 2 and 3-4 per partition)."""
    import threading
    import time

    from exporter.sources.canary.runner import CanaryRunner

    sent: list[bytes] = []
    FatalOnce.made = 0
    runner = CanaryRunner(CanarySettings(enabled=True, topic="t", records_per_second=20, probe_interval=0), "127.0.0.1:1")

    def metadata(admin: object) -> bool:
        runner.partitions = [0, 1]
        return True

    monkeypatch.setattr(runner, "_metadata", metadata)
    monkeypatch.setattr(runner, "_producer", lambda: FatalOnce(sent))
    thread = threading.Thread(target=runner._guard, args=("canary-produce", runner._produce_loop), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while len(sent) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.stop(5)
    thread.join(5)
    assert FatalOnce.made >= 2, "the producer was not replaced after its fatal error"
    assert len(sent) >= 20, f"only {len(sent)} records sent in 10 s: the produce loop stalled after the fatal error"
    for p in (0, 1):
        seqs = [r.sequence for r in map(CanaryRecord.decode, sent) if r is not None and r.partition == p]
        assert seqs == list(range(len(seqs))), f"partition {p}: sequences {seqs}"
