#!/usr/bin/env python3
"""Cost of consuming librdkafka statistics from many clients (issue 6).

    python benchmarks/client_stats_bench.py            # 2000 simulated instances
    python benchmarks/client_stats_bench.py --instances 500 --rounds 3

On an embedded Tansu broker:

1. captures real statistics JSON from a confluent-kafka consumer assigned to a
   12-partition topic and from a producer writing to 3 topics (the sizes that matter);
2. parsing: microseconds per message and MB/s of ``parse_message``;
3. memory: bytes per tracked instance (tracemalloc over the store's records);
4. end to end: ``--instances`` simulated client instances (distinct keys, half consumers,
   half producers, the captured bodies in the forwarder's envelope) each forward
   ``--rounds`` statistics to the topic; the source's consumer thread ingests them —
   messages/s and the process CPU seconds spent per 1000 messages;
5. one collection cycle with every instance tracked: snapshot + emit + interpretation +
   rendering time and the number of series.

Figures go to stdout and to ``benchmarks/results/client_stats.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from exporter import config  # noqa: E402
from exporter.cycle import Collector  # noqa: E402
from exporter.demo.broker import TansuBroker  # noqa: E402
from exporter.interpret.client_stats import ClientStatsInterpreter  # noqa: E402
from exporter.sources.admin.source import AdminSource  # noqa: E402
from exporter.sources.client_stats.consumer import ClientStatsSource  # noqa: E402
from exporter.sources.client_stats.parse import parse_message  # noqa: E402
from exporter.sources.client_stats.records import ENVELOPE_FORMAT  # noqa: E402
from exporter.sources.client_stats.store import StatsStore  # noqa: E402

QUIET = {"log_level": 0}


def create(bs: str, topics: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bs, **QUIET})
    for f in admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()], request_timeout=15).values():
        f.result()


def capture(bs: str) -> tuple[str, str]:
    create(bs, {"bench-wide": 12, "bench-a": 2, "bench-b": 2, "bench-c": 2})
    got: dict[str, list[str]] = {"p": [], "c": []}
    producer = Producer({"bootstrap.servers": bs, "linger.ms": 5, "statistics.interval.ms": 200, "stats_cb": got["p"].append, **QUIET})
    for i in range(3000):
        producer.produce(("bench-a", "bench-b", "bench-c")[i % 3], b"x" * 200)
        if i % 500 == 0:
            producer.poll(0)
    producer.flush(10)
    for _ in range(6):
        producer.poll(0.1)
    consumer = Consumer({"bootstrap.servers": bs, "group.id": "bench", "statistics.interval.ms": 200, "stats_cb": got["c"].append, **QUIET})
    consumer.assign([TopicPartition("bench-wide", p, 0) for p in range(12)])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        consumer.poll(0.1)
    consumer.close()
    return got["p"][-1], got["c"][-1]


def envelope(stats: str, interval_ms: int) -> bytes:
    meta = {"format": ENVELOPE_FORMAT, "host": "bench", "pid": 1, "librdkafka_version": "2.16.0", "interval_ms": interval_ms, "settings": {}}
    return (json.dumps(meta)[:-1] + ',"stats":' + stats + "}").encode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instances", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, Any] = {"instances": args.instances, "rounds": args.rounds}
    broker = TansuBroker().start()
    bs = broker.bootstrap
    try:
        producer_stats, consumer_stats = capture(bs)
        results["producer_stats_bytes"] = len(producer_stats)
        results["consumer_stats_bytes"] = len(consumer_stats)

        # 2. parsing
        for name, body in (("consumer", envelope(consumer_stats, 15000)), ("producer", envelope(producer_stats, 15000))):
            n = 2000
            t0 = time.perf_counter()
            for _ in range(n):
                parse_message(body, b"k", time.time())
            dt = time.perf_counter() - t0
            results[f"parse_{name}_us"] = round(dt / n * 1e6, 1)
            results[f"parse_{name}_mb_per_s"] = round(len(body) * n / dt / 1e6, 1)

        # 3. memory per tracked instance
        store = StatsStore(args.instances, 1000, 15.0)
        bodies = [envelope(consumer_stats, 15000), envelope(producer_stats, 15000)]
        now = time.time()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(args.instances):
            store.offer(bodies[i % 2], f"inst-{i}".encode(), now, now, 1 << 20)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        results["store_bytes_per_instance"] = round(grown / args.instances)

        # 4. end to end through the topic
        topic = "bench-client-stats"
        cfg = config.load(
            None,
            {
                "kafka.bootstrap_servers": bs,
                "client_stats.enabled": True,
                "client_stats.topic": topic,
                "client_stats.max_instances": args.instances + 10,
                "client_stats.expire_after_intervals": 1000,
            },
        )
        source = ClientStatsSource(cfg, cfg.client_stats)
        deadline = time.monotonic() + 30
        while not source._assigned and time.monotonic() < deadline:
            time.sleep(0.1)
        producer = Producer({"bootstrap.servers": bs, "linger.ms": 50, "compression.type": "lz4", "message.max.bytes": 2000000, **QUIET})
        total = args.instances * args.rounds
        cpu0, t0 = os.times(), time.perf_counter()
        for _round in range(args.rounds):
            for i in range(args.instances):
                while True:
                    try:
                        producer.produce(topic, bodies[i % 2], key=f"inst-{i}".encode())
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
        producer.flush(60)
        produced = time.perf_counter() - t0
        while source.store.snapshot(time.time())[1]["accepted"] < total and time.perf_counter() - t0 < 300:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        cpu1 = os.times()
        accepted = source.store.snapshot(time.time())[1]["accepted"]
        results["e2e_messages"] = total
        results["e2e_accepted"] = accepted
        results["e2e_seconds"] = round(elapsed, 2)
        results["e2e_produce_seconds"] = round(produced, 2)
        results["e2e_messages_per_s"] = round(accepted / elapsed)
        # producer and consumer share this process: the CPU figure is an upper bound
        results["e2e_cpu_seconds_per_1000_messages"] = round(
            ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / max(1, accepted) * 1000, 3
        )

        # 5. one cycle with every instance tracked
        collector = Collector([AdminSource(cfg), source], [ClientStatsInterpreter()], interval=30, timeout=30)
        collector.collect_once()
        t0 = time.perf_counter()
        snap = collector.collect_once()
        results["cycle_seconds"] = round(time.perf_counter() - t0, 3)
        cs = next(r for r in snap.results if r.source == "client_stats")
        results["cycle_snapshot_job_seconds"] = round(cs.duration, 4)
        results["cycle_render_seconds"] = round(collector._last_render, 3)
        results["series"] = collector.exposition.series
        results["exposition_bytes"] = len(collector.exposition.body)
        collector.stop()
    finally:
        broker.stop()
    for key, value in results.items():
        print(f"{key:40s} {value}")
    out = ROOT / "benchmarks" / "results" / "client_stats.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
