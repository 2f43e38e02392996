"""Collection time and /metrics latency on the embedded demo (the README's main command).

    python benchmarks/demo_latency.py [--cycles 10] [--scrapes 500]

Starts the demo (Tansu + synthetic traffic + every source the demo configures), runs
collection cycles back to back, and times scrapes over HTTP (idle, then while cycles run).
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import urllib.request

from exporter import config
from exporter.app import build_collector
from exporter.demo.embedded import Demo
from exporter.serving import IsolatedServer


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scrape_times(url: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=500)
    args = parser.parse_args()
    demo = Demo()
    demo.start()
    cfg = demo.configure(config.load(None))
    collector = build_collector(cfg)
    server = IsolatedServer(collector, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        time.sleep(8)  # let the demo's groups join and traffic flow
        cycles = []
        for _ in range(args.cycles):
            t0 = time.perf_counter()
            collector.collect_once()
            cycles.append(time.perf_counter() - t0)
        idle = scrape_times(url, args.scrapes)
        busy: list[float] = []
        stop = threading.Event()

        def keep_collecting() -> None:
            while not stop.is_set():
                collector.collect_once()

        worker = threading.Thread(target=keep_collecting)
        worker.start()
        busy = scrape_times(url, args.scrapes)
        stop.set()
        worker.join()
        body = collector.exposition.body
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        print(
            f"exposition: {collector.exposition.series} series, {len(body) / 1024:.0f} KiB "
            f"({len(collector.exposition.gzipped) / 1024:.0f} KiB gzipped)"
        )
        print(
            f"collection cycle: median {statistics.median(cycles) * 1000:.0f} ms, "
            f"max {max(cycles) * 1000:.0f} ms over {len(cycles)} cycles"
        )
        for name, values in (("idle", idle), ("during collection", busy)):
            print(
                f"/metrics {name}: p50 {percentile(values, 0.5) * 1000:.2f} ms, "
                f"p99 {percentile(values, 0.99) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms "
                f"over {len(values)} scrapes"
            )
    finally:
        server.shutdown()
        collector.stop()
        demo.stop()


if __name__ == "__main__":
    main()
