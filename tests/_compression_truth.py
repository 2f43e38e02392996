"""Ground truth for the librdkafka compression estimates, taken from the broker's log.

Runs librdkafka producers (one per codec x payload, each on a one-partition topic of its
own) and keeps every statistics JSON they emit.  The truth comes from the partition's log
segment as the broker stored it, read with Kafka's own ``kafka-dump-log.sh``: every batch's
base offset, record count and size on disk (the producer's MessageSet as written, after
compression; topics keep ``compression.type=producer``, so the broker does not recompress).
The producer sends payload ``i % len(payloads)`` at offset ``i`` (idempotent, so retries
cannot reorder), so each batch's raw bytes are the sum of its payloads' sizes.  Nothing of
this touches the statistics or the code under test.

A statistics window's batches are the log's batches whose base offset lies between the
messages counted in all earlier windows' batches (the sum of ``batchcnt.sum``) and that
plus this window's ``batchcnt.sum``; that is ``batchcnt.cnt`` batches.  librdkafka adds a
batch to ``batchcnt`` and ``batchsize`` at the same moment, but rolls the two over one after
the other when it emits statistics, so now and then a batch lands in this window of
``batchcnt`` and the next one of ``batchsize`` (a torn window: their ``cnt`` differ by one).
(``txmsgs`` is not used for this: a batch written while
the statistics are being emitted can land in one window's ``txmsgs`` and the next one's
``batchsize``; the estimate itself only takes the mean message size from it.)

    python -m tests._compression_truth record BOOTSTRAP REALKAFKA_DIR

records a few runs into ``tests/fixtures/client-stats/`` (see its README).
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.conftest import KAFKA_BIN

ROOT = Path(__file__).resolve().parent.parent
DUMP_LOG = KAFKA_BIN / "kafka-dump-log.sh"  # $KAFKA_HOME, else ../shared/kafka/dist
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "client-stats"
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
PAYLOADS = ("json", "random")
#: producer settings of every run (the issue's measurements used the same)
LINGER_MS = 50
BATCH_SIZE = 65536
QUIET = {"log_level": 0}


def payloads(kind: str, count: int = 3000, seed: int = 16) -> list[bytes]:
    """``json``: compressible JSON events around 440 bytes; ``random``: 400 random bytes each."""
    rng = random.Random(seed)
    if kind == "random":
        return [rng.randbytes(400) for _ in range(count)]
    out = []
    for i in range(count):
        event = {
            "id": i,
            "user": f"user-{i % 97}",
            "country": rng.choice(["DE", "FR", "US", "BR", "JP", "IN"]),
            "amount": round(rng.random() * 100, 2),
            "items": [{"sku": f"sku-{rng.randint(1, 500)}", "qty": rng.randint(1, 4)} for _ in range(rng.randint(2, 6))],
            "note": "checkout completed via web " * rng.randint(2, 5),
        }
        out.append(json.dumps(event).encode())
    return out


@dataclass
class Run:
    """One producer's run: its topic, the payloads by offset, the statistics it emitted."""

    codec: str
    payload: str
    topic: str
    data: list[bytes]
    stats: list[str] = field(default_factory=list)
    sent: int = 0
    batches: list[Batch] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.codec}-{self.payload}"

    def raw_bytes(self, base: int, count: int) -> int:
        n = len(self.data)
        return sum(len(self.data[(base + k) % n]) for k in range(count))


@dataclass(frozen=True)
class Batch:
    base_offset: int
    count: int
    size: int  # bytes on disk: the MessageSet as written (after compression)
    raw_bytes: int  # the sum of its records' payload sizes


@dataclass(frozen=True)
class Truth:
    """What a statistics window really sent, from the log."""

    batches: int
    ratio: float  # sum of batch sizes / sum of raw payload bytes
    raw_per_batch: float


def window_truth(batches: list[Batch], first_offset: int, end_offset: int) -> Truth | None:
    inside = [b for b in batches if first_offset <= b.base_offset < end_offset]
    if not inside:
        return None
    raw = sum(b.raw_bytes for b in inside)
    return Truth(len(inside), sum(b.size for b in inside) / raw, raw / len(inside))


def window_offsets(stats: list[dict[str, Any]], topic: str) -> list[tuple[int, int]]:
    """The offset range of each statistics window's batches (see the module docstring)."""
    out = []
    start = 0
    for s in stats:
        count = int(s.get("topics", {}).get(topic, {}).get("batchcnt", {}).get("sum", 0))
        out.append((start, start + count))
        start += count
    return out


def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    futures = admin.create_topics([NewTopic(n, 1, 1) for n in names], request_timeout=20)
    for future in futures.values():
        future.result()
    # a producer's first batch to a topic whose leader is not yet known everywhere is
    # refused and written again, and librdkafka counts it twice (txmsgs, batchcnt): wait
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=5).topics
        if all(n in md and md[n].error is None and md[n].partitions and md[n].partitions[0].leader >= 0 for n in names):
            break
        time.sleep(0.2)
    time.sleep(1.0)


