"""exporter.heap: what the loop's trim after each cycle relies on, in a process of its own.

glibc keeps freed heap mapped while anything above it is still in use: ~100 MB freed
(what a cycle at 10k partitions frees) stays in the RSS until ``trim_heap`` gives it back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from exporter import heap

_FREE_THEN_TRIM = """
import gc, json, os
from exporter.heap import rss_mb, trim_heap
blocks = [bytearray(1000) for _ in range(100_000)]  # ~100 MB in malloc'd blocks, as a cycle's
pin = bytearray(1000)  # still in use above them: the heap cannot shrink from its top
held = rss_mb(os.getpid())
del blocks
gc.collect()
freed = rss_mb(os.getpid())
trim_heap()
print(json.dumps({"held": held, "freed": freed, "trimmed": rss_mb(os.getpid())}))
"""


@pytest.mark.skipif(heap._MALLOC_TRIM is None, reason="malloc_trim is glibc's: nothing to trim on this libc")
def test_freed_heap_stays_mapped_until_trim_heap_gives_it_back() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _FREE_THEN_TRIM], capture_output=True, text=True, timeout=60, env=env, check=True)
    rss = json.loads(done.stdout)
    assert rss["held"] > 80, rss  # the blocks were there
    assert rss["freed"] > rss["held"] - 30, rss  # freed, but still mapped
    assert rss["trimmed"] < rss["freed"] - 60, rss  # given back


def test_rss_of_this_process_and_of_none() -> None:
    assert heap.rss_mb(os.getpid()) > 10
    assert heap.rss_mb(2**22 + 12345) == 0.0  # no such process: 0, not an error
