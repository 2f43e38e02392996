#!/usr/bin/env python3
"""Memory and time of the interpretation layer's state and cycle (prints figures; no broker).

    python benchmarks/interpret_history.py                 # 10,000 partitions, 100 groups x 100
    python benchmarks/interpret_history.py --partitions 50000 --points 60

Builds a synthetic ClusterState (T topics x P partitions, RF 3 on 3 racks, G groups with a
committed offset on every partition of one topic each) and runs the durability and offset
interpreters for ``--cycles`` cycles with every log end growing each cycle, so each
partition's history fills up to ``--points`` points.  Reports:

* bytes of the History per partition (tracemalloc, after the history is full) and per point;
* bytes per idle partition (log end never moves: one point);
* milliseconds per cycle of each interpreter.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.interpret.durability import DurabilityInterpreter, emit_durability
from exporter.interpret.offsets import OffsetSettings, OffsetsInterpreter, analyse, emit_offsets
from exporter.metrics import Samples
from exporter.sources.admin.records import Broker, ClusterState, ConfigValue, ConsumerGroup, Partition, Topic


def build(topics: int, partitions: int, groups: int, offset: int) -> ClusterState:
    brokers = [Broker(i, "h", 9092, f"r{i}") for i in (1, 2, 3)]
    ts = {}
    for t in range(topics):
        name = f"topic-{t:05d}"
        parts = [
            Partition(name, p, 1 + p % 3, [1 + (p + i) % 3 for i in range(3)], [1, 2, 3], 0, offset, offset)
            for p in range(partitions)
        ]
        ts[name] = Topic(name, False, parts, {"min.insync.replicas": ConfigValue("2", "DYNAMIC_TOPIC_CONFIG", True)}, f"id-{t}")
    gs = {}
    for g in range(groups):
        topic = f"topic-{g % topics:05d}"
        gs[f"group-{g}"] = ConsumerGroup(
            f"group-{g}", "EMPTY", "CLASSIC", False, 1, [], {(topic, p): offset // 2 for p in range(partitions)}
        )
    return ClusterState("bench", brokers, ts, gs)


def advance(state: ClusterState, offset: int) -> None:
    for t in state.topics.values():
        for p in t.partitions:
            p.log_end_offset = offset
    for g in state.groups.values():
        for key in g.committed:
            g.committed[key] = offset // 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=100, help="per topic")
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--points", type=int, default=60)
    ap.add_argument("--cycles", type=int, default=0, help="default: points + 5")
    args = ap.parse_args()
    cycles = args.cycles or args.points + 5
    n_parts = args.topics * args.partitions
    n_group_parts = args.groups * args.partitions

    # memory of the offsets history, busy partitions (history full)
    state = build(args.topics, args.partitions, args.groups, 1000)
    settings = OffsetSettings(history_points=args.points)
    offsets = OffsetsInterpreter(settings)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    times = []
    for c in range(cycles):
        advance(state, 1000 + 100 * c)
        t0 = time.perf_counter()
        analyse(state, offsets.history, float(c * 30), settings)
        times.append(time.perf_counter() - t0)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    parts, points, _commits = offsets.history.size()
    assert parts == n_parts and points == n_parts * args.points, (parts, points)
    # the same with idle partitions: one point each
    idle_state = build(args.topics, args.partitions, 0, 1000)
    idle = OffsetsInterpreter(settings)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for c in range(5):
        analyse(idle_state, idle.history, float(c * 30), settings)
    gc.collect()
    idle_grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()

    # time of a full cycle including emission, and of the durability step
    out = Samples()
    t0 = time.perf_counter()
    emit_offsets(analyse(state, offsets.history, float(cycles * 30), settings), offsets.history, out)
    offsets_cycle = time.perf_counter() - t0
    durability = DurabilityInterpreter()
    out = Samples()
    t0 = time.perf_counter()
    emit_durability(durability.analyse(state), out)
    durability_cycle = time.perf_counter() - t0

    busy_per_partition = grown / n_parts
    print(f"partitions {n_parts:,}, group partitions {n_group_parts:,}, history points {args.points}, cycles {cycles}")
    print(
        f"offsets history, busy (full): {grown / 1e6:.1f} MB total, {busy_per_partition:,.0f} bytes per partition (incl. its share of the group commits)"
    )
    print(f"offsets history, idle (1 point): {idle_grown / n_parts:,.0f} bytes per partition")
    print(f"per history point: {(grown / n_parts - idle_grown / n_parts) / max(1, args.points - 1):,.1f} bytes")
    print(f"analyse() per cycle: median {sorted(times)[len(times) // 2] * 1000:.1f} ms")
    print(f"offsets analyse+emit: {offsets_cycle * 1000:.1f} ms; durability analyse+emit: {durability_cycle * 1000:.1f} ms")


if __name__ == "__main__":
    main()
