#!/usr/bin/env python3
"""Before/after on one cluster, alternating: each round a floor, then one cycle of each exporter.

    python benchmarks/ab_bench.py BOOTSTRAP ROUNDS OUT.json old=TREE new=TREE

Both exporters (``bench.py --serve-exporter`` of each source tree, e.g. a ``git archive`` of a
commit with this directory copied in) stay up on the same cluster; every round measures the
floor (``bench.floor_once``) and one cycle of each, the order swapped every round.  On a shared
2-core VM whose speed moves by up to 2x between minutes, this compares like with like better
than ``bench.py --baseline`` (which runs the baseline after the whole main point).  Prints and
writes per exporter the median cycle, the median of the rounds' cycle/floor ratios, sources,
render, CPU per cycle and peak RSS.  Run it under the benchmark lock.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench
from confluent_kafka.admin import AdminClient

KEYS = ("cycle_seconds", "sources_seconds", "render_seconds", "cpu_seconds", "peak_rss_mb", "peak_rss_mb_by_process", "rss_mb")


def main(argv: list[str]) -> int:
    addr, rounds, out = argv[0], int(argv[1]), Path(argv[2])
    trees = dict(a.split("=", 1) for a in argv[3:])
    admin = AdminClient({"bootstrap.servers": addr, **bench.QUIET})
    exps = {name: bench.Exporter(addr, tree=Path(tree)) for name, tree in trees.items()}
    raw: dict[str, list[Any]] = {"floor": [], **{n: [] for n in exps}}
    loads = [bench.loadavg()]
    try:
        bench.floor_once(admin, 1000)  # warm-up, as the cycles below
        for e in exps.values():
            e.cycle()
            e.cycle()
        for i in range(rounds):
            raw["floor"].append(bench.floor_once(admin, 1000)["seconds"])
            order = list(exps.items()) if i % 2 == 0 else list(exps.items())[::-1]
            for name, e in order:
                r = e.cycle()
                raw[name].append({k: r[k] for k in KEYS})
            loads.append(bench.loadavg())
    finally:
        for e in exps.values():
            e.stop()
    med = statistics.median
    floor = med(raw["floor"])
    summary: dict[str, Any] = {"floor": round(floor, 3), "floor_runs": [round(x, 2) for x in raw["floor"]], "loads": loads}
    for name in exps:
        rs = raw[name]
        summary[name] = {
            "cycle": round(med(r["cycle_seconds"] for r in rs), 3),
            "vs_floor_median_of_ratios": round(med(r["cycle_seconds"] / f for r, f in zip(rs, raw["floor"], strict=True)), 2),
            "vs_floor": round(med(r["cycle_seconds"] for r in rs) / floor, 2),
            "sources": round(med(r["sources_seconds"] for r in rs), 3),
            "render": round(med(r["render_seconds"] for r in rs), 3),
            "cpu": round(med(r["cpu_seconds"] for r in rs), 2),
            "rss": round(rs[-1]["rss_mb"], 1),
            "peak": round(rs[-1]["peak_rss_mb"], 1),
            "peak_by_process": rs[-1]["peak_rss_mb_by_process"],
            "cycles": [round(r["cycle_seconds"], 2) for r in rs],
        }
    out.write_text(json.dumps({"raw": raw, "summary": summary}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