def _produce(bootstrap: str, run: Run, seconds: float, per_second: float, idle: float, interval_ms: int) -> None:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": f"truth-{run.name}",
            "compression.type": run.codec,
            "linger.ms": LINGER_MS,
            "batch.size": BATCH_SIZE,
            "enable.idempotence": True,
            "statistics.interval.ms": interval_ms,
            "stats_cb": run.stats.append,
            **QUIET,
        }
    )
    start = time.monotonic()
    n = len(run.data)
    # paced in 10 ms steps so that linger.ms, not the loop, decides the batches
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * per_second)
        while run.sent < due:
            producer.produce(run.topic, run.data[run.sent % n])
            run.sent += 1
        producer.poll(0)
        time.sleep(0.01)
    if producer.flush(20) != 0:
        raise RuntimeError(f"{run.name}: messages left unsent")
    # at least one more statistics window without any batch
    end = time.monotonic() + idle
    while time.monotonic() < end:
        producer.poll(0.1)


def run_producers(
    bootstrap: str,
    combos: list[tuple[str, str]],
    seconds: float = 4.0,
    per_second: float = 1500.0,
    interval_ms: int = 1000,
) -> list[Run]:
    """Run one producer per (codec, payload) at the same time; returns their runs."""
    tag = f"{int(time.time() * 1000) % 10**9}"
    data = {kind: payloads(kind) for kind in {p for _, p in combos}}
    runs = [Run(c, p, f"truth-{c}-{p}-{tag}", data[p]) for c, p in combos]
    create_topics(bootstrap, [r.topic for r in runs])
    errors: list[BaseException] = []

    def guarded(run: Run) -> None:
        try:
            _produce(bootstrap, run, seconds, per_second, 2.5 * interval_ms / 1000, interval_ms)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return runs


_DUMPING = re.compile(r"^Dumping (.+)$")
_BATCH = re.compile(r"baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .* size: (\d+) ")


def dump_batches(realkafka_dir: str, runs: list[Run], timeout: float = 120) -> None:
    """Fill each run's ``batches`` from its partition's log segments (one JVM for all)."""
    files: dict[str, Run] = {}
    for run in runs:
        found = sorted(glob.glob(f"{realkafka_dir}/data/node*/{run.topic}-0/*.log"))
        if not found:
            raise FileNotFoundError(f"no log segment of {run.topic}-0 under {realkafka_dir}/data")
        # RF 1: one node has it; segments of one partition are dumped in offset order
        files.update(dict.fromkeys(found, run))
    done = subprocess.run(
        [str(DUMP_LOG), "--files", ",".join(files)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx128m", "KAFKA_JMX_OPTS": ""},
    )
    if done.returncode != 0:
        raise RuntimeError(f"kafka-dump-log.sh failed: {done.stderr[-500:]}")
    current: Run | None = None
    for line in done.stdout.splitlines():
        if m := _DUMPING.match(line):
            current = files[m.group(1)]
        elif (m := _BATCH.search(line)) and current is not None:
            base, count, size = int(m.group(1)), int(m.group(3)), int(m.group(4))
            current.batches.append(Batch(base, count, size, current.raw_bytes(base, count)))
    for run in runs:
        if sum(b.count for b in run.batches) != run.sent:
            raise RuntimeError(f"{run.name}: the log holds {sum(b.count for b in run.batches)} records, {run.sent} were sent")


def record(bootstrap: str, realkafka_dir: str) -> None:
    """Record the runs the parser tests read (a statistics message every second)."""
    combos = [("zstd", "json"), ("gzip", "random"), ("none", "json"), ("lz4", "json")]
    runs = run_producers(bootstrap, combos, seconds=3.0, per_second=1000.0)
    dump_batches(realkafka_dir, runs)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for run in runs:
        doc = {
            "producer": {
                "compression.type": run.codec,
                "linger.ms": LINGER_MS,
                "batch.size": BATCH_SIZE,
                "payload": run.payload,
            },
            "topic": run.topic,
            "sent": run.sent,
            "batches": [[b.base_offset, b.count, b.size, b.raw_bytes] for b in run.batches],
            "stats": [json.loads(s) for s in run.stats],
        }
        path = FIXTURES / f"{run.name}.json"
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"{path}: {len(run.stats)} statistics, {len(run.batches)} batches, {run.sent} messages")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "record":
        print("usage: python -m tests._compression_truth record BOOTSTRAP REALKAFKA_DIR", file=sys.stderr)
        raise SystemExit(2)
    record(sys.argv[2], sys.argv[3])
