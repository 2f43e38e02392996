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

Run it against the code before issue 17 (``PYTHONPATH=<old checkout>``: one ``java -jar
jmxquery.jar`` per target per cycle) and after, in one run each.  Prints, per size: wall time
per cycle (median of the steady cycles), JVM CPU (the JVM children, or the JMX worker process)
and this process's own CPU per target per cycle, and the JVM memory.  Also the load average,
since on a shared machine the figures depend on it.  Nothing is asserted: figures only.
"""

from __future__ import annotations

import argparse
import inspect
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.broker import patterns
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.config import JmxAuth

PERSISTENT = "key" in inspect.signature(jvm.query).parameters
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


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_cycle(addresses: list[str], n: int, pats: list[str], limiter: jvm.Limiter, timeout: float) -> tuple[float, float, float, int]:
    pid = worker_pid()
    cpu0, own0, t0 = proc_cpu(pid), self_cpu(), time.monotonic()

    def one(i: int) -> int:
        address = addresses[i % len(addresses)]
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
    p.add_argument("--repeat", type=int, default=3, help="steady cycles per size (after one warm-up cycle)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--no-request-phases", action="store_true", help="as jmx.brokers.request_phases: false")
    args = p.parse_args()
    addresses = [a.strip() for a in args.targets.split(",") if a.strip()]
    pats = patterns(False, False, request_phases=not args.no_request_phases)
    limiter = jvm.Limiter(args.parallel)
    mode = "persistent JMX worker (JPype)" if PERSISTENT else "one jmxquery JVM per target per cycle"
    if PERSISTENT:
        from exporter.sources.jmx import worker

        w = worker.worker_for("java", (), args.timeout)
        started = time.monotonic()
        w.start()
        w._ready.wait(120)
        print(f"worker JVM start: {time.monotonic() - started:.1f} s (once per exporter run)")
    print(f"jmx benchmark: {mode}; {len(addresses)} broker(s), max_parallel={args.parallel}, patterns={len(pats)}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'targets':>8} {'first cycle s':>14} {'cycle s (median)':>17} {'max':>6} {'JVM ms/target':>14} "
          f"{'own ms/target':>14} {'errors':>7} {'load1':>6}")
    for n in (int(s) for s in args.sizes.split(",")):
        first, _, _, errs = run_cycle(addresses, n, pats, limiter, args.timeout)
        walls, cpus, owns = [], [], []
        for _ in range(args.repeat):
            wall, cpu, own, errors = run_cycle(addresses, n, pats, limiter, args.timeout)
            walls.append(wall)
            cpus.append(cpu)
            owns.append(own)
            errs += errors
        print(f"{n:>8} {first:>14.2f} {statistics.median(walls):>17.2f} {max(walls):>6.2f} "
              f"{1000 * statistics.median(cpus) / n:>14.1f} {1000 * statistics.median(owns) / n:>14.1f} {errs:>7} "
              f"{os.getloadavg()[0]:>6.1f}")
    pid = worker_pid()
    if pid is not None:
        print(f"JMX worker RSS after the last cycle: {proc_rss_mb(pid):.0f} MB (one process, all targets)")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"largest JVM child RSS: {peak_kb / 1024:.0f} MB (each call; up to {args.parallel} at once)")


if __name__ == "__main__":
    main()
