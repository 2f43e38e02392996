#!/usr/bin/env python3
"""Soak: does the exporter keep its memory, file descriptors and threads over hundreds of
cycles while topics and groups come and go and the broker dies now and then?  (issue 9)

    python benchmarks/soak.py                       # 300 cycles, 1 s interval, ~6 min
    python benchmarks/soak.py --cycles 100 --restart-every 0      # shorter, no broker restarts
    python benchmarks/soak.py --json benchmarks/results/soak.json

The exporter runs as the real daemon (``python -m exporter``, its own process, interval
1 s) against an embedded Tansu broker.  Every cycle this script creates one topic (one
record, one committed offset of a new consumer group) and deletes the topic and group
created ``--working-set`` cycles earlier, so the working set stays constant while every
name is new.  Every ``--restart-every`` cycles the broker is killed for a few cycles and
started again on the same port (Tansu keeps data in memory, so the working set is
rebuilt), which exercises the failure paths: timeouts, Admin-client re-creation.

It samples the RSS, open file descriptors and threads of the exporter's processes (the
daemon, its Admin-API worker and its serving process, summed) from /proc every cycle, prints them over time, and compares the middle third with the last third (the first
third is warm-up: allocator arenas, caches and the working set filling).  Verdict: stable
when RSS grows by less than --rss-tolerance-mb between those thirds and fds/threads do not
trend upwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from exporter.demo.broker import TansuBroker, free_port  # noqa: E402

QUIET = {"log_level": 0}


@dataclass
class Sample:
    cycle: int
    seconds: float
    rss_mb: float
    fds: int
    threads: int
    series: int
    topics: int
    source_up: float
    scrape_ms: float


def proc_status(pid: int) -> tuple[float, int, int]:
    """RSS, fds and threads summed over the exporter and its children (the Admin-API
    worker and the serving process)."""
    from bench import child_pids

    rss, fds, threads = 0.0, 0, 0
    for p in [pid, *child_pids(pid)]:
        try:
            text = Path(f"/proc/{p}/status").read_text()
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:  # a child that just exited (a renewed worker)
            continue
        rss += int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024  # type: ignore[union-attr]
        threads += int(re.search(r"Threads:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    return rss, fds, threads


LAST_BODY = {"text": ""}


def families(body: str) -> dict[str, int]:
    """Series per metric name (to see where the series are when their number jumps)."""
    counts: dict[str, int] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name = re.split(r"[{ ]", line, maxsplit=1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def scrape(url: str) -> tuple[dict[str, float], float]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read().decode()
    took = (time.perf_counter() - t0) * 1000
    LAST_BODY["text"] = body
    wanted = {}
    for line in body.splitlines():
        for name in ("kafka_insight_collections_total", "kafka_insight_exposed_series", "kafka_insight_source_up"):
            if line.startswith(name) and (name != "kafka_insight_source_up" or 'source="admin"' in line):
                wanted[name] = float(line.rsplit(" ", 1)[1])
    return wanted, took


class Churn:
    """One new topic + group per cycle; the one from ``keep`` cycles ago goes away."""

    def __init__(self, bootstrap: str, keep: int) -> None:
        self.bootstrap = bootstrap
        self.keep = keep
        self.admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
        self.errors = 0

    def topics(self) -> int:
        """Topics the broker has (what the exporter should see), -1 when it does not answer."""
        try:
            return len(self.admin.list_topics(timeout=2).topics)
        except Exception:
            return -1

    def step(self, i: int) -> None:
        topic, group = f"soak-{i}", f"soak-group-{i}"
        try:
            for f in self.admin.create_topics([NewTopic(topic, 2, 1)], request_timeout=5).values():
                f.result()
            # a short-lived producer: a long-lived one refreshes the metadata of every topic it
            # ever wrote to, and the broker auto-creates the deleted ones again
            producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0, **QUIET})
            producer.produce(topic, b"x", partition=0)
            producer.flush(5)
            consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "enable.auto.commit": False, **QUIET})
            consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
            consumer.close()
        except Exception:
            self.errors += 1
        old = i - self.keep
        if old >= 0:
            try:
                for f in self.admin.delete_consumer_groups([f"soak-group-{old}"], request_timeout=5).values():
                    f.result()
            except Exception:
                pass  # Tansu drops a group's offsets with its topic; listing may lag
            try:
                for f in self.admin.delete_topics([f"soak-{old}"], request_timeout=5).values():
                    f.result()
            except Exception:
                self.errors += 1


def thirds(values: list[float]) -> tuple[float, float]:
    n = len(values)
    middle, last = values[n // 3 : 2 * n // 3], values[2 * n // 3 :]
    return statistics.mean(middle), statistics.mean(last)


def slope_per_100(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.mean(xs), statistics.mean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return 100 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--working-set", type=int, default=20, help="topics/groups alive at once")
    ap.add_argument("--restart-every", type=int, default=60, help="kill and restart the broker every N cycles (0: never)")
    ap.add_argument("--down-cycles", type=int, default=4, help="cycles the broker stays down each time")
    ap.add_argument("--rss-tolerance-mb", type=float, default=3.0)
    ap.add_argument("--json", help="write samples and verdict here")
    args = ap.parse_args()

    broker = TansuBroker().start()
    port = free_port()
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"soak-{os.getpid()}"
    work.mkdir(exist_ok=True)
    (work / "exporter.yml").write_text(
        "collection:\n  interval_seconds: 1\n  timeout_seconds: 1\nkafka:\n  request_timeout_seconds: 0.8\n"
        "filters:\n  topics:\n    include_internal: false\nlog:\n  level: warning\n"
    )
    log = (work / "exporter.log").open("wb")
    exporter = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(work / "exporter.yml"),
         "--kafka.bootstrap-servers", broker.bootstrap, "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    churn = Churn(broker.bootstrap, args.working_set)
    samples: list[Sample] = []
    most: tuple[int, int, dict[str, int]] = (-1, -1, {})
    fewest_full: tuple[int, int, dict[str, int]] = (10**9, -1, {})
    started = time.monotonic()
    down_until = -1
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                values, _ = scrape(url)
                if values.get("kafka_insight_collections_total", 0) >= 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the exporter did not start; see " + str(work / "exporter.log"))
            time.sleep(0.2)
        last_cycle = values["kafka_insight_collections_total"]
        print(f"soak: {args.cycles} cycles, working set {args.working_set} topics+groups, "
              f"broker restart every {args.restart_every or 'never'} cycles; exporter pid {exporter.pid}")
        print(f"{'cycle':>6} {'time s':>7} {'RSS MB':>7} {'fds':>4} {'thr':>4} {'series':>7} {'topics':>6} {'up':>3} {'scrape ms':>9}")
        for i in range(args.cycles):
            if args.restart_every and i and i % args.restart_every == 0:
                broker.kill()
                down_until = i + args.down_cycles
            if i == down_until:
                broker.start()
                churn = Churn(broker.bootstrap, args.working_set)
            if broker.process is not None:
                churn.step(i)
            # wait for the exporter's next cycle
            wait_until = time.monotonic() + 10
            while True:
                values, took = scrape(url)
                if values.get("kafka_insight_collections_total", 0) > last_cycle or time.monotonic() > wait_until:
                    break
                time.sleep(0.05)
            last_cycle = values.get("kafka_insight_collections_total", last_cycle)
            rss, fds, threads = proc_status(exporter.pid)
            s = Sample(i, round(time.monotonic() - started, 1), round(rss, 1), fds, threads,
                       int(values.get("kafka_insight_exposed_series", 0)),
                       churn.topics() if broker.process is not None else -1,
                       values.get("kafka_insight_source_up", -1), round(took, 1))
            samples.append(s)
            if s.series > most[0]:
                most = (s.series, i, families(LAST_BODY["text"]))
            if i >= args.working_set and s.source_up == 1 and s.series < fewest_full[0] and s.series > 100:
                fewest_full = (s.series, i, families(LAST_BODY["text"]))
            if i % max(1, args.cycles // 20) == 0 or i == args.cycles - 1:
                print(f"{s.cycle:>6} {s.seconds:>7} {s.rss_mb:>7} {s.fds:>4} {s.threads:>4} {s.series:>7} {s.topics:>6} {s.source_up:>3.0f} {s.scrape_ms:>9}",
                      flush=True)
    finally:
        exporter.terminate()
        try:
            exporter.wait(15)
        except subprocess.TimeoutExpired:
            exporter.kill()
        broker.stop()
        log.close()

    xs = [float(s.cycle) for s in samples]
    rss = [s.rss_mb for s in samples]
    fds = [float(s.fds) for s in samples]
    thr = [float(s.threads) for s in samples]
    rss_mid, rss_last = thirds(rss)
    fds_mid, fds_last = thirds(fds)
    thr_mid, thr_last = thirds(thr)
    cut = len(samples) // 3
    late_slope = slope_per_100(xs[cut:], rss[cut:])
    stable = (rss_last - rss_mid) < args.rss_tolerance_mb and fds_last <= fds_mid + 1 and thr_last <= thr_mid + 1
    verdict = {
        "cycles": len(samples),
        "rss_mb_first": rss[0],
        "rss_mb_max": max(rss),
        "rss_mb_middle_third_mean": round(rss_mid, 2),
        "rss_mb_last_third_mean": round(rss_last, 2),
        "rss_mb_per_100_cycles_after_warmup": round(late_slope, 3),
        "fds_min_max": [min(s.fds for s in samples), max(s.fds for s in samples)],
        "fds_middle_last_third_mean": [round(fds_mid, 2), round(fds_last, 2)],
        "threads_min_max": [min(s.threads for s in samples), max(s.threads for s in samples)],
        "threads_middle_last_third_mean": [round(thr_mid, 2), round(thr_last, 2)],
        "scrape_ms_max": max(s.scrape_ms for s in samples),
        "cycles_with_source_down": sum(1 for s in samples if s.source_up == 0),
        "churn_errors": churn.errors,
        "stable": stable,
    }
    if most[0] > 0 and fewest_full[1] >= 0 and most[0] > 1.5 * fewest_full[0]:
        print(f"\nseries peaked at {most[0]} (cycle {most[1]}) against {fewest_full[0]} (cycle {fewest_full[1]}); "
              "families that differ most:")
        diff = {k: most[2].get(k, 0) - fewest_full[2].get(k, 0) for k in set(most[2]) | set(fewest_full[2])}
        for name, _delta in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:8]:
            print(f"  {name}: {fewest_full[2].get(name, 0)} -> {most[2].get(name, 0)}")
    print("\nverdict:")
    for key, value in verdict.items():
        print(f"  {key}: {value}")
    print("STABLE: no growth once the working set is stable" if stable else "GROWING: see the figures above")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"verdict": verdict, "samples": [asdict(s) for s in samples]}, indent=1))
    return 0 if stable else 1


if __name__ == "__main__":
    raise SystemExit(main())
