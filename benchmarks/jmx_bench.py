#!/usr/bin/env python3
"""JMX cost benchmark: cycle time, CPU per target per cycle and JVM memory for N broker JMX targets.

    python benchmarks/jmx_bench.py --targets 127.0.0.1:29999,127.0.0.1:30000,127.0.0.1:30001
    python benchmarks/jmx_bench.py --targets ... --sizes 30,100 --repeat 3

N targets are made by cycling through the given broker JMX addresses (30 targets on a 3-node
cluster = each broker queried 10 times at once, which is what 30 brokers would cost the
exporter's host).  Each target is queried with every broker MBean pattern, all targets at once
as in a cycle (at most ``--parallel`` at a time: ``jmx.max_parallel``).  With the persistent
JMX worker each target has a connection of its own (as 30 brokers would), kept across cycles;
the first cycle (connections being opened) is reported apart from the steady ones.

Each target is collected as the broker source does it (``BrokerJmxSource.collect``: the
slow families read every ``--slow-every`` cycles, default the config's, spread over the cycles),
so the CPU figures are means over the steady cycles (a multiple of ``--slow-every`` of them by
default) as well as the median.  ``--json FILE`` also writes the figures.

Run it against the code before issue 17 (``PYTHONPATH=<old checkout>``: one ``java -jar
jmxquery.jar`` per target per cycle) and after, in one run each.  Prints, per size: wall time
per cycle (median of the steady cycles), JVM CPU (the JVM children, or the JMX worker process)
and this process's own CPU per target per cycle, and the JVM memory.  Also the load average,
since on a shared machine the figures depend on it.  Nothing is asserted: figures only.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.heap import rss_mb
from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.broker import BrokerJmxSource, patterns
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.config import BrokerTarget, JmxAuth, JmxConfig

PERSISTENT = "key" in inspect.signature(jvm.query).parameters
#: the broker source's own collection path (slow families every N cycles), since this work
SOURCE_PATH = "key" in inspect.signature(BrokerJmxSource.collect).parameters
TICK = os.sysconf("SC_CLK_TCK")


def worker_pid() -> int | None:
    if not PERSISTENT:
        return None
    from exporter.sources.jmx import worker

    return worker.worker_for("java", (), 30.0).pid


def proc_cpu(pid: int | None) -> float:
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_cycle(addresses: list[str], n: int, pats: list[str], limiter: jvm.Limiter, timeout: float,
              source: BrokerJmxSource | None) -> tuple[float, float, float, int]:
    pid = worker_pid()
    cpu0, own0, t0 = proc_cpu(pid), self_cpu(), time.monotonic()

    def one(i: int) -> int:
        address = addresses[i % len(addresses)]
        if source is not None:
            record = source.collect(BrokerTarget(address), key=f"bench-{i}")  # type: ignore[call-arg]
        else:
            extra = {"key": f"bench-{i}"} if PERSISTENT else {}
            rows = jvm.query(address, pats, JmxAuth(), timeout=timeout, limiter=limiter, **extra)  # type: ignore[arg-type]
            record = parse_broker(rows, address)
        return 0 if record.broker_id is not None else 1

    errors = 0
    with ThreadPoolExecutor(max_workers=n) as pool:
        for f in [pool.submit(one, i) for i in range(n)]:
            try:
                errors += f.result()
            except Exception as exc:
                errors += 1
                print(f"  error: {exc}")
    return time.monotonic() - t0, proc_cpu(pid) - cpu0, self_cpu() - own0, errors


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--targets", required=True, help="comma-separated broker JMX host:port")
    p.add_argument("--sizes", default="30,100")
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--repeat", type=int, default=0,
                   help="steady cycles per size after one warm-up cycle (default: 2 x slow_every, at least 3)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--no-request-phases", action="store_true", help="as jmx.brokers.request_phases: false")
    p.add_argument("--slow-every", type=int, default=None, help="as jmx.brokers.slow_every (default: the config default)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args()
    addresses = [a.strip() for a in args.targets.split(",") if a.strip()]
    pats = patterns(False, False, request_phases=not args.no_request_phases)
    source = None
    if SOURCE_PATH:
        settings = JmxConfig(timeout=args.timeout, max_parallel=args.parallel, request_phases=not args.no_request_phases,
                             **({"slow_every": args.slow_every} if args.slow_every else {}))  # type: ignore[arg-type]
        source = BrokerJmxSource(settings, cycle_timeout=args.timeout + 1)
        limiter = source.limiter
        every = int(getattr(settings, "slow_every", 1))
    else:
        limiter = jvm.Limiter(args.parallel)
        every = 1
    repeat = args.repeat or max(3, 2 * every)
    mode = "persistent JMX worker (JPype)" if PERSISTENT else "one jmxquery JVM per target per cycle"
    if PERSISTENT:
        from exporter.sources.jmx import worker

        w = worker.worker_for("java", (), args.timeout)
        started = time.monotonic()
        w.start()
        w._ready.wait(120)
        print(f"worker JVM start: {time.monotonic() - started:.1f} s (once per exporter run)")
    slow = f", slow families every {every} cycles" if source is not None else ""
    print(f"jmx benchmark: {mode}; {len(addresses)} broker(s), max_parallel={args.parallel}, patterns={len(pats)}{slow}")
    load_start = os.getloadavg()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in load_start)} on {os.cpu_count()} CPUs")
    print(f"{'targets':>8} {'first cycle s':>14} {'cycle s (median)':>17} {'mean':>6} {'max':>6} {'JVM ms/target':>14} "
          f"{'(median)':>9} {'own ms/target':>14} {'errors':>7} {'load1':>6}")
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        first, _, _, errs = run_cycle(addresses, n, pats, limiter, args.timeout, source)
        walls, cpus, owns = [], [], []
        for _ in range(repeat):
            wall, cpu, own, errors = run_cycle(addresses, n, pats, limiter, args.timeout, source)
            walls.append(wall)
            cpus.append(cpu)
            owns.append(own)
            errs += errors
        row = {
            "targets": n, "first_cycle_s": round(first, 3), "cycle_median_s": round(statistics.median(walls), 3),
            "cycle_mean_s": round(statistics.mean(walls), 3), "cycle_max_s": round(max(walls), 3),
            "jvm_ms_per_target_mean": round(1000 * statistics.mean(cpus) / n, 2),
            "jvm_ms_per_target_median": round(1000 * statistics.median(cpus) / n, 2),
            "own_ms_per_target_mean": round(1000 * statistics.mean(owns) / n, 2), "errors": errs,
            "steady_cycles": repeat, "load1_end": round(os.getloadavg()[0], 2),
        }
        results.append(row)
        print(f"{n:>8} {first:>14.2f} {row['cycle_median_s']:>17.2f} {row['cycle_mean_s']:>6.2f} {max(walls):>6.2f} "
              f"{row['jvm_ms_per_target_mean']:>14.1f} {row['jvm_ms_per_target_median']:>9.1f} "
              f"{row['own_ms_per_target_mean']:>14.1f} {errs:>7} {row['load1_end']:>6.1f}")
    pid = worker_pid()
    memory = {}
    if pid is not None:
        rss = rss_mb(pid)
        memory = {"worker_rss_mb": round(rss)}
        print(f"JMX worker RSS after the last cycle: {rss:.0f} MB (one process, all targets)")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        memory = {"largest_jvm_child_rss_mb": round(peak_kb / 1024)}
        print(f"largest JVM child RSS: {peak_kb / 1024:.0f} MB (each call; up to {args.parallel} at once)")
    if args.json:
        doc = {"benchmark": "jmx_bench", "mode": mode, "patterns": len(pats), "slow_every": every,
               "request_phases": not args.no_request_phases, "max_parallel": args.parallel, "brokers": len(addresses),
               "load_start": [round(x, 2) for x in load_start], "cpus": os.cpu_count(),
               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "sizes": results, **memory}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
