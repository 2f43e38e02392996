"""CanarySnapshot -> the canary families (pure)."""

from __future__ import annotations

from exporter.metrics import Samples
from exporter.sources.canary import specs as s
from exporter.sources.canary.records import CanarySnapshot


def emit_canary(snap: CanarySnapshot, out: Samples) -> None:
    out.add(s.SESSION_INFO, 1, snap.topic, snap.session)
    out.add(s.WINDOW_RECORDS, snap.window)
    for broker, count in sorted(snap.led.items()):
        out.add(s.BROKER_PARTITIONS_LED, count, broker)
    for (p, b), n in sorted(snap.attempts.items()):
        out.add(s.PRODUCE_ATTEMPTS, n, p, b)
    for (p, b, e), n in sorted(snap.failures.items()):
        out.add(s.PRODUCE_FAILURES, n, p, b, e)
    for (p, b), n in sorted(snap.probes.items()):
        out.add(s.PROBE_ATTEMPTS, n, p, b)
    out.declare(s.PROBE_FAILURES)
    for (p, b, e), n in sorted(snap.probe_failures.items()):
        out.add(s.PROBE_FAILURES, n, p, b, e)
    for (p, b), n in sorted(snap.acked.items()):
        out.add(s.PRODUCE_ACKED, n, p, b)
    for (p, b), n in sorted(snap.read.items()):
        out.add(s.RECORDS_READ, n, p, b)
    out.declare(s.RECORDS_LOST)  # present (HELP) even before anything is lost
    for (p, b, reason), n in sorted(snap.lost.items()):
        out.add(s.RECORDS_LOST, n, p, b, reason)
    for p, n in sorted(snap.out_of_order.items()):
        out.add(s.RECORDS_OUT_OF_ORDER, n, p)
    for p, n in sorted(snap.duplicated.items()):
        out.add(s.RECORDS_DUPLICATED, n, p)
    for p, sent in sorted(snap.newest_sent_ns.items()):
        out.add(s.NEWEST_RECORD_AGE, max(0.0, (snap.taken_ns - sent) / 1e9), p)
    for spec, hists, sums in (
        (s.ACK_LATENCY, snap.ack_latency, snap.ack_latency_sum),
        (s.E2E_LATENCY, snap.e2e_latency, snap.e2e_latency_sum),
    ):
        for broker, buckets in sorted(hists.items()):
            out.add_histogram(spec, (broker,), buckets, sums[broker])
