#!/usr/bin/env python3
"""JMX cost benchmark: cycle time for 1, 10 and 30 broker JMX targets, and what the JVM calls cost.

    python benchmarks/jmx_bench.py --targets 127.0.0.1:29999,127.0.0.1:30000,127.0.0.1:30001
    python benchmarks/jmx_bench.py --targets ... --sizes 1,10,30 --parallel 8 --repeat 3

N targets are made by cycling through the given broker JMX addresses (30 targets on a 3-node
cluster = each broker queried 10 times at once, which is what 30 brokers would cost the
exporter's host).  Each target is one jmxquery JVM with every broker MBean pattern batched,
run through the real source (``BrokerJmxSource.collect``) with at most ``--parallel`` JVMs at
once, as in a cycle.  Prints wall time per cycle, CPU seconds of the JVM children (user+sys),
CPU per call, the children's largest RSS, and rows per call.  Nothing is asserted: figures only.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.sources.jmx.broker import BrokerJmxSource
from exporter.sources.jmx.config import BrokerTarget, JmxConfig


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cycle(source: BrokerJmxSource, targets: list[BrokerTarget]) -> tuple[float, float, int, int]:
    cpu0, t0 = children_cpu(), time.monotonic()
    errors = 0
    rows = 0
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [pool.submit(source.collect, t, time.monotonic()) for t in targets]
        for f in futures:
            try:
                record = f.result()
                rows += len(record.client_connections) + (record.broker_id is not None)
            except Exception as exc:
                errors += 1
                print(f"  error: {exc}")
    return time.monotonic() - t0, children_cpu() - cpu0, errors, rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", required=True, help="comma-separated broker JMX host:port")
    p.add_argument("--sizes", default="1,10,30")
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--per-topic", action="store_true")
    p.add_argument("--per-partition", action="store_true")
    args = p.parse_args()
    addresses = [a.strip() for a in args.targets.split(",") if a.strip()]
    settings = JmxConfig(
        timeout=args.timeout, max_parallel=args.parallel, per_topic=args.per_topic, per_partition=args.per_partition
    )
    source = BrokerJmxSource(settings, cycle_timeout=args.timeout + 1)
    print(f"jmx benchmark: {len(addresses)} broker(s), max_parallel={args.parallel}, patterns={len(source.patterns)}, "
          f"per_topic={args.per_topic}, per_partition={args.per_partition}")
    print(f"{'targets':>8} {'cycle s (median)':>17} {'min':>6} {'max':>6} {'JVM CPU s':>10} {'CPU s/call':>11} {'errors':>7}")
    for n in (int(s) for s in args.sizes.split(",")):
        targets = [BrokerTarget(addresses[i % len(addresses)]) for i in range(n)]
        walls, cpus, errs = [], [], 0
        for _ in range(args.repeat):
            wall, cpu, errors, _rows = run_cycle(source, targets)
            walls.append(wall)
            cpus.append(cpu)
            errs += errors
        cpu = statistics.median(cpus)
        print(f"{n:>8} {statistics.median(walls):>17.2f} {min(walls):>6.2f} {max(walls):>6.2f} {cpu:>10.2f} {cpu / n:>11.3f} {errs:>7}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"largest JVM child RSS: {peak_kb / 1024:.0f} MB (each call; at most {args.parallel} at once)")


if __name__ == "__main__":
    main()
