"""Keeps benchmarks/bench.py from rotting: its --quick path at a tiny size, end to end.

Asserts completion and series counts (the script itself checks every exposition against
the cluster it built), never timings: speed figures live in the benchmark's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # runs the whole benchmark script at a tiny size
def test_bench_quick_tiny(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick", "--main", "4x3:6", "--memory-cycles", "3"]
    done = subprocess.run(
        [*cmd, "--out-dir", str(tmp_path), "--name", "smoke"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((tmp_path / "smoke.json").read_text())
    main = result["main"]
    assert main["partitions"] == 12 and main["groups"] == 6
    # every group commits on all 3 partitions of one topic: 18 committed offsets and lags
    assert main["checked_series"]["kafka_insight_consumer_group_committed_offset"] == 18
    assert main["checked_series"]["kafka_insight_consumer_group_partition_lag"] == 18
    assert main["series"] >= 12 * 6 + 18 * 2
    assert len(main["memory"]["rss_mb_every_10"]) == 1 and main["memory"]["cycles"] == 3
    assert main["scrape"]["idle"]["scrapes"] == 50
    assert [p["partitions"] for p in result["points_partitions"]] == [3, 12, 36]
    assert [p["groups"] for p in result["points_groups"]] == [1, 6, 60]
    assert set(result["growth"]) >= {"cycle_vs_partitions", "cycle_vs_groups", "rss_vs_partitions"}
    assert "main: 12 partitions, 6 groups" in done.stdout
